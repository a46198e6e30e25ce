//! Bounded password hashing. Each argon2 hash takes 19 MiB and a core for
//! tens of milliseconds; without a bound, a login flood queues thousands on
//! the blocking pool (512 threads × 19 MiB) and starves everything else that
//! runs there. At most `limits.password_hashing_concurrency` hashes run at
//! once; a request waits `limits.password_hashing_wait_ms` for a turn, then
//! answers 503 with `Retry-After`. This bound holds whatever `limits.enabled`
//! says: it protects the node, not a quota.

use std::sync::Arc;
use std::time::Duration;

use actix_web::web;
use tokio::sync::Semaphore;

use crate::config::LimitsSettings;
use crate::http::error::ApiError;

pub struct PasswordHashing {
    /// One permit per hash allowed to run; held by the blocking task itself,
    /// so a client that goes away does not free a slot still in use.
    permits: Arc<Semaphore>,
    wait: Duration,
}

impl PasswordHashing {
    pub fn new(settings: &LimitsSettings) -> PasswordHashing {
        PasswordHashing {
            permits: Arc::new(Semaphore::new(settings.password_hashing_concurrency.max(1))),
            wait: Duration::from_millis(settings.password_hashing_wait_ms),
        }
    }

    /// Runs `work` (a hash or a verification) on the blocking pool once a
    /// permit is free; 503 if none frees up in time.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let permit = tokio::time::timeout(self.wait, self.permits.clone().acquire_owned())
            .await
            .map_err(|_| {
                metrics::counter!("boxoffice_password_hashing_saturated_total").increment(1);
                ApiError::Unavailable(anyhow::anyhow!("password hashing saturated"))
            })?
            .map_err(|e| ApiError::Internal(e.into()))?;
        web::block(move || {
            let _permit = permit;
            work()
        })
        .await
        .map_err(|e| ApiError::Internal(e.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[actix_web::test]
    async fn beyond_the_bound_a_caller_waits_then_is_refused() {
        let hashing = Arc::new(PasswordHashing {
            permits: Arc::new(Semaphore::new(1)),
            wait: Duration::from_millis(50),
        });
        let (release, hold) = std::sync::mpsc::channel::<()>();
        let busy = {
            let hashing = hashing.clone();
            actix_web::rt::spawn(async move { hashing.run(move || hold.recv().is_ok()).await })
        };
        // The first run holds the only permit until released.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while hashing.permits.available_permits() > 0 {
            assert!(std::time::Instant::now() < deadline, "never started");
            tokio::task::yield_now().await;
        }
        let refused = hashing.run(|| ()).await;
        assert!(matches!(refused, Err(ApiError::Unavailable(_))));
        release.send(()).unwrap();
        assert!(busy.await.unwrap().unwrap());
        hashing.run(|| ()).await.unwrap();
    }
}
