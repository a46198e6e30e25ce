//! Seat instantiation for a big venue, and seat-map snapshot latency.

use std::time::Instant;

use clap::Args as ClapArgs;
use serde_json::json;

use crate::api::Api;
use crate::report::{histogram, percentiles, record};

#[derive(Debug, ClapArgs)]
pub struct Args {
    /// Seats in the venue (sections of 50 rows x 50 seats).
    #[arg(long, default_value_t = 50_000)]
    seats: usize,
    /// Snapshot requests to time.
    #[arg(long, default_value_t = 50)]
    snapshots: usize,
}

pub async fn run(api: &Api, args: Args) -> anyhow::Result<()> {
    let sections = args.seats.div_ceil(2_500);
    let layout = json!({"sections": (0..sections).map(|s| json!({
        "name": format!("S{s}"),
        "rows": (0..50).map(|r| json!({"name": format!("R{r}"), "seats": 50})).collect::<Vec<_>>(),
    })).collect::<Vec<_>>()});
    let started = Instant::now();
    let venue = api
        .admin_post(
            "/admin/venues",
            &json!({"name": "Bench Stadium", "city": "Benchville", "layout": layout}),
        )
        .await?;
    let venue_ms = started.elapsed().as_secs_f64() * 1000.0;
    let seat_count = venue["seat_count"].as_u64().unwrap_or(0);

    let started = Instant::now();
    let event = api
        .admin_post(
            "/admin/events",
            &json!({"title": "Bench Night", "venue_id": venue["venue_id"], "category": "bench",
                    "start_time": "2030-01-01T20:00:00Z", "price_cents": 100}),
        )
        .await?;
    let event_ms = started.elapsed().as_secs_f64() * 1000.0;
    let event_id = event["event_id"].as_i64().unwrap_or(0);

    // No transparent decoding: measure what crosses the wire.
    let raw = reqwest::Client::builder().no_gzip().build()?;
    let mut results = Vec::new();
    for (label, encoding) in [("gzip", "gzip"), ("identity", "identity")] {
        let mut h = histogram();
        let mut bytes = 0;
        for _ in 0..args.snapshots {
            let started = Instant::now();
            let answer = raw
                .get(api.url(&format!("/events/{event_id}/seats")))
                .header("Accept-Encoding", encoding)
                .send()
                .await?;
            let body = answer.bytes().await?;
            record(&mut h, started.elapsed());
            bytes = body.len();
        }
        results.push((label, h, bytes));
    }
    println!("catalog: venue of {seat_count} seats created in {venue_ms:.0} ms");
    println!(
        "catalog: event with {seat_count} seats instantiated in {event_ms:.0} ms (POST /admin/events)"
    );
    for (label, h, bytes) in results {
        println!(
            "snapshot {label:>8}: {} snapshots, {bytes} bytes on the wire, {}",
            args.snapshots,
            percentiles(&h)
        );
    }
    Ok(())
}
