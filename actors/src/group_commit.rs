//! One hold batch through both layers: Redis seat locks (one pipeline),
//! then one PostgreSQL transaction; the stale-lock check between them.
//!
//! Never fails as a whole: each plan gets its own outcome. A Redis "no" for
//! seats memory says are free, while memory is as current as the latest
//! committed version, is a stale lock (a crash between lock and commit, a
//! failed unlock, a failover): the plan goes to PostgreSQL anyway, whose
//! guards decide, and a hold it commits overwrites the stale lock.

use std::time::{Duration, Instant};

use crate::event_actor::{Ports, ReserveError};
use crate::model::{EventId, SeatId};
use crate::ports::{HoldOutcome, HoldPlan, SeatDelta};

/// A fresh random lock token (128 bits, hex): unguessable, so no other
/// request can delete this one's locks.
pub(crate) fn lock_token() -> String {
    format!("{:032x}", rand::random::<u128>())
}

pub(crate) struct BatchInput {
    pub(crate) plans: Vec<HoldPlan>,
    /// Per plan: memory said its seats are free (not a memory refusal sent
    /// to PostgreSQL).
    pub(crate) memory_free: Vec<bool>,
    /// The version memory was at when the batch was selected.
    pub(crate) memory_version: i64,
    /// Published versions up to this one PostgreSQL has disowned.
    pub(crate) acknowledged_latest: i64,
}

pub(crate) struct BatchResult {
    /// One per plan, in order.
    pub(crate) outcomes: Vec<Result<HoldOutcome, ReserveError>>,
    pub(crate) deltas: Vec<SeatDelta>,
}

/// Whether memory, at `memory_version`, is as current as the latest version
/// anyone committed: Redis's published version, PostgreSQL's when Redis
/// cannot say.
async fn memory_is_current(ports: &Ports, event_id: EventId, input: &BatchInput) -> bool {
    let latest = match ports.bus.latest_version(event_id).await {
        Some(published) if published > input.acknowledged_latest => Some(published),
        _ => ports.ledger.committed_version(event_id).await.ok(),
    };
    latest.is_some_and(|latest| latest <= input.memory_version)
}

/// Locks in Redis, commits in PostgreSQL, cleans up locks of the losers,
/// publishes the delta. Never fails as a whole: each plan gets its outcome.
pub(crate) async fn run_batch(
    ports: Ports,
    event_id: EventId,
    input: BatchInput,
    hold_for: Duration,
) -> BatchResult {
    let plans = &input.plans;
    metrics::histogram!("boxoffice_batch_size").record(plans.len() as f64);

    // Layer 1: Redis seat locks, one pipeline for the batch.
    let claims: Vec<(&str, &[SeatId])> = plans
        .iter()
        .map(|p| (p.lock_token.as_str(), p.seats.as_slice()))
        .collect();
    let locked = match ports.lock.acquire(event_id, &claims, hold_for).await {
        Ok(locked) => locked,
        Err(error) => {
            tracing::warn!(event.id = %event_id, %error, "seat locks skipped; PostgreSQL decides alone");
            metrics::counter!("boxoffice_lock_layer_skipped_total").increment(1);
            vec![true; plans.len()]
        }
    };
    let lock_held: Vec<bool> = (0..plans.len())
        .map(|i| locked.get(i).copied().unwrap_or(true))
        .collect();
    // A Redis "no" for seats memory says are free, while memory is as current
    // as the latest committed version, is a stale lock (a crash between lock
    // and commit, a failed unlock, a failover): PostgreSQL decides instead.
    let denied_but_free = (0..plans.len()).any(|i| !lock_held[i] && input.memory_free[i]);
    let stale_locks = denied_but_free && memory_is_current(&ports, event_id, &input).await;
    let mut outcomes: Vec<Option<Result<HoldOutcome, ReserveError>>> = vec![None; plans.len()];
    let mut to_commit = Vec::new();
    let mut commit_index = Vec::new();
    for (i, plan) in plans.iter().enumerate() {
        if lock_held[i] || (stale_locks && input.memory_free[i]) {
            to_commit.push(plan.clone());
            commit_index.push(i);
        } else {
            outcomes[i] = Some(Ok(HoldOutcome::Taken {
                seats: plan.seats.clone(),
            }));
        }
    }

    // Layer 2: PostgreSQL, one transaction for the batch.
    let mut deltas = Vec::new();
    let mut unlock: Vec<usize> = Vec::new();
    let mut take_over: Vec<usize> = Vec::new();
    if !to_commit.is_empty() {
        let started = Instant::now();
        let committed = ports.ledger.hold(event_id, &to_commit, hold_for).await;
        metrics::histogram!("boxoffice_postgres_batch_seconds")
            .record(started.elapsed().as_secs_f64());
        match committed {
            Ok(committed) => {
                for (outcome, &i) in committed.outcome.into_iter().zip(&commit_index) {
                    match (&outcome, lock_held[i]) {
                        (HoldOutcome::Held { .. }, false) => take_over.push(i),
                        (HoldOutcome::Held { .. }, true) => {}
                        (_, true) => unlock.push(i),
                        (_, false) => {}
                    }
                    outcomes[i] = Some(Ok(outcome));
                }
                deltas = committed.deltas;
            }
            Err(error) => {
                tracing::error!(event.id = %event_id, %error, "hold batch failed");
                for &i in &commit_index {
                    outcomes[i] = Some(Err(ReserveError::Unavailable(error.to_string())));
                    if lock_held[i] {
                        unlock.push(i);
                    }
                }
            }
        }
    }
    if !unlock.is_empty() {
        let claims: Vec<(&str, &[SeatId])> = unlock
            .iter()
            .map(|&i| (plans[i].lock_token.as_str(), plans[i].seats.as_slice()))
            .collect();
        if let Err(error) = ports.lock.release(event_id, &claims).await {
            tracing::debug!(%error, "seat locks of refused holds left to expire");
        }
    }
    if !take_over.is_empty() {
        metrics::counter!("boxoffice_stale_locks_overridden_total")
            .increment(take_over.len() as u64);
        tracing::warn!(event.id = %event_id, holds = take_over.len(), "stale seat locks overridden by PostgreSQL");
        let claims: Vec<(&str, &[SeatId])> = take_over
            .iter()
            .map(|&i| (plans[i].lock_token.as_str(), plans[i].seats.as_slice()))
            .collect();
        if let Err(error) = ports.lock.overwrite(event_id, &claims, hold_for).await {
            tracing::debug!(%error, "stale seat locks left to expire");
        }
    }
    for delta in &deltas {
        ports.bus.publish(delta).await;
    }
    let outcomes = outcomes
        .into_iter()
        .map(|o| o.unwrap_or_else(|| Err(ReserveError::Unavailable("no outcome".into()))))
        .collect();
    BatchResult { outcomes, deltas }
}
