//! The same server on a three-master Redis Cluster (started once by the
//! harness, `helpers::redis_cluster`): a representative set of the booking,
//! live-map and waiting-room scenarios, and the key layout that keeps each
//! event on one shard while events spread over the shards.

use std::collections::HashSet;

use crate::concurrency::two_nodes_sell_each_seat_once;
use crate::helpers::{cluster_keys_by_master, sharded_subscribers, spawn_app_on_cluster_with};
use crate::live::a_delta_reaches_a_stream_on_another_node;
use crate::queue::{two_nodes_admit_at_the_rate_across_a_takeover, unlimited_joins};

#[actix_web::test]
async fn on_a_redis_cluster_racing_reservations_on_two_nodes_sell_each_seat_once() {
    two_nodes_sell_each_seat_once(spawn_app_on_cluster_with(|_| {}).await).await;
}

#[actix_web::test]
async fn on_a_redis_cluster_deltas_reach_another_node_over_sharded_pub_sub() {
    let a = spawn_app_on_cluster_with(|_| {}).await;
    let event_id = a_delta_reaches_a_stream_on_another_node(&a).await;
    // The node with the event's actor listens on the event's shard channel.
    let channel = a.event_key(event_id, "deltas");
    let subscribers = tokio::task::spawn_blocking(move || sharded_subscribers(&channel))
        .await
        .unwrap();
    assert!(
        subscribers >= 1,
        "no sharded subscriber on the event's channel"
    );
}

#[actix_web::test]
async fn on_a_redis_cluster_two_nodes_admit_at_the_rate_across_a_takeover() {
    two_nodes_admit_at_the_rate_across_a_takeover(spawn_app_on_cluster_with(unlimited_joins).await)
        .await;
}

#[actix_web::test]
async fn on_a_redis_cluster_each_event_lives_on_one_shard_and_events_spread_over_shards() {
    let app = spawn_app_on_cluster_with(unlimited_joins).await;
    let buyer = app.buyer_token().await;
    let mut events = Vec::new();
    for _ in 0..8 {
        let (event_id, seats) = app.event_with_seats(3).await;
        app.hold(&buyer, event_id, &seats[..1]).await;
        app.hold(&buyer, event_id, &seats[1..2]).await;
        events.push(event_id);
    }
    let prefix = app.redis_prefix.clone();
    let placement = tokio::task::spawn_blocking(move || cluster_keys_by_master(&prefix))
        .await
        .unwrap();
    let mut shards_used = HashSet::new();
    for event_id in events {
        let tag = format!("{{e:{event_id}}}");
        let homes: Vec<u16> = placement
            .iter()
            .filter(|(_, keys)| keys.iter().any(|k| k.contains(&tag)))
            .map(|(port, _)| *port)
            .collect();
        assert_eq!(homes.len(), 1, "event {event_id}'s keys on {homes:?}");
        shards_used.insert(homes[0]);
    }
    assert!(
        shards_used.len() >= 2,
        "eight events all on one shard: {shards_used:?}"
    );
}
