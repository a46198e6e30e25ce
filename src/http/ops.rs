//! Operations: liveness, readiness, Prometheus metrics and the per-request
//! metrics middleware.

use std::time::{Duration, Instant};

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::ConnectionType;
use actix_web::http::header::{AUTHORIZATION, CONTENT_TYPE};
use actix_web::middleware::Next;
use actix_web::{HttpRequest, HttpResponse, web};
use ipnet::IpNet;
use metrics_exporter_prometheus::PrometheusHandle;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use utoipa::ToSchema;

use crate::drain::Drain;
use crate::http::api_doc::Problem;
use crate::http::client_addr::ClientAddr;
use crate::http::error::ApiError;
use crate::store::browse_reads::{BrowseReads, ReplicaState};
use crate::store::redis::Redis;

/// This process's identity among the nodes (as lease holders name it).
pub struct NodeId(pub String);

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
enum Alive {
    Ok,
}

/// The process is up.
#[derive(Serialize, ToSchema)]
pub struct Health {
    status: Alive,
    /// This node's name among the nodes (`NodeId`).
    node_id: String,
}

/// The process is up and serving HTTP.
#[utoipa::path(
    get, path = "/healthz", tag = "operations", operation_id = "healthz",
    responses((status = 200, description = "The process is up", body = Health))
)]
pub async fn healthz(node: web::Data<NodeId>) -> HttpResponse {
    HttpResponse::Ok().json(Health {
        status: Alive::Ok,
        node_id: node.0.clone(),
    })
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
enum ReadyStatus {
    Ready,
    Degraded,
    BrowseOnly,
    Unavailable,
    Draining,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
enum UpDown {
    Up,
    Down,
}

/// The browse replica (`ReplicaState`): `none` when none is configured.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
enum Replica {
    None,
    Up,
    Lagging,
    Down,
}

impl From<ReplicaState> for Replica {
    fn from(state: ReplicaState) -> Replica {
        match state {
            ReplicaState::None => Replica::None,
            ReplicaState::Serving => Replica::Up,
            ReplicaState::Lagging => Replica::Lagging,
            ReplicaState::Down => Replica::Down,
        }
    }
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
enum BookingAvailability {
    Available,
    Unavailable,
}

/// Whether this node can take bookings, and the state of what it depends
/// on. A draining node answers only `{"status": "draining"}`.
#[derive(Serialize, ToSchema)]
pub struct Readiness {
    status: ReadyStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    postgres: Option<UpDown>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    replica: Option<Replica>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    redis: Option<UpDown>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    booking: Option<BookingAvailability>,
}

/// Ready while PostgreSQL answers: booking is correct and available without
/// Redis (it skips the lock layer, browse reads PostgreSQL), so a Redis blip
/// must not make a load balancer drain every node. Without Redis the body
/// says `degraded`. Without the primary, which decides every sale, it is 503
/// (API.md: 200 only while this node can take bookings) with
/// `booking: unavailable`; the status says `browse_only` while a browse
/// replica still serves the catalog (routing browse on `/readyz` would lose
/// it: a proxy should route on `/healthz` and its own passive checks).
///
/// A stopping node answers 503 `draining`, so whatever checks it sends it
/// nothing new.
#[utoipa::path(
    get, path = "/readyz", tag = "operations", operation_id = "readyz",
    responses(
        (status = 200, description = "PostgreSQL answers: `ready`, or `degraded` without Redis", body = Readiness),
        (status = 503, description = "PostgreSQL is unreachable (`unavailable`, or `browse_only` while a browse replica serves), or the node is `draining`; `Retry-After`", body = Readiness,
            headers(("Retry-After" = String, description = "Seconds to wait"))),
    )
)]
pub async fn readyz(
    pool: web::Data<PgPool>,
    redis: web::Data<Redis>,
    browse: web::Data<BrowseReads>,
    drain: web::Data<Drain>,
) -> HttpResponse {
    if drain.is_closing() {
        return HttpResponse::ServiceUnavailable()
            .insert_header(("Retry-After", "2"))
            .json(Readiness {
                status: ReadyStatus::Draining,
                postgres: None,
                replica: None,
                redis: None,
                booking: None,
            });
    }
    let postgres = tokio::time::timeout(Duration::from_secs(2), crate::store::ping(pool.get_ref()))
        .await
        .is_ok_and(|r| r.is_ok());
    let redis = redis.ping().await.is_ok();
    let replica = browse.replica_state();
    let browse_only = !postgres && replica == ReplicaState::Serving;
    let status = match (postgres, redis) {
        (true, true) => ReadyStatus::Ready,
        (true, false) => ReadyStatus::Degraded,
        (false, _) if browse_only => ReadyStatus::BrowseOnly,
        (false, _) => ReadyStatus::Unavailable,
    };
    let up = |up: bool| Some(if up { UpDown::Up } else { UpDown::Down });
    let body = Readiness {
        status,
        postgres: up(postgres),
        replica: Some(replica.into()),
        redis: up(redis),
        booking: Some(if postgres {
            BookingAvailability::Available
        } else {
            BookingAvailability::Unavailable
        }),
    };
    if postgres {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable()
            .insert_header(("Retry-After", "2"))
            .json(body)
    }
}

/// Who may read `/metrics` (`[metrics]`): clients from `allow_from`, or
/// anyone with the bearer token.
pub struct MetricsAccess {
    allow_from: Vec<IpNet>,
    /// SHA-256 of the token: comparing digests leaks nothing about the token.
    token_digest: Option<[u8; 32]>,
}

impl MetricsAccess {
    pub fn new(allow_from: Vec<IpNet>, token: &SecretString) -> MetricsAccess {
        let token = token.expose_secret();
        MetricsAccess {
            allow_from,
            token_digest: (!token.is_empty()).then(|| Sha256::digest(token.as_bytes()).into()),
        }
    }

    fn allows(&self, req: &HttpRequest, client: ClientAddr) -> bool {
        if self.allow_from.iter().any(|net| net.contains(&client.0)) {
            return true;
        }
        let offered = req
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        match (self.token_digest, offered) {
            (Some(expected), Some(offered)) => {
                let offered: [u8; 32] = Sha256::digest(offered.trim().as_bytes()).into();
                offered == expected
            }
            _ => false,
        }
    }
}

/// Prometheus metrics, served to client addresses in `metrics.allow_from`
/// (default: loopback) or with `Authorization: Bearer <metrics.bearer_token>`
/// (a configured token, not a session).
#[utoipa::path(
    get, path = "/metrics", tag = "operations", operation_id = "metrics",
    security((), ("metrics_token" = [])),
    responses(
        (status = 200, description = "Prometheus text exposition format 0.0.4", body = String, content_type = "text/plain"),
        (status = 403, description = "`forbidden`: not an allowed address and no valid token", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn metrics(
    req: HttpRequest,
    client: ClientAddr,
    access: web::Data<MetricsAccess>,
    handle: web::Data<PrometheusHandle>,
) -> Result<HttpResponse, ApiError> {
    if !access.allows(&req, client) {
        return Err(ApiError::forbidden(
            "metrics are served to the addresses in metrics.allow_from or with metrics.bearer_token",
        ));
    }
    Ok(HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "text/plain; version=0.0.4"))
        .body(handle.render()))
}

/// The API contract as OpenAPI 3.1 (`crate::http::api_doc`).
#[utoipa::path(
    get, path = "/openapi.json", tag = "operations", operation_id = "openapi",
    responses((status = 200, description = "This document", body = Object))
)]
pub async fn openapi() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(crate::http::api_doc::document())
}

/// While the node is stopping (`crate::drain`), every answer closes its
/// connection, so a proxy keeps no idle connection to it (a WebSocket
/// upgrade is left alone).
pub async fn close_when_stopping(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let drain = req.app_data::<web::Data<Drain>>().cloned();
    let mut response = next.call(req).await?;
    if drain.is_some_and(|d| d.is_closing())
        && response.status() != actix_web::http::StatusCode::SWITCHING_PROTOCOLS
    {
        response
            .response_mut()
            .head_mut()
            .set_connection_type(ConnectionType::Close);
    }
    Ok(response)
}

/// Counts requests and records their latency by route pattern and status.
pub async fn record_request(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let method = req.method().to_string();
    let route = req.match_pattern().unwrap_or_else(|| "unmatched".into());
    let response = next.call(req).await?;
    let status = response.status().as_u16().to_string();
    let labels = [("method", method), ("route", route), ("status", status)];
    metrics::counter!("boxoffice_http_requests_total", &labels).increment(1);
    metrics::histogram!("boxoffice_http_request_duration_seconds", &labels)
        .record(started.elapsed().as_secs_f64());
    Ok(response)
}
