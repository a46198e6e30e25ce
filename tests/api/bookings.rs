use serde_json::{Value, json};

use crate::helpers::{assert_problem, eventually, spawn_app, spawn_app_with, unlock};

#[actix_web::test]
async fn a_seat_held_by_one_user_cannot_be_reserved_by_another() {
    let app = spawn_app().await;
    let (event_id, seats) = app.event_with_seats(3).await;
    let (alice, bob) = (app.buyer_token().await, app.buyer_token().await);

    let held = app.reserve(&alice, event_id, &[seats[0]]).await;
    assert_eq!(held.status(), 201);
    let held: Value = held.json().await.unwrap();
    assert_eq!(held["status"], "PENDING");
    assert_eq!(held["seat_ids"], json!([seats[0]]));
    assert_eq!(held["amount_cents"], 5000);
    let expires_at =
        chrono::DateTime::parse_from_rfc3339(held["expires_at"].as_str().unwrap()).unwrap();
    let minutes = (expires_at.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_seconds();
    assert!(
        (590..=600).contains(&minutes),
        "a ten-minute hold, got {minutes}s"
    );

    let refused = assert_problem(
        app.reserve(&bob, event_id, &[seats[0]]).await,
        409,
        "seat_unavailable",
    )
    .await;
    assert_eq!(refused["seat_ids"], json!([seats[0]]));

    let (version, statuses) = app.seat_statuses(event_id).await;
    assert_eq!(version, 1);
    assert_eq!(statuses, vec!["RESERVED", "AVAILABLE", "AVAILABLE"]);
    app.assert_no_violations(event_id).await;
}

#[actix_web::test]
async fn a_multi_seat_request_gets_all_its_seats_or_none() {
    let app = spawn_app().await;
    let (event_id, seats) = app.event_with_seats(4).await;
    let (alice, bob) = (app.buyer_token().await, app.buyer_token().await);
    assert_eq!(
        app.reserve(&alice, event_id, &[seats[1]]).await.status(),
        201
    );

    let refused = app
        .reserve(&bob, event_id, &[seats[0], seats[1], seats[2]])
        .await;
    let refused = assert_problem(refused, 409, "seat_unavailable").await;
    assert_eq!(refused["seat_ids"], json!([seats[1]]));
    let (_, statuses) = app.seat_statuses(event_id).await;
    assert_eq!(
        statuses,
        vec!["AVAILABLE", "RESERVED", "AVAILABLE", "AVAILABLE"]
    );

    // The seats bob did not get are free for him at once: no lock was left behind.
    let held = app
        .reserve(&bob, event_id, &[seats[0], seats[2], seats[3]])
        .await;
    assert_eq!(held.status(), 201);
    assert_eq!(app.count("bookings").await, 2);
    app.assert_no_violations(event_id).await;
}

#[actix_web::test]
async fn a_released_booking_frees_its_seats_at_once() {
    let app = spawn_app().await;
    let (event_id, seats) = app.event_with_seats(2).await;
    let (alice, bob) = (app.buyer_token().await, app.buyer_token().await);
    let booking = app.hold(&alice, event_id, &seats).await;

    assert_problem(app.release(&bob, booking).await, 404, "not_found").await;
    let released = app.release(&alice, booking).await;
    assert_eq!(released.status(), 200);
    let released: Value = released.json().await.unwrap();
    assert_eq!(released["status"], "RELEASED");
    let (version, statuses) = app.seat_statuses(event_id).await;
    assert_eq!(
        (version, statuses),
        (2, vec!["AVAILABLE".to_owned(), "AVAILABLE".to_owned()])
    );

    // Releasing again changes nothing; the seats can be sold again.
    assert_eq!(app.release(&alice, booking).await.status(), 200);
    assert_eq!(app.reserve(&bob, event_id, &seats).await.status(), 201);
    app.assert_no_violations(event_id).await;
}

#[actix_web::test]
async fn an_expired_hold_is_released_by_itself() {
    let app = spawn_app_with(|s| s.booking.hold_seconds = 1).await;
    let (event_id, seats) = app.event_with_seats(1).await;
    let alice = app.buyer_token().await;
    let booking = app.hold(&alice, event_id, &seats).await;
    // The hold's lock is the booking's and lives exactly as long as the hold.
    let ttl = app.hold_lock_ttl(event_id, seats[0], booking).await;
    assert!(
        (1..=1000).contains(&ttl),
        "lock ttl {ttl} ms for a 1 s hold"
    );

    eventually("the sweeper released the seat", || async {
        app.seat_statuses(event_id).await.1 == vec!["AVAILABLE"]
    })
    .await;
    let after = app.booking(&alice, booking).await;
    assert_eq!(after["status"], "EXPIRED");
    assert_eq!(app.seat_lock(event_id, seats[0]).await.0, None);
    let bob = app.buyer_token().await;
    assert_eq!(app.reserve(&bob, event_id, &seats).await.status(), 201);
    app.assert_no_violations(event_id).await;
}

#[actix_web::test]
async fn the_lock_goes_with_the_hold_when_the_sweeper_expires_it() {
    // A ten-minute hold whose time is made to run out in PostgreSQL: its
    // ten-minute lock can only be gone because the sweeper deleted it.
    let app = spawn_app().await;
    let (event_id, seats) = app.event_with_seats(1).await;
    let alice = app.buyer_token().await;
    let booking = app.hold(&alice, event_id, &seats).await;
    let ttl = app.hold_lock_ttl(event_id, seats[0], booking).await;
    assert!(
        (590_000..=600_000).contains(&ttl),
        "lock ttl {ttl} ms for a 600 s hold"
    );

    sqlx::query(
        "UPDATE bookings SET expires_at = now() - interval '1 second' WHERE booking_id = $1",
    )
    .bind(booking)
    .execute(&app.pool)
    .await
    .unwrap();
    eventually(
        "the sweeper expired the hold and deleted its lock",
        || async {
            app.seat_statuses(event_id).await.1 == vec!["AVAILABLE"]
                && app.seat_lock(event_id, seats[0]).await == (None, -2)
        },
    )
    .await;
    app.assert_no_violations(event_id).await;
}

#[actix_web::test]
async fn a_restarted_node_rebuilds_its_seat_state_from_postgres() {
    let first = spawn_app().await;
    let (event_id, seats) = first.event_with_seats(2).await;
    let (alice, bob) = (first.buyer_token().await, first.buyer_token().await);
    let booking = first.hold(&alice, event_id, &[seats[0]]).await;

    // Stop the node mid-hold and start a fresh one on the same stores.
    let second = first.peer().await;
    first.stop().await;
    assert_eq!(
        second.reserve(&bob, event_id, &[seats[1]]).await.status(),
        201
    );
    // The refusal comes from the memory the new node rebuilt: it is answered
    // while every seat transaction of the event would wait for the event row.
    let row = second.lock_event_row(event_id).await;
    let refused = tokio::time::timeout(
        std::time::Duration::from_secs(3),
        second.reserve(&bob, event_id, &[seats[0]]),
    )
    .await
    .expect("refused from memory, without waiting for PostgreSQL");
    assert_problem(refused, 409, "seat_unavailable").await;
    unlock(row).await;
    assert_eq!(second.release(&alice, booking).await.status(), 200);
    assert_eq!(
        second.reserve(&bob, event_id, &[seats[0]]).await.status(),
        201
    );
    second.assert_no_violations(event_id).await;
}

#[actix_web::test]
async fn a_seat_released_on_one_node_is_sold_at_once_on_another() {
    let a = spawn_app().await;
    let b = a.peer().await;
    let (event_id, seats) = a.event_with_seats(1).await;
    let (alice, bob) = (a.buyer_token().await, a.buyer_token().await);
    for round in 0..5 {
        // Both nodes have an actor for the event that has seen the hold.
        let held = a.reserve(&alice, event_id, &seats).await;
        assert_eq!(held.status(), 201, "round {round}");
        let booking = held.json::<Value>().await.unwrap()["booking_id"]
            .as_i64()
            .unwrap();
        assert_problem(
            b.reserve(&bob, event_id, &seats).await,
            409,
            "seat_unavailable",
        )
        .await;
        assert_eq!(a.release(&alice, booking).await.status(), 200);
        let sold = b.reserve(&bob, event_id, &seats).await;
        assert_eq!(
            sold.status(),
            201,
            "round {round}: released on A, refused on B"
        );
        let booking = sold.json::<Value>().await.unwrap()["booking_id"]
            .as_i64()
            .unwrap();
        assert_eq!(b.release(&bob, booking).await.status(), 200);
    }
    a.assert_no_violations(event_id).await;
}

#[actix_web::test]
async fn bad_booking_requests_are_4xx_problems_that_change_nothing() {
    let app = spawn_app().await;
    let (event_id, seats) = app.event_with_seats(10).await;
    let (other_event, other_seats) = app.event_with_seats(1).await;
    let (alice, bob) = (app.buyer_token().await, app.buyer_token().await);
    let booking = app.hold(&alice, event_id, &[seats[0]]).await;
    let before = (
        app.count("bookings").await,
        app.seat_statuses(event_id).await,
    );

    let cases: Vec<(&str, reqwest::Response, u16, &str)> = vec![
        (
            "no token",
            app.post_json(
                "/bookings",
                None,
                &json!({"event_id": event_id, "seat_ids": [seats[1]]}),
            )
            .await,
            401,
            "unauthorized",
        ),
        (
            "unknown event",
            app.reserve(&bob, 999_999, &[seats[1]]).await,
            404,
            "not_found",
        ),
        (
            "empty seat list",
            app.reserve(&bob, event_id, &[]).await,
            400,
            "validation_failed",
        ),
        (
            "duplicate seats",
            app.reserve(&bob, event_id, &[seats[1], seats[1]]).await,
            400,
            "validation_failed",
        ),
        (
            "too many seats",
            app.reserve(&bob, event_id, &seats[1..10]).await,
            400,
            "validation_failed",
        ),
        (
            "seat of another event",
            app.reserve(&bob, event_id, &[seats[1], other_seats[0]])
                .await,
            422,
            "unknown_seats",
        ),
        (
            "seat ids of the wrong type",
            app.post_json(
                "/bookings",
                Some(&bob),
                &json!({"event_id": event_id, "seat_ids": ["a"]}),
            )
            .await,
            400,
            "validation_failed",
        ),
        (
            "someone else's booking",
            app.get_booking(&bob, booking).await,
            404,
            "not_found",
        ),
        (
            "release someone else's booking",
            app.release(&bob, booking).await,
            404,
            "not_found",
        ),
        (
            "confirm someone else's booking",
            app.confirm(&bob, booking, Some("k1"), "tok_visa").await,
            404,
            "not_found",
        ),
        (
            "confirm without Idempotency-Key",
            app.confirm(&alice, booking, None, "tok_visa").await,
            400,
            "idempotency_key_required",
        ),
        (
            "confirm with an unknown card token",
            app.confirm(&alice, booking, Some("k2"), "tok_nonsense")
                .await,
            402,
            "payment_failed",
        ),
        (
            "unknown booking",
            app.get_booking(&alice, 999_999).await,
            404,
            "not_found",
        ),
    ];
    for (name, response, status, code) in cases {
        assert_eq!(response.status().as_u16(), status, "{name}");
        assert_problem(response, status, code).await;
    }
    let _ = other_event;
    let after = (
        app.count("bookings").await,
        app.seat_statuses(event_id).await,
    );
    assert_eq!(before, after);
    let provider_charges = app.count("provider_charges").await;
    assert_eq!(provider_charges, 0, "a bad request charged a card");
}

#[actix_web::test]
async fn my_bookings_lists_my_live_holds_and_confirmed_bookings_newest_first() {
    let app = spawn_app().await;
    let (event_id, seats) = app.event_with_seats(4).await;
    let (alice, bob) = (app.buyer_token().await, app.buyer_token().await);
    let confirmed = app.hold(&alice, event_id, &[seats[0]]).await;
    let paid = app
        .confirm(&alice, confirmed, Some("mine-1"), "tok_visa")
        .await;
    assert_eq!(paid.status(), 200);
    let released = app.hold(&alice, event_id, &[seats[1]]).await;
    assert_eq!(app.release(&alice, released).await.status(), 200);
    let pending = app.hold(&alice, event_id, &[seats[2]]).await;
    let bobs = app.hold(&bob, event_id, &[seats[3]]).await;

    let mine = app.get_as(&alice, "/me/bookings").await;
    assert_eq!(mine.status(), 200);
    let mine: Value = mine.json().await.unwrap();
    // Newest first, each exactly as GET /bookings/{id} shows it; the released
    // hold and bob's are not there.
    assert_eq!(
        mine,
        json!({ "bookings": [
            app.booking(&alice, pending).await,
            app.booking(&alice, confirmed).await,
        ] })
    );
    assert_eq!(mine["bookings"][0]["status"], "PENDING");
    assert_eq!(mine["bookings"][1]["status"], "CONFIRMED");
    assert!(mine["bookings"][1]["ticket_url"].is_string());

    let theirs: Value = app.get_as(&bob, "/me/bookings").await.json().await.unwrap();
    assert_eq!(
        theirs,
        json!({ "bookings": [app.booking(&bob, bobs).await] })
    );
    let fresh: Value = app
        .get_as(&app.buyer_token().await, "/me/bookings")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(fresh, json!({ "bookings": [] }));
    assert_problem(app.get("/me/bookings").await, 401, "unauthorized").await;
}

#[actix_web::test]
async fn my_bookings_leaves_out_a_hold_that_has_run_out() {
    let app = spawn_app_with(|s| {
        s.booking.hold_seconds = 2;
        s.booking.sweep_interval_ms = 60_000;
    })
    .await;
    let (event_id, seats) = app.event_with_seats(1).await;
    let alice = app.buyer_token().await;
    let held = app.hold(&alice, event_id, &seats).await;
    let listed: Value = app
        .get_as(&alice, "/me/bookings")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["bookings"][0]["booking_id"], held);

    // Past its expiry, before any sweep: no longer something alice holds.
    eventually("the hold runs out of /me/bookings", || async {
        let listed: Value = app
            .get_as(&alice, "/me/bookings")
            .await
            .json()
            .await
            .unwrap();
        listed["bookings"] == json!([])
    })
    .await;
}
