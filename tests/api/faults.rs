//! Faults the event actor must survive by itself: a lost delta, a stale Redis
//! lock, a database that makes requests wait, a client that gives up, a batch
//! retry that fails half-way.

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use serde_json::Value;

use crate::helpers::{TestApp, booking_id, eventually, spawn_app, spawn_app_with, unlock};
use crate::invariants;

/// Releases a booking straight in PostgreSQL, as another node does when its
/// delta and its published version are then lost on the way.
async fn release_elsewhere_unpublished(app: &TestApp, event_id: i64, booking: i64) {
    let mut tx = app.pool.begin().await.unwrap();
    for statement in [
        "UPDATE events SET seat_version = seat_version + 1 WHERE event_id = $1 AND $2 > 0",
        "UPDATE bookings SET status = 'RELEASED' WHERE event_id = $1 AND booking_id = $2",
        "UPDATE booking_seats SET active = false WHERE event_id = $1 AND booking_id = $2",
        "UPDATE seats SET status = 'AVAILABLE', booking_id = NULL, reserved_at = NULL
         WHERE event_id = $1 AND booking_id = $2",
    ] {
        sqlx::query(statement)
            .bind(event_id)
            .bind(booking)
            .execute(&mut *tx)
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
}

#[actix_web::test]
async fn a_seat_freed_by_a_commit_whose_delta_was_lost_is_sold_within_seconds() {
    let app = spawn_app().await;
    let (event_id, seats) = app.event_with_seats(2).await;
    let (alice, bob) = (app.buyer_token().await, app.buyer_token().await);
    let held = booking_id(app.reserve(&alice, event_id, &[seats[0]]).await).await;
    assert_eq!(app.reserve(&bob, event_id, &[seats[0]]).await.status(), 409);

    // Another node releases the hold; neither pub/sub nor the version key
    // hears of it, and nothing else ever commits on this event.
    release_elsewhere_unpublished(&app, event_id, held).await;
    let _: () = redis::cmd("DEL")
        .arg(app.lock_key(event_id, seats[0]))
        .query_async(&mut app.redis().await)
        .await
        .unwrap();

    let started = Instant::now();
    eventually("the freed seat is sold on this node", || async {
        app.reserve(&bob, event_id, &[seats[0]]).await.status() == 201
    })
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "healed only after {:?}",
        started.elapsed()
    );
    app.assert_no_violations(event_id).await;
}

#[actix_web::test]
async fn a_stale_redis_lock_never_blocks_a_seat_postgres_says_is_free() {
    let app = spawn_app().await;
    let (event_id, seats) = app.event_with_seats(2).await;
    let bob = app.buyer_token().await;
    // Warm the actor up, then leave a lock behind as a node that crashed
    // between locking and committing would.
    assert_eq!(app.reserve(&bob, event_id, &[seats[1]]).await.status(), 201);
    let key = app.lock_key(event_id, seats[0]);
    let mut conn = app.redis().await;
    let _: () = redis::cmd("SET")
        .arg(&key)
        .arg("token-of-a-crashed-node")
        .arg("EX")
        .arg(600)
        .query_async(&mut conn)
        .await
        .unwrap();

    let started = Instant::now();
    let held = booking_id(app.reserve(&bob, event_id, &[seats[0]]).await).await;
    assert!(started.elapsed() < Duration::from_secs(2));
    let token: String = sqlx::query_scalar("SELECT lock_token FROM bookings WHERE booking_id = $1")
        .bind(held)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let lock: Option<String> = redis::cmd("GET")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(lock, Some(token), "the stale lock now belongs to the hold");
    app.assert_no_violations(event_id).await;
    assert_eq!(
        invariants::lock_disagreements(
            &app.pool,
            &mut app.redis().await,
            &app.redis_prefix,
            event_id
        )
        .await,
        Vec::<String>::new()
    );
}

/// The one hold of `seat` was released, the seat is free and unlocked.
async fn abandoned_hold_released(app: &TestApp, event_id: i64, seat: i64) -> bool {
    let (status, released): (String, i64) = sqlx::query_as(
        "SELECT s.status, (SELECT count(*) FROM booking_seats bs JOIN bookings b USING (booking_id)
                           WHERE bs.event_id = $1 AND bs.seat_id = $2 AND b.status = 'RELEASED')
         FROM seats s WHERE s.event_id = $1 AND s.seat_id = $2",
    )
    .bind(event_id)
    .bind(seat)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    let lock: Option<String> = redis::cmd("GET")
        .arg(app.lock_key(event_id, seat))
        .query_async(&mut app.redis().await)
        .await
        .unwrap();
    status == "AVAILABLE" && released == 1 && lock.is_none()
}

#[actix_web::test]
async fn a_request_the_actor_cannot_answer_in_time_gets_503_with_retry_after() {
    let app = spawn_app_with(|s| s.booking.actor_timeout_ms = 500).await;
    let (event_id, seats) = app.event_with_seats(2).await;
    let bob = app.buyer_token().await;
    assert_eq!(app.reserve(&bob, event_id, &[seats[0]]).await.status(), 201);

    let row = app.lock_event_row(event_id).await;
    let started = Instant::now();
    let answer = app.reserve(&bob, event_id, &[seats[1]]).await;
    let waited = started.elapsed();
    assert_eq!(answer.status(), 503);
    assert!(answer.headers().contains_key("retry-after"));
    assert!(waited < Duration::from_secs(2), "waited {waited:?}");
    unlock(row).await;

    // The request that gave up had been planned: its hold commits once the
    // database answers, and is released at once.
    eventually("the abandoned hold is undone", || {
        abandoned_hold_released(&app, event_id, seats[1])
    })
    .await;
    assert_eq!(app.reserve(&bob, event_id, &[seats[1]]).await.status(), 201);
    app.assert_no_violations(event_id).await;
}

#[actix_web::test]
async fn a_client_that_went_away_costs_no_hold() {
    let app = spawn_app_with(|s| s.booking.actor_timeout_ms = 1000).await;
    let (event_id, seats) = app.event_with_seats(2).await;
    let (alice, bob) = (app.buyer_token().await, app.buyer_token().await);
    assert_eq!(app.reserve(&bob, event_id, &[seats[0]]).await.status(), 201);

    let row = app.lock_event_row(event_id).await;
    let impatient = app
        .request(reqwest::Method::POST, "/bookings")
        .bearer_auth(&alice)
        .json(&serde_json::json!({"event_id": event_id, "seat_ids": [seats[1]]}))
        .timeout(Duration::from_millis(200))
        .send()
        .await;
    assert!(impatient.is_err(), "the client gave up");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    unlock(row).await;

    eventually("the seat is free again, its lock gone", || {
        abandoned_hold_released(&app, event_id, seats[1])
    })
    .await;
    let pending = app.pending_bookings(event_id).await;
    assert_eq!(pending, 1, "only bob's first hold");
    app.assert_no_violations(event_id).await;
}

#[actix_web::test]
async fn a_batch_retry_that_fails_half_way_never_answers_503_for_a_committed_hold() {
    let app = spawn_app().await;
    let (event_id, seats) = app.event_with_seats(14).await;
    let buyer = app.buyer_token().await;
    // A conflict the batch did not foresee on seat 12, and a database error
    // on seat 13: the batch conflicts, the retry commits plans one by one
    // until it reaches seat 13.
    let trigger = format!(
        "CREATE FUNCTION planted_faults() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
           IF EXISTS (SELECT 1 FROM inserted WHERE seat_id = {conflict}) THEN
             RAISE unique_violation USING MESSAGE = 'planted conflict';
           END IF;
           IF EXISTS (SELECT 1 FROM inserted WHERE seat_id = {failure}) THEN
             RAISE EXCEPTION 'planted failure';
           END IF;
           RETURN NULL;
         END $$",
        conflict = seats[12],
        failure = seats[13],
    );
    sqlx::raw_sql(sqlx::AssertSqlSafe(trigger))
        .execute(&app.pool)
        .await
        .unwrap();
    sqlx::raw_sql(
        "CREATE TRIGGER planted_faults AFTER INSERT ON booking_seats
         REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION planted_faults()",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        app.reserve(&buyer, event_id, &[seats[0]]).await.status(),
        201
    );

    // One request waits on the event row; the others queue behind it and go
    // as one batch, the failing one last.
    let row = app.lock_event_row(event_id).await;
    let blocker_seat = [seats[1]];
    let blocker = app.reserve(&buyer, event_id, &blocker_seat);
    let others = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let requests = (2..=13).map(|i| {
            let (app, buyer, seat) = (&app, &buyer, seats[i]);
            async move {
                if i == 13 {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                app.reserve(buyer, event_id, &[seat]).await
            }
        });
        join_all(requests).await
    };
    let release = async {
        tokio::time::sleep(Duration::from_millis(800)).await;
        unlock(row).await;
    };
    let (blocker, others, ()) = futures_util::join!(blocker, others, release);

    let mut created = 1 + usize::from(blocker.status() == 201);
    for answer in others {
        let status = answer.status().as_u16();
        assert!(matches!(status, 201 | 409 | 503), "status {status}");
        created += usize::from(status == 201);
    }
    let pending = app.pending_bookings(event_id).await;
    assert_eq!(
        pending as usize, created,
        "every committed hold was answered 201, and only those"
    );
    assert!(created > 2, "some holds committed in the retry");
    app.assert_no_violations(event_id).await;
}

#[actix_web::test]
async fn a_release_the_actor_cannot_answer_in_time_gets_503_and_a_retry_finishes_it() {
    let app = spawn_app_with(|s| s.booking.actor_timeout_ms = 500).await;
    let (event_id, seats) = app.event_with_seats(1).await;
    let alice = app.buyer_token().await;
    let booking = booking_id(app.reserve(&alice, event_id, &seats).await).await;

    let row = app.lock_event_row(event_id).await;
    let started = Instant::now();
    let answer = app.release(&alice, booking).await;
    assert_eq!(answer.status(), 503);
    assert!(answer.headers().contains_key("retry-after"));
    assert!(started.elapsed() < Duration::from_secs(2));
    unlock(row).await;

    eventually("a retried release answers RELEASED", || async {
        let retried = app.release(&alice, booking).await;
        retried.status() == 200 && retried.json::<Value>().await.unwrap()["status"] == "RELEASED"
    })
    .await;
    app.assert_no_violations(event_id).await;
}

#[actix_web::test]
async fn a_burst_of_releases_on_one_event_leaves_the_pool_to_everyone_else() {
    let app = spawn_app_with(|s| {
        s.database.max_connections = 6;
        s.booking.actor_timeout_ms = 15_000;
    })
    .await;
    let (event_id, seats) = app.event_with_seats(20).await;
    let mut holds = Vec::new();
    for pair in seats.chunks(2) {
        let buyer = app.buyer_token().await;
        for seat in pair {
            holds.push((
                buyer.clone(),
                booking_id(app.reserve(&buyer, event_id, &[*seat]).await).await,
            ));
        }
    }

    // Twenty releases pile up behind a long transaction on the event row.
    let row = app.lock_event_row(event_id).await;
    let releases = join_all(
        holds
            .iter()
            .map(|(buyer, booking)| app.release(buyer, *booking)),
    );
    let meanwhile = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let started = Instant::now();
        let map = app.get(&format!("/events/{event_id}/seats")).await;
        let waited = started.elapsed();
        unlock(row).await;
        (map.status(), waited)
    };
    let (released, (map_status, waited)) = futures_util::join!(releases, meanwhile);
    assert_eq!(map_status, 200, "the seat map found a database connection");
    assert!(
        waited < Duration::from_secs(2),
        "the seat map waited {waited:?}"
    );
    for answer in released {
        assert_eq!(answer.status(), 200);
    }
    let pending = app.pending_bookings(event_id).await;
    assert_eq!(pending, 0);
    app.assert_no_violations(event_id).await;
}
