//! The figures of a rehearsal, computed from the recorder: per endpoint,
//! per second, per fault window. Serialized as report.json and printed as
//! the terminal summary.

use std::collections::BTreeMap;

use serde::Serialize;

use super::fan::CountsSnapshot;
use super::recorder::{Endpoint, FaultWindow, Gauge, Recorder, Sample};
use super::scenario::Scenario;
use crate::verify::VerifyReport;

#[derive(Debug, Clone, Default, Serialize)]
pub struct Latency {
    pub count: u64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Latency {
    pub fn of(mut micros: Vec<u32>) -> Latency {
        if micros.is_empty() {
            return Latency::default();
        }
        micros.sort_unstable();
        let at = |q: f64| {
            let i = ((micros.len() as f64 - 1.0) * q).round() as usize;
            f64::from(micros[i]) / 1000.0
        };
        Latency {
            count: micros.len() as u64,
            p50_ms: at(0.5),
            p90_ms: at(0.9),
            p99_ms: at(0.99),
            max_ms: at(1.0),
        }
    }
}

/// A business answer (2xx, 3xx, 4xx) or a failure (no answer or 5xx).
pub fn failed(status: u16) -> bool {
    status == 0 || status >= 500
}

#[derive(Debug, Serialize)]
pub struct EndpointSummary {
    pub endpoint: Endpoint,
    pub label: &'static str,
    pub requests: u64,
    pub ok: u64,
    pub conflicts: u64,
    pub other_4xx: u64,
    pub server_errors: u64,
    /// The 5xx by status ("502": 3): a gateway's errors apart from the node's.
    pub server_errors_by_status: BTreeMap<String, u64>,
    pub no_answer: u64,
    pub latency: Latency,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Second {
    pub t: u32,
    pub attempts: u64,
    pub holds: u64,
    pub conflicts: u64,
    pub sales: u64,
    pub failures: u64,
    pub requests: u64,
}

#[derive(Debug, Serialize)]
pub struct LatencyPoint {
    pub endpoint: Endpoint,
    pub t: u32,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

#[derive(Debug, Serialize)]
pub struct WindowSummary {
    pub name: String,
    pub start_s: f64,
    pub end_s: f64,
    pub note: String,
    /// False when the fault could not be brought about.
    pub injected: bool,
    pub requests: u64,
    pub failures: u64,
    pub failure_rate: f64,
    pub reserve_latency: Latency,
    pub all_latency: Latency,
}

#[derive(Debug, Default, Serialize)]
pub struct Admission {
    pub rate_set: u64,
    pub admitted: u64,
    pub seconds: f64,
    pub measured_rate: f64,
    pub error_pct: f64,
}

#[derive(Serialize)]
pub struct Report {
    pub scenario: Scenario,
    pub event_id: i64,
    pub targets: Vec<String>,
    pub started_at: String,
    pub onsale_s: f64,
    pub rush_seconds: f64,
    pub interrupted: bool,
    pub counts: CountsSnapshot,
    pub endpoints: Vec<EndpointSummary>,
    pub per_second: Vec<Second>,
    pub bucket_seconds: u32,
    pub latency_over_time: Vec<LatencyPoint>,
    pub gauges: Vec<Gauge>,
    pub admission: Admission,
    pub map_delay: Latency,
    pub map_delay_over_time: Vec<(u32, f64, f64)>,
    pub faults: Vec<WindowSummary>,
    pub outside_faults: WindowSummary,
    /// How the sale settled before the checker read it.
    pub settled: Option<super::settle::Settled>,
    pub verify: Option<VerifyReport>,
    pub verify_error: Option<String>,
}

pub struct Run {
    pub scenario: Scenario,
    pub event_id: i64,
    pub targets: Vec<String>,
    pub started_at: String,
    pub onsale_ms: u32,
    pub rush_seconds: f64,
    pub interrupted: bool,
    pub counts: CountsSnapshot,
}

fn window(
    name: String,
    note: String,
    injected: bool,
    start_ms: u32,
    end_ms: u32,
    samples: &[&Sample],
) -> WindowSummary {
    let failures = samples.iter().filter(|s| failed(s.status)).count() as u64;
    let requests = samples.len() as u64;
    WindowSummary {
        name,
        note,
        injected,
        start_s: f64::from(start_ms) / 1000.0,
        end_s: f64::from(end_ms) / 1000.0,
        requests,
        failures,
        failure_rate: if requests == 0 {
            0.0
        } else {
            failures as f64 / requests as f64
        },
        reserve_latency: Latency::of(
            samples
                .iter()
                .filter(|s| s.endpoint == Endpoint::Reserve)
                .map(|s| s.latency_us)
                .collect(),
        ),
        all_latency: Latency::of(samples.iter().map(|s| s.latency_us).collect()),
    }
}

fn within(s: &Sample, f: &FaultWindow) -> bool {
    s.start_ms >= f.start_ms && s.start_ms <= f.end_ms
}

pub fn build(run: Run, rec: &Recorder) -> Report {
    let samples = rec.samples();
    let gauges = rec.gauges();
    let faults = rec.faults();
    let seconds = (rec.now_ms() / 1000 + 1) as usize;

    let endpoints = Endpoint::ALL
        .iter()
        .filter_map(|&endpoint| {
            let mine: Vec<&Sample> = samples.iter().filter(|s| s.endpoint == endpoint).collect();
            if mine.is_empty() {
                return None;
            }
            let count =
                |f: &dyn Fn(u16) -> bool| mine.iter().filter(|s| f(s.status)).count() as u64;
            Some(EndpointSummary {
                endpoint,
                label: endpoint.label(),
                requests: mine.len() as u64,
                ok: count(&|s| (100..400).contains(&s)),
                conflicts: count(&|s| s == 409),
                other_4xx: count(&|s| (400..500).contains(&s) && s != 409),
                server_errors: count(&|s| s >= 500),
                server_errors_by_status: mine.iter().filter(|s| s.status >= 500).fold(
                    BTreeMap::new(),
                    |mut by, s| {
                        *by.entry(s.status.to_string()).or_insert(0) += 1;
                        by
                    },
                ),
                no_answer: count(&|s| s == 0),
                latency: Latency::of(mine.iter().map(|s| s.latency_us).collect()),
            })
        })
        .collect();

    let mut per_second = vec![Second::default(); seconds];
    for (t, second) in per_second.iter_mut().enumerate() {
        second.t = t as u32;
    }
    for s in &samples {
        let second = &mut per_second[(s.start_ms / 1000) as usize % seconds.max(1)];
        second.requests += 1;
        if failed(s.status) {
            second.failures += 1;
        }
        match (s.endpoint, s.status) {
            (Endpoint::Reserve, 201) => {
                second.attempts += 1;
                second.holds += 1;
            }
            (Endpoint::Reserve, 409) => {
                second.attempts += 1;
                second.conflicts += 1;
            }
            (Endpoint::Reserve, _) => second.attempts += 1,
            (Endpoint::Confirm, 200) => second.sales += 1,
            _ => {}
        }
    }

    let bucket_seconds = (seconds as u32 / 90).max(1);
    let bucket_ms = bucket_seconds * 1000;
    let mut buckets: BTreeMap<(Endpoint, u32), Vec<u32>> = BTreeMap::new();
    for s in &samples {
        buckets
            .entry((s.endpoint, s.start_ms / bucket_ms * bucket_seconds))
            .or_default()
            .push(s.latency_us);
    }
    let latency_over_time = buckets
        .into_iter()
        .map(|((endpoint, t), micros)| {
            let l = Latency::of(micros);
            LatencyPoint {
                endpoint,
                t,
                p50_ms: l.p50_ms,
                p99_ms: l.p99_ms,
            }
        })
        .collect();

    let delays = rec.map_delays();
    let mut delay_buckets: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    for (t, d) in &delays {
        delay_buckets
            .entry(t / bucket_ms * bucket_seconds)
            .or_default()
            .push(*d);
    }
    let map_delay_over_time = delay_buckets
        .into_iter()
        .map(|(t, d)| {
            let l = Latency::of(d);
            (t, l.p50_ms, l.p99_ms)
        })
        .collect();

    let fault_summaries = faults
        .iter()
        .map(|f| {
            let mine: Vec<&Sample> = samples.iter().filter(|s| within(s, f)).collect();
            window(
                f.name.clone(),
                f.note.clone(),
                f.injected,
                f.start_ms,
                f.end_ms,
                &mine,
            )
        })
        .collect();
    let outside: Vec<&Sample> = samples
        .iter()
        .filter(|s| !faults.iter().any(|f| within(s, f)))
        .collect();
    let outside_faults = window(
        "outside faults".into(),
        String::new(),
        true,
        0,
        rec.now_ms(),
        &outside,
    );

    Report {
        admission: admission(&gauges, &faults),
        scenario: run.scenario,
        event_id: run.event_id,
        targets: run.targets,
        started_at: run.started_at,
        onsale_s: f64::from(run.onsale_ms) / 1000.0,
        rush_seconds: run.rush_seconds,
        interrupted: run.interrupted,
        counts: run.counts,
        endpoints,
        per_second,
        bucket_seconds,
        latency_over_time,
        gauges,
        map_delay: Latency::of(delays.iter().map(|d| d.1).collect()),
        map_delay_over_time,
        faults: fault_summaries,
        outside_faults,
        settled: None,
        verify: None,
        verify_error: None,
    }
}

/// Admissions against the rate set, over the seconds when the room was
/// admitting: fans waiting, seats left (it pauses when none are) and no fault
/// window (a stopped Redis stops it too).
fn admission(gauges: &[Gauge], faults: &[FaultWindow]) -> Admission {
    let mut a = Admission::default();
    let mut ms = 0u64;
    for w in gauges.windows(2) {
        let (x, y) = (w[0], w[1]);
        let admitting = x.waiting > 0
            && y.waiting > 0
            && x.available > 0
            && y.available > 0
            && x.rate_set > 0
            && x.rate_set == y.rate_set
            && y.admitted_total >= x.admitted_total
            && x.admitted_total > 0;
        let faulty = faults
            .iter()
            .any(|f| x.t_ms <= f.end_ms + 1000 && y.t_ms >= f.start_ms);
        if admitting && !faulty {
            a.admitted += y.admitted_total - x.admitted_total;
            ms += u64::from(y.t_ms - x.t_ms);
            a.rate_set = y.rate_set;
        }
    }
    if ms == 0 || a.rate_set == 0 {
        return a;
    }
    a.seconds = ms as f64 / 1000.0;
    a.measured_rate = a.admitted as f64 / a.seconds;
    a.error_pct = (a.measured_rate / a.rate_set as f64 - 1.0) * 100.0;
    a
}

impl Report {
    pub fn print(&self) {
        let c = &self.counts;
        println!();
        println!(
            "rehearsal: event {} on {} | {:.1} s{}",
            self.event_id,
            self.targets.join(", "),
            self.rush_seconds,
            if self.interrupted {
                " (interrupted)"
            } else {
                ""
            }
        );
        println!(
            "fans: {} arrived, {} joined, {} admitted, {} held ({} seats, {} conflicts), {} paid ({} seats), \
             {} released, {} abandoned, {} met sold out, {} gave up",
            c.arrived,
            c.joined,
            c.admitted,
            c.held,
            c.seats_held,
            c.conflicts,
            c.paid,
            c.seats_sold,
            c.released,
            c.abandoned,
            c.sold_out,
            c.gave_up
        );
        println!(
            "payments: {} declined then paid with another card, {} lost answers retried with the same key, \
             {} failed, {} holds expired | door: {} scanned, {} second scans refused, {} double admissions",
            c.declined_then_paid,
            c.lost_answer_retries,
            c.payment_failed,
            c.hold_expired,
            c.scanned,
            c.second_scan_refused,
            c.double_admissions
        );
        println!(
            "streams: {} broken mid-stream (reset), {} queue streams reopened, {} seat maps reopened              ({} resumed by Last-Event-ID, {} with a fresh snapshot, {} skipped versions)",
            c.stream_resets,
            c.queue_reconnects,
            c.map_reconnects,
            c.map_resumed,
            c.map_resnapshots,
            c.map_gaps
        );
        println!(
            "{:<18} {:>9} {:>8} {:>8} {:>7} {:>6} {:>7} {:>9} {:>9} {:>9} {:>9}",
            "endpoint",
            "requests",
            "ok",
            "409",
            "4xx",
            "5xx",
            "no-ans",
            "p50 ms",
            "p90 ms",
            "p99 ms",
            "max ms"
        );
        for e in &self.endpoints {
            println!(
                "{:<18} {:>9} {:>8} {:>8} {:>7} {:>6} {:>7} {:>9.1} {:>9.1} {:>9.1} {:>9.1}",
                e.label,
                e.requests,
                e.ok,
                e.conflicts,
                e.other_4xx,
                e.server_errors,
                e.no_answer,
                e.latency.p50_ms,
                e.latency.p90_ms,
                e.latency.p99_ms,
                e.latency.max_ms
            );
        }
        let busiest = |f: fn(&Second) -> u64| self.per_second.iter().map(f).max().unwrap_or(0);
        println!(
            "peak per second: {} attempts, {} holds, {} sales",
            busiest(|s| s.attempts),
            busiest(|s| s.holds),
            busiest(|s| s.sales)
        );
        let a = &self.admission;
        println!(
            "waiting room: {} admitted in {:.1} s = {:.1}/s for {}/s set ({:+.2} %)",
            a.admitted, a.seconds, a.measured_rate, a.rate_set, a.error_pct
        );
        println!(
            "live map: from a fan's click to its hold on the fan's own stream p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms ({} holds)",
            self.map_delay.p50_ms,
            self.map_delay.p99_ms,
            self.map_delay.max_ms,
            self.map_delay.count
        );
        for w in self
            .faults
            .iter()
            .chain(std::iter::once(&self.outside_faults))
        {
            println!(
                "window {:<20} {:>6.1}-{:<6.1}s {:>8} requests, {:>5.2} % failed, POST /bookings p99 {:.1} ms{}",
                w.name,
                w.start_s,
                w.end_s,
                w.requests,
                w.failure_rate * 100.0,
                w.reserve_latency.p99_ms,
                if w.note.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", w.note)
                }
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_come_from_the_sorted_latencies() {
        let l = Latency::of((1..=100).map(|ms| ms * 1000).collect());
        assert_eq!(l.count, 100);
        assert!((l.p50_ms - 50.0).abs() <= 1.0);
        assert!((l.p99_ms - 99.0).abs() <= 1.0);
        assert_eq!(l.max_ms, 100.0);
    }

    #[test]
    fn admission_is_measured_while_the_line_is_not_empty() {
        let g = |t_ms, waiting, admitted_total| Gauge {
            t_ms,
            waiting,
            admitted_total,
            rate_set: 100,
            available: 10,
            ..Gauge::default()
        };
        let a = admission(
            &[
                g(0, 500, 0),
                g(1000, 400, 100),
                g(3000, 200, 300),
                g(4000, 0, 400),
            ],
            &[],
        );
        assert_eq!(a.admitted, 200);
        assert!((a.measured_rate - 100.0).abs() < 0.01);
    }
}
