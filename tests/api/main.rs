//! Integration tests against real PostgreSQL and Redis (`make test` starts them).

mod bad_input;
mod bookings;
mod catalog;
mod cli;
mod concurrency;
mod faults;
mod helpers;
mod hold_cost;
mod hold_limit;
mod identity;
mod invariants;
mod limits;
mod live;
mod live_healing;
mod ops;
mod payments;
mod queue;
mod seats;
mod web_client;
