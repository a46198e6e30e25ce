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
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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

/// A status stored as text (PostgreSQL `TEXT` under a `CHECK` of the known
/// names) and sent as the same name on the wire: one name per variant, in
/// one place. An unknown name is an error ([`UnknownStatus`]) when parsed,
/// deserialised or read from the database, never a silent default.
macro_rules! status_type {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $text:literal,)+ }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vdoc])* #[serde(rename = $text)] $variant,)+
        }

        /// The wire names. Written out: utoipa's derive misses a `serde(rename)`
        /// whose literal comes through a macro, and documented the variant names.
        #[cfg(feature = "openapi")]
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::schema::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .enum_values(Some([$($text),+]))
                    .into()
            }
        }

        #[cfg(feature = "openapi")]
        impl utoipa::ToSchema for $name {}

        impl $name {
            /// Every status, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The name used in PostgreSQL and on the wire.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownStatus;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    other => Err(UnknownStatus {
                        kind: stringify!($name),
                        name: other.to_owned(),
                    }),
                }
            }
        }

        #[cfg(feature = "sqlx")]
        impl sqlx::Type<sqlx::Postgres> for $name {
            fn type_info() -> sqlx::postgres::PgTypeInfo {
                <str as sqlx::Type<sqlx::Postgres>>::type_info()
            }
            fn compatible(ty: &sqlx::postgres::PgTypeInfo) -> bool {
                <str as sqlx::Type<sqlx::Postgres>>::compatible(ty)
            }
        }

        #[cfg(feature = "sqlx")]
        impl sqlx::postgres::PgHasArrayType for $name {
            fn array_type_info() -> sqlx::postgres::PgTypeInfo {
                <&str as sqlx::postgres::PgHasArrayType>::array_type_info()
            }
        }

        #[cfg(feature = "sqlx")]
        impl<'r> sqlx::Decode<'r, sqlx::Postgres> for $name {
            fn decode(
                value: sqlx::postgres::PgValueRef<'r>,
            ) -> Result<Self, sqlx::error::BoxDynError> {
                let text = <&str as sqlx::Decode<'r, sqlx::Postgres>>::decode(value)?;
                Ok(text.parse()?)
            }
        }

        #[cfg(feature = "sqlx")]
        impl sqlx::Encode<'_, sqlx::Postgres> for $name {
            fn encode_by_ref(
                &self,
                buf: &mut sqlx::postgres::PgArgumentBuffer,
            ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
                <&str as sqlx::Encode<'_, sqlx::Postgres>>::encode(self.as_str(), buf)
            }
        }
    };
}

status_type!(
    /// Where a seat of an event stands.
    SeatStatus {
        Available = "AVAILABLE",
        Reserved = "RESERVED",
        Confirmed = "CONFIRMED",
    }
);

status_type!(
    /// Where a booking stands: a hold (`Pending`) that is paid for
    /// (`Confirmed`), let go (`Released`) or runs out (`Expired`); a paid
    /// booking cancelled and its charge given back (`Refunded`).
    BookingStatus {
        Pending = "PENDING",
        Confirmed = "CONFIRMED",
        Released = "RELEASED",
        Expired = "EXPIRED",
        Refunded = "REFUNDED",
    }
);

status_type!(
    /// Where an event stands; only `OnSale` events take bookings.
    EventStatus {
        Scheduled = "SCHEDULED",
        OnSale = "ON_SALE",
        SoldOut = "SOLD_OUT",
        Cancelled = "CANCELLED",
        Completed = "COMPLETED",
    }
);

impl SeatStatus {
    /// One character per seat for compact seat maps.
    pub fn as_char(self) -> char {
        match self {
            SeatStatus::Available => 'A',
            SeatStatus::Reserved => 'R',
            SeatStatus::Confirmed => 'C',
        }
    }
}

/// A status name no variant has.
#[derive(Debug, thiserror::Error)]
#[error("unknown {kind} {name:?}")]
pub struct UnknownStatus {
    pub kind: &'static str,
    pub name: String,
}

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
    fn every_status_round_trips_through_its_name_and_json_and_unknown_names_are_errors() {
        fn check<S>(all: &[S], unknown: &str)
        where
            S: Copy + fmt::Debug + PartialEq + fmt::Display + FromStr + Serialize,
            S: for<'de> Deserialize<'de>,
        {
            for status in all {
                let name = status.to_string();
                assert_eq!(name.parse::<S>().ok(), Some(*status));
                let json = serde_json::to_string(status).ok();
                assert_eq!(json, Some(format!("\"{name}\"")));
                let back: Option<S> = json.and_then(|j| serde_json::from_str(&j).ok());
                assert_eq!(back, Some(*status));
            }
            assert!(unknown.parse::<S>().is_err(), "{unknown} parsed");
            assert!(serde_json::from_str::<S>(&format!("\"{unknown}\"")).is_err());
        }
        check(SeatStatus::ALL, "SOLD");
        check(BookingStatus::ALL, "PAID");
        check(EventStatus::ALL, "on_sale");
        assert_eq!(EventStatus::OnSale.as_str(), "ON_SALE");
        assert_eq!(BookingStatus::ALL.len(), 5);
    }

    #[test]
    fn ids_serialise_as_plain_numbers() {
        assert_eq!(
            serde_json::to_string(&EventId(42)).ok().as_deref(),
            Some("42")
        );
    }
}
