//! One fan's journey through the public API: sign in as a guest, join the
//! waiting room, wait to be admitted, watch the live map, hold seats, pay
//! (or not), fetch the tickets and maybe walk through the door.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::{Notify, Semaphore};

use super::recorder::{Endpoint, Recorder};
use super::seatmap::{LiveMap, lock};
use super::sse::SseReader;

/// Ctrl-C, the time limit or the end of the rush: every fan winds down.
#[derive(Default)]
pub struct Stop {
    flag: AtomicBool,
    notify: Notify,
}

impl Stop {
    pub fn trigger(&self) {
        self.flag.store(true, Ordering::SeqCst);
        self.notify.notify_waiters();
    }

    pub fn is_set(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }

    pub async fn wait(&self) {
        let notified = self.notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if self.is_set() {
            return;
        }
        notified.await;
    }
}

macro_rules! counts {
    ($($name:ident),*) => {
        /// How many fans got how far, and what became of them.
        #[derive(Default)]
        pub struct Counts { $(pub $name: AtomicU64,)* }

        #[derive(Debug, Clone, Default, Serialize)]
        pub struct CountsSnapshot { $(pub $name: u64,)* }

        impl Counts {
            pub fn snapshot(&self) -> CountsSnapshot {
                CountsSnapshot { $($name: self.$name.load(Ordering::Relaxed),)* }
            }
        }
    };
}

counts!(
    arrived,
    joined,
    admitted,
    held,
    seats_held,
    conflicts,
    paid,
    seats_sold,
    declined_then_paid,
    lost_answer_retries,
    payment_failed,
    hold_expired,
    released,
    abandoned,
    sold_out,
    gave_up,
    ticketed,
    scanned,
    second_scan_refused,
    double_admissions,
    // Streams that ended or broke and were opened again (a node drained or
    // died): the seat map resumes by Last-Event-ID with the deltas missed
    // (`map_resumed`) or a fresh snapshot (`map_resnapshots`); `map_gaps`
    // counts deltas that skipped versions (an update lost: must stay 0).
    stream_resets,
    queue_reconnects,
    map_reconnects,
    map_resumed,
    map_resnapshots,
    map_gaps,
    done
);

pub struct Ctx {
    pub client: reqwest::Client,
    pub targets: Vec<String>,
    pub event_id: i64,
    /// The venue's layout, fetched once: fans' browsers keep it cached.
    pub layout: Arc<super::seatmap::Layout>,
    pub queued: bool,
    pub admin_token: String,
    pub rec: Arc<Recorder>,
    pub stop: Stop,
    pub sold_out: AtomicBool,
    pub slow_provider: AtomicBool,
    /// In-flight limit of shoppers' requests (holds, payments, tickets, door).
    pub requests: Semaphore,
    /// In-flight limit of the crowd's requests (sign-in, join, position polls).
    pub crowd: Semaphore,
    pub queue_streams: Semaphore,
    pub map_streams: Semaphore,
    pub counts: Counts,
    pub progress: indicatif::MultiProgress,
    pub run_id: String,
    pub ws_share: f64,
    pub hot_share: f64,
    pub seed: u64,
}

fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

/// A fan who gives up (not one sent home by the end of the rehearsal).
fn gave_up(ctx: &Ctx) {
    if !ctx.stop.is_set() {
        add(&ctx.counts.gave_up, 1);
    }
}

impl Ctx {
    pub fn base(&self, node: usize) -> &str {
        &self.targets[node % self.targets.len()]
    }

    /// One request through its lane's in-flight limit, recorded; the body as
    /// JSON (Null when it is not). Err: no answer.
    pub async fn call(
        &self,
        endpoint: Endpoint,
        request: reqwest::RequestBuilder,
    ) -> Result<(u16, Value), ()> {
        let lane = match endpoint {
            Endpoint::Guest | Endpoint::QueueJoin | Endpoint::QueuePoll => &self.crowd,
            _ => &self.requests,
        };
        let _permit = lane.acquire().await.map_err(|_| ())?;
        let started = Instant::now();
        match request.send().await {
            Ok(answer) => {
                let status = answer.status().as_u16();
                let body = answer.json::<Value>().await.unwrap_or(Value::Null);
                self.rec.request(endpoint, started, status);
                Ok((status, body))
            }
            Err(_) => {
                self.rec.request(endpoint, started, 0);
                Err(())
            }
        }
    }

    /// Sleeps unless stopped first; false when stopped.
    pub async fn pause(&self, d: Duration) -> bool {
        tokio::select! {
            _ = tokio::time::sleep(d) => !self.stop.is_set(),
            _ = self.stop.wait() => false,
        }
    }

    /// Retries what a browser would retry (no answer, 429, 5xx) on the next
    /// node, with a growing pause. None: stopped or out of patience.
    async fn retrying<F>(
        &self,
        endpoint: Endpoint,
        node: &mut usize,
        make: F,
    ) -> Option<(u16, Value)>
    where
        F: Fn(&str) -> reqwest::RequestBuilder,
    {
        for attempt in 0..30u32 {
            if self.stop.is_set() {
                return None;
            }
            match self.call(endpoint, make(self.base(*node))).await {
                Ok((status, body)) if status != 429 && status < 500 => return Some((status, body)),
                Ok(_) => {}
                Err(()) => *node += 1,
            }
            let wait =
                Duration::from_millis(250 * u64::from(attempt + 1)).min(Duration::from_secs(3));
            if !self.pause(wait).await {
                return None;
            }
        }
        None
    }
}

/// Decrements nothing, counts the fan done however the journey ends.
struct Done<'a>(&'a Counts);

impl Drop for Done<'_> {
    fn drop(&mut self) {
        add(&self.0.done, 1);
    }
}

fn think(rng: &mut StdRng, from_ms: u64, to_ms: u64) -> Duration {
    Duration::from_millis(rng.gen_range(from_ms..=to_ms))
}

/// Pairs most, then groups of four, threes, sixes and fives.
fn group_size(rng: &mut StdRng) -> usize {
    match rng.gen_range(0..100) {
        0..45 => 2,
        45..65 => 4,
        65..80 => 3,
        80..90 => 6,
        90..97 => 5,
        _ => 1,
    }
}

pub async fn journey(ctx: Arc<Ctx>, fan: usize) {
    let counts = &ctx.counts;
    let _done = Done(counts);
    let mut rng =
        StdRng::seed_from_u64(ctx.seed ^ (fan as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut node = fan;
    add(&counts.arrived, 1);

    let email = format!("fan{fan}-{}@rehearsal.example", ctx.run_id);
    let Some((201, body)) = ctx
        .retrying(Endpoint::Guest, &mut node, |base| {
            ctx.client
                .post(format!("{base}/auth/guest"))
                .json(&json!({ "email": email }))
        })
        .await
    else {
        gave_up(&ctx);
        return;
    };
    let Some(token) = body["token"].as_str().map(str::to_owned) else {
        gave_up(&ctx);
        return;
    };

    let mut queue_token = None;
    if ctx.queued {
        let event_id = ctx.event_id;
        let joined = ctx
            .retrying(Endpoint::QueueJoin, &mut node, |base| {
                ctx.client
                    .post(format!("{base}/events/{event_id}/queue"))
                    .bearer_auth(&token)
                    .json(&json!({}))
            })
            .await;
        if !matches!(joined, Some((200 | 201, _))) {
            gave_up(&ctx);
            return;
        }
        add(&counts.joined, 1);
        // Each stage boxed: a waiting fan's task holds only the stage it is in.
        match Box::pin(wait_admission(&ctx, &mut node, &token, &mut rng)).await {
            Some(t) => queue_token = Some(t),
            None => {
                if ctx.sold_out.load(Ordering::Relaxed) {
                    add(&counts.sold_out, 1);
                }
                return;
            }
        }
    }
    add(&counts.admitted, 1);

    let Some((booking_id, answered, seats, live)) = Box::pin(shop(
        &ctx,
        &mut node,
        &token,
        queue_token.as_deref(),
        &mut rng,
    ))
    .await
    else {
        return;
    };
    // The fan sees their seats turn on the live map: the delivery delay.
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline && !ctx.stop.is_set() {
        if let Some(seen) = lock(&live.view).seen_taken(&seats) {
            ctx.rec.map_delay(seen.saturating_duration_since(answered));
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(live);

    let choice: f64 = rng.r#gen();
    if choice < 0.07 {
        add(&counts.abandoned, 1);
        return;
    }
    if !ctx.pause(think(&mut rng, 500, 3_000)).await {
        return;
    }
    if choice < 0.10 {
        let released = ctx
            .retrying(Endpoint::Release, &mut node, |base| {
                ctx.client
                    .delete(format!("{base}/bookings/{booking_id}"))
                    .bearer_auth(&token)
            })
            .await;
        if matches!(released, Some((200, _))) {
            add(&counts.released, 1);
        }
        return;
    }
    let Some(confirmation) = Box::pin(pay(&ctx, &mut node, &token, booking_id, &mut rng)).await
    else {
        return;
    };
    add(&counts.paid, 1);
    add(&counts.seats_sold, seats.len() as u64);

    let Some((200, tickets)) = ctx
        .retrying(Endpoint::Tickets, &mut node, |base| {
            ctx.client
                .get(format!("{base}/tickets/{confirmation}"))
                .header("Accept", "application/json")
                .bearer_auth(&token)
        })
        .await
    else {
        return;
    };
    add(&counts.ticketed, 1);
    if rng.gen_bool(0.2) {
        Box::pin(door(&ctx, &mut node, &tickets)).await;
    }
}

/// Position stream (one of a bounded number) or polling; the queue token.
async fn wait_admission(
    ctx: &Ctx,
    node: &mut usize,
    token: &str,
    rng: &mut StdRng,
) -> Option<String> {
    let event_id = ctx.event_id;
    if let Ok(_permit) = ctx.queue_streams.try_acquire() {
        while !ctx.stop.is_set() && !ctx.sold_out.load(Ordering::Relaxed) {
            let started = Instant::now();
            let url = format!("{}/events/{event_id}/queue/stream", ctx.base(*node));
            let mut response = match ctx.client.get(url).bearer_auth(token).send().await {
                Ok(r) if r.status() == 200 => {
                    ctx.rec.request(Endpoint::QueueStream, started, 200);
                    r
                }
                other => {
                    let status = other.map(|r| r.status().as_u16()).unwrap_or(0);
                    ctx.rec.request(Endpoint::QueueStream, started, status);
                    *node += 1;
                    ctx.pause(Duration::from_secs(1)).await;
                    continue;
                }
            };
            let mut reader = SseReader::default();
            loop {
                if ctx.sold_out.load(Ordering::Relaxed) {
                    return None;
                }
                let chunk = tokio::select! {
                    chunk = response.chunk() => chunk,
                    _ = ctx.stop.wait() => return None,
                    _ = tokio::time::sleep(Duration::from_secs(2)) => continue,
                };
                let chunk = match chunk {
                    Ok(Some(chunk)) => chunk,
                    Ok(None) => break,
                    Err(_) => {
                        add(&ctx.counts.stream_resets, 1);
                        break;
                    }
                };
                for (event, data) in reader.push(&chunk) {
                    if event == "admitted"
                        && let Ok(body) = serde_json::from_str::<Value>(&data)
                        && let Some(t) = body["queue_token"].as_str()
                    {
                        return Some(t.to_owned());
                    }
                }
            }
            // The stream ended (a node went away): reconnect, like EventSource.
            add(&ctx.counts.queue_reconnects, 1);
            *node += 1;
            ctx.pause(Duration::from_secs(1)).await;
        }
        return None;
    }
    while !ctx.stop.is_set() && !ctx.sold_out.load(Ordering::Relaxed) {
        let url = format!("{}/events/{event_id}/queue", ctx.base(*node));
        let mut wait = Duration::from_secs(2);
        match ctx
            .call(Endpoint::QueuePoll, ctx.client.get(url).bearer_auth(token))
            .await
        {
            Ok((200, body)) => {
                if body["admitted"].as_bool() == Some(true)
                    && let Some(t) = body["queue_token"].as_str()
                {
                    return Some(t.to_owned());
                }
                let eta = body["eta_seconds"].as_f64().unwrap_or(6.0);
                wait = Duration::from_secs_f64((eta / 3.0).clamp(1.0, 15.0));
            }
            Ok(_) => {}
            Err(()) => *node += 1,
        }
        ctx.pause(wait + think(rng, 0, 500)).await;
    }
    None
}

/// The booking, when the fan clicked, its seats, and the open live map.
type Held = (i64, Instant, Vec<i64>, LiveMap);

/// Opens the live map, holds a group of seats; on 409 picks others from
/// what the map now shows.
async fn shop(
    ctx: &Arc<Ctx>,
    node: &mut usize,
    token: &str,
    queue_token: Option<&str>,
    rng: &mut StdRng,
) -> Option<Held> {
    let counts = &ctx.counts;
    let _permit = ctx.map_streams.acquire().await.ok()?;
    let websocket = rng.gen_bool(ctx.ws_share);
    let live = LiveMap::open(ctx.clone(), ctx.base(*node).to_owned(), websocket).await;
    let want = group_size(rng);
    let hot = rng.gen_bool(ctx.hot_share);
    if !ctx.pause(think(rng, 200, 1_500)).await {
        return None;
    }
    for _ in 0..12 {
        let picked = lock(&live.view).pick(want, hot, rng);
        let Some(seats) = picked else {
            add(&counts.sold_out, 1);
            return None;
        };
        lock(&live.view).watch(&seats);
        let mut request = ctx
            .client
            .post(format!("{}/bookings", ctx.base(*node)))
            .bearer_auth(token)
            .json(&json!({ "event_id": ctx.event_id, "seat_ids": seats }));
        if let Some(q) = queue_token {
            request = request.header("X-Queue-Token", q);
        }
        // The live-map delay runs from the click: the delta often reaches
        // the fan's stream before the 201 does.
        let answered = Instant::now();
        let answer = ctx.call(Endpoint::Reserve, request).await;
        match answer {
            Ok((201, body)) => {
                let booking_id = body["booking_id"].as_i64()?;
                ctx.rec.acknowledge_hold(booking_id);
                add(&counts.held, 1);
                add(&counts.seats_held, seats.len() as u64);
                return Some((booking_id, answered, seats, live));
            }
            Ok((409, body)) if body["code"] == "seat_unavailable" => {
                add(&counts.conflicts, 1);
                let named: Vec<i64> = body["seat_ids"]
                    .as_array()
                    .map(|a| a.iter().filter_map(Value::as_i64).collect())
                    .unwrap_or_else(|| seats.clone());
                let mut view = lock(&live.view);
                for id in named {
                    view.set(id, false);
                }
            }
            Ok((409, _)) => {
                // Over the per-buyer limit: an earlier answer was lost and
                // that hold exists. The fan reloads "my bookings" and uses it.
                if let Some(held) = adopt(ctx, node, token).await {
                    add(&counts.held, 1);
                    return Some((held.0, answered, held.1, live));
                }
            }
            Ok((status, _)) if status < 500 && status != 429 => {
                gave_up(ctx);
                return None;
            }
            Ok(_) | Err(()) => {
                *node += 1;
                if let Some(held) = adopt(ctx, node, token).await {
                    add(&counts.held, 1);
                    return Some((held.0, answered, held.1, live));
                }
            }
        }
        if !ctx.pause(think(rng, 100, 600)).await {
            return None;
        }
    }
    gave_up(ctx);
    None
}

/// A pending hold of this fan on this event, from GET /me/bookings.
async fn adopt(ctx: &Ctx, node: &mut usize, token: &str) -> Option<(i64, Vec<i64>)> {
    let (status, body) = ctx
        .retrying(Endpoint::MyBookings, node, |base| {
            ctx.client
                .get(format!("{base}/me/bookings"))
                .bearer_auth(token)
        })
        .await?;
    if status != 200 {
        return None;
    }
    body["bookings"].as_array()?.iter().find_map(|b| {
        (b["event_id"].as_i64() == Some(ctx.event_id) && b["status"] == "PENDING").then(|| {
            let seats = b["seat_ids"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_i64).collect())
                .unwrap_or_default();
            (b["booking_id"].as_i64().unwrap_or(0), seats)
        })
    })
}

/// Pays: most with a good card; some declined then another card (new key);
/// some lose the answer and retry with the same key; some slow. The
/// confirmation number once confirmed.
async fn pay(
    ctx: &Ctx,
    node: &mut usize,
    token: &str,
    booking_id: i64,
    rng: &mut StdRng,
) -> Option<String> {
    let counts = &ctx.counts;
    let roll = rng.gen_range(0..100);
    let mut card = match roll {
        0..9 => "tok_chargeDeclined",
        9..17 => "tok_timeout",
        17..23 => "tok_slow",
        _ => "tok_visa",
    };
    if ctx.slow_provider.load(Ordering::Relaxed) && card == "tok_visa" {
        card = "tok_slow";
    }
    let mut key = format!("{}-{booking_id}-{}", ctx.run_id, rng.r#gen::<u64>());
    for _ in 0..15 {
        if ctx.stop.is_set() {
            return None;
        }
        let request = ctx
            .client
            .post(format!("{}/bookings/{booking_id}/confirm", ctx.base(*node)))
            .bearer_auth(token)
            .header("Idempotency-Key", &key)
            .json(&json!({ "payment_token": card }));
        match ctx.call(Endpoint::Confirm, request).await {
            Ok((200, body)) => {
                ctx.rec.acknowledge_confirm(booking_id);
                if roll < 9 {
                    add(&counts.declined_then_paid, 1);
                }
                return body["confirmation_number"].as_str().map(str::to_owned);
            }
            Ok((402, _)) => {
                // Declined: another card, a new attempt.
                card = "tok_visa";
                key = format!("{}-{booking_id}-{}", ctx.run_id, rng.r#gen::<u64>());
                continue;
            }
            Ok((409, body)) if body["code"] == "hold_expired" => {
                add(&counts.hold_expired, 1);
                return None;
            }
            Ok((409, _)) | Ok((429, _)) => {}
            Ok((status, _)) if status < 500 => break,
            // A lost answer: the same key again (nothing is charged twice).
            Ok(_) => add(&counts.lost_answer_retries, 1),
            Err(()) => {
                add(&counts.lost_answer_retries, 1);
                *node += 1;
            }
        }
        if !ctx.pause(Duration::from_secs(1)).await {
            return None;
        }
    }
    add(&counts.payment_failed, 1);
    None
}

/// Scans every ticket twice with the door's token: in, then refused.
async fn door(ctx: &Ctx, node: &mut usize, tickets: &Value) {
    let counts = &ctx.counts;
    for ticket in tickets["tickets"].as_array().into_iter().flatten() {
        let Some(code) = ticket["code"].as_str() else {
            continue;
        };
        // Admitted by the first scan: only then is a second 200 a double
        // admission (a first scan left without an answer, or refused, makes
        // the second one the ticket's first admission).
        let mut admitted = false;
        for scan in 0..2 {
            let answer = ctx
                .retrying(Endpoint::Checkin, node, |base| {
                    ctx.client
                        .post(format!("{base}/admin/events/{}/checkin", ctx.event_id))
                        .bearer_auth(&ctx.admin_token)
                        .json(&json!({ "ticket_code": code }))
                })
                .await;
            match (scan, answer) {
                (0, Some((200, _))) => {
                    admitted = true;
                    add(&counts.scanned, 1);
                }
                (1, Some((409, _))) => add(&counts.second_scan_refused, 1),
                (1, Some((200, _))) if admitted => add(&counts.double_admissions, 1),
                (1, Some((200, _))) => add(&counts.scanned, 1),
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub fn ctx() -> Arc<Ctx> {
        Arc::new(Ctx {
            client: reqwest::Client::new(),
            targets: vec!["http://127.0.0.1:9".into()],
            event_id: 1,
            layout: Default::default(),
            queued: true,
            admin_token: String::new(),
            rec: Arc::new(Recorder::new(Instant::now())),
            stop: Stop::default(),
            sold_out: AtomicBool::new(false),
            slow_provider: AtomicBool::new(false),
            requests: Semaphore::new(1),
            crowd: Semaphore::new(1),
            queue_streams: Semaphore::new(1),
            map_streams: Semaphore::new(1),
            counts: Counts::default(),
            progress: indicatif::MultiProgress::new(),
            run_id: "t".into(),
            ws_share: 0.5,
            hot_share: 0.5,
            seed: 1,
        })
    }

    /// 100,000 fans are 100,000 of these: keep a journey's future small.
    #[test]
    fn a_fan_is_a_small_task() {
        let journey = journey(ctx(), 0);
        let size = std::mem::size_of_val(&journey);
        println!("journey future: {size} bytes");
        assert!(size < 4096, "journey future is {size} bytes");
    }
}
