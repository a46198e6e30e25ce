//! Seat locks in Redis: `SET key token NX EX ttl`, all-or-nothing per request.
//!
//! A Lua script takes every seat of one request or none (on the first seat
//! held by another token it deletes the ones it just set), so a request that
//! loses one seat never blocks others with half a hold. A batch sends one
//! script call per request in a single pipeline. Releasing deletes a key only
//! while it still holds the releasing token (compare-and-delete), so a slow
//! release can never free someone else's newer lock. A lock PostgreSQL has
//! proved stale (the event actor's check, see `event_actor`) is overwritten
//! with the token of the hold PostgreSQL committed instead.
//!
//! Keys: `{prefix}{e:<event>}:seat:<seat>`. Every seat of one event shares
//! the hash tag, so in a Redis Cluster a request's script and a batch's
//! pipeline go to the event's one shard.

use std::time::Duration;

use actors::model::{EventId, SeatId};
use actors::ports::{LockUnavailable, SeatLock};
use async_trait::async_trait;

use crate::store::redis::Redis;

/// KEYS: seat keys; ARGV[1]: token; ARGV[2]: ttl seconds. Returns 1 if taken.
const ACQUIRE: &str = r#"
local taken = {}
for i, key in ipairs(KEYS) do
  if redis.call('SET', key, ARGV[1], 'NX', 'EX', ARGV[2]) then
    taken[#taken + 1] = key
  elseif redis.call('GET', key) ~= ARGV[1] then
    for _, k in ipairs(taken) do redis.call('DEL', k) end
    return 0
  end
end
return 1
"#;

/// KEYS: seat keys; ARGV[1]: token. Deletes the keys that still hold it.
const RELEASE: &str = r#"
local n = 0
for _, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[1] then
    redis.call('DEL', key)
    n = n + 1
  end
end
return n
"#;

/// KEYS: seat keys; ARGV[1]: token; ARGV[2]: ttl seconds. Sets them all,
/// whatever they held: only for a hold PostgreSQL has committed.
const OVERWRITE: &str = r#"
for _, key in ipairs(KEYS) do
  redis.call('SET', key, ARGV[1], 'EX', ARGV[2])
end
return #KEYS
"#;

#[derive(Clone)]
pub struct RedisSeatLock {
    redis: Redis,
}

impl RedisSeatLock {
    pub fn new(redis: Redis) -> RedisSeatLock {
        RedisSeatLock { redis }
    }

    fn seat_key(&self, event: EventId, seat: SeatId) -> String {
        self.redis.event_key(event, format_args!("seat:{seat}"))
    }

    fn pipeline(
        &self,
        script: &str,
        event: EventId,
        claims: &[(&str, &[SeatId])],
        extra: Option<u64>,
    ) -> redis::Pipeline {
        let mut pipe = redis::pipe();
        for (token, seats) in claims {
            let command = pipe.cmd("EVAL").arg(script).arg(seats.len());
            for seat in *seats {
                command.arg(self.seat_key(event, *seat));
            }
            command.arg(*token);
            if let Some(ttl) = extra {
                command.arg(ttl);
            }
        }
        pipe
    }
}

fn unavailable(error: impl std::fmt::Display) -> LockUnavailable {
    LockUnavailable(error.to_string())
}

#[async_trait]
impl SeatLock for RedisSeatLock {
    async fn acquire(
        &self,
        event: EventId,
        claims: &[(&str, &[SeatId])],
        ttl: Duration,
    ) -> Result<Vec<bool>, LockUnavailable> {
        let pipe = self.pipeline(ACQUIRE, event, claims, Some(ttl.as_secs().max(1)));
        let answers: Vec<i64> = self
            .redis
            .run(|mut c| async move { pipe.query_async(&mut c).await })
            .await
            .map_err(unavailable)?;
        Ok(answers.into_iter().map(|a| a == 1).collect())
    }

    async fn release(
        &self,
        event: EventId,
        claims: &[(&str, &[SeatId])],
    ) -> Result<(), LockUnavailable> {
        let pipe = self.pipeline(RELEASE, event, claims, None);
        self.redis
            .run(|mut c| async move { pipe.query_async::<Vec<i64>>(&mut c).await })
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn overwrite(
        &self,
        event: EventId,
        claims: &[(&str, &[SeatId])],
        ttl: Duration,
    ) -> Result<(), LockUnavailable> {
        let pipe = self.pipeline(OVERWRITE, event, claims, Some(ttl.as_secs().max(1)));
        self.redis
            .run(|mut c| async move { pipe.query_async::<Vec<i64>>(&mut c).await })
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}
