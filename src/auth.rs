//! Identity: signed bearer tokens, roles and password hashing. The request
//! extractors that turn a token into a caller are in `http::extractors`.
//!
//! A token is `base64url(claims JSON) "." base64url(HMAC-SHA256(first part))`,
//! stateless to verify on every node. Browsers may send it in the `HttpOnly`
//! cookie [`COOKIE_NAME`] instead of the `Authorization` header, because
//! `EventSource` cannot set headers.

use std::time::Duration;

use actors::model::UserId;
use argon2::password_hash::{
    PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng,
};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

pub const COOKIE_NAME: &str = "boxoffice_token";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Buyer,
    Admin,
    /// Door staff: checks tickets in, and can do nothing else.
    Door,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Buyer => "buyer",
            Role::Admin => "admin",
            Role::Door => "door",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "buyer" => Some(Role::Buyer),
            "admin" => Some(Role::Admin),
            "door" => Some(Role::Door),
            _ => None,
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    uid: i64,
    role: Role,
    /// Expiry, seconds since the Unix epoch.
    exp: i64,
}

/// Signs and verifies bearer tokens (and, through [`Signer::mac`], anything
/// else the server must be able to recognise as its own, like ticket codes).
#[derive(Clone)]
pub struct Signer {
    /// HMAC-SHA256 already keyed with the server secret: every request
    /// verifies a token, and keying hashes two blocks that never change, so
    /// each MAC starts from a clone of this state instead.
    keyed: Hmac<Sha256>,
    ttl: Duration,
}

impl Signer {
    pub fn new(secret: SecretString, ttl: Duration) -> Signer {
        let keyed = <Hmac<Sha256> as Mac>::new_from_slice(secret.expose_secret().as_bytes())
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        Signer { keyed, ttl }
    }

    /// HMAC-SHA256 of `message` under the server secret, base64url.
    pub fn mac(&self, message: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(self.raw_mac(message).finalize().into_bytes())
    }

    fn raw_mac(&self, message: &[u8]) -> Hmac<Sha256> {
        let mut mac = self.keyed.clone();
        mac.update(message);
        mac
    }

    /// Checks `tag` against the HMAC of `message` in constant time.
    pub fn verify_mac(&self, message: &[u8], tag: &str) -> bool {
        let Ok(tag) = URL_SAFE_NO_PAD.decode(tag) else {
            return false;
        };
        self.raw_mac(message).verify_slice(&tag).is_ok()
    }

    pub fn issue(&self, user_id: UserId, role: Role) -> String {
        let exp = chrono::Utc::now().timestamp() + self.ttl.as_secs() as i64;
        let claims = Claims {
            uid: user_id.0,
            role,
            exp,
        };
        let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap_or_default());
        let tag = self.mac(body.as_bytes());
        format!("{body}.{tag}")
    }

    pub fn verify(&self, token: &str) -> Option<Caller> {
        let (body, tag) = token.split_once('.')?;
        if !self.verify_mac(body.as_bytes(), tag) {
            return None;
        }
        let claims: Claims = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(body).ok()?).ok()?;
        (claims.exp > chrono::Utc::now().timestamp()).then_some(Caller {
            user_id: UserId(claims.uid),
            role: claims.role,
        })
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }
}

/// The authenticated caller of a request.
#[derive(Debug, Clone, Copy)]
pub struct Caller {
    pub user_id: UserId,
    pub role: Role,
}

impl Caller {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }
}

/// A syntactically plausible address, exactly as sent (no trimming): at
/// most 254 characters, none of them whitespace or a control character, a
/// non-empty local part before the first `@`, then a domain with a dot
/// inside it. Delivery is what really validates it. [`EMAIL_PATTERN`] says
/// the same to API clients.
pub fn parse_email(raw: &str) -> Option<String> {
    let plain = |c: char| !(c.is_whitespace() || c.is_control() || c == '\u{feff}');
    let valid = raw.chars().count() <= 254
        && raw.chars().all(plain)
        && raw.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        });
    valid.then(|| raw.to_owned())
}

/// [`parse_email`] as the JSON Schema `pattern` of the OpenAPI document
/// (ECMA 262 regex; the length is the schema's `maxLength`). A plain
/// character is anything but whitespace, a control character or U+FEFF.
pub const EMAIL_PATTERN: &str = r"^[^@\s\x00-\x1f\x7f-\x9f\ufeff]+@[^.\s\x00-\x1f\x7f-\x9f\ufeff][^\s\x00-\x1f\x7f-\x9f\ufeff]*\.[^\s\x00-\x1f\x7f-\x9f\ufeff]*[^.\s\x00-\x1f\x7f-\x9f\ufeff]$";

/// argon2id with OWASP's recommended minimum (19 MiB, 2 passes).
fn argon2() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes a password. CPU-heavy: call it on the blocking pool.
pub fn hash_password(password: &SecretString) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    argon2()
        .hash_password(password.expose_secret().as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("hashing password: {e}"))
}

/// Checks a password against a stored PHC string. CPU-heavy: blocking pool.
pub fn verify_password(password: &SecretString, phc: &str) -> bool {
    PasswordHash::new(phc)
        .map(|hash| {
            argon2()
                .verify_password(password.expose_secret().as_bytes(), &hash)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A hash to verify against when the account does not exist, so a login for
/// an unknown email takes as long as one with a wrong password.
pub fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| {
        hash_password(&SecretString::from("not a real password")).unwrap_or_default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> Signer {
        Signer::new(SecretString::from("x".repeat(40)), Duration::from_secs(60))
    }

    #[test]
    fn a_token_verifies_to_the_user_and_role_it_was_issued_for() {
        let token = signer().issue(UserId(7), Role::Admin);
        let caller = signer().verify(&token).expect("valid");
        assert_eq!(caller.user_id, UserId(7));
        assert_eq!(caller.role, Role::Admin);
    }

    #[test]
    fn a_tampered_token_is_refused() {
        let token = signer().issue(UserId(7), Role::Buyer);
        let (body, tag) = token.split_once('.').unwrap();
        let forged_claims =
            URL_SAFE_NO_PAD.encode(br#"{"uid":7,"role":"admin","exp":99999999999}"#);
        assert!(signer().verify(&format!("{forged_claims}.{tag}")).is_none());
        assert!(signer().verify(&format!("{body}.AAAA")).is_none());
        let other = Signer::new(SecretString::from("y".repeat(40)), Duration::from_secs(60));
        assert!(other.verify(&token).is_none());
    }

    #[test]
    fn an_expired_token_is_refused() {
        let expired = Signer::new(SecretString::from("x".repeat(40)), Duration::from_secs(0));
        let token = expired.issue(UserId(1), Role::Buyer);
        assert!(signer().verify(&token).is_none());
    }

    #[test]
    fn passwords_verify_only_against_their_own_hash() {
        let hash = hash_password(&SecretString::from("correct horse")).unwrap();
        assert!(verify_password(&SecretString::from("correct horse"), &hash));
        assert!(!verify_password(&SecretString::from("wrong horse"), &hash));
        assert!(!verify_password(
            &SecretString::from("anything"),
            dummy_hash()
        ));
    }
}
