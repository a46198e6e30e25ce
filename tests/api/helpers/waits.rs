//! Waiting for a condition, always with a deadline: a test never sleeps and
//! hopes, and never hangs.

use std::future::Future;
use std::time::{Duration, Instant};

/// Waits until `check` holds, asking every 50 ms; panics after 15 s.
pub async fn eventually<F, Fut>(what: &str, check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    eventually_within(
        Duration::from_secs(15),
        Duration::from_millis(50),
        what,
        check,
    )
    .await
}

/// Waits until `check` holds, asking every `every`; panics once `within` has
/// passed.
pub async fn eventually_within<F, Fut>(within: Duration, every: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(every).await;
    }
}
