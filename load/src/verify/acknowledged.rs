//! Nothing acknowledged was lost: every 201 a client was given for a hold is
//! a booking that exists (on this event), and every confirmation a client was
//! given is a CONFIRMED booking (or REFUNDED, should an operator refund it).
//!
//! The file is JSON Lines, one acknowledgement per line:
//! `{"kind":"hold","booking_id":12}` or `{"kind":"confirm","booking_id":12}`.

use std::collections::HashMap;
use std::path::Path;

use anyhow::Context;
use serde::Deserialize;

use super::{Check, Snapshot};

#[derive(Deserialize)]
struct Ack {
    kind: String,
    booking_id: i64,
}

pub async fn check(
    pool: &mut Snapshot,
    event_id: i64,
    file: Option<&Path>,
) -> anyhow::Result<Check> {
    let mut check = Check::new("acknowledged");
    let Some(file) = file else {
        check.note = Some("no --acknowledged file: nothing to compare".into());
        return Ok(check);
    };
    let text = tokio::fs::read_to_string(file)
        .await
        .with_context(|| format!("read {}", file.display()))?;
    let mut acks = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let ack: Ack = serde_json::from_str(line)
            .with_context(|| format!("{}:{}: not an acknowledgement", file.display(), n + 1))?;
        anyhow::ensure!(
            ack.kind == "hold" || ack.kind == "confirm",
            "{}:{}: kind must be \"hold\" or \"confirm\"",
            file.display(),
            n + 1
        );
        acks.push(ack);
    }
    let ids: Vec<i64> = acks.iter().map(|a| a.booking_id).collect();
    let found: HashMap<i64, (i64, String)> = sqlx::query_as::<_, (i64, i64, String)>(
        "SELECT booking_id, event_id, status FROM bookings WHERE booking_id = ANY($1)",
    )
    .bind(&ids)
    .fetch_all(&mut *pool)
    .await?
    .into_iter()
    .map(|(b, e, s)| (b, (e, s)))
    .collect();
    for ack in &acks {
        check.checked += 1;
        let id = ack.booking_id;
        match (found.get(&id), ack.kind.as_str()) {
            (None, kind) => check.violation(format!(
                "LOST: booking {id} was acknowledged ({kind}) but does not exist"
            )),
            (Some((e, _)), kind) if *e != event_id => check.violation(format!(
                "booking {id} was acknowledged ({kind}) for event {event_id} but is event {e}'s"
            )),
            (Some((_, status)), "confirm") if status != "CONFIRMED" && status != "REFUNDED" => {
                check.violation(format!(
                    "LOST: booking {id}'s confirmation was acknowledged but it is {status}"
                ))
            }
            _ => {}
        }
    }
    Ok(check)
}
