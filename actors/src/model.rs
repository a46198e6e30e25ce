//! The model every layer shares: identifiers and the statuses of seats,
//! bookings and events.
//!
//! Every id is its own type so an `EventId` can never be passed where a
//! `SeatId` is expected. On the wire and in PostgreSQL they are plain 64-bit
//! integers.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        #[cfg_attr(feature = "sqlx", derive(sqlx::Type), sqlx(transparent))]
        pub struct $name(pub i64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = std::num::ParseIntError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                s.parse().map($name)
            }
        }
    };
}

id_type!(
    /// An event: one performance at one venue, with its own seat map.
    EventId
);
id_type!(
    /// A physical seat of a venue; the same id names it in every event's seat map.
    SeatId
);
id_type!(
    /// A venue with a fixed seat layout.
    VenueId
);
id_type!(
    /// A booking: a hold on seats that may become a purchase.
    BookingId
);
id_type!(
    /// A person: guest, registered buyer or operator.
    UserId
);

/// Where a seat of an event stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SeatStatus {
    Available,
    Reserved,
    Confirmed,
}

impl SeatStatus {
    /// The name used in PostgreSQL and on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            SeatStatus::Available => "AVAILABLE",
            SeatStatus::Reserved => "RESERVED",
            SeatStatus::Confirmed => "CONFIRMED",
        }
    }

    /// One character per seat for compact seat maps.
    pub fn as_char(self) -> char {
        match self {
            SeatStatus::Available => 'A',
            SeatStatus::Reserved => 'R',
            SeatStatus::Confirmed => 'C',
        }
    }
}

impl FromStr for SeatStatus {
    type Err = UnknownSeatStatus;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "AVAILABLE" => Ok(SeatStatus::Available),
            "RESERVED" => Ok(SeatStatus::Reserved),
            "CONFIRMED" => Ok(SeatStatus::Confirmed),
            other => Err(UnknownSeatStatus(other.to_owned())),
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("unknown seat status {0:?}")]
pub struct UnknownSeatStatus(pub String);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seat_status_round_trips_through_its_name() {
        for status in [
            SeatStatus::Available,
            SeatStatus::Reserved,
            SeatStatus::Confirmed,
        ] {
            assert_eq!(status.as_str().parse::<SeatStatus>().ok(), Some(status));
        }
        assert!("SOLD".parse::<SeatStatus>().is_err());
    }

    #[test]
    fn ids_serialise_as_plain_numbers() {
        assert_eq!(
            serde_json::to_string(&EventId(42)).ok().as_deref(),
            Some("42")
        );
    }
}
