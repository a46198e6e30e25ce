//! An event actor's in-memory copy of its seats.
//!
//! Updated only from committed deltas (its own commits and other nodes'), in
//! version order through a [`Sequencer`]: a delta that arrives early waits
//! until the gap before it is filled; a gap that does not fill in time makes
//! the actor reload from PostgreSQL. This copy may only ever say "no" early.

use std::collections::HashMap;

use crate::best_available::RowIndex;
use crate::model::{SeatId, SeatStatus};
use crate::ports::{SeatChange, SeatDelta, SeatMap};
use crate::sequencer::{self, Pushed, Sequencer};

#[derive(Debug)]
pub struct SeatState {
    statuses: HashMap<SeatId, SeatStatus>,
    /// The version `statuses` is at, and the deltas waiting beyond a gap.
    sequencer: Sequencer<Vec<SeatChange>>,
    available: usize,
    /// The venue's rows, best first, for best-available picks.
    rows: RowIndex,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Applied {
    /// Applied, with any buffered deltas it unblocked.
    InOrder,
    /// Already reflected (an older or repeated version): ignored.
    Stale,
    /// Beyond a gap: buffered until the gap fills.
    Buffered,
    /// Beyond a gap with the buffer full: dropped (the gap's reload covers it).
    Dropped,
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
            sequencer: Sequencer::at(map.version, sequencer::MAX_AHEAD),
            available,
            rows: RowIndex::new(map.rows),
        }
    }

    /// Whether some row of the event is in price zone `zone`.
    pub fn has_zone(&self, zone: &str) -> bool {
        self.rows.has_zone(zone)
    }

    /// The best block of `count` adjacent seats this copy knows are
    /// available, leaving out `excluded` (seats claimed by earlier requests
    /// of the batch, or refused to this request before).
    pub fn pick(
        &self,
        count: usize,
        zone: Option<&str>,
        excluded: impl Fn(SeatId) -> bool,
    ) -> Option<Vec<SeatId>> {
        self.rows.pick(count, zone, |seat| {
            !excluded(seat) && self.status(seat) == Some(SeatStatus::Available)
        })
    }

    pub fn version(&self) -> i64 {
        self.sequencer.version()
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
        self.sequencer.gap_age()
    }

    pub fn apply(&mut self, delta: &SeatDelta) -> Applied {
        match self.sequencer.push(delta.version, delta.changes.clone()) {
            Pushed::Stale => Applied::Stale,
            Pushed::Buffered => Applied::Buffered,
            Pushed::Dropped => Applied::Dropped,
            Pushed::Ready => {
                while let Some(changes) = self.sequencer.pop_ready() {
                    self.apply_changes(&changes);
                }
                Applied::InOrder
            }
        }
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
            rows: Vec::new(),
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
    fn deltas_beyond_a_gap_are_buffered_up_to_a_bound() {
        let mut s = state();
        let bound = sequencer::MAX_AHEAD as i64;
        for version in 12..(12 + bound) {
            assert_eq!(
                s.apply(&delta(version, 2, SeatStatus::Reserved)),
                Applied::Buffered
            );
        }
        assert_eq!(
            s.apply(&delta(12 + bound, 2, SeatStatus::Reserved)),
            Applied::Dropped,
            "memory never grows with a burst beyond a gap"
        );
        assert!(
            s.gap_age().is_some(),
            "the gap still makes the actor reload"
        );
        assert_eq!(
            s.apply(&delta(11, 1, SeatStatus::Reserved)),
            Applied::InOrder
        );
        assert_eq!(s.version(), 11 + bound, "everything held is applied");
    }

    #[test]
    fn picks_see_committed_deltas_and_leave_out_excluded_seats() {
        let mut s = SeatState::new(SeatMap {
            version: 0,
            seats: (1..=4)
                .map(|i| (SeatId(i), SeatStatus::Available))
                .collect(),
            rows: vec![crate::ports::SeatRow {
                section: "A".into(),
                row: "1".into(),
                zone: None,
                seats: (1..=4).map(SeatId).collect(),
                stage_distance: None,
            }],
        });
        s.apply(&SeatDelta {
            event_id: EventId(1),
            version: 1,
            changes: vec![SeatChange {
                seat_id: SeatId(1),
                status: SeatStatus::Reserved,
            }],
        });
        assert_eq!(
            s.pick(3, None, |_| false),
            Some(vec![SeatId(2), SeatId(3), SeatId(4)])
        );
        assert_eq!(s.pick(3, None, |seat| seat == SeatId(4)), None);
    }

    #[test]
    fn taken_and_unknown_seats_are_told_apart() {
        let mut s = state();
        s.apply(&delta(11, 1, SeatStatus::Confirmed));
        assert_eq!(s.taken(&[SeatId(1), SeatId(2)]), vec![SeatId(1)]);
        assert_eq!(s.unknown(&[SeatId(2), SeatId(99)]), vec![SeatId(99)]);
    }
}
