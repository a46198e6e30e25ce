//! Every confirmed booking has exactly one successful, unrefunded charge, and
//! every successful charge belongs to a confirmed booking or was refunded.
//!
//! Charges are read from the simulated provider's own ledger
//! (`provider_charges`, `provider_refunds`), matched to payment attempts by
//! the server's provider idempotency key `bo-pay-{payment_id}`; a charge
//! counts as refunded when the provider marked it refunded or holds a refund
//! for it.

use std::collections::HashMap;

use super::{Check, Snapshot};

/// One payment attempt of the event and the provider's charge for it.
#[derive(sqlx::FromRow)]
struct Attempt {
    payment_id: i64,
    booking_id: i64,
    payment_status: String,
    unfinished: bool,
    booking_status: String,
    paid_by: Option<i64>,
    charge_id: Option<String>,
    charge_status: Option<String>,
    refunded: bool,
    refunds: i64,
    charged_cents: Option<i64>,
    booking_cents: i64,
}

pub async fn check(pool: &mut Snapshot, event_id: i64) -> anyhow::Result<Check> {
    let mut check = Check::new("charges");
    let attempts: Vec<Attempt> = sqlx::query_as(
        "SELECT p.payment_id, p.booking_id, p.status AS payment_status,
                p.response IS NULL AS unfinished,
                b.status AS booking_status, b.paid_by_payment_id AS paid_by,
                c.charge_id, c.status AS charge_status,
                (c.refunded_at IS NOT NULL
                 OR EXISTS (SELECT 1 FROM provider_refunds r WHERE r.charge_id = c.charge_id))
                    AS refunded,
                (SELECT count(*) FROM provider_refunds r WHERE r.charge_id = c.charge_id) AS refunds,
                c.amount_cents AS charged_cents, b.amount_cents AS booking_cents
         FROM payments p
         JOIN bookings b USING (booking_id)
         LEFT JOIN provider_charges c ON c.idempotency_key = 'bo-pay-' || p.payment_id
         WHERE b.event_id = $1
         ORDER BY p.payment_id",
    )
    .bind(event_id)
    .fetch_all(&mut *pool)
    .await?;

    // Kept (successful, unrefunded) charges per booking.
    let mut kept: HashMap<i64, Vec<&Attempt>> = HashMap::new();
    for a in &attempts {
        let succeeded = a.charge_status.as_deref() == Some("SUCCEEDED");
        if a.refunds > 1 {
            check.violation(format!(
                "charge {} (payment {}) was refunded {} times",
                a.charge_id.as_deref().unwrap_or("?"),
                a.payment_id,
                a.refunds
            ));
        }
        let is_kept = succeeded && !a.refunded;
        if a.payment_status == "SUCCEEDED" && !is_kept {
            check.violation(format!(
                "payment {} of booking {} is SUCCEEDED but the provider holds no kept charge for it",
                a.payment_id, a.booking_id
            ));
        }
        if !succeeded {
            continue;
        }
        check.checked += 1;
        if a.refunded {
            continue;
        }
        kept.entry(a.booking_id).or_default().push(a);
        if a.charged_cents != Some(a.booking_cents) {
            check.violation(format!(
                "charge {} of booking {} is for {} cents, the booking costs {}",
                a.charge_id.as_deref().unwrap_or("?"),
                a.booking_id,
                a.charged_cents.unwrap_or_default(),
                a.booking_cents
            ));
        }
        let paid_this = a.booking_status == "CONFIRMED" && a.paid_by == Some(a.payment_id);
        if !paid_this {
            check.violation(format!(
                "charge {} (payment {}, {}{}) is kept but booking {} is {}{}",
                a.charge_id.as_deref().unwrap_or("?"),
                a.payment_id,
                a.payment_status,
                if a.unfinished {
                    ", attempt unfinished: recovery may still refund it"
                } else {
                    ""
                },
                a.booking_id,
                a.booking_status,
                match a.paid_by {
                    Some(p) if a.booking_status == "CONFIRMED" =>
                        format!(" and paid by payment {p}"),
                    _ => String::new(),
                }
            ));
        }
    }

    let confirmed: Vec<(i64, Option<i64>)> = sqlx::query_as(
        "SELECT booking_id, paid_by_payment_id FROM bookings
         WHERE event_id = $1 AND status = 'CONFIRMED' ORDER BY booking_id",
    )
    .bind(event_id)
    .fetch_all(&mut *pool)
    .await?;
    for (booking, paid_by) in confirmed {
        check.checked += 1;
        let charges = kept.get(&booking).map(Vec::as_slice).unwrap_or_default();
        match charges {
            [] => check.violation(format!(
                "booking {booking} is CONFIRMED without a kept charge (paid_by_payment_id {})",
                paid_by.map_or("NULL".into(), |p| p.to_string())
            )),
            [one] if Some(one.payment_id) == paid_by => {}
            [one] => check.violation(format!(
                "booking {booking} is CONFIRMED by payment {} but its kept charge is payment {}'s",
                paid_by.map_or("NULL".into(), |p| p.to_string()),
                one.payment_id
            )),
            many => {
                let ids: Vec<String> = many
                    .iter()
                    .map(|a| {
                        format!(
                            "{} (payment {})",
                            a.charge_id.as_deref().unwrap_or("?"),
                            a.payment_id
                        )
                    })
                    .collect();
                check.violation(format!(
                    "DOUBLE CHARGE: booking {booking} has {} kept charges: {}",
                    many.len(),
                    ids.join(", ")
                ));
            }
        }
    }
    Ok(check)
}
