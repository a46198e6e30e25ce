//! The operator's live dashboard: per event, one sampler per node that reads
//! the event's counters once a second and fans the result out to every
//! operator watching.
//!
//! **Owns** per watched event a [`Board`]: the last [`KEEP`] points (waiting,
//! admitted, holds, sales, revenue and their rates per second), oldest first,
//! and the latest seats by section. The sampler is the only writer.
//!
//! **Cost.** A tick reads the waiting room's progress (one Redis round trip)
//! and two aggregate queries (`store::dashboard`): once a second per event per
//! node, whether one operator watches or fifty. Rates are differences of
//! running totals between two ticks, so nothing is counted per request.
//!
//! **Consistency.** The sampler appends a point and publishes it under the
//! board's lock; a subscriber takes its snapshot and marks the published
//! point as seen under the same lock, so its snapshot then samples follow on
//! with no gap and no duplicate.
//!
//! **Stopping.** A board nobody has watched for [`IDLE_TICKS`] ticks leaves
//! the map and its sampler ends. Leaving is decided inside the map's entry
//! lock, the same lock a subscriber holds to join: a subscriber either joined
//! first (the board stays) or finds no board and starts a fresh one.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use actors::model::EventId;
use chrono::{DateTime, Utc};
use dashmap::DashMap;
use serde::Serialize;
use sqlx::PgPool;
use tokio::sync::watch;
use utoipa::ToSchema;

use crate::store::dashboard::{self, SalesTotals, SectionSeats};
use crate::store::waiting_room::QueueStore;

/// How many points a board keeps: five minutes at one a second.
pub const KEEP: usize = 300;
/// Ticks without a subscriber before a board stops.
const IDLE_TICKS: u32 = 5;

/// One tick's reading of an event.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = DashboardPoint)]
pub struct Point {
    pub at: DateTime<Utc>,
    /// Buyers in the waiting room (0 without one, `null` when Redis cannot say).
    #[schema(required = true)]
    pub waiting: Option<u64>,
    #[schema(required = true)]
    pub admitted_total: Option<u64>,
    pub holds_total: i64,
    pub sales_total: i64,
    pub revenue_cents: i64,
    /// Per second since the previous point (`null` on a board's first point).
    #[schema(required = true)]
    pub admitted_per_sec: Option<f64>,
    #[schema(required = true)]
    pub holds_per_sec: Option<f64>,
    #[schema(required = true)]
    pub sales_per_sec: Option<f64>,
}

/// The `snapshot` message: the last minutes of points, oldest first, and
/// the seats by section.
#[derive(Serialize, ToSchema)]
pub struct DashboardSnapshot<'a> {
    event_id: EventId,
    /// Milliseconds between points.
    interval_ms: u64,
    #[schema(value_type = Vec<Point>)]
    points: &'a VecDeque<Point>,
    seats: &'a [SectionSeats],
}

/// A `sample` message: the newest point and the seats by section.
#[derive(Serialize, ToSchema)]
pub struct DashboardSample<'a> {
    #[serde(flatten)]
    point: &'a Point,
    seats: &'a [SectionSeats],
}

/// A message for a subscriber: `snapshot` first, then one `sample` a tick.
#[derive(Debug, Clone)]
pub struct Message {
    pub name: &'static str,
    pub body: serde_json::Value,
}

struct Board {
    /// std Mutex: held only to copy or push, never across an `.await`.
    state: Mutex<BoardState>,
    /// The latest point and seats; subscribers wait on it.
    latest: watch::Sender<Option<Arc<Sample>>>,
}

#[derive(Default)]
struct BoardState {
    points: VecDeque<Point>,
    seats: Arc<Vec<SectionSeats>>,
}

#[derive(Debug)]
struct Sample {
    point: Point,
    seats: Arc<Vec<SectionSeats>>,
}

/// Every board of this node.
pub struct Dashboards {
    pool: PgPool,
    queue: QueueStore,
    every: Duration,
    boards: DashMap<EventId, Arc<Board>>,
}

impl Dashboards {
    pub fn new(pool: PgPool, queue: QueueStore, every: Duration) -> Self {
        Self {
            pool,
            queue,
            every,
            boards: DashMap::new(),
        }
    }

    /// Watches `event`'s board, starting it (and its sampler) when nobody
    /// watched it yet. Call it on an actix (or tokio) runtime.
    pub fn subscribe(self: &Arc<Self>, event: EventId) -> Subscription {
        let mut started = None;
        let subscription = {
            let entry = self.boards.entry(event).or_insert_with(|| {
                let board = Arc::new(Board {
                    state: Mutex::new(BoardState::default()),
                    latest: watch::channel(None).0,
                });
                started = Some(board.clone());
                board
            });
            Subscription {
                event,
                interval_ms: self.every.as_millis() as u64,
                board: entry.value().clone(),
                updates: entry.value().latest.subscribe(),
                started: false,
            }
        };
        if let Some(board) = started {
            let this = self.clone();
            actix::spawn(async move { this.sample(event, board).await });
        }
        subscription
    }

    /// The sampler of one board: a point every tick while anyone watches.
    async fn sample(self: Arc<Self>, event: EventId, board: Arc<Board>) {
        let mut tick = tokio::time::interval(self.every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut idle = 0;
        let mut previous: Option<Point> = None;
        loop {
            tick.tick().await;
            if board.latest.receiver_count() == 0 {
                idle += 1;
                if idle >= IDLE_TICKS
                    && self
                        .boards
                        .remove_if(&event, |_, b| {
                            Arc::ptr_eq(b, &board) && b.latest.receiver_count() == 0
                        })
                        .is_some()
                {
                    tracing::debug!(event.id = %event, "dashboard board stopped");
                    return;
                }
                continue;
            }
            idle = 0;
            let (totals, seats) = match self.read(event).await {
                Ok(read) => read,
                Err(error) => {
                    tracing::warn!(event.id = %event, error = %error, "dashboard sample failed");
                    continue;
                }
            };
            let progress = self.queue.progress(event).await.ok();
            let point = point(
                Utc::now(),
                totals,
                progress.map(|p| (p.waiting, p.admitted_total)),
                previous.as_ref(),
            );
            previous = Some(point.clone());
            let seats = Arc::new(seats);
            let mut state = board.state.lock().unwrap_or_else(PoisonError::into_inner);
            if state.points.len() == KEEP {
                state.points.pop_front();
            }
            state.points.push_back(point.clone());
            state.seats = seats.clone();
            board
                .latest
                .send_replace(Some(Arc::new(Sample { point, seats })));
        }
    }

    async fn read(&self, event: EventId) -> sqlx::Result<(SalesTotals, Vec<SectionSeats>)> {
        let totals = dashboard::sales_totals(&self.pool, event).await?;
        let seats = dashboard::seats_by_section(&self.pool, event).await?;
        Ok((totals, seats))
    }
}

/// A point from this tick's totals and the previous point.
fn point(
    at: DateTime<Utc>,
    totals: SalesTotals,
    queue: Option<(u64, u64)>,
    previous: Option<&Point>,
) -> Point {
    let seconds = previous
        .map(|p| (at - p.at).num_milliseconds() as f64 / 1000.0)
        .filter(|s| *s > 0.0);
    let rate = |now: f64, before: Option<f64>| -> Option<f64> {
        let (seconds, before) = (seconds?, before?);
        Some(((now - before) / seconds).max(0.0))
    };
    let admitted_total = queue.map(|(_, admitted)| admitted);
    Point {
        at,
        waiting: queue.map(|(waiting, _)| waiting),
        admitted_total,
        holds_total: totals.holds,
        sales_total: totals.sales,
        revenue_cents: totals.revenue_cents,
        admitted_per_sec: admitted_total.and_then(|now| {
            rate(
                now as f64,
                previous.and_then(|p| p.admitted_total).map(|a| a as f64),
            )
        }),
        holds_per_sec: rate(totals.holds as f64, previous.map(|p| p.holds_total as f64)),
        sales_per_sec: rate(totals.sales as f64, previous.map(|p| p.sales_total as f64)),
    }
}

/// One operator's view of a board.
pub struct Subscription {
    event: EventId,
    interval_ms: u64,
    board: Arc<Board>,
    updates: watch::Receiver<Option<Arc<Sample>>>,
    started: bool,
}

impl Subscription {
    /// The next message: the snapshot (once the board has a point), then
    /// each new sample. `None` when the board is gone.
    pub async fn next(&mut self) -> Option<Message> {
        if !self.started {
            loop {
                if let Some(snapshot) = self.snapshot() {
                    self.started = true;
                    return Some(snapshot);
                }
                self.updates.changed().await.ok()?;
            }
        }
        self.updates.changed().await.ok()?;
        let sample = self.updates.borrow_and_update().clone()?;
        let body = serde_json::to_value(DashboardSample {
            point: &sample.point,
            seats: &sample.seats,
        })
        .ok()?;
        Some(Message {
            name: "sample",
            body,
        })
    }

    fn snapshot(&mut self) -> Option<Message> {
        let state = self
            .board
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if state.points.is_empty() {
            return None;
        }
        // Seen under the lock the sampler publishes under: the next sample
        // this subscriber gets is the one after the snapshot's last point.
        self.updates.borrow_and_update();
        let body = serde_json::to_value(DashboardSnapshot {
            event_id: self.event,
            interval_ms: self.interval_ms,
            points: &state.points,
            seats: &state.seats,
        })
        .ok()?;
        Some(Message {
            name: "snapshot",
            body,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn totals(holds: i64, sales: i64) -> SalesTotals {
        SalesTotals {
            holds,
            sales,
            revenue_cents: sales * 1000,
        }
    }

    #[test]
    fn rates_are_differences_per_second_and_unknown_on_the_first_point() {
        let t0 = Utc::now();
        let first = point(t0, totals(10, 2), Some((100, 40)), None);
        assert_eq!(first.holds_per_sec, None);
        assert_eq!(first.admitted_per_sec, None);
        let second = point(
            t0 + chrono::Duration::milliseconds(2000),
            totals(16, 3),
            Some((90, 50)),
            Some(&first),
        );
        assert_eq!(second.holds_per_sec, Some(3.0));
        assert_eq!(second.sales_per_sec, Some(0.5));
        assert_eq!(second.admitted_per_sec, Some(5.0));
        assert_eq!(second.waiting, Some(90));
        assert_eq!(second.revenue_cents, 3000);
    }

    #[test]
    fn a_total_that_went_down_is_a_rate_of_zero_and_no_queue_reading_is_unknown() {
        let t0 = Utc::now();
        let first = point(t0, totals(10, 2), Some((0, 40)), None);
        let second = point(
            t0 + chrono::Duration::seconds(1),
            totals(10, 2),
            None,
            Some(&first),
        );
        assert_eq!(second.admitted_per_sec, None);
        assert_eq!(second.waiting, None);
        let reset = point(
            t0 + chrono::Duration::seconds(1),
            totals(10, 2),
            Some((0, 0)),
            Some(&first),
        );
        assert_eq!(reset.admitted_per_sec, Some(0.0));
    }
}
