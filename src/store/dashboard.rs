//! The aggregate reads behind the operator's live dashboard: what an event
//! has held, sold and earned so far, and its seats by section and status.
//! Each is one cheap query (`bookings_event_status_idx`,
//! `seats_event_status_idx`), read at most once a second per event per node
//! by `live::dashboard`, however many operators watch.

use actors::model::EventId;
use serde::Serialize;
use sqlx::PgPool;

/// Running totals of an event's bookings since it went on sale.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct SalesTotals {
    /// Holds ever made (every booking starts as one).
    pub holds: i64,
    /// Bookings ever paid for (refunded ones included: they were sales).
    pub sales: i64,
    /// What the event keeps: the amounts of its confirmed bookings.
    pub revenue_cents: i64,
}

#[tracing::instrument(skip(pool), fields(event.id = %event))]
pub async fn sales_totals(pool: &PgPool, event: EventId) -> sqlx::Result<SalesTotals> {
    sqlx::query_as(
        "SELECT count(*) AS holds,
                count(*) FILTER (WHERE status IN ('CONFIRMED', 'REFUNDED')) AS sales,
                coalesce(sum(amount_cents) FILTER (WHERE status = 'CONFIRMED'), 0)::BIGINT AS revenue_cents
         FROM bookings WHERE event_id = $1",
    )
    .bind(event)
    .fetch_one(pool)
    .await
}

/// One section's seats by status.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = DashboardSectionSeats)]
pub struct SectionSeats {
    pub section: String,
    pub available: i64,
    pub held: i64,
    pub sold: i64,
}

/// Every section of the event's venue (in layout order) with its seats by
/// status.
#[tracing::instrument(skip(pool), fields(event.id = %event))]
pub async fn seats_by_section(pool: &PgPool, event: EventId) -> sqlx::Result<Vec<SectionSeats>> {
    let rows: Vec<(String, i64, i64, i64)> = sqlx::query_as(
        "SELECT vs.section,
                count(*) FILTER (WHERE s.status = 'AVAILABLE'),
                count(*) FILTER (WHERE s.status = 'RESERVED'),
                count(*) FILTER (WHERE s.status = 'CONFIRMED')
         FROM seats s JOIN venue_seats vs USING (seat_id)
         WHERE s.event_id = $1
         GROUP BY vs.section ORDER BY min(vs.position)",
    )
    .bind(event)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(section, available, held, sold)| SectionSeats {
            section,
            available,
            held,
            sold,
        })
        .collect())
}
