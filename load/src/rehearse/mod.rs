//! `boxoffice-load rehearse`: a whole on-sale rehearsed against one or more
//! nodes, optionally under faults, checked by the invariant checker and
//! written up as a report. See `boxoffice-load rehearse --help`.

pub mod arrival;
pub mod chaos;
pub mod fan;
pub mod nodes;
pub mod recorder;
pub mod report_html;
pub mod report_json;
pub mod scenario;
pub mod seatmap;
pub mod settle;
pub mod sse;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use serde_json::{Value, json};
use tokio::sync::{Mutex, Semaphore};

use fan::{Ctx, Stop};
use nodes::{Cluster, RedisCtl};
use recorder::{Gauge, Recorder};
use scenario::{Args, Scenario};

/// Runs the rehearsal; the process exit code (0: the checker passed).
pub async fn run(args: Args, admin_email: &str, admin_password: &str) -> anyhow::Result<i32> {
    let s = Scenario::from_args(args)?;
    let arrival = arrival::Arrival::parse(&s.arrival)?;
    let faults = chaos::parse(&s.chaos)?;
    std::fs::create_dir_all(&s.out).with_context(|| format!("creating {}", s.out.display()))?;
    let out = std::fs::canonicalize(&s.out)?;

    let mut redis = match (&s.redis_ctl, s.spawn_redis) {
        (Some(cmd), _) => RedisCtl::Command(cmd.clone()),
        (None, true) => RedisCtl::spawn(&out).await?,
        (None, false) => RedisCtl::None,
    };
    chaos::check_possible(&faults, s.spawn_nodes, &redis, s.pg_data.is_some())?;
    let redis_url = redis.url().or_else(|| s.redis_url.clone());

    let mut cluster = None;
    let (mut targets, mut email, mut password) = (
        s.target.clone(),
        admin_email.to_owned(),
        admin_password.to_owned(),
    );
    if s.spawn_nodes > 0 {
        let database_url = s
            .database_url
            .clone()
            .context("--spawn-nodes needs --database-url (or BOXOFFICE__DATABASE__URL)")?;
        let mut env = vec![
            ("BOXOFFICE__DATABASE__URL".to_owned(), database_url),
            (
                "BOXOFFICE__REDIS__KEY_PREFIX".to_owned(),
                s.redis_prefix.clone(),
            ),
            (
                "BOXOFFICE__BOOKING__HOLD_SECONDS".to_owned(),
                s.hold_seconds.to_string(),
            ),
        ];
        if let Some(url) = &redis_url {
            env.push(("BOXOFFICE__REDIS__URL".to_owned(), url.clone()));
        }
        eprintln!("rehearse: starting {} node(s)", s.spawn_nodes);
        let started = match Cluster::start(&s.boxoffice_bin, s.spawn_nodes, env, &out).await {
            Ok(c) => c,
            Err(e) => {
                redis.shutdown().await;
                return Err(e);
            }
        };
        targets = started.urls();
        email = started.admin_email.clone();
        password = started.admin_password.clone();
        cluster = Some(started);
    }
    let cluster = Arc::new(Mutex::new(cluster));
    let redis = Arc::new(Mutex::new(redis));
    let outcome = rehearse(
        &s, arrival, faults, &out, targets, &email, &password, redis_url, &cluster, &redis,
    )
    .await;
    if let Some(c) = cluster.lock().await.as_mut() {
        c.stop().await;
    }
    redis.lock().await.shutdown().await;
    outcome
}

#[allow(clippy::too_many_arguments)]
async fn rehearse(
    s: &Scenario,
    arrival: arrival::Arrival,
    faults: Vec<chaos::Fault>,
    out: &std::path::Path,
    targets: Vec<String>,
    email: &str,
    password: &str,
    redis_url: Option<String>,
    cluster: &Arc<Mutex<Option<Cluster>>>,
    redis: &Arc<Mutex<RedisCtl>>,
) -> anyhow::Result<i32> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(1024)
        .connect_timeout(Duration::from_secs(5))
        .no_proxy()
        .build()?;
    let admin_token = login(&client, &targets[0], email, password).await?;
    let (event_id, queued) = match s.event {
        Some(id) => {
            let event: Value = client
                .get(format!("{}/events/{id}", targets[0]))
                .send()
                .await?
                .json()
                .await?;
            (id, event["queue_enabled"].as_bool().unwrap_or(false))
        }
        None => (
            create_event(&client, &targets[0], &admin_token, s.seats).await?,
            true,
        ),
    };
    let layout = Arc::new(fetch_layout(&client, &targets[0], event_id).await?);
    let started_at = chrono::Utc::now();
    if s.event.is_none() {
        let opens = started_at + chrono::Duration::seconds(s.lead_seconds as i64);
        admin(&client, &targets[0], &admin_token, reqwest::Method::PUT,
            &format!("/admin/events/{event_id}/queue"),
            &json!({"enabled": true, "admission_rate_per_sec": s.admission_rate, "onsale_at": opens.to_rfc3339()}),
        ).await?;
    }
    let t0 = Instant::now();
    let onsale = t0 + Duration::from_secs(s.lead_seconds);
    let rec = Arc::new(Recorder::new(t0));
    let progress = MultiProgress::new();
    let ctx = Arc::new(Ctx {
        client: client.clone(),
        targets: targets.clone(),
        event_id,
        layout,
        queued,
        admin_token: admin_token.clone(),
        rec: rec.clone(),
        stop: Stop::default(),
        sold_out: AtomicBool::new(false),
        slow_provider: AtomicBool::new(false),
        requests: Semaphore::new(s.concurrency),
        crowd: Semaphore::new(s.crowd_concurrency),
        queue_streams: Semaphore::new(s.queue_streams),
        map_streams: Semaphore::new(s.map_streams),
        counts: fan::Counts::default(),
        progress: progress.clone(),
        run_id: started_at.format("%H%M%S%3f").to_string(),
        ws_share: s.ws_share,
        hot_share: s.hot_share,
        seed: s.seed,
    });
    eprintln!(
        "rehearse: event {event_id} on {} | {} fans, sale opens in {} s{}",
        targets.join(", "),
        s.fans,
        s.lead_seconds,
        if faults.is_empty() {
            String::new()
        } else {
            format!(" | chaos: {}", s.chaos)
        }
    );

    let interrupted = Arc::new(AtomicBool::new(false));
    {
        let (ctx, interrupted) = (ctx.clone(), interrupted.clone());
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                interrupted.store(true, Ordering::SeqCst);
                ctx.progress
                    .println("rehearse: Ctrl-C, winding down and reporting")
                    .ok();
                ctx.stop.trigger();
            }
        });
    }
    let bars = progress_bars(&progress, s.fans as u64);
    let ticker = tokio::spawn(tick(ctx.clone(), bars));
    let monitor = tokio::spawn(monitor(ctx.clone()));
    let chaos_task = tokio::spawn(chaos::run(
        faults,
        onsale,
        ctx.clone(),
        cluster.clone(),
        redis.clone(),
        s.pg_data.clone(),
    ));

    let mut fans = Vec::with_capacity(s.fans);
    for i in 0..s.fans {
        let at = t0 + arrival.offset(i, s.fans);
        if at > Instant::now() {
            tokio::select! {
                _ = tokio::time::sleep_until(at.into()) => {}
                _ = ctx.stop.wait() => break,
            }
        }
        fans.push(tokio::spawn(fan::journey(ctx.clone(), i)));
    }
    let limit = t0 + Duration::from_secs(s.max_seconds);
    while !ctx.stop.is_set() && ctx.counts.done.load(Ordering::Relaxed) < fans.len() as u64 {
        if Instant::now() >= limit {
            ctx.progress
                .println("rehearse: --max-seconds reached, winding down")
                .ok();
            break;
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            _ = ctx.stop.wait() => {}
        }
    }
    let rush_seconds = t0.elapsed().as_secs_f64();
    ctx.stop.trigger();
    let wind_down = Instant::now() + Duration::from_secs(20);
    for handle in fans {
        let left = wind_down.saturating_duration_since(Instant::now());
        if tokio::time::timeout(left, async {
            let _ = (&mut { handle }).await;
        })
        .await
        .is_err()
        {
            break;
        }
    }
    // Faults under way finish (Redis started again, the node back) first.
    let _ = tokio::time::timeout(Duration::from_secs(90), chaos_task).await;
    let _ = monitor.await;
    let _ = ticker.await;
    let _ = progress.clear();
    // One last look at the map, once the nodes have settled.
    tokio::time::sleep(Duration::from_secs(1)).await;
    if let Some(g) = gauge(&ctx).await {
        rec.gauge(g);
    }

    let acknowledged = out.join("acknowledged.jsonl");
    rec.write_acknowledged(&acknowledged)?;
    let mut report = report_json::build(
        report_json::Run {
            scenario: s.clone(),
            event_id,
            targets: targets.clone(),
            started_at: started_at.to_rfc3339(),
            onsale_ms: s.lead_seconds as u32 * 1000,
            rush_seconds,
            interrupted: interrupted.load(Ordering::SeqCst),
            counts: ctx.counts.snapshot(),
        },
        &rec,
    );
    report.print();

    match &s.database_url {
        Some(database_url) => {
            eprintln!(
                "rehearse: waiting for the sale to settle (at most {} s)",
                s.settle_seconds
            );
            match settle::settle(
                database_url,
                event_id,
                Duration::from_secs(s.settle_seconds),
            )
            .await
            {
                Ok(settled) => {
                    eprintln!(
                        "rehearse: {} after {:.1} s ({} payment attempts unfinished)",
                        if settled.quiet {
                            "settled"
                        } else {
                            "not settled"
                        },
                        settled.waited_s,
                        settled.unfinished_payments
                    );
                    report.settled = Some(settled);
                }
                Err(e) => eprintln!("rehearse: could not watch the sale settle: {e:#}"),
            }
            let options = crate::verify::VerifyOptions {
                database_url: database_url.clone(),
                redis_url,
                redis_prefix: s.redis_prefix.clone(),
                event_id,
                // Behind a load balancer, every node's map is checked.
                targets: if s.node_urls.is_empty() {
                    targets.clone()
                } else {
                    s.node_urls.clone()
                },
                acknowledged: Some(acknowledged.clone()),
                sweep_grace: Duration::from_secs(5),
                rate_tolerance: 0.02,
            };
            // A node on a machine this busy may take a while to show the
            // last commits on its live stream: give the map check time.
            let extras = crate::verify::Extras {
                map_deadline: Duration::from_secs(60),
                ..crate::verify::Extras::from_env()
            };
            match crate::verify::verify_with(&options, &extras).await {
                Ok(v) => report.verify = Some(v),
                Err(e) => report.verify_error = Some(format!("{e:#}")),
            }
        }
        None => report.verify_error = Some(
            "no --database-url (or BOXOFFICE__DATABASE__URL): the checker needs to read PostgreSQL"
                .into(),
        ),
    }
    let json_path = out.join("report.json");
    std::fs::write(&json_path, serde_json::to_vec_pretty(&report)?)?;
    let html_path = out.join("report.html");
    std::fs::write(&html_path, report_html::render(&report)?)?;
    let passed = match (&report.verify, &report.verify_error) {
        (Some(v), _) => {
            println!();
            v.print();
            v.passed()
        }
        (None, Some(e)) => {
            println!("verify: could not run: {e}");
            false
        }
        (None, None) => false,
    };
    println!();
    println!("report: {}", html_path.display());
    println!("        {}", json_path.display());
    println!(
        "        {} (every 201 and confirmation the fans were given)",
        acknowledged.display()
    );
    println!("invariants: {}", if passed { "PASSED" } else { "FAILED" });
    // A rehearsal whose faults did not happen proves less than it says.
    let missed: Vec<&str> = report
        .faults
        .iter()
        .filter(|w| !w.injected)
        .map(|w| w.name.as_str())
        .collect();
    if !missed.is_empty() {
        println!("chaos: FAILED: not injected: {}", missed.join(", "));
    }
    Ok(if passed && missed.is_empty() { 0 } else { 1 })
}

/// The event's venue layout, once for every fan (their browsers cache it).
async fn fetch_layout(
    client: &reqwest::Client,
    base: &str,
    event_id: i64,
) -> anyhow::Result<seatmap::Layout> {
    let event: Value = client
        .get(format!("{base}/events/{event_id}"))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let venue = event["venue_id"]
        .as_i64()
        .with_context(|| format!("event {event_id} names no venue_id"))?;
    let body = client
        .get(format!("{base}/venues/{venue}/layout"))
        .send()
        .await?
        .error_for_status()?
        .bytes()
        .await?;
    seatmap::Layout::parse(&body).context("reading the venue layout")
}

async fn login(
    client: &reqwest::Client,
    base: &str,
    email: &str,
    password: &str,
) -> anyhow::Result<String> {
    if email.is_empty() {
        bail!("pass --admin-email/--admin-password (or --spawn-nodes, which creates an operator)");
    }
    crate::api::operator_token(client, base, email, password).await
}

async fn admin(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: &Value,
) -> anyhow::Result<Value> {
    let answer = client
        .request(method.clone(), format!("{base}{path}"))
        .bearer_auth(token)
        .json(body)
        .send()
        .await?;
    let status = answer.status();
    let body: Value = answer.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        bail!("{method} {path}: {status} {body}");
    }
    Ok(body)
}

/// A hall of `seats` seats (sections of 10 rows of 25, the first sections
/// the best) and an event in it.
async fn create_event(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    seats: usize,
) -> anyhow::Result<i64> {
    let mut sections = Vec::new();
    let mut left = seats;
    while left > 0 {
        let mut rows = Vec::new();
        while left > 0 && rows.len() < 10 {
            let n = left.min(25);
            rows.push(json!({"name": format!("R{}", rows.len() + 1), "seats": n}));
            left -= n;
        }
        sections.push(json!({"name": format!("S{}", sections.len() + 1), "rows": rows}));
    }
    let stamp = chrono::Utc::now().format("%Y-%m-%d %H:%M:%S");
    let venue = admin(client, base, token, reqwest::Method::POST, "/admin/venues",
        &json!({"name": format!("Rehearsal Hall {stamp}"), "city": "Rehearsal", "layout": {"sections": sections}})).await?;
    let event = admin(client, base, token, reqwest::Method::POST, "/admin/events",
        &json!({"title": format!("Rehearsal {stamp}"), "venue_id": venue["venue_id"], "category": "rehearsal",
                "start_time": "2030-01-01T20:00:00Z", "price_cents": 5000})).await?;
    event["event_id"].as_i64().context("no event_id")
}

/// The operator's view of the event, from the first node that answers.
async fn gauge(ctx: &Ctx) -> Option<Gauge> {
    let mut g = Gauge {
        t_ms: ctx.rec.now_ms(),
        ..Gauge::default()
    };
    let mut seen = false;
    for base in &ctx.targets {
        let map = ctx
            .client
            .get(format!("{base}/events/{}/seats", ctx.event_id))
            .timeout(Duration::from_secs(5))
            .send()
            .await;
        let Ok(map) = map else { continue };
        let Ok(map) = map.json::<Value>().await else {
            continue;
        };
        for seat in map["seats"].as_array().into_iter().flatten() {
            match seat["status"].as_str() {
                Some("AVAILABLE") => g.available += 1,
                Some("RESERVED") => g.reserved += 1,
                Some("CONFIRMED") => g.confirmed += 1,
                _ => {}
            }
        }
        seen = true;
        break;
    }
    if ctx.queued {
        for base in &ctx.targets {
            let answer = ctx
                .client
                .get(format!("{base}/admin/events/{}/queue", ctx.event_id))
                .bearer_auth(&ctx.admin_token)
                .timeout(Duration::from_secs(5))
                .send()
                .await;
            let Ok(answer) = answer else { continue };
            if !answer.status().is_success() {
                continue;
            }
            let Ok(q) = answer.json::<Value>().await else {
                continue;
            };
            // The admission figures are as of their answer.
            g.t_ms = ctx.rec.now_ms();
            g.waiting = q["waiting"].as_u64().unwrap_or(0);
            g.admitted_total = q["admitted_total"].as_u64().unwrap_or(0);
            g.rate_set = q["admission_rate_per_sec"].as_u64().unwrap_or(0);
            break;
        }
    }
    seen.then_some(g)
}

/// Once a second: the gauges, and "sold out" once every seat is sold.
async fn monitor(ctx: Arc<Ctx>) {
    let mut last = Gauge::default();
    while !ctx.stop.is_set() {
        let next = Instant::now() + Duration::from_secs(1);
        if let Some(mut g) = gauge(&ctx).await {
            // The waiting room's figures are unknown while its Redis is
            // down (they read as zero): the last known ones stand.
            if g.admitted_total < last.admitted_total {
                (g.waiting, g.admitted_total, g.rate_set) =
                    (last.waiting, last.admitted_total, last.rate_set);
            }
            last = g;
            if g.available == 0 && g.reserved == 0 && g.confirmed > 0 {
                ctx.sold_out.store(true, Ordering::Relaxed);
            }
            ctx.rec.gauge(g);
        }
        tokio::select! {
            _ = tokio::time::sleep_until(next.into()) => {}
            _ = ctx.stop.wait() => {}
        }
    }
}

fn progress_bars(progress: &MultiProgress, fans: u64) -> Vec<ProgressBar> {
    let style =
        ProgressStyle::with_template("{prefix:>9} [{bar:40.cyan/blue}] {pos:>7}/{len:7} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
    ["arrived", "admitted", "held", "paid", "done"]
        .iter()
        .map(|name| {
            let bar = progress.add(ProgressBar::new(fans));
            bar.set_style(style.clone());
            bar.set_prefix(*name);
            bar
        })
        .collect()
}

async fn tick(ctx: Arc<Ctx>, bars: Vec<ProgressBar>) {
    loop {
        let c = ctx.counts.snapshot();
        for (bar, n) in bars
            .iter()
            .zip([c.arrived, c.admitted, c.held, c.paid, c.done])
        {
            bar.set_position(n);
        }
        bars[2].set_message(format!("{} conflicts", c.conflicts));
        bars[3].set_message(format!("{} seats sold", c.seats_sold));
        bars[4].set_message(format!(
            "{} sold out, {} abandoned, {} released, {} gave up{}",
            c.sold_out,
            c.abandoned,
            c.released,
            c.gave_up,
            if ctx.slow_provider.load(Ordering::Relaxed) {
                " | slow provider"
            } else {
                ""
            }
        ));
        if ctx.stop.is_set() {
            for bar in &bars {
                bar.finish();
            }
            return;
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(250)) => {}
            _ = ctx.stop.wait() => {}
        }
    }
}
