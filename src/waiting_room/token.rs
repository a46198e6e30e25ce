//! Queue tokens: proof that a buyer was admitted from an event's waiting room.
//!
//! `Q1.<event>.<user>.<expires unix s>.<HMAC>` — bound to one buyer and one
//! event, short-lived, and verified without Redis or PostgreSQL, so booking
//! keeps honouring admissions while Redis blips.

use actors::model::{EventId, UserId};
use chrono::{DateTime, TimeZone, Utc};

use crate::auth::Signer;

fn message(event: EventId, user: UserId, expires: i64) -> String {
    format!("queue:{event}:{user}:{expires}")
}

pub fn sign(signer: &Signer, event: EventId, user: UserId, expires_at: DateTime<Utc>) -> String {
    let expires = expires_at.timestamp();
    format!(
        "Q1.{event}.{user}.{expires}.{}",
        signer.mac(message(event, user, expires).as_bytes())
    )
}

#[derive(Debug, PartialEq, Eq)]
pub enum TokenError {
    /// Not a token this server signed, or for another buyer or event.
    Invalid,
    Expired,
}

/// Checks that `token` admits `user` to `event` now.
pub fn verify(
    signer: &Signer,
    token: &str,
    event: EventId,
    user: UserId,
) -> Result<DateTime<Utc>, TokenError> {
    let parts: Vec<&str> = token.trim().split('.').collect();
    let [kind, token_event, token_user, expires, tag] = parts[..] else {
        return Err(TokenError::Invalid);
    };
    if kind != "Q1" {
        return Err(TokenError::Invalid);
    }
    let (Ok(token_event), Ok(token_user), Ok(expires)) = (
        token_event.parse::<i64>(),
        token_user.parse::<i64>(),
        expires.parse::<i64>(),
    ) else {
        return Err(TokenError::Invalid);
    };
    if !signer.verify_mac(
        message(EventId(token_event), UserId(token_user), expires).as_bytes(),
        tag,
    ) {
        return Err(TokenError::Invalid);
    }
    if token_event != event.0 || token_user != user.0 {
        return Err(TokenError::Invalid);
    }
    let expires_at = Utc
        .timestamp_opt(expires, 0)
        .single()
        .ok_or(TokenError::Invalid)?;
    if expires_at <= Utc::now() {
        return Err(TokenError::Expired);
    }
    Ok(expires_at)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use secrecy::SecretString;

    use super::*;

    fn signer() -> Signer {
        Signer::new(SecretString::from("q".repeat(40)), Duration::from_secs(60))
    }

    #[test]
    fn a_token_admits_only_its_buyer_to_its_event_until_it_expires() {
        let later = Utc::now() + chrono::Duration::minutes(5);
        let token = sign(&signer(), EventId(1), UserId(2), later);
        assert!(verify(&signer(), &token, EventId(1), UserId(2)).is_ok());
        assert_eq!(
            verify(&signer(), &token, EventId(9), UserId(2)),
            Err(TokenError::Invalid)
        );
        assert_eq!(
            verify(&signer(), &token, EventId(1), UserId(9)),
            Err(TokenError::Invalid)
        );
        let forged = token.replacen(".2.", ".3.", 1);
        assert_eq!(
            verify(&signer(), &forged, EventId(1), UserId(3)),
            Err(TokenError::Invalid)
        );
        let past = sign(
            &signer(),
            EventId(1),
            UserId(2),
            Utc::now() - chrono::Duration::seconds(1),
        );
        assert_eq!(
            verify(&signer(), &past, EventId(1), UserId(2)),
            Err(TokenError::Expired)
        );
        assert_eq!(
            verify(&signer(), "nonsense", EventId(1), UserId(2)),
            Err(TokenError::Invalid)
        );
    }
}
