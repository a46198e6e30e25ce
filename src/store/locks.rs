//! Seat locks in Redis: `SET key token NX EX ttl`, all-or-nothing per request.
//!
//! A Lua script takes every seat of one request or none (on the first seat
//! held by another token it deletes the ones it just set), so a request that
//! loses one seat never blocks others with half a hold. A whole batch is one
//! script call (`EVALSHA`: the script's text is sent once per connection, not
//! once per request), which answers each request in order. Releasing deletes a key only
//! while it still holds the releasing token (compare-and-delete), so a slow
//! release can never free someone else's newer lock. A lock PostgreSQL has
//! proved stale (the event actor's check, see `event_actor`) is overwritten
//! with the token of the hold PostgreSQL committed instead.
//!
//! Keys: `{prefix}{e:<event>}:seat:<seat>`. Every seat of one event shares
//! the hash tag, so in a Redis Cluster a request's script and a batch's
//! pipeline go to the event's one shard.

use std::sync::Arc;
use std::time::Duration;

use actors::model::{EventId, SeatId};
use actors::ports::{LockUnavailable, SeatLock};
use async_trait::async_trait;

use crate::store::redis::Redis;

/// A batch of claims. KEYS: the seat keys of every claim, claim after claim;
/// ARGV[1]: ttl seconds, then per claim its seat count and its token.
/// Returns per claim 1 if it took all its seats, 0 if it took none.
const ACQUIRE_BATCH: &str = r#"
local answers = {}
local k = 0
for c = 2, #ARGV, 2 do
  local n, token = tonumber(ARGV[c]), ARGV[c + 1]
  local taken = {}
  local ok = 1
  for i = k + 1, k + n do
    local key = KEYS[i]
    if redis.call('SET', key, token, 'NX', 'EX', ARGV[1]) then
      taken[#taken + 1] = key
    elseif redis.call('GET', key) ~= token then
      for _, t in ipairs(taken) do redis.call('DEL', t) end
      ok = 0
      break
    end
  end
  answers[#answers + 1] = ok
  k = k + n
end
return answers
"#;

/// A batch of claims, laid out as for `ACQUIRE_BATCH` (without the ttl).
/// Deletes the keys that still hold their claim's token.
const RELEASE_BATCH: &str = r#"
local k, n_deleted = 0, 0
for c = 1, #ARGV, 2 do
  local n, token = tonumber(ARGV[c]), ARGV[c + 1]
  for i = k + 1, k + n do
    if redis.call('GET', KEYS[i]) == token then
      redis.call('DEL', KEYS[i])
      n_deleted = n_deleted + 1
    end
  end
  k = k + n
end
return n_deleted
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
    /// Built once: each holds the script's SHA1 for `EVALSHA`.
    acquire: Arc<redis::Script>,
    release: Arc<redis::Script>,
}

impl RedisSeatLock {
    pub fn new(redis: Redis) -> RedisSeatLock {
        RedisSeatLock {
            redis,
            acquire: Arc::new(redis::Script::new(ACQUIRE_BATCH)),
            release: Arc::new(redis::Script::new(RELEASE_BATCH)),
        }
    }

    /// One invocation of a batch script: every claim's keys, then (after
    /// `ttl` if given) each claim's seat count and token.
    fn batch_invocation<'s>(
        &self,
        script: &'s redis::Script,
        event: EventId,
        claims: &[(&str, &[SeatId])],
        ttl: Option<u64>,
    ) -> redis::ScriptInvocation<'s> {
        let mut invocation = script.prepare_invoke();
        if let Some(ttl) = ttl {
            invocation.arg(ttl);
        }
        for (token, seats) in claims {
            for seat in *seats {
                invocation.key(self.seat_key(event, *seat));
            }
            invocation.arg(seats.len()).arg(*token);
        }
        invocation
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
        if claims.is_empty() {
            return Ok(Vec::new());
        }
        let invocation =
            self.batch_invocation(&self.acquire, event, claims, Some(ttl.as_secs().max(1)));
        let answers: Vec<i64> = self
            .redis
            .run(|mut c| async move { invocation.invoke_async(&mut c).await })
            .await
            .map_err(unavailable)?;
        Ok(answers.into_iter().map(|a| a == 1).collect())
    }

    async fn release(
        &self,
        event: EventId,
        claims: &[(&str, &[SeatId])],
    ) -> Result<(), LockUnavailable> {
        if claims.is_empty() {
            return Ok(());
        }
        let invocation = self.batch_invocation(&self.release, event, claims, None);
        self.redis
            .run(|mut c| async move { invocation.invoke_async::<i64>(&mut c).await })
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
