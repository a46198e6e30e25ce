//! Picking the best block of adjacent seats for a best-available request.
//!
//! Pure logic over the venue's rows and a "free?" test, so it is tested
//! without actors or storage. The event actor calls it while it selects a
//! batch, with the seats earlier requests of the batch claimed counted as
//! taken, so two requests never get the same seats.
//!
//! **Which block.** Candidates are `count` consecutive free seats of one row.
//! In order of preference:
//! 1. it strands no single seat: no free seat is left alone between the
//!    block and a taken seat or the row's end, if any candidate anywhere
//!    avoids that;
//! 2. nearest the stage: the row's rank — its place within its section
//!    (front row first), then its section's place in the layout;
//! 3. it leaves gaps on each side that blocks of the same size fill exactly
//!    (a 20-seat row serves ten pairs: the first pair is not put dead centre,
//!    which would leave two odd gaps of nine);
//! 4. nearest the centre of the row, then the lower seat.

use std::collections::HashMap;

use crate::model::SeatId;
use crate::ports::SeatRow;

/// The venue's rows in best-first order (nearest the stage first).
#[derive(Debug, Default)]
pub struct RowIndex {
    rows: Vec<RankedRow>,
}

#[derive(Debug)]
struct RankedRow {
    zone: Option<String>,
    seats: Vec<SeatId>,
}

/// A candidate block, scored: lower is better, field by field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Score {
    strands: bool,
    rank: usize,
    misfits: u8,
    /// Twice the distance from the block's centre to the row's centre.
    off_centre: usize,
    start: usize,
}

impl RowIndex {
    /// Ranks `rows` (in layout order): nearest the stage first when every
    /// row knows its distance from one (to a tenth of a seat, ties in layout
    /// order); otherwise by their index within their section, then by their
    /// section's first appearance (front rows of every section first).
    pub fn new(rows: Vec<SeatRow>) -> RowIndex {
        let by_distance = !rows.is_empty() && rows.iter().all(|r| r.stage_distance.is_some());
        let mut section_order: HashMap<String, usize> = HashMap::new();
        let mut rows_seen: HashMap<String, usize> = HashMap::new();
        let mut keyed: Vec<((u64, usize, usize), RankedRow)> = Vec::with_capacity(rows.len());
        for row in rows {
            let next = section_order.len();
            let section = *section_order.entry(row.section.clone()).or_insert(next);
            let index = rows_seen.entry(row.section).or_insert(0);
            let row_index = *index;
            *index += 1;
            let key = match row.stage_distance.filter(|_| by_distance) {
                Some(distance) => (
                    (f64::from(distance.max(0.0)) * 10.0).round() as u64,
                    section,
                    row_index,
                ),
                None => (row_index as u64, section, 0),
            };
            keyed.push((
                key,
                RankedRow {
                    zone: row.zone,
                    seats: row.seats,
                },
            ));
        }
        // Stable: equal keys keep layout order.
        keyed.sort_by_key(|(key, _)| *key);
        RowIndex {
            rows: keyed.into_iter().map(|(_, row)| row).collect(),
        }
    }

    /// Whether some row is priced in `zone`.
    pub fn has_zone(&self, zone: &str) -> bool {
        self.rows.iter().any(|r| r.zone.as_deref() == Some(zone))
    }

    /// The best block of `count` adjacent seats for which `free` holds, in a
    /// row of `zone` if one is given; `None` if no row has such a block.
    pub fn pick(
        &self,
        count: usize,
        zone: Option<&str>,
        free: impl Fn(SeatId) -> bool,
    ) -> Option<Vec<SeatId>> {
        if count == 0 {
            return None;
        }
        let mut best: Option<(Score, usize)> = None;
        for (rank, row) in self.rows.iter().enumerate() {
            if zone.is_some_and(|z| row.zone.as_deref() != Some(z)) {
                continue;
            }
            // A row cannot beat a non-stranding block already found nearer
            // the stage.
            if best.is_some_and(|(score, _)| !score.strands) {
                break;
            }
            if let Some(score) = best_in_row(&row.seats, rank, count, &free)
                && best.is_none_or(|(b, _)| score < b)
            {
                best = Some((score, rank));
            }
        }
        let (score, rank) = best?;
        Some(self.rows[rank].seats[score.start..score.start + count].to_vec())
    }
}

/// The best-scoring block of `count` free seats in one row.
fn best_in_row(
    seats: &[SeatId],
    rank: usize,
    count: usize,
    free: &impl Fn(SeatId) -> bool,
) -> Option<Score> {
    let centre2 = seats.len().saturating_sub(1);
    let mut best: Option<Score> = None;
    let mut i = 0;
    while i < seats.len() {
        if !free(seats[i]) {
            i += 1;
            continue;
        }
        let run_start = i;
        while i < seats.len() && free(seats[i]) {
            i += 1;
        }
        let run = i - run_start;
        if run < count {
            continue;
        }
        for offset in 0..=run - count {
            let (left, right) = (offset, run - count - offset);
            let start = run_start + offset;
            let score = Score {
                strands: left == 1 || right == 1,
                rank,
                misfits: u8::from(left % count != 0) + u8::from(right % count != 0),
                off_centre: (2 * start + count - 1).abs_diff(centre2),
                start,
            };
            if best.is_none_or(|b| score < b) {
                best = Some(score);
            }
        }
    }
    best
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::collections::HashSet;

    use super::*;

    /// Rows of `len` seats; seat ids are `section * 1000 + row * 100 + n`
    /// (n from 1), so a test reads where a pick landed.
    fn venue(sections: &[(&str, Option<&str>, usize, usize)]) -> RowIndex {
        let mut rows = Vec::new();
        for (s, (name, zone, row_count, len)) in sections.iter().enumerate() {
            for r in 0..*row_count {
                rows.push(SeatRow {
                    section: name.to_string(),
                    row: format!("{}", r + 1),
                    zone: zone.map(str::to_owned),
                    seats: (1..=*len)
                        .map(|n| SeatId(((s + 1) * 1000 + (r + 1) * 100 + n) as i64))
                        .collect(),
                    stage_distance: None,
                });
            }
        }
        RowIndex::new(rows)
    }

    fn ids(seats: &[SeatId]) -> Vec<i64> {
        seats.iter().map(|s| s.0).collect()
    }

    /// Picks one block after another, each taking its seats.
    fn pick_all(index: &RowIndex, count: usize, zone: Option<&str>) -> Vec<Vec<SeatId>> {
        let mut taken: HashSet<SeatId> = HashSet::new();
        let mut blocks = Vec::new();
        while let Some(block) = index.pick(count, zone, |s| !taken.contains(&s)) {
            taken.extend(block.iter().copied());
            blocks.push(block);
        }
        blocks
    }

    #[test]
    fn the_first_block_is_in_the_front_row_near_its_centre() {
        let index = venue(&[("A", None, 3, 10)]);
        let block = index.pick(2, None, |_| true).unwrap();
        // Centre of 1..=10 is between 5 and 6: 5-6 leaves four on each side.
        assert_eq!(ids(&block), vec![1105, 1106]);
        let back_rows_free = |s: SeatId| s.0 / 100 != 11;
        let block = index.pick(3, None, back_rows_free).unwrap();
        assert_eq!(block[0].0 / 100, 12, "the next row when the front is full");
        let single = index.pick(1, None, |_| true).unwrap();
        assert_eq!(ids(&single), vec![1105]);
    }

    #[test]
    fn a_twenty_seat_row_serves_ten_pairs() {
        let index = venue(&[("A", None, 1, 20)]);
        let blocks = pick_all(&index, 2, None);
        assert_eq!(blocks.len(), 10, "{blocks:?}");
        for block in &blocks {
            assert_eq!(block[1].0 - block[0].0, 1, "adjacent: {block:?}");
        }
    }

    #[test]
    fn odd_rows_take_ten_pairs_each_and_leave_one_seat_for_a_single() {
        // A pair lands where it would strand a seat only once no row offers
        // better, so each 21-seat row still takes ten pairs.
        let index = venue(&[("A", None, 2, 21)]);
        let pairs = pick_all(&index, 2, None);
        assert_eq!(pairs.len(), 20, "ten pairs per row");
        let taken: HashSet<SeatId> = pairs.iter().flatten().copied().collect();
        let singles = {
            let mut taken = taken.clone();
            let mut n = 0;
            while let Some(block) = index.pick(1, None, |s| !taken.contains(&s)) {
                taken.extend(block);
                n += 1;
            }
            n
        };
        assert_eq!(singles, 2, "one seat per row left, for a single");
    }

    #[test]
    fn a_block_that_would_strand_a_seat_goes_to_another_row_when_one_avoids_it() {
        let index = venue(&[("A", None, 2, 6)]);
        // Front row: seats 1 and 5..6 taken, leaving 2..4 (three seats): any
        // pair there strands one seat.
        let taken: HashSet<i64> = [1101, 1105, 1106].into_iter().collect();
        let block = index.pick(2, None, |s| !taken.contains(&s.0)).unwrap();
        assert_eq!(block[0].0 / 100, 12, "second row: {block:?}");
        // With no other row, stranding is the only way to seat them.
        let everything_else_taken = |s: SeatId| s.0 / 100 == 11 && !taken.contains(&s.0);
        let block = index.pick(2, None, everything_else_taken).unwrap();
        assert_eq!(block[0].0 / 100, 11, "{block:?}");
    }

    #[test]
    fn front_rows_of_every_section_come_before_back_rows() {
        let index = venue(&[("A", None, 2, 2), ("B", None, 2, 2)]);
        let blocks = pick_all(&index, 2, None);
        let rows: Vec<i64> = blocks.iter().map(|b| b[0].0 / 100).collect();
        assert_eq!(rows, vec![11, 21, 12, 22]);
    }

    #[test]
    fn with_a_stage_the_nearest_rows_come_first_whatever_their_section() {
        let row = |section: &str, distance: f32, first: i64| SeatRow {
            section: section.into(),
            row: "1".into(),
            zone: None,
            seats: (first..first + 2).map(SeatId).collect(),
            stage_distance: Some(distance),
        };
        // Layout order: far balcony front row, then two floor rows.
        let index = RowIndex::new(vec![
            row("Balcony", 40.0, 1),
            row("Floor", 5.0, 11),
            row("Floor", 6.0, 21),
        ]);
        let blocks = pick_all(&index, 2, None);
        let firsts: Vec<i64> = blocks.iter().map(|b| b[0].0).collect();
        assert_eq!(firsts, vec![11, 21, 1]);
    }

    #[test]
    fn a_zone_limits_the_rows_and_a_missing_block_is_none() {
        let index = venue(&[("A", Some("Floor"), 1, 4), ("B", Some("Balcony"), 1, 4)]);
        assert!(index.has_zone("Balcony"));
        assert!(!index.has_zone("Pit"));
        let block = index.pick(4, Some("Balcony"), |_| true).unwrap();
        assert_eq!(ids(&block), vec![2101, 2102, 2103, 2104]);
        assert_eq!(index.pick(5, None, |_| true), None, "no row is that long");
        assert_eq!(index.pick(1, Some("Pit"), |_| true), None);
        let blocks = pick_all(&index, 3, Some("Floor"));
        assert_eq!(blocks.len(), 1);
    }

    #[test]
    fn blocks_never_span_a_taken_seat() {
        let index = venue(&[("A", None, 1, 9)]);
        let taken: HashSet<i64> = [1103, 1106].into_iter().collect();
        // Runs: 1-2, 4-5, 7-9.
        let block = index.pick(3, None, |s| !taken.contains(&s.0)).unwrap();
        assert_eq!(ids(&block), vec![1107, 1108, 1109]);
        assert_eq!(index.pick(4, None, |s| !taken.contains(&s.0)), None);
    }
}
