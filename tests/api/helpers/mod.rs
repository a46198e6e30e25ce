//! What the integration tests share, one room a concern:
//! - `app`: `spawn_app()` and peers, the real application on real stores;
//! - `api`: one method per endpoint, returning the raw answer;
//! - `fixtures`: Arrange steps that check they worked (tokens, events, holds,
//!   waiting rooms);
//! - `asserts`: assertions many tests make alike (problem bodies, 429s);
//! - `peek`: what PostgreSQL and Redis hold behind the API;
//! - `waits`: waiting for a condition with a deadline;
//! - `redis_cluster`: a three-master Redis Cluster of the test process's own;
//! - `pg_replica`: a private PostgreSQL primary and its streaming replica;
//! - `sse`: a real SSE client, and `live_map`: a subscriber's seat map;
//! - `logged_node`: the real binary as a child process, its log in a file.

mod api;
mod app;
mod asserts;
mod fixtures;
mod live_map;
mod logged_node;
mod peek;
mod pg_replica;
mod redis_cluster;
mod sse;
mod waits;

pub use app::{TestApp, spawn_app, spawn_app_against, spawn_app_with};
pub use asserts::{assert_limited, assert_problem};
pub use boxoffice::config::Settings;
pub use fixtures::{booking_id, in_an_hour, layout, now};
pub use live_map::LiveMap;
pub use logged_node::LoggedNode;
pub use peek::unlock;
pub use pg_replica::PgPair;
pub use redis_cluster::{
    keys_by_master as cluster_keys_by_master, sharded_subscribers, spawn_app_on_cluster_with,
};
pub use sse::SseClient;
pub use waits::{eventually, eventually_within};
