//! The messages a live seat map receives, serialised once and shared by every
//! subscriber (SSE data or WebSocket text frames alike).

use std::sync::{Arc, OnceLock};

use actix_web::web::Bytes;
use actors::model::{EventId, SeatStatus};
use actors::ports::{SeatChange, SeatDelta};
use bytestring::ByteString;
use serde::Serialize;
use utoipa::ToSchema;

use crate::store::seats::SeatView;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Every seat with its section, row, number and status.
    Full,
    /// One status character per seat in layout order (`A`, `R`, `C`).
    Compact,
}

impl Format {
    pub fn parse(value: Option<&str>) -> Option<Format> {
        match value {
            None | Some("full") => Some(Format::Full),
            Some("compact") => Some(Format::Compact),
            Some(_) => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Snapshot,
    Delta,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Snapshot => "snapshot",
            Kind::Delta => "delta",
        }
    }
}

/// One message, ready to send. The text is shared, not copied, by every
/// subscriber it goes to (`ByteString` and `Bytes` clones are reference
/// counts), and so is its SSE encoding: a subscriber's stream only writes it.
#[derive(Debug, Clone)]
pub struct Frame {
    pub kind: Kind,
    pub version: i64,
    pub json: ByteString,
    /// The version as text: the SSE `id`.
    pub id: ByteString,
    /// The whole SSE message (`event`, `id`, `data` lines), encoded by the
    /// first SSE subscriber it goes to (WebSocket-only frames never need it).
    sse: OnceLock<Bytes>,
}

impl Frame {
    pub fn new(kind: Kind, version: i64, json: String) -> Frame {
        Frame {
            kind,
            version,
            json: json.into(),
            id: version.to_string().into(),
            sse: OnceLock::new(),
        }
    }

    /// The frame as one server-sent event, encoded once for every subscriber.
    pub fn sse(&self) -> Bytes {
        self.sse
            .get_or_init(|| {
                let json: &str = &self.json;
                let mut out = String::with_capacity(json.len() + 40);
                out.push_str("event: ");
                out.push_str(self.kind.as_str());
                out.push_str("\nid: ");
                out.push_str(&self.id);
                out.push('\n');
                // serde_json never writes a raw line break; split anyway, as
                // the SSE format requires one `data:` line per line.
                for line in json.split('\n') {
                    out.push_str("data: ");
                    out.push_str(line.strip_suffix('\r').unwrap_or(line));
                    out.push('\n');
                }
                out.push('\n');
                Bytes::from(out)
            })
            .clone()
    }
}

/// What a `delta` message's `type` says.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
enum DeltaType {
    Delta,
}

/// What a `snapshot` message's `type` says.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
enum SnapshotType {
    Snapshot,
}

/// What a compact snapshot's `format` says.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
enum CompactFormat {
    Compact,
}

/// The seats that changed from `from_version` to `version` (both
/// included), each with its last status.
#[derive(Serialize, ToSchema)]
#[schema(as = SeatMapDelta)]
pub struct DeltaMessage<'a> {
    #[serde(rename = "type")]
    kind: DeltaType,
    event_id: EventId,
    version: i64,
    from_version: i64,
    changes: &'a [SeatChange],
}

/// Several consecutive deltas as one message: the last status of each seat,
/// covering `from_version..=version`.
pub fn merged_delta(event_id: EventId, deltas: &[Arc<SeatDelta>]) -> Option<Frame> {
    let first = deltas.first()?.version;
    let last = deltas.last()?.version;
    let mut changes: Vec<SeatChange> = Vec::new();
    let mut position = std::collections::HashMap::new();
    for delta in deltas {
        for change in &delta.changes {
            match position.get(&change.seat_id) {
                Some(&i) => changes[i] = *change,
                None => {
                    position.insert(change.seat_id, changes.len());
                    changes.push(*change);
                }
            }
        }
    }
    let message = DeltaMessage {
        kind: DeltaType::Delta,
        event_id,
        version: last,
        from_version: first,
        changes: &changes,
    };
    let json = serde_json::to_string(&message).ok()?;
    Some(Frame::new(Kind::Delta, last, json))
}

/// Every seat of the event in layout order, at `version`.
#[derive(Serialize, ToSchema)]
#[schema(as = SeatMapFullSnapshot)]
pub struct FullSnapshot<'a> {
    #[serde(rename = "type")]
    kind: SnapshotType,
    event_id: EventId,
    version: i64,
    seats: Vec<SeatEntry<'a>>,
}

#[derive(Serialize, ToSchema)]
#[schema(as = SeatMapEntry)]
struct SeatEntry<'a> {
    seat_id: actors::model::SeatId,
    section: &'a str,
    row: &'a str,
    number: i32,
    status: SeatStatus,
    /// The seat's price zone (`null`: the event's own price).
    #[schema(required = true)]
    zone: Option<&'a str>,
    price_cents: i64,
}

/// Every seat's status at `version`, one character per seat in layout order
/// (`A` available, `R` reserved, `C` confirmed): the layout says which seat
/// each is.
#[derive(Serialize, ToSchema)]
#[schema(as = SeatMapCompactSnapshot)]
pub struct CompactSnapshot {
    #[serde(rename = "type")]
    kind: SnapshotType,
    event_id: EventId,
    version: i64,
    format: CompactFormat,
    #[schema(pattern = "^[ARC]*$")]
    statuses: String,
}

/// Each seat of `layout` with its status, as both the full snapshot and the
/// seat map body list them.
fn seat_entries<'a>(layout: &'a [SeatView], statuses: &[SeatStatus]) -> Vec<SeatEntry<'a>> {
    layout
        .iter()
        .zip(statuses)
        .map(|(seat, status)| SeatEntry {
            seat_id: seat.seat_id,
            section: &seat.section,
            row: &seat.row,
            number: seat.number,
            status: *status,
            zone: seat.zone.as_deref(),
            price_cents: seat.price_cents,
        })
        .collect()
}

/// The body of `GET /events/{id}/seats` (the shape of
/// `store::seats::SeatSnapshot`) from a hub's layout and statuses.
pub fn seat_map(
    event_id: EventId,
    version: i64,
    layout: &[SeatView],
    statuses: &[SeatStatus],
) -> Bytes {
    #[derive(Serialize)]
    struct SeatMap<'a> {
        event_id: EventId,
        version: i64,
        seats: Vec<SeatEntry<'a>>,
    }
    let body = SeatMap {
        event_id,
        version,
        seats: seat_entries(layout, statuses),
    };
    serde_json::to_vec(&body)
        .map(Bytes::from)
        .unwrap_or_default()
}

pub fn snapshot(
    event_id: EventId,
    version: i64,
    layout: &[SeatView],
    statuses: &[SeatStatus],
    format: Format,
) -> Frame {
    let json = match format {
        Format::Full => serde_json::to_string(&FullSnapshot {
            kind: SnapshotType::Snapshot,
            event_id,
            version,
            seats: seat_entries(layout, statuses),
        }),
        Format::Compact => serde_json::to_string(&CompactSnapshot {
            kind: SnapshotType::Snapshot,
            event_id,
            version,
            format: CompactFormat::Compact,
            statuses: statuses.iter().map(|s| s.as_char()).collect(),
        }),
    };
    Frame::new(Kind::Snapshot, version, json.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use actors::model::SeatId;

    use super::*;

    fn delta(version: i64, seat: i64, status: SeatStatus) -> Arc<SeatDelta> {
        Arc::new(SeatDelta {
            event_id: EventId(1),
            version,
            changes: vec![SeatChange {
                seat_id: SeatId(seat),
                status,
            }],
        })
    }

    #[test]
    fn merged_deltas_keep_the_last_status_of_each_seat_and_their_version_range() {
        let frame = merged_delta(
            EventId(1),
            &[
                delta(3, 7, SeatStatus::Reserved),
                delta(4, 8, SeatStatus::Reserved),
                delta(5, 7, SeatStatus::Available),
            ],
        )
        .unwrap();
        let body: serde_json::Value = serde_json::from_str(&frame.json).unwrap();
        assert_eq!(body["from_version"], 3);
        assert_eq!(body["version"], 5);
        assert_eq!(
            body["changes"],
            serde_json::json!([{"seat_id": 7, "status": "AVAILABLE"}, {"seat_id": 8, "status": "RESERVED"}])
        );
    }

    #[test]
    fn a_compact_snapshot_is_one_character_per_seat() {
        let layout: Vec<SeatView> = (1..=3)
            .map(|i| SeatView {
                seat_id: SeatId(i),
                section: "A".into(),
                row: "1".into(),
                number: i as i32,
                status: SeatStatus::Available,
                zone: None,
                price_cents: 100,
                x: 0.0,
                y: 0.0,
            })
            .collect();
        let statuses = [
            SeatStatus::Available,
            SeatStatus::Reserved,
            SeatStatus::Confirmed,
        ];
        let frame = snapshot(EventId(1), 9, &layout, &statuses, Format::Compact);
        let body: serde_json::Value = serde_json::from_str(&frame.json).unwrap();
        assert_eq!(body["statuses"], "ARC");
        assert_eq!(body["version"], 9);
    }

    #[test]
    fn a_frame_is_one_server_sent_event_with_its_kind_version_and_json() {
        let frame = merged_delta(EventId(1), &[delta(4, 7, SeatStatus::Reserved)]).unwrap();
        let sse = frame.sse();
        assert_eq!(
            std::str::from_utf8(&sse).unwrap(),
            format!("event: delta\nid: 4\ndata: {}\n\n", &*frame.json)
        );
        // Encoded once: every subscriber shares the same bytes.
        assert_eq!(frame.sse().as_ptr(), sse.as_ptr());
    }
}
