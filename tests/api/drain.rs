//! A node asked to stop (SIGTERM) drains: it hands its admission lease back
//! at once, ends its live seat-map and queue position streams so clients
//! resume on another node, and stops without waiting out the shutdown
//! timeout (issue #10).

use std::time::{Duration, Instant};

use crate::helpers::{Settings, SseClient, eventually_within, spawn_app_with};

/// A lease that would take a minute to lapse: another node taking over within
/// two seconds can only come from the hand-back.
fn slow_lapse(s: &mut Settings) {
    s.queue.joins_per_second_per_client = 100_000;
    s.queue.lease_ms = 60_000;
}

#[actix_web::test]
async fn a_draining_node_hands_its_lease_back_ends_its_streams_and_clients_resume_elsewhere() {
    let a = spawn_app_with(slow_lapse).await;
    // Admission paused (rate 0): the waiter stays in line, the lease is held.
    let (admin, queued, _) = a.queued_event(10, 0, None).await;
    let a_id = a.node_id().await;
    eventually_within(
        Duration::from_secs(10),
        Duration::from_millis(50),
        "the only node takes the lease",
        || async { a.queue_report(&admin, queued).await["lease_holder"] == a_id.as_str() },
    )
    .await;
    let b = a.peer_with(slow_lapse).await;
    let b_id = b.node_id().await;

    let (event_id, seats) = a.event_with_seats(4).await;
    let mut map = SseClient::connect(&a.seat_stream_url(event_id), None).await;
    let snapshot = map.next(Duration::from_secs(10)).await;
    let last_id = snapshot
        .id
        .clone()
        .expect("the snapshot carries its version as id");
    let waiter = a.buyer_token().await;
    a.joined(&waiter, queued).await;
    let mut position = a.queue_events(&waiter, queued).await;
    position.next(Duration::from_secs(10)).await;
    let mut dashboard = SseClient::connect_with(
        &a.url(&format!("/admin/events/{event_id}/dashboard/stream")),
        &[("Authorization", format!("Bearer {admin}"))],
    )
    .await;
    dashboard.next(Duration::from_secs(10)).await;

    let draining = Instant::now();
    a.drain().await;
    assert!(
        draining.elapsed() < Duration::from_secs(5),
        "streams end at once: the stop does not wait out the 10 s shutdown timeout ({:?})",
        draining.elapsed()
    );
    assert!(
        map.ends_within(Duration::from_secs(2)).await,
        "the seat-map stream ended"
    );
    assert!(
        position.ends_within(Duration::from_secs(2)).await,
        "the position stream ended"
    );
    assert!(
        dashboard.ends_within(Duration::from_secs(2)).await,
        "the operator's dashboard stream ended"
    );
    assert!(
        a.client.get(a.url("/healthz")).send().await.is_err(),
        "the drained node accepts nothing"
    );
    eventually_within(
        Duration::from_secs(2),
        Duration::from_millis(20),
        "the other node takes the handed-back lease at once, not after 60 s",
        || async { b.queue_report(&admin, queued).await["lease_holder"] == b_id.as_str() },
    )
    .await;

    // The map client resumes on the other node from its last id: the next
    // change arrives as a delta right after it, not as a fresh snapshot.
    let mut resumed = SseClient::connect(&b.seat_stream_url(event_id), Some(&last_id)).await;
    let buyer = b.buyer_token().await;
    assert_eq!(b.reserve(&buyer, event_id, &seats[..1]).await.status(), 201);
    let next = resumed.next(Duration::from_secs(10)).await;
    assert_eq!(next.event, "delta", "{next:?}");
    let from: i64 = next.data["from_version"].as_i64().expect("from_version");
    assert_eq!(from, last_id.parse::<i64>().unwrap() + 1, "{next:?}");
    // The waiter keeps their place on the other node.
    assert_eq!(b.queue_status(&waiter, queued).await["position"], 1);
}

#[actix_web::test]
async fn while_lingering_a_stopping_node_serves_but_closes_every_connection_and_is_not_ready() {
    let app = spawn_app_with(|s| s.server.linger_seconds = 3).await;
    let before = app.get("/healthz").await;
    assert_ne!(
        before.headers().get("connection").map(|v| v.as_bytes()),
        Some(&b"close"[..]),
        "a serving node keeps connections alive"
    );
    let stopping = Instant::now();
    let drained = async {
        app.drain().await;
        stopping.elapsed()
    };
    let probe = async {
        // The drain has started (it runs concurrently): answers close.
        let answer = app.get("/healthz").await;
        assert_eq!(answer.status(), 200, "still serving while it lingers");
        assert_eq!(
            answer.headers().get("connection").map(|v| v.as_bytes()),
            Some(&b"close"[..]),
            "every answer closes its connection"
        );
        let ready = app.get("/readyz").await;
        assert_eq!(ready.status(), 503);
        assert_eq!(
            ready.json::<serde_json::Value>().await.unwrap()["status"],
            "draining"
        );
    };
    let (took, ()) = futures_util::join!(drained, probe);
    assert!(
        took >= Duration::from_secs(3),
        "the listener stays open for linger_seconds ({took:?})"
    );
    assert!(app.client.get(app.url("/healthz")).send().await.is_err());
}
