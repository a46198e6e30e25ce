//! The server-sent event streams as the document describes them: one schema
//! per stream naming each event (`event`), its `id` where the stream sets
//! one, and what its `data` holds (JSON, `contentSchema`: a schema derived
//! from the type the server serialises).
//!
//! utoipa has no `contentSchema`, so these are added to the serialised
//! document; each path's response refers to its stream's schema.

use serde_json::{Value, json};

/// One event of a stream: its name, its `data` as JSON of `data_schema`, and
/// an `id` when `with_id`.
fn event(name: &str, data_schema: Value, with_id: bool) -> Value {
    let mut required = vec!["event", "data"];
    let mut properties = json!({
        "event": { "const": name },
        "data": {
            "type": "string",
            "contentMediaType": "application/json",
            "contentSchema": data_schema,
        },
    });
    if with_id {
        required.push("id");
        properties["id"] = json!({
            "type": "string",
            "pattern": "^[0-9]+$",
            "description": "The seat map's version after this event: send it back as `Last-Event-ID` to resume",
        });
    }
    json!({ "type": "object", "required": required, "properties": properties })
}

fn schema(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

/// Adds `SeatMapEvent`, `QueueEvent` and `DashboardEvent` to the components.
pub fn add_event_streams(doc: &mut Value) {
    let seat_map = json!({
        "description": "An event of `GET /events/{event_id}/seats/stream`: a `snapshot` (full or compact, as `format` asked), or a `delta` with the seats that changed. A WebSocket text frame carries the same `data`.",
        "oneOf": [
            event("snapshot", json!({ "oneOf": [schema("SeatMapFullSnapshot"), schema("SeatMapCompactSnapshot")] }), true),
            event("delta", schema("SeatMapDelta"), true),
        ],
    });
    let queue = json!({
        "description": "An event of `GET /events/{event_id}/queue/stream`: `position` (the waiter's standing, at least every two seconds), `sold_out` (when that changes), `admitted` (the last: the standing with the queue token), `closed` (the operator turned the waiting room off: book directly).",
        "oneOf": [
            event("position", schema("QueueStanding"), false),
            event("sold_out", json!({
                "type": "object",
                "required": ["sold_out"],
                "properties": { "sold_out": { "type": "boolean" } },
            }), false),
            event("admitted", schema("QueueStanding"), false),
            event("closed", json!({
                "type": "object",
                "required": ["reason"],
                "properties": { "reason": { "const": "queue_disabled" } },
            }), false),
        ],
    });
    let dashboard = json!({
        "description": "An event of `GET /admin/events/{event_id}/dashboard/stream`: the `snapshot` first, then a `sample` a tick.",
        "oneOf": [
            event("snapshot", schema("DashboardSnapshot"), false),
            event("sample", schema("DashboardSample"), false),
        ],
    });
    let schemas = &mut doc["components"]["schemas"];
    schemas["SeatMapEvent"] = seat_map;
    schemas["QueueEvent"] = queue;
    schemas["DashboardEvent"] = dashboard;
}
