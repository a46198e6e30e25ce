//! The concurrency core of boxoffice.
//!
//! This crate knows nothing of HTTP, sqlx or redis-rs. It holds the domain
//! types every layer shares and, as the booking core grows, the actors that
//! serialise changes to an event's seats and the storage traits ("ports")
//! those actors call; the server crate implements the ports with PostgreSQL
//! and Redis.
#![deny(clippy::unwrap_used, clippy::expect_used)]

pub mod domain;
