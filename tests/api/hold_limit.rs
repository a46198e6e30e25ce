//! One buyer holds at most `booking.max_active_seats_per_buyer` seats of an
//! event at once, however many requests, nodes or queue admissions they use.

use std::time::Duration;

use actors::model::{EventId, SeatId, UserId};
use actors::ports::{HoldOutcome, HoldPlan, SeatLedger};
use boxoffice::auth::Signer;
use boxoffice::store::ledger::PgLedger;
use futures_util::future::join_all;
use serde_json::Value;

use crate::helpers::{TestApp, assert_problem, spawn_app};

async fn seats_held_by(app: &TestApp, user_id: i64, event_id: i64) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM bookings b JOIN booking_seats bs ON bs.booking_id = b.booking_id AND bs.active
         WHERE b.user_id = $1 AND b.event_id = $2 AND b.status = 'PENDING'",
    )
    .bind(user_id)
    .bind(event_id)
    .fetch_one(&app.pool)
    .await
    .unwrap()
}

#[actix_web::test]
async fn a_buyer_holding_the_most_seats_allowed_cannot_hold_one_more() {
    let app = spawn_app().await;
    assert_eq!(app.settings.booking.max_active_seats_per_buyer, 8);
    let (event_id, seats) = app.event_with_seats(12).await;
    let (alice, bob) = (app.buyer_token().await, app.buyer_token().await);

    // Nine in one request is a bad request already.
    assert_problem(
        app.reserve(&alice, event_id, &seats[..9]).await,
        400,
        "validation_failed",
    )
    .await;

    let mut bookings = Vec::new();
    for pair in seats[..8].chunks(2) {
        bookings.push(app.hold(&alice, event_id, pair).await);
    }
    let refused = assert_problem(
        app.reserve(&alice, event_id, &[seats[8]]).await,
        409,
        "hold_limit_reached",
    )
    .await;
    assert_eq!(refused["limit"], 8);
    let alice_id = app.owner_of(bookings[0]).await;
    assert_eq!(seats_held_by(&app, alice_id, event_id).await, 8);

    // The refused seat is free, in PostgreSQL and in Redis (its lock went
    // with the refusal), so another buyer gets it; their own cap is untouched.
    assert_eq!(app.seat_statuses(event_id).await.1[8], "AVAILABLE");
    app.hold(&bob, event_id, &[seats[8], seats[9]]).await;

    // After a release the buyer may hold again, up to the cap.
    assert_eq!(app.release(&alice, bookings[0]).await.status(), 200);
    app.hold(&alice, event_id, &[seats[0], seats[10]]).await;
    assert_problem(
        app.reserve(&alice, event_id, &[seats[11]]).await,
        409,
        "hold_limit_reached",
    )
    .await;
    assert_eq!(seats_held_by(&app, alice_id, event_id).await, 8);
}

#[actix_web::test]
async fn concurrent_holds_of_one_buyer_through_two_nodes_never_exceed_the_cap() {
    let a = spawn_app().await;
    let b = a.peer().await;
    let (event_id, seats) = a.event_with_seats(60).await;
    for round in 0..3 {
        let buyer = a.buyer_token().await;
        let hot = &seats[round * 20..round * 20 + 20];
        // Ten requests of two distinct seats each, half on each node, at once:
        // only the cap can refuse them, and it allows exactly four.
        let answers = join_all(hot.chunks(2).enumerate().map(|(i, pair)| {
            let node = if i % 2 == 0 { &a } else { &b };
            node.reserve(&buyer, event_id, pair)
        }))
        .await;
        let mut held = Vec::new();
        for answer in answers {
            match answer.status().as_u16() {
                201 => held.push(answer.json::<Value>().await.unwrap()),
                409 => {
                    let body: Value = answer.json().await.unwrap();
                    assert_eq!(body["code"], "hold_limit_reached");
                }
                other => panic!("unexpected status {other}"),
            }
        }
        assert_eq!(held.len(), 4, "round {round}: exactly the cap is held");
        let user = a.owner_of(held[0]["booking_id"].as_i64().unwrap()).await;
        assert_eq!(seats_held_by(&a, user, event_id).await, 8);
    }
}

#[actix_web::test]
async fn plans_of_one_buyer_in_the_same_batch_are_counted_together() {
    let app = spawn_app().await;
    let (event_id, seats) = app.event_with_seats(12).await;
    let alice = app.buyer_token().await;
    let first = app.hold(&alice, event_id, &[seats[0]]).await;
    let alice_id = UserId(app.owner_of(first).await);
    let bob_id = UserId(
        app.owner_of({
            let bob = app.buyer_token().await;
            app.hold(&bob, event_id, &[seats[1]]).await
        })
        .await,
    );

    let ledger = PgLedger::new(
        app.pool.clone(),
        Signer::new(
            app.settings.auth.signing_secret.clone(),
            Duration::from_secs(60),
        ),
        Duration::from_secs(120),
    )
    .with_hold_cap(8);
    let plan = |user, ids: &[i64]| HoldPlan {
        user_id: user,
        seats: ids.iter().map(|&s| SeatId(s)).collect(),
        lock_token: "t".into(),
    };
    // Alice holds 1; 4 + 4 more in one batch would make 9. Bob's plan between
    // them is unaffected.
    let committed = ledger
        .hold(
            EventId(event_id),
            &[
                plan(alice_id, &seats[2..6]),
                plan(bob_id, &seats[6..8]),
                plan(alice_id, &seats[8..12]),
            ],
            Duration::from_secs(600),
        )
        .await
        .unwrap();
    assert!(matches!(committed.outcome[0], HoldOutcome::Held { .. }));
    assert!(matches!(committed.outcome[1], HoldOutcome::Held { .. }));
    assert_eq!(committed.outcome[2], HoldOutcome::LimitReached { limit: 8 });
    assert_eq!(seats_held_by(&app, alice_id.0, event_id).await, 5);
    assert_eq!(committed.deltas.len(), 1);
    assert_eq!(committed.deltas[0].changes.len(), 6);
}
