//! A subscriber's own copy of a live seat map, built from the snapshot and
//! delta messages of `/events/{id}/seats/stream` (or its WebSocket).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::sse::SseClient;

/// Seat statuses by id at a version, as a subscriber sees them.
#[derive(Default)]
pub struct LiveMap {
    pub version: i64,
    pub statuses: HashMap<i64, String>,
}

fn statuses_of<'a>(seats: impl IntoIterator<Item = &'a Value>) -> Vec<(i64, String)> {
    seats
        .into_iter()
        .map(|s| {
            (
                s["seat_id"].as_i64().unwrap(),
                s["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

impl LiveMap {
    /// Applies a message the way the contract says: a snapshot replaces the
    /// map; a delta must follow on from the map's version (a gap fails the
    /// test) and one already applied is skipped.
    pub fn apply(&mut self, message: &Value) {
        match message["type"].as_str() {
            Some("snapshot") => {
                self.version = message["version"].as_i64().unwrap();
                self.statuses = statuses_of(message["seats"].as_array().unwrap())
                    .into_iter()
                    .collect();
            }
            Some("delta") => {
                let (from, to) = (
                    message["from_version"].as_i64().unwrap(),
                    message["version"].as_i64().unwrap(),
                );
                assert!(
                    from <= self.version + 1,
                    "gap: at {} got {from}..={to}",
                    self.version
                );
                if to <= self.version {
                    return;
                }
                self.statuses
                    .extend(statuses_of(message["changes"].as_array().unwrap()));
                self.version = to;
            }
            other => panic!("unexpected message type {other:?}"),
        }
    }

    /// Takes a message as it comes, with no check of its order: what a
    /// subscriber shows while a hub heals.
    pub fn observe(&mut self, message: &Value) {
        if message["type"] == "snapshot" {
            self.statuses.clear();
            self.statuses
                .extend(statuses_of(message["seats"].as_array().unwrap()));
        } else {
            self.statuses
                .extend(statuses_of(message["changes"].as_array().unwrap()));
        }
        self.version = message["version"].as_i64().unwrap();
    }

    /// The statuses of `seats`, in that order.
    pub fn in_order(&self, seats: &[i64]) -> Vec<String> {
        seats.iter().map(|s| self.statuses[s].clone()).collect()
    }

    /// Observes the stream until `seat` shows `status` at `version` or later;
    /// panics after 15 s.
    pub async fn observe_until(
        &mut self,
        stream: &mut SseClient,
        seat: i64,
        status: &str,
        version: i64,
    ) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while !(self.version >= version
            && self.statuses.get(&seat).map(String::as_str) == Some(status))
        {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "the subscriber never saw seat {seat} {status} at version {version} (at {})",
                self.version
            );
            if let Some(event) = stream.try_next(left.min(Duration::from_millis(500))).await {
                self.observe(&event.data);
            }
        }
    }
}
