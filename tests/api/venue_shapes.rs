//! Shaped venues: sections placed as blocks and arcs around a stage; the
//! layout endpoint returns the stage and every seat's x/y. Grid layouts
//! (no shapes) keep working (`catalog.rs`).

use serde_json::{Value, json};

use crate::helpers::{assert_problem, spawn_app};

#[actix_web::test]
async fn a_shaped_venue_serves_its_stage_and_seat_positions_and_best_available_starts_nearest_the_stage()
 {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let rows = |n: usize| {
        (0..n)
            .map(|r| json!({"name": format!("{}", r + 1), "seats": 10}))
            .collect::<Vec<_>>()
    };
    let layout = json!({
        "stage": {"x": 0, "y": 0, "width": 20, "height": 6, "label": "STAGE"},
        // Listed first but far from the stage: a balcony arc behind the floor.
        "sections": [
            {"name": "Balcony", "rows": rows(2),
             "shape": {"type": "arc", "cx": 0, "cy": 0, "radius": 40, "angle": 90}},
            {"name": "Floor", "rows": rows(3),
             "shape": {"type": "block", "x": 0, "y": 8, "angle": 0}},
        ]
    });
    let venue = app
        .create_venue(
            &admin,
            &json!({"name": "Bowl", "city": "Oslo", "layout": layout}),
        )
        .await;
    assert_eq!(venue.status(), 201);
    let venue: Value = venue.json().await.unwrap();
    assert_eq!(venue["seat_count"], 50);
    let venue_id = venue["venue_id"].as_i64().unwrap();

    let layout: Value = app
        .get(&format!("/venues/{venue_id}/layout"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(layout["stage"]["label"], "STAGE");
    assert_eq!(layout["stage"]["width"], 20.0);
    let floor = &layout["sections"][1];
    assert_eq!(floor["name"], "Floor");
    let front = &floor["rows"][0]["seats"];
    assert_eq!(front[0]["x"], -4.5);
    assert_eq!(front[0]["y"], 8.0);
    let balcony_seat = &layout["sections"][0]["rows"][0]["seats"][0];
    let (x, y) = (
        balcony_seat["x"].as_f64().unwrap(),
        balcony_seat["y"].as_f64().unwrap(),
    );
    assert!(
        (x.hypot(y) - 40.0).abs() < 0.01,
        "on the arc: {balcony_seat}"
    );

    let event = app
        .create_event(
            &admin,
            &json!({"title": "Show", "venue_id": venue_id, "category": "concert",
                    "start_time": "2030-06-01T19:00:00Z", "price_cents": 5000}),
        )
        .await;
    let event_id = event.json::<Value>().await.unwrap()["event_id"]
        .as_i64()
        .unwrap();
    let buyer = app.buyer_token().await;
    let held: Value = app
        .reserve_best(&buyer, event_id, 2, None)
        .await
        .json()
        .await
        .unwrap();
    let front_ids: Vec<&Value> = front
        .as_array()
        .unwrap()
        .iter()
        .map(|s| &s["seat_id"])
        .collect();
    for seat in held["seat_ids"].as_array().unwrap() {
        assert!(
            front_ids.contains(&seat),
            "the floor's front row first: {held}"
        );
    }

    assert_problem(
        app.create_venue(
            &admin,
            &json!({"name": "Bad", "city": "Oslo", "layout": {"sections": [
                {"name": "A", "rows": rows(1), "shape": {"type": "arc", "cx": 0, "cy": 0, "radius": -1, "angle": 0}}]}}),
        )
        .await,
        400,
        "validation_failed",
    )
    .await;
    assert_eq!(app.count("venues").await, 1, "the bad venue wrote nothing");
}
