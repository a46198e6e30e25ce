//! The headers a security review expects, on real answers: nosniff, a
//! referrer policy, a script-from-this-origin-only CSP, the camera for the
//! door page alone, `no-store` on everything personal while the public
//! catalog keeps its caching, and CORS only for configured origins.

use reqwest::{Method, Response};
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app, spawn_app_with};

fn header<'a>(response: &'a Response, name: &str) -> &'a str {
    response
        .headers()
        .get(name)
        .map(|v| v.to_str().unwrap())
        .unwrap_or_else(|| panic!("{} has no {name}", response.url()))
}

/// The headers every answer carries, whatever it is.
fn assert_always(response: &Response) {
    let what = format!("{} ({})", response.url().path(), response.status());
    assert_eq!(
        header(response, "x-content-type-options"),
        "nosniff",
        "{what}"
    );
    assert_eq!(
        header(response, "referrer-policy"),
        "strict-origin-when-cross-origin",
        "{what}"
    );
    let csp = header(response, "content-security-policy");
    let directive = |name: &str| {
        csp.split(';')
            .map(str::trim)
            .find(|d| d.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("{what}: no {name} in {csp}"))
            .to_owned()
    };
    assert_eq!(directive("script-src"), "script-src 'self'", "{what}");
    assert_eq!(directive("object-src"), "object-src 'none'", "{what}");
    assert_eq!(
        directive("frame-ancestors"),
        "frame-ancestors 'none'",
        "{what}"
    );
    assert!(!csp.contains("unsafe-"), "{what}: {csp}");
    let camera = header(response, "permissions-policy")
        .split(',')
        .map(str::trim)
        .find(|p| p.starts_with("camera="))
        .unwrap_or_else(|| panic!("{what}: the permissions policy does not name the camera"))
        .to_owned();
    let expected = if response.url().path() == "/web/door.html" {
        "camera=(self)"
    } else {
        "camera=()"
    };
    assert_eq!(camera, expected, "{what}");
}

fn assert_no_store(response: &Response) {
    let cache = header(response, "cache-control");
    assert!(
        cache.split(',').any(|d| d.trim() == "no-store"),
        "{} ({}): Cache-Control {cache}",
        response.url().path(),
        response.status()
    );
    assert_always(response);
}

fn assert_cacheable(response: &Response, expected: &str) {
    assert_eq!(response.status(), 200, "{}", response.url());
    assert_eq!(
        header(response, "cache-control"),
        expected,
        "{}",
        response.url()
    );
    assert_always(response);
}

#[actix_web::test]
async fn every_page_and_error_carries_the_security_headers() {
    let app = spawn_app().await;
    for path in [
        "/",
        "/web/event.html",
        "/web/bookings.html",
        "/web/door.html",
        "/docs",
        "/web/pages/event.js",
        "/web/style.css",
        "/openapi.json",
        "/healthz",
        "/nope",
        "/events/not-an-id",
    ] {
        let response = app.get(path).await;
        assert_always(&response);
    }
    let refused = app
        .post_json("/bookings", None, &json!({"event_id": 1, "seat_ids": [1]}))
        .await;
    assert_eq!(refused.status(), 401);
    assert_no_store(&refused);
    let wrong_method = app.request(Method::TRACE, "/events").send().await.unwrap();
    assert_eq!(wrong_method.status(), 405);
    assert_no_store(&wrong_method);
}

#[actix_web::test]
async fn the_web_client_pages_have_no_inline_script_or_style() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("web");
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "html") {
            continue;
        }
        let page = std::fs::read_to_string(&path).unwrap();
        for script in page.split("<script").skip(1) {
            let tag = script.split_once('>').unwrap().0;
            assert!(
                tag.contains("src="),
                "{}: inline <script{tag}>",
                path.display()
            );
        }
        for forbidden in ["<style", " style=", "javascript:", " onclick=", " onload="] {
            assert!(!page.contains(forbidden), "{}: {forbidden}", path.display());
        }
    }
}

#[actix_web::test]
async fn personal_answers_are_never_stored_and_the_catalog_keeps_its_caching() {
    let app = spawn_app().await;
    let guest = app.guest("headers@example.com").await;
    assert_eq!(guest.status(), 201);
    assert_no_store(&guest);
    let token = guest.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();

    let (admin, event_id, seats) = app.queued_event(3, 100, None).await;
    let (venue_id, _) = venue_of(&app, event_id).await;
    assert_cacheable(&app.get("/events").await, "public, max-age=5");
    assert_cacheable(
        &app.get(&format!("/events/{event_id}")).await,
        "public, max-age=5",
    );
    assert_cacheable(
        &app.get(&format!("/venues/{venue_id}/layout")).await,
        "public, max-age=86400",
    );

    let joined = app.join_queue(&token, event_id).await;
    assert_eq!(joined.status(), 201);
    assert_no_store(&joined);
    let queue_token = app.queue_token(&token, event_id).await;
    let status = app
        .get_as(&token, &format!("/events/{event_id}/queue"))
        .await;
    assert_no_store(&status);
    let held = app
        .reserve_queued(&token, event_id, &seats[..1], Some(&queue_token))
        .await;
    assert_eq!(held.status(), 201);
    assert_no_store(&held);
    let booking = crate::helpers::booking_id(held).await;
    assert_no_store(&app.get_booking(&token, booking).await);
    assert_no_store(&app.get_as(&token, "/me/bookings").await);
    let confirmed = app.confirm(&token, booking, Some("k"), "tok_visa").await;
    assert_eq!(confirmed.status(), 200);
    assert_no_store(&confirmed);
    let number = app.booking(&token, booking).await["confirmation_number"]
        .as_str()
        .unwrap()
        .to_owned();
    let page = app.tickets_page(&token, &number).await;
    assert_eq!(page.status(), 200);
    assert_no_store(&page);
    let html = page.text().await.unwrap();
    assert!(
        !html.contains("<style") && !html.contains("style="),
        "{html}"
    );

    assert_no_store(&app.admin_booking(&admin, booking).await);
    assert_no_store(&app.lookup_bookings(&admin, &number).await);
    assert_no_store(
        &app.get_as(&admin, &format!("/admin/events/{event_id}/queue"))
            .await,
    );
    assert_no_store(&app.login("nobody@example.com", "wrong password").await);
}

/// The venue of an event, from its public details.
async fn venue_of(app: &TestApp, event_id: i64) -> (i64, Value) {
    let details = app.event_details(event_id).await;
    (details["venue_id"].as_i64().unwrap(), details)
}

fn varies_by_origin(response: &Response) -> bool {
    response
        .headers()
        .get_all("vary")
        .iter()
        .flat_map(|v| v.to_str().unwrap().split(','))
        .any(|name| name.trim().eq_ignore_ascii_case("origin"))
}

const SITE: &str = "https://tickets.example.com";

async fn preflight(app: &TestApp, origin: &str) -> Response {
    app.request(Method::OPTIONS, "/bookings")
        .header("Origin", origin)
        .header("Access-Control-Request-Method", "POST")
        .header(
            "Access-Control-Request-Headers",
            "authorization, content-type",
        )
        .send()
        .await
        .unwrap()
}

#[actix_web::test]
async fn cors_answers_only_the_configured_origins() {
    let app = spawn_app_with(|s| s.server.cors_origins = vec![SITE.to_owned()]).await;

    let allowed = preflight(&app, SITE).await;
    assert_eq!(allowed.status(), 204);
    assert_eq!(header(&allowed, "access-control-allow-origin"), SITE);
    assert!(header(&allowed, "access-control-allow-methods").contains("POST"));
    let headers = header(&allowed, "access-control-allow-headers").to_lowercase();
    assert!(headers.contains("authorization") && headers.contains("content-type"));
    assert!(
        allowed
            .headers()
            .get("access-control-allow-credentials")
            .is_none()
    );
    assert_always(&allowed);

    let other = preflight(&app, "https://evil.example.com").await;
    assert_eq!(other.status(), 405);
    assert!(other.headers().get("access-control-allow-origin").is_none());

    let listing = app
        .request(Method::GET, "/events")
        .header("Origin", SITE)
        .send()
        .await
        .unwrap();
    assert_eq!(header(&listing, "access-control-allow-origin"), SITE);
    assert!(varies_by_origin(&listing));
    let foreign = app
        .request(Method::GET, "/events")
        .header("Origin", "https://evil.example.com")
        .send()
        .await
        .unwrap();
    assert!(
        foreign
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    assert!(varies_by_origin(&foreign));
}

#[actix_web::test]
async fn without_configured_origins_there_is_no_cors_at_all() {
    let app = spawn_app().await;
    let response = preflight(&app, SITE).await;
    assert_eq!(response.status(), 405);
    assert!(
        response
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    let listing = app
        .request(Method::GET, "/events")
        .header("Origin", SITE)
        .send()
        .await
        .unwrap();
    assert_eq!(listing.status(), 200);
    assert!(
        listing
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    assert!(!varies_by_origin(&listing));
}
