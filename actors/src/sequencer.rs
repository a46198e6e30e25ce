//! Version-ordered delivery of committed deltas: the one implementation
//! behind the event actor's seat state and the live hub's seat map.
//!
//! Every committed change of an event's seats carries the event's next
//! `seat_version`. A copy of the seats kept in memory must apply them
//! strictly in that order, whatever order the delta bus delivers them in.
//! A [`Sequencer`] decides, for each delta offered to it, whether it is next
//! (apply it now), already reflected (ignore it), early (hold it until the
//! versions before it arrive) or one too many to hold (drop it: the reload a
//! gap leads to covers it). The caller applies what [`Sequencer::pop_ready`]
//! hands out; the sequencer holds no seats itself, only versions and the
//! early deltas (`T`, whatever a delta carries for that caller).
//!
//! **Gaps and their age.** A version is known to be missing from the moment
//! a later one arrives, so a gap is as old as the earliest arrival among the
//! deltas waiting behind it. A committed version reported by a version
//! check ([`Sequencer::note_latest`]) that the copy has not reached counts as
//! a gap too, from the moment it was first reported, so a lost delta with no
//! later commit still heals. Callers reload from PostgreSQL when
//! [`Sequencer::gap_age`] grows past their timeout, then [`Sequencer::reset`].
//!
//! **Bounded.** At most `max_ahead` deltas wait; more are dropped and
//! reported as such (the reload the gap leads to covers them).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Most deltas a sequencer holds beyond a gap (or before its first load).
pub const MAX_AHEAD: usize = 4096;

/// What [`Sequencer::push`] did with a delta.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    /// It is next: take it (and any it unblocked) with [`Sequencer::pop_ready`].
    Ready,
    /// Already reflected (an older or repeated version): ignored.
    Stale,
    /// Beyond a gap (or before the first load): held until its turn.
    Buffered,
    /// Beyond a gap with the buffer full: dropped; a reload covers it.
    Dropped,
}

/// Orders the deltas of one event by version; see the module doc.
#[derive(Debug)]
pub struct Sequencer<T> {
    /// The version the caller's copy is at (every delta up to it applied).
    version: i64,
    /// `false` until the first [`Sequencer::reset`]: every delta waits, and
    /// no gap is counted (there is no version yet to have a gap after).
    loaded: bool,
    /// Deltas not yet applied, by version, with when each arrived.
    ahead: BTreeMap<i64, (Instant, T)>,
    max_ahead: usize,
    /// The highest committed version a version check reported that the copy
    /// has not reached (irrelevant once `version` reaches it)...
    behind_until: i64,
    /// ...and since when it has been reported.
    behind_since: Option<Instant>,
    /// The highest reported version a reset already answered: a version
    /// PostgreSQL did not confirm (a stale Redis key) never counts twice.
    acknowledged: i64,
}

impl<T> Default for Sequencer<T> {
    fn default() -> Self {
        Sequencer::unloaded(MAX_AHEAD)
    }
}

impl<T> Sequencer<T> {
    /// A sequencer with no version yet: it holds deltas (up to `max_ahead`)
    /// until [`Sequencer::reset`] gives it one.
    pub fn unloaded(max_ahead: usize) -> Self {
        Sequencer {
            version: 0,
            loaded: false,
            ahead: BTreeMap::new(),
            max_ahead,
            behind_until: 0,
            behind_since: None,
            acknowledged: 0,
        }
    }

    /// A sequencer for a copy loaded at `version`.
    pub fn at(version: i64, max_ahead: usize) -> Self {
        let mut sequencer = Sequencer::unloaded(max_ahead);
        sequencer.reset(version);
        sequencer
    }

    /// The copy was (re)loaded at `version`: held deltas it covers are
    /// dropped, later ones wait on (their gap counted from now), and a
    /// reported version it did not reach is taken as answered.
    pub fn reset(&mut self, version: i64) {
        self.version = version;
        self.loaded = true;
        self.ahead.retain(|v, _| *v > version);
        self.acknowledged = self.acknowledged.max(self.behind_until);
        self.behind_until = 0;
        self.behind_since = None;
        self.restart_gap_clock();
    }

    pub fn version(&self) -> i64 {
        self.version
    }

    pub fn is_loaded(&self) -> bool {
        self.loaded
    }

    /// How many deltas are held.
    pub fn buffered(&self) -> usize {
        self.ahead.len()
    }

    /// Offers the delta numbered `version`. On [`Pushed::Ready`], take it
    /// and whatever it unblocked with [`Sequencer::pop_ready`].
    pub fn push(&mut self, version: i64, item: T) -> Pushed {
        if self.loaded && version <= self.version {
            return Pushed::Stale;
        }
        if self.ahead.contains_key(&version) {
            return Pushed::Buffered;
        }
        let next = self.loaded && version == self.version + 1;
        if !next && self.ahead.len() >= self.max_ahead {
            return Pushed::Dropped;
        }
        self.ahead.insert(version, (Instant::now(), item));
        if next {
            Pushed::Ready
        } else {
            Pushed::Buffered
        }
    }

    /// The next delta in version order, if it is here; the version moves on
    /// to it. Call until `None` after a [`Pushed::Ready`] or a reset.
    pub fn pop_ready(&mut self) -> Option<T> {
        if !self.loaded {
            return None;
        }
        let (_, item) = self.ahead.remove(&(self.version + 1))?;
        self.version += 1;
        Some(item)
    }

    /// A version check says `latest` is committed: until the copy reaches
    /// it, that counts as an open gap (its delta may still be on its way).
    pub fn note_latest(&mut self, latest: i64) {
        if !self.loaded || latest <= self.version || latest <= self.acknowledged {
            return;
        }
        if self.behind_until <= self.version {
            self.behind_since = Some(Instant::now());
        }
        self.behind_until = self.behind_until.max(latest);
    }

    /// How long the copy has been missing a version, if it is.
    pub fn gap_age(&self) -> Option<Duration> {
        if !self.loaded {
            return None;
        }
        let gap = self.ahead.values().map(|(at, _)| *at).min();
        let behind = self
            .behind_since
            .filter(|_| self.behind_until > self.version);
        let since = match (gap, behind) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        since.map(|since| since.elapsed())
    }

    /// A gap has been open for longer than `timeout`.
    pub fn stuck(&self, timeout: Duration) -> bool {
        self.gap_age().is_some_and(|age| age > timeout)
    }

    /// Counts any open gap from now (a reload failed: try again only after
    /// another timeout, not on every tick).
    pub fn restart_gap_clock(&mut self) {
        let now = Instant::now();
        for (at, _) in self.ahead.values_mut() {
            *at = now;
        }
        if self.behind_since.is_some() {
            self.behind_since = Some(now);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    /// Pushes and returns what became ready, in order.
    fn push(
        s: &mut Sequencer<&'static str>,
        version: i64,
        item: &'static str,
    ) -> (Pushed, Vec<&'static str>) {
        let pushed = s.push(version, item);
        let mut ready = Vec::new();
        while let Some(item) = s.pop_ready() {
            ready.push(item);
        }
        (pushed, ready)
    }

    #[test]
    fn deltas_in_order_are_handed_out_at_once() {
        let mut s = Sequencer::at(10, MAX_AHEAD);
        assert_eq!(push(&mut s, 11, "a"), (Pushed::Ready, vec!["a"]));
        assert_eq!(push(&mut s, 12, "b"), (Pushed::Ready, vec!["b"]));
        assert_eq!(s.version(), 12);
        assert_eq!(s.gap_age(), None);
    }

    #[test]
    fn an_early_delta_waits_for_the_gap_then_comes_out_in_order() {
        let mut s = Sequencer::at(10, MAX_AHEAD);
        assert_eq!(push(&mut s, 13, "c"), (Pushed::Buffered, vec![]));
        assert_eq!(push(&mut s, 12, "b"), (Pushed::Buffered, vec![]));
        assert_eq!(s.version(), 10, "nothing applied before the gap fills");
        assert!(s.gap_age().is_some());
        assert_eq!(push(&mut s, 11, "a"), (Pushed::Ready, vec!["a", "b", "c"]));
        assert_eq!((s.version(), s.buffered()), (13, 0));
        assert_eq!(s.gap_age(), None, "the gap closed");
    }

    #[test]
    fn duplicates_and_old_versions_are_ignored() {
        let mut s = Sequencer::at(10, MAX_AHEAD);
        assert_eq!(push(&mut s, 10, "old"), (Pushed::Stale, vec![]));
        assert_eq!(push(&mut s, 3, "older"), (Pushed::Stale, vec![]));
        assert_eq!(push(&mut s, 11, "a"), (Pushed::Ready, vec!["a"]));
        assert_eq!(push(&mut s, 11, "again"), (Pushed::Stale, vec![]));
        assert_eq!(push(&mut s, 13, "c"), (Pushed::Buffered, vec![]));
        assert_eq!(push(&mut s, 13, "c again"), (Pushed::Buffered, vec![]));
        assert_eq!(s.buffered(), 1, "a repeated early delta is held once");
        assert_eq!(push(&mut s, 12, "b"), (Pushed::Ready, vec!["b", "c"]));
    }

    #[test]
    fn a_gap_ages_from_the_first_delta_behind_it_and_a_partial_fill_keeps_the_rest_open() {
        let mut s = Sequencer::at(10, MAX_AHEAD);
        push(&mut s, 12, "b"); // 11 missing
        std::thread::sleep(Duration::from_millis(20));
        push(&mut s, 15, "e"); // 13, 14 missing since now
        let before = s.gap_age().unwrap();
        assert!(before >= Duration::from_millis(20));
        assert!(s.stuck(Duration::from_millis(10)));
        push(&mut s, 11, "a");
        assert_eq!(s.version(), 12);
        let after = s.gap_age().unwrap();
        assert!(
            after < before,
            "13 has been known missing only since 15 arrived"
        );
        assert!(!s.stuck(Duration::from_secs(60)));
    }

    #[test]
    fn the_buffer_is_bounded_but_the_next_delta_always_gets_in() {
        let mut s = Sequencer::at(1, 3);
        for version in 3..10 {
            let expected = if version < 6 {
                Pushed::Buffered
            } else {
                Pushed::Dropped
            };
            assert_eq!(s.push(version, "x"), expected, "version {version}");
        }
        assert_eq!(s.buffered(), 3);
        assert!(s.gap_age().is_some(), "the gap still leads to a reload");
        assert_eq!(
            push(&mut s, 2, "y"),
            (Pushed::Ready, vec!["y", "x", "x", "x"])
        );
        assert_eq!(s.version(), 5);
    }

    #[test]
    fn before_the_first_load_deltas_wait_without_a_gap_and_the_load_decides() {
        let mut s = Sequencer::unloaded(MAX_AHEAD);
        assert_eq!(push(&mut s, 4, "d"), (Pushed::Buffered, vec![]));
        assert_eq!(push(&mut s, 6, "f"), (Pushed::Buffered, vec![]));
        assert_eq!(s.gap_age(), None, "no version yet, so no gap");
        s.reset(4);
        assert!(s.is_loaded());
        assert_eq!(s.pop_ready(), None, "4 is covered by the load, 5 missing");
        assert_eq!(s.buffered(), 1);
        assert!(s.gap_age().is_some());
        assert_eq!(push(&mut s, 5, "e"), (Pushed::Ready, vec!["e", "f"]));
    }

    #[test]
    fn a_reset_drops_covered_deltas_and_keeps_later_ones() {
        let mut s = Sequencer::at(1, MAX_AHEAD);
        push(&mut s, 3, "c");
        push(&mut s, 6, "f");
        s.reset(5);
        let mut ready = Vec::new();
        while let Some(item) = s.pop_ready() {
            ready.push(item);
        }
        assert_eq!(ready, vec!["f"]);
        assert_eq!((s.version(), s.buffered()), (6, 0));
        assert_eq!(s.gap_age(), None);
    }

    #[test]
    fn a_reported_committed_version_not_reached_is_a_gap_until_reached() {
        let mut s: Sequencer<&str> = Sequencer::at(3, MAX_AHEAD);
        s.note_latest(3);
        assert_eq!(s.gap_age(), None, "not behind");
        s.note_latest(5);
        assert!(s.stuck(Duration::ZERO), "behind with no later delta");
        push(&mut s, 4, "d");
        assert!(s.stuck(Duration::ZERO), "still short of 5");
        push(&mut s, 5, "e");
        assert_eq!(s.gap_age(), None, "caught up");
    }

    #[test]
    fn a_reported_version_a_reset_did_not_confirm_counts_once_only() {
        let mut s: Sequencer<&str> = Sequencer::at(3, MAX_AHEAD);
        s.note_latest(9);
        s.reset(3); // PostgreSQL says 3: a stale published version
        s.note_latest(9);
        assert_eq!(s.gap_age(), None, "already answered by the reset");
        s.note_latest(10);
        assert!(s.gap_age().is_some(), "a newer version is news again");
    }

    #[test]
    fn restarting_the_gap_clock_postpones_the_next_reload() {
        let mut s = Sequencer::at(1, MAX_AHEAD);
        push(&mut s, 3, "c");
        s.note_latest(4);
        std::thread::sleep(Duration::from_millis(20));
        assert!(s.stuck(Duration::from_millis(10)));
        s.restart_gap_clock();
        assert!(!s.stuck(Duration::from_millis(10)));
        assert!(s.gap_age().is_some(), "still open");
    }
}
