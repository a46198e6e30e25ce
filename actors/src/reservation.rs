//! A checked request for seats: what [`crate::registry::Registry::reserve`]
//! takes, so no unchecked seat list ever reaches an event actor.

use std::collections::HashSet;

use crate::model::{EventId, SeatId};

/// Seats of one event to hold for one buyer: named seats (at least one, at
/// most the configured maximum, none listed twice) or the best block of
/// `count` adjacent seats (1..=maximum), optionally in one price zone. Only
/// [`Reservation::new`] and [`Reservation::best_available`] make one, so
/// holding a `Reservation` is proof of those checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    event_id: EventId,
    wanted: Wanted,
}

/// What a reservation asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wanted {
    /// These seats, all or none.
    Seats(Vec<SeatId>),
    /// The event actor picks `count` adjacent seats in one row.
    BestAvailable(BestAvailable),
}

/// `best_available: {count, zone?}`, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BestAvailable {
    pub count: usize,
    pub zone: Option<String>,
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
    #[error("best_available.count must be between 1 and {max}")]
    CountOutOfRange { max: usize },
    #[error("best_available.zone must not be blank")]
    BlankZone,
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
        Ok(Reservation {
            event_id,
            wanted: Wanted::Seats(seat_ids),
        })
    }

    /// Checks a best-available request: `count` in 1..=`max_seats`, a zone
    /// (trimmed) not blank when given.
    pub fn best_available(
        event_id: EventId,
        count: usize,
        zone: Option<&str>,
        max_seats: usize,
    ) -> Result<Reservation, ReservationError> {
        if count == 0 || count > max_seats {
            return Err(ReservationError::CountOutOfRange { max: max_seats });
        }
        let zone = match zone.map(str::trim) {
            Some("") => return Err(ReservationError::BlankZone),
            other => other.map(str::to_owned),
        };
        Ok(Reservation {
            event_id,
            wanted: Wanted::BestAvailable(BestAvailable { count, zone }),
        })
    }

    pub fn event_id(&self) -> EventId {
        self.event_id
    }

    pub fn wanted(&self) -> &Wanted {
        &self.wanted
    }

    /// The named seats, distinct, 1..=max of them, in the order asked for
    /// (none for a best-available request: the actor picks them).
    pub fn seat_ids(&self) -> &[SeatId] {
        match &self.wanted {
            Wanted::Seats(seats) => seats,
            Wanted::BestAvailable(_) => &[],
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

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
    fn a_best_available_request_asks_for_1_to_max_seats_in_an_optional_zone() {
        let ok = Reservation::best_available(EventId(1), 2, Some(" Floor "), 8).unwrap();
        assert_eq!(
            ok.wanted(),
            &Wanted::BestAvailable(BestAvailable {
                count: 2,
                zone: Some("Floor".into())
            })
        );
        assert!(ok.seat_ids().is_empty());
        assert_eq!(
            Reservation::best_available(EventId(1), 0, None, 8),
            Err(ReservationError::CountOutOfRange { max: 8 })
        );
        assert_eq!(
            Reservation::best_available(EventId(1), 9, None, 8),
            Err(ReservationError::CountOutOfRange { max: 8 })
        );
        assert_eq!(
            Reservation::best_available(EventId(1), 1, Some("  "), 8),
            Err(ReservationError::BlankZone)
        );
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
