//! Integration tests against real PostgreSQL and Redis (`make test` starts them).

mod bad_input;
mod bookings;
mod catalog;
mod cli;
mod concurrency;
mod faults;
mod helpers;
mod identity;
mod invariants;
mod live;
mod ops;
mod payments;
mod queue;
mod seats;
mod sse;
