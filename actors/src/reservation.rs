//! A checked request for seats: what [`crate::registry::Registry::reserve`]
//! takes, so no unchecked seat list ever reaches an event actor.

use std::collections::HashSet;

use crate::model::{EventId, SeatId};

/// Seats of one event to hold for one buyer: at least one, at most the
/// configured maximum, none listed twice. Only [`Reservation::new`] makes
/// one, so holding a `Reservation` is proof of all three.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    event_id: EventId,
    seat_ids: Vec<SeatId>,
}

/// Why a seat list is not a reservation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReservationError {
    #[error("seat_ids must name at least one seat")]
    NoSeats,
    #[error("a booking holds at most {max} seats")]
    TooManySeats { max: usize },
    #[error("seat {0} is listed twice")]
    SeatListedTwice(SeatId),
}

impl Reservation {
    /// Checks `seat_ids` (kept in the order given) against `max_seats`.
    pub fn new(
        event_id: EventId,
        seat_ids: Vec<SeatId>,
        max_seats: usize,
    ) -> Result<Reservation, ReservationError> {
        if seat_ids.is_empty() {
            return Err(ReservationError::NoSeats);
        }
        if seat_ids.len() > max_seats {
            return Err(ReservationError::TooManySeats { max: max_seats });
        }
        let mut seen = HashSet::with_capacity(seat_ids.len());
        if let Some(dup) = seat_ids.iter().find(|s| !seen.insert(**s)) {
            return Err(ReservationError::SeatListedTwice(*dup));
        }
        Ok(Reservation { event_id, seat_ids })
    }

    pub fn event_id(&self) -> EventId {
        self.event_id
    }

    /// The seats, distinct, 1..=max of them, in the order asked for.
    pub fn seat_ids(&self) -> &[SeatId] {
        &self.seat_ids
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seats(ids: &[i64]) -> Vec<SeatId> {
        ids.iter().copied().map(SeatId).collect()
    }

    #[test]
    fn only_a_non_empty_bounded_list_of_distinct_seats_is_a_reservation() {
        let cases: [(&[i64], Result<(), ReservationError>); 6] = [
            (&[], Err(ReservationError::NoSeats)),
            (&[1], Ok(())),
            (&[3, 1, 2, 4], Ok(())),
            (
                &[1, 2, 3, 4, 5],
                Err(ReservationError::TooManySeats { max: 4 }),
            ),
            (
                &[1, 2, 1],
                Err(ReservationError::SeatListedTwice(SeatId(1))),
            ),
            (&[7, 7], Err(ReservationError::SeatListedTwice(SeatId(7)))),
        ];
        for (ids, expected) in cases {
            let made = Reservation::new(EventId(9), seats(ids), 4);
            match (&made, &expected) {
                (Ok(r), Ok(())) => {
                    assert_eq!(r.seat_ids(), seats(ids).as_slice(), "order kept");
                    assert_eq!(r.event_id(), EventId(9));
                }
                (Err(got), Err(want)) => assert_eq!(got, want, "{ids:?}"),
                _ => panic!("{ids:?}: got {made:?}, expected {expected:?}"),
            }
        }
    }

    #[test]
    fn the_messages_are_the_ones_the_api_documents() {
        assert_eq!(
            ReservationError::NoSeats.to_string(),
            "seat_ids must name at least one seat"
        );
        assert_eq!(
            ReservationError::TooManySeats { max: 8 }.to_string(),
            "a booking holds at most 8 seats"
        );
        assert_eq!(
            ReservationError::SeatListedTwice(SeatId(3)).to_string(),
            "seat 3 is listed twice"
        );
    }
}
