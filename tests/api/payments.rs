use futures_util::future::join_all;
use serde_json::Value;

use crate::bookings::{event_with_seats, eventually, seat_statuses};
use crate::helpers::{TestApp, assert_problem, spawn_app, spawn_app_with};
use crate::invariants;

async fn hold(app: &TestApp, token: &str, event_id: i64, seats: &[i64]) -> i64 {
    let held = app.reserve(token, event_id, seats).await;
    assert_eq!(held.status(), 201);
    held.json::<Value>().await.unwrap()["booking_id"]
        .as_i64()
        .unwrap()
}

async fn charges(app: &TestApp) -> (i64, i64) {
    sqlx::query_as(
        "SELECT count(*) FILTER (WHERE status = 'SUCCEEDED'), count(*) FILTER (WHERE refunded_at IS NOT NULL)
         FROM provider_charges",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap()
}

#[actix_web::test]
async fn a_paid_booking_is_confirmed_with_one_ticket_per_seat() {
    let app = spawn_app().await;
    let (event_id, seats) = event_with_seats(&app, 3).await;
    let alice = app.buyer_token().await;
    let booking = hold(&app, &alice, event_id, &seats[..2]).await;

    let confirmed = app
        .confirm(&alice, booking, Some("pay-1"), "tok_visa")
        .await;
    assert_eq!(confirmed.status(), 200);
    let confirmed: Value = confirmed.json().await.unwrap();
    assert_eq!(confirmed["status"], "CONFIRMED");
    let number = confirmed["confirmation_number"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(confirmed["ticket_url"], format!("/tickets/{number}"));

    let (_, statuses) = seat_statuses(&app, event_id).await;
    assert_eq!(statuses, vec!["CONFIRMED", "CONFIRMED", "AVAILABLE"]);
    let tickets: Value = app.tickets_json(&alice, &number).await;
    let tickets = tickets["tickets"].as_array().unwrap().clone();
    assert_eq!(tickets.len(), 2);
    assert!(
        tickets
            .iter()
            .all(|t| t["code"].as_str().unwrap().starts_with("T1."))
    );

    let page = app
        .request(reqwest::Method::GET, &format!("/tickets/{number}"))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = page.text().await.unwrap();
    assert_eq!(html.matches("<svg").count(), 2, "one QR code per seat");

    let bob = app.buyer_token().await;
    let other = app
        .request(reqwest::Method::GET, &format!("/tickets/{number}"))
        .bearer_auth(&bob)
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 404, "someone else's tickets");
    assert_problem(app.release(&alice, booking).await, 409, "booking_confirmed").await;
    assert!(invariants::violations(&app.pool, event_id).await.is_empty());
}

#[actix_web::test]
async fn twenty_concurrent_confirms_with_one_key_charge_once() {
    let app = spawn_app().await;
    let (event_id, seats) = event_with_seats(&app, 1).await;
    let alice = app.buyer_token().await;
    let booking = hold(&app, &alice, event_id, &seats).await;

    let answers =
        join_all((0..20).map(|_| app.confirm(&alice, booking, Some("double-click"), "tok_slow")))
            .await;
    let mut confirmation = None;
    for answer in answers {
        match answer.status().as_u16() {
            200 => {
                let body: Value = answer.json().await.unwrap();
                let number = body["confirmation_number"].as_str().unwrap().to_owned();
                assert!(
                    confirmation.get_or_insert(number.clone()) == &number,
                    "two confirmations"
                );
            }
            409 => {
                assert_problem(answer, 409, "payment_in_progress").await;
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!(charges(&app).await, (1, 0));
    assert_eq!(app.count("payments").await, 1);
    // Once finished, the same key replays the same answer and charges nothing.
    let replay: Value = app
        .confirm(&alice, booking, Some("double-click"), "tok_visa")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(replay["status"], "CONFIRMED");
    if let Some(number) = confirmation {
        assert_eq!(replay["confirmation_number"], number);
    }
    assert_eq!(charges(&app).await, (1, 0));
}

#[actix_web::test]
async fn a_lost_answer_retried_with_the_same_key_charges_once() {
    let app = spawn_app().await;
    let (event_id, seats) = event_with_seats(&app, 1).await;
    let alice = app.buyer_token().await;
    let booking = hold(&app, &alice, event_id, &seats).await;

    assert_problem(
        app.confirm(&alice, booking, Some("k"), "tok_timeout").await,
        504,
        "payment_timeout",
    )
    .await;
    let retried = app.confirm(&alice, booking, Some("k"), "tok_timeout").await;
    assert_eq!(retried.status(), 200);
    assert_eq!(charges(&app).await, (1, 0));
    let view: Value = app
        .request(reqwest::Method::GET, &format!("/admin/bookings/{booking}"))
        .bearer_auth(app.admin_token().await)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(view["status"], "CONFIRMED");
    let payments = view["payments"].as_array().unwrap();
    assert_eq!(payments.len(), 1);
    assert_eq!(payments[0]["status"], "SUCCEEDED");
    assert_eq!(payments[0]["idempotency_key"], "k");
    assert!(
        payments[0]["provider_ref"]
            .as_str()
            .unwrap()
            .starts_with("ch_sim_")
    );
}

#[actix_web::test]
async fn a_declined_card_leaves_the_booking_payable_with_another() {
    let app = spawn_app().await;
    let (event_id, seats) = event_with_seats(&app, 1).await;
    let alice = app.buyer_token().await;
    let booking = hold(&app, &alice, event_id, &seats).await;

    assert_problem(
        app.confirm(&alice, booking, Some("a"), "tok_chargeDeclined")
            .await,
        402,
        "payment_declined",
    )
    .await;
    // The same key replays the decline; a new key with a good card pays.
    assert_problem(
        app.confirm(&alice, booking, Some("a"), "tok_visa").await,
        402,
        "payment_declined",
    )
    .await;
    assert_eq!(seat_statuses(&app, event_id).await.1, vec!["RESERVED"]);
    assert_eq!(
        app.confirm(&alice, booking, Some("b"), "tok_visa")
            .await
            .status(),
        200
    );
    assert_eq!(charges(&app).await, (1, 0));
}

#[actix_web::test]
async fn a_key_reused_for_another_booking_is_refused() {
    let app = spawn_app().await;
    let (event_id, seats) = event_with_seats(&app, 2).await;
    let alice = app.buyer_token().await;
    let first = hold(&app, &alice, event_id, &seats[..1]).await;
    let second = hold(&app, &alice, event_id, &seats[1..]).await;
    assert_eq!(
        app.confirm(&alice, first, Some("same"), "tok_visa")
            .await
            .status(),
        200
    );
    assert_problem(
        app.confirm(&alice, second, Some("same"), "tok_visa").await,
        422,
        "idempotency_key_reused",
    )
    .await;
    assert_eq!(charges(&app).await, (1, 0));
}

/// Holds end 1 s after they start; a started payment protects them for 3 s.
async fn short_holds() -> TestApp {
    spawn_app_with(|s| {
        s.booking.hold_seconds = 1;
        s.booking.payment_window_seconds = 3;
        s.payments.lease_seconds = 2;
        s.payments.charge_timeout_seconds = 1;
    })
    .await
}

#[actix_web::test]
async fn a_charge_that_lands_after_the_hold_confirms_if_the_seats_are_still_free() {
    let app = short_holds().await;
    let (event_id, seats) = event_with_seats(&app, 1).await;
    let alice = app.buyer_token().await;
    let booking = hold(&app, &alice, event_id, &seats).await;
    assert_problem(
        app.confirm(&alice, booking, Some("late"), "tok_timeout")
            .await,
        504,
        "payment_timeout",
    )
    .await;
    eventually("the hold expired despite the lost answer", || async {
        app.get_booking(&alice, booking)
            .await
            .json::<Value>()
            .await
            .unwrap()["status"]
            == "EXPIRED"
    })
    .await;
    let retried = app
        .confirm(&alice, booking, Some("late"), "tok_timeout")
        .await;
    assert_eq!(retried.status(), 200);
    assert_eq!(seat_statuses(&app, event_id).await.1, vec!["CONFIRMED"]);
    assert_eq!(charges(&app).await, (1, 0));
    assert!(invariants::violations(&app.pool, event_id).await.is_empty());
}

#[actix_web::test]
async fn a_charge_that_lands_after_the_seats_were_resold_is_refunded() {
    let app = short_holds().await;
    let (event_id, seats) = event_with_seats(&app, 1).await;
    let (alice, bob) = (app.buyer_token().await, app.buyer_token().await);
    let booking = hold(&app, &alice, event_id, &seats).await;
    assert_problem(
        app.confirm(&alice, booking, Some("late"), "tok_timeout")
            .await,
        504,
        "payment_timeout",
    )
    .await;
    eventually("the seat was resold", || async {
        app.reserve(&bob, event_id, &seats).await.status() == 201
    })
    .await;

    let body = assert_problem(
        app.confirm(&alice, booking, Some("late"), "tok_timeout")
            .await,
        409,
        "hold_expired",
    )
    .await;
    assert!(
        body["detail"].as_str().unwrap().contains("refunded"),
        "{body}"
    );
    assert_eq!(charges(&app).await, (1, 1), "charged once, refunded once");
    assert_eq!(
        seat_statuses(&app, event_id).await.1,
        vec!["RESERVED"],
        "bob keeps his seat"
    );
    assert!(invariants::violations(&app.pool, event_id).await.is_empty());
}

#[actix_web::test]
async fn a_payment_abandoned_mid_flight_is_resolved_with_the_provider() {
    let app = spawn_app_with(|s| s.payments.recovery_after_seconds = 0).await;
    let (event_id, seats) = event_with_seats(&app, 1).await;
    let alice = app.buyer_token().await;
    let booking = hold(&app, &alice, event_id, &seats).await;
    // The answer is lost and the client never comes back (as after a crash).
    assert_problem(
        app.confirm(&alice, booking, Some("gone"), "tok_timeout")
            .await,
        504,
        "payment_timeout",
    )
    .await;
    eventually("recovery confirmed the paid booking", || async {
        app.get_booking(&alice, booking)
            .await
            .json::<Value>()
            .await
            .unwrap()["status"]
            == "CONFIRMED"
    })
    .await;
    assert_eq!(charges(&app).await, (1, 0));
    let replay = app
        .confirm(&alice, booking, Some("gone"), "tok_timeout")
        .await;
    assert_eq!(
        replay.status(),
        200,
        "the client's retry gets the recovered answer"
    );
}

#[actix_web::test]
async fn a_ticket_is_admitted_once_and_forged_codes_are_refused() {
    let app = spawn_app().await;
    let (event_id, seats) = event_with_seats(&app, 1).await;
    let (_, other_seats) = event_with_seats(&app, 1).await;
    let alice = app.buyer_token().await;
    let admin = app.admin_token().await;
    let booking = hold(&app, &alice, event_id, &seats).await;
    let confirmed: Value = app
        .confirm(&alice, booking, Some("k"), "tok_visa")
        .await
        .json()
        .await
        .unwrap();
    let number = confirmed["confirmation_number"].as_str().unwrap();
    let tickets: Value = app.tickets_json(&alice, number).await;
    let code = tickets["tickets"][0]["code"].as_str().unwrap().to_owned();
    let check_in = |event: i64, code: String| {
        let admin = admin.clone();
        let app = &app;
        async move {
            app.post_json(
                &format!("/admin/events/{event}/checkin"),
                Some(&admin),
                &serde_json::json!({ "ticket_code": code }),
            )
            .await
        }
    };

    let first = check_in(event_id, code.clone()).await;
    assert_eq!(first.status(), 200);
    let again = assert_problem(
        check_in(event_id, code.clone()).await,
        409,
        "already_checked_in",
    )
    .await;
    assert!(again["first_scan_at"].is_string());
    let forged = code.replacen(
        &format!(".{}.", seats[0]),
        &format!(".{}.", seats[0] + 1),
        1,
    );
    assert_problem(check_in(event_id, forged).await, 400, "invalid_ticket").await;
    assert_problem(
        check_in(event_id, "hello".into()).await,
        400,
        "invalid_ticket",
    )
    .await;
    let _ = other_seats;
    assert_problem(check_in(event_id + 1, code).await, 409, "wrong_event").await;
    let buyer = app
        .post_json(
            &format!("/admin/events/{event_id}/checkin"),
            Some(&alice),
            &serde_json::json!({"ticket_code": "x"}),
        )
        .await;
    assert_problem(buyer, 403, "forbidden").await;
}

#[actix_web::test]
async fn a_second_key_cannot_pay_while_a_lost_answer_is_unresolved() {
    let app = spawn_app().await;
    let (event_id, seats) = event_with_seats(&app, 1).await;
    let alice = app.buyer_token().await;
    let booking = hold(&app, &alice, event_id, &seats).await;

    assert_problem(
        app.confirm(&alice, booking, Some("k1"), "tok_timeout")
            .await,
        504,
        "payment_timeout",
    )
    .await;
    // A reload of the page pays again with a new key: refused, nothing charged.
    assert_problem(
        app.confirm(&alice, booking, Some("k2"), "tok_visa").await,
        409,
        "payment_in_progress",
    )
    .await;
    assert_eq!(charges(&app).await, (1, 0), "only the lost charge exists");
    // Retrying the first attempt resolves it; the second key then finds it paid.
    assert_eq!(
        app.confirm(&alice, booking, Some("k1"), "tok_timeout")
            .await
            .status(),
        200
    );
    assert_problem(
        app.confirm(&alice, booking, Some("k3"), "tok_visa").await,
        409,
        "booking_already_confirmed",
    )
    .await;
    assert_eq!(charges(&app).await, (1, 0), "one charge, no refund needed");
}
