//! The virtual waiting room: admission driver, queue tokens, position watch,
//! and what a waiter is told (standing bodies, ETA, the position stream).

pub mod driver;
pub mod position;
pub mod token;
pub mod watch;
