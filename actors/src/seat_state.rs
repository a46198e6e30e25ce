//! An event actor's in-memory copy of its seats.
//!
//! Updated only from committed deltas (its own commits and other nodes'), in
//! version order: a delta that arrives early waits in `ahead` until the gap
//! before it is filled; a gap that does not fill in time makes the actor
//! reload from PostgreSQL. This copy may only ever say "no" early.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use crate::model::{SeatId, SeatStatus};
use crate::ports::{SeatChange, SeatDelta, SeatMap};

#[derive(Debug)]
pub struct SeatState {
    statuses: HashMap<SeatId, SeatStatus>,
    version: i64,
    /// Deltas beyond `version + 1`, waiting for the ones before them.
    ahead: BTreeMap<i64, Vec<SeatChange>>,
    /// When the oldest unfilled gap appeared.
    gap_since: Option<Instant>,
    available: usize,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Applied {
    /// Applied, with any buffered deltas it unblocked.
    InOrder,
    /// Already reflected (an older or repeated version): ignored.
    Stale,
    /// Beyond a gap: buffered until the gap fills.
    Buffered,
}

impl SeatState {
    pub fn new(map: SeatMap) -> SeatState {
        let statuses: HashMap<SeatId, SeatStatus> = map.seats.into_iter().collect();
        let available = statuses
            .values()
            .filter(|s| **s == SeatStatus::Available)
            .count();
        SeatState {
            statuses,
            version: map.version,
            ahead: BTreeMap::new(),
            gap_since: None,
            available,
        }
    }

    pub fn version(&self) -> i64 {
        self.version
    }

    pub fn available(&self) -> usize {
        self.available
    }

    pub fn status(&self, seat: SeatId) -> Option<SeatStatus> {
        self.statuses.get(&seat).copied()
    }

    /// Seats that are not seats of this event at all.
    pub fn unknown(&self, seats: &[SeatId]) -> Vec<SeatId> {
        seats
            .iter()
            .copied()
            .filter(|s| !self.statuses.contains_key(s))
            .collect()
    }

    /// Seats this copy knows to be held or sold.
    pub fn taken(&self, seats: &[SeatId]) -> Vec<SeatId> {
        seats
            .iter()
            .copied()
            .filter(|s| {
                self.statuses
                    .get(s)
                    .is_some_and(|st| *st != SeatStatus::Available)
            })
            .collect()
    }

    /// How long a gap in the versions has stayed open, if one has.
    pub fn gap_age(&self) -> Option<std::time::Duration> {
        self.gap_since.map(|since| since.elapsed())
    }

    pub fn apply(&mut self, delta: &SeatDelta) -> Applied {
        if delta.version <= self.version {
            return Applied::Stale;
        }
        if delta.version > self.version + 1 {
            self.ahead.insert(delta.version, delta.changes.clone());
            self.gap_since.get_or_insert_with(Instant::now);
            return Applied::Buffered;
        }
        self.apply_changes(&delta.changes);
        self.version = delta.version;
        while let Some(changes) = self.ahead.remove(&(self.version + 1)) {
            self.apply_changes(&changes);
            self.version += 1;
        }
        self.ahead.retain(|v, _| *v > self.version);
        self.gap_since = if self.ahead.is_empty() {
            None
        } else {
            Some(Instant::now())
        };
        Applied::InOrder
    }

    fn apply_changes(&mut self, changes: &[SeatChange]) {
        for change in changes {
            if let Some(status) = self.statuses.get_mut(&change.seat_id) {
                let was_available = *status == SeatStatus::Available;
                let is_available = change.status == SeatStatus::Available;
                *status = change.status;
                match (was_available, is_available) {
                    (true, false) => self.available -= 1,
                    (false, true) => self.available += 1,
                    _ => {}
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::EventId;

    fn state() -> SeatState {
        SeatState::new(SeatMap {
            version: 10,
            seats: (1..=3)
                .map(|i| (SeatId(i), SeatStatus::Available))
                .collect(),
        })
    }

    fn delta(version: i64, seat: i64, status: SeatStatus) -> SeatDelta {
        SeatDelta {
            event_id: EventId(1),
            version,
            changes: vec![SeatChange {
                seat_id: SeatId(seat),
                status,
            }],
        }
    }

    #[test]
    fn deltas_in_order_are_applied() {
        let mut s = state();
        assert_eq!(
            s.apply(&delta(11, 1, SeatStatus::Reserved)),
            Applied::InOrder
        );
        assert_eq!(s.status(SeatId(1)), Some(SeatStatus::Reserved));
        assert_eq!((s.version(), s.available()), (11, 2));
    }

    #[test]
    fn an_early_delta_waits_for_the_gap_and_a_repeat_is_ignored() {
        let mut s = state();
        assert_eq!(
            s.apply(&delta(12, 2, SeatStatus::Reserved)),
            Applied::Buffered
        );
        assert_eq!(
            s.status(SeatId(2)),
            Some(SeatStatus::Available),
            "not applied before the gap fills"
        );
        assert!(s.gap_age().is_some());
        assert_eq!(
            s.apply(&delta(11, 1, SeatStatus::Reserved)),
            Applied::InOrder
        );
        assert_eq!(s.version(), 12);
        assert_eq!(s.status(SeatId(2)), Some(SeatStatus::Reserved));
        assert!(s.gap_age().is_none());
        assert_eq!(
            s.apply(&delta(12, 2, SeatStatus::Available)),
            Applied::Stale
        );
        assert_eq!(s.status(SeatId(2)), Some(SeatStatus::Reserved));
    }

    #[test]
    fn taken_and_unknown_seats_are_told_apart() {
        let mut s = state();
        s.apply(&delta(11, 1, SeatStatus::Confirmed));
        assert_eq!(s.taken(&[SeatId(1), SeatId(2)]), vec![SeatId(1)]);
        assert_eq!(s.unknown(&[SeatId(2), SeatId(99)]), vec![SeatId(99)]);
    }
}
