//! The seat map of an event, read from committed state.

use actors::model::{EventId, SeatId, SeatStatus};
use serde::Serialize;
use sqlx::PgPool;
use utoipa::ToSchema;

/// One seat of an event's seat map.
#[derive(Debug, Serialize, sqlx::FromRow, ToSchema)]
#[schema(as = Seat)]
pub struct SeatView {
    pub seat_id: SeatId,
    pub section: String,
    #[sqlx(rename = "row_name")]
    pub row: String,
    pub number: i32,
    pub status: SeatStatus,
    /// The seat's price zone (`None`: the event's own price).
    #[schema(required = true)]
    pub zone: Option<String>,
    pub price_cents: i64,
    /// Where the seat is drawn (for best-available ranking; the map's
    /// clients take it from the layout).
    #[serde(skip)]
    pub x: f32,
    #[serde(skip)]
    pub y: f32,
}

/// Every seat of an event in layout order, at one version of the map.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = SeatMap)]
pub struct SeatSnapshot {
    pub event_id: EventId,
    pub version: i64,
    pub seats: Vec<SeatView>,
    /// The centre of the venue's stage, if it has one.
    #[serde(skip)]
    pub stage: Option<(f64, f64)>,
}

/// Every seat of the event in layout order, with the version they are at.
/// Both come from one REPEATABLE READ snapshot, so the version describes
/// exactly these statuses. `None` for an unknown event.
#[tracing::instrument(skip(pool), fields(event.id = %event_id))]
pub async fn snapshot(pool: &PgPool, event_id: EventId) -> sqlx::Result<Option<SeatSnapshot>> {
    let mut tx = pool.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *tx)
        .await?;
    let Some((version, stage_x, stage_y)) = sqlx::query_as::<_, (i64, Option<f64>, Option<f64>)>(
        "SELECT e.seat_version, (v.stage->>'x')::float8, (v.stage->>'y')::float8
         FROM events e JOIN venues v USING (venue_id) WHERE e.event_id = $1",
    )
    .bind(event_id)
    .fetch_optional(&mut *tx)
    .await?
    else {
        return Ok(None);
    };
    let seats = sqlx::query_as::<_, SeatView>(
        "SELECT s.seat_id, vs.section, vs.row_name, vs.number, s.status,
                z.name AS zone, coalesce(z.price_cents, e.price_cents) AS price_cents, vs.x, vs.y
         FROM seats s JOIN venue_seats vs USING (seat_id)
         JOIN events e ON e.event_id = s.event_id
         LEFT JOIN event_zones z ON z.zone_id = s.zone_id
         WHERE s.event_id = $1 ORDER BY vs.position",
    )
    .bind(event_id)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Some(SeatSnapshot {
        event_id,
        version,
        seats,
        stage: stage_x.zip(stage_y),
    }))
}

/// The event's committed seat version (`None` for an unknown event).
pub async fn version(pool: &PgPool, event_id: EventId) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar("SELECT seat_version FROM events WHERE event_id = $1")
        .bind(event_id)
        .fetch_optional(pool)
        .await
}
