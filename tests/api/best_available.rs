//! Best available: `POST /bookings` with `best_available: {count, zone?}`.
//! The event actor picks adjacent seats in one row from its memory, in the
//! same batch as other holds, so racing buyers never share a seat and never
//! get a needless 409; a seat is never stranded when another choice avoids it.

use std::collections::{HashMap, HashSet};

use futures_util::future::join_all;
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_problem, layout, spawn_app};

/// Where each seat of the event is: seat id → (section, row, number).
async fn places(app: &TestApp, event_id: i64) -> HashMap<i64, (String, String, i64)> {
    let map = app.seat_map(event_id).await;
    map["seats"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["seat_id"].as_i64().unwrap(),
                (
                    s["section"].as_str().unwrap().to_owned(),
                    s["row"].as_str().unwrap().to_owned(),
                    s["number"].as_i64().unwrap(),
                ),
            )
        })
        .collect()
}

/// Asserts the seats are side by side in one row; returns (section, row).
fn assert_adjacent_in_one_row(
    places: &HashMap<i64, (String, String, i64)>,
    seats: &[i64],
) -> (String, String) {
    let mut found: Vec<&(String, String, i64)> = seats.iter().map(|s| &places[s]).collect();
    found.sort_by_key(|p| p.2);
    let (section, row) = (found[0].0.clone(), found[0].1.clone());
    for (i, place) in found.iter().enumerate() {
        assert_eq!((&place.0, &place.1), (&section, &row), "one row: {found:?}");
        assert_eq!(place.2, found[0].2 + i as i64, "adjacent: {found:?}");
    }
    (section, row)
}

async fn seat_ids_of(held: reqwest::Response) -> Vec<i64> {
    assert_eq!(held.status(), 201);
    let body: Value = held.json().await.unwrap();
    body["seat_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_i64().unwrap())
        .collect()
}

#[actix_web::test]
async fn two_hundred_buyers_racing_for_pairs_all_get_adjacent_seats_and_nobody_shares_one() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    // 2 sections x 10 rows x 20 seats: exactly 200 pairs if no seat is stranded.
    let (_, event_id) = app.venue_and_event(&admin, "Oslo", layout(2, 10, 20)).await;
    let places = places(&app, event_id).await;
    let buyers = app.many_buyers(200).await;

    let answers = join_all(
        buyers
            .iter()
            .map(|(_, token)| app.reserve_best(token, event_id, 2, None)),
    )
    .await;
    let mut taken = HashSet::new();
    for answer in answers {
        assert_eq!(answer.status(), 201, "no 409 while seats remain");
        let seats = seat_ids_of(answer).await;
        assert_eq!(seats.len(), 2);
        assert_adjacent_in_one_row(&places, &seats);
        for seat in seats {
            assert!(taken.insert(seat), "seat {seat} given twice");
        }
    }
    assert_eq!(taken.len(), 400, "the hall is full");
    app.assert_no_violations(event_id).await;

    let late = app.buyer_token().await;
    let refused = assert_problem(
        app.reserve_best(&late, event_id, 1, None).await,
        409,
        "not_enough_seats",
    )
    .await;
    assert_eq!(refused["count"], 1);
}

#[actix_web::test]
async fn buyers_racing_through_two_nodes_get_disjoint_adjacent_pairs_without_a_409() {
    // Each node's actor sees the other's holds only through deltas: a pick
    // made on memory that has not seen them yet is refused by Redis or
    // PostgreSQL and picked again around those seats, never answered 409.
    let a = spawn_app().await;
    let b = a.peer().await;
    let admin = a.admin_token().await;
    let (_, event_id) = a.venue_and_event(&admin, "Oslo", layout(3, 10, 20)).await;
    let places = places(&a, event_id).await;
    let buyers = a.many_buyers(120).await;
    let answers = join_all(buyers.iter().enumerate().map(|(i, (_, token))| {
        let node = if i % 2 == 0 { &a } else { &b };
        node.reserve_best(token, event_id, 2, None)
    }))
    .await;
    let mut taken = HashSet::new();
    for answer in answers {
        let seats = seat_ids_of(answer).await;
        assert_adjacent_in_one_row(&places, &seats);
        for seat in seats {
            assert!(taken.insert(seat), "seat {seat} given twice");
        }
    }
    assert_eq!(taken.len(), 240);
    a.assert_no_violations(event_id).await;
}

#[actix_web::test]
async fn a_twenty_seat_row_serves_ten_pairs_front_row_first() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (_, event_id) = app.venue_and_event(&admin, "Oslo", layout(1, 2, 20)).await;
    let places = places(&app, event_id).await;
    let mut rows = Vec::new();
    for _ in 0..20 {
        let buyer = app.buyer_token().await;
        let seats = seat_ids_of(app.reserve_best(&buyer, event_id, 2, None).await).await;
        rows.push(assert_adjacent_in_one_row(&places, &seats).1);
    }
    assert!(
        rows[..10].iter().all(|r| r == "R0"),
        "front row first: {rows:?}"
    );
    assert!(rows[10..].iter().all(|r| r == "R1"), "{rows:?}");
    let buyer = app.buyer_token().await;
    assert_problem(
        app.reserve_best(&buyer, event_id, 1, None).await,
        409,
        "not_enough_seats",
    )
    .await;
}

#[actix_web::test]
async fn a_zone_keeps_the_pick_to_its_sections() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let venue: Value = app
        .create_venue(
            &admin,
            &json!({"name": "Hall", "city": "Oslo", "layout": layout(2, 1, 4)}),
        )
        .await
        .json()
        .await
        .unwrap();
    let event: Value = app
        .create_event(
            &admin,
            &json!({"title": "Zoned", "venue_id": venue["venue_id"], "category": "concert",
                    "start_time": "2030-06-01T19:00:00Z", "price_cents": 5000,
                    "zones": [{"name": "Floor", "price_cents": 9000, "sections": ["S0"]},
                              {"name": "Balcony", "price_cents": 2000, "sections": ["S1"]}]}),
        )
        .await
        .json()
        .await
        .unwrap();
    let event_id = event["event_id"].as_i64().unwrap();
    let places = places(&app, event_id).await;
    let buyer = app.buyer_token().await;

    let held = app.reserve_best(&buyer, event_id, 3, Some("Balcony")).await;
    assert_eq!(held.status(), 201);
    let held: Value = held.json().await.unwrap();
    assert_eq!(held["amount_cents"], 6000, "three balcony seats");
    let seats: Vec<i64> = held["seat_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_i64().unwrap())
        .collect();
    assert_eq!(assert_adjacent_in_one_row(&places, &seats).0, "S1");

    let other = app.buyer_token().await;
    assert_problem(
        app.reserve_best(&other, event_id, 2, Some("Balcony")).await,
        409,
        "not_enough_seats",
    )
    .await;
    assert_problem(
        app.reserve_best(&other, event_id, 2, Some("Pit")).await,
        422,
        "unknown_zone",
    )
    .await;
    let floor = seat_ids_of(app.reserve_best(&other, event_id, 4, Some("Floor")).await).await;
    assert_eq!(assert_adjacent_in_one_row(&places, &floor).0, "S0");
}

#[actix_web::test]
async fn best_available_keeps_the_hold_limit_and_the_queue_token_rule() {
    let app = spawn_app().await;
    let (_, event_id, _) = app.queued_event(40, 50, None).await;
    let buyer = app.buyer_token().await;
    assert_problem(
        app.reserve_best(&buyer, event_id, 2, None).await,
        403,
        "queue_token_required",
    )
    .await;

    let (_, plain) = app
        .venue_and_event(&app.admin_token().await, "Oslo", layout(1, 2, 10))
        .await;
    for body in [
        json!({"event_id": plain, "best_available": {"count": 9}}),
        json!({"event_id": plain, "best_available": {"count": 0}}),
        json!({"event_id": plain, "best_available": {"count": 2}, "seat_ids": [1]}),
        json!({"event_id": plain}),
    ] {
        assert_problem(
            app.post_json("/bookings", Some(&buyer), &body).await,
            400,
            "validation_failed",
        )
        .await;
    }
    seat_ids_of(app.reserve_best(&buyer, plain, 8, None).await).await;
    assert_problem(
        app.reserve_best(&buyer, plain, 1, None).await,
        409,
        "hold_limit_reached",
    )
    .await;
    assert_eq!(app.count("bookings").await, 1);
}
