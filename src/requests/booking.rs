//! Booking requests: named seats or a best-available wish become a checked
//! [`Reservation`].

use actors::model::{EventId, SeatId};
use actors::reservation::{Reservation, ReservationError};
use serde::Deserialize;
use utoipa::ToSchema;

/// `POST /bookings`: exactly one of `seat_ids` and `best_available`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReserveRequest {
    event_id: EventId,
    #[serde(default)]
    seat_ids: Option<Vec<SeatId>>,
    #[serde(default)]
    best_available: Option<BestAvailableRequest>,
}

/// `best_available: {count, zone?}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BestAvailableRequest {
    /// 1 to `booking.max_seats_per_booking` (8 by default).
    #[schema(minimum = 1, maximum = 8)]
    count: u32,
    /// A price zone of the event (others: 400 `unknown_zone`); not blank.
    #[serde(default)]
    #[schema(schema_with = crate::requests::schema::not_blank_or_null)]
    zone: Option<String>,
}

/// Why a booking request is not a reservation.
#[derive(Debug, thiserror::Error)]
pub enum ReserveRequestError {
    #[error("send exactly one of seat_ids and best_available")]
    NotExactlyOne,
    #[error(transparent)]
    Reservation(#[from] ReservationError),
}

/// The body of `POST /bookings` as the OpenAPI document shows it: the two
/// forms [`ReserveRequest`] takes.
#[derive(Deserialize, ToSchema)]
#[serde(untagged)]
#[schema(as = ReserveRequest)]
#[allow(dead_code)] // documents ReserveRequest
pub enum ReserveForm {
    Seats(NamedSeats),
    BestAvailable(BestAvailableWish),
}

/// These seats, all or none. At most `booking.max_seats_per_booking` (8 by
/// default) in one request; a buyer holds at most
/// `booking.max_active_seats_per_buyer` (8 by default) seats of one event at
/// once (409 `hold_limit_reached`).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct NamedSeats {
    #[schema(value_type = i64, minimum = 1)]
    event_id: EventId,
    /// Distinct seats of the event's venue (others: 400 `unknown_seats`).
    #[schema(min_items = 1, max_items = 8)]
    seat_ids: std::collections::BTreeSet<SeatId>,
    /// Absent, or `null`.
    #[serde(default)]
    #[schema(schema_with = crate::requests::schema::null)]
    best_available: Option<()>,
}

/// The event actor picks `count` adjacent seats in one row, nearest the
/// stage, then the row centre.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct BestAvailableWish {
    #[schema(value_type = i64, minimum = 1)]
    event_id: EventId,
    best_available: BestAvailableRequest,
    /// Absent, or `null`.
    #[serde(default)]
    #[schema(schema_with = crate::requests::schema::null)]
    seat_ids: Option<()>,
}

impl ReserveRequest {
    /// At least one seat, at most `max_seats`, none twice; or a count of
    /// 1..=`max_seats` adjacent seats.
    pub fn into_reservation(self, max_seats: usize) -> Result<Reservation, ReserveRequestError> {
        match (self.seat_ids, self.best_available) {
            (Some(seats), None) => Ok(Reservation::new(self.event_id, seats, max_seats)?),
            (None, Some(best)) => Ok(Reservation::best_available(
                self.event_id,
                best.count as usize,
                best.zone.as_deref(),
                max_seats,
            )?),
            _ => Err(ReserveRequestError::NotExactlyOne),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_states_the_default_seat_limit() {
        let default = include_str!("../../config/default.toml")
            .lines()
            .find_map(|line| line.strip_prefix("max_seats_per_booking = "))
            .and_then(|n| n.trim().parse::<u64>().ok())
            .expect("booking.max_seats_per_booking in config/default.toml");
        let schema = |value: utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>| {
            serde_json::to_value(value).unwrap()
        };
        let named = schema(<NamedSeats as utoipa::PartialSchema>::schema());
        let best = schema(<BestAvailableRequest as utoipa::PartialSchema>::schema());
        assert_eq!(named["properties"]["seat_ids"]["maxItems"], default);
        assert_eq!(best["properties"]["count"]["maximum"], default);
    }

    fn parse(body: &str) -> Result<Reservation, String> {
        let request: ReserveRequest = serde_json::from_str(body).map_err(|e| e.to_string())?;
        request.into_reservation(8).map_err(|e| e.to_string())
    }

    #[test]
    fn seat_ids_or_best_available_but_never_both_or_neither() {
        assert!(parse(r#"{"event_id":1,"seat_ids":[1,2]}"#).is_ok());
        assert!(parse(r#"{"event_id":1,"best_available":{"count":2}}"#).is_ok());
        assert!(parse(r#"{"event_id":1,"best_available":{"count":2,"zone":"Floor"}}"#).is_ok());
        let cases = [
            (r#"{"event_id":1}"#, "exactly one"),
            (
                r#"{"event_id":1,"seat_ids":[1],"best_available":{"count":1}}"#,
                "exactly one",
            ),
            (
                r#"{"event_id":1,"best_available":{"count":0}}"#,
                "between 1 and 8",
            ),
            (
                r#"{"event_id":1,"best_available":{"count":9}}"#,
                "between 1 and 8",
            ),
            (
                r#"{"event_id":1,"best_available":{"count":-1}}"#,
                "invalid value",
            ),
            (
                r#"{"event_id":1,"best_available":{"count":1,"zone":" "}}"#,
                "must not be blank",
            ),
            (
                r#"{"event_id":1,"best_available":{"count":1,"row":"A"}}"#,
                "unknown field",
            ),
        ];
        for (body, expected) in cases {
            let error = parse(body).unwrap_err();
            assert!(error.contains(expected), "{body}: {error:?}");
        }
    }
}
