//! The invariant checker: reads PostgreSQL (and Redis) and lists every way the
//! booking state of an event is inconsistent. An empty list means no seat is
//! sold twice and the seat map, the bookings and the locks agree.

use sqlx::PgPool;

pub async fn violations(pool: &PgPool, event_id: i64) -> Vec<String> {
    let mut found = Vec::new();
    let doubles: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT seat_id, count(*) FROM booking_seats WHERE event_id = $1 AND active
         GROUP BY seat_id HAVING count(*) > 1",
    )
    .bind(event_id)
    .fetch_all(pool)
    .await
    .expect("double sale query");
    for (seat, count) in doubles {
        found.push(format!("seat {seat} is in {count} active bookings"));
    }
    let mismatched: Vec<(i64, String, Option<i64>, Option<String>)> = sqlx::query_as(
        "SELECT s.seat_id, s.status, s.booking_id, b.status
         FROM seats s
         LEFT JOIN booking_seats bs ON bs.event_id = s.event_id AND bs.seat_id = s.seat_id AND bs.active
         LEFT JOIN bookings b ON b.booking_id = bs.booking_id
         WHERE s.event_id = $1 AND NOT (
               (s.status = 'AVAILABLE' AND bs.booking_id IS NULL)
            OR (s.status = 'RESERVED' AND b.status = 'PENDING' AND s.booking_id = b.booking_id)
            OR (s.status = 'CONFIRMED' AND b.status = 'CONFIRMED' AND s.booking_id = b.booking_id))",
    )
    .bind(event_id)
    .fetch_all(pool)
    .await
    .expect("mismatch query");
    for (seat, status, holder, booking_status) in mismatched {
        found.push(format!("seat {seat} is {status} (holder {holder:?}) but its active booking is {booking_status:?}"));
    }
    let ended_but_active: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM booking_seats bs JOIN bookings b USING (booking_id)
         WHERE bs.event_id = $1 AND bs.active AND b.status IN ('RELEASED', 'EXPIRED', 'REFUNDED')",
    )
    .bind(event_id)
    .fetch_one(pool)
    .await
    .expect("ended query");
    if ended_but_active > 0 {
        found.push(format!(
            "{ended_but_active} seats still active in ended bookings"
        ));
    }
    found
}

/// Seats of pending bookings whose Redis lock does not hold the booking's token.
pub async fn lock_disagreements(
    pool: &PgPool,
    conn: &mut boxoffice::store::redis::Connection,
    prefix: &str,
    event_id: i64,
) -> Vec<String> {
    let held: Vec<(i64, String)> = sqlx::query_as(
        "SELECT bs.seat_id, b.lock_token FROM booking_seats bs JOIN bookings b USING (booking_id)
         WHERE bs.event_id = $1 AND bs.active AND b.status = 'PENDING'",
    )
    .bind(event_id)
    .fetch_all(pool)
    .await
    .expect("held query");
    let mut found = Vec::new();
    for (seat, token) in held {
        let value: Option<String> = redis::cmd("GET")
            .arg(boxoffice::store::redis::event_key(
                prefix,
                event_id,
                format!("seat:{seat}"),
            ))
            .query_async(conn)
            .await
            .expect("redis get");
        if value.as_deref() != Some(token.as_str()) {
            found.push(format!(
                "seat {seat}: lock {value:?}, booking token {token}"
            ));
        }
    }
    found
}
