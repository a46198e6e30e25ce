//! The admission driver: on every node, for every event whose waiting room is
//! on, it competes for the event's Redis lease; the holder admits waiters at
//! the operator's rate with a token bucket. Exactly one node admits per event
//! at a time, so adding nodes never multiplies the rate; if the holder dies its
//! lease lapses and another node takes over within `lease_ms`.
//!
//! Each tick (`tick_ms`): refresh the settings from PostgreSQL (at most once a
//! second, so a rate change applies within a second and survives restarts;
//! a pause applies at once, through the settings the operator's request
//! wrote to Redis, which the admission step reads),
//! renew or take leases, run the on-sale shuffle once, pause while no seat is
//! left or the operator set the rate to 0, and admit `floor(tokens)` live
//! waiters. The bucket holds one tick's worth (plus the carried fraction of
//! an admission) and accrues nothing while nobody may be admitted (see
//! `Bucket`); the Redis `ADMIT` step itself checks that this node still
//! holds the lease, so an old holder that has not yet noticed its lease
//! lapsed admits nobody.
//!
//! A draining node (SIGTERM) stops ticking and hands its leases back at once;
//! nodes without a lease try for it every `RETRY_FREE_LEASE`, so admission
//! moves within a second instead of after `lease_ms`.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actors::model::EventId;
use actors::registry::Registry;
use chrono::Utc;
use sha2::{Digest, Sha256};
use sqlx::PgPool;

use crate::config::QueueSettings;
use crate::drain::Drain;
use crate::store::catalog::{self, WaitingRoomConfig};
use crate::store::waiting_room::{Admission, QueueStore};

pub struct AdmissionDriver {
    pub store: QueueStore,
    pub pool: PgPool,
    pub registry: Arc<Registry>,
    pub node_id: String,
    pub settings: QueueSettings,
    pub drain: Drain,
}

/// How often a node without the lease tries to take it (a holder renews
/// every `lease_ms / 3`): a lease handed back by a draining node is taken
/// within this long.
const RETRY_FREE_LEASE: Duration = Duration::from_millis(250);

/// The event's admission state on this node.
///
/// The token bucket holds at most one tick's worth plus the fraction of one
/// admission carried between ticks (`rate × tick + 1`), so however ticks are
/// spaced, admissions over any window never exceed `rate × window` by more
/// than that. (Without the carried fraction, a tick that comes a millisecond
/// early or late would lose slots: at 10/s, ticks of 100 ms admitted 6/s.)
/// Nothing accrues while nobody may be admitted (lease elsewhere, before the
/// sale, during the draw, sold out, paused): each such tick empties the
/// bucket.
#[derive(Default)]
struct Bucket {
    tokens: f64,
    /// When tokens last accrued; `None` after a tick without the lease, so a
    /// new holder's first tick accrues nothing (the old holder may have
    /// admitted a full tick's worth just before its lease lapsed).
    last: Option<Instant>,
    lease_checked: Option<Instant>,
    held: bool,
    /// Admissions of the last ten seconds, for the measured drain rate.
    recent: VecDeque<(Instant, u64)>,
    flags_written: Option<Instant>,
}

impl Bucket {
    /// A tick that admits nobody: nothing carries over to the next.
    fn idle(&mut self) {
        self.tokens = 0.0;
        self.last = Some(Instant::now());
    }

    /// Not the lease holder (any more).
    fn let_go(&mut self) {
        self.held = false;
        self.tokens = 0.0;
        self.last = None;
    }

    /// Accrues `rate` per second since the last tick, up to `burst`.
    fn refill(&mut self, rate: f64, burst: f64, now: Instant) {
        let elapsed = self
            .last
            .map_or(0.0, |at| now.saturating_duration_since(at).as_secs_f64());
        self.last = Some(now);
        self.tokens = (self.tokens + rate * elapsed).min(burst);
    }
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
        let mut configs: Vec<WaitingRoomConfig> = Vec::new();
        let mut configs_read: Option<Instant> = None;
        let mut buckets: HashMap<EventId, Bucket> = HashMap::new();
        let drained = self.drain.started();
        tokio::pin!(drained);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = &mut drained => break,
            }
            if configs_read.is_none_or(|at| at.elapsed() >= Duration::from_secs(1)) {
                match catalog::waiting_rooms(&self.pool).await {
                    Ok(fresh) => {
                        buckets.retain(|event, _| fresh.iter().any(|c| c.event_id == *event));
                        configs = fresh;
                        configs_read = Some(Instant::now());
                        self.publish_settings(&configs).await;
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
        self.hand_back(&buckets).await;
    }

    /// Writes the settings just read to Redis, where admission and waiters
    /// read the pause. The operator's request wrote them first; this puts
    /// them back after Redis lost them, and an older read than Redis's
    /// changes nothing (`QueueStore::publish_settings`).
    async fn publish_settings(&self, configs: &[WaitingRoomConfig]) {
        for config in configs {
            let published = self
                .store
                .publish_settings(
                    config.event_id,
                    config.settings_version,
                    config.admission_rate_per_sec,
                )
                .await;
            match published {
                Ok(true) => {
                    tracing::info!(event.id = %config.event_id, version = config.settings_version, "waiting room settings restored in Redis")
                }
                Ok(false) => {}
                Err(error) => {
                    tracing::debug!(event.id = %config.event_id, %error, "waiting room settings not written")
                }
            }
        }
    }

    /// Draining: gives back every lease this node holds, so another node
    /// admits within `RETRY_FREE_LEASE` rather than after `lease_ms`.
    async fn hand_back(&self, buckets: &HashMap<EventId, Bucket>) {
        for (event, bucket) in buckets {
            if !bucket.held {
                continue;
            }
            match self.store.release_lease(*event, &self.node_id).await {
                Ok(released) => {
                    tracing::info!(event.id = %event, node.id = %self.node_id, released, "admission lease handed back")
                }
                Err(error) => {
                    tracing::warn!(event.id = %event, %error, "admission lease not handed back: it lapses")
                }
            }
            metrics::gauge!("boxoffice_queue_lease_held", "event" => event.to_string()).set(0.0);
        }
    }

    async fn tick_event(
        &self,
        config: &WaitingRoomConfig,
        bucket: &mut Bucket,
    ) -> anyhow::Result<()> {
        let event = config.event_id;
        let renew_every = if bucket.held {
            Duration::from_millis(self.settings.lease_ms / 3)
        } else {
            RETRY_FREE_LEASE.min(Duration::from_millis(self.settings.lease_ms / 3))
        };
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
            if !held {
                bucket.let_go();
            }
            bucket.held = held;
            bucket.lease_checked = Some(Instant::now());
            metrics::gauge!("boxoffice_queue_lease_held", "event" => event.to_string())
                .set(if held { 1.0 } else { 0.0 });
        }
        if !bucket.held {
            bucket.let_go();
            return Ok(());
        }
        // Rate 0: the operator paused admission; waiters keep their places.
        // (Read here once a second; the Redis admission step itself follows
        // the operator's pause from the moment it was answered.)
        let paused = config.admission_rate_per_sec <= 0;
        let rate = f64::from(config.admission_rate_per_sec.max(0));
        let now = Utc::now();
        if config.onsale_at.is_some_and(|at| at > now) {
            bucket.idle();
            return self.write_flags(event, bucket, false, rate).await;
        }
        if config.onsale_at.is_some() && !self.store.shuffled(event).await? {
            // Nobody is admitted before the draw is complete.
            bucket.idle();
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

        let available = self.registry.availability(event).await;
        let sold_out = available == Some(0);
        if sold_out || paused {
            bucket.idle();
        } else {
            let tick = Duration::from_millis(self.settings.tick_ms).as_secs_f64();
            let burst = rate * tick + 1.0;
            // The tick's instant, and the same instant on the wall clock for
            // the admissions log.
            let (at, at_ms) = (Instant::now(), Utc::now().timestamp_millis());
            bucket.refill(rate, burst, at);
            if bucket.tokens >= 1.0 {
                let n = bucket.tokens.floor() as u64;
                let expires = (now
                    + chrono::Duration::seconds(self.settings.token_ttl_seconds as i64))
                .timestamp();
                let admission = Admission {
                    n,
                    at_ms,
                    grace_ms: self.settings.grace_seconds as i64 * 1000,
                    expires,
                };
                let Some(admitted) = self.store.admit(event, &self.node_id, admission).await?
                else {
                    // The lease lapsed and another node took it: it admits now.
                    tracing::info!(event.id = %event, node.id = %self.node_id, "admission lease lost");
                    bucket.let_go();
                    bucket.lease_checked = None;
                    return Ok(());
                };
                let count = admitted.len() as u64;
                bucket.tokens -= count as f64;
                if count > 0 {
                    bucket.recent.push_back((Instant::now(), count));
                    metrics::counter!("boxoffice_queue_admitted_total").increment(count);
                }
            }
        }
        self.write_flags(event, bucket, sold_out, rate).await
    }

    /// Every half second, the flags waiters read: sold out, and the
    /// measured drain rate (admissions of the last ten seconds).
    async fn write_flags(
        &self,
        event: EventId,
        bucket: &mut Bucket,
        sold_out: bool,
        rate: f64,
    ) -> anyhow::Result<()> {
        while bucket
            .recent
            .front()
            .is_some_and(|(at, _)| at.elapsed() > Duration::from_secs(10))
        {
            bucket.recent.pop_front();
        }
        if bucket
            .flags_written
            .is_some_and(|at| at.elapsed() < Duration::from_millis(500))
        {
            return Ok(());
        }
        let window = bucket
            .recent
            .front()
            .map_or(0.0, |(at, _)| at.elapsed().as_secs_f64())
            .max(1.0);
        let drain = bucket.recent.iter().map(|(_, n)| *n).sum::<u64>() as f64 / window;
        self.store.set_flags(event, sold_out, drain).await?;
        bucket.flags_written = Some(Instant::now());
        metrics::gauge!("boxoffice_queue_rate_configured", "event" => event.to_string()).set(rate);
        metrics::gauge!("boxoffice_queue_rate_measured", "event" => event.to_string()).set(drain);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bucket_holds_at_most_its_burst_however_late_the_tick() {
        let start = Instant::now();
        let mut bucket = Bucket {
            last: Some(start),
            ..Bucket::default()
        };
        // 100/s, ticks of 100 ms: ten a tick, plus the carried fraction.
        bucket.refill(100.0, 11.0, start + Duration::from_millis(100));
        assert!((bucket.tokens - 10.0).abs() < 1e-9, "{}", bucket.tokens);
        bucket.tokens = 0.5;
        bucket.refill(100.0, 11.0, start + Duration::from_secs(5));
        assert_eq!(
            bucket.tokens, 11.0,
            "a late tick brings no more than the burst"
        );
    }

    #[test]
    fn nothing_accrues_across_idle_ticks_and_a_new_lease_starts_empty() {
        let start = Instant::now();
        let mut bucket = Bucket {
            tokens: 7.0,
            last: Some(start - Duration::from_secs(3)),
            held: true,
            ..Bucket::default()
        };
        bucket.idle(); // sold out, paused, before the sale, drawing
        assert_eq!(bucket.tokens, 0.0);
        let idle_at = bucket.last.unwrap();
        bucket.refill(100.0, 11.0, idle_at + Duration::from_millis(100));
        assert!(
            (bucket.tokens - 10.0).abs() < 1e-9,
            "one tick's worth after an idle tick"
        );

        bucket.let_go();
        assert!(!bucket.held);
        bucket.refill(100.0, 11.0, Instant::now() + Duration::from_secs(60));
        assert_eq!(
            bucket.tokens, 0.0,
            "a new holder's first tick admits nobody"
        );
    }

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
