//! Price zones: an event prices its venue's sections by zone; seats in no
//! zone cost the event's price; a booking costs the sum of its seats.

use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_problem, booking_id, layout, spawn_app};

/// A venue of three sections (S0, S1, S2) of two rows of five seats.
async fn venue(app: &TestApp, admin: &str) -> i64 {
    let venue: Value = app
        .create_venue(
            admin,
            &json!({"name": "Hall", "city": "Oslo", "layout": layout(3, 2, 5)}),
        )
        .await
        .json()
        .await
        .unwrap();
    venue["venue_id"].as_i64().unwrap()
}

fn event_body(venue_id: i64, zones: Value) -> Value {
    json!({"title": "Zoned", "venue_id": venue_id, "category": "concert",
           "start_time": "2030-06-01T19:00:00Z", "price_cents": 5000, "zones": zones})
}

fn floor_and_balcony() -> Value {
    json!([
        {"name": "Floor", "price_cents": 9000, "sections": ["S0"]},
        {"name": "Balcony", "price_cents": 3000, "sections": ["S1"]},
    ])
}

#[actix_web::test]
async fn seats_cost_their_zones_price_and_a_booking_the_sum_of_its_seats() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let venue_id = venue(&app, &admin).await;
    let created = app
        .create_event(&admin, &event_body(venue_id, floor_and_balcony()))
        .await;
    assert_eq!(created.status(), 201);
    let event: Value = created.json().await.unwrap();
    let event_id = event["event_id"].as_i64().unwrap();
    let zones = json!([
        {"name": "Floor", "price_cents": 9000, "sections": ["S0"]},
        {"name": "Balcony", "price_cents": 3000, "sections": ["S1"]},
    ]);
    assert_eq!(event["zones"], zones);
    assert_eq!(app.event_details(event_id).await["zones"], zones);

    // Every seat of the map says its zone and price; S2 is in no zone.
    let map = app.seat_map(event_id).await;
    let seats = map["seats"].as_array().unwrap();
    let first_of = |section: &str| {
        seats
            .iter()
            .find(|s| s["section"] == section)
            .unwrap()
            .clone()
    };
    for seat in seats {
        let expected = match seat["section"].as_str().unwrap() {
            "S0" => (json!("Floor"), 9000),
            "S1" => (json!("Balcony"), 3000),
            _ => (Value::Null, 5000),
        };
        assert_eq!(
            (seat["zone"].clone(), seat["price_cents"].as_i64().unwrap()),
            expected
        );
    }
    // The live map's snapshot frame carries them too.
    let mut stream = app.seat_events(event_id).await;
    let snapshot = stream.next(std::time::Duration::from_secs(10)).await;
    assert_eq!(snapshot.event, "snapshot");
    assert_eq!(snapshot.data["seats"][0]["zone"], "Floor");
    assert_eq!(snapshot.data["seats"][0]["price_cents"], 9000);

    // One seat of each kind: 9000 + 3000 + 5000.
    let buyer = app.buyer_token().await;
    let picked: Vec<i64> = ["S0", "S1", "S2"]
        .iter()
        .map(|s| first_of(s)["seat_id"].as_i64().unwrap())
        .collect();
    let held = app.reserve(&buyer, event_id, &picked).await;
    assert_eq!(held.status(), 201);
    let held: Value = held.json().await.unwrap();
    assert_eq!(held["amount_cents"], 17_000);
    let booking = held["booking_id"].as_i64().unwrap();
    assert_eq!(app.booking(&buyer, booking).await["amount_cents"], 17_000);
    let mine: Value = app
        .get_as(&buyer, "/me/bookings")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(mine["bookings"][0]["amount_cents"], 17_000);

    // The charge is that amount.
    app.pays(&buyer, booking, "k", "tok_visa").await;
    let view: Value = app
        .admin_booking(&admin, booking)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(view["payments"][0]["amount_cents"], 17_000);
    let charged: i64 = sqlx::query_scalar("SELECT amount_cents FROM provider_charges")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(charged, 17_000);

    // An event without zones prices every seat alike.
    let plain = app
        .create_event(&admin, &event_body(venue_id, json!([])))
        .await;
    let plain: Value = plain.json().await.unwrap();
    let plain_id = plain["event_id"].as_i64().unwrap();
    assert_eq!(plain["zones"], json!([]));
    let seat = app.seat_map(plain_id).await["seats"][0]["seat_id"]
        .as_i64()
        .unwrap();
    let two = booking_id(app.reserve(&buyer, plain_id, &[seat]).await).await;
    assert_eq!(app.booking(&buyer, two).await["amount_cents"], 5000);
}

#[actix_web::test]
async fn bad_zones_are_refused_and_write_nothing() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let venue_id = venue(&app, &admin).await;
    let cases = [
        json!([{"name": "Floor", "price_cents": 9000, "sections": ["S9"]}]),
        json!([{"name": "Floor", "price_cents": 9000, "sections": ["S0", "S1"]},
               {"name": "Balcony", "price_cents": 3000, "sections": ["S1"]}]),
        json!([{"name": "Floor", "price_cents": -1, "sections": ["S0"]}]),
        json!([{"name": "Floor", "price_cents": 100_000_001, "sections": ["S0"]}]),
        json!([{"name": "Floor", "price_cents": "ten", "sections": ["S0"]}]),
        json!([{"name": "Floor", "price_cents": 1, "sections": []}]),
        json!([{"name": "A", "price_cents": 1, "sections": ["S0"]},
               {"name": "A", "price_cents": 2, "sections": ["S1"]}]),
        json!([{"name": "A", "price_cents": 1, "sections": ["S0"], "colour": "red"}]),
    ];
    for zones in cases {
        let answer = app
            .create_event(&admin, &event_body(venue_id, zones.clone()))
            .await;
        let status = answer.status().as_u16();
        assert_eq!(status, 400, "{zones}");
        if answer
            .headers()
            .get("content-type")
            .is_some_and(|v| v.to_str().unwrap().contains("problem"))
        {
            let body: Value = answer.json().await.unwrap();
            assert!(body["code"].is_string(), "{zones}: {body}");
        }
    }
    let unknown = assert_problem(
        app.create_event(
            &admin,
            &event_body(
                venue_id,
                json!([{"name": "F", "price_cents": 1, "sections": ["S9"]}]),
            ),
        )
        .await,
        400,
        "validation_failed",
    )
    .await;
    assert!(unknown["detail"].as_str().unwrap().contains("S9"));
    for table in ["events", "event_zones", "event_zone_sections", "seats"] {
        assert_eq!(app.count(table).await, 0, "{table}: nothing written");
    }
}
