//! Live seat maps: one hub per event per node turns committed deltas into
//! messages for SSE and WebSocket subscribers.

pub mod dashboard;
pub mod frames;
pub mod hub;
