use crate::helpers::spawn_app;

#[actix_web::test]
async fn healthz_answers_while_the_process_is_up() {
    let app = spawn_app().await;
    let response = app.get("/healthz").await;
    assert_eq!(response.status(), 200);
}

#[actix_web::test]
async fn readyz_reports_postgres_and_redis_up() {
    let app = spawn_app().await;
    // The Redis connection is made in the background: wait for it, with a deadline.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let response = app.get("/readyz").await;
        let status = response.status();
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(status, 200, "{body}");
        if body["redis"] == "up" {
            assert_eq!(body["postgres"], "up");
            assert_eq!(body["status"], "ready");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never ready: {body}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[actix_web::test]
async fn readyz_stays_200_reporting_redis_degraded_when_redis_is_unreachable() {
    // Booking carries on without Redis: a load balancer must not drain the node.
    let app = crate::helpers::spawn_app_with(|s| {
        s.redis.url = secrecy::SecretString::from("redis://127.0.0.1:1/".to_owned());
    })
    .await;
    let response = app.get("/readyz").await;
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], "degraded");
    assert_eq!(body["redis"], "down");
    assert_eq!(body["postgres"], "up");
}

#[actix_web::test]
async fn readyz_is_503_when_postgres_is_unreachable() {
    let app = spawn_app().await;
    let cut_off = app
        .peer_with(|s| {
            s.database.url =
                secrecy::SecretString::from("postgres://boxoffice@127.0.0.1:1/none".to_owned());
        })
        .await;
    let response = cut_off.get("/readyz").await;
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], "unavailable");
    assert_eq!(body["postgres"], "down");
}

#[actix_web::test]
async fn metrics_count_requests_by_route_in_prometheus_text() {
    let app = spawn_app().await;
    app.get("/healthz").await;
    let response = app.get("/metrics").await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    assert!(
        text.lines()
            .any(|l| l.starts_with("boxoffice_http_requests_total{")
                && l.contains(r#"route="/healthz""#)),
        "{text}"
    );
    assert!(
        text.contains("boxoffice_http_request_duration_seconds_bucket"),
        "{text}"
    );
}

#[actix_web::test]
async fn metrics_are_refused_to_clients_not_allowed_and_served_with_the_token() {
    let app = crate::helpers::spawn_app_with(|s| {
        s.metrics.allow_from = vec!["192.0.2.0/24".into()];
        s.metrics.bearer_token = secrecy::SecretString::from("scrape-me-please".to_owned());
    })
    .await;
    crate::helpers::assert_problem(app.get("/metrics").await, 403, "forbidden").await;
    let wrong = app
        .request(reqwest::Method::GET, "/metrics")
        .bearer_auth("guess")
        .send()
        .await
        .unwrap();
    crate::helpers::assert_problem(wrong, 403, "forbidden").await;
    let scraped = app
        .request(reqwest::Method::GET, "/metrics")
        .bearer_auth("scrape-me-please")
        .send()
        .await
        .unwrap();
    assert_eq!(scraped.status(), 200);
}

#[actix_web::test]
async fn metrics_through_a_trusted_proxy_are_judged_by_the_real_client() {
    // nginx on the same host: the peer is loopback, the client is not.
    let app = crate::helpers::spawn_app_with(|s| {
        s.limits.trusted_proxies = vec!["127.0.0.1".into()];
    })
    .await;
    let proxied = app
        .request(reqwest::Method::GET, "/metrics")
        .header("X-Forwarded-For", "203.0.113.5")
        .send()
        .await
        .unwrap();
    crate::helpers::assert_problem(proxied, 403, "forbidden").await;
    assert_eq!(app.get("/metrics").await.status(), 200, "loopback itself");
}

#[actix_web::test]
async fn an_unknown_route_is_a_404_problem() {
    let app = spawn_app().await;
    crate::helpers::assert_problem(app.get("/no/such/thing").await, 404, "not_found").await;
}

#[actix_web::test]
async fn a_known_path_with_another_method_is_a_405_naming_the_allowed_ones() {
    let app = spawn_app().await;
    for (method, path, allow) in [
        ("TRACE", "/readyz", vec!["GET"]),
        ("DELETE", "/events", vec!["GET"]),
        ("PUT", "/events/7/queue", vec!["GET", "POST"]),
        ("POST", "/admin/events/7/queue", vec!["GET", "PUT"]),
    ] {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let response = app.request(method.clone(), path).send().await.unwrap();
        let mut allowed: Vec<String> = response.headers()["allow"]
            .to_str()
            .unwrap()
            .split(", ")
            .map(String::from)
            .collect();
        allowed.sort();
        assert_eq!(allowed, allow, "{method} {path}");
        crate::helpers::assert_problem(response, 405, "method_not_allowed").await;
    }
}

#[actix_web::test]
async fn the_openapi_document_describes_every_route() {
    let app = spawn_app().await;
    let spec: serde_json::Value = app.get("/openapi.json").await.json().await.unwrap();
    assert_eq!(spec["openapi"], "3.1.0");
    // Every `.route("path", web::method()...)` of the route table.
    let table = include_str!("../../src/startup.rs");
    let mut missing = Vec::new();
    let mut checked = 0;
    let table = table.split("fn routes(").nth(1).expect("the route table");
    for call in table.split(".route(").skip(1) {
        let path = call.split('"').nth(1).unwrap();
        let method = ["get", "post", "put", "patch", "delete"]
            .into_iter()
            .find(|m| call.contains(&format!("web::{m}()")))
            .unwrap();
        checked += 1;
        if spec["paths"][path][method].is_null() {
            missing.push(format!("{method} {path}"));
        }
    }
    assert!(checked >= 30, "only {checked} routes found in the table");
    assert!(missing.is_empty(), "undocumented routes: {missing:?}");
}
