//! Integration tests against real PostgreSQL and Redis (`make test` starts them).

mod bad_input;
mod catalog;
mod helpers;
mod identity;
mod ops;
mod seats;
