//! The seat map each node serves (`GET /events/{id}/seats`) equals the
//! database, compared at the same seat version: while the node and the
//! database disagree on the version (a sale still settling, a node catching
//! up), both are read again, until they meet or the deadline passes.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use super::{Check, Db};

#[derive(Deserialize)]
struct Snapshot {
    version: i64,
    seats: Vec<SeatView>,
}

#[derive(Deserialize)]
struct SeatView {
    seat_id: i64,
    status: String,
}

type Statuses = BTreeMap<i64, String>;

async fn database(pool: &Db, event_id: i64) -> anyhow::Result<(i64, Statuses)> {
    let mut tx = pool.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *tx)
        .await?;
    let version: i64 = sqlx::query_scalar("SELECT seat_version FROM events WHERE event_id = $1")
        .bind(event_id)
        .fetch_one(&mut *tx)
        .await?;
    let seats: Vec<(i64, String)> =
        sqlx::query_as("SELECT seat_id, status FROM seats WHERE event_id = $1")
            .bind(event_id)
            .fetch_all(&mut *tx)
            .await?;
    tx.commit().await?;
    Ok((version, seats.into_iter().collect()))
}

async fn node(client: &reqwest::Client, url: &str) -> anyhow::Result<(i64, Statuses)> {
    let response = client.get(url).send().await?.error_for_status()?;
    let snapshot: Snapshot = response.json().await?;
    Ok((
        snapshot.version,
        snapshot
            .seats
            .into_iter()
            .map(|s| (s.seat_id, s.status))
            .collect(),
    ))
}

pub async fn check(
    pool: &Db,
    event_id: i64,
    targets: &[String],
    deadline: Duration,
) -> anyhow::Result<Check> {
    let mut check = Check::new("seat map");
    if targets.is_empty() {
        check.note = Some("no --target given: no node's seat map compared".into());
        return Ok(check);
    }
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()?;
    for target in targets {
        let url = format!("{}/events/{event_id}/seats", target.trim_end_matches('/'));
        let until = tokio::time::Instant::now() + deadline;
        loop {
            let served = node(&client, &url).await;
            let (db_version, db_seats) = database(pool, event_id).await?;
            let (version, seats) = match served {
                Ok(served) => served,
                Err(error) => {
                    if tokio::time::Instant::now() >= until {
                        check.violation(format!("{target}: no seat map: {error:#}"));
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            };
            if version != db_version {
                if tokio::time::Instant::now() >= until {
                    check.violation(format!(
                        "{target} serves version {version}, the database is at {db_version} (after {deadline:?})"
                    ));
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
            for (seat, status) in &db_seats {
                check.checked += 1;
                match seats.get(seat) {
                    Some(served) if served == status => {}
                    Some(served) => check.violation(format!(
                        "{target} shows seat {seat} {served}, the database {status} (version {version})"
                    )),
                    None => check.violation(format!("{target} does not show seat {seat}")),
                }
            }
            for seat in seats.keys().filter(|s| !db_seats.contains_key(s)) {
                check.violation(format!(
                    "{target} shows seat {seat}, unknown to the database"
                ));
            }
            break;
        }
    }
    Ok(check)
}
