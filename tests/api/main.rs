//! Integration tests against real PostgreSQL and Redis (`make test` starts them).

mod bad_input;
mod bookings;
mod catalog;
mod cli;
mod concurrency;
mod dashboard;
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
mod refunds;
mod seats;
mod web_client;
