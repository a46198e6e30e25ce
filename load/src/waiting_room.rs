//! The waiting-room scenarios: a crowd joining before the sale opens, then
//! thousands of waiters watching their positions while admission runs.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Args as ClapArgs;
use futures_util::StreamExt;
use futures_util::stream;
use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::api::Api;
use crate::report::{histogram, percentiles, record};

#[derive(Debug, ClapArgs)]
pub struct JoinArgs {
    /// Buyers who join the line.
    #[arg(long, default_value_t = 100_000)]
    joins: usize,
    /// Concurrent requests.
    #[arg(long, default_value_t = 256)]
    concurrency: usize,
    /// Where to write `EVENT_ID` then one buyer token per line, in join order.
    #[arg(long)]
    out: std::path::PathBuf,
}

#[derive(Debug, ClapArgs)]
pub struct WatchArgs {
    /// The file `queue-join` wrote.
    #[arg(long)]
    from: std::path::PathBuf,
    /// Waiters that keep a position stream open (every n-th buyer in line).
    #[arg(long, default_value_t = 10_000)]
    watchers: usize,
    /// Admissions per second to set.
    #[arg(long, default_value_t = 200)]
    rate: i32,
    #[arg(long, default_value_t = 60)]
    seconds: u64,
}

async fn run_all<F, Fut>(n: usize, concurrency: usize, f: F) -> (u64, f64)
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    let ok = stream::iter(0..n)
        .map(f)
        .buffer_unordered(concurrency)
        .filter(|ok| std::future::ready(*ok))
        .count()
        .await;
    (ok as u64, started.elapsed().as_secs_f64())
}

pub async fn join(api: &Api, args: JoinArgs) -> anyhow::Result<()> {
    let (event_id, _) = api.venue_and_event("Queue Night", 4, 50, 50).await?;
    let opens = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    api.admin_put(
        &format!("/admin/events/{event_id}/queue"),
        &json!({"enabled": true, "admission_rate_per_sec": 1, "onsale_at": opens}),
    )
    .await?;
    let tokens: Vec<Mutex<Option<String>>> = (0..args.joins).map(|_| Mutex::new(None)).collect();
    let (made, secs) = run_all(args.joins, args.concurrency, |i| {
        let tokens = &tokens;
        async move {
            match api.guest(i).await {
                Ok(token) => {
                    *tokens[i].lock().await = Some(token);
                    true
                }
                Err(_) => false,
            }
        }
    })
    .await;
    println!(
        "queue: {made} guests signed in in {secs:.1} s ({:.0}/s)",
        made as f64 / secs
    );
    let mut ordered = Vec::with_capacity(args.joins);
    for token in tokens {
        if let Some(token) = token.into_inner() {
            ordered.push(token);
        }
    }
    let latency = Mutex::new(histogram());
    let (joined, secs) = run_all(ordered.len(), args.concurrency, |i| {
        let (ordered, latency) = (&ordered, &latency);
        async move {
            let sent = Instant::now();
            let answer = api
                .client
                .post(api.url(&format!("/events/{event_id}/queue")))
                .bearer_auth(&ordered[i])
                .json(&json!({}))
                .send()
                .await;
            record(&mut *latency.lock().await, sent.elapsed());
            answer.is_ok_and(|a| a.status() == 201)
        }
    })
    .await;
    println!(
        "queue: {joined} joins in {secs:.1} s = {:.0} joins/s | {}",
        joined as f64 / secs,
        percentiles(&*latency.lock().await)
    );
    let mut file = format!("{event_id}\n");
    for token in &ordered {
        file.push_str(token);
        file.push('\n');
    }
    std::fs::write(&args.out, file)?;
    Ok(())
}

struct Watched {
    /// Longest silence between two position messages, per watcher.
    gaps: Mutex<hdrhistogram::Histogram<u64>>,
    updates: AtomicU64,
    admitted: AtomicU64,
    failed: AtomicU64,
}

async fn watch_one(api: Api, event_id: i64, token: String, watched: Arc<Watched>, until: Instant) {
    let url = api.url(&format!("/events/{event_id}/queue/stream"));
    // Like a browser client: retry a refused connection after a pause.
    let mut opened = None;
    for attempt in 0..3u32 {
        match api.client.get(&url).bearer_auth(&token).send().await {
            Ok(response) if response.status() == 200 => {
                opened = Some(response);
                break;
            }
            _ => tokio::time::sleep(Duration::from_secs(1 + u64::from(attempt))).await,
        }
    }
    let Some(mut response) = opened else {
        watched.failed.fetch_add(1, Ordering::Relaxed);
        return;
    };
    let mut buffer = String::new();
    let mut last = Instant::now();
    let mut longest = Duration::ZERO;
    while Instant::now() < until {
        let remaining = until.saturating_duration_since(Instant::now());
        let Ok(Ok(Some(chunk))) = tokio::time::timeout(remaining, response.chunk()).await else {
            break;
        };
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        let mut admitted = false;
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            if block.contains("event: position") {
                longest = longest.max(last.elapsed());
                last = Instant::now();
                watched.updates.fetch_add(1, Ordering::Relaxed);
            } else if block.contains("event: admitted") {
                admitted = true;
            }
        }
        if admitted {
            watched.admitted.fetch_add(1, Ordering::Relaxed);
            break;
        }
    }
    record(&mut *watched.gaps.lock().await, longest);
}

async fn report(api: &Api, event_id: i64) -> anyhow::Result<Value> {
    api.admin_get(&format!("/admin/events/{event_id}/queue"))
        .await
}

pub async fn watch(api: &Api, args: WatchArgs) -> anyhow::Result<()> {
    let file = std::fs::read_to_string(&args.from)?;
    let mut lines = file.lines();
    let event_id: i64 = lines.next().unwrap_or("0").parse()?;
    let tokens: Vec<String> = lines.map(str::to_owned).collect();
    let every = (tokens.len() / args.watchers.max(1)).max(1);
    let watched = Arc::new(Watched {
        gaps: Mutex::new(histogram()),
        updates: AtomicU64::new(0),
        admitted: AtomicU64::new(0),
        failed: AtomicU64::new(0),
    });
    // Open the sale now: the early crowd is shuffled, admission starts.
    api.admin_put(
        &format!("/admin/events/{event_id}/queue"),
        &json!({"enabled": true, "admission_rate_per_sec": args.rate, "onsale_at": chrono::Utc::now().to_rfc3339()}),
    )
    .await?;
    let until = Instant::now() + Duration::from_secs(args.seconds + 5);
    let mut tasks = Vec::new();
    for token in tokens.iter().step_by(every).take(args.watchers) {
        tasks.push(tokio::spawn(watch_one(
            api.clone(),
            event_id,
            token.clone(),
            watched.clone(),
            until,
        )));
        if tasks.len() % 500 == 0 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    // Admission accuracy over the window, from the server's own count. The
    // window opens at the first admission: drawing the order of a large line
    // takes a few seconds first.
    let draw = Instant::now();
    let mut first = 0;
    while first == 0 && draw.elapsed() < Duration::from_secs(120) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        first = report(api, event_id).await?["admitted_total"]
            .as_u64()
            .unwrap_or(0);
    }
    println!(
        "queue: first admission {:.1} s after the sale opened",
        draw.elapsed().as_secs_f64()
    );
    let start = (Instant::now(), first);
    tokio::time::sleep(Duration::from_secs(args.seconds)).await;
    let end = report(api, event_id).await?;
    let admitted = end["admitted_total"].as_u64().unwrap_or(0) - start.1;
    let rate = admitted as f64 / start.0.elapsed().as_secs_f64();
    for task in tasks {
        let _ = task.await;
    }
    let gaps = watched.gaps.lock().await;
    println!(
        "queue: {} watchers ({} failed to open), {} position updates, {} admitted while watching",
        args.watchers.min(tokens.len()),
        watched.failed.load(Ordering::Relaxed),
        watched.updates.load(Ordering::Relaxed),
        watched.admitted.load(Ordering::Relaxed)
    );
    println!(
        "queue: admission over {} s: {admitted} admitted = {rate:.1}/s for {}/s configured ({:+.2}%)",
        args.seconds,
        args.rate,
        (rate / f64::from(args.rate) - 1.0) * 100.0
    );
    println!(
        "queue: longest gap between position updates per watcher: {}",
        percentiles(&gaps)
    );
    Ok(())
}
