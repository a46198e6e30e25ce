use serde_json::{Value, json};

use crate::helpers::{assert_problem, layout, spawn_app, spawn_app_with};

async fn event(
    app: &crate::helpers::TestApp,
    token: &str,
    venue_id: i64,
    title: &str,
    category: &str,
    start: &str,
) -> i64 {
    let response = app
        .create_event(
            token,
            &json!({"title": title, "venue_id": venue_id, "category": category,
                    "start_time": start, "price_cents": 1000}),
        )
        .await;
    assert_eq!(response.status(), 201);
    response.json::<Value>().await.unwrap()["event_id"]
        .as_i64()
        .unwrap()
}

async fn venue(app: &crate::helpers::TestApp, token: &str, city: &str) -> i64 {
    let response = app
        .create_venue(
            token,
            &json!({"name": "Hall", "city": city, "layout": layout(2, 3, 4)}),
        )
        .await;
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["seat_count"], 24);
    body["venue_id"].as_i64().unwrap()
}

/// The start time most events of these tests share.
const JAN_1: &str = "2030-01-01T20:00:00Z";

fn titles(page: &Value) -> Vec<String> {
    page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["title"].as_str().unwrap().to_owned())
        .collect()
}

#[actix_web::test]
async fn creating_an_event_creates_one_available_seat_per_venue_seat() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let venue_id = venue(&app, &admin, "Oslo").await;
    let event_id = event(&app, &admin, venue_id, "Show", "concert", JAN_1).await;
    let available: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM seats WHERE event_id = $1 AND status = 'AVAILABLE'",
    )
    .bind(event_id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(available, 24);
    let details = app.event_details(event_id).await;
    assert_eq!(details["city"], "Oslo");
    assert_eq!(details["venue_id"], venue_id);
    assert_eq!(details["status"], "ON_SALE");
    assert_eq!(details["price_cents"], 1000);
    assert_eq!(details["queue_enabled"], false);
}

#[actix_web::test]
async fn an_event_in_a_missing_venue_is_refused_and_nothing_is_written() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let response = app
        .create_event(
            &admin,
            &json!({"title": "Ghost", "venue_id": 999, "category": "concert",
                    "start_time": "2030-01-01T20:00:00Z", "price_cents": 1}),
        )
        .await;
    assert_problem(response, 422, "unknown_venue").await;
    assert_eq!(app.count("events").await, 0);
}

#[actix_web::test]
async fn listings_filter_by_city_category_dates_and_text() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let oslo = venue(&app, &admin, "Oslo").await;
    let bergen = venue(&app, &admin, "Bergen").await;
    event(&app, &admin, oslo, "Rock Night", "concert", JAN_1).await;
    event(
        &app,
        &admin,
        oslo,
        "Chess Finals",
        "sports",
        "2030-02-01T20:00:00Z",
    )
    .await;
    event(
        &app,
        &admin,
        bergen,
        "Jazz Night",
        "concert",
        "2030-03-01T20:00:00Z",
    )
    .await;

    let cases = [
        ("/events", vec!["Rock Night", "Chess Finals", "Jazz Night"]),
        ("/events?city=oslo", vec!["Rock Night", "Chess Finals"]),
        ("/events?category=CONCERT", vec!["Rock Night", "Jazz Night"]),
        ("/events?city=Bergen&category=concert", vec!["Jazz Night"]),
        (
            "/events?from=2030-01-15T00:00:00Z",
            vec!["Chess Finals", "Jazz Night"],
        ),
        (
            "/events?to=2030-02-15T00:00:00Z",
            vec!["Rock Night", "Chess Finals"],
        ),
        ("/events?q=night", vec!["Rock Night", "Jazz Night"]),
        ("/events?q=%25", vec![]),
        ("/events?city=Paris", vec![]),
        // An empty range selects nothing (the document cannot say "from <= to").
        (
            "/events?from=2030-02-15T00:00:00Z&to=2030-01-15T00:00:00Z",
            vec![],
        ),
        // Any cursor of the documented form is a position, however far out.
        (
            "/events?cursor=-9999999999999999999_-9999999999999999999",
            vec!["Rock Night", "Chess Finals", "Jazz Night"],
        ),
        ("/events?cursor=9999999999999999999_1", vec![]),
    ];
    for (path, expected) in cases {
        let page: Value = app.get(path).await.json().await.unwrap();
        assert_eq!(titles(&page), expected, "{path}");
    }
}

#[actix_web::test]
async fn pages_follow_each_other_by_cursor_without_gaps_or_repeats() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let venue_id = venue(&app, &admin, "Oslo").await;
    for i in 0..5 {
        // Two events share each start time: the cursor must break ties by id.
        let start = format!("2030-01-0{}T20:00:00Z", 1 + i / 2);
        event(&app, &admin, venue_id, &format!("E{i}"), "concert", &start).await;
    }
    let mut seen = Vec::new();
    let mut path = "/events?limit=2".to_owned();
    for _ in 0..10 {
        let page: Value = app.get(&path).await.json().await.unwrap();
        seen.extend(titles(&page));
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/events?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen, vec!["E0", "E1", "E2", "E3", "E4"]);
}

#[actix_web::test]
async fn a_patched_event_is_never_served_stale_from_the_cache() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let venue_id = venue(&app, &admin, "Oslo").await;
    let event_id = event(&app, &admin, venue_id, "Old Title", "concert", JAN_1).await;
    let detail = format!("/events/{event_id}");

    // Warm both caches and see them hit.
    app.get(&detail).await;
    app.get("/events").await;
    let cached = app.get(&detail).await;
    assert_eq!(cached.headers()["x-cache"], "HIT");
    assert_eq!(app.get("/events").await.headers()["x-cache"], "HIT");

    let patched = app
        .patch_event(
            &admin,
            event_id,
            &json!({"title": "New Title", "price_cents": 2500}),
        )
        .await;
    assert_eq!(patched.status(), 200);

    let details: Value = app.get(&detail).await.json().await.unwrap();
    assert_eq!(details["title"], "New Title");
    assert_eq!(details["price_cents"], 2500);
    let listing: Value = app.get("/events").await.json().await.unwrap();
    assert_eq!(titles(&listing), vec!["New Title"]);
}

#[actix_web::test]
async fn browse_falls_back_to_postgres_when_redis_is_down() {
    let app = spawn_app_with(|s| {
        s.redis.url = secrecy::SecretString::from("redis://127.0.0.1:1/".to_owned());
    })
    .await;
    let admin = app.admin_token().await;
    let venue_id = venue(&app, &admin, "Oslo").await;
    let event_id = event(&app, &admin, venue_id, "Show", "concert", JAN_1).await;
    for path in [
        format!("/events/{event_id}"),
        "/events".to_owned(),
        format!("/venues/{venue_id}/layout"),
    ] {
        let response = app.get(&path).await;
        assert_eq!(response.status(), 200, "{path}");
    }
    let patched = app
        .patch_event(&admin, event_id, &json!({"title": "Renamed"}))
        .await;
    assert_eq!(patched.status(), 200);
    let details = app.event_details(event_id).await;
    assert_eq!(details["title"], "Renamed");
}

#[actix_web::test]
async fn a_layout_has_sections_rows_and_seats_and_revalidates_with_its_etag() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let venue_id = venue(&app, &admin, "Oslo").await;
    let response = app.get(&format!("/venues/{venue_id}/layout")).await;
    assert_eq!(response.status(), 200);
    let etag = response.headers()["etag"].to_str().unwrap().to_owned();
    assert!(
        response.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("max-age=86400")
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["seat_count"], 24);
    let sections = body["sections"].as_array().unwrap();
    assert_eq!(sections.len(), 2);
    assert_eq!(sections[0]["rows"].as_array().unwrap().len(), 3);
    let seat = &sections[0]["rows"][0]["seats"][0];
    assert_eq!(seat["number"], 1);
    assert!(seat["seat_id"].is_i64() && seat["x"].is_number() && seat["y"].is_number());

    let revalidated = app
        .request(reqwest::Method::GET, &format!("/venues/{venue_id}/layout"))
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(revalidated.status(), 304);
    assert_problem(app.get("/venues/424242/layout").await, 404, "not_found").await;
}

#[actix_web::test]
async fn patching_an_unknown_event_is_a_404_and_changing_its_venue_is_refused() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    assert_problem(
        app.patch_event(&admin, 4242, &json!({"title": "X"})).await,
        404,
        "not_found",
    )
    .await;
    let venue_id = venue(&app, &admin, "Oslo").await;
    let other = venue(&app, &admin, "Oslo").await;
    let event_id = event(&app, &admin, venue_id, "Show", "concert", JAN_1).await;
    let response = app
        .patch_event(&admin, event_id, &json!({"title": "X", "venue_id": other}))
        .await;
    assert_problem(response, 409, "venue_locked").await;
    let details = app.event_details(event_id).await;
    assert_eq!(details["title"], "Show");
}
