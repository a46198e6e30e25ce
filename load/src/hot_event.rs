//! Prepares a hot event for an external load generator (wrk): creates the
//! venue and event, signs in buyers, writes their tokens to a file, and prints
//! `EVENT_ID FIRST_SEAT SEAT_COUNT` (a venue's seat ids are consecutive).
//! A tokens file that already holds enough buyers is kept: a bearer token is
//! not tied to an event, so several hot events can share one crowd. The event
//! is warmed up as an on-sale's first fans do, with one hold of its first
//! seat: its actor loads the seat map then (about 0.4 s for 200,000 seats),
//! which a measured window should not count.

use clap::Args as ClapArgs;
use futures_util::{StreamExt, TryStreamExt, stream};

use crate::api::Api;

#[derive(Debug, ClapArgs)]
pub struct Args {
    #[arg(long, default_value_t = 50_000)]
    seats: usize,
    #[arg(long, default_value_t = 500)]
    buyers: usize,
    #[arg(long)]
    tokens_file: std::path::PathBuf,
    #[arg(long, default_value = "Hot Event")]
    name: String,
}

pub async fn run(api: &Api, args: Args) -> anyhow::Result<()> {
    let (event_id, seat_ids) = api
        .venue_and_event(&args.name, args.seats.div_ceil(2500), 50, 50)
        .await?;
    let first = *seat_ids
        .first()
        .ok_or_else(|| anyhow::anyhow!("no seats"))?;
    let contiguous = seat_ids
        .iter()
        .enumerate()
        .all(|(i, s)| *s == first + i as i64);
    anyhow::ensure!(contiguous, "seat ids are not consecutive");
    let kept = std::fs::read_to_string(&args.tokens_file)
        .map(|tokens| tokens.lines().filter(|l| !l.is_empty()).count())
        .unwrap_or(0);
    if kept < args.buyers {
        let tokens: Vec<String> = stream::iter(0..args.buyers)
            .map(|n| api.guest(n))
            .buffered(32)
            .try_collect()
            .await?;
        std::fs::write(&args.tokens_file, tokens.join("\n") + "\n")?;
    }
    let first_buyer = std::fs::read_to_string(&args.tokens_file)?;
    let token = first_buyer.lines().next().unwrap_or_default();
    let warm = api
        .client
        .post(api.url("/bookings"))
        .bearer_auth(token)
        .json(&serde_json::json!({ "event_id": event_id, "seat_ids": [first] }))
        .send()
        .await?;
    anyhow::ensure!(
        warm.status() == 201,
        "the warm-up hold answered {}: {}",
        warm.status(),
        warm.text().await.unwrap_or_default()
    );
    println!("{event_id} {first} {}", seat_ids.len());
    Ok(())
}
