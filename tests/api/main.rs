//! Integration tests against real PostgreSQL and Redis (`make test` starts them).

mod bad_input;
mod best_available;
mod bookings;
mod catalog;
mod cli;
mod concurrency;
mod dashboard;
mod drain;
mod faults;
mod helpers;
mod hold_limit;
mod identity;
mod invariants;
mod limits;
mod live;
mod live_healing;
mod ops;
mod payments;
mod queue;
mod redis_cluster;
mod refunds;
mod replica;
mod seats;
mod venue_shapes;
mod web_client;
mod zones;
