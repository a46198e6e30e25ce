//! The browse cache (AP path): event details and listings as ready-to-send
//! JSON in Redis.
//!
//! Invalidation by generation: every key embeds the catalog generation, a
//! Redis counter that an operator's change bumps *after* its commit. A reader
//! reads the generation *before* it reads PostgreSQL, so an entry built from
//! pre-change data can only ever be stored under the old generation, which no
//! reader looks at again. A stale listing therefore never survives an update.
//! With Redis down every call here is a miss and browse reads PostgreSQL.

use std::time::Duration;

use redis::AsyncCommands;

use crate::store::redis::Redis;

#[derive(Clone)]
pub struct CatalogCache {
    redis: Redis,
    pub event_ttl: Duration,
    pub listing_ttl: Duration,
}

/// Where a cached value lives; obtained before reading PostgreSQL.
pub struct CacheSlot {
    key: Option<String>,
}

impl CatalogCache {
    pub fn new(redis: Redis, event_ttl: Duration, listing_ttl: Duration) -> CatalogCache {
        CatalogCache {
            redis,
            event_ttl,
            listing_ttl,
        }
    }

    fn generation_key(&self) -> String {
        self.redis.key("catalog:generation")
    }

    /// The slot for `name` under the current generation (none if Redis is down).
    pub async fn slot(&self, name: &str) -> CacheSlot {
        let generation_key = self.generation_key();
        let generation = self
            .redis
            .run(|mut c| async move { c.get::<_, Option<u64>>(generation_key).await })
            .await;
        CacheSlot {
            key: generation.ok().map(|g| {
                self.redis
                    .key(format_args!("catalog:{}:{name}", g.unwrap_or(0)))
            }),
        }
    }

    /// A slot outside the generation scheme, for values that never change
    /// once written (a venue's layout).
    pub fn immutable_slot(&self, name: &str) -> CacheSlot {
        CacheSlot {
            key: Some(self.redis.key(format_args!("immutable:{name}"))),
        }
    }

    pub async fn get(&self, slot: &CacheSlot) -> Option<Vec<u8>> {
        let key = slot.key.clone()?;
        let found = self
            .redis
            .run(|mut c| async move { c.get::<_, Option<Vec<u8>>>(key).await })
            .await;
        let hit = matches!(found, Ok(Some(_)));
        metrics::counter!("boxoffice_cache_lookups_total", "outcome" => if hit { "hit" } else { "miss" })
            .increment(1);
        found.ok().flatten()
    }

    pub async fn put(&self, slot: &CacheSlot, value: &[u8], ttl: Duration) {
        let Some(key) = slot.key.clone() else { return };
        let value = value.to_vec();
        let ttl = ttl.as_secs().max(1);
        if let Err(error) = self
            .redis
            .run(|mut c| async move { c.set_ex::<_, _, ()>(key, value, ttl).await })
            .await
        {
            tracing::debug!(%error, "cache write skipped");
        }
    }

    /// Makes every cached event and listing unreachable. Call after the commit.
    pub async fn invalidate(&self) {
        let key = self.generation_key();
        if let Err(error) = self
            .redis
            .run(|mut c| async move { c.incr::<_, _, u64>(key, 1).await })
            .await
        {
            // Entries expire by their TTL at the latest.
            tracing::warn!(%error, "catalog cache invalidation failed");
        }
    }
}
