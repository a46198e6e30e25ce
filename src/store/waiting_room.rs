//! The waiting room's state in Redis, one key family per event, each key
//! `{prefix}{e:<event>}:q:<name>` (one hash tag per event: every script below
//! runs on the event's one shard of a Redis Cluster):
//!
//! | key | type | holds |
//! |---|---|---|
//! | `q:seq` | counter | arrival sequence |
//! | `q:waiting` | sorted set | waiting buyers, scored by place (arrival, or the shuffle) |
//! | `q:seen` | sorted set | last sign of life of each waiter (ms) |
//! | `q:admitted` | hash | admitted buyers -> token expiry (unix s) |
//! | `q:removed` | counter | admitted + skipped: the watermark positions are computed from |
//! | `q:admitted_total` | counter | admissions so far |
//! | `q:admissions` | sorted set | admissions of the last minute (by time) |
//! | `q:drain` | string | measured admissions per second |
//! | `q:sold_out` | string | `1` while no seat is left |
//! | `q:settings` | string | `<version>:<rate>`, the newest admission rate written (0: paused) |
//! | `q:seed`, `q:shuffled` | string | the on-sale shuffle's seed, and whether it ran |
//! | `q:driver` | string (lease) | the node admitting for this event |
//!
//! Multi-key updates run as Lua scripts, so each is atomic.

use std::sync::LazyLock;

use actors::model::{EventId, UserId};
use redis::AsyncCommands;

use crate::store::redis::{Redis, RedisError};

static JOIN_SCRIPT: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(JOIN));
static ADMIT_SCRIPT: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(ADMIT));
static STANDING_SCRIPT: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(STANDING));
static LEASE_SCRIPT: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(LEASE));
static RELEASE_SCRIPT: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(RELEASE));
static SETTINGS_SCRIPT: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(SETTINGS));

#[derive(Clone)]
pub struct QueueStore {
    redis: Redis,
}

/// Where a buyer stands.
#[derive(Debug, Clone, PartialEq)]
pub enum Standing {
    /// 1-based place in line, and the watermark it was read at.
    Waiting {
        position: u64,
        removed: u64,
    },
    /// Admitted; the token expires at this unix time.
    Admitted {
        expires: i64,
    },
    NotInQueue,
}

const JOIN: &str = r#"
local expires = redis.call('HGET', KEYS[3], ARGV[1])
if expires and tonumber(expires) > tonumber(ARGV[3]) then return {-1, tonumber(expires), 0} end
local score = redis.call('ZSCORE', KEYS[2], ARGV[1])
if not score then
  score = redis.call('INCR', KEYS[1])
  redis.call('ZADD', KEYS[2], 'NX', score, ARGV[1])
end
redis.call('ZADD', KEYS[4], ARGV[2], ARGV[1])
local rank = redis.call('ZRANK', KEYS[2], ARGV[1])
local sold_out = redis.call('GET', KEYS[6]) == '1' and 1 or 0
local drain_milli = math.floor(tonumber(redis.call('GET', KEYS[7]) or '0') * 1000)
local paused = string.match(redis.call('GET', KEYS[8]) or '', ':0$') and 1 or 0
return {rank + 1, tonumber(redis.call('GET', KEYS[5]) or '0'), tonumber(score), sold_out, drain_milli, paused}
"#;

const STANDING: &str = r#"
local expires = redis.call('HGET', KEYS[3], ARGV[1])
if expires and tonumber(expires) > tonumber(ARGV[3]) then return {-1, tonumber(expires)} end
local rank = redis.call('ZRANK', KEYS[1], ARGV[1])
if not rank then return {0, 0} end
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
return {rank + 1, tonumber(redis.call('GET', KEYS[4]) or '0')}
"#;

/// Pops up to ARGV[1] live waiters from the front: those seen within the
/// grace period are admitted, the others skipped (closed tabs waste no slot).
/// Only for the lease holder (ARGV[6]): a node whose lease lapsed and was
/// taken admits nobody (`false`), so an old and a new holder never both admit.
/// Nobody either while the settings in Redis say paused, whatever rate the
/// holder last read from PostgreSQL (`{}`).
const ADMIT: &str = r#"
if redis.call('GET', KEYS[7]) ~= ARGV[6] then return false end
if string.match(redis.call('GET', KEYS[8]) or '', ':0$') then return {} end
local n, now, grace, expires, max_scan = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4], tonumber(ARGV[5])
local admitted, scanned = {}, 0
while #admitted < n and scanned < max_scan do
  local popped = redis.call('ZPOPMIN', KEYS[1], 1)
  if #popped == 0 then break end
  scanned = scanned + 1
  local user = popped[1]
  local seen = tonumber(redis.call('ZSCORE', KEYS[2], user) or '0')
  redis.call('ZREM', KEYS[2], user)
  if seen >= now - grace then
    redis.call('HSET', KEYS[3], user, expires)
    redis.call('ZADD', KEYS[6], now, user)
    admitted[#admitted + 1] = user
  end
end
if scanned > 0 then redis.call('INCRBY', KEYS[4], scanned) end
if #admitted > 0 then redis.call('INCRBY', KEYS[5], #admitted) end
redis.call('ZREMRANGEBYSCORE', KEYS[6], 0, now - 60000)
return admitted
"#;

/// Writes the settings ARGV[2] (the rate) at version ARGV[1] unless Redis
/// already holds that version or a newer one: the operator's request and
/// every node's driver write here, and the newest always stays.
const SETTINGS: &str = r#"
local current = tonumber(string.match(redis.call('GET', KEYS[1]) or '', '^(%d+):'))
if current and current >= tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], ARGV[1] .. ':' .. ARGV[2])
return 1
"#;

/// Renews the lease if this node holds it, takes it if nobody does.
const LEASE: &str = r#"
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
if not holder then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end
return 0
"#;

/// Gives the lease back if this node holds it (a draining node), so another
/// node takes it at its next try instead of after the lease lapses.
const RELEASE: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"#;

/// Rewrites the places of everyone who joined before the sale opened, once.
/// Members read or rewritten per Redis call during the draw, so a line of
/// millions never blocks Redis for long.
const SHUFFLE_CHUNK: usize = 10_000;

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl QueueStore {
    /// Queue calls come in herds (an on-sale's opening second): they get a
    /// longer deadline than cache lookups, which have a database to fall back on.
    pub fn new(redis: Redis) -> QueueStore {
        QueueStore {
            redis: redis.with_timeout(std::time::Duration::from_secs(2)),
        }
    }

    fn key(&self, event: EventId, name: &str) -> String {
        self.redis.event_key(event, format_args!("q:{name}"))
    }

    fn keys(&self, event: EventId, names: &[&str]) -> Vec<String> {
        names.iter().map(|n| self.key(event, n)).collect()
    }

    /// Runs a script by its SHA1 (`EVALSHA`, loading it once if Redis does
    /// not know it yet): a join sends its keys and arguments, not the script.
    async fn script<T: redis::FromRedisValue + Send + 'static>(
        &self,
        script: &'static redis::Script,
        keys: Vec<String>,
        args: Vec<String>,
    ) -> Result<T, RedisError> {
        self.redis
            .run(|mut c| async move {
                let mut invocation = script.prepare_invoke();
                invocation.key(keys).arg(args);
                invocation.invoke_async(&mut c).await
            })
            .await
    }

    /// Joins (or finds) `user` in line, in one round trip. Returns the
    /// standing, the arrival sequence number (0 when already admitted) and
    /// the line's progress flags.
    pub async fn join(
        &self,
        event: EventId,
        user: UserId,
    ) -> Result<(Standing, u64, Progress), RedisError> {
        let keys = self.keys(
            event,
            &[
                "seq", "waiting", "admitted", "seen", "removed", "sold_out", "drain", "settings",
            ],
        );
        let now = chrono::Utc::now().timestamp();
        let args = vec![user.to_string(), now_ms().to_string(), now.to_string()];
        let answer: Vec<i64> = self.script(&JOIN_SCRIPT, keys, args).await?;
        Ok(match answer[..] {
            [-1, expires, _] => (Standing::Admitted { expires }, 0, Progress::default()),
            [position, removed, seq, sold_out, drain_milli, paused] => (
                Standing::Waiting {
                    position: position as u64,
                    removed: removed as u64,
                },
                seq as u64,
                Progress {
                    removed: removed as u64,
                    sold_out: sold_out == 1,
                    drain_per_sec: drain_milli as f64 / 1000.0,
                    paused: paused == 1,
                    ..Progress::default()
                },
            ),
            _ => (Standing::NotInQueue, 0, Progress::default()),
        })
    }

    /// Where `user` stands; counts as a sign of life.
    pub async fn standing(&self, event: EventId, user: UserId) -> Result<Standing, RedisError> {
        let keys = self.keys(event, &["waiting", "seen", "admitted", "removed"]);
        let now = chrono::Utc::now().timestamp();
        let answer: Vec<i64> = self
            .script(
                &STANDING_SCRIPT,
                keys,
                vec![user.to_string(), now_ms().to_string(), now.to_string()],
            )
            .await?;
        Ok(match answer[..] {
            [-1, expires] => Standing::Admitted { expires },
            [0, _] => Standing::NotInQueue,
            [position, removed] => Standing::Waiting {
                position: position as u64,
                removed: removed as u64,
            },
            _ => Standing::NotInQueue,
        })
    }

    /// Admits up to `admission.n` live waiters if `holder` holds the
    /// event's lease; returns the admitted buyers, or `None` when the lease
    /// is not `holder`'s (nobody was admitted).
    pub async fn admit(
        &self,
        event: EventId,
        holder: &str,
        admission: Admission,
    ) -> Result<Option<Vec<i64>>, RedisError> {
        let keys = self.keys(
            event,
            &[
                "waiting",
                "seen",
                "admitted",
                "removed",
                "admitted_total",
                "admissions",
                "driver",
                "settings",
            ],
        );
        let n = admission.n;
        let max_scan = (n * 4).max(n + 100);
        let args = vec![
            n.to_string(),
            admission.at_ms.to_string(),
            admission.grace_ms.to_string(),
            admission.expires.to_string(),
            max_scan.to_string(),
            holder.to_owned(),
        ];
        self.script(&ADMIT_SCRIPT, keys, args).await
    }

    /// Takes or renews the admission lease of `event` for `node`.
    pub async fn lease(&self, event: EventId, node: &str, ttl_ms: u64) -> Result<bool, RedisError> {
        let held: i64 = self
            .script(
                &LEASE_SCRIPT,
                vec![self.key(event, "driver")],
                vec![node.into(), ttl_ms.to_string()],
            )
            .await?;
        Ok(held == 1)
    }

    /// Gives the admission lease of `event` back if `node` holds it; true
    /// if it did.
    pub async fn release_lease(&self, event: EventId, node: &str) -> Result<bool, RedisError> {
        let released: i64 = self
            .script(
                &RELEASE_SCRIPT,
                vec![self.key(event, "driver")],
                vec![node.into()],
            )
            .await?;
        Ok(released == 1)
    }

    pub async fn lease_holder(&self, event: EventId) -> Result<Option<String>, RedisError> {
        let key = self.key(event, "driver");
        self.redis
            .run(|mut c| async move { c.get(key).await })
            .await
    }

    /// The shuffle seed, created on first use.
    pub async fn seed(&self, event: EventId) -> Result<String, RedisError> {
        let key = self.key(event, "seed");
        let fresh = format!(
            "{:032x}{:032x}",
            rand::random::<u128>(),
            rand::random::<u128>()
        );
        self.redis
            .run(|mut c| async move {
                let _: bool = redis::cmd("SET")
                    .arg(&key)
                    .arg(fresh)
                    .arg("NX")
                    .query_async(&mut c)
                    .await
                    .unwrap_or(false);
                c.get(key).await
            })
            .await
    }

    /// Whether the on-sale draw has completed.
    pub async fn shuffled(&self, event: EventId) -> Result<bool, RedisError> {
        let key = self.key(event, "shuffled");
        let state: Option<String> = self
            .redis
            .run(|mut c| async move { c.get(key).await })
            .await?;
        Ok(state.as_deref() == Some("done"))
    }

    /// Claims the draw for this node for `ttl_ms` (a node that dies while
    /// drawing lets another redo it: the order is a function of the seed).
    pub async fn claim_shuffle(&self, event: EventId, ttl_ms: u64) -> Result<bool, RedisError> {
        let key = self.key(event, "shuffled");
        self.redis
            .run(|mut c| async move {
                redis::cmd("SET")
                    .arg(key)
                    .arg("running")
                    .arg("NX")
                    .arg("PX")
                    .arg(ttl_ms)
                    .query_async::<Option<String>>(&mut c)
                    .await
            })
            .await
            .map(|set| set.is_some())
    }

    /// Forgets that the on-sale draw ran (the sale was moved to the future).
    pub async fn reset_shuffle(&self, event: EventId) -> Result<(), RedisError> {
        let key = self.key(event, "shuffled");
        self.redis
            .run(|mut c| async move { c.del::<_, ()>(key).await })
            .await
    }

    /// Everyone in line, front first, read a chunk at a time.
    pub async fn waiting_members(&self, event: EventId) -> Result<Vec<String>, RedisError> {
        let mut members = Vec::new();
        loop {
            let key = self.key(event, "waiting");
            let start = members.len() as isize;
            let stop = start + SHUFFLE_CHUNK as isize - 1;
            let chunk: Vec<String> = self
                .redis
                .run(|mut c| async move { c.zrange(key, start, stop).await })
                .await?;
            let done = chunk.len() < SHUFFLE_CHUNK;
            members.extend(chunk);
            if done {
                return Ok(members);
            }
        }
    }

    /// Writes the drawn order (places 1..n), a chunk per call, then marks the
    /// draw done.
    pub async fn apply_shuffle(
        &self,
        event: EventId,
        order: Vec<String>,
    ) -> Result<usize, RedisError> {
        for (chunk_index, chunk) in order.chunks(SHUFFLE_CHUNK).enumerate() {
            let key = self.key(event, "waiting");
            let mut command = redis::cmd("ZADD");
            command.arg(key).arg("XX");
            for (i, member) in chunk.iter().enumerate() {
                command.arg(chunk_index * SHUFFLE_CHUNK + i + 1).arg(member);
            }
            self.redis
                .run(|mut c| async move { command.query_async::<i64>(&mut c).await })
                .await?;
        }
        let key = self.key(event, "shuffled");
        self.redis
            .run(|mut c| async move { c.set::<_, _, ()>(key, "done").await })
            .await?;
        Ok(order.len())
    }

    /// Writes the admission rate at `version` (see
    /// `catalog::WaitingRoomConfig`) unless Redis holds a newer one; whether
    /// it was written. Admission and what waiters are told about a pause
    /// follow what is here.
    pub async fn publish_settings(
        &self,
        event: EventId,
        version: i64,
        rate: i32,
    ) -> Result<bool, RedisError> {
        let keys = self.keys(event, &["settings"]);
        let args = vec![version.to_string(), rate.max(0).to_string()];
        let written: i64 = self.script(&SETTINGS_SCRIPT, keys, args).await?;
        Ok(written == 1)
    }

    /// The admitting driver's view, for every waiter to read (they lapse
    /// a minute after the last driver wrote them).
    pub async fn set_flags(
        &self,
        event: EventId,
        sold_out: bool,
        drain_per_sec: f64,
    ) -> Result<(), RedisError> {
        let (sold_key, drain_key) = (self.key(event, "sold_out"), self.key(event, "drain"));
        self.redis
            .run(|mut c| async move {
                redis::pipe()
                    .set_ex(sold_key, if sold_out { "1" } else { "0" }, 60)
                    .ignore()
                    .set_ex(drain_key, format!("{drain_per_sec:.3}"), 60)
                    .ignore()
                    .query_async::<()>(&mut c)
                    .await
            })
            .await
    }

    /// The watermark and flags every position stream reads each second.
    pub async fn progress(&self, event: EventId) -> Result<Progress, RedisError> {
        let read_started = std::time::Instant::now();
        let keys = self.keys(
            event,
            &[
                "removed",
                "sold_out",
                "drain",
                "waiting",
                "admitted_total",
                "settings",
            ],
        );
        let (removed, sold_out, drain, waiting, admitted_total, settings): ProgressRead = self
            .redis
            .run(|mut c| async move {
                redis::pipe()
                    .get(&keys[0])
                    .get(&keys[1])
                    .get(&keys[2])
                    .zcard(&keys[3])
                    .get(&keys[4])
                    .get(&keys[5])
                    .query_async(&mut c)
                    .await
            })
            .await?;
        Ok(Progress {
            removed: removed.unwrap_or(0),
            sold_out: sold_out.as_deref() == Some("1"),
            drain_per_sec: drain.unwrap_or(0.0),
            waiting,
            admitted_total: admitted_total.unwrap_or(0),
            paused: settings.is_some_and(|s| s.ends_with(":0")),
            read_started: Some(read_started),
        })
    }

    pub async fn admitted_last_minute(&self, event: EventId) -> Result<u64, RedisError> {
        let key = self.key(event, "admissions");
        let since = now_ms() - 60_000;
        self.redis
            .run(|mut c| async move { c.zcount(key, since, "+inf").await })
            .await
    }

    /// Refreshes a waiter's sign of life.
    pub async fn touch(&self, event: EventId, user: UserId) -> Result<(), RedisError> {
        let key = self.key(event, "seen");
        self.redis
            .run(|mut c| async move {
                redis::cmd("ZADD")
                    .arg(key)
                    .arg("XX")
                    .arg(now_ms())
                    .arg(user.0)
                    .query_async::<()>(&mut c)
                    .await
            })
            .await
    }
}

/// `progress`'s pipeline: removed, sold out, drain, waiting, admitted total,
/// settings.
type ProgressRead = (
    Option<u64>,
    Option<String>,
    Option<f64>,
    u64,
    Option<u64>,
    Option<String>,
);

/// The shared state of an event's line, as of one read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Progress {
    pub removed: u64,
    pub sold_out: bool,
    pub drain_per_sec: f64,
    pub waiting: u64,
    pub admitted_total: u64,
    /// The operator paused admission (rate 0): no ETA, nobody admitted.
    pub paused: bool,
    /// When the read that produced this began (`None`: no read yet). Of two
    /// reads, the one begun later is at least as fresh, whichever returned
    /// first.
    pub read_started: Option<std::time::Instant>,
}

/// One admission step.
#[derive(Debug, Clone, Copy)]
pub struct Admission {
    /// At most this many are admitted.
    pub n: u64,
    /// The step's time (unix ms): the admissions log's score, and the
    /// reference for the grace period.
    pub at_ms: i64,
    /// Waiters not seen for this long are skipped.
    pub grace_ms: i64,
    /// The queue tokens' expiry (unix s).
    pub expires: i64,
}
