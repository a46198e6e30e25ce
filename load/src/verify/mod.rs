//! `boxoffice-load verify`: an invariant checker for one event's on-sale.
//!
//! It reads PostgreSQL (and Redis) directly and shares no code with the
//! server: every query here is written against `migrations/`, and the ticket
//! signature is re-implemented, so a bug in the server cannot hide itself by
//! also being in the checker. Each check reports how many things it looked at
//! and every violation it found; any violation fails the run.

mod acknowledged;
mod charges;
mod holds;
mod map;
mod queue;
mod seats;
mod tickets;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use serde::Serialize;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

/// What to check, and where.
#[derive(Debug, Clone)]
pub struct VerifyOptions {
    pub database_url: String,
    pub redis_url: Option<String>,
    /// The server's `redis.key_prefix` (default `bo:`).
    pub redis_prefix: String,
    pub event_id: i64,
    /// Node base URLs whose seat snapshot must equal the database.
    pub targets: Vec<String>,
    /// JSONL of what clients were told: `{"kind":"hold"|"confirm","booking_id":N}`.
    pub acknowledged: Option<PathBuf>,
    /// Allowance beyond a hold's expiry (sweep interval + slack).
    pub sweep_grace: Duration,
    /// Admission rate tolerance: 0.02 = ±2 %.
    pub rate_tolerance: f64,
}

/// Settings [`VerifyOptions`] does not carry, with defaults from the
/// environment (the server's own variable names) and `config/default.toml`.
#[derive(Debug, Clone)]
pub struct Extras {
    /// The server's `auth.signing_secret`; without it ticket signatures are
    /// not checked (the check says so) but everything else about tickets is.
    pub signing_secret: Option<String>,
    /// The server's `booking.payment_window_seconds`: a hold whose payment
    /// started less than this long ago is never expired.
    pub payment_window: Duration,
    /// How long the seat-map check waits for a node to reach the database's
    /// version.
    pub map_deadline: Duration,
}

impl Extras {
    pub fn from_env() -> Extras {
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        Extras {
            signing_secret: env("BOXOFFICE__AUTH__SIGNING_SECRET"),
            payment_window: Duration::from_secs(
                env("BOXOFFICE__BOOKING__PAYMENT_WINDOW_SECONDS")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(120),
            ),
            map_deadline: Duration::from_secs(10),
        }
    }
}

/// One invariant: how many things it looked at, and what was wrong.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub checked: u64,
    pub violations: Vec<String>,
    /// Why part of the check could not run (not a violation), if so.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Check {
    fn new(name: &'static str) -> Check {
        Check {
            name,
            checked: 0,
            violations: Vec::new(),
            note: None,
        }
    }

    fn violation(&mut self, message: impl Into<String>) {
        self.violations.push(message.into());
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    pub event_id: i64,
    pub checks: Vec<Check>,
}

/// Violations printed per check; the rest are counted.
const PRINTED: usize = 20;

impl VerifyReport {
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.violations.is_empty())
    }

    pub fn violations(&self) -> usize {
        self.checks.iter().map(|c| c.violations.len()).sum()
    }

    pub fn print(&self) {
        println!("verify event {}", self.event_id);
        for check in &self.checks {
            let verdict = if check.violations.is_empty() {
                "ok  "
            } else {
                "FAIL"
            };
            println!(
                "  {verdict} {:<22} checked {:>8}  violations {}",
                check.name,
                check.checked,
                check.violations.len()
            );
            if let Some(note) = &check.note {
                println!("       note: {note}");
            }
            for v in check.violations.iter().take(PRINTED) {
                println!("       - {v}");
            }
            if check.violations.len() > PRINTED {
                println!("       … and {} more", check.violations.len() - PRINTED);
            }
        }
        if self.passed() {
            println!("PASSED: no violations");
        } else {
            println!("FAILED: {} violation(s)", self.violations());
        }
    }
}

/// Runs every check with [`Extras::from_env`].
pub async fn verify(opts: &VerifyOptions) -> anyhow::Result<VerifyReport> {
    verify_with(opts, &Extras::from_env()).await
}

pub async fn verify_with(opts: &VerifyOptions, extras: &Extras) -> anyhow::Result<VerifyReport> {
    let pool = PgPoolOptions::new()
        .max_connections(2)
        .acquire_timeout(Duration::from_secs(10))
        .connect(&opts.database_url)
        .await
        .context("connect to PostgreSQL")?;
    let exists: Option<i64> = sqlx::query_scalar("SELECT event_id FROM events WHERE event_id = $1")
        .bind(opts.event_id)
        .fetch_optional(&pool)
        .await?;
    anyhow::ensure!(exists.is_some(), "event {} does not exist", opts.event_id);

    let redis = match &opts.redis_url {
        Some(url) => Some(redis_connection(url).await?),
        None => None,
    };
    // Every database check reads one snapshot, so a booking caught between
    // two of the server's transactions (e.g. confirmed while recovery runs)
    // is seen whole, never as half of each. The map check reads on its own:
    // it follows each node's version.
    let mut snapshot = pool.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *snapshot)
        .await?;
    let mut checks = vec![
        seats::check(&mut snapshot, opts.event_id).await?,
        charges::check(&mut snapshot, opts.event_id).await?,
        holds::check(
            &mut snapshot,
            opts.event_id,
            opts.sweep_grace,
            extras.payment_window,
        )
        .await?,
        tickets::check(
            &mut snapshot,
            opts.event_id,
            extras.signing_secret.as_deref(),
        )
        .await?,
    ];
    checks.extend(queue::check(&mut snapshot, redis, opts).await?);
    checks.push(
        acknowledged::check(&mut snapshot, opts.event_id, opts.acknowledged.as_deref()).await?,
    );
    snapshot.rollback().await?;
    checks.insert(
        4,
        map::check(&pool, opts.event_id, &opts.targets, extras.map_deadline).await?,
    );
    pool.close().await;
    Ok(VerifyReport {
        event_id: opts.event_id,
        checks,
    })
}

/// Longest wait for one Redis answer. The checker reads whole waiting-room
/// logs (100,000 admissions and more) in one command: redis-rs's default
/// 500 ms response timeout is too short for that on a busy machine.
pub(crate) const REDIS_TIMEOUT: Duration = Duration::from_secs(30);

async fn redis_connection(url: &str) -> anyhow::Result<redis::aio::MultiplexedConnection> {
    let client = redis::Client::open(url).context("redis url")?;
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(10)))
        .set_response_timeout(Some(REDIS_TIMEOUT));
    tokio::time::timeout(
        Duration::from_secs(10),
        client.get_multiplexed_async_connection_with_config(&config),
    )
    .await
    .context("connect to Redis: timed out")?
    .context("connect to Redis")
}

/// `PgPool` for the checks, so each file needs one import.
pub(crate) type Db = PgPool;

/// The one REPEATABLE READ transaction the database checks read.
pub(crate) type Snapshot = sqlx::PgConnection;

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// Complete RESP commands at the front of `buf` (arrays of bulk strings),
    /// removed from it, each as its first word.
    fn commands(buf: &mut Vec<u8>) -> Vec<String> {
        let mut out = Vec::new();
        loop {
            let text = String::from_utf8_lossy(buf).into_owned();
            let mut lines = text.split("\r\n");
            let Some(n) = lines.next().and_then(|l| l.strip_prefix('*')) else {
                return out;
            };
            let Ok(n) = n.parse::<usize>() else {
                return out;
            };
            let parts: Vec<&str> = lines.take(2 * n).collect();
            if parts.len() < 2 * n || !text.contains("\r\n") {
                return out;
            }
            let used: usize =
                1 + n.to_string().len() + 2 + parts.iter().map(|p| p.len() + 2).sum::<usize>();
            if used > buf.len() {
                return out;
            }
            out.push(parts.get(1).unwrap_or(&"").to_ascii_uppercase());
            buf.drain(..used);
        }
    }

    /// A Redis stand-in that answers every command at once, except ZRANGE,
    /// which it answers (an empty list) after `delay`: a big read on a busy Redis.
    async fn slow_redis(delay: Duration) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    while let Ok(n) = socket.read(&mut chunk).await {
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                        for command in commands(&mut buf) {
                            let answer: &[u8] = if command == "ZRANGE" {
                                tokio::time::sleep(delay).await;
                                b"*0\r\n"
                            } else {
                                b"+OK\r\n"
                            };
                            if socket.write_all(answer).await.is_err() {
                                return;
                            }
                        }
                    }
                });
            }
        });
        format!("redis://127.0.0.1:{port}")
    }

    #[tokio::test]
    async fn the_checker_waits_for_a_big_redis_read_longer_than_redis_rs_default() {
        let url = slow_redis(Duration::from_millis(1500)).await;
        let mut redis = super::redis_connection(&url).await.unwrap();
        let log: redis::RedisResult<Vec<(i64, f64)>> = redis::cmd("ZRANGE")
            .arg("q:1:admissions")
            .arg(0)
            .arg(-1)
            .arg("WITHSCORES")
            .query_async(&mut redis)
            .await;
        assert_eq!(log.unwrap(), vec![]);
    }
}
