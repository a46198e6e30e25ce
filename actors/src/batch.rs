//! Which waiting hold requests go into the next group commit.
//!
//! Pure logic, so it is tested without actors or storage.

use std::collections::{HashSet, VecDeque};

use crate::model::SeatId;
use crate::seat_state::SeatState;

pub trait WantsSeats {
    /// The seats asked for (for a best-available request: none until
    /// [`WantsSeats::assign`] gives it some).
    fn seats(&self) -> &[SeatId];

    /// Memory already refused this request but could not vouch for itself
    /// (the latest version was unknown or ahead): PostgreSQL decides.
    fn bypasses_memory(&self) -> bool {
        false
    }

    /// A best-available request: what to pick for it.
    fn best_available(&self) -> Option<BestWanted<'_>> {
        None
    }

    /// The seats picked for a best-available request.
    fn assign(&mut self, _seats: Vec<SeatId>) {}
}

/// What a best-available request wants picked.
#[derive(Debug, Clone, Copy)]
pub struct BestWanted<'a> {
    pub count: usize,
    pub zone: Option<&'a str>,
    /// Seats refused to this request before (Redis or PostgreSQL said they
    /// are taken while memory did not know yet): never picked again for it.
    pub avoid: &'a HashSet<SeatId>,
}

/// The next batch, the requests memory already knows must fail, and the
/// rest left queued for a later batch.
#[derive(Debug)]
pub struct Selection<T> {
    pub batch: Vec<T>,
    /// Requests whose seats memory knows are taken, with those seats.
    pub refused: Vec<(T, Vec<SeatId>)>,
}

/// Takes up to `max` requests from the front of `queue`:
/// - a best-available request is given the best block memory knows is free
///   and no earlier request of the batch claimed, or is refused (with no
///   seats named) when there is none;
/// - a request memory knows cannot succeed is refused (memory says "no" early),
///   unless it already was and must now be decided by PostgreSQL;
/// - a request sharing a seat with one already in the batch waits in the queue
///   for the next batch, so the batch's plans never overlap and one request's
///   outcome never depends on another's in the same transaction.
pub fn select<T: WantsSeats>(
    queue: &mut VecDeque<T>,
    max: usize,
    state: &SeatState,
) -> Selection<T> {
    let mut batch = Vec::new();
    let mut refused = Vec::new();
    let mut deferred = VecDeque::new();
    let mut claimed: HashSet<SeatId> = HashSet::new();
    while batch.len() < max {
        let Some(mut request) = queue.pop_front() else {
            break;
        };
        if let Some(best) = request.best_available() {
            let excluded = |seat: SeatId| claimed.contains(&seat) || best.avoid.contains(&seat);
            match state.pick(best.count, best.zone, excluded) {
                Some(seats) => {
                    claimed.extend(seats.iter().copied());
                    request.assign(seats);
                    batch.push(request);
                }
                None => refused.push((request, Vec::new())),
            }
            continue;
        }
        let taken = if request.bypasses_memory() {
            Vec::new()
        } else {
            state.taken(request.seats())
        };
        if !taken.is_empty() {
            refused.push((request, taken));
        } else if request.seats().iter().any(|s| claimed.contains(s)) {
            deferred.push_back(request);
        } else {
            claimed.extend(request.seats().iter().copied());
            batch.push(request);
        }
    }
    // Deferred requests keep their place ahead of those that arrived later.
    while let Some(request) = deferred.pop_back() {
        queue.push_front(request);
    }
    Selection { batch, refused }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{EventId, SeatStatus};
    use crate::ports::{SeatChange, SeatDelta, SeatMap, SeatRow};

    #[derive(Debug, PartialEq)]
    struct Request(&'static str, Vec<SeatId>, Option<usize>, HashSet<SeatId>);
    impl WantsSeats for Request {
        fn seats(&self) -> &[SeatId] {
            &self.1
        }

        fn best_available(&self) -> Option<BestWanted<'_>> {
            self.2.map(|count| BestWanted {
                count,
                zone: None,
                avoid: &self.3,
            })
        }

        fn assign(&mut self, seats: Vec<SeatId>) {
            self.1 = seats;
        }
    }

    #[allow(non_snake_case)]
    fn Req(name: &'static str, seats: Vec<SeatId>) -> Request {
        Request(name, seats, None, HashSet::new())
    }

    fn best(name: &'static str, count: usize, avoid: &[i64]) -> Request {
        Request(
            name,
            Vec::new(),
            Some(count),
            avoid.iter().map(|i| SeatId(*i)).collect(),
        )
    }

    fn seats(ids: &[i64]) -> Vec<SeatId> {
        ids.iter().map(|i| SeatId(*i)).collect()
    }

    fn state_with_seat_1_sold() -> SeatState {
        let mut state = SeatState::new(SeatMap {
            version: 0,
            seats: (1..=10)
                .map(|i| (SeatId(i), SeatStatus::Available))
                .collect(),
            rows: vec![SeatRow {
                section: "A".into(),
                row: "1".into(),
                zone: None,
                seats: (1..=10).map(SeatId).collect(),
                stage_distance: None,
            }],
        });
        state.apply(&SeatDelta {
            event_id: EventId(1),
            version: 1,
            changes: vec![SeatChange {
                seat_id: SeatId(1),
                status: SeatStatus::Confirmed,
            }],
        });
        state
    }

    #[test]
    fn known_taken_seats_are_refused_and_overlaps_wait_their_turn() {
        let state = state_with_seat_1_sold();
        let mut queue = VecDeque::from(vec![
            Req("a", seats(&[2, 3])),
            Req("sold", seats(&[1, 4])),
            Req("overlaps-a", seats(&[3, 5])),
            Req("b", seats(&[6])),
            Req("overlaps-b", seats(&[6])),
            Req("c", seats(&[7])),
        ]);
        let selection = select(&mut queue, 10, &state);
        let names: Vec<_> = selection.batch.iter().map(|r| r.0).collect();
        assert_eq!(names, vec!["a", "b", "c"]);
        assert_eq!(selection.refused.len(), 1);
        assert_eq!(selection.refused[0].0.0, "sold");
        assert_eq!(selection.refused[0].1, seats(&[1]));
        let left: Vec<_> = queue.iter().map(|r| r.0).collect();
        assert_eq!(left, vec!["overlaps-a", "overlaps-b"]);
    }

    #[test]
    fn best_available_requests_get_disjoint_blocks_around_named_seats() {
        // Seat 1 sold; seats 2-10 free in one row.
        let state = state_with_seat_1_sold();
        let mut queue = VecDeque::from(vec![
            Req("named", seats(&[5, 6])),
            best("first", 2, &[]),
            best("avoiding", 2, &[9, 10]),
            best("second", 2, &[]),
            best("too-many", 4, &[]),
            Req("overlaps-a-pick", seats(&[7])),
        ]);
        let selection = select(&mut queue, 10, &state);
        let picked: Vec<(&str, Vec<SeatId>)> =
            selection.batch.iter().map(|r| (r.0, r.1.clone())).collect();
        assert_eq!(
            picked,
            vec![
                ("named", seats(&[5, 6])),
                // 7-8 leaves 9-10 for a pair; 2-4 would strand a seat.
                ("first", seats(&[7, 8])),
                // 9-10 refused to it before: only 2-4 is left.
                ("avoiding", seats(&[3, 4])),
                ("second", seats(&[9, 10])),
            ]
        );
        assert_eq!(selection.refused.len(), 1);
        assert_eq!(selection.refused[0].0.0, "too-many");
        assert!(selection.refused[0].1.is_empty(), "no seat to name");
        let left: Vec<_> = queue.iter().map(|r| r.0).collect();
        assert_eq!(left, vec!["overlaps-a-pick"]);
    }

    #[test]
    fn a_batch_never_exceeds_its_maximum() {
        let state = state_with_seat_1_sold();
        let mut queue: VecDeque<Request> = (2..=10).map(|i| Req("r", seats(&[i]))).collect();
        let selection = select(&mut queue, 1, &state);
        assert_eq!(selection.batch.len(), 1);
        assert_eq!(queue.len(), 8);
    }
}
