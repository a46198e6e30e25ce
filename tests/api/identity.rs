use serde_json::{Value, json};

use crate::helpers::{assert_problem, spawn_app};

#[actix_web::test]
async fn a_guest_gets_a_user_id_a_token_and_an_http_only_cookie() {
    let app = spawn_app().await;
    let response = app.guest("fan@example.com").await;
    assert_eq!(response.status(), 201);
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        cookie.starts_with("boxoffice_token=") && cookie.contains("HttpOnly"),
        "{cookie}"
    );
    let body: Value = response.json().await.unwrap();
    assert!(body["user_id"].as_i64().unwrap() > 0);
    assert!(!body["token"].as_str().unwrap().is_empty());
}

#[actix_web::test]
async fn two_guest_checkouts_with_one_email_are_separate_identities() {
    let app = spawn_app().await;
    let a: Value = app.guest("same@example.com").await.json().await.unwrap();
    let b: Value = app.guest("same@example.com").await.json().await.unwrap();
    assert_ne!(a["user_id"], b["user_id"]);
}

#[actix_web::test]
async fn signup_then_login_returns_the_same_user() {
    let app = spawn_app().await;
    let signed_up = app.signup("Ana@Example.com", "s3cret-password").await;
    assert_eq!(signed_up.status(), 201);
    let signed_up: Value = signed_up.json().await.unwrap();
    let logged_in = app.login("ana@example.com", "s3cret-password").await;
    assert_eq!(logged_in.status(), 200);
    let logged_in: Value = logged_in.json().await.unwrap();
    assert_eq!(signed_up["user_id"], logged_in["user_id"]);
}

#[actix_web::test]
async fn a_second_signup_with_the_same_email_is_a_conflict() {
    let app = spawn_app().await;
    app.signup("ana@example.com", "s3cret-password").await;
    assert_problem(
        app.signup("ANA@example.com", "other-password").await,
        409,
        "email_taken",
    )
    .await;
    assert_eq!(app.count("users").await, 1);
}

#[actix_web::test]
async fn a_wrong_password_or_unknown_email_is_refused_alike() {
    let app = spawn_app().await;
    app.signup("ana@example.com", "s3cret-password").await;
    assert_problem(
        app.login("ana@example.com", "wrong-password").await,
        401,
        "invalid_credentials",
    )
    .await;
    assert_problem(
        app.login("nobody@example.com", "s3cret-password").await,
        401,
        "invalid_credentials",
    )
    .await;
}

#[actix_web::test]
async fn admin_endpoints_need_a_token_and_the_admin_role() {
    let app = spawn_app().await;
    let body = json!({"name": "Hall", "city": "Oslo", "layout": crate::helpers::layout(1, 1, 1)});
    assert_problem(
        app.post_json("/admin/venues", None, &body).await,
        401,
        "unauthorized",
    )
    .await;
    assert_problem(
        app.post_json("/admin/venues", Some("garbage.token"), &body)
            .await,
        401,
        "unauthorized",
    )
    .await;
    let buyer = app.buyer_token().await;
    assert_problem(
        app.post_json("/admin/venues", Some(&buyer), &body).await,
        403,
        "forbidden",
    )
    .await;
    let admin = app.admin_token().await;
    assert_eq!(
        app.post_json("/admin/venues", Some(&admin), &body)
            .await
            .status(),
        201
    );
    assert_eq!(app.count("venues").await, 1);
}

#[actix_web::test]
async fn the_token_cookie_authenticates_like_the_header() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let body = json!({"name": "Hall", "city": "Oslo", "layout": crate::helpers::layout(1, 1, 1)});
    let response = app
        .request(reqwest::Method::POST, "/admin/venues")
        .header("Cookie", format!("boxoffice_token={admin}"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
}

async fn session_cookie(app: &crate::helpers::TestApp, forwarded_proto: Option<&str>) -> String {
    let mut request = app
        .request(reqwest::Method::POST, "/auth/guest")
        .json(&json!({ "email": "fan@example.com" }));
    if let Some(proto) = forwarded_proto {
        request = request.header("X-Forwarded-Proto", proto);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 201);
    response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned()
}

#[actix_web::test]
async fn the_session_cookie_is_secure_when_a_trusted_proxy_says_https() {
    // Tests connect from 127.0.0.1: here it is the trusted proxy.
    let app = crate::helpers::spawn_app_with(|s| {
        s.limits.trusted_proxies = vec!["127.0.0.1".into()];
    })
    .await;
    let secure = session_cookie(&app, Some("https")).await;
    assert!(secure.contains("Secure"), "{secure}");
    let plain = session_cookie(&app, Some("http")).await;
    assert!(!plain.contains("Secure"), "{plain}");
    let direct = session_cookie(&app, None).await;
    assert!(!direct.contains("Secure"), "plain HTTP, no proxy: {direct}");
}

#[actix_web::test]
async fn forwarded_proto_from_an_untrusted_peer_does_not_make_the_cookie_secure() {
    let app = spawn_app().await;
    let cookie = session_cookie(&app, Some("https")).await;
    assert!(
        !cookie.contains("Secure"),
        "anyone can send the header: {cookie}"
    );
}

#[actix_web::test]
async fn door_staff_check_tickets_in_and_can_do_nothing_else() {
    let app = spawn_app().await;
    let (event_id, seats) = app.event_with_seats(1).await;
    let buyer = app.buyer_token().await;
    let booking = app.hold(&buyer, event_id, &seats).await;
    let code = app.paid_ticket_code(&buyer, booking).await;
    let door = app.door_token().await;

    let admitted = app.check_in(&door, event_id, &code).await;
    assert_eq!(admitted.status(), 200);
    let admitted: Value = admitted.json().await.unwrap();
    assert_eq!(admitted["status"], "ADMITTED");

    // Nothing else: no operator endpoint, and no buyer endpoint either.
    let venue = json!({"name": "Hall", "city": "Oslo", "layout": crate::helpers::layout(1, 1, 1)});
    assert_problem(
        app.post_json("/admin/venues", Some(&door), &venue).await,
        403,
        "forbidden",
    )
    .await;
    let booking_view = app.admin_booking(&door, booking).await;
    assert_problem(booking_view, 403, "forbidden").await;
    let queue_on = json!({"enabled": true, "admission_rate_per_sec": 1});
    let queue = app.put_queue(&door, event_id, &queue_on).await;
    assert_problem(queue, 403, "forbidden").await;
    assert_problem(app.reserve(&door, event_id, &seats).await, 403, "forbidden").await;
    // And a buyer cannot check tickets in.
    assert_problem(app.check_in(&buyer, event_id, "x").await, 403, "forbidden").await;
}

/// Found by schemathesis: PostgreSQL cannot store a NUL character, and a
/// guest, a signup or a login with one in the email answered 500.
#[actix_web::test]
async fn an_email_with_a_control_character_or_surrounding_space_is_refused_not_a_500() {
    let app = spawn_app().await;
    app.signup("ana@example.com", "s3cret-password").await;
    for email in [
        "a\u{0}b@example.com",
        "ana@exa\u{1f}mple.com",
        " ana@example.com",
    ] {
        assert_problem(app.guest(email).await, 400, "validation_failed").await;
        assert_problem(
            app.signup(email, "s3cret-password").await,
            400,
            "validation_failed",
        )
        .await;
        assert_problem(
            app.login(email, "s3cret-password").await,
            401,
            "invalid_credentials",
        )
        .await;
    }
    assert_eq!(app.count("users").await, 1);
}
