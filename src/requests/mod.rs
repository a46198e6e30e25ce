//! Request parsing: bodies and query strings turned into values the rest of
//! the server can trust. Handlers turn JSON into these at the boundary;
//! nothing past it re-checks.

pub mod booking;
pub mod booking_lookup;
pub mod event;
pub mod schema;
pub mod venue;
