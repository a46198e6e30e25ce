//! No hold older than its expiry is still active, beyond the sweep's grace.
//!
//! A PENDING booking may outlive `expires_at` only while a payment for it is
//! in flight (`payment_started_at` within the server's payment window), as
//! the server's sweeper allows; past both (plus `sweep_grace`) it is stale.

use std::time::Duration;

use super::{Check, Snapshot};

pub async fn check(
    pool: &mut Snapshot,
    event_id: i64,
    grace: Duration,
    payment_window: Duration,
) -> anyhow::Result<Check> {
    let mut check = Check::new("holds");
    let (pending,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM bookings WHERE event_id = $1 AND status = 'PENDING'")
            .bind(event_id)
            .fetch_one(&mut *pool)
            .await?;
    check.checked = pending as u64;
    let stale: Vec<(i64, f64, Option<f64>)> = sqlx::query_as(
        "SELECT booking_id,
                extract(epoch FROM now() - expires_at)::float8,
                extract(epoch FROM now() - payment_started_at)::float8
         FROM bookings
         WHERE event_id = $1 AND status = 'PENDING'
           AND expires_at < now() - make_interval(secs => $2)
           AND (payment_started_at IS NULL
                OR payment_started_at < now() - make_interval(secs => $2 + $3))
         ORDER BY expires_at",
    )
    .bind(event_id)
    .bind(grace.as_secs_f64())
    .bind(payment_window.as_secs_f64())
    .fetch_all(&mut *pool)
    .await?;
    for (booking, past, payment) in stale {
        check.violation(format!(
            "booking {booking} is still PENDING {past:.1}s after its hold expired{}",
            payment.map_or(String::new(), |p| format!(" (payment started {p:.1}s ago)"))
        ));
    }
    Ok(check)
}
