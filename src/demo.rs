//! Demo data for `make run`: a 21,000-seat arena, a small club, and events in
//! a few cities and categories. Loading twice changes nothing.

use chrono::{Duration, Utc};
use sqlx::PgPool;

use actors::model::EventStatus;

use crate::requests::event::NewEvent;
use crate::requests::venue::{
    LayoutRequest, NewVenue, NewVenueRequest, RowRequest, SectionRequest,
};
use crate::store::catalog;

const ARENA: &str = "Boxoffice Arena";
const CLUB: &str = "Blue Note Cellar";

fn layout(sections: usize, rows: usize, seats: u32) -> LayoutRequest {
    LayoutRequest {
        sections: (0..sections)
            .map(|s| SectionRequest {
                name: format!("{}", 101 + s),
                rows: (0..rows)
                    .map(|r| RowRequest {
                        name: row_name(r),
                        seats,
                    })
                    .collect(),
            })
            .collect(),
    }
}

/// A, B, ..., Z, AA, BB, ...
fn row_name(index: usize) -> String {
    let letter = (b'A' + (index % 26) as u8) as char;
    letter.to_string().repeat(index / 26 + 1)
}

pub async fn load(pool: &PgPool) -> anyhow::Result<()> {
    let existing = catalog::venue_named(pool, ARENA).await?;
    if existing.is_some() {
        tracing::info!("demo data already loaded");
        return Ok(());
    }
    let arena = NewVenue::try_from(NewVenueRequest {
        name: ARENA.into(),
        city: "Oslo".into(),
        layout: layout(20, 25, 42),
    })
    .map_err(anyhow::Error::msg)?;
    let arena_id = catalog::create_venue(pool, &arena).await?;
    let club = NewVenue::try_from(NewVenueRequest {
        name: CLUB.into(),
        city: "Bergen".into(),
        layout: layout(1, 10, 20),
    })
    .map_err(anyhow::Error::msg)?;
    let club_id = catalog::create_venue(pool, &club).await?;

    let now = Utc::now();
    let events = [
        ("The Eras Tour", arena_id, "concert", 30, 14_900),
        (
            "Oslo Derby: Vålerenga vs Lyn",
            arena_id,
            "sports",
            12,
            4_500,
        ),
        ("Swan Lake", arena_id, "theatre", 45, 7_900),
        ("Late Night Jazz Session", club_id, "concert", 5, 2_500),
        ("Stand-up Comedy Night", club_id, "comedy", 9, 1_900),
    ];
    for (title, venue_id, category, days, price_cents) in events {
        let event = NewEvent {
            title: title.into(),
            venue_id,
            category: category.into(),
            start_time: now + Duration::days(days),
            price_cents,
            status: EventStatus::OnSale,
            queue_enabled: false,
            admission_rate_per_sec: 50,
            zones: Vec::new(),
        };
        catalog::create_event(pool, &event).await?;
    }
    tracing::info!(arena.seats = arena.seats.len(), "demo data loaded");
    Ok(())
}
