//! A venue and its seat layout, as an operator submits it.

use serde::Deserialize;

use crate::requests::event::non_blank;

/// Upper bound on the seats of one venue; the largest stadiums hold ~150,000.
pub const MAX_VENUE_SEATS: usize = 200_000;
const MAX_SEATS_PER_ROW: u32 = 1_000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewVenueRequest {
    pub name: String,
    pub city: String,
    pub layout: LayoutRequest,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayoutRequest {
    pub sections: Vec<SectionRequest>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SectionRequest {
    pub name: String,
    pub rows: Vec<RowRequest>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RowRequest {
    pub name: String,
    /// Number of seats in the row, numbered from 1.
    pub seats: u32,
}

/// One physical seat, in layout order, with drawing coordinates.
#[derive(Debug, Clone, PartialEq)]
pub struct PlacedSeat {
    pub section: String,
    pub row: String,
    pub number: i32,
    pub x: f32,
    pub y: f32,
}

/// A validated venue: named, in a city, with 1..=MAX_VENUE_SEATS placed seats.
#[derive(Debug)]
pub struct NewVenue {
    pub name: String,
    pub city: String,
    pub seats: Vec<PlacedSeat>,
}

impl TryFrom<NewVenueRequest> for NewVenue {
    type Error = String;

    fn try_from(request: NewVenueRequest) -> Result<Self, String> {
        let name = non_blank("name", &request.name, 200)?;
        let city = non_blank("city", &request.city, 100)?;
        let sections = request.layout.sections;
        if sections.is_empty() {
            return Err("layout.sections must not be empty".into());
        }
        let mut total: usize = 0;
        let mut section_names = std::collections::HashSet::new();
        for (i, section) in sections.iter().enumerate() {
            let section_name = non_blank(&format!("layout.sections[{i}].name"), &section.name, 50)?;
            if !section_names.insert(section_name) {
                return Err(format!(
                    "layout.sections[{i}].name {:?} is used twice",
                    section.name
                ));
            }
            if section.rows.is_empty() {
                return Err(format!("layout.sections[{i}].rows must not be empty"));
            }
            let mut row_names = std::collections::HashSet::new();
            for (j, row) in section.rows.iter().enumerate() {
                let row_name = non_blank(
                    &format!("layout.sections[{i}].rows[{j}].name"),
                    &row.name,
                    20,
                )?;
                if !row_names.insert(row_name) {
                    return Err(format!(
                        "layout.sections[{i}].rows[{j}].name {:?} is used twice",
                        row.name
                    ));
                }
                if row.seats == 0 || row.seats > MAX_SEATS_PER_ROW {
                    return Err(format!(
                        "layout.sections[{i}].rows[{j}].seats must be between 1 and {MAX_SEATS_PER_ROW}"
                    ));
                }
                total += row.seats as usize;
                if total > MAX_VENUE_SEATS {
                    return Err(format!("a venue holds at most {MAX_VENUE_SEATS} seats"));
                }
            }
        }
        Ok(NewVenue {
            name,
            city,
            seats: place_seats(&sections),
        })
    }
}

/// Lays sections out on a square grid, each row of a section one unit below
/// the last, seats one unit apart: coordinates a client can draw directly.
fn place_seats(sections: &[SectionRequest]) -> Vec<PlacedSeat> {
    let columns = (sections.len() as f64).sqrt().ceil().max(1.0) as usize;
    let cell_width = sections
        .iter()
        .flat_map(|s| s.rows.iter().map(|r| r.seats))
        .max()
        .unwrap_or(1) as f32
        + 4.0;
    let cell_height = sections.iter().map(|s| s.rows.len()).max().unwrap_or(1) as f32 + 4.0;
    let mut seats = Vec::new();
    for (i, section) in sections.iter().enumerate() {
        let origin_x = (i % columns) as f32 * cell_width;
        let origin_y = (i / columns) as f32 * cell_height;
        let section_name = section.name.trim().to_owned();
        for (j, row) in section.rows.iter().enumerate() {
            let row_name = row.name.trim().to_owned();
            for number in 1..=row.seats {
                seats.push(PlacedSeat {
                    section: section_name.clone(),
                    row: row_name.clone(),
                    number: number as i32,
                    x: origin_x + (number - 1) as f32,
                    y: origin_y + j as f32,
                });
            }
        }
    }
    seats
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(sections: Vec<(&str, Vec<(&str, u32)>)>) -> NewVenueRequest {
        NewVenueRequest {
            name: "Arena".into(),
            city: "Oslo".into(),
            layout: LayoutRequest {
                sections: sections
                    .into_iter()
                    .map(|(name, rows)| SectionRequest {
                        name: name.into(),
                        rows: rows
                            .into_iter()
                            .map(|(n, seats)| RowRequest {
                                name: n.into(),
                                seats,
                            })
                            .collect(),
                    })
                    .collect(),
            },
        }
    }

    #[test]
    fn a_layout_becomes_numbered_seats_in_layout_order() {
        let venue = NewVenue::try_from(request(vec![
            ("A", vec![("1", 2), ("2", 1)]),
            ("B", vec![("1", 1)]),
        ]))
        .unwrap();
        let names: Vec<_> = venue
            .seats
            .iter()
            .map(|s| (s.section.as_str(), s.row.as_str(), s.number))
            .collect();
        assert_eq!(
            names,
            vec![("A", "1", 1), ("A", "1", 2), ("A", "2", 1), ("B", "1", 1)]
        );
        assert_ne!(
            (venue.seats[0].x, venue.seats[0].y),
            (venue.seats[3].x, venue.seats[3].y)
        );
    }

    #[test]
    fn bad_layouts_are_refused_with_the_offending_field() {
        let cases = [
            (request(vec![]), "layout.sections"),
            (request(vec![("A", vec![])]), "rows must not be empty"),
            (
                request(vec![("A", vec![("1", 0)])]),
                "seats must be between",
            ),
            (
                request(vec![("A", vec![("1", 1)]), ("A", vec![("1", 1)])]),
                "used twice",
            ),
            (
                request(vec![(" ", vec![("1", 1)])]),
                "name must not be blank",
            ),
            (
                request((0..201).map(|_| ("S", vec![("1", 1000)])).collect()),
                "used twice",
            ),
        ];
        for (input, expected) in cases {
            let error = NewVenue::try_from(input).unwrap_err();
            assert!(
                error.contains(expected),
                "{error:?} should mention {expected:?}"
            );
        }
        let huge = request(
            (0..300)
                .map(|_| ("S", vec![("1", 1000)]))
                .collect::<Vec<_>>(),
        );
        let mut huge = huge;
        for (i, s) in huge.layout.sections.iter_mut().enumerate() {
            s.name = format!("S{i}");
        }
        assert!(NewVenue::try_from(huge).unwrap_err().contains("at most"));
    }
}
