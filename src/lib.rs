//! boxoffice: a ticket on-sale server that never sells the same seat twice.
//!
//! `startup::Application` assembles the server; `main.rs` only parses the
//! command line (`cli`). See ARCHITECTURE.md for the design.

pub mod auth;
pub mod cli;
pub mod config;
pub mod demo;
pub mod drain;
pub mod http;
pub mod live;
pub mod payments;
pub mod requests;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod tickets;
pub mod waiting_room;
