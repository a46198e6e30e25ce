//! Cancel and refund a paid booking: once at the provider however many
//! clicks, tickets void, seats back on sale and on every live map; who may.

use std::time::Duration;

use futures_util::future::join_all;
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_problem, eventually, spawn_app, spawn_app_with};

const WAIT: Duration = Duration::from_secs(10);

/// A buyer's paid booking of the first two of three seats:
/// (event, seats, buyer token, booking, a ticket code).
async fn paid_booking(app: &TestApp) -> (i64, Vec<i64>, String, i64, String) {
    let (event_id, seats) = app.event_with_seats(3).await;
    let alice = app.buyer_token().await;
    let booking = app.hold(&alice, event_id, &seats[..2]).await;
    let code = app.paid_ticket_code(&alice, booking).await;
    (event_id, seats, alice, booking, code)
}

/// Refunds the provider recorded, and charges it marks refunded.
async fn provider_refunds(app: &TestApp) -> (i64, i64) {
    sqlx::query_as(
        "SELECT (SELECT count(*) FROM provider_refunds),
                (SELECT count(*) FROM provider_charges WHERE refunded_at IS NOT NULL)",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap()
}

/// The paying attempt's status and recorded answer code.
async fn paying_attempt(app: &TestApp, booking: i64) -> (String, Option<String>) {
    sqlx::query_as(
        "SELECT p.status, p.response->>'code' FROM payments p
         JOIN bookings b ON b.paid_by_payment_id = p.payment_id WHERE b.booking_id = $1",
    )
    .bind(booking)
    .fetch_one(&app.pool)
    .await
    .unwrap()
}

#[actix_web::test]
async fn a_refund_puts_the_seats_back_on_every_map_voids_the_tickets_and_refunds_once() {
    let app = spawn_app().await;
    let (event_id, seats, alice, booking, code) = paid_booking(&app).await;
    let admin = app.admin_token().await;
    let number = app.booking(&alice, booking).await["confirmation_number"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut map = app.seat_events(event_id).await;
    assert_eq!(map.next(WAIT).await.event, "snapshot");

    let refunded = app.refund(&admin, booking, Some("refund-1")).await;
    assert_eq!(refunded.status(), 200);
    let body: Value = refunded.json().await.unwrap();
    assert_eq!(body, json!({"booking_id": booking, "status": "REFUNDED"}));

    // A fan's open map sees both seats come free, in one delta.
    let delta = map.next(WAIT).await;
    assert_eq!(delta.event, "delta");
    let mut changes = delta.data["changes"].as_array().unwrap().clone();
    changes.sort_by_key(|c| c["seat_id"].as_i64());
    assert_eq!(
        changes,
        vec![
            json!({"seat_id": seats[0], "status": "AVAILABLE"}),
            json!({"seat_id": seats[1], "status": "AVAILABLE"}),
        ]
    );
    assert_eq!(
        app.seat_statuses(event_id).await.1,
        vec!["AVAILABLE", "AVAILABLE", "AVAILABLE"]
    );
    assert_eq!(app.booking_status(booking).await, "REFUNDED");
    assert_eq!(provider_refunds(&app).await, (1, 1));
    assert_eq!(
        paying_attempt(&app, booking).await,
        ("REFUNDED".into(), Some("booking_refunded".into()))
    );
    let view: Value = app
        .admin_booking(&admin, booking)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(view["status"], "REFUNDED");
    assert!(view["refunded_at"].is_string());
    assert_eq!(view["payments"][0]["status"], "REFUNDED");

    // The door refuses its tickets, clearly.
    let door = app.door_token().await;
    let refused = assert_problem(
        app.check_in(&door, event_id, &code).await,
        410,
        "ticket_refunded",
    )
    .await;
    assert!(refused["refunded_at"].is_string());
    // The buyer's ticket page says so, and shows no codes to present.
    let tickets = app.tickets_json(&alice, &number).await;
    assert_eq!(tickets["status"], "REFUNDED");
    let html = app
        .tickets_page(&alice, &number)
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("Refunded."), "{html}");
    assert_eq!(
        html.matches("<svg").count(),
        0,
        "no QR code on a void ticket"
    );
    // The seats are on sale again.
    let bob = app.buyer_token().await;
    app.hold(&bob, event_id, &seats[..2]).await;
    app.assert_no_violations(event_id).await;
}

#[actix_web::test]
async fn twenty_concurrent_clicks_on_two_nodes_refund_once_and_a_retry_gets_the_same_answer() {
    let app = spawn_app().await;
    let peer = app.peer().await;
    let (event_id, _, _, booking, _) = paid_booking(&app).await;
    let admin = app.admin_token().await;

    let nodes = [&app, &peer];
    let clicks =
        join_all((0..20).map(|i| nodes[i % 2].refund(&admin, booking, Some("click")))).await;
    let mut refunded = 0;
    for click in clicks {
        match click.status().as_u16() {
            200 => {
                let body: Value = click.json().await.unwrap();
                assert_eq!(body, json!({"booking_id": booking, "status": "REFUNDED"}));
                refunded += 1;
            }
            409 => {
                assert_problem(click, 409, "refund_in_progress").await;
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert!(refunded >= 1, "one click at least was answered REFUNDED");
    assert_eq!(provider_refunds(&app).await, (1, 1), "one refund");

    // The same key again: the same answer, nothing more refunded.
    let again = app.refund(&admin, booking, Some("click")).await;
    assert_eq!(again.status(), 200);
    let body: Value = again.json().await.unwrap();
    assert_eq!(body, json!({"booking_id": booking, "status": "REFUNDED"}));
    // Another key (another operator): told it is done already.
    assert_problem(
        app.refund(&admin, booking, Some("other")).await,
        409,
        "already_refunded",
    )
    .await;
    assert_eq!(provider_refunds(&app).await, (1, 1));
    app.assert_no_violations(event_id).await;
}

#[actix_web::test]
async fn operators_racing_with_different_keys_refund_once() {
    let app = spawn_app().await;
    let (event_id, _, _, booking, _) = paid_booking(&app).await;
    let admin = app.admin_token().await;
    let keys: Vec<String> = (0..10).map(|i| format!("operator-{i}")).collect();

    let answers = join_all(keys.iter().map(|k| app.refund(&admin, booking, Some(k)))).await;
    let statuses: Vec<u16> = answers.iter().map(|a| a.status().as_u16()).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| [200, 409].contains(s)),
        "{statuses:?}"
    );
    assert_eq!(provider_refunds(&app).await, (1, 1));
    app.assert_no_violations(event_id).await;
}

/// The state a node leaves when it dies after cancelling a booking and
/// before the provider refunded: booking REFUNDED under `key`, seats free,
/// the paying attempt REFUNDING with no lease and no answer.
async fn crash_after_cancelling(app: &TestApp, booking: i64, key: &str) {
    let mut tx = app.pool.begin().await.unwrap();
    sqlx::query(
        "UPDATE bookings SET status = 'REFUNDED', refund_key = $2, refunded_at = now()
         WHERE booking_id = $1",
    )
    .bind(booking)
    .bind(key)
    .execute(&mut *tx)
    .await
    .unwrap();
    sqlx::query("UPDATE booking_seats SET active = false WHERE booking_id = $1")
        .bind(booking)
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query(
        "UPDATE seats SET status = 'AVAILABLE', booking_id = NULL, reserved_at = NULL
         WHERE booking_id = $1",
    )
    .bind(booking)
    .execute(&mut *tx)
    .await
    .unwrap();
    sqlx::query(
        "UPDATE payments SET status = 'REFUNDING', response = NULL, response_status = NULL,
                             lease_until = NULL, lease_owner = NULL,
                             updated_at = now() - interval '1 minute'
         FROM bookings b WHERE b.booking_id = $1 AND payments.payment_id = b.paid_by_payment_id",
    )
    .bind(booking)
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

#[actix_web::test]
async fn a_refund_interrupted_by_a_crash_is_finished_by_a_retry_with_the_same_key() {
    let app = spawn_app().await;
    let (event_id, _, _, booking, _) = paid_booking(&app).await;
    let admin = app.admin_token().await;
    crash_after_cancelling(&app, booking, "crashed").await;
    assert_eq!(provider_refunds(&app).await, (0, 0));

    let retried = app.refund(&admin, booking, Some("crashed")).await;
    assert_eq!(retried.status(), 200);
    assert_eq!(provider_refunds(&app).await, (1, 1));
    assert_eq!(paying_attempt(&app, booking).await.0, "REFUNDED");
    let again = app.refund(&admin, booking, Some("crashed")).await;
    assert_eq!(again.status(), 200);
    assert_eq!(provider_refunds(&app).await, (1, 1));
    app.assert_no_violations(event_id).await;
}

#[actix_web::test]
async fn a_refund_interrupted_by_a_crash_and_never_retried_is_finished_by_recovery() {
    let app = spawn_app_with(|s| {
        s.payments.recovery_after_seconds = 0;
        s.payments.recovery_interval_ms = 100;
    })
    .await;
    let (event_id, _, alice, booking, _) = paid_booking(&app).await;
    crash_after_cancelling(&app, booking, "crashed").await;

    eventually("recovery refunded the charge", || async {
        paying_attempt(&app, booking).await.0 == "REFUNDED"
    })
    .await;
    assert_eq!(provider_refunds(&app).await, (1, 1));
    // The buyer's confirm key now replays the refund, never a confirmation.
    assert_problem(
        app.confirm(&alice, booking, Some("k"), "tok_visa").await,
        409,
        "booking_refunded",
    )
    .await;
    assert_eq!(app.booking_status(booking).await, "REFUNDED");
    app.assert_no_violations(event_id).await;
}

#[actix_web::test]
async fn a_buyer_cancels_their_own_booking_only_while_the_event_allows_it() {
    let app = spawn_app().await;
    let (event_id, _, alice, booking, _) = paid_booking(&app).await;
    let admin = app.admin_token().await;
    let bob = app.buyer_token().await;

    // The event does not let buyers cancel (the default).
    assert_problem(
        app.cancel(&alice, booking, Some("c1")).await,
        403,
        "cancellation_not_allowed",
    )
    .await;
    // Past the deadline.
    let past = app
        .patch_event(
            &admin,
            event_id,
            &json!({"cancellable_until": "2020-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(past.status(), 200);
    assert_problem(
        app.cancel(&alice, booking, Some("c1")).await,
        403,
        "cancellation_closed",
    )
    .await;
    let open = app
        .patch_event(
            &admin,
            event_id,
            &json!({"cancellable_until": "2099-01-01T00:00:00Z"}),
        )
        .await;
    let open: Value = open.json().await.unwrap();
    assert_eq!(open["cancellable_until"], "2099-01-01T00:00:00Z");
    // Someone else's booking does not exist for them.
    assert_problem(
        app.cancel(&bob, booking, Some("c1")).await,
        404,
        "not_found",
    )
    .await;
    // Nobody but an operator uses the operator's route.
    assert_problem(
        app.refund(&alice, booking, Some("c1")).await,
        403,
        "forbidden",
    )
    .await;
    let door = app.door_token().await;
    assert_problem(
        app.refund(&door, booking, Some("c1")).await,
        403,
        "forbidden",
    )
    .await;
    assert_problem(
        app.cancel(&door, booking, Some("c1")).await,
        403,
        "forbidden",
    )
    .await;
    assert_eq!(provider_refunds(&app).await, (0, 0), "nothing refunded yet");

    let cancelled = app.cancel(&alice, booking, Some("c1")).await;
    assert_eq!(cancelled.status(), 200);
    let body: Value = cancelled.json().await.unwrap();
    assert_eq!(body, json!({"booking_id": booking, "status": "REFUNDED"}));
    assert_eq!(app.cancel(&alice, booking, Some("c1")).await.status(), 200);
    assert_eq!(provider_refunds(&app).await, (1, 1));
    // Turning it off again (null) is a change too.
    let off: Value = app
        .patch_event(&admin, event_id, &json!({"cancellable_until": null}))
        .await
        .json()
        .await
        .unwrap();
    assert!(off["cancellable_until"].is_null());
    app.assert_no_violations(event_id).await;
}

#[actix_web::test]
async fn bad_refund_requests_are_problems_that_change_nothing() {
    let app = spawn_app().await;
    let (event_id, seats, alice, booking, _) = paid_booking(&app).await;
    let admin = app.admin_token().await;
    let hold = app.hold(&alice, event_id, &seats[2..]).await;

    let response = app
        .request(
            reqwest::Method::POST,
            &format!("/admin/bookings/{booking}/refund"),
        )
        .send()
        .await
        .unwrap();
    assert_problem(response, 401, "unauthorized").await;
    assert_problem(
        app.refund(&admin, booking, None).await,
        400,
        "idempotency_key_required",
    )
    .await;
    assert_problem(
        app.refund(&admin, booking, Some("bad key")).await,
        400,
        "validation_failed",
    )
    .await;
    assert_problem(
        app.refund(&admin, 999_999, Some("k")).await,
        404,
        "not_found",
    )
    .await;
    let response = app
        .request(reqwest::Method::POST, "/admin/bookings/abc/refund")
        .bearer_auth(&admin)
        .header("Idempotency-Key", "k")
        .send()
        .await
        .unwrap();
    assert!(response.status().is_client_error(), "{}", response.status());
    let not_paid = assert_problem(
        app.refund(&admin, hold, Some("k")).await,
        409,
        "booking_not_confirmed",
    )
    .await;
    assert_eq!(not_paid["booking_status"], "PENDING");
    assert_eq!(app.booking_status(booking).await, "CONFIRMED");
    assert_eq!(app.booking_status(hold).await, "PENDING");
    assert_eq!(provider_refunds(&app).await, (0, 0));
    let bad_deadline = app
        .patch_event(&admin, event_id, &json!({"cancellable_until": "soon"}))
        .await;
    assert_eq!(bad_deadline.status(), 400);
    app.assert_no_violations(event_id).await;
}

#[actix_web::test]
async fn an_operator_finds_a_booking_by_id_confirmation_number_or_email() {
    let app = spawn_app().await;
    let (_, _, alice, booking, _) = paid_booking(&app).await;
    let admin = app.admin_token().await;
    let number = app.booking(&alice, booking).await["confirmation_number"]
        .as_str()
        .unwrap()
        .to_owned();

    for q in [
        booking.to_string(),
        number.to_lowercase(),
        "FAN@example.com".to_owned(),
    ] {
        let found = app.lookup_bookings(&admin, &q).await;
        assert_eq!(found.status(), 200, "{q}");
        let found: Value = found.json().await.unwrap();
        let hit = found["bookings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["booking_id"] == booking)
            .unwrap_or_else(|| panic!("{q} finds the booking"))
            .clone();
        assert_eq!(hit["buyer_email"], "fan@example.com");
        assert_eq!(hit["payments"][0]["status"], "SUCCEEDED");
    }
    let none: Value = app
        .lookup_bookings(&admin, "nobody@example.com")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(none["bookings"], json!([]));
    assert_problem(
        app.lookup_bookings(&admin, " ").await,
        400,
        "validation_failed",
    )
    .await;
    assert_problem(
        app.lookup_bookings(&admin, "a;b").await,
        400,
        "validation_failed",
    )
    .await;
    assert_problem(app.lookup_bookings(&alice, "1").await, 403, "forbidden").await;
}

#[actix_web::test]
async fn a_booking_with_a_ticket_admitted_at_the_door_is_not_refunded_or_cancelled() {
    let app = spawn_app().await;
    let (event_id, seats, alice, booking, code) = paid_booking(&app).await;
    let admin = app.admin_token().await;
    let door = app.door_token().await;
    let allow = app
        .patch_event(
            &admin,
            event_id,
            &json!({"cancellable_until": "2099-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(allow.status(), 200);
    // One of its two tickets is admitted.
    assert_eq!(app.check_in(&door, event_id, &code).await.status(), 200);

    // Refunding it would put an admitted seat back on sale, to be admitted
    // again on a resold ticket: refused, by the operator and the buyer alike.
    let refused = assert_problem(
        app.refund(&admin, booking, Some("after-door")).await,
        409,
        "already_checked_in",
    )
    .await;
    assert!(refused["first_scan_at"].is_string(), "{refused}");
    assert_problem(
        app.cancel(&alice, booking, Some("after-door")).await,
        409,
        "already_checked_in",
    )
    .await;

    // Nothing changed: still paid, seats sold, no refund, the ticket used.
    assert_eq!(app.booking_status(booking).await, "CONFIRMED");
    assert_eq!(
        paying_attempt(&app, booking).await.0,
        "SUCCEEDED",
        "the charge stands"
    );
    assert_eq!(provider_refunds(&app).await, (0, 0));
    assert_eq!(
        app.seat_statuses(event_id).await.1,
        vec!["CONFIRMED", "CONFIRMED", "AVAILABLE"]
    );
    let bob = app.buyer_token().await;
    let resale = app.reserve(&bob, event_id, &seats[..1]).await;
    assert_problem(resale, 409, "seat_unavailable").await;
    assert_problem(
        app.check_in(&door, event_id, &code).await,
        409,
        "already_checked_in",
    )
    .await;
    app.assert_no_violations(event_id).await;
}

#[actix_web::test]
async fn a_scan_and_a_refund_of_the_same_booking_racing_never_both_succeed() {
    let app = spawn_app().await;
    let (event_id, seats) = app.event_with_seats(10).await;
    let admin = app.admin_token().await;
    let door = app.door_token().await;
    for (round, seat) in seats.iter().enumerate() {
        let buyer = app.buyer_token().await;
        let booking = app.hold(&buyer, event_id, std::slice::from_ref(seat)).await;
        let code = app.paid_ticket_code(&buyer, booking).await;
        let key = format!("race-{round}");
        let (scan, refund) = tokio::join!(
            app.check_in(&door, event_id, &code),
            app.refund(&admin, booking, Some(&key)),
        );
        let (scan, refund) = (scan.status().as_u16(), refund.status().as_u16());
        // Exactly one wins: admitted (then the refund is refused), or
        // refunded (then the ticket admits no one).
        assert!(
            matches!((scan, refund), (200, 409) | (410, 200)),
            "round {round}: scan {scan}, refund {refund}"
        );
        let status = app.booking_status(booking).await;
        assert_eq!(status, if scan == 200 { "CONFIRMED" } else { "REFUNDED" });
    }
    app.assert_no_violations(event_id).await;
}
