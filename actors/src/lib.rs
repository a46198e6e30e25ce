//! The concurrency core of boxoffice.
//!
//! This crate knows nothing of HTTP, sqlx or redis-rs. It holds the domain
//! types every layer shares, the storage traits ("ports") the actors call,
//! and the actors:
//!
//! - [`event_actor`]: one per hot event, the single writer of its seats on a
//!   node, with group commit (`group_commit`) in front of Redis locks and
//!   PostgreSQL;
//! - [`registry`]: starts event actors on first use, delists them when idle;
//! - [`sweeper`]: releases expired holds on every node, safely in parallel.
//!
//! The server crate implements the ports with PostgreSQL and Redis; the tests
//! here use in-memory fakes.
#![deny(clippy::unwrap_used, clippy::expect_used)]

pub mod batch;
pub mod best_available;
pub mod event_actor;
#[cfg(test)]
mod event_actor_tests;
#[cfg(test)]
mod fakes;
mod group_commit;
pub mod model;
pub mod ports;
pub mod registry;
pub mod reservation;
pub mod seat_state;
pub mod sequencer;
pub mod sweeper;
