//! A live seat map heals by itself: a commit whose delta never reaches a
//! node's hub, with no later commit to reveal the gap, still reaches that
//! hub's subscribers; a burst of deltas beyond a hub's inbox is dropped and
//! the hub still converges to the database.

use std::time::Duration;

use serde_json::json;

use crate::helpers::{LiveMap, SseClient, TestApp, spawn_app, spawn_app_with};

/// Holds `seat` through the API and waits until the subscriber sees it.
async fn held(
    app: &TestApp,
    stream: &mut SseClient,
    seen: &mut LiveMap,
    event_id: i64,
    seat: i64,
) -> i64 {
    let buyer = app.buyer_token().await;
    let booking = app.hold(&buyer, event_id, &[seat]).await;
    let version = seen.version + 1;
    seen.observe_until(stream, seat, "RESERVED", version).await;
    booking
}

/// Releases `booking` in PostgreSQL the way a node would (the next version,
/// in one transaction), but tells no hub.
async fn release_unannounced(app: &TestApp, event_id: i64, booking: i64) -> i64 {
    let mut tx = app.pool.begin().await.unwrap();
    let version: i64 = sqlx::query_scalar(
        "UPDATE events SET seat_version = seat_version + 1 WHERE event_id = $1 RETURNING seat_version",
    )
    .bind(event_id)
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    for statement in [
        "UPDATE bookings SET status = 'RELEASED' WHERE booking_id = $1",
        "UPDATE booking_seats SET active = false WHERE booking_id = $1",
        "UPDATE seats SET status = 'AVAILABLE', booking_id = NULL, reserved_at = NULL WHERE booking_id = $1",
    ] {
        sqlx::query(statement)
            .bind(booking)
            .execute(&mut *tx)
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
    version
}

async fn subscribed(app: &TestApp, event_id: i64) -> (SseClient, LiveMap) {
    let mut stream = app.seat_events(event_id).await;
    let mut seen = LiveMap::default();
    seen.observe(&stream.next(Duration::from_secs(10)).await.data);
    (stream, seen)
}

#[actix_web::test]
async fn a_delta_lost_on_pub_sub_reaches_subscribers_without_a_later_commit() {
    let app = spawn_app().await;
    let (event_id, seats) = app.event_with_seats(3).await;
    let (mut stream, mut seen) = subscribed(&app, event_id).await;
    let booking = held(&app, &mut stream, &mut seen, event_id, seats[1]).await;

    // Another node released it and recorded the version; its message was lost.
    let version = release_unannounced(&app, event_id, booking).await;
    let _: () = redis::cmd("SET")
        .arg(app.event_key(event_id, "version"))
        .arg(version)
        .query_async(&mut app.redis().await)
        .await
        .unwrap();

    seen.observe_until(&mut stream, seats[1], "AVAILABLE", version)
        .await;
}

#[actix_web::test]
async fn a_commit_whose_publish_failed_outright_reaches_subscribers_from_postgresql() {
    let app = spawn_app().await;
    let (event_id, seats) = app.event_with_seats(3).await;
    let (mut stream, mut seen) = subscribed(&app, event_id).await;
    // A real commit first, so Redis knows a (soon outdated) version.
    let booking = held(&app, &mut stream, &mut seen, event_id, seats[2]).await;

    // Neither the message nor the version reached Redis.
    let version = release_unannounced(&app, event_id, booking).await;

    seen.observe_until(&mut stream, seats[2], "AVAILABLE", version)
        .await;
}

#[actix_web::test]
async fn a_delta_burst_beyond_the_hub_inbox_is_dropped_and_the_map_still_converges() {
    let app = spawn_app_with(|s| s.live.inbox_capacity = 4).await;
    let (event_id, seats) = app.event_with_seats(3).await;
    let (mut stream, mut seen) = subscribed(&app, event_id).await;
    let booking = held(&app, &mut stream, &mut seen, event_id, seats[1]).await;

    // A flood of (already applied) deltas from "another node", with the real
    // one in the middle of it.
    let version = release_unannounced(&app, event_id, booking).await;
    let channel = app.event_key(event_id, "deltas");
    let envelope = |version: i64, status: &str| {
        json!({"origin": "elsewhere", "event_id": event_id, "version": version,
               "changes": [{"seat_id": seats[1], "status": status}]})
        .to_string()
    };
    let mut pipe = redis::pipe();
    for i in 0..4000 {
        if i == 2000 {
            pipe.set(app.event_key(event_id, "version"), version)
                .ignore();
            pipe.publish(&channel, envelope(version, "AVAILABLE"))
                .ignore();
        }
        pipe.publish(&channel, envelope(0, "CONFIRMED")).ignore();
    }
    let _: () = pipe.query_async(&mut app.redis().await).await.unwrap();

    seen.observe_until(&mut stream, seats[1], "AVAILABLE", version)
        .await;
    // And the map is the database's, seat for seat.
    let map = app.seat_map(event_id).await;
    for seat in map["seats"].as_array().unwrap() {
        let id = seat["seat_id"].as_i64().unwrap();
        assert_eq!(seen.statuses[&id], seat["status"].as_str().unwrap());
    }
}

#[actix_web::test]
async fn subscribers_arriving_around_an_idle_stop_always_get_a_live_map() {
    // Hubs stop after a second without subscribers.
    let app = spawn_app_with(|s| s.live.idle_seconds = 0).await;
    let (event_id, seats) = app.event_with_seats(8).await;
    let buyer = app.buyer_token().await;
    // Gaps around the moment the hub stops: before, at, after.
    let gaps_ms = [900, 1050, 1100, 1150, 1500];
    for (seat, gap) in seats.iter().zip(gaps_ms) {
        let (mut stream, mut seen) = subscribed(&app, event_id).await;
        let answer = app.reserve(&buyer, event_id, &[*seat]).await;
        assert_eq!(answer.status(), 201);
        let version = seen.version + 1;
        seen.observe_until(&mut stream, *seat, "RESERVED", version)
            .await;
        drop(stream);
        // Spacing, not waiting for a condition: the next subscriber arrives
        // `gap` after this one left, around the hub's idle stop.
        tokio::time::sleep(Duration::from_millis(gap)).await;
    }
}
