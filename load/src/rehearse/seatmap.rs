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

/// One seat of the venue, as the layout places it.
struct Seat {
    id: i64,
    section: u32,
    row: u32,
    number: i64,
}

/// The venue's seats in layout order (`GET /venues/{id}/layout`), shared by
/// every fan: a browser fetches the layout once and keeps it (it is served
/// with a day-long `Cache-Control`), then follows the map in the compact
/// format, one status character per seat in this order — as the web client
/// does. Sections and rows as numbers.
#[derive(Default)]
pub struct Layout {
    seats: Vec<Seat>,
    index: HashMap<i64, usize>,
    sections: u32,
}

#[derive(Deserialize)]
struct LayoutMsg {
    sections: Vec<SectionMsg>,
}

#[derive(Deserialize)]
struct SectionMsg {
    rows: Vec<RowMsg>,
}

#[derive(Deserialize)]
struct RowMsg {
    seats: Vec<LayoutSeatMsg>,
}

#[derive(Deserialize)]
struct LayoutSeatMsg {
    seat_id: i64,
    number: i64,
}

impl Layout {
    /// From the layout endpoint's body.
    pub fn parse(body: &[u8]) -> anyhow::Result<Layout> {
        let msg: LayoutMsg = serde_json::from_slice(body)?;
        let mut layout = Layout::default();
        let mut row_no = 0;
        for (section, s) in msg.sections.into_iter().enumerate() {
            for r in s.rows {
                for seat in r.seats {
                    layout.index.insert(seat.seat_id, layout.seats.len());
                    layout.seats.push(Seat {
                        id: seat.seat_id,
                        section: section as u32,
                        row: row_no,
                        number: seat.number,
                    });
                }
                row_no += 1;
            }
            layout.sections = section as u32 + 1;
        }
        Ok(layout)
    }
}

/// A seat-map message (snapshot or delta), typed: thousands of fans parse
/// every message, so no `serde_json::Value` here. Snapshots come compact
/// (`statuses`, one character per seat in layout order) or full (`seats`).
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
    statuses: String,
    #[serde(default)]
    seats: Vec<ChangeMsg>,
    #[serde(default)]
    changes: Vec<ChangeMsg>,
}

#[derive(Deserialize)]
pub struct ChangeMsg {
    seat_id: i64,
    status: String,
}

/// One fan's view: the shared layout and a status per seat.
#[derive(Default)]
pub struct MapView {
    layout: Arc<Layout>,
    available: Vec<bool>,
    /// The seats the fan is reserving, and when this view first showed each
    /// taken (the live map's delivery delay).
    watched: HashMap<i64, Option<Instant>>,
    pub loaded: bool,
}

impl MapView {
    pub fn new(layout: Arc<Layout>) -> MapView {
        MapView {
            layout,
            ..MapView::default()
        }
    }

    fn load(&mut self, frame: Frame) {
        let layout = self.layout.clone();
        self.available = vec![false; layout.seats.len()];
        if frame.seats.is_empty() {
            for (i, c) in frame.statuses.bytes().take(layout.seats.len()).enumerate() {
                self.mark(&layout, i, c == b'A');
            }
        } else {
            for seat in frame.seats {
                if let Some(&i) = layout.index.get(&seat.seat_id) {
                    self.mark(&layout, i, seat.status == "AVAILABLE");
                }
            }
        }
        self.loaded = true;
    }

    fn mark(&mut self, layout: &Layout, i: usize, available: bool) {
        self.available[i] = available;
        self.saw(layout.seats[i].id, available);
    }

    fn saw(&mut self, id: i64, available: bool) {
        if let Some(seen) = self.watched.get_mut(&id) {
            match (available, *seen) {
                (true, _) => *seen = None,
                (false, None) => *seen = Some(Instant::now()),
                (false, Some(_)) => {}
            }
        }
    }

    /// From now on, note when each of `ids` is first shown taken.
    pub fn watch(&mut self, ids: &[i64]) {
        self.watched = ids.iter().map(|id| (*id, None)).collect();
    }

    pub fn apply_delta(&mut self, changes: Vec<ChangeMsg>) {
        for change in changes {
            self.set(change.seat_id, change.status == "AVAILABLE");
        }
    }

    /// Marks seats taken or free in this view (a 409 names taken seats).
    pub fn set(&mut self, id: i64, available: bool) {
        if let Some(&i) = self.layout.index.get(&id)
            && let Some(slot) = self.available.get_mut(i)
        {
            *slot = available;
        }
        self.saw(id, available);
    }

    /// When every one of the watched `ids` had been seen taken, if they all have.
    pub fn seen_taken(&self, ids: &[i64]) -> Option<Instant> {
        ids.iter()
            .map(|id| self.watched.get(id).copied().flatten())
            .try_fold(None::<Instant>, |latest, at| {
                at.map(|at| Some(latest.map_or(at, |l| l.max(at))))
            })
            .flatten()
    }

    #[cfg(test)]
    pub fn available(&self) -> usize {
        self.available.iter().filter(|a| **a).count()
    }

    /// `n` adjacent available seats (same section and row, consecutive
    /// numbers); in the first quarter of the sections when `hot`. Falls back
    /// to the whole hall, then to smaller groups. None: nothing left.
    pub fn pick(&self, n: usize, hot: bool, rng: &mut StdRng) -> Option<Vec<i64>> {
        let seats = self.available.len();
        let hot_end = if hot {
            let best = (self.layout.sections / 4).max(1);
            self.layout
                .seats
                .iter()
                .position(|s| s.section >= best)
                .unwrap_or(seats)
                .min(seats) // no snapshot yet: nothing to pick from
        } else {
            seats
        };
        for want in (1..=n).rev() {
            for end in [hot_end, seats] {
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
        let first = &self.layout.seats[i];
        let run = &self.layout.seats[i..i + want];
        let free = &self.available[i..i + want];
        let adjacent = run.iter().zip(free).enumerate().all(|(k, (s, free))| {
            *free
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
        let view = Arc::new(Mutex::new(MapView::new(ctx.layout.clone())));
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
                lock(&live.view).load(frame);
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
    match kind {
        "snapshot" => {
            let versions = (frame.version, frame.version);
            lock(view).load(frame);
            (true, Some(versions))
        }
        "delta" => {
            let versions = (frame.from_version, frame.version);
            lock(view).apply_delta(frame.changes);
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
    let url = format!("{base}/events/{}/seats/stream?format=compact", ctx.event_id);
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
        "{}/events/{}/seats/ws?format=compact",
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
            Some(last) => format!("{url}&last_event_id={last}"),
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

    /// Four sections of two rows of four seats, ids 1..=32 in layout order.
    fn layout() -> Arc<Layout> {
        let mut id = 0;
        let sections: Vec<_> = ["A", "B", "C", "D"]
            .iter()
            .map(|name| {
                let rows: Vec<_> = ["1", "2"]
                    .iter()
                    .map(|row| {
                        let seats: Vec<_> = (1..=4)
                            .map(|number| {
                                id += 1;
                                json!({"seat_id": id, "number": number, "x": 0.0, "y": 0.0})
                            })
                            .collect();
                        json!({"name": row, "seats": seats})
                    })
                    .collect();
                json!({"name": name, "rows": rows})
            })
            .collect();
        let body = json!({"venue_id": 1, "name": "Hall", "sections": sections}).to_string();
        Arc::new(Layout::parse(body.as_bytes()).unwrap())
    }

    fn hall() -> MapView {
        let mut view = MapView::new(layout());
        assert!(apply_json(
            &mut view,
            json!({"type": "snapshot", "format": "compact", "statuses": "A".repeat(32)})
        ));
        view
    }

    #[test]
    fn a_view_without_a_snapshot_picks_nothing() {
        let view = MapView::new(layout());
        let mut rng = StdRng::seed_from_u64(1);
        assert_eq!(view.pick(2, true, &mut rng), None);
        assert_eq!(view.pick(2, false, &mut rng), None);
    }

    #[test]
    fn a_full_snapshot_is_read_by_seat_id_and_a_compact_one_in_layout_order() {
        let mut view = MapView::new(layout());
        let seats: Vec<_> = (1..=32)
            .map(|id| {
                json!({"seat_id": id, "section": "?", "row": "?", "number": 0,
                             "status": if id == 5 { "AVAILABLE" } else { "RESERVED" }})
            })
            .collect();
        assert!(apply_json(
            &mut view,
            json!({"type": "snapshot", "seats": seats})
        ));
        assert_eq!(view.available(), 1);
        let mut rng = StdRng::seed_from_u64(2);
        assert_eq!(view.pick(2, false, &mut rng), Some(vec![5]));
        let statuses: String = (1..=32).map(|id| if id <= 3 { 'A' } else { 'C' }).collect();
        assert!(apply_json(
            &mut view,
            json!({"type": "snapshot", "format": "compact", "statuses": statuses})
        ));
        assert_eq!(view.pick(4, false, &mut rng), Some(vec![1, 2, 3]));
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
        view.watch(&[6, 20]);
        assert!(view.seen_taken(&[6, 20]).is_none());
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
