use futures_util::future::join_all;
use serde_json::Value;

use crate::helpers::{Settings, TestApp, assert_problem, eventually, spawn_app, spawn_app_with};

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
    let (event_id, seats) = app.event_with_seats(3).await;
    let alice = app.buyer_token().await;
    let booking = app.hold(&alice, event_id, &seats[..2]).await;

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

    let (_, statuses) = app.seat_statuses(event_id).await;
    assert_eq!(statuses, vec!["CONFIRMED", "CONFIRMED", "AVAILABLE"]);
    let tickets: Value = app.tickets_json(&alice, &number).await;
    let tickets = tickets["tickets"].as_array().unwrap().clone();
    assert_eq!(tickets.len(), 2);
    assert!(
        tickets
            .iter()
            .all(|t| t["code"].as_str().unwrap().starts_with("T1."))
    );

    let page = app.tickets_page(&alice, &number).await;
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = page.text().await.unwrap();
    assert_eq!(html.matches("<svg").count(), 2, "one QR code per seat");

    let bob = app.buyer_token().await;
    let other = app.tickets_page(&bob, &number).await;
    assert_eq!(other.status(), 404, "someone else's tickets");
    assert_problem(app.release(&alice, booking).await, 409, "booking_confirmed").await;
    app.assert_no_violations(event_id).await;
}

#[actix_web::test]
async fn twenty_concurrent_confirms_with_one_key_charge_once() {
    let app = spawn_app().await;
    let (_, alice, booking) = app.one_seat_held().await;

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
    let (_, alice, booking) = app.one_seat_held().await;

    app.payment_timed_out(&alice, booking, "k", "tok_timeout")
        .await;
    let retried = app.confirm(&alice, booking, Some("k"), "tok_timeout").await;
    assert_eq!(retried.status(), 200);
    assert_eq!(charges(&app).await, (1, 0));
    let admin = app.admin_token().await;
    let view: Value = app
        .admin_booking(&admin, booking)
        .await
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
    let (event_id, alice, booking) = app.one_seat_held().await;

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
    assert_eq!(app.seat_statuses(event_id).await.1, vec!["RESERVED"]);
    app.pays(&alice, booking, "b", "tok_visa").await;
    assert_eq!(charges(&app).await, (1, 0));
}

#[actix_web::test]
async fn a_key_reused_for_another_booking_is_refused() {
    let app = spawn_app().await;
    let (_, alice, [first, second]) = app.two_holds().await;
    app.pays(&alice, first, "same", "tok_visa").await;
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
    let (event_id, alice, booking) = app.one_seat_held().await;
    app.payment_timed_out(&alice, booking, "late", "tok_timeout")
        .await;
    eventually("the hold expired despite the lost answer", || async {
        app.booking(&alice, booking).await["status"] == "EXPIRED"
    })
    .await;
    let retried = app
        .confirm(&alice, booking, Some("late"), "tok_timeout")
        .await;
    assert_eq!(retried.status(), 200);
    assert_eq!(app.seat_statuses(event_id).await.1, vec!["CONFIRMED"]);
    assert_eq!(charges(&app).await, (1, 0));
    app.assert_no_violations(event_id).await;
}

#[actix_web::test]
async fn a_charge_that_lands_after_the_seats_were_resold_is_refunded() {
    let app = short_holds().await;
    let (event_id, seats) = app.event_with_seats(1).await;
    let (alice, bob) = (app.buyer_token().await, app.buyer_token().await);
    let booking = app.hold(&alice, event_id, &seats).await;
    app.payment_timed_out(&alice, booking, "late", "tok_timeout")
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
        app.seat_statuses(event_id).await.1,
        vec!["RESERVED"],
        "bob keeps his seat"
    );
    app.assert_no_violations(event_id).await;
}

#[actix_web::test]
async fn a_payment_abandoned_mid_flight_is_resolved_with_the_provider() {
    let app = spawn_app_with(|s| s.payments.recovery_after_seconds = 0).await;
    let (_, alice, booking) = app.one_seat_held().await;
    // The answer is lost and the client never comes back (as after a crash).
    app.payment_timed_out(&alice, booking, "gone", "tok_timeout")
        .await;
    eventually("recovery confirmed the paid booking", || async {
        app.booking(&alice, booking).await["status"] == "CONFIRMED"
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
    let (event_id, seats) = app.event_with_seats(1).await;
    let (_, other_seats) = app.event_with_seats(1).await;
    let alice = app.buyer_token().await;
    let admin = app.admin_token().await;
    let booking = app.hold(&alice, event_id, &seats).await;
    let code = app.paid_ticket_code(&alice, booking).await;
    let check_in = |event: i64, code: String| {
        let (admin, app) = (admin.clone(), &app);
        async move { app.check_in(&admin, event, &code).await }
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
    assert_problem(check_in(event_id, forged).await, 422, "invalid_ticket").await;
    assert_problem(
        check_in(event_id, "hello".into()).await,
        422,
        "invalid_ticket",
    )
    .await;
    let _ = other_seats;
    assert_problem(check_in(event_id + 1, code).await, 409, "wrong_event").await;
    assert_problem(app.check_in(&alice, event_id, "x").await, 403, "forbidden").await;
}

#[actix_web::test]
async fn a_second_key_cannot_pay_while_a_lost_answer_is_unresolved() {
    let app = spawn_app().await;
    let (_, alice, booking) = app.one_seat_held().await;

    app.payment_timed_out(&alice, booking, "k1", "tok_timeout")
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
    app.pays(&alice, booking, "k1", "tok_timeout").await;
    assert_problem(
        app.confirm(&alice, booking, Some("k3"), "tok_visa").await,
        409,
        "booking_already_confirmed",
    )
    .await;
    assert_eq!(charges(&app).await, (1, 0), "one charge, no refund needed");
}

// ---- Refunds, recovery and fencing (issue 8: items 8-11) ----

/// The attempt row of a booking: status, whether it has an answer, and the
/// code of that answer if it is a problem.
async fn attempt_of(app: &TestApp, booking: i64) -> (String, Option<i32>, Option<String>) {
    sqlx::query_as(
        "SELECT status, response_status, response->>'code' FROM payments WHERE booking_id = $1
         ORDER BY payment_id DESC LIMIT 1",
    )
    .bind(booking)
    .fetch_one(&app.pool)
    .await
    .unwrap()
}

async fn refunds(app: &TestApp) -> i64 {
    app.count("provider_refunds").await
}

/// An open attempt of `booking` under `key` whose charge was sent `sent_ago`
/// seconds ago and that the provider has no record of; last touched `idle`
/// seconds ago.
async fn unrecorded_charge(app: &TestApp, booking: i64, key: &str, sent_ago: f64, idle: f64) {
    sqlx::query(
        "INSERT INTO payments (booking_id, user_id, idempotency_key, amount_cents, charge_sent_at, updated_at)
         SELECT booking_id, user_id, $3, amount_cents, now() - make_interval(secs => $2),
                now() - make_interval(secs => $4)
         FROM bookings WHERE booking_id = $1",
    )
    .bind(booking)
    .bind(sent_ago)
    .bind(key)
    .bind(idle)
    .execute(&app.pool)
    .await
    .unwrap();
}

/// Recovery every 100 ms, for attempts idle for any time at all.
async fn eager_recovery() -> TestApp {
    spawn_app_with(recover_eagerly).await
}

fn recover_eagerly(s: &mut Settings) {
    s.payments.recovery_after_seconds = 0;
    s.payments.recovery_interval_ms = 100;
}

/// A charge gives up after 1 s while a `tok_slow` card takes `slow_token_ms`
/// to land; a started payment protects its hold for 5 s.
fn slow_charges(s: &mut Settings, slow_token_ms: u64) {
    s.payments.charge_timeout_seconds = 1;
    s.payments.lease_seconds = 2;
    s.booking.payment_window_seconds = 5;
    s.payments.slow_token_ms = slow_token_ms;
}

/// Reproduces, in one transaction, the state a process leaves when it dies
/// after the provider charged under the attempt's key: the attempt is open
/// with `status` and no lease, the booking is marked paying, and the provider
/// holds the charge, refunded under the attempt's refund key if `refunded`.
async fn crashed_attempt(app: &TestApp, booking: i64, status: &str, refunded: bool) -> i64 {
    let mut tx = app.pool.begin().await.unwrap();
    let payment_id: i64 = sqlx::query_scalar(
        "INSERT INTO payments (booking_id, user_id, idempotency_key, amount_cents, status, provider_ref,
                               charge_sent_at, updated_at)
         SELECT booking_id, user_id, 'crashed-' || booking_id, amount_cents, $2,
                CASE WHEN $2 = 'REFUNDING' THEN 'ch_crashed_' || booking_id END,
                now() - interval '1 minute', now() - interval '1 minute'
         FROM bookings WHERE booking_id = $1
         RETURNING payment_id",
    )
    .bind(booking)
    .bind(status)
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    sqlx::query("UPDATE bookings SET payment_started_at = now() WHERE booking_id = $1")
        .bind(booking)
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO provider_charges (charge_id, idempotency_key, amount_cents, status, refunded_at)
         SELECT 'ch_crashed_' || $1, 'bo-pay-' || $2, amount_cents, 'SUCCEEDED',
                CASE WHEN $3 THEN now() END
         FROM bookings WHERE booking_id = $1",
    )
    .bind(booking)
    .bind(payment_id)
    .bind(refunded)
    .execute(&mut *tx)
    .await
    .unwrap();
    if refunded {
        sqlx::query(
            "INSERT INTO provider_refunds (refund_id, idempotency_key, charge_id)
             VALUES ('re_crashed_' || $1, 'bo-refund-' || $2, 'ch_crashed_' || $1)",
        )
        .bind(booking)
        .bind(payment_id)
        .execute(&mut *tx)
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    payment_id
}

#[actix_web::test]
async fn a_charge_refunded_before_a_crash_never_confirms_the_booking() {
    // The process refunded at the provider and died before recording it
    // (the attempt still says PROCESSING): recovery must see the refund.
    let app = eager_recovery().await;
    let (event_id, alice, booking) = app.one_seat_held().await;
    crashed_attempt(&app, booking, "PROCESSING", true).await;

    eventually("recovery finished the attempt", || async {
        attempt_of(&app, booking).await.1.is_some()
    })
    .await;
    let (status, _, code) = attempt_of(&app, booking).await;
    assert_eq!(status, "REFUNDED");
    assert_eq!(code.as_deref(), Some("payment_refunded"));
    assert_eq!(
        app.booking_status(booking).await,
        "PENDING",
        "not confirmed"
    );
    assert_eq!(app.seat_statuses(event_id).await.1, vec!["RESERVED"]);
    assert_eq!(charges(&app).await, (1, 1));
    assert_eq!(refunds(&app).await, 1, "exactly one refund");
    assert_eq!(app.count("tickets").await, 0);
    // The client's retry with the key replays the refund.
    let replay = app
        .confirm(
            &alice,
            booking,
            Some(&format!("crashed-{booking}")),
            "tok_visa",
        )
        .await;
    assert_problem(replay, 409, "payment_refunded").await;
    assert_eq!(charges(&app).await, (1, 1));
}

#[actix_web::test]
async fn an_interrupted_refund_is_finished_by_refunding_again_never_by_confirming() {
    let app = eager_recovery().await;
    let (event_id, seats) = app.event_with_seats(2).await;
    let alice = app.buyer_token().await;
    // Died after the provider refunded, before recording it.
    let refunded = app.hold(&alice, event_id, &seats[..1]).await;
    crashed_attempt(&app, refunded, "REFUNDING", true).await;
    // Died after recording the intent, before the provider refunded.
    let intended = app.hold(&alice, event_id, &seats[1..]).await;
    let intended_payment = crashed_attempt(&app, intended, "REFUNDING", false).await;
    assert_eq!(refunds(&app).await, 1);

    for booking in [refunded, intended] {
        eventually("recovery finished the refund", || async {
            attempt_of(&app, booking).await.1.is_some()
        })
        .await;
        let (status, answer, _) = attempt_of(&app, booking).await;
        assert_eq!((status.as_str(), answer), ("REFUNDED", Some(409)));
        assert_eq!(
            app.booking_status(booking).await,
            "PENDING",
            "not confirmed"
        );
    }
    assert_eq!(charges(&app).await, (2, 2));
    assert_eq!(refunds(&app).await, 2, "one refund per charge, never two");
    let key: String = sqlx::query_scalar(
        "SELECT r.idempotency_key FROM provider_refunds r WHERE r.charge_id = 'ch_crashed_' || $1",
    )
    .bind(intended)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(key, format!("bo-refund-{intended_payment}"));
    assert_eq!(app.count("tickets").await, 0);
}

#[actix_web::test]
async fn a_charge_still_in_flight_is_not_failed_on_an_empty_lookup() {
    // The charge reaches the provider but lands only after the request gave
    // up (504): recovery finds no record at first, and must keep asking.
    let app = spawn_app_with(|s| {
        recover_eagerly(s);
        slow_charges(s, 2500);
    })
    .await;
    let (_, alice, booking) = app.one_seat_held().await;
    app.payment_timed_out(&alice, booking, "slow", "tok_slow")
        .await;
    assert_eq!(charges(&app).await, (0, 0), "not landed yet");
    eventually("the late charge confirmed the booking", || async {
        app.booking_status(booking).await == "CONFIRMED"
    })
    .await;
    eventually("the attempt recorded its answer", || async {
        attempt_of(&app, booking).await.1.is_some()
    })
    .await;
    assert_eq!(attempt_of(&app, booking).await.0, "SUCCEEDED");
    assert_eq!(charges(&app).await, (1, 0));
}

#[actix_web::test]
async fn no_record_is_final_only_after_the_charge_window() {
    let app = eager_recovery().await;
    let (_, _, [old, recent]) = app.two_holds().await;
    // Both attempts sent a charge the provider has no record of: one an hour
    // ago (past the 60 s window), one just now (it could still land).
    for (booking, sent_ago, key) in [(old, 3600.0, "old"), (recent, 0.0, "recent")] {
        unrecorded_charge(&app, booking, key, sent_ago, 3600.0).await;
    }
    eventually("recovery looked at both attempts", || async {
        let seen: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM payments WHERE updated_at > now() - interval '1 minute'",
        )
        .fetch_one(&app.pool)
        .await
        .unwrap();
        seen == 2
    })
    .await;
    let (status, _, code) = attempt_of(&app, old).await;
    assert_eq!(
        (status.as_str(), code.as_deref()),
        ("FAILED", Some("payment_not_completed"))
    );
    assert_eq!(
        attempt_of(&app, recent).await,
        ("PROCESSING".to_owned(), None, None),
        "a charge that may still land leaves the attempt open"
    );
}

#[actix_web::test]
async fn an_invalid_token_on_a_resumed_attempt_is_looked_up_before_failing() {
    let app = spawn_app_with(|s| slow_charges(s, 2000)).await;
    let (_, alice, booking) = app.one_seat_held().await;
    app.payment_timed_out(&alice, booking, "k", "tok_slow")
        .await;
    // The retry carries a token the provider refuses, while the first
    // request's charge is still on its way: not a failure.
    assert_problem(
        app.confirm(&alice, booking, Some("k"), "tok_bogus").await,
        409,
        "payment_in_progress",
    )
    .await;
    assert_eq!(attempt_of(&app, booking).await.0, "PROCESSING");
    eventually("the first charge landed", || async {
        charges(&app).await == (1, 0)
    })
    .await;
    let retried = app.confirm(&alice, booking, Some("k"), "tok_bogus").await;
    assert_eq!(retried.status(), 200, "the landed charge confirms");
    assert_eq!(app.booking_status(booking).await, "CONFIRMED");
    assert_eq!(charges(&app).await, (1, 0));
}

/// `finish_attempt` of a PROCESSING attempt, written as the holder of `lease`:
/// whether it landed.
async fn finish_processing(
    app: &TestApp,
    id: i64,
    lease: &str,
    to: boxoffice::store::bookings::PaymentStatus,
    answer: (i32, &Value),
) -> bool {
    use boxoffice::store::bookings::{self as store, PaymentStatus};
    store::finish_attempt(
        &app.pool,
        id,
        lease,
        &[PaymentStatus::Processing],
        to,
        None,
        answer,
    )
    .await
    .unwrap()
}

#[actix_web::test]
async fn a_stale_lease_holder_can_neither_overwrite_the_answer_nor_clear_the_lease() {
    use boxoffice::store::bookings::{self as store, PaymentStatus};
    use std::time::Duration;

    let app = spawn_app().await;
    let (_, _, [booking, other]) = app.two_holds().await;
    let view = store::get(&app.pool, actors::model::BookingId(booking))
        .await
        .unwrap()
        .unwrap();
    let lease = Duration::from_secs(30);
    let first = store::begin_attempt(&app.pool, view.booking_id, view.user_id, "k", 100, lease)
        .await
        .unwrap();
    let stale = first.lease.clone().expect("the first call holds the lease");
    // Its lease lapses (a long pause) and another request takes over.
    sqlx::query("UPDATE payments SET lease_until = now() - interval '1 second'")
        .execute(&app.pool)
        .await
        .unwrap();
    let taken = store::take_lease(&app.pool, first.payment_id, lease)
        .await
        .unwrap()
        .expect("the lapsed lease is taken");
    let current = taken.lease;

    // The stale holder wakes up: none of its writes land.
    let id = first.payment_id;
    assert!(
        !store::drop_lease(&app.pool, id, &stale, None)
            .await
            .unwrap()
    );
    let window = Duration::from_secs(60);
    let sending = store::charge_sending(&app.pool, id, &stale, window).await;
    assert_eq!(sending.unwrap(), None);
    assert!(
        !store::begin_refund(&app.pool, id, &stale, "ch_x")
            .await
            .unwrap()
    );
    let leased: (Option<String>, bool) = sqlx::query_as(
        "SELECT lease_owner, lease_until > now() FROM payments WHERE payment_id = $1",
    )
    .bind(id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        leased,
        (Some(current.clone()), true),
        "the new holder keeps its lease"
    );

    // Nor can it answer for the attempt the new holder is still working on.
    let early = serde_json::json!({ "code": "stale" });
    assert!(
        !finish_processing(&app, id, &stale, PaymentStatus::Failed, (402, &early)).await,
        "a stale holder cannot answer while another holds the lease"
    );
    assert_eq!(
        attempt_of(&app, booking).await,
        ("PROCESSING".to_owned(), None, None)
    );

    let answer = serde_json::json!({ "status": "CONFIRMED" });
    assert!(finish_processing(&app, id, &current, PaymentStatus::Failed, (402, &answer)).await);
    let late = serde_json::json!({ "code": "stale" });
    assert!(
        !finish_processing(&app, id, &stale, PaymentStatus::Succeeded, (200, &late)).await,
        "a stale holder cannot overwrite the final answer"
    );
    // Nor can the final holder write twice.
    assert!(!finish_processing(&app, id, &current, PaymentStatus::Succeeded, (200, &late)).await);
    assert_eq!(
        attempt_of(&app, booking).await,
        ("FAILED".to_owned(), Some(402), None)
    );

    // The key, used for another booking, is refused and takes nothing.
    let reused = store::begin_attempt(
        &app.pool,
        actors::model::BookingId(other),
        view.user_id,
        "k",
        100,
        lease,
    )
    .await;
    assert!(matches!(reused, Err(store::BeginAttemptError::KeyReused)));
}

#[actix_web::test]
async fn a_key_reused_for_another_booking_takes_no_lease() {
    let app = spawn_app().await;
    let (_, alice, [first, second]) = app.two_holds().await;
    app.payment_timed_out(&alice, first, "same", "tok_timeout")
        .await;
    assert_problem(
        app.confirm(&alice, second, Some("same"), "tok_visa").await,
        422,
        "idempotency_key_reused",
    )
    .await;
    let lease: Option<String> = sqlx::query_scalar("SELECT lease_owner FROM payments")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(lease, None, "the refused call leased nothing");
    // The first booking's retry resumes at once instead of finding it leased.
    let retried = app
        .confirm(&alice, first, Some("same"), "tok_timeout")
        .await;
    assert_eq!(retried.status(), 200);
    assert_eq!(charges(&app).await, (1, 0));
}

#[actix_web::test]
async fn a_charge_that_lands_after_the_buyer_released_the_hold_is_refunded() {
    let app = spawn_app_with(|s| s.payments.slow_token_ms = 1500).await;
    let (event_id, alice, booking) = app.one_seat_held().await;

    let paying = app.confirm(&alice, booking, Some("slow"), "tok_slow");
    let releasing = async {
        eventually("the charge left for the provider", || async {
            let sent: Option<bool> =
                sqlx::query_scalar("SELECT charge_sent_at IS NOT NULL FROM payments")
                    .fetch_optional(&app.pool)
                    .await
                    .unwrap();
            sent == Some(true)
        })
        .await;
        app.release(&alice, booking).await
    };
    let (paid, released) = futures_util::future::join(paying, releasing).await;
    assert_eq!(released.status(), 200, "the buyer may release while paying");
    assert_eq!(
        charges(&app).await.0,
        1,
        "the charge landed after the release"
    );
    let body = assert_problem(paid, 409, "booking_released").await;
    assert!(body["detail"].as_str().unwrap().contains("refunded"));
    assert_eq!(app.booking_status(booking).await, "RELEASED");
    assert_eq!(app.seat_statuses(event_id).await.1, vec!["AVAILABLE"]);
    assert_eq!(charges(&app).await, (1, 1));
    assert_eq!(refunds(&app).await, 1);
    assert_eq!(attempt_of(&app, booking).await.0, "REFUNDED");
    app.assert_no_violations(event_id).await;
}

#[actix_web::test]
async fn a_lost_answer_retried_after_the_buyer_released_is_refunded() {
    let app = short_holds().await;
    let (event_id, alice, booking) = app.one_seat_held().await;
    app.payment_timed_out(&alice, booking, "late", "tok_timeout")
        .await;
    eventually("the buyer released the booking", || async {
        app.release(&alice, booking).await.status() == 200
    })
    .await;
    // The seat is still free, but the buyer gave it up: refund, never confirm.
    assert_problem(
        app.confirm(&alice, booking, Some("late"), "tok_timeout")
            .await,
        409,
        "booking_released",
    )
    .await;
    assert_eq!(app.booking_status(booking).await, "RELEASED");
    assert_eq!(app.seat_statuses(event_id).await.1, vec!["AVAILABLE"]);
    assert_eq!(charges(&app).await, (1, 1));
    app.assert_no_violations(event_id).await;
}

#[actix_web::test]
async fn a_ticket_scanned_at_twenty_doors_of_two_nodes_at_once_is_admitted_once() {
    let app = spawn_app().await;
    let other_node = app.peer().await;
    let (event_id, seats) = app.event_with_seats(1).await;
    let alice = app.buyer_token().await;
    let admin = app.admin_token().await;
    let booking = app.hold(&alice, event_id, &seats).await;
    let code = app.paid_ticket_code(&alice, booking).await;

    let path = format!("/admin/events/{event_id}/checkin");
    let body = serde_json::json!({ "ticket_code": code });
    let scans = join_all((0..20).map(|door| {
        let node = if door % 2 == 0 { &app } else { &other_node };
        node.post_json(&path, Some(&admin), &body)
    }))
    .await;
    let mut admitted = 0;
    for scan in scans {
        match scan.status().as_u16() {
            200 => admitted += 1,
            _ => {
                assert_problem(scan, 409, "already_checked_in").await;
            }
        }
    }
    assert_eq!(admitted, 1, "exactly one door admits the ticket");
    let scanned: i64 =
        sqlx::query_scalar("SELECT count(*) FROM tickets WHERE checked_in_at IS NOT NULL")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(scanned, 1);
}

#[actix_web::test]
async fn a_decided_refund_and_a_confirmation_exclude_each_other() {
    use actors::model::{BookingId, EventId};
    use actors::ports::{ConfirmOutcome, SeatLedger};
    use boxoffice::store::{bookings as store, ledger::PgLedger};
    use std::time::Duration;

    // Recovery stays away: this test plays a stale holder by hand.
    let app = spawn_app_with(|s| s.payments.recovery_after_seconds = 3600).await;
    let (event_id, seats) = app.event_with_seats(2).await;
    let alice = app.buyer_token().await;
    let ledger = PgLedger::new(
        app.pool.clone(),
        boxoffice::auth::Signer::new(
            app.settings.auth.signing_secret.clone(),
            Duration::from_secs(3600),
        ),
        Duration::from_secs(120),
    );

    // The refund is decided (REFUNDING): a holder that still has the charge
    // in hand cannot confirm with it, though the seats are held for it.
    let refunding = app.hold(&alice, event_id, &seats[..1]).await;
    let payment = crashed_attempt(&app, refunding, "REFUNDING", false).await;
    let outcome = ledger
        .confirm(EventId(event_id), BookingId(refunding), payment)
        .await
        .unwrap()
        .outcome;
    assert_eq!(outcome, ConfirmOutcome::AttemptClosed);
    assert_eq!(app.booking_status(refunding).await, "PENDING");

    // Confirmed first: the attempt is SUCCEEDED in the same transaction, so
    // its refund can no longer be decided.
    let paid = app.hold(&alice, event_id, &seats[1..]).await;
    let payment = crashed_attempt(&app, paid, "PROCESSING", false).await;
    sqlx::query("UPDATE payments SET lease_owner = 'me' WHERE payment_id = $1")
        .bind(payment)
        .execute(&app.pool)
        .await
        .unwrap();
    let outcome = ledger
        .confirm(EventId(event_id), BookingId(paid), payment)
        .await
        .unwrap()
        .outcome;
    assert!(matches!(outcome, ConfirmOutcome::Confirmed { .. }));
    assert_eq!(attempt_of(&app, paid).await.0, "SUCCEEDED");
    assert!(
        !store::begin_refund(&app.pool, payment, "me", "ch_x")
            .await
            .unwrap()
    );
}

#[actix_web::test]
async fn a_refused_retry_fails_the_attempt_only_once_no_earlier_charge_can_land() {
    let app = spawn_app().await;
    let (_, alice, [old, recent]) = app.two_holds().await;
    // Each attempt sent a charge the provider has no record of, an hour ago
    // (past the 60 s window) or just now; the retry's token is refused.
    for (booking, sent_ago, key) in [(old, 3600.0, "old"), (recent, 0.0, "recent")] {
        unrecorded_charge(&app, booking, key, sent_ago, 0.0).await;
    }
    assert_problem(
        app.confirm(&alice, old, Some("old"), "tok_bogus").await,
        402,
        "payment_failed",
    )
    .await;
    assert_problem(
        app.confirm(&alice, recent, Some("recent"), "tok_bogus")
            .await,
        409,
        "payment_in_progress",
    )
    .await;
    assert_eq!(
        attempt_of(&app, recent).await,
        ("PROCESSING".to_owned(), None, None)
    );
    assert_eq!(charges(&app).await, (0, 0));
}

/// `payments.status` decodes into `PaymentStatus`; a value it does not know
/// is an error, never a guess.
#[actix_web::test]
async fn an_unknown_payment_status_is_a_decode_error_not_a_default() {
    use boxoffice::store::bookings::PaymentStatus;
    let app = spawn_app().await;
    let known: PaymentStatus = sqlx::query_scalar("SELECT 'REFUNDING'::text")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(known, PaymentStatus::Refunding);
    let unknown = sqlx::query_scalar::<_, PaymentStatus>("SELECT 'PENDING'::text")
        .fetch_one(&app.pool)
        .await;
    assert!(
        matches!(unknown, Err(sqlx::Error::ColumnDecode { .. })),
        "{unknown:?}"
    );
}
