//! Request parsing: bodies and query strings turned into values the rest of
//! the server can trust. Handlers turn JSON into these at the boundary;
//! nothing past it re-checks.

pub mod booking;
pub mod booking_lookup;
pub mod event;
pub mod schema;
pub mod venue;

/// A field that is present (`Some`), even as `null` (`Some(None)`), told
/// from an absent one (`None`, with `#[serde(default)]`).
pub fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    serde::Deserialize::deserialize(deserializer).map(Some)
}
