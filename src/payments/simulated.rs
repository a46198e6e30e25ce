//! The built-in simulated provider, with Stripe-like test tokens:
//! `tok_visa` succeeds, `tok_chargeDeclined` is declined, `tok_timeout`
//! succeeds but its answer is lost, `tok_slow` succeeds after a delay — and,
//! like a real provider that has received the request, lands even if the
//! caller stopped waiting for it.
//!
//! It keeps its ledger in its own tables (`provider_charges`,
//! `provider_refunds`), as a real provider keeps its own: a restart forgets no
//! charge or refund, the same key never charges (or refunds) twice, even when
//! two calls with it race (the UNIQUE key decides), and a lookup reports a
//! refunded charge as `Refunded`.

use std::time::Duration;

use async_trait::async_trait;
use sqlx::PgPool;

use super::{Charge, ChargeError, ChargeStatus, PaymentGateway};
use crate::store::provider_ledger;

pub struct SimulatedProvider {
    pool: PgPool,
    slow: Duration,
}

impl SimulatedProvider {
    pub fn new(pool: PgPool, slow: Duration) -> SimulatedProvider {
        SimulatedProvider { pool, slow }
    }

    async fn stored(&self, key: &str) -> Result<Option<(Charge, i64)>, ChargeError> {
        let row = provider_ledger::charge(&self.pool, key)
            .await
            .map_err(unavailable)?;
        Ok(row.map(|stored| {
            let status = match (stored.status.as_str(), stored.refunded) {
                (_, true) => ChargeStatus::Refunded,
                ("SUCCEEDED", false) => ChargeStatus::Succeeded,
                _ => ChargeStatus::Declined,
            };
            let charge = Charge {
                charge_id: stored.charge_id,
                status,
            };
            (charge, stored.amount_cents)
        }))
    }
}

fn unavailable(error: sqlx::Error) -> ChargeError {
    ChargeError::Unavailable(error.to_string())
}

/// Books a charge under `key` unless one exists (whoever wins the race).
async fn record_charge(
    pool: PgPool,
    key: String,
    amount_cents: i64,
    status: &'static str,
) -> Result<(), ChargeError> {
    let charge_id = format!("ch_sim_{:024x}", rand::random::<u128>() >> 32);
    provider_ledger::record_charge(&pool, &charge_id, &key, amount_cents, status)
        .await
        .map_err(unavailable)
}

#[async_trait]
impl PaymentGateway for SimulatedProvider {
    async fn charge(
        &self,
        key: &str,
        amount_cents: i64,
        payment_token: &str,
    ) -> Result<Charge, ChargeError> {
        if let Some((charge, amount)) = self.stored(key).await? {
            if amount != amount_cents {
                return Err(ChargeError::Invalid(
                    "idempotency key reused with a different amount".into(),
                ));
            }
            return Ok(charge);
        }
        let (status, answer_lost) = match payment_token {
            "tok_visa" => ("SUCCEEDED", false),
            "tok_chargeDeclined" => ("DECLINED", false),
            "tok_timeout" => ("SUCCEEDED", true),
            "tok_slow" => ("SUCCEEDED", false),
            _ => return Err(ChargeError::Invalid("unknown payment token".into())),
        };
        let record = record_charge(self.pool.clone(), key.to_owned(), amount_cents, status);
        if payment_token == "tok_slow" {
            // The request has reached the provider: it lands after the delay
            // whether or not the caller is still waiting.
            let slow = self.slow;
            tokio::spawn(async move {
                tokio::time::sleep(slow).await;
                record.await
            })
            .await
            .map_err(|e| ChargeError::Unavailable(e.to_string()))??;
        } else {
            record.await?;
        }
        // Whoever won the race on the key, answer with the stored charge.
        let (charge, _) = self
            .stored(key)
            .await?
            .ok_or_else(|| ChargeError::Unavailable("charge vanished".into()))?;
        if answer_lost {
            return Err(ChargeError::Timeout);
        }
        Ok(charge)
    }

    async fn lookup(&self, key: &str) -> Result<Option<Charge>, ChargeError> {
        Ok(self.stored(key).await?.map(|(charge, _)| charge))
    }

    async fn refund(&self, key: &str, charge_id: &str) -> Result<(), ChargeError> {
        let refund_id = format!("re_sim_{:024x}", rand::random::<u128>() >> 32);
        let known = provider_ledger::refund(&self.pool, &refund_id, key, charge_id)
            .await
            .map_err(unavailable)?;
        if !known {
            return Err(ChargeError::Invalid(
                "no refundable charge for this refund key".into(),
            ));
        }
        Ok(())
    }
}
