//! Live seat maps over SSE and WebSocket, across two nodes.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;

use crate::helpers::{
    LiveMap, SseClient, TestApp, assert_problem, booking_id, spawn_app, spawn_app_with,
};

const WAIT: Duration = Duration::from_secs(10);

#[actix_web::test]
async fn a_reservation_on_one_node_reaches_a_stream_on_another_as_a_delta() {
    a_delta_reaches_a_stream_on_another_node(&spawn_app().await).await;
}

/// A hold through `a` reaches a seat-map stream on a peer of it as delta 1;
/// returns the event. (Also run on a Redis Cluster, `redis_cluster`.)
pub async fn a_delta_reaches_a_stream_on_another_node(a: &TestApp) -> i64 {
    let b = a.peer().await;
    let (event_id, seats) = a.event_with_seats(3).await;
    let mut stream = b.seat_events(event_id).await;
    let snapshot = stream.next(WAIT).await;
    assert_eq!(
        (snapshot.event.as_str(), snapshot.id.as_deref()),
        ("snapshot", Some("0"))
    );
    assert_eq!(snapshot.data["seats"].as_array().unwrap().len(), 3);

    let alice = a.buyer_token().await;
    a.hold(&alice, event_id, &seats[1..2]).await;
    let delta = stream.next(WAIT).await;
    assert_eq!(
        (delta.event.as_str(), delta.id.as_deref()),
        ("delta", Some("1"))
    );
    assert_eq!(delta.data["event_id"], event_id);
    assert_eq!(
        delta.data["changes"],
        serde_json::json!([{"seat_id": seats[1], "status": "RESERVED"}])
    );
    event_id
}

#[actix_web::test]
async fn a_reconnect_with_last_event_id_gets_exactly_the_missed_deltas() {
    let a = spawn_app().await;
    let (event_id, seats) = a.event_with_seats(4).await;
    let alice = a.buyer_token().await;
    let mut stream = a.seat_events(event_id).await;
    stream.next(WAIT).await;
    a.hold(&alice, event_id, &seats[0..1]).await;
    assert_eq!(stream.next(WAIT).await.id.as_deref(), Some("1"));
    drop(stream);

    // Missed while away: versions 2 and 3.
    a.hold(&alice, event_id, &seats[1..2]).await;
    a.hold(&alice, event_id, &seats[2..3]).await;
    let mut resumed = SseClient::connect(&a.seat_stream_url(event_id), Some("1")).await;
    let first = resumed.next(WAIT).await;
    assert_eq!(
        first.event, "delta",
        "no snapshot when the missed deltas are known"
    );
    assert_eq!(
        (
            first.data["from_version"].as_i64(),
            first.data["version"].as_i64()
        ),
        (Some(2), Some(3))
    );
    let changed: Vec<i64> = first.data["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["seat_id"].as_i64().unwrap())
        .collect();
    assert_eq!(changed, vec![seats[1], seats[2]]);
    assert!(
        resumed.try_next(Duration::from_millis(300)).await.is_none(),
        "nothing else was missed"
    );

    // Up to date: nothing to send until the next change.
    let mut current = SseClient::connect(&a.seat_stream_url(event_id), Some("3")).await;
    assert!(current.try_next(Duration::from_millis(300)).await.is_none());
    a.hold(&alice, event_id, &seats[3..4]).await;
    assert_eq!(current.next(WAIT).await.id.as_deref(), Some("4"));
}

#[actix_web::test]
async fn a_reconnect_too_old_for_the_ring_gets_a_fresh_snapshot() {
    let a = spawn_app_with(|s| s.live.ring_size = 1).await;
    let (event_id, seats) = a.event_with_seats(3).await;
    let alice = a.buyer_token().await;
    let mut stream = a.seat_events(event_id).await;
    stream.next(WAIT).await;
    for seat in &seats {
        a.hold(&alice, event_id, &[*seat]).await;
    }
    let mut resumed = SseClient::connect(&a.seat_stream_url(event_id), Some("0")).await;
    let first = resumed.next(WAIT).await;
    assert_eq!(
        (first.event.as_str(), first.id.as_deref()),
        ("snapshot", Some("3"))
    );
    assert!(
        first.data["seats"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["status"] == "RESERVED")
    );
}

#[actix_web::test]
async fn a_compact_snapshot_is_one_status_character_per_seat_in_layout_order() {
    let a = spawn_app().await;
    let (event_id, seats) = a.event_with_seats(5).await;
    let alice = a.buyer_token().await;
    let booking = a.hold(&alice, event_id, &seats[1..2]).await;
    a.pays(&alice, booking, "k", "tok_visa").await;
    a.hold(&alice, event_id, &seats[3..4]).await;
    let mut stream = SseClient::connect(
        &format!("{}?format=compact", a.seat_stream_url(event_id)),
        None,
    )
    .await;
    let snapshot = stream.next(WAIT).await;
    assert_eq!(snapshot.data["format"], "compact");
    assert_eq!(snapshot.data["statuses"], "ACARA");
    assert_eq!(snapshot.data["version"], 3);
}

#[actix_web::test]
async fn a_websocket_carries_the_same_snapshot_and_deltas() {
    let a = spawn_app().await;
    let b = a.peer().await;
    let (event_id, seats) = a.event_with_seats(2).await;
    let url = b
        .url(&format!("/events/{event_id}/seats/ws"))
        .replacen("http://", "ws://", 1);
    let (mut socket, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("websocket handshake");
    let mut next_text = async || loop {
        match tokio::time::timeout(WAIT, socket.next())
            .await
            .expect("a frame before the deadline")
        {
            Some(Ok(tokio_tungstenite::tungstenite::Message::Text(text))) => {
                return serde_json::from_str::<Value>(&text).unwrap();
            }
            Some(Ok(_)) => continue,
            other => panic!("websocket ended: {other:?}"),
        }
    };
    let snapshot = next_text().await;
    assert_eq!(
        (snapshot["type"].as_str(), snapshot["version"].as_i64()),
        (Some("snapshot"), Some(0))
    );
    let alice = a.buyer_token().await;
    a.hold(&alice, event_id, &seats[..1]).await;
    let delta = next_text().await;
    assert_eq!(delta["type"], "delta");
    assert_eq!(
        delta["changes"],
        serde_json::json!([{"seat_id": seats[0], "status": "RESERVED"}])
    );

    socket
        .send(tokio_tungstenite::tungstenite::Message::Ping(
            b"hi".to_vec().into(),
        ))
        .await
        .unwrap();
    let pong = loop {
        match tokio::time::timeout(WAIT, socket.next()).await.unwrap() {
            Some(Ok(tokio_tungstenite::tungstenite::Message::Pong(payload))) => break payload,
            Some(Ok(_)) => continue,
            other => panic!("no pong: {other:?}"),
        }
    };
    assert_eq!(&pong[..], b"hi");
    socket.close(None).await.unwrap();
}

#[actix_web::test]
async fn snapshot_plus_deltas_always_reproduce_the_database_across_two_nodes() {
    let a = spawn_app_with(|s| s.booking.hold_seconds = 1).await;
    let b = a.peer().await;
    let (event_id, seats) = a.event_with_seats(12).await;
    let mut stream = b.seat_events(event_id).await;
    let mut map = LiveMap::default();
    map.apply(&stream.next(WAIT).await.data);

    let (alice, bob) = (a.buyer_token().await, a.buyer_token().await);
    let mut bookings = Vec::new();
    for (i, seat) in seats.iter().enumerate() {
        let (node, token) = if i % 2 == 0 { (&a, &alice) } else { (&b, &bob) };
        let held = node.reserve(token, event_id, &[*seat]).await;
        if held.status() == 201 {
            bookings.push((i, booking_id(held).await));
        }
    }
    // Release some, confirm some, let the rest expire (1 s holds).
    for (i, booking) in &bookings {
        let (node, token) = if i % 2 == 0 { (&a, &alice) } else { (&b, &bob) };
        match i % 3 {
            0 => assert_eq!(node.release(token, *booking).await.status(), 200),
            1 => assert_eq!(
                node.confirm(token, *booking, Some(&format!("k{i}")), "tok_visa")
                    .await
                    .status(),
                200
            ),
            _ => {}
        }
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let (version, statuses) = a.seat_statuses(event_id).await;
        if map.version == version && !statuses.contains(&"RESERVED".to_owned()) {
            assert_eq!(
                map.in_order(&seats),
                statuses,
                "the live map disagrees with the database"
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "live map stuck at {} (database at {version})",
            map.version
        );
        if let Some(event) = stream.try_next(Duration::from_millis(200)).await {
            map.apply(&event.data);
        }
    }
}

#[actix_web::test]
async fn beyond_the_subscriber_cap_a_node_answers_503_with_retry_after() {
    let a = spawn_app_with(|s| s.live.max_subscribers = 1).await;
    let (event_id, _) = a.event_with_seats(1).await;
    let _first = a.seat_events(event_id).await;
    let second = a.get(&format!("/events/{event_id}/seats/stream")).await;
    assert_eq!(second.headers()["retry-after"], "2");
    assert_problem(second, 503, "too_many_subscribers").await;
}

#[actix_web::test]
async fn bad_stream_requests_are_problems() {
    let a = spawn_app().await;
    let (event_id, _) = a.event_with_seats(1).await;
    assert_problem(a.get("/events/999999/seats/stream").await, 404, "not_found").await;
    assert_problem(
        a.get(&format!("/events/{event_id}/seats/stream?format=tiny"))
            .await,
        400,
        "validation_failed",
    )
    .await;
    // Not a handshake: 426, naming the protocol and version to switch to.
    let plain = a.get(&format!("/events/{event_id}/seats/ws")).await;
    assert_eq!(plain.headers()["upgrade"], "websocket");
    assert_eq!(plain.headers()["sec-websocket-version"], "13");
    assert_problem(plain, 426, "upgrade_required").await;
}

#[actix_web::test]
async fn a_subscriber_that_stops_reading_is_dropped_while_others_keep_receiving() {
    use std::sync::Arc;

    use actors::model::{EventId, SeatId, SeatStatus};
    use actors::ports::{SeatChange, SeatDelta};
    use boxoffice::live::frames::Format;
    use boxoffice::live::hub::Hubs;

    let app = spawn_app().await;
    let (event_id, seats) = app.event_with_seats(20).await;
    let mut settings = app.settings.live.clone();
    settings.channel_capacity = 2;
    settings.flush_ms = 5;
    let arbiter = actix::Arbiter::new();
    let hubs = Arc::new(Hubs::new(app.pool.clone(), settings, arbiter.handle()));
    let (deltas, routed) = tokio::sync::broadcast::channel(1024);
    arbiter.spawn(hubs.clone().route(routed));

    let mut reader = Box::pin(
        hubs.subscribe(EventId(event_id), None, Format::Compact)
            .await
            .unwrap()
            .into_stream(),
    );
    let mut stalled = Box::pin(
        hubs.subscribe(EventId(event_id), None, Format::Compact)
            .await
            .unwrap()
            .into_stream(),
    );
    let first = tokio::time::timeout(WAIT, reader.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.version, 0);
    let first = tokio::time::timeout(WAIT, stalled.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.version, 0);

    // Twenty commits, one flush apart; the reader keeps up, the other does not read.
    for (i, seat) in seats.iter().enumerate() {
        let version = i as i64 + 1;
        let change = SeatChange {
            seat_id: SeatId(*seat),
            status: SeatStatus::Reserved,
        };
        deltas
            .send(Arc::new(SeatDelta {
                event_id: EventId(event_id),
                version,
                changes: vec![change],
            }))
            .unwrap();
        let mut seen = 0;
        while seen < version {
            seen = tokio::time::timeout(WAIT, reader.next())
                .await
                .expect("the reader keeps receiving")
                .unwrap()
                .version;
        }
    }
    // The stalled subscriber fell more than the channel behind: its stream ends.
    let ended = tokio::time::timeout(WAIT, async { while stalled.next().await.is_some() {} }).await;
    assert!(
        ended.is_ok(),
        "a subscriber that stopped reading was never dropped"
    );
    arbiter.stop();
}
