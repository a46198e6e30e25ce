//! The seat map each node serves equals the database, in both forms a fan
//! sees: the snapshot (`GET /events/{id}/seats`, which the node serves from
//! its live hub once that has reached the version committed when the request
//! came, else from PostgreSQL) and the first frame of the live stream
//! (`GET /events/{id}/seats/stream`, the node's live hub: a snapshot plus
//! every delta since, so a lost or misapplied delta shows here). Each is
//! compared at the same seat version as the database: while they disagree
//! on the version (a sale still settling, a hub catching up), both are read
//! again, until they meet or the deadline passes.

use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::StreamExt;
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

/// The first `snapshot` frame of the node's live stream (full format).
async fn live(client: &reqwest::Client, url: &str) -> anyhow::Result<(i64, Statuses)> {
    let response = client
        .get(url)
        .header("accept", "text/event-stream")
        .send()
        .await?
        .error_for_status()?;
    let mut body = response.bytes_stream();
    let mut buffer = String::new();
    loop {
        while let Some(end) = buffer.find("\n\n") {
            let frame: String = buffer.drain(..end + 2).collect();
            let data: Vec<&str> = frame
                .lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .map(|d| d.strip_prefix(' ').unwrap_or(d))
                .collect();
            if data.is_empty() {
                continue;
            }
            let value: serde_json::Value = serde_json::from_str(&data.join("\n"))?;
            if value["type"] == "snapshot" {
                let snapshot: Snapshot = serde_json::from_value(value)?;
                return Ok((
                    snapshot.version,
                    snapshot
                        .seats
                        .into_iter()
                        .map(|s| (s.seat_id, s.status))
                        .collect(),
                ));
            }
        }
        let chunk = tokio::time::timeout(Duration::from_secs(5), body.next())
            .await
            .map_err(|_| anyhow::anyhow!("no snapshot frame within 5 s"))?
            .ok_or_else(|| anyhow::anyhow!("the stream ended before a snapshot"))??;
        buffer.push_str(&String::from_utf8_lossy(&chunk).replace("\r\n", "\n"));
    }
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
    let sources = targets.iter().flat_map(|target| {
        let base = target.trim_end_matches('/');
        [
            (
                format!("{target} snapshot"),
                format!("{base}/events/{event_id}/seats"),
                false,
            ),
            (
                format!("{target} live"),
                format!("{base}/events/{event_id}/seats/stream?format=full"),
                true,
            ),
        ]
    });
    for (target, url, stream) in sources {
        let until = tokio::time::Instant::now() + deadline;
        loop {
            let served = if stream {
                live(&client, &url).await
            } else {
                node(&client, &url).await
            };
            let (db_version, db_seats) = database(pool, event_id).await?;
            let (version, seats) = match served {
                Ok(served) => served,
                Err(error) => {
                    if tokio::time::Instant::now() >= until {
                        // A node refusing this client more streams (its
                        // per-client limits) is not a wrong map: say so.
                        let limited = error
                            .downcast_ref::<reqwest::Error>()
                            .and_then(reqwest::Error::status)
                            .is_some_and(|s| s.as_u16() == 429);
                        if limited {
                            check.note =
                                Some(format!("{target}: refused with 429 (client limits)"));
                        } else {
                            check.violation(format!("{target}: no seat map: {error:#}"));
                        }
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
