//! What one hold costs the stores (issue #11), beyond what it answers: seat
//! rows rewritten in place (HOT), and the Redis lock layer taking a whole
//! batch in one script call with each claim still all-or-nothing.

use std::time::{Duration, Instant};

use actors::model::{EventId, SeatId};
use actors::ports::SeatLock;
use boxoffice::store::locks::RedisSeatLock;
use boxoffice::store::redis::Redis;

use crate::helpers::{layout, spawn_app};

/// The heap page each seat row is on.
async fn pages(pool: &sqlx::PgPool, event_id: i64, seats: &[i64]) -> Vec<(i64, i64)> {
    sqlx::query_as(
        "SELECT seat_id, (ctid::text::point)[0]::int8 FROM seats
         WHERE event_id = $1 AND seat_id = ANY($2) ORDER BY seat_id",
    )
    .bind(event_id)
    .bind(seats)
    .fetch_all(pool)
    .await
    .unwrap()
}

#[actix_web::test]
async fn a_hold_rewrites_its_seat_rows_on_their_own_page_touching_no_seat_index() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    // 400 seats: several pages, the first ones filled up to the fillfactor.
    let (_, event_id) = app
        .venue_and_event(&admin, "Bergen", layout(2, 10, 20))
        .await;
    let first: Vec<i64> = sqlx::query_scalar(
        "SELECT seat_id FROM seats WHERE event_id = $1 ORDER BY seat_id LIMIT 3",
    )
    .bind(event_id)
    .fetch_all(&app.pool)
    .await
    .unwrap();
    let before = pages(&app.pool, event_id, &first).await;

    let buyer = app.buyer_token().await;
    app.hold(&buyer, event_id, &first).await;

    // Room was left on the page for the new row versions, and no index of
    // `seats` covers a column a hold changes: the update is heap-only (HOT),
    // writing no index entry.
    assert_eq!(pages(&app.pool, event_id, &first).await, before);
    let indexed: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT a.attname::text FROM pg_index i
         JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
         WHERE i.indrelid = 'seats'::regclass ORDER BY 1",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(indexed, ["event_id", "seat_id"]);
    let reserved: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM seats WHERE event_id = $1 AND seat_id = ANY($2) AND status = 'RESERVED'",
    )
    .bind(event_id)
    .bind(&first)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(reserved, 3);
}

#[actix_web::test]
async fn one_lock_call_for_a_batch_keeps_every_claim_all_or_nothing() {
    let app = spawn_app().await;
    let redis = Redis::connect(&app.settings.redis).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while redis.ping().await.is_err() {
        assert!(Instant::now() < deadline, "redis did not connect");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let lock = RedisSeatLock::new(redis);
    let event = EventId(424_242);
    let ttl = Duration::from_secs(60);
    let seats = |ids: &[i64]| ids.iter().map(|&i| SeatId(i)).collect::<Vec<_>>();
    let (s1_2, s3, s4_3, s2, s5) = (
        seats(&[1, 2]),
        seats(&[3]),
        seats(&[4, 3]),
        seats(&[2]),
        seats(&[5]),
    );

    assert_eq!(
        lock.acquire(event, &[("other", &s3)], ttl).await.unwrap(),
        [true]
    );
    // a takes 1 and 2; b loses seat 3 to "other" and gives back the seat 4
    // it had just set; c loses seat 2 to a, from the same call; d is free.
    let answers = lock
        .acquire(
            event,
            &[("a", &s1_2), ("b", &s4_3), ("c", &s2), ("d", &s5)],
            ttl,
        )
        .await
        .unwrap();
    assert_eq!(answers, [true, false, false, true]);
    for (seat, holder) in [
        (1, Some("a")),
        (2, Some("a")),
        (3, Some("other")),
        (4, None),
        (5, Some("d")),
    ] {
        let (value, ttl_ms) = app.seat_lock(event.0, seat).await;
        assert_eq!(value.as_deref(), holder, "seat {seat}");
        if holder.is_some() {
            assert!(ttl_ms > 0 && ttl_ms <= 60_000, "seat {seat}: ttl {ttl_ms}");
        }
    }
    // The same token again is not a conflict (a retried claim).
    assert_eq!(
        lock.acquire(event, &[("a", &s1_2)], ttl).await.unwrap(),
        [true]
    );

    // Releasing deletes only the keys that still hold the releasing token.
    lock.release(event, &[("a", &s1_2), ("b", &s4_3)])
        .await
        .unwrap();
    for (seat, holder) in [(1, None), (2, None), (3, Some("other")), (5, Some("d"))] {
        assert_eq!(
            app.seat_lock(event.0, seat).await.0.as_deref(),
            holder,
            "seat {seat}"
        );
    }
}
