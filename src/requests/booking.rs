//! Booking requests: a seat list becomes a checked [`Reservation`].

use actors::model::{EventId, SeatId};
use actors::reservation::{Reservation, ReservationError};
use serde::Deserialize;

/// `POST /bookings`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReserveRequest {
    event_id: EventId,
    seat_ids: Vec<SeatId>,
}

impl ReserveRequest {
    /// At least one seat, at most `max_seats`, none twice.
    pub fn into_reservation(self, max_seats: usize) -> Result<Reservation, ReservationError> {
        Reservation::new(self.event_id, self.seat_ids, max_seats)
    }
}
