//! Payments: the provider interface, the built-in simulated provider, and the
//! checkout that turns a paid hold into a confirmed booking exactly once.

pub mod checkout;
pub mod simulated;

use async_trait::async_trait;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChargeStatus {
    Succeeded,
    Declined,
    /// The charge succeeded and was refunded since.
    Refunded,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Charge {
    pub charge_id: String,
    pub status: ChargeStatus,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum ChargeError {
    /// The provider may or may not have charged: ask again with the same key.
    #[error("the payment provider did not answer in time")]
    Timeout,
    /// The provider refused the request itself (unknown token, key reused
    /// with another amount): charging again will not help.
    #[error("the payment provider refused the request: {0}")]
    Invalid(String),
    #[error("the payment provider is unavailable: {0}")]
    Unavailable(String),
}

/// A card processor with Stripe's idempotency contract: a charge with a key
/// that was seen before returns the first charge's result and charges nothing.
#[async_trait]
pub trait PaymentGateway: Send + Sync + 'static {
    async fn charge(
        &self,
        idempotency_key: &str,
        amount_cents: i64,
        payment_token: &str,
    ) -> Result<Charge, ChargeError>;

    /// The charge made under `idempotency_key`, if any (after a crash), with
    /// its current state: a refunded charge is reported `Refunded`. `None`
    /// means no charge request under the key has landed *yet*: one still in
    /// flight may land later, up to the provider's charge window.
    async fn lookup(&self, idempotency_key: &str) -> Result<Option<Charge>, ChargeError>;

    /// Refunds `charge_id` in full. Idempotent per `idempotency_key`: asking
    /// again with the same key refunds nothing more.
    async fn refund(&self, idempotency_key: &str, charge_id: &str) -> Result<(), ChargeError>;
}
