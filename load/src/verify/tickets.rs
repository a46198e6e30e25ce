//! Every ticket code verifies and belongs to a confirmed seat (or to a
//! booking cancelled and refunded since, whose tickets are void and were
//! never admitted after the refund); every confirmed seat has its ticket; no
//! seat was admitted at the door twice.
//!
//! The code format is re-implemented here, not imported:
//! `T1.<booking>.<event>.<seat>.<mac>`, the MAC being base64url (no padding)
//! of HMAC-SHA256 over `ticket:<booking>:<event>:<seat>` under the server's
//! signing secret.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::{Check, Snapshot};

#[derive(sqlx::FromRow)]
struct Ticket {
    ticket_id: i64,
    booking_id: i64,
    seat_id: i64,
    code: String,
    checked_in: bool,
    booking_status: String,
    /// Scanned at the door after its booking was refunded.
    admitted_after_refund: bool,
    seat_status: Option<String>,
    seat_holder: Option<i64>,
}

/// The claims `(booking, event, seat)` of a well-formed code whose MAC is
/// right under `secret` (any MAC when `secret` is `None`).
pub fn parse_code(code: &str, secret: Option<&str>) -> Option<(i64, i64, i64)> {
    let mut parts = code.split('.');
    if parts.next()? != "T1" {
        return None;
    }
    let booking: i64 = parts.next()?.parse().ok()?;
    let event: i64 = parts.next()?.parse().ok()?;
    let seat: i64 = parts.next()?.parse().ok()?;
    let tag = URL_SAFE_NO_PAD.decode(parts.next()?).ok()?;
    if parts.next().is_some() {
        return None;
    }
    if let Some(secret) = secret {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).ok()?;
        mac.update(format!("ticket:{booking}:{event}:{seat}").as_bytes());
        mac.verify_slice(&tag).ok()?;
    }
    Some((booking, event, seat))
}

pub async fn check(
    pool: &mut Snapshot,
    event_id: i64,
    secret: Option<&str>,
) -> anyhow::Result<Check> {
    let mut check = Check::new("tickets");
    if secret.is_none() {
        check.note = Some(
            "no signing secret (--signing-secret / BOXOFFICE__AUTH__SIGNING_SECRET): \
             signatures not checked, only format and claims"
                .into(),
        );
    }
    let tickets: Vec<Ticket> = sqlx::query_as(
        "SELECT t.ticket_id, t.booking_id, t.seat_id, t.code,
                t.checked_in_at IS NOT NULL AS checked_in,
                b.status AS booking_status,
                coalesce(t.checked_in_at > b.refunded_at, false) AS admitted_after_refund,
                s.status AS seat_status, s.booking_id AS seat_holder
         FROM tickets t
         JOIN bookings b USING (booking_id)
         LEFT JOIN seats s ON s.event_id = t.event_id AND s.seat_id = t.seat_id
         WHERE t.event_id = $1
         ORDER BY t.ticket_id",
    )
    .bind(event_id)
    .fetch_all(&mut *pool)
    .await?;
    let mut admitted: HashMap<i64, Vec<i64>> = HashMap::new();
    let mut ticketed: HashMap<(i64, i64), u32> = HashMap::new();
    for t in &tickets {
        check.checked += 1;
        match parse_code(&t.code, secret) {
            None => check.violation(format!(
                "ticket {} has a code that does not verify: {}",
                t.ticket_id, t.code
            )),
            Some(claims) if claims != (t.booking_id, event_id, t.seat_id) => {
                check.violation(format!(
                    "ticket {} (booking {}, seat {}) carries a code for booking {}, event {}, seat {}",
                    t.ticket_id, t.booking_id, t.seat_id, claims.0, claims.1, claims.2
                ))
            }
            Some(_) => {}
        }
        // A refunded booking's tickets are void: its seats went back on sale.
        let refunded = t.booking_status == "REFUNDED";
        if refunded && t.admitted_after_refund {
            check.violation(format!(
                "ticket {} of refunded booking {} was admitted at the door after the refund",
                t.ticket_id, t.booking_id
            ));
        }
        let seat_ok = t.seat_status.as_deref() == Some("CONFIRMED")
            && t.seat_holder == Some(t.booking_id)
            && t.booking_status == "CONFIRMED";
        if !seat_ok && !refunded {
            check.violation(format!(
                "ticket {} is for seat {} of booking {} ({}), but the seat is {} held by {}",
                t.ticket_id,
                t.seat_id,
                t.booking_id,
                t.booking_status,
                t.seat_status.as_deref().unwrap_or("missing"),
                t.seat_holder.map_or("nobody".into(), |b| b.to_string())
            ));
        }
        if t.checked_in {
            admitted.entry(t.seat_id).or_default().push(t.ticket_id);
        }
        *ticketed.entry((t.booking_id, t.seat_id)).or_default() += 1;
    }
    for (seat, tickets) in admitted {
        if tickets.len() > 1 {
            check.violation(format!(
                "seat {seat} was admitted at the door {} times (tickets {tickets:?})",
                tickets.len()
            ));
        }
    }
    let confirmed: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT booking_id, seat_id FROM seats WHERE event_id = $1 AND status = 'CONFIRMED'",
    )
    .bind(event_id)
    .fetch_all(&mut *pool)
    .await?;
    for (booking, seat) in confirmed {
        if !ticketed.contains_key(&(booking, seat)) {
            check.violation(format!(
                "confirmed seat {seat} of booking {booking} has no ticket"
            ));
        }
    }
    Ok(check)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_verifies_only_under_its_secret_and_unchanged() {
        let secret = "k".repeat(40);
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(b"ticket:1:2:3");
        let tag = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        let code = format!("T1.1.2.3.{tag}");
        assert_eq!(parse_code(&code, Some(&secret)), Some((1, 2, 3)));
        assert_eq!(parse_code(&code, Some("another secret")), None);
        assert_eq!(
            parse_code(&code.replacen(".3.", ".4.", 1), Some(&secret)),
            None
        );
        assert_eq!(parse_code(&format!("{code}.x"), Some(&secret)), None);
        assert_eq!(parse_code("garbage", None), None);
    }
}
