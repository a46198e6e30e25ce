//! Browse on a streaming replica (`database.replica_url`), with a private
//! primary and replica the harness makes (`helpers::PgPair`): browse reads
//! the replica, survives the replica going down (the primary serves) and the
//! primary going down (the replica serves, booking answers 503 with
//! Retry-After), and leaves a replica that lags beyond the bound.

use std::time::Duration;

use secrecy::SecretString;
use serde_json::Value;
use sqlx::{Connection, PgConnection};

use crate::helpers::{
    PgPair, TestApp, assert_problem, eventually, eventually_within, layout, spawn_app_against,
};

/// How many browse reads the replica has served so far (the node's metric).
async fn replica_reads(app: &TestApp) -> u64 {
    let text = app.get("/metrics").await.text().await.unwrap();
    text.lines()
        .find(|l| l.starts_with("boxoffice_browse_reads_total{source=\"replica\"}"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|n| n.parse::<f64>().ok())
        .unwrap_or(0.0) as u64
}

async fn readyz(app: &TestApp) -> (u16, Value) {
    let answer = app.get("/readyz").await;
    (answer.status().as_u16(), answer.json().await.unwrap())
}

/// Makes every cached listing and event unreachable (as an update does), so
/// the next browse reads PostgreSQL.
async fn forget_browse_cache(app: &TestApp) {
    let _: i64 = redis::cmd("INCR")
        .arg(format!("{}catalog:generation", app.redis_prefix))
        .query_async(&mut app.redis().await)
        .await
        .unwrap();
}

/// The three browse reads answer 200 and show the event.
async fn browse_works(app: &TestApp, venue_id: i64, event_id: i64, when: &str) {
    forget_browse_cache(app).await;
    let listing: Value = {
        let answer = app.get("/events").await;
        assert_eq!(answer.status(), 200, "{when}: GET /events");
        answer.json().await.unwrap()
    };
    assert!(
        listing["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["event_id"] == event_id),
        "{when}: the event is listed"
    );
    let details = app.get(&format!("/events/{event_id}")).await;
    assert_eq!(details.status(), 200, "{when}: GET /events/{event_id}");
    let layout = app.get(&format!("/venues/{venue_id}/layout")).await;
    assert_eq!(
        layout.status(),
        200,
        "{when}: GET /venues/{venue_id}/layout"
    );
}

#[actix_web::test]
async fn browse_reads_a_fresh_replica_and_survives_either_server_stopping_while_booking_needs_the_primary()
 {
    let pair = tokio::task::spawn_blocking(PgPair::start).await.unwrap();
    let replica_base = pair.replica_url("");
    let mut replica_db = String::new();
    let app = spawn_app_against(pair.primary_admin_url(), |s, db| {
        s.database.replica_url = SecretString::from(format!("{replica_base}{db}"));
        s.database.replica_max_lag_ms = 1000;
        s.database.acquire_timeout_seconds = 1;
        replica_db = db.to_owned();
    })
    .await;
    let admin = app.admin_token().await;
    let (venue_id, event_id) = app.venue_and_event(&admin, "Oslo", layout(1, 1, 4)).await;
    let seats: Vec<i64> = app.seat_map(event_id).await["seats"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["seat_id"].as_i64().unwrap())
        .collect();
    let buyer = app.buyer_token().await;

    // Both up: browse reads the replica.
    eventually("the replica serves browse", || async {
        readyz(&app).await.1["replica"] == "up"
    })
    .await;
    let before = replica_reads(&app).await;
    browse_works(&app, venue_id, event_id, "both up").await;
    assert!(
        replica_reads(&app).await >= before + 3,
        "browse did not read the replica"
    );

    // Replay pauses on the replica while the primary commits: beyond the
    // bound, browse reads the primary (and sees the new event).
    let mut replica = PgConnection::connect(&format!("{replica_base}{replica_db}"))
        .await
        .unwrap();
    sqlx::query("SELECT pg_wal_replay_pause()")
        .execute(&mut replica)
        .await
        .unwrap();
    let (_, newer) = app.venue_and_event(&admin, "Bergen", layout(1, 1, 2)).await;
    eventually("readyz reports the replica lagging", || async {
        readyz(&app).await.1["replica"] == "lagging"
    })
    .await;
    let listing: Value = app.get("/events").await.json().await.unwrap();
    assert!(
        listing["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["event_id"] == newer),
        "a lagging replica served the listing: {listing}"
    );
    sqlx::query("SELECT pg_wal_replay_resume()")
        .execute(&mut replica)
        .await
        .unwrap();
    drop(replica);
    eventually("the replica catches up and serves again", || async {
        readyz(&app).await.1["replica"] == "up"
    })
    .await;

    // The replica stops: browse goes on from the primary, booking too.
    pair.stop_replica();
    browse_works(&app, venue_id, event_id, "replica stopped").await;
    eventually("readyz reports the replica down", || async {
        readyz(&app).await.1["replica"] == "down"
    })
    .await;
    assert_eq!(
        app.reserve(&buyer, event_id, &seats[..1]).await.status(),
        201
    );

    // The replica returns and is used again.
    pair.start_replica();
    eventually("the replica serves browse again", || async {
        readyz(&app).await.1["replica"] == "up"
    })
    .await;

    // The primary stops: browse reads the replica; booking is a 503 problem.
    pair.stop_primary();
    let before = replica_reads(&app).await;
    browse_works(&app, venue_id, event_id, "primary stopped").await;
    assert!(replica_reads(&app).await >= before + 3);
    let refused = app.reserve(&buyer, event_id, &seats[1..2]).await;
    assert!(refused.headers().contains_key("retry-after"));
    assert_problem(refused, 503, "service_unavailable").await;
    eventually_within(
        Duration::from_secs(10),
        Duration::from_millis(100),
        "readyz says booking is unavailable and browse goes on",
        || async {
            let (status, body) = readyz(&app).await;
            status == 503
                && body["status"] == "browse_only"
                && body["booking"] == "unavailable"
                && body["postgres"] == "down"
        },
    )
    .await;
    drop(app);
    drop(pair);
}
