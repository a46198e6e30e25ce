//! Venues and events: the catalog that browse reads and operators write.

use actors::model::{EventId, EventStatus, SeatId, VenueId};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgPool, Postgres, Transaction};

use crate::requests::event::{EventFilter, EventPatch, NewEvent};
use crate::requests::venue::NewVenue;

/// An event as browse shows it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
#[schema(as = Event)]
pub struct EventView {
    pub event_id: EventId,
    pub title: String,
    pub venue_id: VenueId,
    pub venue_name: String,
    pub city: String,
    pub category: String,
    pub start_time: DateTime<Utc>,
    pub status: EventStatus,
    pub price_cents: i64,
    pub queue_enabled: bool,
    pub admission_rate_per_sec: i32,
    pub seat_count: i32,
    /// Buyers may cancel paid bookings until then (`None`: they may not).
    #[schema(required = true)]
    pub cancellable_until: Option<DateTime<Utc>>,
    /// The event's price zones, in the operator's order (filled in by
    /// [`attach_zones`]; not a column).
    #[sqlx(skip)]
    pub zones: Vec<ZoneView>,
}

/// One price zone of an event, as browse shows it.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
#[schema(as = Zone)]
pub struct ZoneView {
    #[serde(skip)]
    pub event_id: EventId,
    pub name: String,
    pub price_cents: i64,
    pub sections: Vec<String>,
}

/// Fills in the zones of `events` with one query.
async fn attach_zones(pool: &PgPool, events: &mut [EventView]) -> sqlx::Result<()> {
    if events.is_empty() {
        return Ok(());
    }
    let ids: Vec<EventId> = events.iter().map(|e| e.event_id).collect();
    let zones: Vec<ZoneView> = sqlx::query_as(
        "SELECT z.event_id, z.name, z.price_cents,
                ARRAY(SELECT s.section FROM event_zone_sections s
                      WHERE s.zone_id = z.zone_id ORDER BY s.section) AS sections
         FROM event_zones z WHERE z.event_id = ANY($1) ORDER BY z.event_id, z.position",
    )
    .bind(&ids)
    .fetch_all(pool)
    .await?;
    for zone in zones {
        if let Some(event) = events.iter_mut().find(|e| e.event_id == zone.event_id) {
            event.zones.push(zone);
        }
    }
    Ok(())
}

/// The columns of [`EventView`], as a macro so queries stay `&'static str`.
macro_rules! event_columns {
    () => {
        "e.event_id, e.title, e.venue_id, v.name AS venue_name, v.city, e.category, e.start_time,
         e.status, e.price_cents, e.queue_enabled, e.admission_rate_per_sec, v.seat_count,
         e.cancellable_until"
    };
}

#[tracing::instrument(skip_all, fields(venue.seats = venue.seats.len()))]
pub async fn create_venue(pool: &PgPool, venue: &NewVenue) -> sqlx::Result<VenueId> {
    let mut tx = pool.begin().await?;
    let venue_id: VenueId = sqlx::query_scalar(
        "INSERT INTO venues (name, city, seat_count, stage) VALUES ($1, $2, $3, $4) RETURNING venue_id",
    )
    .bind(&venue.name)
    .bind(&venue.city)
    .bind(venue.seats.len() as i32)
    .bind(venue.stage.as_ref().map(sqlx::types::Json))
    .fetch_one(&mut *tx)
    .await?;
    insert_venue_seats(&mut tx, venue_id, venue).await?;
    tx.commit().await?;
    refresh_statistics(pool, "venue_seats").await;
    Ok(venue_id)
}

/// All seats in one statement: arrays in, `UNNEST` out.
async fn insert_venue_seats(
    tx: &mut Transaction<'_, Postgres>,
    venue_id: VenueId,
    venue: &NewVenue,
) -> sqlx::Result<()> {
    let positions: Vec<i32> = (0..venue.seats.len() as i32).collect();
    let sections: Vec<&str> = venue.seats.iter().map(|s| s.section.as_str()).collect();
    let rows: Vec<&str> = venue.seats.iter().map(|s| s.row.as_str()).collect();
    let numbers: Vec<i32> = venue.seats.iter().map(|s| s.number).collect();
    let xs: Vec<f32> = venue.seats.iter().map(|s| s.x).collect();
    let ys: Vec<f32> = venue.seats.iter().map(|s| s.y).collect();
    sqlx::query(
        "INSERT INTO venue_seats (venue_id, position, section, row_name, number, x, y)
         SELECT $1, * FROM UNNEST($2::int4[], $3::text[], $4::text[], $5::int4[], $6::float4[], $7::float4[])",
    )
    .bind(venue_id)
    .bind(&positions)
    .bind(&sections)
    .bind(&rows)
    .bind(&numbers)
    .bind(&xs)
    .bind(&ys)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct VenueHeader {
    pub venue_id: VenueId,
    pub name: String,
    pub city: String,
    pub seat_count: i32,
    /// A shaped venue's stage, as the operator placed it (`null` for grids).
    #[schema(value_type = Option<StageView>, required = true)]
    pub stage: Option<serde_json::Value>,
    #[serde(skip)]
    pub created_at: DateTime<Utc>,
}

/// The stage as stored (`requests::venue::Stage`): a rectangle centred on
/// (x, y), turned by `angle` degrees, in seat coordinates.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documents what `venues.stage` holds
pub struct StageView {
    x: f64,
    y: f64,
    width: f64,
    height: f64,
    angle: f64,
    #[schema(required = true)]
    label: Option<String>,
}

#[derive(Debug, sqlx::FromRow)]
pub struct LayoutSeat {
    pub seat_id: SeatId,
    pub section: String,
    pub row_name: String,
    pub number: i32,
    pub x: f32,
    pub y: f32,
}

pub async fn venue_header(pool: &PgPool, venue_id: VenueId) -> sqlx::Result<Option<VenueHeader>> {
    sqlx::query_as(
        "SELECT venue_id, name, city, seat_count, stage, created_at FROM venues WHERE venue_id = $1",
    )
    .bind(venue_id)
    .fetch_optional(pool)
    .await
}

#[tracing::instrument(skip(pool))]
pub async fn layout_seats(pool: &PgPool, venue_id: VenueId) -> sqlx::Result<Vec<LayoutSeat>> {
    sqlx::query_as(
        "SELECT seat_id, section, row_name, number, x, y FROM venue_seats
         WHERE venue_id = $1 ORDER BY position",
    )
    .bind(venue_id)
    .fetch_all(pool)
    .await
}

#[derive(Debug, thiserror::Error)]
pub enum CreateEventError {
    #[error("venue not found")]
    UnknownVenue,
    /// Zones name sections the venue does not have.
    #[error("the venue has no sections named {0:?}")]
    UnknownSections(Vec<String>),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Creates the event, its price zones and, in the same transaction, one
/// AVAILABLE seat row per venue seat (with its zone) with a single
/// `INSERT ... SELECT`. Zones naming a section the venue lacks write nothing.
#[tracing::instrument(skip_all, fields(venue.id = %event.venue_id))]
pub async fn create_event(pool: &PgPool, event: &NewEvent) -> Result<EventId, CreateEventError> {
    let mut tx = pool.begin().await?;
    let event_id: EventId = sqlx::query_scalar(
        "INSERT INTO events (title, venue_id, category, start_time, price_cents, status, queue_enabled,
                             admission_rate_per_sec, cancellable_until)
         SELECT $1, venue_id, $3, $4, $5, $6, $7, $8, $9 FROM venues WHERE venue_id = $2
         RETURNING event_id",
    )
    .bind(&event.title)
    .bind(event.venue_id)
    .bind(&event.category)
    .bind(event.start_time)
    .bind(event.price_cents)
    .bind(event.status)
    .bind(event.queue_enabled)
    .bind(event.admission_rate_per_sec)
    .bind(event.cancellable_until)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(CreateEventError::UnknownVenue)?;
    insert_zones(&mut tx, event_id, event).await?;
    sqlx::query(
        "INSERT INTO seats (event_id, seat_id, zone_id)
         SELECT $1, vs.seat_id, zs.zone_id FROM venue_seats vs
         LEFT JOIN event_zone_sections zs ON zs.event_id = $1 AND zs.section = vs.section
         WHERE vs.venue_id = $2",
    )
    .bind(event_id)
    .bind(event.venue_id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    refresh_statistics(pool, "seats").await;
    Ok(event_id)
}

/// The event's zones and their sections; refuses sections the venue lacks
/// (the caller's transaction then rolls back: nothing is written).
async fn insert_zones(
    tx: &mut Transaction<'_, Postgres>,
    event_id: EventId,
    event: &NewEvent,
) -> Result<(), CreateEventError> {
    if event.zones.is_empty() {
        return Ok(());
    }
    let (mut sections, mut zone_of) = (Vec::new(), Vec::new());
    for (position, zone) in event.zones.iter().enumerate() {
        for section in &zone.sections {
            sections.push(section.as_str());
            zone_of.push(position as i32);
        }
    }
    let unknown: Vec<String> = sqlx::query_scalar(
        "SELECT w.section FROM UNNEST($2::text[]) AS w(section)
         WHERE NOT EXISTS (SELECT 1 FROM venue_seats vs
                           WHERE vs.venue_id = $1 AND vs.section = w.section)",
    )
    .bind(event.venue_id)
    .bind(&sections)
    .fetch_all(&mut **tx)
    .await?;
    if !unknown.is_empty() {
        return Err(CreateEventError::UnknownSections(unknown));
    }
    let positions: Vec<i32> = (0..event.zones.len() as i32).collect();
    let names: Vec<&str> = event.zones.iter().map(|z| z.name.as_str()).collect();
    let prices: Vec<i64> = event.zones.iter().map(|z| z.price_cents).collect();
    sqlx::query(
        "WITH z AS (
             INSERT INTO event_zones (event_id, position, name, price_cents)
             SELECT $1, * FROM UNNEST($2::int4[], $3::text[], $4::int8[])
             RETURNING zone_id, position
         )
         INSERT INTO event_zone_sections (event_id, section, zone_id)
         SELECT $1, u.section, z.zone_id FROM UNNEST($5::text[], $6::int4[]) AS u(section, position)
         JOIN z USING (position)",
    )
    .bind(event_id)
    .bind(&positions)
    .bind(&names)
    .bind(&prices)
    .bind(&sections)
    .bind(&zone_of)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Bulk inserts leave the planner's statistics behind until autovacuum runs;
/// the booking path's plans depend on them, so refresh them now.
async fn refresh_statistics(pool: &PgPool, table: &'static str) {
    let statement = match table {
        "seats" => "ANALYZE seats",
        _ => "ANALYZE venue_seats",
    };
    if let Err(error) = sqlx::query(statement).execute(pool).await {
        tracing::warn!(%error, table, "could not refresh planner statistics");
    }
}

pub async fn get_event(pool: &PgPool, event_id: EventId) -> sqlx::Result<Option<EventView>> {
    let event: Option<EventView> = sqlx::query_as(concat!(
        "SELECT ",
        event_columns!(),
        " FROM events e JOIN venues v USING (venue_id) WHERE e.event_id = $1"
    ))
    .bind(event_id)
    .fetch_optional(pool)
    .await?;
    let mut events: Vec<EventView> = event.into_iter().collect();
    attach_zones(pool, &mut events).await?;
    Ok(events.pop())
}

/// One page of events in (start_time, event_id) order; fetches one extra row
/// to tell whether another page follows.
#[tracing::instrument(skip(pool))]
pub async fn list_events(
    pool: &PgPool,
    filter: &EventFilter,
) -> sqlx::Result<(Vec<EventView>, bool)> {
    let mut events: Vec<EventView> = sqlx::query_as(concat!(
        "SELECT ",
        event_columns!(),
        " FROM events e JOIN venues v USING (venue_id)
         WHERE ($1::text IS NULL OR lower(v.city) = lower($1))
           AND ($2::text IS NULL OR lower(e.category) = lower($2))
           AND ($3::timestamptz IS NULL OR e.start_time >= $3)
           AND ($4::timestamptz IS NULL OR e.start_time < $4)
           AND ($5::text IS NULL OR e.title ILIKE $5)
           AND ($6::timestamptz IS NULL OR (e.start_time, e.event_id) > ($6, $7))
         ORDER BY e.start_time, e.event_id
         LIMIT $8"
    ))
    .bind(&filter.city)
    .bind(&filter.category)
    .bind(filter.from)
    .bind(filter.to)
    .bind(&filter.title_like)
    .bind(filter.after.map(|c| c.start_time))
    .bind(filter.after.map(|c| c.event_id).unwrap_or(EventId(0)))
    .bind(i64::from(filter.limit) + 1)
    .fetch_all(pool)
    .await?;
    let more = events.len() > filter.limit as usize;
    events.truncate(filter.limit as usize);
    attach_zones(pool, &mut events).await?;
    Ok((events, more))
}

/// Applies the fields the patch names. `Ok(false)` when no such event.
#[tracing::instrument(skip(pool, patch), fields(event.id = %event_id))]
pub async fn patch_event(
    pool: &PgPool,
    event_id: EventId,
    patch: &EventPatch,
) -> sqlx::Result<bool> {
    let updated = sqlx::query(
        "UPDATE events SET
            title = COALESCE($2, title),
            category = COALESCE($3, category),
            start_time = COALESCE($4, start_time),
            price_cents = COALESCE($5, price_cents),
            status = COALESCE($6, status),
            queue_enabled = COALESCE($7, queue_enabled),
            admission_rate_per_sec = COALESCE($8, admission_rate_per_sec),
            cancellable_until = CASE WHEN $9 THEN $10 ELSE cancellable_until END,
            updated_at = now()
         WHERE event_id = $1",
    )
    .bind(event_id)
    .bind(&patch.title)
    .bind(&patch.category)
    .bind(patch.start_time)
    .bind(patch.price_cents)
    .bind(patch.status)
    .bind(patch.queue_enabled)
    .bind(patch.admission_rate_per_sec)
    .bind(patch.cancellable_until.is_some())
    .bind(patch.cancellable_until.flatten())
    .execute(pool)
    .await?;
    Ok(updated.rows_affected() == 1)
}

/// What the booking path needs to know about an event before it queues a hold.
#[derive(Debug, Clone)]
pub struct EventGate {
    pub status: EventStatus,
    pub queue_enabled: bool,
    pub admission_rate_per_sec: i32,
    pub onsale_at: Option<DateTime<Utc>>,
}

/// [`EventGate`]s kept in memory for a second, so the hot booking path does
/// not read the events table on every attempt. A second of staleness only
/// delays an operator's status change; seats are never decided here.
pub struct EventGates {
    pool: PgPool,
    ttl: std::time::Duration,
    entries: dashmap::DashMap<EventId, (std::time::Instant, Option<EventGate>)>,
}

impl EventGates {
    pub fn new(pool: PgPool, ttl: std::time::Duration) -> EventGates {
        EventGates {
            pool,
            ttl,
            entries: dashmap::DashMap::new(),
        }
    }

    /// The gate of `event`; `None` if there is no such event.
    /// Forgets a cached gate (after an operator's change on this node).
    pub fn forget(&self, event: EventId) {
        self.entries.remove(&event);
    }

    /// The gate as PostgreSQL has it now, whatever this node cached: an
    /// operator's change made through another node is seen at once. For
    /// refusals and operators' reads, not for every request.
    pub async fn fresh(&self, event: EventId) -> sqlx::Result<Option<EventGate>> {
        self.forget(event);
        self.get(event).await
    }

    pub async fn get(&self, event: EventId) -> sqlx::Result<Option<EventGate>> {
        if let Some(entry) = self.entries.get(&event)
            && entry.0.elapsed() < self.ttl
        {
            return Ok(entry.1.clone());
        }
        let row: Option<(EventStatus, bool, i32, Option<DateTime<Utc>>)> = sqlx::query_as(
            "SELECT status, queue_enabled, admission_rate_per_sec, onsale_at FROM events WHERE event_id = $1",
        )
                .bind(event)
                .fetch_optional(&self.pool)
                .await?;
        let gate = row.map(
            |(status, queue_enabled, admission_rate_per_sec, onsale_at)| EventGate {
                status,
                queue_enabled,
                admission_rate_per_sec,
                onsale_at,
            },
        );
        if self.entries.len() > 100_000 {
            self.entries.clear();
        }
        self.entries
            .insert(event, (std::time::Instant::now(), gate.clone()));
        Ok(gate)
    }
}

/// The venue named `name`, if any (the demo loader checks it ran before).
pub async fn venue_named(pool: &PgPool, name: &str) -> sqlx::Result<Option<VenueId>> {
    sqlx::query_scalar("SELECT venue_id FROM venues WHERE name = $1")
        .bind(name)
        .fetch_optional(pool)
        .await
}

/// An operator's waiting-room settings for one event.
#[derive(Debug, Clone)]
pub struct WaitingRoomSettings {
    pub enabled: bool,
    /// 0 pauses admission.
    pub admission_rate_per_sec: i32,
    /// `None`: unchanged; `Some(None)`: no on-sale time.
    pub onsale_at: Option<Option<DateTime<Utc>>>,
}

/// Writes the event's waiting-room settings and returns their new version
/// (see `WaitingRoomConfig`); `None` if there is no such event.
pub async fn set_waiting_room(
    pool: &PgPool,
    event: EventId,
    settings: &WaitingRoomSettings,
) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar(
        "UPDATE events SET queue_enabled = $2, admission_rate_per_sec = $3,
                           onsale_at = CASE WHEN $4 THEN $5 ELSE onsale_at END, updated_at = now(),
                           queue_settings_version = queue_settings_version + 1
         WHERE event_id = $1 RETURNING queue_settings_version",
    )
    .bind(event)
    .bind(settings.enabled)
    .bind(settings.admission_rate_per_sec)
    .bind(settings.onsale_at.is_some())
    .bind(settings.onsale_at.flatten())
    .fetch_optional(pool)
    .await
}

/// The admission settings of an event whose waiting room is on.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct WaitingRoomConfig {
    pub event_id: EventId,
    pub admission_rate_per_sec: i32,
    pub onsale_at: Option<DateTime<Utc>>,
    /// Grows by one with every change of the settings: of two copies, the
    /// higher is the newer.
    pub settings_version: i64,
}

/// Every event whose waiting room is on (the admission driver's settings).
pub async fn waiting_rooms(pool: &PgPool) -> sqlx::Result<Vec<WaitingRoomConfig>> {
    sqlx::query_as(
        "SELECT event_id, admission_rate_per_sec, onsale_at,
                queue_settings_version AS settings_version
         FROM events WHERE queue_enabled",
    )
    .fetch_all(pool)
    .await
}
