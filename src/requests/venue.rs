//! A venue and its seat layout, as an operator submits it.
//!
//! Sections are either laid out on a plain grid (no `shape`: the original
//! input, still accepted) or placed as shapes around a stage:
//! - `{"type": "block", x, y, angle?, seat_spacing?, row_spacing?}`: the rows
//!   of a rectangular block, each row centred on the block's axis; (x, y) is
//!   the middle of the front row (row 0), later rows lie behind it (+y at
//!   angle 0), and `angle` (degrees) turns the block clockwise about (x, y);
//! - `{"type": "arc", cx, cy, radius, angle, seat_spacing?, row_spacing?}`:
//!   rows along circles about (cx, cy), the front row at `radius`, each
//!   later row `row_spacing` further out, every row centred on the direction
//!   `angle` (degrees; 0 is +x, 90 is +y), seats `seat_spacing` apart along it.
//!
//! Coordinates are in seat widths (spacings default to 1 and 1.2); a layout's
//! `stage: {x, y, width, height, angle?, label?}` is drawn where it says.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::requests::event::non_blank;

/// Upper bound on the seats of one venue; the largest stadiums hold ~150,000.
pub const MAX_VENUE_SEATS: usize = 200_000;
const MAX_SEATS_PER_ROW: u32 = 1_000;

/// `POST /admin/venues`. Text is trimmed before its length is checked.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewVenueRequest {
    /// 1 to 200 characters.
    #[schema(schema_with = crate::requests::schema::non_blank::<200>)]
    pub name: String,
    /// 1 to 100 characters.
    #[schema(schema_with = crate::requests::schema::non_blank::<100>)]
    pub city: String,
    pub layout: LayoutRequest,
}

/// The seats: at most 200,000 in all.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LayoutRequest {
    /// Section names unique; every section with a `shape`, or none (a grid).
    #[schema(min_items = 1)]
    pub sections: Vec<SectionRequest>,
    #[serde(default)]
    pub stage: Option<Stage>,
}

/// Where the stage is drawn (a rectangle centred on (x, y), turned by
/// `angle` degrees), in seat coordinates. Kept as given (`venues.stage`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Stage {
    #[schema(minimum = -100_000, maximum = 100_000)]
    pub x: f64,
    #[schema(minimum = -100_000, maximum = 100_000)]
    pub y: f64,
    #[schema(minimum = 0.1, maximum = 100_000)]
    pub width: f64,
    #[schema(minimum = 0.1, maximum = 100_000)]
    pub height: f64,
    /// Degrees; 0 when absent.
    #[serde(default)]
    #[schema(minimum = -360, maximum = 360)]
    pub angle: f64,
    /// 1 to 40 characters.
    #[serde(default)]
    #[schema(schema_with = crate::requests::schema::non_blank_or_null::<40>)]
    pub label: Option<String>,
}

/// How a section's rows are placed (see the module docs).
#[derive(Debug, Clone, PartialEq, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Shape {
    Block {
        #[schema(minimum = -100_000, maximum = 100_000)]
        x: f64,
        #[schema(minimum = -100_000, maximum = 100_000)]
        y: f64,
        #[serde(default)]
        #[schema(minimum = -360, maximum = 360)]
        angle: f64,
        #[serde(default = "seat_spacing")]
        #[schema(minimum = 0.1, maximum = 100)]
        seat_spacing: f64,
        #[serde(default = "row_spacing")]
        #[schema(minimum = 0.1, maximum = 100)]
        row_spacing: f64,
    },
    Arc {
        #[schema(minimum = -100_000, maximum = 100_000)]
        cx: f64,
        #[schema(minimum = -100_000, maximum = 100_000)]
        cy: f64,
        #[schema(minimum = 0.5, maximum = 100_000)]
        radius: f64,
        #[schema(minimum = -360, maximum = 360)]
        angle: f64,
        #[serde(default = "seat_spacing")]
        #[schema(minimum = 0.1, maximum = 100)]
        seat_spacing: f64,
        #[serde(default = "row_spacing")]
        #[schema(minimum = 0.1, maximum = 100)]
        row_spacing: f64,
    },
}

/// [`Shape`]'s schema, or `null`, each form closed to unknown fields as
/// `deny_unknown_fields` closes them (utoipa leaves a tagged enum's forms open).
fn closed_shape() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::RefOr;
    use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, OneOf, Schema, Type};
    let mut forms = OneOf::new();
    forms
        .items
        .push(ObjectBuilder::new().schema_type(Type::Null).into());
    if let RefOr::T(Schema::OneOf(shape)) = <Shape as utoipa::PartialSchema>::schema() {
        for mut form in shape.items {
            if let RefOr::T(Schema::Object(object)) = &mut form {
                object.additional_properties =
                    Some(Box::new(AdditionalProperties::FreeForm(false)));
            }
            forms.items.push(form);
        }
    }
    Schema::OneOf(forms)
}

fn seat_spacing() -> f64 {
    1.0
}

fn row_spacing() -> f64 {
    1.2
}

/// Largest coordinate, radius or stage side a layout may use.
const MAX_COORDINATE: f64 = 100_000.0;

fn check_number(field: &str, value: f64, min: f64, max: f64) -> Result<(), String> {
    if value.is_finite() && (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(format!("{field} must be a number between {min} and {max}"))
    }
}

impl Shape {
    fn check(&self, field: &str) -> Result<(), String> {
        let (seat, row) = match self {
            Shape::Block {
                x,
                y,
                angle,
                seat_spacing,
                row_spacing,
            } => {
                check_number(&format!("{field}.x"), *x, -MAX_COORDINATE, MAX_COORDINATE)?;
                check_number(&format!("{field}.y"), *y, -MAX_COORDINATE, MAX_COORDINATE)?;
                check_number(&format!("{field}.angle"), *angle, -360.0, 360.0)?;
                (*seat_spacing, *row_spacing)
            }
            Shape::Arc {
                cx,
                cy,
                radius,
                angle,
                seat_spacing,
                row_spacing,
            } => {
                check_number(&format!("{field}.cx"), *cx, -MAX_COORDINATE, MAX_COORDINATE)?;
                check_number(&format!("{field}.cy"), *cy, -MAX_COORDINATE, MAX_COORDINATE)?;
                check_number(&format!("{field}.radius"), *radius, 0.5, MAX_COORDINATE)?;
                check_number(&format!("{field}.angle"), *angle, -360.0, 360.0)?;
                (*seat_spacing, *row_spacing)
            }
        };
        check_number(&format!("{field}.seat_spacing"), seat, 0.1, 100.0)?;
        check_number(&format!("{field}.row_spacing"), row, 0.1, 100.0)
    }

    /// Where seat `k` (from 0) of a row of `n` seats, row `j`, goes.
    fn place(&self, j: usize, k: u32, n: u32) -> (f32, f32) {
        let along = f64::from(k) - (f64::from(n) - 1.0) / 2.0;
        match *self {
            Shape::Block {
                x,
                y,
                angle,
                seat_spacing,
                row_spacing,
            } => {
                let (lx, ly) = (along * seat_spacing, j as f64 * row_spacing);
                let (sin, cos) = angle.to_radians().sin_cos();
                (
                    (x + lx * cos - ly * sin) as f32,
                    (y + lx * sin + ly * cos) as f32,
                )
            }
            Shape::Arc {
                cx,
                cy,
                radius,
                angle,
                seat_spacing,
                row_spacing,
            } => {
                let r = radius + j as f64 * row_spacing;
                let (sin, cos) = (angle.to_radians() + along * seat_spacing / r).sin_cos();
                ((cx + r * cos) as f32, (cy + r * sin) as f32)
            }
        }
    }
}

impl Stage {
    fn check(&self) -> Result<(), String> {
        check_number("layout.stage.x", self.x, -MAX_COORDINATE, MAX_COORDINATE)?;
        check_number("layout.stage.y", self.y, -MAX_COORDINATE, MAX_COORDINATE)?;
        check_number("layout.stage.width", self.width, 0.1, MAX_COORDINATE)?;
        check_number("layout.stage.height", self.height, 0.1, MAX_COORDINATE)?;
        check_number("layout.stage.angle", self.angle, -360.0, 360.0)?;
        if let Some(label) = &self.label {
            non_blank("layout.stage.label", label, 40)?;
        }
        Ok(())
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SectionRequest {
    /// 1 to 50 characters.
    #[schema(schema_with = crate::requests::schema::non_blank::<50>)]
    pub name: String,
    /// Row names unique within the section.
    #[schema(min_items = 1)]
    pub rows: Vec<RowRequest>,
    /// How the rows are placed; none: on the grid.
    #[serde(default)]
    #[schema(schema_with = closed_shape)]
    pub shape: Option<Shape>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RowRequest {
    /// 1 to 20 characters.
    #[schema(schema_with = crate::requests::schema::non_blank::<20>)]
    pub name: String,
    /// Number of seats in the row, numbered from 1.
    #[schema(minimum = 1, maximum = 1000)]
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
    pub stage: Option<Stage>,
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
        let shaped = sections.iter().filter(|s| s.shape.is_some()).count();
        if shaped != 0 && shaped != sections.len() {
            return Err(
                "layout.sections: give every section a shape, or none (grid layout)".into(),
            );
        }
        if let Some(stage) = &request.layout.stage {
            stage.check()?;
        }
        for (i, section) in sections.iter().enumerate() {
            if let Some(shape) = &section.shape {
                shape.check(&format!("layout.sections[{i}].shape"))?;
            }
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
        let seats = if shaped == 0 {
            place_seats(&sections)
        } else {
            place_shaped(&sections)
        };
        Ok(NewVenue {
            name,
            city,
            seats,
            stage: request.layout.stage,
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

/// Places each section's rows by its shape.
fn place_shaped(sections: &[SectionRequest]) -> Vec<PlacedSeat> {
    let mut seats = Vec::new();
    for section in sections {
        let Some(shape) = &section.shape else {
            continue;
        };
        let section_name = section.name.trim().to_owned();
        for (j, row) in section.rows.iter().enumerate() {
            let row_name = row.name.trim().to_owned();
            for k in 0..row.seats {
                let (x, y) = shape.place(j, k, row.seats);
                seats.push(PlacedSeat {
                    section: section_name.clone(),
                    row: row_name.clone(),
                    number: k as i32 + 1,
                    x,
                    y,
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
                        shape: None,
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
                stage: None,
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

#[cfg(test)]
mod shape_tests {
    use super::*;

    fn venue(layout: serde_json::Value) -> Result<NewVenue, String> {
        let request: NewVenueRequest = serde_json::from_value(
            serde_json::json!({"name": "Bowl", "city": "Oslo", "layout": layout}),
        )
        .map_err(|e| e.to_string())?;
        NewVenue::try_from(request)
    }

    #[test]
    fn a_block_places_centred_rows_behind_each_other_and_turns_by_its_angle() {
        let v = venue(serde_json::json!({"sections": [
            {"name": "A", "rows": [{"name": "1", "seats": 3}, {"name": "2", "seats": 1}],
             "shape": {"type": "block", "x": 10, "y": 5}},
            {"name": "B", "rows": [{"name": "1", "seats": 3}],
             "shape": {"type": "block", "x": 0, "y": 0, "angle": 90, "seat_spacing": 2}}
        ], "stage": {"x": 0, "y": -10, "width": 20, "height": 6, "label": "STAGE"}}))
        .unwrap();
        let at: Vec<(f32, f32)> = v.seats.iter().map(|s| (s.x.round(), s.y.round())).collect();
        assert_eq!(
            &at[..4],
            &[(9.0, 5.0), (10.0, 5.0), (11.0, 5.0), (10.0, 6.0)]
        );
        // Turned a quarter clockwise: the row runs down the y axis.
        assert_eq!(&at[4..], &[(0.0, -2.0), (0.0, 0.0), (0.0, 2.0)]);
        assert_eq!(v.stage.unwrap().label.as_deref(), Some("STAGE"));
    }

    #[test]
    fn an_arc_keeps_each_row_at_its_radius_seats_a_spacing_apart() {
        let v = venue(serde_json::json!({"sections": [
            {"name": "A", "rows": [{"name": "1", "seats": 5}, {"name": "2", "seats": 5}],
             "shape": {"type": "arc", "cx": 0, "cy": 0, "radius": 20, "angle": 90, "row_spacing": 2}}
        ]}))
        .unwrap();
        for (seat, radius) in v
            .seats
            .iter()
            .zip([20.0f32; 5].into_iter().chain([22.0; 5]))
        {
            assert!((seat.x.hypot(seat.y) - radius).abs() < 1e-3, "{seat:?}");
        }
        let middle = &v.seats[2];
        assert!(
            middle.x.abs() < 1e-3 && (middle.y - 20.0).abs() < 1e-3,
            "{middle:?}"
        );
        let gap = (v.seats[0].x - v.seats[1].x).hypot(v.seats[0].y - v.seats[1].y);
        assert!((gap - 1.0).abs() < 0.01, "{gap}");
    }

    #[test]
    fn bad_shapes_are_refused_with_the_offending_field() {
        let row = serde_json::json!([{"name": "1", "seats": 2}]);
        let cases = [
            (
                serde_json::json!({"sections": [
                {"name": "A", "rows": row, "shape": {"type": "block", "x": 0, "y": 0}},
                {"name": "B", "rows": row}]}),
                "every section a shape",
            ),
            (
                serde_json::json!({"sections": [
                {"name": "A", "rows": row, "shape": {"type": "arc", "cx": 0, "cy": 0, "radius": 0, "angle": 0}}]}),
                "shape.radius",
            ),
            (
                serde_json::json!({"sections": [
                {"name": "A", "rows": row, "shape": {"type": "block", "x": 1e9, "y": 0}}]}),
                "shape.x",
            ),
            (
                serde_json::json!({"sections": [
                {"name": "A", "rows": row, "shape": {"type": "block", "x": 0, "y": 0, "seat_spacing": 0}}]}),
                "seat_spacing",
            ),
            (
                serde_json::json!({"sections": [
                {"name": "A", "rows": row, "shape": {"type": "circle", "x": 0, "y": 0}}]}),
                "unknown variant",
            ),
            (
                serde_json::json!({"sections": [
                {"name": "A", "rows": row, "shape": {"type": "block", "x": 0, "y": 0, "z": 1}}]}),
                "unknown field",
            ),
            (
                serde_json::json!({"sections": [{"name": "A", "rows": row}],
                "stage": {"x": 0, "y": 0, "width": -1, "height": 1}}),
                "stage.width",
            ),
        ];
        for (layout, expected) in cases {
            let error = venue(layout.clone()).unwrap_err();
            assert!(
                error.contains(expected),
                "{layout}: {error:?} should mention {expected:?}"
            );
        }
    }
}
