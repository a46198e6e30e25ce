//! Booking requests: named seats or a best-available wish become a checked
//! [`Reservation`].

use actors::model::{EventId, SeatId};
use actors::reservation::{Reservation, ReservationError};
use serde::Deserialize;

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
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BestAvailableRequest {
    count: u32,
    #[serde(default)]
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
