//! The waiting room: admissions kept to the operator's rate, and every
//! booking on a queued event made by an admitted buyer.
//!
//! Read from the server's Redis keys (`{prefix}{e:<event>}:q:...`, one Redis;
//! the checker does not read a Redis Cluster):
//! `admissions` (sorted set: buyer -> time of the admission step, unix ms;
//! the server keeps its last minute) and `admitted` (hash: buyer -> queue
//! token expiry, unix s; every buyer ever admitted).
//!
//! **Rate.** Each admission step records its own time, so the log is a
//! series of steps `(t_i, n_i)`; step `i` admitted what accrued over
//! `(t_{i-1}, t_i]`. The measured rate is `Σ n_i / Σ (t_i - t_{i-1})` over
//! the intervals where the room was admitting at full rate. Left out, because
//! nobody may or can be admitted then and the server's bucket accrues
//! nothing: gaps longer than `max(1 s, 5 × the median step interval)`
//! (paused, sold out, lease changing hands, line empty), and the last step
//! before each gap and at the end of the log. Also left out: steps that
//! admitted fewer than `rate × interval − 1` (more than the rounding of the
//! bucket's carried fraction explains): the line ran dry, or fans were still
//! trickling in on a ramp. Too many admissions, in any step, always count;
//! so does a bucket that loses slots a little every step (at 10/s in 100 ms
//! ticks, steps of 0 or 1 are not "dry"). The window is at most the last
//! minute of admissions, which is all the server keeps.
//!
//! **Bookings.** A booking's buyer must be in `admitted`, their token must
//! not have expired before the booking was created, and where the log still
//! holds their admission it must precede the booking (both within
//! [`CLOCK_SKEW_MS`], the nodes' and PostgreSQL's clocks being different).
//! Every booking of the event is checked, so the room should be on before
//! the sale starts (bookings made before it was turned on show as made by
//! buyers never admitted: nothing records when the room was turned on). An
//! admission older than the log's minute is known only by the token's
//! expiry.

use std::collections::HashMap;

use redis::aio::MultiplexedConnection;

use super::{Check, REDIS_TIMEOUT, Snapshot, VerifyOptions};

pub const CLOCK_SKEW_MS: i64 = 1_000;

/// Too short a window says nothing about a rate.
const MIN_WINDOW_SECS: f64 = 1.0;

pub async fn check(
    pool: &mut Snapshot,
    redis: Option<MultiplexedConnection>,
    opts: &VerifyOptions,
) -> anyhow::Result<Vec<Check>> {
    let mut rate = Check::new("admission rate");
    let mut bookings = Check::new("queued bookings");
    let (enabled, configured): (bool, i32) = sqlx::query_as(
        "SELECT queue_enabled, admission_rate_per_sec FROM events WHERE event_id = $1",
    )
    .bind(opts.event_id)
    .fetch_one(&mut *pool)
    .await?;
    if !enabled {
        let note = "the event's waiting room is not enabled";
        rate.note = Some(note.into());
        bookings.note = Some(note.into());
        return Ok(vec![rate, bookings]);
    }
    let Some(mut redis) = redis else {
        let note = "no --redis-url: the waiting room was not checked";
        rate.note = Some(note.into());
        bookings.note = Some(note.into());
        return Ok(vec![rate, bookings]);
    };
    // The server's layout (`boxoffice::store::redis::event_key`): one hash
    // tag per event.
    let key = |name: &str| format!("{}{{e:{}}}:q:{name}", opts.redis_prefix, opts.event_id);
    let read = async {
        let log: Vec<(i64, f64)> = redis::cmd("ZRANGE")
            .arg(key("admissions"))
            .arg(0)
            .arg(-1)
            .arg("WITHSCORES")
            .query_async(&mut redis)
            .await?;
        let admitted: HashMap<i64, i64> = redis::cmd("HGETALL")
            .arg(key("admitted"))
            .query_async(&mut redis)
            .await?;
        anyhow::Ok((log, admitted))
    };
    let (log, admitted) = tokio::time::timeout(REDIS_TIMEOUT, read)
        .await
        .map_err(|_| anyhow::anyhow!("Redis did not answer within {REDIS_TIMEOUT:?}"))??;

    let times: Vec<i64> = log.iter().map(|(_, t)| *t as i64).collect();
    check_rate(
        &mut rate,
        &times,
        f64::from(configured),
        opts.rate_tolerance,
    );

    let admitted_at: HashMap<i64, i64> = log.iter().map(|(u, t)| (*u, *t as i64)).collect();
    let made: Vec<(i64, i64, i64)> = sqlx::query_as(
        "SELECT booking_id, user_id, (extract(epoch FROM created_at) * 1000)::int8
         FROM bookings WHERE event_id = $1 ORDER BY booking_id",
    )
    .bind(opts.event_id)
    .fetch_all(&mut *pool)
    .await?;
    for (booking, user, created_ms) in made {
        bookings.checked += 1;
        let Some(expires) = admitted.get(&user) else {
            bookings.violation(format!(
                "booking {booking} was made by buyer {user}, who was never admitted"
            ));
            continue;
        };
        if created_ms > expires * 1000 + CLOCK_SKEW_MS {
            bookings.violation(format!(
                "booking {booking} by buyer {user} was made after their queue token expired"
            ));
        }
        if let Some(at) = admitted_at.get(&user)
            && *at > created_ms + CLOCK_SKEW_MS
        {
            bookings.violation(format!(
                "booking {booking} by buyer {user} was made {} ms before their admission",
                at - created_ms
            ));
        }
    }
    Ok(vec![rate, bookings])
}

/// Checks the admissions log's times (unix ms, one entry per admission)
/// against `configured` admissions per second. See the module docs.
pub fn check_rate(check: &mut Check, times: &[i64], configured: f64, tolerance: f64) {
    if configured <= 0.0 {
        check.note = Some("admission is paused (rate 0): no rate to compare with".into());
        return;
    }
    let mut steps: Vec<(i64, u64)> = Vec::new();
    let mut sorted = times.to_vec();
    sorted.sort_unstable();
    for t in sorted {
        match steps.last_mut() {
            Some((last, n)) if *last == t => *n += 1,
            _ => steps.push((t, 1)),
        }
    }
    let mut intervals: Vec<i64> = steps.windows(2).map(|w| w[1].0 - w[0].0).collect();
    if intervals.len() < 2 {
        check.note = Some(format!(
            "{} admission step(s) in the log: too few to measure a rate",
            steps.len()
        ));
        return;
    }
    intervals.sort_unstable();
    // A lease changing hands shows as the longest pause (in a long line).
    let longest = intervals.last().copied().unwrap_or(0);
    let gap = (intervals[intervals.len() / 2] * 5).max(1_000);
    let (mut admitted, mut window_ms) = (0u64, 0i64);
    for i in 1..steps.len() {
        let dt = steps[i].0 - steps[i - 1].0;
        let before_gap = steps
            .get(i + 1)
            .is_none_or(|next| next.0 - steps[i].0 > gap);
        // Fewer than the rounding of the carried fraction explains: dry.
        let dry = (steps[i].1 as f64) < configured * dt as f64 / 1000.0 - 1.0;
        if dt > gap || before_gap || dry {
            continue;
        }
        admitted += steps[i].1;
        window_ms += dt;
    }
    check.checked = admitted;
    let window = window_ms as f64 / 1000.0;
    if window < MIN_WINDOW_SECS {
        check.note = Some(format!(
            "{window:.2}s of full-rate admission in the log: too short to measure a rate"
        ));
        return;
    }
    let measured = admitted as f64 / window;
    let off = (measured - configured) / configured;
    check.note = Some(format!(
        "{admitted} admitted over {window:.1}s at full rate: {measured:.2}/s for {configured}/s ({:+.2} %); longest pause between admission steps {longest} ms",
        off * 100.0
    ));
    if off.abs() > tolerance {
        check.violation(format!(
            "admitted {measured:.2}/s, the set rate is {configured}/s: {:+.2} % is beyond ±{:.2} %",
            off * 100.0,
            tolerance * 100.0
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `per_step` admissions every `tick_ms` from `start`, `steps` times.
    fn steady(start: i64, tick_ms: i64, steps: i64, per_step: i64) -> Vec<i64> {
        (0..steps)
            .flat_map(|i| std::iter::repeat_n(start + i * tick_ms, per_step as usize))
            .collect()
    }

    fn rate(times: &[i64], configured: f64) -> Check {
        let mut check = Check::new("admission rate");
        check_rate(&mut check, times, configured, 0.02);
        check
    }

    #[test]
    fn a_steady_line_at_the_set_rate_passes_and_twice_the_rate_fails() {
        assert!(rate(&steady(0, 100, 50, 1), 10.0).violations.is_empty());
        assert_eq!(rate(&steady(0, 100, 50, 2), 10.0).violations.len(), 1);
        assert_eq!(rate(&steady(0, 100, 50, 1), 20.0).violations.len(), 1);
    }

    #[test]
    fn a_pause_and_a_dry_line_are_left_out_of_the_window() {
        // 3 s at 10/s, a 20 s pause, 3 s more, then a partial last step.
        let mut times = steady(0, 100, 31, 1);
        times.extend(steady(23_000, 100, 31, 1));
        times.push(26_100);
        let check = rate(&times, 10.0);
        assert!(check.violations.is_empty(), "{:?}", check);
        assert_eq!(check.checked, 59);
    }

    #[test]
    fn steps_of_a_line_running_dry_are_left_out_but_too_many_admissions_count() {
        // 50/s in 100 ms ticks: 5 a step, then a trickle of 1 or 2 a step.
        let mut times = steady(0, 100, 30, 5);
        for i in 30..60 {
            times.extend(std::iter::repeat_n(i * 100, 1 + (i % 2) as usize));
        }
        let check = rate(&times, 50.0);
        assert!(check.violations.is_empty(), "{check:?}");
        assert_eq!(check.checked, 29 * 5);
        // Six a step is 60/s.
        assert_eq!(rate(&steady(0, 100, 30, 6), 50.0).violations.len(), 1);
        // A bucket losing slots: at 10/s, nobody admitted every fourth tick.
        let lossy: Vec<i64> = (0..80).filter(|i| i % 4 != 3).map(|i| i * 100).collect();
        assert_eq!(rate(&lossy, 10.0).violations.len(), 1);
    }
}
