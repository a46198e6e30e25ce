//! What one hold costs the stores (issue #11), beyond what it answers: seat
//! rows rewritten in place (HOT), the hold cap's count reading only the
//! batch's buyers' holds, and the Redis lock layer taking a whole batch in one
//! script call with each claim still all-or-nothing.

use std::time::{Duration, Instant};

use actors::model::{EventId, SeatId};
use actors::ports::SeatLock;
use boxoffice::store::ledger::HOLD_CHECK;
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

/// `count` one-seat holds on `event_id`, each by a new buyer: pending on the
/// seats from `first_seat` on, or released (their booking seats inactive) on
/// the hundred seats from `first_seat`, as an on-sale's abandoned holds are.
async fn holds_of_others(
    pool: &sqlx::PgPool,
    event_id: i64,
    first_seat: i64,
    count: i64,
    pending: bool,
) {
    sqlx::query(
        "WITH u AS (
             INSERT INTO users (email)
             SELECT 'crowd-' || $1 || '-' || $4 || '-' || (s + $2) || '@example.com'
             FROM generate_series(0, $3 - 1) s
             RETURNING user_id
         ), n AS (SELECT user_id, row_number() OVER (ORDER BY user_id) - 1 AS k FROM u),
         b AS (
             INSERT INTO bookings (event_id, user_id, status, amount_cents, expires_at, lock_token)
             SELECT $1, user_id, CASE WHEN $4 THEN 'PENDING' ELSE 'RELEASED' END, 100,
                    now() + interval '10 minutes', 'crowd-' || user_id
             FROM n
             RETURNING booking_id, user_id
         )
         INSERT INTO booking_seats (booking_id, event_id, seat_id, active)
         SELECT b.booking_id, $1, $2 + CASE WHEN $4 THEN n.k ELSE n.k % 100 END, $4
         FROM b JOIN n USING (user_id)",
    )
    .bind(event_id)
    .bind(first_seat)
    .bind(count)
    .bind(pending)
    .execute(pool)
    .await
    .unwrap();
}

/// Rows the batch check reads from `bookings` and `booking_seats` (returned
/// or filtered out, in every loop) for `buyers` asking for `seats`, with the
/// planner told to plan it `mode`: `force_generic_plan`, as a prepared
/// statement turns after five runs, or `force_custom_plan`.
async fn booking_rows_read(
    pool: &sqlx::PgPool,
    mode: &str,
    event_id: i64,
    seats: &[i64],
    buyers: &[i64],
) -> u64 {
    fn rows(node: &serde_json::Value) -> u64 {
        let own = if matches!(
            node["Relation Name"].as_str(),
            Some("bookings" | "booking_seats")
        ) {
            let count = |key: &str| node[key].as_f64().unwrap_or(0.0);
            let loops = count("Actual Loops");
            (loops
                * (count("Actual Rows")
                    + count("Rows Removed by Filter")
                    + count("Rows Removed by Index Recheck"))) as u64
        } else {
            0
        };
        let children = node["Plans"]
            .as_array()
            .map_or(0, |p| p.iter().map(rows).sum());
        own + children
    }
    let mut conn = pool.acquire().await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("SET plan_cache_mode = {mode}")))
        .execute(&mut *conn)
        .await
        .unwrap();
    let plan: sqlx::types::Json<serde_json::Value> = sqlx::query_scalar(sqlx::AssertSqlSafe(
        format!("EXPLAIN (ANALYZE, FORMAT JSON) {HOLD_CHECK}"),
    ))
    .bind(event_id)
    .bind(seats)
    .bind(buyers.len() as i32)
    .bind(buyers)
    .fetch_one(&mut *conn)
    .await
    .unwrap();
    sqlx::query("RESET plan_cache_mode")
        .execute(&mut *conn)
        .await
        .unwrap();
    rows(&plan.0[0]["Plan"])
}

#[actix_web::test]
async fn the_hold_cap_count_reads_only_the_batchs_buyers_holds_however_large_the_on_sale() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (_, event_id) = app
        .venue_and_event(&admin, "Stavanger", layout(4, 20, 50))
        .await;
    let first: i64 = sqlx::query_scalar("SELECT min(seat_id) FROM seats WHERE event_id = $1")
        .bind(event_id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    // The batch: twenty buyers, each already holding five seats (one at a
    // time, as a buyer does who comes back for more).
    let batch = app.many_buyers(20).await;
    let buyers: Vec<i64> = batch.iter().map(|(id, _)| *id).collect();
    for (n, (_, token)) in batch.iter().enumerate() {
        for k in 0..5 {
            app.hold(token, event_id, &[first + 3_400 + 5 * n as i64 + k])
                .await;
        }
    }
    let wanted: Vec<i64> = (first + 3_900..first + 3_940).collect();

    // Statistics from the start of the on-sale, as an on-sale's tables grow
    // faster than autovacuum analyses them (and here it does not at all).
    for sql in [
        "ALTER TABLE bookings SET (autovacuum_enabled = off)",
        "ALTER TABLE booking_seats SET (autovacuum_enabled = off)",
        "ANALYZE bookings, booking_seats",
    ] {
        sqlx::query(sql).execute(&app.pool).await.unwrap();
    }
    // A crowd holding seats of this event, and 30,000 holds already
    // abandoned: the check still reads only the batch's buyers' 100 holds and
    // their 100 seats, give or take an index page's worth, with those
    // statistics and with fresh ones.
    holds_of_others(&app.pool, event_id, first, 3_000, true).await;
    holds_of_others(&app.pool, event_id, first + 3_000, 30_000, false).await;
    for stats in ["stale", "fresh"] {
        if stats == "fresh" {
            sqlx::query("ANALYZE bookings, booking_seats")
                .execute(&app.pool)
                .await
                .unwrap();
        }
        for mode in ["force_custom_plan", "force_generic_plan"] {
            let rows = booking_rows_read(&app.pool, mode, event_id, &wanted, &buyers).await;
            assert!(
                rows <= 250,
                "{mode}, {stats} statistics: {rows} booking rows read for 100 holds"
            );
        }
    }
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
