//! The waiting room over HTTP: join, poll, position stream (SSE), fairness
//! proof, and the operator's controls.

use std::time::{Duration, Instant};

use actix_web::{HttpRequest, HttpResponse, Responder, web};
use actix_web_lab::sse;
use actors::model::{EventId, UserId};
use chrono::{DateTime, TimeZone, Utc};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use sqlx::PgPool;

use crate::auth::{Admin, Caller, Signer};
use crate::http::client_addr::ClientAddr;
use crate::http::error::ApiError;
use crate::http::limits::{Action, Limits, StreamKind};
use crate::queue::token;
use crate::queue::watch::QueueWatch;
use crate::store::cache::CatalogCache;
use crate::store::catalog::{EventGate, EventGates};
use crate::store::queue::{Progress, QueueStore, Standing};
use crate::store::redis::RedisError;

fn unavailable(error: RedisError) -> ApiError {
    ApiError::Unavailable(anyhow::anyhow!("waiting room unavailable: {error}"))
}

async fn queued_gate(gates: &EventGates, event: EventId) -> Result<EventGate, ApiError> {
    let gate = gates
        .get(event)
        .await?
        .ok_or_else(|| ApiError::not_found("event"))?;
    if !gate.queue_enabled {
        return Err(ApiError::conflict(
            "queue_not_enabled",
            "this event has no waiting room; book directly",
        ));
    }
    Ok(gate)
}

fn open(gate: &EventGate) -> bool {
    gate.onsale_at.is_none_or(|at| at <= Utc::now())
}

fn eta(position: u64, progress: &Progress, gate: &EventGate) -> u64 {
    let rate = if progress.drain_per_sec > 0.5 {
        progress.drain_per_sec
    } else {
        f64::from(gate.admission_rate_per_sec.max(1))
    };
    (position as f64 / rate).ceil() as u64
}

fn admitted_body(signer: &Signer, event: EventId, user: UserId, expires: i64) -> Value {
    let expires_at = Utc
        .timestamp_opt(expires, 0)
        .single()
        .unwrap_or_else(Utc::now);
    json!({
        "in_queue": false,
        "admitted": true,
        "queue_token": token::sign(signer, event, user, expires_at),
        "expires_at": expires_at,
        "position": 0,
        "eta_seconds": 0,
    })
}

/// What `GET /events/{id}/queue` answers for a standing.
fn standing_body(
    signer: &Signer,
    event: EventId,
    user: UserId,
    standing: &Standing,
    progress: &Progress,
    gate: &EventGate,
) -> Value {
    match standing {
        Standing::Admitted { expires } => admitted_body(signer, event, user, *expires),
        Standing::Waiting { position, .. } if open(gate) => json!({
            "in_queue": true, "admitted": false, "position": position,
            // Admission stops while nothing is left or the operator paused
            // it: no countdown then.
            "eta_seconds": (!progress.sold_out && !progress.paused)
                .then(|| eta(*position, progress, gate)),
            "sold_out": progress.sold_out,
            "paused": progress.paused,
        }),
        Standing::Waiting { .. } => json!({
            // Before the sale opens the order is not yet drawn.
            "in_queue": true, "admitted": false, "position": null, "eta_seconds": null,
            "sale_opens_at": gate.onsale_at, "sold_out": false, "paused": progress.paused,
        }),
        Standing::NotInQueue => json!({
            "in_queue": false, "admitted": false, "position": null, "eta_seconds": null,
        }),
    }
}

#[tracing::instrument(skip_all, fields(event.id = %event_id, user.id = %caller.user_id))]
pub async fn join(
    client: ClientAddr,
    caller: Caller,
    gates: web::Data<EventGates>,
    store: web::Data<QueueStore>,
    signer: web::Data<Signer>,
    limits: web::Data<Limits>,
    event_id: web::Path<EventId>,
) -> Result<HttpResponse, ApiError> {
    limits.check(Action::QueueJoin, client)?;
    let event = event_id.into_inner();
    let gate = queued_gate(&gates, event).await?;
    let (standing, seq, progress) = store
        .join(event, caller.user_id)
        .await
        .map_err(unavailable)?;
    metrics::counter!("boxoffice_queue_joins_total").increment(1);
    let mut body = standing_body(&signer, event, caller.user_id, &standing, &progress, &gate);
    if seq > 0 {
        body["queue_id"] = json!(format!("{event}-{seq}"));
    }
    Ok(HttpResponse::Created().json(body))
}

#[tracing::instrument(skip_all, fields(event.id = %event_id, user.id = %caller.user_id))]
pub async fn status(
    caller: Caller,
    gates: web::Data<EventGates>,
    store: web::Data<QueueStore>,
    signer: web::Data<Signer>,
    event_id: web::Path<EventId>,
) -> Result<HttpResponse, ApiError> {
    let event = event_id.into_inner();
    let gate = queued_gate(&gates, event).await?;
    let standing = store
        .standing(event, caller.user_id)
        .await
        .map_err(unavailable)?;
    let progress = store.progress(event).await.unwrap_or_default();
    Ok(HttpResponse::Ok().json(standing_body(
        &signer,
        event,
        caller.user_id,
        &standing,
        &progress,
        &gate,
    )))
}

fn sse_json(name: &str, body: &Value) -> sse::Event {
    sse::Event::Data(sse::Data::new(body.to_string()).event(name.to_owned()))
}

/// Positions at least every two seconds (`paused: true` and no ETA while the
/// operator has paused admission), `sold_out` while nothing is left, then one
/// `admitted` message with the queue token. An open stream is the
/// waiter's sign of life.
#[tracing::instrument(skip_all, fields(event.id = %event_id, user.id = %caller.user_id))]
pub async fn stream(
    req: HttpRequest,
    caller: Caller,
    gates: web::Data<EventGates>,
    store: web::Data<QueueStore>,
    watch: web::Data<QueueWatch>,
    signer: web::Data<Signer>,
    event_id: web::Path<EventId>,
) -> Result<HttpResponse, ApiError> {
    let event = event_id.into_inner();
    let user = caller.user_id;
    let gate = queued_gate(&gates, event).await?;
    let first = store.standing(event, user).await.map_err(unavailable)?;
    if first == Standing::NotInQueue {
        return Err(ApiError::conflict(
            "not_in_queue",
            "join the queue first (POST /events/{id}/queue)",
        ));
    }
    // Held by the task below: released when the stream ends, however it ends.
    let slot = Limits::open_stream_for(&req, StreamKind::QueuePosition)?;
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    let (store, signer, gates) = (store.into_inner(), signer.into_inner(), gates.into_inner());
    let mut progress_rx = watch.watch(event);
    // Read once for the first message: a watch started just now holds no
    // reading yet.
    let mut first_read = store.progress(event).await.ok();
    metrics::gauge!("boxoffice_queue_stream_subscribers").increment(1.0);
    actix_web::rt::spawn(async move {
        let _slot = slot;
        let mut standing = first;
        let mut sent_sold_out = false;
        let mut gate = gate;
        'stream: loop {
            let (position, removed) = match standing {
                Standing::Admitted { expires } => {
                    if sent_sold_out {
                        let _ = tx
                            .send(sse_json("sold_out", &json!({ "sold_out": false })))
                            .await;
                    }
                    let _ = tx
                        .send(sse_json(
                            "admitted",
                            &admitted_body(&signer, event, user, expires),
                        ))
                        .await;
                    break;
                }
                Standing::NotInQueue => break,
                Standing::Waiting { position, removed } => (position, removed),
            };
            let anchored = Instant::now();
            loop {
                let progress = match first_read.take() {
                    Some(read) if !progress_rx.has_changed() => read,
                    _ => progress_rx.borrow_and_update().clone(),
                };
                // Everyone removed since the anchor left from the front of the line.
                let estimate = position
                    .saturating_sub(progress.removed.saturating_sub(removed))
                    .max(1);
                if progress.sold_out != sent_sold_out {
                    sent_sold_out = progress.sold_out;
                    let _ = tx
                        .send(sse_json(
                            "sold_out",
                            &json!({ "sold_out": progress.sold_out }),
                        ))
                        .await;
                }
                let waiting = Standing::Waiting {
                    position: estimate,
                    removed,
                };
                let body = standing_body(&signer, event, user, &waiting, &progress, &gate);
                if tx.send(sse_json("position", &body)).await.is_err() {
                    break 'stream; // the client went away
                }
                let _ = tokio::time::timeout(Duration::from_secs(2), progress_rx.changed()).await;
                if estimate <= 1 || anchored.elapsed() > Duration::from_secs(5) {
                    break;
                }
            }
            // At the front, or time to re-anchor: the exact standing (also a sign of life).
            if let Ok(exact) = store.standing(event, user).await {
                standing = exact;
            }
            if let Ok(Some(fresh)) = gates.get(event).await {
                gate = fresh;
            }
            if !gate.queue_enabled {
                // The operator turned the waiting room off: book directly.
                let _ = tx
                    .send(sse_json("closed", &json!({ "reason": "queue_disabled" })))
                    .await;
                break;
            }
        }
        metrics::gauge!("boxoffice_queue_stream_subscribers").decrement(1.0);
    });
    let sse = sse::Sse::from_infallible_receiver(rx).with_keep_alive(Duration::from_secs(15));
    Ok(sse.respond_to(&req).map_into_boxed_body())
}

/// The fairness proof: the seed's hash before the sale, the seed after it.
pub async fn fairness(
    gates: web::Data<EventGates>,
    store: web::Data<QueueStore>,
    event_id: web::Path<EventId>,
) -> Result<HttpResponse, ApiError> {
    let event = event_id.into_inner();
    let gate = queued_gate(&gates, event).await?;
    let seed = store.seed(event).await.map_err(unavailable)?;
    let shuffled = store.shuffled(event).await.map_err(unavailable)?;
    Ok(HttpResponse::Ok().json(json!({
        "sale_opens_at": gate.onsale_at,
        "seed_sha256": format!("{:x}", Sha256::digest(seed.as_bytes())),
        "seed": shuffled.then_some(seed),
        "shuffled": shuffled,
        "rule": "everyone who joined before the sale opened is ordered by ascending SHA-256 of \"<seed>:<user_id>\"; later arrivals follow in arrival order",
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueSettingsRequest {
    enabled: bool,
    admission_rate_per_sec: i32,
    /// Absent: unchanged; `null`: no on-sale time (first come, first served).
    #[serde(default, deserialize_with = "present")]
    onsale_at: Option<Option<DateTime<Utc>>>,
}

/// Tells an explicit `null` (`Some(None)`) from an absent field (`None`).
fn present<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<DateTime<Utc>>>, D::Error> {
    Option::<DateTime<Utc>>::deserialize(d).map(Some)
}

#[tracing::instrument(skip_all, fields(user.id = %admin.0.user_id, event.id = %event_id))]
pub async fn configure(
    admin: Admin,
    pool: web::Data<PgPool>,
    gates: web::Data<EventGates>,
    cache: web::Data<CatalogCache>,
    store: web::Data<QueueStore>,
    event_id: web::Path<EventId>,
    body: web::Json<QueueSettingsRequest>,
) -> Result<HttpResponse, ApiError> {
    let event = event_id.into_inner();
    let body = body.into_inner();
    // 0 pauses admission: the room stays on and waiters keep their places.
    if !(0..=100_000).contains(&body.admission_rate_per_sec) {
        return Err(ApiError::validation(
            "admission_rate_per_sec must be between 0 (paused) and 100000",
        ));
    }
    let updated = sqlx::query(
        "UPDATE events SET queue_enabled = $2, admission_rate_per_sec = $3,
                           onsale_at = CASE WHEN $4 THEN $5 ELSE onsale_at END, updated_at = now()
         WHERE event_id = $1",
    )
    .bind(event)
    .bind(body.enabled)
    .bind(body.admission_rate_per_sec)
    .bind(body.onsale_at.is_some())
    .bind(body.onsale_at.flatten())
    .execute(pool.get_ref())
    .await?;
    if updated.rows_affected() == 0 {
        return Err(ApiError::not_found("event"));
    }
    gates.forget(event);
    if body.onsale_at.flatten().is_some_and(|at| at > Utc::now()) {
        // A new on-sale time ahead: whoever joins before it is drawn again then.
        store.reset_shuffle(event).await.map_err(unavailable)?;
    }
    cache.invalidate().await;
    tracing::info!(
        enabled = body.enabled,
        rate = body.admission_rate_per_sec,
        "waiting room configured"
    );
    report(&gates, &store, event).await
}

pub async fn report_handler(
    _admin: Admin,
    gates: web::Data<EventGates>,
    store: web::Data<QueueStore>,
    event_id: web::Path<EventId>,
) -> Result<HttpResponse, ApiError> {
    report(&gates, &store, event_id.into_inner()).await
}

async fn report(
    gates: &EventGates,
    store: &QueueStore,
    event: EventId,
) -> Result<HttpResponse, ApiError> {
    let gate = gates
        .get(event)
        .await?
        .ok_or_else(|| ApiError::not_found("event"))?;
    let progress = store.progress(event).await.map_err(unavailable)?;
    let last_minute = store
        .admitted_last_minute(event)
        .await
        .map_err(unavailable)?;
    let holder = store.lease_holder(event).await.map_err(unavailable)?;
    metrics::gauge!("boxoffice_queue_waiting", "event" => event.to_string())
        .set(progress.waiting as f64);
    let paused = gate.admission_rate_per_sec == 0;
    Ok(HttpResponse::Ok().json(json!({
        "enabled": gate.queue_enabled,
        "admission_rate_per_sec": gate.admission_rate_per_sec,
        "sale_opens_at": gate.onsale_at,
        "waiting": progress.waiting,
        "admitted_total": progress.admitted_total,
        "admitted_last_minute": last_minute,
        "measured_rate_per_sec": progress.drain_per_sec,
        // Nobody is admitted while paused: no ETA then.
        "eta_last_seconds": (!paused).then(|| eta(progress.waiting, &progress, &gate)),
        "sold_out": progress.sold_out,
        "paused": paused,
        "lease_holder": holder,
    })))
}
