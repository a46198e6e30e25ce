//! Operations: liveness, readiness and Prometheus metrics.

use std::time::Duration;

use actix_web::http::header::CONTENT_TYPE;
use actix_web::{HttpResponse, web};
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::json;
use sqlx::PgPool;

use crate::store::redis::Redis;

/// This process's identity among the nodes (as lease holders name it).
pub struct NodeId(pub String);

/// The process is up and serving HTTP.
pub async fn healthz(node: web::Data<NodeId>) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok", "node_id": node.0 }))
}

/// PostgreSQL and Redis both answer; 503 naming the one that does not.
pub async fn readyz(pool: web::Data<PgPool>, redis: web::Data<Redis>) -> HttpResponse {
    let postgres = tokio::time::timeout(
        Duration::from_secs(2),
        sqlx::query("SELECT 1").execute(pool.get_ref()),
    )
    .await
    .is_ok_and(|r| r.is_ok());
    let redis = redis.ping().await.is_ok();
    let body = json!({
        "status": if postgres && redis { "ready" } else { "unavailable" },
        "postgres": if postgres { "up" } else { "down" },
        "redis": if redis { "up" } else { "down" },
    });
    if postgres && redis {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable()
            .insert_header(("Retry-After", "2"))
            .json(body)
    }
}

pub async fn metrics(handle: web::Data<PrometheusHandle>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "text/plain; version=0.0.4"))
        .body(handle.render())
}

/// The API contract as OpenAPI 3.1.
pub async fn openapi() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(include_str!("openapi.json"))
}
