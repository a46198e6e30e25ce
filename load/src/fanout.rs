//! The fan-out scenario: many live seat-map subscribers (SSE) on one event of
//! one node while reservations commit, measuring how fast and how cheaply
//! deltas reach them.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Args as ClapArgs;
use rand::seq::SliceRandom;
use serde_json::{Value, json};
use tokio::sync::{Mutex, Semaphore};

use crate::api::Api;
use crate::report::{histogram, percentiles, record};

#[derive(Debug, ClapArgs)]
pub struct Args {
    /// Live subscribers to open.
    #[arg(long, default_value_t = 10_000)]
    subscribers: usize,
    /// Of which this many time every delta they receive.
    #[arg(long, default_value_t = 200)]
    timed: usize,
    /// Reservations per second during the measurement (single seats, no contention).
    #[arg(long, default_value_t = 300)]
    rate: u64,
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// The server's process id, to read its memory and CPU from /proc.
    #[arg(long)]
    server_pid: Option<u32>,
}

struct Shared {
    /// When the server acknowledged each held seat (its 201 arrived).
    committed: Mutex<HashMap<i64, Instant>>,
    delays: Mutex<hdrhistogram::Histogram<u64>>,
    messages: AtomicU64,
    open: AtomicU64,
    ended: AtomicU64,
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit(')').next()?.split_whitespace().collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

/// Reads one subscriber's stream until the deadline; timed ones record the
/// delay from each seat's commit acknowledgement to its delta's arrival.
async fn subscribe(
    client: reqwest::Client,
    url: String,
    timed: bool,
    shared: Arc<Shared>,
    until: Instant,
) {
    let Ok(response) = client.get(&url).send().await else {
        shared.ended.fetch_add(1, Ordering::Relaxed);
        return;
    };
    if response.status() != 200 {
        shared.ended.fetch_add(1, Ordering::Relaxed);
        return;
    }
    shared.open.fetch_add(1, Ordering::Relaxed);
    let mut response = response;
    let mut buffer = String::new();
    let finder = memchr::memmem::Finder::new(b"event: delta");
    loop {
        let remaining = until.saturating_duration_since(Instant::now());
        let chunk = match tokio::time::timeout(remaining, response.chunk()).await {
            Ok(Ok(Some(chunk))) => chunk,
            Ok(_) => {
                shared.ended.fetch_add(1, Ordering::Relaxed);
                break;
            }
            Err(_) => break,
        };
        if !timed {
            // Count deltas without decoding: the generator must stay cheaper
            // than the server it measures.
            shared
                .messages
                .fetch_add(finder.find_iter(&chunk).count() as u64, Ordering::Relaxed);
            continue;
        }
        let arrived = Instant::now();
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            if !block.contains("event: delta") {
                continue;
            }
            shared.messages.fetch_add(1, Ordering::Relaxed);
            let Some(data) = block.lines().find_map(|l| l.strip_prefix("data: ")) else {
                continue;
            };
            let Ok(delta) = serde_json::from_str::<Value>(data) else {
                continue;
            };
            let seats: Vec<i64> = delta["changes"]
                .as_array()
                .map(|c| c.iter().filter_map(|c| c["seat_id"].as_i64()).collect())
                .unwrap_or_default();
            let committed = shared.committed.lock().await;
            let mut delays = shared.delays.lock().await;
            for seat in seats {
                if let Some(at) = committed.get(&seat) {
                    record(&mut delays, arrived.saturating_duration_since(*at));
                }
            }
        }
    }
}

fn batch_count(metrics: &str) -> f64 {
    metrics
        .lines()
        .find(|l| l.starts_with("boxoffice_batch_size_count"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

pub async fn run(api: &Api, args: Args) -> anyhow::Result<()> {
    let (event_id, seat_ids) = api.venue_and_event("Fan-out Night", 4, 50, 50).await?;
    // Enough buyers that none reaches the hold cap (8 seats by default).
    let mut buyers = Vec::new();
    for n in 0..(args.rate * args.seconds).div_ceil(4).max(1) {
        buyers.push(api.guest(n as usize).await?);
    }
    let shared = Arc::new(Shared {
        committed: Mutex::new(HashMap::new()),
        delays: Mutex::new(histogram()),
        messages: AtomicU64::new(0),
        open: AtomicU64::new(0),
        ended: AtomicU64::new(0),
    });
    let rss_before = args.server_pid.and_then(rss_kib);

    // Open the subscribers, a few hundred at a time.
    let url = api.url(&format!("/events/{event_id}/seats/stream?format=compact"));
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()?;
    let until = Instant::now() + Duration::from_secs(args.seconds + 120);
    let opening = Arc::new(Semaphore::new(256));
    let started_opening = Instant::now();
    let mut tasks = Vec::with_capacity(args.subscribers);
    for i in 0..args.subscribers {
        let permit = opening.clone().acquire_owned().await?;
        let (client, url, shared) = (client.clone(), url.clone(), shared.clone());
        let watcher = shared.clone();
        tasks.push(tokio::spawn(async move {
            let open_before = watcher.open.load(Ordering::Relaxed);
            let task = tokio::spawn(subscribe(client, url, i < args.timed, shared, until));
            while watcher.open.load(Ordering::Relaxed) == open_before && !task.is_finished() {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            drop(permit);
            let _ = task.await;
        }));
    }
    while shared.open.load(Ordering::Relaxed) + shared.ended.load(Ordering::Relaxed)
        < args.subscribers as u64
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let open_secs = started_opening.elapsed().as_secs_f64();
    let open = shared.open.load(Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_after = args.server_pid.and_then(rss_kib);

    // Reservations at a steady rate, one seat each, in random order.
    let mut seats = seat_ids.clone();
    seats.shuffle(&mut rand::thread_rng());
    let metrics_before = api
        .client
        .get(api.url("/metrics"))
        .send()
        .await?
        .text()
        .await?;
    let cpu_before = args.server_pid.and_then(cpu_ticks);
    let messages_before = shared.messages.load(Ordering::Relaxed);
    let started = Instant::now();
    let interval = Duration::from_secs_f64(1.0 / args.rate as f64);
    let mut held = 0u64;
    let mut reservations = Vec::new();
    for (n, seat) in seats.into_iter().enumerate() {
        let at = started + interval * n as u32;
        if at > started + Duration::from_secs(args.seconds) {
            break;
        }
        let buyer = buyers[n % buyers.len()].clone();
        let (api, shared) = (api.clone(), shared.clone());
        reservations.push(tokio::spawn(async move {
            tokio::time::sleep_until(at.into()).await;
            let answer = api
                .client
                .post(api.url("/bookings"))
                .bearer_auth(&buyer)
                .json(&json!({ "event_id": event_id, "seat_ids": [seat] }))
                .send()
                .await;
            let ok = answer.is_ok_and(|a| a.status() == 201);
            if ok {
                shared.committed.lock().await.insert(seat, Instant::now());
            }
            ok
        }));
    }
    for reservation in reservations {
        held += u64::from(reservation.await.unwrap_or(false));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let elapsed = started.elapsed().as_secs_f64();
    let cpu_after = args.server_pid.and_then(cpu_ticks);
    let metrics_after = api
        .client
        .get(api.url("/metrics"))
        .send()
        .await?
        .text()
        .await?;
    let messages = shared.messages.load(Ordering::Relaxed) - messages_before;
    let batches = batch_count(&metrics_after) - batch_count(&metrics_before);
    let ended = shared.ended.load(Ordering::Relaxed);
    let delays = shared.delays.lock().await;

    println!(
        "fanout: {open} of {} subscribers open in {open_secs:.1} s ({ended} ended or refused)",
        args.subscribers
    );
    if let (Some(before), Some(after)) = (rss_before, rss_after) {
        println!(
            "fanout: server memory {} MiB -> {} MiB, {:.1} KiB per subscriber",
            before / 1024,
            after / 1024,
            (after.saturating_sub(before)) as f64 / open.max(1) as f64
        );
    }
    println!(
        "fanout: {held} holds in {elapsed:.1} s = {:.0} commits/s in {:.0} batches/s; {:.0} delta messages/s delivered",
        held as f64 / elapsed,
        batches / elapsed,
        messages as f64 / elapsed
    );
    if let (Some(before), Some(after)) = (cpu_before, cpu_after) {
        println!(
            "fanout: server CPU {:.0}% of one core",
            (after - before) as f64 / elapsed
        );
    }
    println!(
        "fanout: delay from commit acknowledged to delta received ({} timed subscribers, {} samples): {}",
        args.timed.min(open as usize),
        delays.len(),
        percentiles(&delays)
    );
    drop(delays);
    for task in tasks {
        task.abort();
    }
    Ok(())
}
