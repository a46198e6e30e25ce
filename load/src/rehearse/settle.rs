//! Before the checker reads: the on-sale settles. When the rush stops, fans
//! are cut off mid-payment and nodes that were killed left payment attempts
//! open; the server's recovery finishes those (after
//! `payments.recovery_after_seconds`), and the live hubs catch up with the
//! last commits. The invariants are about a settled sale, so the rehearsal
//! waits, with a deadline, until the database says no payment attempt of the
//! event is unfinished. (Holds still expiring need no wait: the checker reads
//! one snapshot, and the map check follows each node to the database's
//! version.) If the deadline passes the checker runs anyway and judges what
//! it finds; the report says how long the wait was and what was still open.

use std::time::{Duration, Instant};

use serde::Serialize;
use sqlx::postgres::PgPoolOptions;

const POLL: Duration = Duration::from_millis(250);
/// After the last open payment attempt finished: two sweep intervals and some.
const AFTER_PAYMENTS: Duration = Duration::from_secs(3);

#[derive(Debug, Clone, Serialize)]
pub struct Settled {
    pub waited_s: f64,
    /// Payment attempts of the event still without an answer at the end.
    pub unfinished_payments: i64,
    /// Whether the sale went quiet before the deadline.
    pub quiet: bool,
}

async fn unfinished(pool: &sqlx::PgPool, event_id: i64) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT count(*) FROM payments p JOIN bookings b USING (booking_id)
         WHERE b.event_id = $1 AND p.response IS NULL",
    )
    .bind(event_id)
    .fetch_one(pool)
    .await?)
}

/// Waits until the event has no unfinished payment attempt, or `deadline`
/// passes.
pub async fn settle(
    database_url: &str,
    event_id: i64,
    deadline: Duration,
) -> anyhow::Result<Settled> {
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(10))
        .connect(database_url)
        .await?;
    let started = Instant::now();
    let mut open = unfinished(&pool, event_id).await?;
    let waited_for_payments = open > 0;
    let quiet = loop {
        if open == 0 {
            break true;
        }
        if started.elapsed() >= deadline {
            break false;
        }
        tokio::time::sleep(POLL).await;
        open = unfinished(&pool, event_id).await?;
    };
    if quiet && waited_for_payments {
        // A payment attempt that ended without a sale gives its hold back to
        // the sweeper (the hold was kept past its expiry while it paid): let
        // the sweeper's next passes (every second) run before the checker
        // judges that hold.
        tokio::time::sleep(AFTER_PAYMENTS).await;
    }
    pool.close().await;
    Ok(Settled {
        waited_s: started.elapsed().as_secs_f64(),
        unfinished_payments: open,
        quiet,
    })
}
