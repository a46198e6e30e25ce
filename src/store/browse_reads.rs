//! Where browse reads (the AP path: event listings, event details, venue
//! layouts): a streaming replica while it is up and fresh, else the primary;
//! and the replica alone while the primary is down. Booking and everything
//! that shows seat availability never come here: they read the primary pool.
//!
//! A monitor asks both servers every [`CHECK_EVERY`]: the primary whether it
//! answers, the replica whether it still streams from the primary and how far
//! its replay lags (0 while it has replayed all it received). The replica
//! goes first while it answers and either lags at most
//! `database.replica_max_lag_ms`, or the primary is down (then a browse page
//! as of the outage beats an error). Each read goes first where the monitor
//! last pointed and, if that server does not answer, to the other: a server
//! that died since the last check costs one failed attempt, not an error.
//! A row the replica has not replayed yet (a just-created event) is looked
//! up on the primary too, while the primary is up.
//!
//! The catalog cache's generation scheme (`cache`) assumes a read after an
//! update sees the update; a replica may not have replayed it yet. So what
//! the replica served is cached for at most the lag bound
//! ([`BrowseReads::cache_ttl`]): an update shows within twice the bound.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sqlx::PgPool;

/// How often the monitor asks both servers.
pub const CHECK_EVERY: Duration = Duration::from_millis(500);

/// Longest wait for a monitor's answer from either server.
const CHECK_TIMEOUT: Duration = Duration::from_secs(1);

/// What the monitor last saw of the replica.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplicaState {
    /// No replica configured.
    None,
    /// Answers and is fresh enough (or the primary is down): browse reads it.
    Serving,
    /// Answers but lags beyond the bound, or no longer streams while the
    /// primary is up: browse reads the primary.
    Lagging,
    /// Does not answer.
    Down,
}

impl ReplicaState {
    pub fn as_str(self) -> &'static str {
        match self {
            ReplicaState::None => "none",
            ReplicaState::Serving => "up",
            ReplicaState::Lagging => "lagging",
            ReplicaState::Down => "down",
        }
    }
}

/// A browse read's answer, and whether the replica gave it.
pub struct Served<T> {
    pub value: T,
    pub by_replica: bool,
}

#[derive(Clone)]
pub struct BrowseReads {
    primary: PgPool,
    replica: Option<Replica>,
}

#[derive(Clone)]
struct Replica {
    pool: PgPool,
    max_lag: Duration,
    /// The monitor's last word; relaxed atomics: each is a hint read on its
    /// own (a stale one costs one failed attempt), nothing orders on them.
    serving: Arc<AtomicBool>,
    answers: Arc<AtomicBool>,
    primary_up: Arc<AtomicBool>,
}

/// The replica's own account of its replication.
struct Replay {
    streaming: bool,
    lag: Duration,
}

impl BrowseReads {
    /// Browse reads the primary only.
    pub fn primary_only(primary: PgPool) -> BrowseReads {
        BrowseReads {
            primary,
            replica: None,
        }
    }

    /// Browse prefers `replica` while it is fresh. Start [`Self::monitor`].
    pub fn with_replica(primary: PgPool, replica: PgPool, max_lag: Duration) -> BrowseReads {
        BrowseReads {
            primary,
            replica: Some(Replica {
                pool: replica,
                max_lag,
                // Until the first check: trust neither more than the other
                // (a failing first choice falls back anyway).
                serving: Arc::new(AtomicBool::new(false)),
                answers: Arc::new(AtomicBool::new(false)),
                primary_up: Arc::new(AtomicBool::new(true)),
            }),
        }
    }

    pub fn replica_state(&self) -> ReplicaState {
        match &self.replica {
            None => ReplicaState::None,
            Some(r) if r.serving.load(Ordering::Relaxed) => ReplicaState::Serving,
            Some(r) if r.answers.load(Ordering::Relaxed) => ReplicaState::Lagging,
            Some(_) => ReplicaState::Down,
        }
    }

    /// Checks both servers every [`CHECK_EVERY`], forever (nothing to do
    /// without a replica).
    pub async fn monitor(self) {
        let Some(replica) = self.replica else { return };
        let mut tick = tokio::time::interval(CHECK_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            replica.check(&self.primary).await;
        }
    }

    /// How long an answer may be cached: `ttl`, or at most the lag bound
    /// for what the replica served.
    pub fn cache_ttl<T>(&self, served: &Served<T>, ttl: Duration) -> Duration {
        match &self.replica {
            Some(replica) if served.by_replica => {
                ttl.min(replica.max_lag.max(Duration::from_secs(1)))
            }
            _ => ttl,
        }
    }

    /// Runs `read` where browse reads now, and on the other server if that
    /// one does not answer.
    pub async fn read<T, F, Fut>(&self, read: F) -> sqlx::Result<Served<T>>
    where
        F: Fn(PgPool) -> Fut,
        Fut: Future<Output = sqlx::Result<T>>,
    {
        let Some(replica) = &self.replica else {
            return read(self.primary.clone()).await.map(|value| Served {
                value,
                by_replica: false,
            });
        };
        let replica_first = replica.serving.load(Ordering::Relaxed);
        let order = if replica_first {
            [(&replica.pool, "replica"), (&self.primary, "primary")]
        } else {
            [(&self.primary, "primary"), (&replica.pool, "replica")]
        };
        let (answer, by) = match read(order[0].0.clone()).await {
            Err(error) if unanswered(&error) => {
                tracing::debug!(%error, from = order[0].1, to = order[1].1, "browse read falls back");
                metrics::counter!("boxoffice_browse_fallbacks_total", "from" => order[0].1)
                    .increment(1);
                (read(order[1].0.clone()).await, order[1].1)
            }
            answer => (answer, order[0].1),
        };
        let value = answer?;
        metrics::counter!("boxoffice_browse_reads_total", "source" => by).increment(1);
        Ok(Served {
            value,
            by_replica: by == "replica",
        })
    }

    /// [`Self::read`] for one row; a row the replica has not replayed yet
    /// is looked for on the primary too, while the primary is up.
    pub async fn read_optional<T, F, Fut>(&self, read: F) -> sqlx::Result<Served<Option<T>>>
    where
        F: Fn(PgPool) -> Fut,
        Fut: Future<Output = sqlx::Result<Option<T>>>,
    {
        let served = self.read(&read).await?;
        let primary_up = self
            .replica
            .as_ref()
            .is_some_and(|r| r.primary_up.load(Ordering::Relaxed));
        if served.value.is_some() || !served.by_replica || !primary_up {
            return Ok(served);
        }
        match read(self.primary.clone()).await {
            Ok(value) => {
                metrics::counter!("boxoffice_browse_reads_total", "source" => "primary")
                    .increment(1);
                Ok(Served {
                    value,
                    by_replica: false,
                })
            }
            Err(_) => Ok(served),
        }
    }
}

/// The server did not answer (down, restarting, unreachable, pool starved),
/// as opposed to answering with an error of the query's own.
fn unanswered(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::WorkerCrashed => true,
        // 08: connection exceptions; 57: shutting down, starting up;
        // 40001: a replica cancelling a read that conflicts with replay.
        sqlx::Error::Database(db) => db
            .code()
            .is_some_and(|c| c.starts_with("08") || c.starts_with("57") || c == "40001"),
        _ => false,
    }
}

impl Replica {
    async fn check(&self, primary: &PgPool) {
        let primary_up = tokio::time::timeout(CHECK_TIMEOUT, crate::store::ping(primary))
            .await
            .is_ok_and(|r| r.is_ok());
        let replay = tokio::time::timeout(CHECK_TIMEOUT, replay(&self.pool))
            .await
            .ok()
            .and_then(Result::ok);
        let serving = replay
            .as_ref()
            .is_some_and(|r| !primary_up || (r.streaming && r.lag <= self.max_lag));
        let was_serving = self.serving.swap(serving, Ordering::Relaxed);
        self.answers.store(replay.is_some(), Ordering::Relaxed);
        self.primary_up.store(primary_up, Ordering::Relaxed);
        if was_serving != serving {
            tracing::info!(
                serving,
                primary_up,
                lag_ms = replay.as_ref().map(|r| r.lag.as_millis() as u64),
                "browse replica {}",
                if serving { "in use" } else { "left" }
            );
        }
        metrics::gauge!("boxoffice_browse_replica_serving").set(if serving { 1.0 } else { 0.0 });
        if let Some(r) = replay {
            metrics::gauge!("boxoffice_browse_replica_lag_seconds").set(r.lag.as_secs_f64());
        }
    }
}

/// The replica's replication, from itself. A server that is not in
/// recovery (a promoted replica) counts as streaming with no lag.
async fn replay(pool: &PgPool) -> sqlx::Result<Replay> {
    let (recovering, streaming, lag_ms): (bool, bool, f64) = sqlx::query_as(
        "SELECT pg_is_in_recovery(),
                EXISTS (SELECT 1 FROM pg_stat_wal_receiver WHERE status = 'streaming'),
                CASE WHEN pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_last_wal_replay_lsn()
                     THEN 0
                     ELSE COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()) * 1000, 0)
                END::float8",
    )
    .fetch_one(pool)
    .await?;
    Ok(Replay {
        streaming: !recovering || streaming,
        lag: Duration::from_millis(if recovering {
            lag_ms.max(0.0) as u64
        } else {
            0
        }),
    })
}
