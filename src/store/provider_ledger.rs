//! The simulated payment provider's own ledger (`provider_charges`,
//! `provider_refunds`): what a real provider would keep on its side. Only
//! `payments::simulated` uses it.

use sqlx::PgPool;

/// A charge as the provider recorded it under an idempotency key.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StoredCharge {
    pub charge_id: String,
    /// `SUCCEEDED` or `DECLINED`, as the provider decided it.
    pub status: String,
    pub amount_cents: i64,
    pub refunded: bool,
}

pub async fn charge(pool: &PgPool, key: &str) -> sqlx::Result<Option<StoredCharge>> {
    sqlx::query_as(
        "SELECT charge_id, status, amount_cents, refunded_at IS NOT NULL AS refunded
         FROM provider_charges WHERE idempotency_key = $1",
    )
    .bind(key)
    .fetch_optional(pool)
    .await
}

/// Books a charge under `key` unless one exists (whoever wins the race).
pub async fn record_charge(
    pool: &PgPool,
    charge_id: &str,
    key: &str,
    amount_cents: i64,
    status: &str,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO provider_charges (charge_id, idempotency_key, amount_cents, status)
         VALUES ($1, $2, $3, $4) ON CONFLICT (idempotency_key) DO NOTHING",
    )
    .bind(charge_id)
    .bind(key)
    .bind(amount_cents)
    .bind(status)
    .execute(pool)
    .await?;
    Ok(())
}

/// Refunds `charge_id` under `key` once. `false`: no refundable charge for
/// this key (neither refunded now nor by this key before).
pub async fn refund(
    pool: &PgPool,
    refund_id: &str,
    key: &str,
    charge_id: &str,
) -> sqlx::Result<bool> {
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
    .bind(refund_id)
    .bind(key)
    .bind(charge_id)
    .execute(pool)
    .await?;
    if refunded.rows_affected() > 0 {
        return Ok(true);
    }
    // Either this key refunded it before (fine), or there is no such charge.
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM provider_refunds WHERE idempotency_key = $1 AND charge_id = $2)",
    )
    .bind(key)
    .bind(charge_id)
    .fetch_one(pool)
    .await
}
