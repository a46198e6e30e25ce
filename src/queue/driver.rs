//! The admission driver: on every node, for every event whose waiting room is
//! on, it competes for the event's Redis lease; the holder admits waiters at
//! the operator's rate with a token bucket. Exactly one node admits per event
//! at a time, so adding nodes never multiplies the rate; if the holder dies its
//! lease lapses and another node takes over within `lease_ms`.
//!
//! Each tick (`tick_ms`): refresh the settings from PostgreSQL (at most once a
//! second, so a rate change applies within a second and survives restarts),
//! renew or take leases, run the on-sale shuffle once, pause while no seat is
//! left, and admit `floor(tokens)` live waiters.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actors::domain::EventId;
use actors::registry::Registry;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use sqlx::PgPool;

use crate::config::QueueSettings;
use crate::store::queue::QueueStore;

pub struct AdmissionDriver {
    pub store: QueueStore,
    pub pool: PgPool,
    pub registry: Arc<Registry>,
    pub node_id: String,
    pub settings: QueueSettings,
}

#[derive(Debug, Clone, sqlx::FromRow)]
struct QueueConfig {
    event_id: EventId,
    admission_rate_per_sec: i32,
    onsale_at: Option<DateTime<Utc>>,
}

#[derive(Default)]
struct Bucket {
    tokens: f64,
    last: Option<Instant>,
    lease_checked: Option<Instant>,
    held: bool,
    /// Admissions of the last ten seconds, for the measured drain rate.
    recent: VecDeque<(Instant, u64)>,
    flags_written: Option<Instant>,
}

/// The on-sale order: ascending SHA-256 of `seed:user`. Anyone given the seed
/// can recompute it.
pub fn shuffle_order(seed: &str, mut members: Vec<String>) -> Vec<String> {
    members.sort_by_cached_key(|m| Sha256::digest(format!("{seed}:{m}").as_bytes()).to_vec());
    members
}

impl AdmissionDriver {
    pub async fn run(self) {
        let mut tick = tokio::time::interval(Duration::from_millis(self.settings.tick_ms));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut configs: Vec<QueueConfig> = Vec::new();
        let mut configs_read: Option<Instant> = None;
        let mut buckets: HashMap<EventId, Bucket> = HashMap::new();
        loop {
            tick.tick().await;
            if configs_read.is_none_or(|at| at.elapsed() >= Duration::from_secs(1)) {
                match sqlx::query_as::<_, QueueConfig>(
                    "SELECT event_id, admission_rate_per_sec, onsale_at FROM events WHERE queue_enabled",
                )
                .fetch_all(&self.pool)
                .await
                {
                    Ok(fresh) => {
                        buckets.retain(|event, _| fresh.iter().any(|c| c.event_id == *event));
                        configs = fresh;
                        configs_read = Some(Instant::now());
                    }
                    Err(error) => tracing::warn!(%error, "waiting room settings unavailable"),
                }
            }
            for config in &configs {
                let bucket = buckets.entry(config.event_id).or_default();
                if let Err(error) = self.tick_event(config, bucket).await {
                    tracing::debug!(event.id = %config.event_id, %error, "admission tick skipped");
                }
            }
        }
    }

    async fn tick_event(&self, config: &QueueConfig, bucket: &mut Bucket) -> anyhow::Result<()> {
        let event = config.event_id;
        let renew_every = Duration::from_millis(self.settings.lease_ms / 3);
        if bucket
            .lease_checked
            .is_none_or(|at| at.elapsed() >= renew_every)
        {
            let held = self
                .store
                .lease(event, &self.node_id, self.settings.lease_ms)
                .await
                .unwrap_or(false);
            if held && !bucket.held {
                tracing::info!(event.id = %event, node.id = %self.node_id, "admitting for this event");
            }
            bucket.held = held;
            bucket.lease_checked = Some(Instant::now());
            metrics::gauge!("boxoffice_queue_lease_held", "event" => event.to_string())
                .set(if held { 1.0 } else { 0.0 });
        }
        if !bucket.held {
            bucket.last = None;
            bucket.tokens = 0.0;
            return Ok(());
        }
        let now = Utc::now();
        if config.onsale_at.is_some_and(|at| at > now) {
            return Ok(());
        }
        if config.onsale_at.is_some() && !self.store.shuffled(event).await? {
            // Nobody is admitted before the draw is complete.
            if self.store.claim_shuffle(event, 600_000).await? {
                let seed = self.store.seed(event).await?;
                let members = self.store.waiting_members(event).await?;
                // Hashing a million members is CPU work: off the actors' thread.
                let order =
                    tokio::task::spawn_blocking(move || shuffle_order(&seed, members)).await?;
                let placed = self.store.apply_shuffle(event, order).await?;
                tracing::info!(event.id = %event, placed, "sale open: early arrivals shuffled");
            }
            return Ok(());
        }

        let rate = f64::from(config.admission_rate_per_sec.max(1));
        let elapsed = bucket.last.map_or(0.0, |at| at.elapsed().as_secs_f64());
        bucket.last = Some(Instant::now());
        // Up to a second's worth carries over (a late tick loses nothing);
        // slots are never banked while nobody waits (see below), so no burst
        // builds up.
        bucket.tokens = (bucket.tokens + rate * elapsed).min(rate.max(1.0));

        let available = self.registry.availability(event).await;
        let sold_out = available == Some(0);
        if !sold_out && bucket.tokens >= 1.0 {
            let n = bucket.tokens.floor() as u64;
            let expires = (now + chrono::Duration::seconds(self.settings.token_ttl_seconds as i64))
                .timestamp();
            let admitted = self
                .store
                .admit(event, n, self.settings.grace_seconds as i64 * 1000, expires)
                .await?;
            let count = admitted.len() as u64;
            bucket.tokens -= count as f64;
            if count < n {
                // Nobody (live) left to admit: do not bank the slots.
                bucket.tokens = bucket.tokens.min(1.0);
            }
            if count > 0 {
                bucket.recent.push_back((Instant::now(), count));
                metrics::counter!("boxoffice_queue_admitted_total").increment(count);
            }
        }
        while bucket
            .recent
            .front()
            .is_some_and(|(at, _)| at.elapsed() > Duration::from_secs(10))
        {
            bucket.recent.pop_front();
        }
        if bucket
            .flags_written
            .is_none_or(|at| at.elapsed() >= Duration::from_millis(500))
        {
            let window = bucket
                .recent
                .front()
                .map_or(0.0, |(at, _)| at.elapsed().as_secs_f64())
                .max(1.0);
            let drain = bucket.recent.iter().map(|(_, n)| *n).sum::<u64>() as f64 / window;
            self.store.set_flags(event, sold_out, drain).await?;
            bucket.flags_written = Some(Instant::now());
            metrics::gauge!("boxoffice_queue_rate_configured", "event" => event.to_string())
                .set(rate);
            metrics::gauge!("boxoffice_queue_rate_measured", "event" => event.to_string())
                .set(drain);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shuffle_is_a_pure_function_of_the_seed() {
        let members: Vec<String> = (1..=50).map(|i| i.to_string()).collect();
        let a = shuffle_order("seed-a", members.clone());
        assert_eq!(
            a,
            shuffle_order("seed-a", members.iter().rev().cloned().collect())
        );
        assert_ne!(a, shuffle_order("seed-b", members.clone()));
        assert_ne!(a, members, "arrival order must not survive");
    }
}
