//! The built-in simulated provider, with Stripe-like test tokens:
//! `tok_visa` succeeds, `tok_chargeDeclined` is declined, `tok_timeout`
//! succeeds but its answer is lost, `tok_slow` succeeds after a delay.
//!
//! It keeps its ledger in its own table (`provider_charges`), as a real
//! provider keeps its own: a restart forgets no charge, and the same key never
//! charges twice, even when two calls with it race (the UNIQUE key decides).

use std::time::Duration;

use async_trait::async_trait;
use sqlx::PgPool;

use super::{Charge, ChargeError, ChargeStatus, PaymentGateway};

pub struct SimulatedProvider {
    pool: PgPool,
    slow: Duration,
}

impl SimulatedProvider {
    pub fn new(pool: PgPool, slow: Duration) -> SimulatedProvider {
        SimulatedProvider { pool, slow }
    }

    async fn stored(&self, key: &str) -> Result<Option<(Charge, i64)>, ChargeError> {
        let row: Option<(String, String, i64)> =
            sqlx::query_as("SELECT charge_id, status, amount_cents FROM provider_charges WHERE idempotency_key = $1")
                .bind(key)
                .fetch_optional(&self.pool)
                .await
                .map_err(|e| ChargeError::Unavailable(e.to_string()))?;
        Ok(row.map(|(charge_id, status, amount)| {
            let status = if status == "SUCCEEDED" {
                ChargeStatus::Succeeded
            } else {
                ChargeStatus::Declined
            };
            (Charge { charge_id, status }, amount)
        }))
    }
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
            "tok_slow" => {
                tokio::time::sleep(self.slow).await;
                ("SUCCEEDED", false)
            }
            _ => return Err(ChargeError::Invalid("unknown payment token".into())),
        };
        let charge_id = format!("ch_sim_{:024x}", rand::random::<u128>() >> 32);
        sqlx::query(
            "INSERT INTO provider_charges (charge_id, idempotency_key, amount_cents, status)
             VALUES ($1, $2, $3, $4) ON CONFLICT (idempotency_key) DO NOTHING",
        )
        .bind(&charge_id)
        .bind(key)
        .bind(amount_cents)
        .bind(status)
        .execute(&self.pool)
        .await
        .map_err(|e| ChargeError::Unavailable(e.to_string()))?;
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

    async fn refund(&self, charge_id: &str) -> Result<(), ChargeError> {
        sqlx::query("UPDATE provider_charges SET refunded_at = coalesce(refunded_at, now()) WHERE charge_id = $1")
            .bind(charge_id)
            .execute(&self.pool)
            .await
            .map_err(|e| ChargeError::Unavailable(e.to_string()))?;
        Ok(())
    }
}
