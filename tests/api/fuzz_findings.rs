//! What schemathesis found wrong on the booking and operator routes, each
//! now answered as the OpenAPI document says.

use serde_json::json;

use crate::helpers::{assert_problem, booking_id, layout, spawn_app};

#[actix_web::test]
async fn a_whole_number_written_as_a_float_is_taken_where_an_integer_is_expected() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let venue = app
        .create_venue(
            &admin,
            &json!({"name": "Hall", "city": "Oslo", "layout": {"sections": [
                {"name": "A", "rows": [{"name": "1", "seats": 4.0}]}]}}),
        )
        .await;
    assert_eq!(venue.status(), 201);
    let venue_id = venue.json::<serde_json::Value>().await.unwrap()["venue_id"]
        .as_i64()
        .unwrap();
    let event = app
        .create_event(
            &admin,
            &json!({"title": "Show", "venue_id": venue_id as f64, "category": "concert",
                    "start_time": "2030-06-01T19:00:00Z", "price_cents": 5e3}),
        )
        .await;
    assert_eq!(event.status(), 201);
    let event: serde_json::Value = event.json().await.unwrap();
    assert_eq!(event["price_cents"], 5000);
    let fractional = app
        .create_event(
            &admin,
            &json!({"title": "Show", "venue_id": venue_id, "category": "concert",
                    "start_time": "2030-06-01T19:00:00Z", "price_cents": 50.5}),
        )
        .await;
    assert_problem(fractional, 400, "validation_failed").await;
    let event_id = event["event_id"].as_i64().unwrap();
    let queue = app
        .put_queue(
            &admin,
            event_id,
            &json!({"enabled": true, "admission_rate_per_sec": 50.0}),
        )
        .await;
    assert_eq!(queue.status(), 200);
    assert_eq!(
        app.queue_report(&admin, event_id).await["admission_rate_per_sec"],
        50
    );
    let fractional_rate = app
        .put_queue(
            &admin,
            event_id,
            &json!({"enabled": true, "admission_rate_per_sec": 2.5}),
        )
        .await;
    assert_problem(fractional_rate, 400, "validation_failed").await;
}

#[actix_web::test]
async fn text_with_a_nul_character_is_refused_or_matches_nothing_never_a_500() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let venue = app
        .create_venue(
            &admin,
            &json!({"name": "Ha\u{0}ll", "city": "Oslo", "layout": layout(1, 1, 2)}),
        )
        .await;
    assert_problem(venue, 400, "validation_failed").await;
    let lookup = app.lookup_bookings(&admin, "fan\u{0}@example.com").await;
    assert_problem(lookup, 400, "validation_failed").await;
    let tickets = app.tickets_page(&admin, "ABC%00DEFGH").await;
    assert_problem(tickets, 404, "not_found").await;
}

#[actix_web::test]
async fn a_payment_token_is_limited_in_characters_not_bytes() {
    let app = spawn_app().await;
    let (event_id, seats) = app.event_with_seats(2).await;
    let buyer = app.buyer_token().await;
    let held = booking_id(app.reserve(&buyer, event_id, &seats[..1]).await).await;
    // 200 two-byte characters: within the documented 200 characters.
    let token = "é".repeat(200);
    let answer = app.confirm(&buyer, held, Some("key-1"), &token).await;
    assert_problem(answer, 402, "payment_failed").await;
    let answer = app
        .confirm(&buyer, held, Some("key-2"), &"é".repeat(201))
        .await;
    assert_problem(answer, 400, "validation_failed").await;
}
