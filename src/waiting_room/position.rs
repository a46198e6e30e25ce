//! What a waiter is told: the standing bodies of `GET /events/{id}/queue`,
//! the ETA maths, and the position stream's loop (the HTTP layer only turns
//! its messages into server-sent events).

use std::sync::Arc;
use std::time::{Duration, Instant};

use actors::model::{EventId, UserId};
use chrono::{DateTime, TimeZone, Utc};
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use utoipa::ToSchema;

use crate::auth::Signer;
use crate::store::catalog::{EventGate, EventGates};
use crate::store::waiting_room::{Progress, QueueStore, Standing};
use crate::waiting_room::token;
use crate::waiting_room::watch::ProgressWatch;

/// Whether the sale has opened (positions are drawn then).
fn open(gate: &EventGate) -> bool {
    gate.onsale_at.is_none_or(|at| at <= Utc::now())
}

/// Seconds until `position` is admitted: at the measured drain rate, or the
/// operator's rate while too little was measured.
pub fn eta(position: u64, progress: &Progress, gate: &EventGate) -> u64 {
    let rate = if progress.drain_per_sec > 0.5 {
        progress.drain_per_sec
    } else {
        f64::from(gate.admission_rate_per_sec.max(1))
    };
    (position as f64 / rate).ceil() as u64
}

/// Where a waiter stands: admitted (with the queue token), in line (with
/// a position once the sale has opened), or not in the queue.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct QueueStanding {
    in_queue: bool,
    admitted: bool,
    /// 1 at the front; 0 once admitted; `null` before the sale opens (the
    /// order is drawn then) or when not in the queue.
    #[schema(required = true)]
    position: Option<u64>,
    /// Seconds until admitted; `null` while sold out, paused, before the
    /// sale opens, or when not in the queue.
    #[schema(required = true)]
    eta_seconds: Option<u64>,
    /// Once admitted: send it as `X-Queue-Token` with `POST /bookings`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    queue_token: Option<String>,
    /// Once admitted: when the queue token stops working.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    expires_at: Option<DateTime<Utc>>,
    /// While in line: no seat is left to sell (admission stops).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    sold_out: Option<bool>,
    /// While in line: the operator paused admission (the place is kept).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    paused: Option<bool>,
    /// While in line before the sale opens: when it opens.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    sale_opens_at: Option<DateTime<Utc>>,
    /// Joining only: `<event_id>-<arrival number>`, for support.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub queue_id: Option<String>,
}

impl QueueStanding {
    fn new(in_queue: bool, admitted: bool) -> QueueStanding {
        QueueStanding {
            in_queue,
            admitted,
            position: None,
            eta_seconds: None,
            queue_token: None,
            expires_at: None,
            sold_out: None,
            paused: None,
            sale_opens_at: None,
            queue_id: None,
        }
    }

    /// The standing as a stream message's body.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}

fn admitted_body(signer: &Signer, event: EventId, user: UserId, expires: i64) -> QueueStanding {
    let expires_at = Utc
        .timestamp_opt(expires, 0)
        .single()
        .unwrap_or_else(Utc::now);
    QueueStanding {
        queue_token: Some(token::sign(signer, event, user, expires_at)),
        expires_at: Some(expires_at),
        position: Some(0),
        eta_seconds: Some(0),
        ..QueueStanding::new(false, true)
    }
}

/// What `GET /events/{id}/queue` answers for a standing.
pub fn standing_body(
    signer: &Signer,
    event: EventId,
    user: UserId,
    standing: &Standing,
    progress: &Progress,
    gate: &EventGate,
) -> QueueStanding {
    match standing {
        Standing::Admitted { expires } => admitted_body(signer, event, user, *expires),
        Standing::Waiting { position, .. } if open(gate) => QueueStanding {
            position: Some(*position),
            // Admission stops while nothing is left or the operator paused
            // it: no countdown then.
            eta_seconds: (!progress.sold_out && !progress.paused)
                .then(|| eta(*position, progress, gate)),
            sold_out: Some(progress.sold_out),
            paused: Some(progress.paused),
            ..QueueStanding::new(true, false)
        },
        // Before the sale opens the order is not yet drawn.
        Standing::Waiting { .. } => QueueStanding {
            sale_opens_at: gate.onsale_at,
            sold_out: Some(false),
            paused: Some(progress.paused),
            ..QueueStanding::new(true, false)
        },
        Standing::NotInQueue => QueueStanding::new(false, false),
    }
}

/// One message of the position stream: its event name and JSON body.
#[derive(Debug, Clone)]
pub struct Message {
    pub name: &'static str,
    pub body: Value,
}

/// The progress a stream shows next: the watcher's latest, unless the one
/// already shown came from a read begun later. A watcher read in flight when
/// the stream read for itself on connect answers after it with older news;
/// showing it would flip `paused` or `sold_out` back for half a second.
fn fresher(shown: Option<Progress>, latest: Progress) -> Progress {
    match shown {
        Some(shown) if shown.read_started > latest.read_started => shown,
        _ => latest,
    }
}

fn message(name: &'static str, body: Value) -> Message {
    Message { name, body }
}

/// One waiter's position stream, from the standing read on connect.
pub struct PositionStream {
    pub store: Arc<QueueStore>,
    pub gates: Arc<EventGates>,
    pub signer: Arc<Signer>,
    pub event: EventId,
    pub user: UserId,
    /// The event's gate when the stream opened; re-read at every re-anchor.
    pub gate: EventGate,
    /// The exact standing read on connect (waiting or admitted).
    pub first: Standing,
    /// The event's progress, shared with every stream on the node.
    pub progress: ProgressWatch,
    /// A progress read taken on connect, for the first message: a watch
    /// started just now holds no reading yet.
    pub first_read: Option<Progress>,
}

impl PositionStream {
    /// Sends positions at least every two seconds (`paused: true` and no ETA
    /// while the operator has paused admission), `sold_out` while nothing is
    /// left, then one `admitted` message with the queue token, or `closed`
    /// when the operator turns the waiting room off. Between exact reads it
    /// estimates the position from the line's watermark, re-anchoring at the
    /// front or every five seconds. Ends when `tx`'s receiver is gone.
    pub async fn run(self, tx: mpsc::Sender<Message>) {
        let PositionStream {
            store,
            gates,
            signer,
            event,
            user,
            mut gate,
            first,
            progress: mut progress_rx,
            mut first_read,
        } = self;
        metrics::gauge!("boxoffice_queue_stream_subscribers").increment(1.0);
        let mut standing = first;
        let mut sent_sold_out = false;
        let mut shown: Option<Progress> = None;
        'stream: loop {
            let (position, removed) = match standing {
                Standing::Admitted { expires } => {
                    if sent_sold_out {
                        let _ = tx
                            .send(message("sold_out", json!({ "sold_out": false })))
                            .await;
                    }
                    let _ = tx
                        .send(message(
                            "admitted",
                            admitted_body(&signer, event, user, expires).to_json(),
                        ))
                        .await;
                    break;
                }
                Standing::NotInQueue => break,
                Standing::Waiting { position, removed } => (position, removed),
            };
            let anchored = Instant::now();
            loop {
                let latest = match first_read.take() {
                    Some(read) if !progress_rx.has_changed() => read,
                    _ => progress_rx.borrow_and_update().clone(),
                };
                let progress = fresher(shown.take(), latest);
                shown = Some(progress.clone());
                // Everyone removed since the anchor left from the front of the line.
                let estimate = position
                    .saturating_sub(progress.removed.saturating_sub(removed))
                    .max(1);
                if progress.sold_out != sent_sold_out {
                    sent_sold_out = progress.sold_out;
                    let _ = tx
                        .send(message(
                            "sold_out",
                            json!({ "sold_out": progress.sold_out }),
                        ))
                        .await;
                }
                let waiting = Standing::Waiting {
                    position: estimate,
                    removed,
                };
                let body = standing_body(&signer, event, user, &waiting, &progress, &gate);
                if tx.send(message("position", body.to_json())).await.is_err() {
                    break 'stream; // the client went away
                }
                let _ = tokio::time::timeout(Duration::from_secs(2), progress_rx.changed()).await;
                if estimate <= 1 || anchored.elapsed() > Duration::from_secs(5) {
                    break;
                }
            }
            // At the front, or time to re-anchor: the exact standing (also a sign of life).
            if let Ok(exact) = store.standing(event, user).await {
                standing = exact;
            }
            if let Ok(Some(fresh)) = gates.get(event).await {
                gate = fresh;
            }
            if !gate.queue_enabled {
                // The operator turned the waiting room off: book directly.
                let _ = tx
                    .send(message("closed", json!({ "reason": "queue_disabled" })))
                    .await;
                break;
            }
        }
        metrics::gauge!("boxoffice_queue_stream_subscribers").decrement(1.0);
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    fn read(started: Instant, paused: bool) -> Progress {
        Progress {
            paused,
            read_started: Some(started),
            ..Progress::default()
        }
    }

    #[test]
    fn a_read_begun_earlier_never_replaces_the_one_shown() {
        let early = Instant::now();
        let late = early + Duration::from_millis(300);
        // Shown: the stream's own read on connect (paused). The watcher's read
        // that began before it and answered after it says not paused.
        let next = fresher(Some(read(late, true)), read(early, false));
        assert!(next.paused, "older news must not flip the pause back");
        // A later read replaces it, whatever it says.
        let later = late + Duration::from_millis(500);
        assert!(!fresher(Some(read(late, true)), read(later, false)).paused);
        // The watch's initial value (no read yet) never replaces a real read.
        assert!(fresher(Some(read(late, true)), Progress::default()).paused);
        assert!(!fresher(None, read(early, false)).paused);
    }
}
