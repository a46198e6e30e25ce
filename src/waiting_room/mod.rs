//! The virtual waiting room: admission driver, queue tokens, position watch.

pub mod driver;
pub mod token;
pub mod watch;
