//! The hot-event scenario: many clients reserving on one event, most of them
//! aiming at the best section (mixed contention).

use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args as ClapArgs;
use rand::Rng;
use serde_json::json;
use tokio::sync::Mutex;

use futures_util::{StreamExt, TryStreamExt};

use crate::api::Api;
use crate::report::{histogram, percentiles, record};

#[derive(Debug, ClapArgs)]
pub struct Args {
    /// Concurrent clients (closed loop: each sends its next request when answered).
    #[arg(long, default_value_t = 256)]
    clients: usize,
    /// Open loop instead: this many attempts per second, whatever the answers.
    #[arg(long)]
    rate: Option<u64>,
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Seats in the event's venue (sections of 50 x 50).
    #[arg(long, default_value_t = 50_000)]
    seats: usize,
    /// Share of attempts aimed at the best section (the first tenth of the seats).
    #[arg(long, default_value_t = 0.8)]
    hot_share: f64,
    /// Distinct buyers the attempts come from.
    #[arg(long, default_value_t = 500)]
    buyers: usize,
    /// A name for this run in the report.
    #[arg(long, default_value = "run")]
    label: String,
}

#[derive(Default)]
struct Tally {
    attempts: u64,
    held: u64,
    seats_held: u64,
    conflicts: u64,
    errors: u64,
}

struct Shared {
    api: Api,
    event_id: i64,
    seat_ids: Vec<i64>,
    tokens: Vec<String>,
    hot_share: f64,
}

/// 1–4 adjacent seats; in the best section with probability `hot_share`.
fn pick(shared: &Shared) -> (String, Vec<i64>) {
    let mut rng = rand::thread_rng();
    let n = rng.gen_range(1..=4);
    let hot_len = (shared.seat_ids.len() / 10).max(n);
    let range = if rng.gen_bool(shared.hot_share) {
        hot_len
    } else {
        shared.seat_ids.len()
    };
    let start = rng.gen_range(0..=range - n);
    let token = shared.tokens[rng.gen_range(0..shared.tokens.len())].clone();
    (token, shared.seat_ids[start..start + n].to_vec())
}

async fn attempt(shared: &Shared) -> Result<Option<usize>, ()> {
    let (token, seats) = pick(shared);
    let answer = shared
        .api
        .client
        .post(shared.api.url("/bookings"))
        .bearer_auth(token)
        .json(&json!({ "event_id": shared.event_id, "seat_ids": seats }))
        .send()
        .await;
    match answer.map(|a| a.status().as_u16()) {
        Ok(201) => Ok(Some(seats.len())),
        Ok(409) => Ok(None),
        _ => Err(()),
    }
}

fn count(tally: &mut Tally, outcome: Result<Option<usize>, ()>) {
    tally.attempts += 1;
    match outcome {
        Ok(Some(seats)) => {
            tally.held += 1;
            tally.seats_held += seats as u64;
        }
        Ok(None) => tally.conflicts += 1,
        Err(()) => tally.errors += 1,
    }
}

/// Mean group-commit size so far, from the server's own metrics.
async fn batch_totals(api: &Api) -> (f64, f64) {
    let text = match api.client.get(api.url("/metrics")).send().await {
        Ok(answer) => answer.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    };
    let value = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (
        value("boxoffice_batch_size_sum"),
        value("boxoffice_batch_size_count"),
    )
}

pub async fn run(api: &Api, args: Args) -> anyhow::Result<()> {
    let (event_id, seat_ids) = api
        .venue_and_event(
            &format!("Hot Event {}", args.label),
            args.seats.div_ceil(2500),
            50,
            50,
        )
        .await?;
    let tokens: Vec<String> = futures_util::stream::iter(0..args.buyers)
        .map(|n| api.guest(n))
        .buffered(32)
        .try_collect()
        .await?;
    let shared = Arc::new(Shared {
        api: api.clone(),
        event_id,
        seat_ids,
        tokens,
        hot_share: args.hot_share,
    });
    // Warm the event up as its first fans do, outside the measured window:
    // its actor loads the seat map on the first hold (a few hundred ms for
    // 200,000 seats), which an on-sale pays once, before the rush.
    attempt(&shared)
        .await
        .map_err(|()| anyhow::anyhow!("the warm-up hold failed"))?;
    let tally = Arc::new(Mutex::new((Tally::default(), histogram())));
    let (batch_sum_before, batch_count_before) = batch_totals(api).await;
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let started = Instant::now();

    let mut tasks = Vec::new();
    match args.rate {
        None => {
            for _ in 0..args.clients {
                let (shared, tally) = (shared.clone(), tally.clone());
                tasks.push(tokio::spawn(async move {
                    let mut local = (Tally::default(), histogram());
                    while Instant::now() < deadline {
                        let sent = Instant::now();
                        let outcome = attempt(&shared).await;
                        record(&mut local.1, sent.elapsed());
                        count(&mut local.0, outcome);
                    }
                    let mut total = tally.lock().await;
                    merge(&mut total, local);
                }));
            }
        }
        Some(rate) => {
            // Open loop: latency from the scheduled send time, so a slow server
            // cannot hide its queueing (no coordinated omission).
            let interval = Duration::from_secs_f64(1.0 / rate as f64);
            let mut next = Instant::now();
            while next < deadline {
                let scheduled = next;
                let (shared, tally) = (shared.clone(), tally.clone());
                tasks.push(tokio::spawn(async move {
                    tokio::time::sleep_until(scheduled.into()).await;
                    let outcome = attempt(&shared).await;
                    let mut total = tally.lock().await;
                    record(&mut total.1, scheduled.elapsed());
                    count(&mut total.0, outcome);
                }));
                next += interval;
                if next > Instant::now() + Duration::from_millis(50) {
                    tokio::time::sleep_until((next - Duration::from_millis(50)).into()).await;
                }
            }
        }
    }
    for task in tasks {
        let _ = task.await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let (batch_sum, batch_count) = batch_totals(api).await;
    let mean_batch = (batch_sum - batch_sum_before) / (batch_count - batch_count_before).max(1.0);
    let (tally, h) = &*tally.lock().await;
    println!(
        "reserve [{}]: {:.0} attempts/s | {:.0} holds/s ({:.0} seats/s) | {} attempts, {} held, {} conflicts, {} errors | mean batch {:.1} | {}",
        args.label,
        tally.attempts as f64 / elapsed,
        tally.held as f64 / elapsed,
        tally.seats_held as f64 / elapsed,
        tally.attempts,
        tally.held,
        tally.conflicts,
        tally.errors,
        mean_batch,
        percentiles(h)
    );
    Ok(())
}

fn merge(
    total: &mut (Tally, hdrhistogram::Histogram<u64>),
    local: (Tally, hdrhistogram::Histogram<u64>),
) {
    total.0.attempts += local.0.attempts;
    total.0.held += local.0.held;
    total.0.seats_held += local.0.seats_held;
    total.0.conflicts += local.0.conflicts;
    total.0.errors += local.0.errors;
    let _ = total.1.add(&local.1);
}
