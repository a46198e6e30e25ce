//! No seat in two active bookings; every seat's status agrees with its bookings.

use std::collections::HashMap;

use super::{Check, Snapshot};

pub async fn check(pool: &mut Snapshot, event_id: i64) -> anyhow::Result<Check> {
    let mut check = Check::new("seats");
    let seats: Vec<(i64, String, Option<i64>)> = sqlx::query_as(
        "SELECT seat_id, status, booking_id FROM seats WHERE event_id = $1 ORDER BY seat_id",
    )
    .bind(event_id)
    .fetch_all(&mut *pool)
    .await?;
    // Every active claim on a seat of this event, with its booking's status.
    let active: Vec<(i64, i64, String, i64)> = sqlx::query_as(
        "SELECT bs.seat_id, bs.booking_id, b.status, b.event_id
         FROM booking_seats bs JOIN bookings b USING (booking_id)
         WHERE bs.event_id = $1 AND bs.active",
    )
    .bind(event_id)
    .fetch_all(&mut *pool)
    .await?;
    let mut claims: HashMap<i64, Vec<(i64, String)>> = HashMap::new();
    for (seat, booking, status, booking_event) in active {
        if booking_event != event_id {
            check.violation(format!(
                "seat {seat} is claimed by booking {booking} of event {booking_event}"
            ));
        }
        claims.entry(seat).or_default().push((booking, status));
    }
    for (seat, status, holder) in &seats {
        check.checked += 1;
        let claim = claims.get(seat).map(Vec::as_slice).unwrap_or_default();
        if claim.len() > 1 {
            let bookings: Vec<String> = claim.iter().map(|(b, s)| format!("{b} ({s})")).collect();
            check.violation(format!(
                "DOUBLE SALE: seat {seat} is in {} active bookings: {}",
                claim.len(),
                bookings.join(", ")
            ));
            continue;
        }
        let claim = claim.first();
        match (status.as_str(), claim) {
            ("AVAILABLE", None) if holder.is_none() => {}
            ("AVAILABLE", _) => check.violation(format!(
                "seat {seat} is AVAILABLE but held by {}",
                describe(*holder, claim)
            )),
            ("RESERVED", Some((b, s))) if s == "PENDING" && *holder == Some(*b) => {}
            ("CONFIRMED", Some((b, s))) if s == "CONFIRMED" && *holder == Some(*b) => {}
            (status, _) => check.violation(format!(
                "seat {seat} is {status} (seats.booking_id {}) but {}",
                holder.map_or("NULL".into(), |b| b.to_string()),
                match claim {
                    None => "no active booking holds it".to_owned(),
                    Some((b, s)) => format!("its active booking is {b} ({s})"),
                }
            )),
        }
    }
    // A booking that no longer holds anything must not keep active seats.
    let stale: Vec<(i64, String, i64)> = sqlx::query_as(
        "SELECT b.booking_id, b.status, count(*)
         FROM bookings b JOIN booking_seats bs USING (booking_id)
         WHERE b.event_id = $1 AND bs.active AND b.status NOT IN ('PENDING', 'CONFIRMED')
         GROUP BY b.booking_id, b.status",
    )
    .bind(event_id)
    .fetch_all(&mut *pool)
    .await?;
    for (booking, status, n) in stale {
        check.violation(format!(
            "booking {booking} is {status} but still has {n} active seat(s)"
        ));
    }
    Ok(check)
}

fn describe(holder: Option<i64>, claim: Option<&(i64, String)>) -> String {
    match (holder, claim) {
        (_, Some((b, s))) => format!("active booking {b} ({s})"),
        (Some(b), None) => format!("seats.booking_id {b}"),
        (None, None) => "nobody".into(),
    }
}
