//! A fan's view of the live seat map (SSE or WebSocket), and how a fan
//! picks seats from it: most aim at the best sections, in pairs and groups
//! of adjacent seats.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use rand::Rng;
use rand::rngs::StdRng;
use serde::Deserialize;

use super::fan::{Counts, Ctx};
use super::recorder::Endpoint;
use super::sse::SseReader;

struct Seat {
    id: i64,
    section: u32,
    row: u32,
    number: i64,
    available: bool,
}

/// A seat-map message (snapshot or delta), typed: thousands of fans parse
/// every message, so no `serde_json::Value` here.
#[derive(Deserialize, Default)]
pub struct Frame {
    #[serde(rename = "type", default)]
    kind: String,
    /// The snapshot's version, or the last version a delta covers.
    #[serde(default)]
    version: i64,
    /// The first version a (merged) delta covers.
    #[serde(default)]
    from_version: i64,
    #[serde(default)]
    seats: Vec<SeatMsg>,
    #[serde(default)]
    changes: Vec<ChangeMsg>,
}

#[derive(Deserialize)]
pub struct SeatMsg {
    seat_id: i64,
    #[serde(default)]
    section: String,
    #[serde(default)]
    row: String,
    #[serde(default)]
    number: i64,
    status: String,
}

#[derive(Deserialize)]
pub struct ChangeMsg {
    seat_id: i64,
    status: String,
}

#[derive(Default)]
pub struct MapView {
    seats: Vec<Seat>,
    index: HashMap<i64, usize>,
    sections: u32,
    /// When each seat was first seen taken by this view.
    taken_at: HashMap<i64, Instant>,
    pub loaded: bool,
}

impl MapView {
    pub fn load_snapshot(&mut self, seats: Vec<SeatMsg>) {
        self.seats.clear();
        self.index.clear();
        // Sections and rows as numbers: hundreds of fans hold a map each.
        let mut names: HashMap<String, u32> = HashMap::new();
        let mut rows: HashMap<String, u32> = HashMap::new();
        for seat in seats {
            let next = names.len() as u32;
            let section = *names.entry(seat.section).or_insert(next);
            let next = rows.len() as u32;
            let row = *rows.entry(seat.row).or_insert(next);
            let available = seat.status == "AVAILABLE";
            self.index.insert(seat.seat_id, self.seats.len());
            if !available {
                self.taken_at
                    .entry(seat.seat_id)
                    .or_insert_with(Instant::now);
            }
            self.seats.push(Seat {
                id: seat.seat_id,
                section,
                row,
                number: seat.number,
                available,
            });
        }
        self.sections = names.len() as u32;
        self.loaded = true;
    }

    pub fn apply_delta(&mut self, changes: Vec<ChangeMsg>) {
        for change in changes {
            self.set(change.seat_id, change.status == "AVAILABLE");
        }
    }

    /// Marks seats taken or free in this view (a 409 names taken seats).
    pub fn set(&mut self, id: i64, available: bool) {
        if let Some(&i) = self.index.get(&id) {
            self.seats[i].available = available;
        }
        if available {
            self.taken_at.remove(&id);
        } else {
            self.taken_at.entry(id).or_insert_with(Instant::now);
        }
    }

    /// When every one of `ids` had been seen taken, if they all have.
    pub fn seen_taken(&self, ids: &[i64]) -> Option<Instant> {
        ids.iter()
            .map(|id| self.taken_at.get(id).copied())
            .try_fold(None::<Instant>, |latest, at| {
                at.map(|at| Some(latest.map_or(at, |l| l.max(at))))
            })
            .flatten()
    }

    #[cfg(test)]
    pub fn available(&self) -> usize {
        self.seats.iter().filter(|s| s.available).count()
    }

    /// `n` adjacent available seats (same section and row, consecutive
    /// numbers); in the first quarter of the sections when `hot`. Falls back
    /// to the whole hall, then to smaller groups. None: nothing left.
    pub fn pick(&self, n: usize, hot: bool, rng: &mut StdRng) -> Option<Vec<i64>> {
        let hot_end = if hot {
            let best = (self.sections / 4).max(1);
            self.seats
                .iter()
                .position(|s| s.section >= best)
                .unwrap_or(self.seats.len())
        } else {
            self.seats.len()
        };
        for want in (1..=n).rev() {
            for end in [hot_end, self.seats.len()] {
                if end == 0 {
                    continue;
                }
                let start = rng.gen_range(0..end);
                for k in 0..end {
                    let i = (start + k) % end;
                    if let Some(run) = self.run_at(i, want, end) {
                        return Some(run);
                    }
                }
            }
        }
        None
    }

    fn run_at(&self, i: usize, want: usize, end: usize) -> Option<Vec<i64>> {
        if i + want > end {
            return None;
        }
        let first = &self.seats[i];
        let run = &self.seats[i..i + want];
        let adjacent = run.iter().enumerate().all(|(k, s)| {
            s.available
                && s.section == first.section
                && s.row == first.row
                && s.number == first.number + k as i64
        });
        adjacent.then(|| run.iter().map(|s| s.id).collect())
    }
}

/// A fan's open seat-map stream, feeding a shared view until dropped.
pub struct LiveMap {
    pub view: Arc<Mutex<MapView>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for LiveMap {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub fn lock(view: &Mutex<MapView>) -> std::sync::MutexGuard<'_, MapView> {
    view.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl LiveMap {
    /// Opens the stream on `base` and waits for its snapshot (or falls back
    /// to a plain snapshot GET when the stream does not deliver one in time).
    pub async fn open(ctx: Arc<Ctx>, base: String, websocket: bool) -> LiveMap {
        let view = Arc::new(Mutex::new(MapView::default()));
        let loaded = Arc::new(tokio::sync::Notify::new());
        let started = Instant::now();
        let task = {
            let (ctx, view, loaded) = (ctx.clone(), view.clone(), loaded.clone());
            tokio::spawn(async move {
                let status = if websocket {
                    websocket_feed(&ctx, &base, &view, &loaded, started).await
                } else {
                    sse_feed(&ctx, &base, &view, &loaded, started).await
                };
                if let Err(status) = status {
                    ctx.rec.request(Endpoint::SeatStream, started, status);
                }
                loaded.notify_one();
            })
        };
        let live = LiveMap { view, task };
        let _ = tokio::time::timeout(Duration::from_secs(15), loaded.notified()).await;
        if !lock(&live.view).loaded {
            let url = format!("{}/events/{}/seats", ctx.base(0), ctx.event_id);
            if let Ok((200, body)) = ctx.call(Endpoint::SeatStream, ctx.client.get(url)).await
                && let Ok(frame) = serde_json::from_value::<Frame>(body)
            {
                lock(&live.view).load_snapshot(frame.seats);
            }
        }
        live
    }
}

#[cfg(test)]
fn apply(view: &Mutex<MapView>, event: &str, data: &str) -> bool {
    serde_json::from_str::<Frame>(data).is_ok_and(|frame| apply_frame(view, event, frame).0)
}

/// Applies one frame; (a snapshot?, its versions when it is a snapshot or a delta).
fn apply_frame(view: &Mutex<MapView>, event: &str, frame: Frame) -> (bool, Option<(i64, i64)>) {
    let kind = if frame.kind.is_empty() {
        event
    } else {
        frame.kind.as_str()
    };
    let mut view = lock(view);
    match kind {
        "snapshot" => {
            view.load_snapshot(frame.seats);
            (true, Some((frame.version, frame.version)))
        }
        "delta" => {
            let versions = (frame.from_version, frame.version);
            view.apply_delta(frame.changes);
            (false, Some(versions))
        }
        _ => (false, None),
    }
}

/// Where a feed is: the last version it applied (its Last-Event-ID) and
/// whether the next frame is the first after a reconnect.
#[derive(Default)]
struct Cursor {
    last: Option<i64>,
    resuming: bool,
}

impl Cursor {
    /// Applies a message; true once the view holds a snapshot.
    fn take(&mut self, counts: &Counts, view: &Mutex<MapView>, event: &str, data: &str) -> bool {
        let Ok(frame) = serde_json::from_str::<Frame>(data) else {
            return false;
        };
        let (snapshot, versions) = apply_frame(view, event, frame);
        let Some((from, to)) = versions else {
            return false;
        };
        let count = |c: &std::sync::atomic::AtomicU64| {
            c.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        };
        if snapshot {
            if self.resuming {
                count(&counts.map_resnapshots);
            }
        } else if let Some(last) = self.last {
            if from > last + 1 {
                count(&counts.map_gaps);
            } else if self.resuming {
                count(&counts.map_resumed);
            }
        }
        self.resuming = false;
        self.last = Some(
            self.last
                .map_or(to, |last| if snapshot { to } else { last.max(to) }),
        );
        snapshot
    }

    /// After a stream ended: true to open it again (after EventSource's
    /// retry), false when the rehearsal is over or the node keeps refusing.
    async fn reconnect(&mut self, ctx: &Ctx, failures: u32) -> bool {
        if ctx.stop.is_set() || failures > 10 {
            return false;
        }
        self.resuming = true;
        ctx.pause(Duration::from_secs(2)).await
    }
}

/// Err(status) when the stream could not be opened at first (0: no answer).
/// A stream that ends is opened again with `Last-Event-ID`, as EventSource does.
async fn sse_feed(
    ctx: &Ctx,
    base: &str,
    view: &Mutex<MapView>,
    loaded: &tokio::sync::Notify,
    started: Instant,
) -> Result<(), u16> {
    let url = format!("{base}/events/{}/seats/stream", ctx.event_id);
    let mut cursor = Cursor::default();
    // Answered once (else the fan falls back to a plain snapshot); told the
    // fan the map is loaded.
    let (mut opened, mut notified) = (false, false);
    let mut failures = 0;
    loop {
        let mut request = ctx.client.get(&url);
        if let Some(last) = cursor.last {
            request = request.header("Last-Event-ID", last.to_string());
        }
        let answer = match request.send().await {
            Ok(r) if r.status() == 200 => Ok(r),
            Ok(r) => Err(r.status().as_u16()),
            Err(_) => Err(0),
        };
        let mut response = match answer {
            Ok(r) => r,
            Err(status) if !opened => return Err(status),
            Err(_) => {
                failures += 1;
                if cursor.reconnect(ctx, failures).await {
                    continue;
                }
                return Ok(());
            }
        };
        if cursor.resuming {
            ctx.counts
                .map_reconnects
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        opened = true;
        failures = 0;
        let mut reader = SseReader::default();
        loop {
            let chunk = match response.chunk().await {
                Ok(Some(chunk)) => chunk,
                Ok(None) => break,
                Err(_) => {
                    ctx.counts
                        .stream_resets
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    break;
                }
            };
            for (event, data) in reader.push(&chunk) {
                if cursor.take(&ctx.counts, view, &event, &data) && !notified {
                    notified = true;
                    ctx.rec.request(Endpoint::SeatStream, started, 200);
                    loaded.notify_one();
                }
            }
        }
        if !cursor.reconnect(ctx, failures).await {
            return Ok(());
        }
    }
}

/// As [`sse_feed`], resuming with `?last_event_id=` (browsers cannot set
/// headers on a WebSocket).
async fn websocket_feed(
    ctx: &Ctx,
    base: &str,
    view: &Mutex<MapView>,
    loaded: &tokio::sync::Notify,
    started: Instant,
) -> Result<(), u16> {
    use tokio_tungstenite::tungstenite::Message;
    let url = format!(
        "{}/events/{}/seats/ws",
        base.replacen("http", "ws", 1),
        ctx.event_id
    );
    let mut cursor = Cursor::default();
    // Answered once (else the fan falls back to a plain snapshot); told the
    // fan the map is loaded.
    let (mut opened, mut notified) = (false, false);
    let mut failures = 0;
    loop {
        let url = match cursor.last {
            Some(last) => format!("{url}?last_event_id={last}"),
            None => url.clone(),
        };
        let answer = match tokio_tungstenite::connect_async(url).await {
            Ok((socket, _)) => Ok(socket),
            Err(tokio_tungstenite::tungstenite::Error::Http(r)) => Err(r.status().as_u16()),
            Err(_) => Err(0),
        };
        let mut socket = match answer {
            Ok(socket) => socket,
            Err(status) if !opened => return Err(status),
            Err(_) => {
                failures += 1;
                if cursor.reconnect(ctx, failures).await {
                    continue;
                }
                return Ok(());
            }
        };
        if cursor.resuming {
            ctx.counts
                .map_reconnects
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        opened = true;
        failures = 0;
        while let Some(message) = socket.next().await {
            let message = match message {
                Ok(message) => message,
                Err(_) => {
                    ctx.counts
                        .stream_resets
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    break;
                }
            };
            let Message::Text(text) = message else {
                continue;
            };
            if cursor.take(&ctx.counts, view, "", text.as_str()) && !notified {
                notified = true;
                ctx.rec.request(Endpoint::SeatStream, started, 101);
                loaded.notify_one();
            }
        }
        if !cursor.reconnect(ctx, failures).await {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use serde_json::json;

    fn apply_json(view: &mut MapView, message: serde_json::Value) -> bool {
        let shared = Mutex::new(std::mem::take(view));
        let snapshot = apply(&shared, "", &message.to_string());
        *view = shared.into_inner().unwrap();
        snapshot
    }

    fn hall() -> MapView {
        let mut seats = Vec::new();
        let mut id = 0;
        for section in ["A", "B", "C", "D"] {
            for row in ["1", "2"] {
                for number in 1..=4 {
                    id += 1;
                    seats.push(json!({"seat_id": id, "section": section, "row": row,
                                      "number": number, "status": "AVAILABLE"}));
                }
            }
        }
        let mut view = MapView::default();
        assert!(apply_json(
            &mut view,
            json!({"type": "snapshot", "seats": seats})
        ));
        view
    }

    #[test]
    fn groups_are_adjacent_in_one_row_and_hot_fans_get_the_best_section() {
        let view = hall();
        let mut rng = StdRng::seed_from_u64(3);
        for _ in 0..50 {
            let group = view.pick(3, true, &mut rng).unwrap();
            assert_eq!(group.len(), 3);
            assert!(group.windows(2).all(|w| w[1] == w[0] + 1));
            assert!(group.iter().all(|id| *id <= 8), "section A: {group:?}");
            let row_of = |id: i64| (id - 1) / 4;
            assert!(group.iter().all(|id| row_of(*id) == row_of(group[0])));
        }
    }

    #[test]
    fn a_fan_settles_for_fewer_seats_then_leaves_when_none_are_left() {
        let mut view = hall();
        for id in 1..=32 {
            if id != 6 && id != 20 {
                view.set(id, false);
            }
        }
        let mut rng = StdRng::seed_from_u64(1);
        let got = view.pick(4, true, &mut rng).unwrap();
        assert!(got == vec![6] || got == vec![20]);
        apply_json(
            &mut view,
            json!({"type": "delta", "changes": [{"seat_id": 6, "status": "RESERVED"},
                                                {"seat_id": 20, "status": "CONFIRMED"}]}),
        );
        assert_eq!(view.available(), 0);
        assert_eq!(view.pick(2, false, &mut rng), None);
        assert!(view.seen_taken(&[6, 20]).is_some());
        view.set(6, true);
        assert!(view.seen_taken(&[6, 20]).is_none());
    }
}
