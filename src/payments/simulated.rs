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

pub struct SimulatedProvider {
    pool: PgPool,
    slow: Duration,
}

impl SimulatedProvider {
    pub fn new(pool: PgPool, slow: Duration) -> SimulatedProvider {
        SimulatedProvider { pool, slow }
    }

    async fn stored(&self, key: &str) -> Result<Option<(Charge, i64)>, ChargeError> {
        let row: Option<(String, String, i64, bool)> = sqlx::query_as(
            "SELECT charge_id, status, amount_cents, refunded_at IS NOT NULL
             FROM provider_charges WHERE idempotency_key = $1",
        )
        .bind(key)
        .fetch_optional(&self.pool)
        .await
        .map_err(unavailable)?;
        Ok(row.map(|(charge_id, status, amount, refunded)| {
            let status = match (status.as_str(), refunded) {
                (_, true) => ChargeStatus::Refunded,
                ("SUCCEEDED", false) => ChargeStatus::Succeeded,
                _ => ChargeStatus::Declined,
            };
            (Charge { charge_id, status }, amount)
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
    sqlx::query(
        "INSERT INTO provider_charges (charge_id, idempotency_key, amount_cents, status)
         VALUES ($1, $2, $3, $4) ON CONFLICT (idempotency_key) DO NOTHING",
    )
    .bind(&charge_id)
    .bind(key)
    .bind(amount_cents)
    .bind(status)
    .execute(&pool)
    .await
    .map_err(unavailable)?;
    Ok(())
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
        let refunded = sqlx::query(
            "WITH refund AS (
                 INSERT INTO provider_refunds (refund_id, idempotency_key, charge_id)
                 SELECT $1, $2, charge_id FROM provider_charges
                 WHERE charge_id = $3 AND status = 'SUCCEEDED'
                 ON CONFLICT (idempotency_key) DO NOTHING
                 RETURNING charge_id
             )
             UPDATE provider_charges SET refunded_at = coalesce(refunded_at, now())
             WHERE charge_id IN (SELECT charge_id FROM refund)",
        )
        .bind(&refund_id)
        .bind(key)
        .bind(charge_id)
        .execute(&self.pool)
        .await
        .map_err(unavailable)?;
        if refunded.rows_affected() == 0 {
            // Either this key refunded it before (fine), or there is no such charge.
            let known: bool = sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM provider_refunds WHERE idempotency_key = $1 AND charge_id = $2)",
            )
            .bind(key)
            .bind(charge_id)
            .fetch_one(&self.pool)
            .await
            .map_err(unavailable)?;
            if !known {
                return Err(ChargeError::Invalid(
                    "no refundable charge for this refund key".into(),
                ));
            }
        }
        Ok(())
    }
}
