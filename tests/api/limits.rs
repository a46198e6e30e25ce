//! Per-client abuse limits (`[limits]`): 429 with `Retry-After` beyond a
//! rate or a stream cap, keyed by the client address (X-Forwarded-For only
//! from a trusted proxy), bounded password hashing, and `enabled = false`.

use std::time::Duration;

use futures_util::future::join_all;
use serde_json::Value;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::helpers::{assert_limited, assert_problem, eventually_within, spawn_app_with};

#[actix_web::test]
async fn guests_signups_and_logins_beyond_the_client_rate_get_429_with_retry_after() {
    let app = spawn_app_with(|s| {
        s.limits.guests_per_minute = 2;
        s.limits.signups_per_minute = 2;
        s.limits.logins_per_minute = 2;
    })
    .await;
    for _ in 0..2 {
        assert_eq!(app.guest("fan@example.com").await.status(), 201);
    }
    assert_limited(app.guest("fan@example.com").await).await;

    assert_eq!(
        app.signup("a@example.com", "s3cret-password")
            .await
            .status(),
        201
    );
    assert_eq!(
        app.signup("b@example.com", "s3cret-password")
            .await
            .status(),
        201
    );
    assert_limited(app.signup("c@example.com", "s3cret-password").await).await;
    assert_eq!(
        app.count("users").await,
        4,
        "a refused signup creates nobody"
    );

    assert_eq!(
        app.login("a@example.com", "s3cret-password").await.status(),
        200
    );
    assert_eq!(
        app.login("a@example.com", "s3cret-password").await.status(),
        200
    );
    assert_limited(app.login("a@example.com", "s3cret-password").await).await;
}

/// The whole seat map is megabytes for a big venue: a client that reads it
/// in a loop is told to slow down (browsers follow the live stream).
#[actix_web::test]
async fn seat_map_reads_beyond_the_client_rate_get_429_with_retry_after() {
    let app = spawn_app_with(|s| s.limits.seat_maps_per_minute = 2).await;
    let admin = app.admin_token().await;
    let (_, event_id) = app
        .venue_and_event(&admin, "Oslo", crate::helpers::layout(1, 1, 3))
        .await;
    let path = format!("/events/{event_id}/seats");
    for _ in 0..2 {
        assert_eq!(app.get(&path).await.status(), 200);
    }
    assert_limited(app.get(&path).await).await;
    // The live stream is not a seat map read: it still opens.
    let stream = app.get(&format!("{path}/stream")).await;
    assert_eq!(stream.status(), 200);
}

#[actix_web::test]
async fn failed_logins_lock_the_account_even_for_the_right_password_but_not_others() {
    let app = spawn_app_with(|s| s.limits.failed_logins_per_account_per_hour = 3).await;
    app.signup("ana@example.com", "s3cret-password").await;
    app.signup("bob@example.com", "s3cret-password").await;
    for _ in 0..3 {
        assert_problem(
            app.login("ana@example.com", "wrong-password").await,
            401,
            "invalid_credentials",
        )
        .await;
    }
    assert_limited(app.login("Ana@example.com", "wrong-password").await).await;
    assert_limited(app.login("ana@example.com", "s3cret-password").await).await;
    assert_eq!(
        app.login("bob@example.com", "s3cret-password")
            .await
            .status(),
        200
    );
}

#[actix_web::test]
async fn forwarded_for_from_an_untrusted_peer_is_ignored() {
    // No trusted proxies: anyone could write the header, so it names no one.
    let app = spawn_app_with(|s| s.limits.guests_per_minute = 1).await;
    assert_eq!(app.guest_from(Some("198.51.100.1")).await.status(), 201);
    assert_limited(app.guest_from(Some("198.51.100.2")).await).await;
}

#[actix_web::test]
async fn forwarded_for_from_a_trusted_proxy_names_the_client() {
    // The tests connect from 127.0.0.1: here it is the trusted proxy.
    let app = spawn_app_with(|s| {
        s.limits.guests_per_minute = 1;
        s.limits.trusted_proxies = vec!["127.0.0.1".into()];
    })
    .await;
    assert_eq!(app.guest_from(Some("198.51.100.1")).await.status(), 201);
    assert_limited(app.guest_from(Some("198.51.100.1")).await).await;
    assert_eq!(app.guest_from(Some("198.51.100.2")).await.status(), 201);
    // The client cannot hide behind a made-up address to the left of its own.
    assert_limited(app.guest_from(Some("203.0.113.77, 198.51.100.2")).await).await;
    // The proxy itself, with nobody behind it, is a client too.
    assert_eq!(app.guest_from(None).await.status(), 201);
}

#[actix_web::test]
async fn with_limits_disabled_nothing_is_refused() {
    let app = spawn_app_with(|s| {
        s.limits.enabled = false;
        s.limits.guests_per_minute = 1;
        s.limits.failed_logins_per_account_per_hour = 1;
        s.limits.live_streams_per_client = 1;
        s.queue.joins_per_second_per_client = 1;
    })
    .await;
    for _ in 0..5 {
        assert_eq!(app.guest("fan@example.com").await.status(), 201);
    }
    for _ in 0..3 {
        assert_eq!(
            app.login("nobody@example.com", "wrong-password")
                .await
                .status(),
            401
        );
    }
    let (event_id, _) = app.event_with_seats(1).await;
    let streams =
        join_all((0..3).map(|_| app.open_seat_stream_from(event_id, "198.51.100.1"))).await;
    assert!(streams.iter().all(|r| r.status() == 200));
}

/// Opens a stream every `every` until one is let in (`200`; every refusal
/// meanwhile a `429`), for at most ten seconds.
async fn slot_comes_back<F, Fut>(every: Duration, open: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = reqwest::Response>,
{
    eventually_within(
        Duration::from_secs(10),
        every,
        "the closed stream's slot came back",
        || async {
            let again = open().await;
            if again.status() == 200 {
                return true;
            }
            assert_eq!(again.status(), 429);
            false
        },
    )
    .await;
}

#[actix_web::test]
async fn one_client_cannot_hold_more_live_streams_than_its_cap_and_a_closed_one_frees_a_slot() {
    let app = spawn_app_with(|s| {
        s.limits.live_streams_per_client = 2;
        // Clients are told apart by X-Forwarded-For through the "proxy" 127.0.0.1.
        s.limits.trusted_proxies = vec!["127.0.0.1".into()];
        s.live.keep_alive_seconds = 1;
    })
    .await;
    let (event_id, _) = app.event_with_seats(1).await;
    let first = app.open_seat_stream_from(event_id, "198.51.100.1").await;
    assert_eq!(first.status(), 200);
    let second = app.open_seat_stream_from(event_id, "198.51.100.1").await;
    assert_eq!(second.status(), 200);
    assert_limited(app.open_seat_stream_from(event_id, "198.51.100.1").await).await;
    // WebSockets count against the same cap.
    let mut ws = app
        .url(&format!("/events/{event_id}/seats/ws"))
        .replacen("http://", "ws://", 1)
        .into_client_request()
        .unwrap();
    ws.headers_mut()
        .insert("X-Forwarded-For", "198.51.100.1".parse().unwrap());
    match tokio_tungstenite::connect_async(ws).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 429);
            assert!(response.headers().contains_key("retry-after"));
        }
        other => panic!("a third stream by WebSocket: {:?}", other.map(|_| ())),
    }
    // Another client has its own count.
    assert_eq!(
        app.open_seat_stream_from(event_id, "198.51.100.2")
            .await
            .status(),
        200
    );

    drop(first);
    slot_comes_back(Duration::from_millis(100), || {
        app.open_seat_stream_from(event_id, "198.51.100.1")
    })
    .await;
    drop(second);
}

#[actix_web::test]
async fn one_client_cannot_hold_more_queue_streams_than_its_cap() {
    let app = spawn_app_with(|s| s.limits.queue_streams_per_client = 1).await;
    let (_, event_id, _) = app.queued_event(2, 1, Some("2099-01-01T00:00:00Z")).await;
    let buyer = app.buyer_token().await;
    app.joined(&buyer, event_id).await;
    let first = app.open_queue_stream(&buyer, event_id).await;
    assert_eq!(first.status(), 200);
    assert_limited(app.open_queue_stream(&buyer, event_id).await).await;
    drop(first);
    // The position stream notices the closed connection at its next message
    // (at most two seconds): then the slot is free again.
    slot_comes_back(Duration::from_millis(200), || {
        app.open_queue_stream(&buyer, event_id)
    })
    .await;
}

#[actix_web::test]
async fn queue_joins_beyond_the_client_rate_get_429_with_retry_after() {
    let app = spawn_app_with(|s| s.queue.joins_per_second_per_client = 1).await;
    let (_, event_id, _) = app.queued_event(2, 1, Some("2099-01-01T00:00:00Z")).await;
    let buyer = app.buyer_token().await;
    // Burst: twice the rate.
    for _ in 0..2 {
        assert_eq!(app.join_queue(&buyer, event_id).await.status(), 201);
    }
    assert_limited(app.join_queue(&buyer, event_id).await).await;
}

#[actix_web::test]
async fn a_login_flood_is_held_to_the_hashing_bound_and_answered_503_not_500() {
    let app = spawn_app_with(|s| {
        s.limits.password_hashing_concurrency = 1;
        s.limits.password_hashing_wait_ms = 1;
    })
    .await;
    let answers =
        join_all((0..40).map(|_| app.login("nobody@example.com", "wrong-password"))).await;
    let mut refused = 0;
    for answer in answers {
        match answer.status().as_u16() {
            401 => {}
            503 => {
                assert!(answer.headers().contains_key("retry-after"));
                let body: Value = answer.json().await.unwrap();
                assert_eq!(body["code"], "service_unavailable");
                refused += 1;
            }
            other => panic!("a login under the flood answered {other}"),
        }
    }
    assert!(
        refused > 0,
        "forty logins at once never met the bound of one"
    );
}
