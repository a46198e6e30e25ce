//! Ticket codes: what a QR code carries and a door scanner checks.
//!
//! `T1.<booking>.<event>.<seat>.<mac>`, where the MAC (HMAC-SHA256 under the
//! server secret, domain-separated from bearer tokens) makes codes
//! unforgeable: a scanner needs no database to reject a made-up code.

use actors::model::{BookingId, EventId, SeatId};

use crate::auth::Signer;
use crate::store::ledger::TicketCodes;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TicketClaims {
    pub booking_id: BookingId,
    pub event_id: EventId,
    pub seat_id: SeatId,
}

fn message(c: &TicketClaims) -> String {
    format!("ticket:{}:{}:{}", c.booking_id, c.event_id, c.seat_id)
}

pub fn sign(signer: &Signer, claims: &TicketClaims) -> String {
    format!(
        "T1.{}.{}.{}.{}",
        claims.booking_id,
        claims.event_id,
        claims.seat_id,
        signer.mac(message(claims).as_bytes())
    )
}

/// The ledger signs the codes of a booking it confirms with the server's signer.
impl TicketCodes for Signer {
    fn code(&self, booking_id: BookingId, event_id: EventId, seat_id: SeatId) -> String {
        let claims = TicketClaims {
            booking_id,
            event_id,
            seat_id,
        };
        sign(self, &claims)
    }
}

/// The claims of a genuine code; `None` for anything this server did not sign.
pub fn verify(signer: &Signer, code: &str) -> Option<TicketClaims> {
    let mut parts = code.trim().split('.');
    if parts.next()? != "T1" {
        return None;
    }
    let claims = TicketClaims {
        booking_id: parts.next()?.parse().ok()?,
        event_id: parts.next()?.parse().ok()?,
        seat_id: parts.next()?.parse().ok()?,
    };
    let tag = parts.next()?;
    if parts.next().is_some() {
        return None;
    }
    signer
        .verify_mac(message(&claims).as_bytes(), tag)
        .then_some(claims)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use secrecy::SecretString;

    use super::*;

    #[test]
    fn a_signed_code_verifies_and_any_change_to_it_does_not() {
        let signer = Signer::new(SecretString::from("k".repeat(40)), Duration::from_secs(60));
        let claims = TicketClaims {
            booking_id: BookingId(1),
            event_id: EventId(2),
            seat_id: SeatId(3),
        };
        let code = sign(&signer, &claims);
        assert_eq!(verify(&signer, &code), Some(claims));
        assert_eq!(verify(&signer, &code.replacen(".3.", ".4.", 1)), None);
        assert_eq!(verify(&signer, "T1.1.2.3.AAAA"), None);
        assert_eq!(verify(&signer, "garbage"), None);
        assert_eq!(verify(&signer, &format!("{code}.extra")), None);
    }
}
