//! Demo data for `make run`: an arena shaped as a bowl around a stage
//! (20,196 seats in 32 sections, priced in three zones), a small club, and
//! events in a few cities and categories. Loading twice changes nothing.

use chrono::{Duration, Utc};
use sqlx::PgPool;

use actors::model::EventStatus;

use crate::requests::event::{NewEvent, Zone};
use crate::requests::venue::{
    LayoutRequest, NewVenue, NewVenueRequest, RowRequest, SectionRequest, Shape, Stage,
};
use crate::store::catalog;

const ARENA: &str = "Boxoffice Arena";
const CLUB: &str = "Blue Note Cellar";

/// A grid layout: `sections` sections of `rows` rows of `seats` seats.
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
                shape: None,
            })
            .collect(),
        stage: None,
    }
}

/// A, B, ..., Z, AA, BB, ...
fn row_name(index: usize) -> String {
    let letter = (b'A' + (index % 26) as u8) as char;
    letter.to_string().repeat(index / 26 + 1)
}

/// The bowl's centre (the middle of the floor); the stage sits at its top.
const BOWL: (f64, f64) = (0.0, 30.0);
/// The bowl wraps the floor from this direction (degrees, 0 = +x, 90 = +y,
/// clockwise on screen) over this span, leaving the stage end open.
const BOWL_FROM: f64 = -50.0;
const BOWL_SPAN: f64 = 280.0;
const ROW_SPACING: f64 = 1.2;

/// A ring of `count` arc sections named from `first`, rows from `radius` out.
fn ring(first: usize, count: usize, radius: f64, rows: usize) -> Vec<SectionRequest> {
    let aisle = 1.5;
    let width = BOWL_SPAN / count as f64 - aisle;
    (0..count)
        .map(|s| {
            let angle = BOWL_FROM + (s as f64 + 0.5) * (width + aisle);
            SectionRequest {
                name: format!("{}", first + s),
                rows: (0..rows)
                    .map(|r| {
                        let arc = (radius + r as f64 * ROW_SPACING) * width.to_radians();
                        RowRequest {
                            name: row_name(r),
                            seats: arc.floor() as u32,
                        }
                    })
                    .collect(),
                shape: Some(Shape::Arc {
                    cx: BOWL.0,
                    cy: BOWL.1,
                    radius,
                    angle,
                    seat_spacing: 1.0,
                    row_spacing: ROW_SPACING,
                }),
            }
        })
        .collect()
}

/// The arena: a stage, four floor blocks facing it, a lower ring of 12
/// sections and an upper ring of 16 around the floor.
pub fn arena_layout() -> LayoutRequest {
    let mut sections: Vec<SectionRequest> = ["A", "B", "C", "D"]
        .iter()
        .enumerate()
        .map(|(i, name)| SectionRequest {
            name: format!("Floor {name}"),
            rows: (0..20)
                .map(|r| RowRequest {
                    name: format!("{}", r + 1),
                    seats: 13,
                })
                .collect(),
            shape: Some(Shape::Block {
                x: -22.5 + 15.0 * i as f64,
                y: 12.0,
                angle: 0.0,
                seat_spacing: 1.0,
                row_spacing: 1.0,
            }),
        })
        .collect();
    sections.extend(ring(101, 12, 46.0, 20));
    sections.extend(ring(201, 16, 74.0, 34));
    LayoutRequest {
        sections,
        stage: Some(Stage {
            x: 0.0,
            y: 0.0,
            width: 40.0,
            height: 12.0,
            angle: 0.0,
            label: Some("STAGE".into()),
        }),
    }
}

/// `cents` rounded to whole units (a price a box office would print).
fn whole(cents: i64) -> i64 {
    (cents + 50) / 100 * 100
}

/// The arena's three price zones, for an event whose dearest seat costs `floor`.
fn arena_zones(floor: i64) -> Vec<Zone> {
    let floor = whole(floor);
    let names =
        |first: usize, count: usize| (first..first + count).map(|n| n.to_string()).collect();
    vec![
        Zone {
            name: "Floor".into(),
            price_cents: floor,
            sections: ["A", "B", "C", "D"]
                .iter()
                .map(|s| format!("Floor {s}"))
                .collect(),
        },
        Zone {
            name: "Lower bowl".into(),
            price_cents: whole(floor * 3 / 5),
            sections: names(101, 12),
        },
        Zone {
            name: "Upper bowl".into(),
            price_cents: whole(floor / 3),
            sections: names(201, 16),
        },
    ]
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
        layout: arena_layout(),
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
        ("The Eras Tour", arena_id, "concert", 30, 14_900, true),
        (
            "Oslo Derby: Vålerenga vs Lyn",
            arena_id,
            "sports",
            12,
            4_500,
            true,
        ),
        ("Swan Lake", arena_id, "theatre", 45, 7_900, true),
        (
            "Late Night Jazz Session",
            club_id,
            "concert",
            5,
            2_500,
            false,
        ),
        ("Stand-up Comedy Night", club_id, "comedy", 9, 1_900, false),
    ];
    for (title, venue_id, category, days, price_cents, zoned) in events {
        let event = NewEvent {
            title: title.into(),
            venue_id,
            category: category.into(),
            start_time: now + Duration::days(days),
            price_cents,
            status: EventStatus::OnSale,
            queue_enabled: false,
            admission_rate_per_sec: 50,
            // Fans may cancel (and get their money back) until the day before.
            cancellable_until: Some(now + Duration::days(days - 1)),
            zones: if zoned {
                arena_zones(price_cents * 5 / 3)
            } else {
                Vec::new()
            },
        };
        catalog::create_event(pool, &event).await?;
    }
    tracing::info!(arena.seats = arena.seats.len(), "demo data loaded");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_arena_is_a_bowl_of_over_20000_seats_in_over_20_sections_and_3_zones() {
        let layout = arena_layout();
        assert!(layout.sections.len() >= 20, "{}", layout.sections.len());
        let venue = NewVenue::try_from(NewVenueRequest {
            name: ARENA.into(),
            city: "Oslo".into(),
            layout,
        })
        .unwrap();
        assert!(venue.seats.len() >= 20_000, "{} seats", venue.seats.len());
        let zones = arena_zones(9_000);
        assert!(zones.len() >= 3);
        let zoned: usize = zones.iter().map(|z| z.sections.len()).sum();
        assert_eq!(zoned, 32, "every section priced");
        // No two seats on top of each other (arcs and blocks keep apart).
        let mut cells = std::collections::HashSet::new();
        for seat in &venue.seats {
            assert!(
                cells.insert(((seat.x * 4.0).round() as i64, (seat.y * 4.0).round() as i64)),
                "{seat:?} overlaps another seat"
            );
        }
        // The stage stays clear of the seats.
        assert!(venue.seats.iter().all(|s| s.y > 6.0 || s.x.abs() > 20.0));
    }
}
