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
        if status == 200 {
            assert_eq!(body["postgres"], "up");
            assert_eq!(body["redis"], "up");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never ready: {body}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[actix_web::test]
async fn readyz_is_503_naming_redis_when_redis_is_unreachable() {
    let app = crate::helpers::spawn_app_with(|s| {
        s.redis.url = secrecy::SecretString::from("redis://127.0.0.1:1/".to_owned());
    })
    .await;
    let response = app.get("/readyz").await;
    assert_eq!(response.status(), 503);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["redis"], "down");
    assert_eq!(body["postgres"], "up");
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
async fn an_unknown_route_is_a_404_problem() {
    let app = spawn_app().await;
    crate::helpers::assert_problem(app.get("/no/such/thing").await, 404, "not_found").await;
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
