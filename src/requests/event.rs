//! Events as operators create and change them, and the browse filter.

use actors::model::{EventId, EventStatus, VenueId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

const MAX_PRICE_CENTS: i64 = 100_000_000;
/// The highest admission rate an operator may set (the waiting room's settings
/// and an event's own share it).
pub const MAX_ADMISSION_RATE: i32 = 100_000;

/// Trims `value` and checks it is neither blank nor longer than `max` characters.
pub fn non_blank(field: &str, value: &str, max: usize) -> Result<String, String> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(format!("{field} must not be blank"));
    }
    if trimmed.chars().count() > max {
        return Err(format!("{field} must be at most {max} characters"));
    }
    if trimmed.contains('\0') {
        // PostgreSQL text cannot hold it.
        return Err(format!("{field} must not contain NUL characters"));
    }
    Ok(trimmed.to_owned())
}

fn check_price(price_cents: i64) -> Result<i64, String> {
    if (0..=MAX_PRICE_CENTS).contains(&price_cents) {
        Ok(price_cents)
    } else {
        Err(format!(
            "price_cents must be between 0 and {MAX_PRICE_CENTS}"
        ))
    }
}

fn check_status(status: &str) -> Result<EventStatus, String> {
    status.parse().map_err(|_| {
        let names: Vec<&str> = EventStatus::ALL.iter().map(|s| s.as_str()).collect();
        format!("status must be one of {}", names.join(", "))
    })
}

fn check_rate(rate: i32) -> Result<i32, String> {
    if (1..=MAX_ADMISSION_RATE).contains(&rate) {
        Ok(rate)
    } else {
        Err(format!(
            "admission_rate_per_sec must be between 1 and {MAX_ADMISSION_RATE}"
        ))
    }
}

/// `POST /admin/events`. Text is trimmed before its length is checked.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewEventRequest {
    /// 1 to 200 characters.
    #[schema(schema_with = crate::requests::schema::non_blank::<200>)]
    pub title: String,
    /// An existing venue (others: 422 `unknown_venue`).
    #[schema(value_type = i64, minimum = 1)]
    pub venue_id: VenueId,
    /// 1 to 50 characters.
    #[schema(schema_with = crate::requests::schema::non_blank::<50>)]
    pub category: String,
    pub start_time: DateTime<Utc>,
    /// Seats in no zone cost this.
    #[schema(minimum = 0, maximum = 100_000_000)]
    pub price_cents: i64,
    /// `ON_SALE` when absent.
    #[serde(default)]
    #[schema(value_type = Option<EventStatus>)]
    pub status: Option<String>,
    /// Off when absent.
    #[serde(default)]
    pub queue_enabled: Option<bool>,
    /// 50 when absent.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 100_000)]
    pub admission_rate_per_sec: Option<i32>,
    /// Buyers may cancel their paid bookings (refunded) until then; absent
    /// or null: only an operator refunds.
    #[serde(default)]
    pub cancellable_until: Option<DateTime<Utc>>,
    /// Price zones: names unique, each section in at most one zone, every
    /// section one of the venue's (others: 400).
    #[serde(default)]
    #[schema(max_items = 50)]
    pub zones: Option<Vec<ZoneRequest>>,
}

/// One price zone as an operator submits it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ZoneRequest {
    /// 1 to 50 characters.
    #[schema(schema_with = crate::requests::schema::non_blank::<50>)]
    pub name: String,
    #[schema(minimum = 0, maximum = 100_000_000)]
    pub price_cents: i64,
    /// Section names of the venue, 1 to 50 characters each.
    #[schema(min_items = 1, value_type = Vec<SectionName>)]
    pub sections: Vec<String>,
}

/// A section name in the document: 1 to 50 characters once trimmed.
pub struct SectionName;

impl utoipa::PartialSchema for SectionName {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        crate::requests::schema::non_blank::<50>().into()
    }
}

impl ToSchema for SectionName {}

/// A checked price zone: a named, priced, non-empty set of section names.
/// Whether the venue has those sections is checked when the event is
/// written (`store::catalog::create_event`).
#[derive(Debug, Clone, PartialEq)]
pub struct Zone {
    pub name: String,
    pub price_cents: i64,
    pub sections: Vec<String>,
}

/// Most zones one event may have.
pub const MAX_ZONES: usize = 50;

/// Zone names unique, prices in range, each section in at most one zone.
fn check_zones(zones: Vec<ZoneRequest>) -> Result<Vec<Zone>, String> {
    if zones.len() > MAX_ZONES {
        return Err(format!("an event has at most {MAX_ZONES} zones"));
    }
    let mut names = std::collections::HashSet::new();
    let mut section_zone = std::collections::HashMap::new();
    let mut checked = Vec::with_capacity(zones.len());
    for (i, zone) in zones.into_iter().enumerate() {
        let name = non_blank(&format!("zones[{i}].name"), &zone.name, 50)?;
        if !names.insert(name.clone()) {
            return Err(format!("zones[{i}].name {name:?} is used twice"));
        }
        let price_cents = check_price(zone.price_cents).map_err(|e| format!("zones[{i}].{e}"))?;
        if zone.sections.is_empty() {
            return Err(format!("zones[{i}].sections must not be empty"));
        }
        let mut sections = Vec::with_capacity(zone.sections.len());
        for (j, section) in zone.sections.iter().enumerate() {
            let section = non_blank(&format!("zones[{i}].sections[{j}]"), section, 50)?;
            if let Some(other) = section_zone.insert(section.clone(), name.clone()) {
                return Err(format!(
                    "section {section:?} is in two zones ({other:?} and {name:?})"
                ));
            }
            sections.push(section);
        }
        checked.push(Zone {
            name,
            price_cents,
            sections,
        });
    }
    Ok(checked)
}

#[derive(Debug)]
pub struct NewEvent {
    pub title: String,
    pub venue_id: VenueId,
    pub category: String,
    pub start_time: DateTime<Utc>,
    pub price_cents: i64,
    pub status: EventStatus,
    pub queue_enabled: bool,
    pub admission_rate_per_sec: i32,
    pub cancellable_until: Option<DateTime<Utc>>,
    /// Price zones; seats in none cost `price_cents`.
    pub zones: Vec<Zone>,
}

impl TryFrom<NewEventRequest> for NewEvent {
    type Error = String;

    fn try_from(r: NewEventRequest) -> Result<Self, String> {
        Ok(NewEvent {
            title: non_blank("title", &r.title, 200)?,
            venue_id: r.venue_id,
            category: non_blank("category", &r.category, 50)?,
            start_time: r.start_time,
            price_cents: check_price(r.price_cents)?,
            status: r
                .status
                .map_or(Ok(EventStatus::OnSale), |s| check_status(&s))?,
            queue_enabled: r.queue_enabled.unwrap_or(false),
            admission_rate_per_sec: check_rate(r.admission_rate_per_sec.unwrap_or(50))?,
            cancellable_until: r.cancellable_until,
            zones: check_zones(r.zones.unwrap_or_default())?,
        })
    }
}

/// `PATCH /admin/events/{id}`: any subset of the changeable fields, at
/// least one of them not `null` (`null` is as if absent, except for
/// `cancellable_until`).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventPatchRequest {
    /// 1 to 200 characters.
    #[schema(schema_with = crate::requests::schema::non_blank_or_null::<200>)]
    pub title: Option<String>,
    /// 1 to 50 characters.
    #[schema(schema_with = crate::requests::schema::non_blank_or_null::<50>)]
    pub category: Option<String>,
    pub start_time: Option<DateTime<Utc>>,
    #[schema(minimum = 0, maximum = 100_000_000)]
    pub price_cents: Option<i64>,
    #[schema(value_type = Option<EventStatus>)]
    pub status: Option<String>,
    pub queue_enabled: Option<bool>,
    #[schema(minimum = 1, maximum = 100_000)]
    pub admission_rate_per_sec: Option<i32>,
    /// Accepted only when unchanged: seats belong to the venue (another: 400).
    #[schema(value_type = Option<i64>)]
    pub venue_id: Option<VenueId>,
    /// `null` turns buyer cancellation off; absent leaves it as it is.
    #[serde(default, deserialize_with = "super::present")]
    #[schema(schema_with = crate::requests::schema::date_time_or_null)]
    pub cancellable_until: Option<Option<DateTime<Utc>>>,
}

/// The document's `PATCH /admin/events/{id}` body: [`EventPatchRequest`]'s
/// fields, at least one of them a change, as [`EventPatch::try_from`] asks
/// (`null` is no change, except for `cancellable_until`; `venue_id` never is).
pub struct EventPatchBody;

impl utoipa::PartialSchema for EventPatchBody {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{AllOfBuilder, AnyOfBuilder, ObjectBuilder, Type};
        let changes = [
            ("title", Type::String),
            ("category", Type::String),
            ("start_time", Type::String),
            ("price_cents", Type::Integer),
            ("status", Type::String),
            ("queue_enabled", Type::Boolean),
            ("admission_rate_per_sec", Type::Integer),
        ];
        let mut any = AnyOfBuilder::new();
        for (field, kind) in changes {
            any = any.item(
                ObjectBuilder::new()
                    .property(field, ObjectBuilder::new().schema_type(kind))
                    .required(field),
            );
        }
        any = any.item(ObjectBuilder::new().required("cancellable_until"));
        AllOfBuilder::new()
            .item(utoipa::openapi::Ref::from_schema_name(
                EventPatchRequest::name(),
            ))
            .item(any)
            .into()
    }
}

impl ToSchema for EventPatchBody {
    fn schemas(
        schemas: &mut Vec<(
            String,
            utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
        )>,
    ) {
        use utoipa::PartialSchema;
        schemas.push((
            EventPatchRequest::name().into(),
            EventPatchRequest::schema(),
        ));
        <EventPatchRequest as ToSchema>::schemas(schemas);
    }
}

#[derive(Debug, Default)]
pub struct EventPatch {
    pub title: Option<String>,
    pub category: Option<String>,
    pub start_time: Option<DateTime<Utc>>,
    pub price_cents: Option<i64>,
    pub status: Option<EventStatus>,
    pub queue_enabled: Option<bool>,
    pub admission_rate_per_sec: Option<i32>,
    pub venue_id: Option<VenueId>,
    pub cancellable_until: Option<Option<DateTime<Utc>>>,
}

impl TryFrom<EventPatchRequest> for EventPatch {
    type Error = String;

    fn try_from(r: EventPatchRequest) -> Result<Self, String> {
        let patch = EventPatch {
            title: r.title.map(|t| non_blank("title", &t, 200)).transpose()?,
            category: r
                .category
                .map(|c| non_blank("category", &c, 50))
                .transpose()?,
            start_time: r.start_time,
            price_cents: r.price_cents.map(check_price).transpose()?,
            status: r.status.map(|s| check_status(&s)).transpose()?,
            queue_enabled: r.queue_enabled,
            admission_rate_per_sec: r.admission_rate_per_sec.map(check_rate).transpose()?,
            venue_id: r.venue_id,
            cancellable_until: r.cancellable_until,
        };
        let empty = patch.title.is_none()
            && patch.category.is_none()
            && patch.start_time.is_none()
            && patch.price_cents.is_none()
            && patch.status.is_none()
            && patch.queue_enabled.is_none()
            && patch.admission_rate_per_sec.is_none()
            && patch.cancellable_until.is_none();
        if empty {
            return Err("the patch changes nothing; send at least one field".into());
        }
        Ok(patch)
    }
}

/// The query string of `GET /events`. Blank text filters are ignored;
/// text is matched after trimming.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventListQuery {
    /// Events in this city (exact, case-insensitive).
    #[param(max_length = 100, pattern = r"^[^\u0000]*$", nullable = false)]
    pub city: Option<String>,
    /// Events of this category (exact, case-insensitive).
    #[param(max_length = 100, pattern = r"^[^\u0000]*$", nullable = false)]
    pub category: Option<String>,
    /// Events starting at or after this time.
    #[param(nullable = false)]
    pub from: Option<DateTime<Utc>>,
    /// Events starting before this time (`to` at or before `from`: none).
    #[param(nullable = false)]
    pub to: Option<DateTime<Utc>>,
    /// Text in the title (case-insensitive).
    #[param(max_length = 100, pattern = r"^[^\u0000]*$", nullable = false)]
    pub q: Option<String>,
    /// The `next_cursor` of the previous page.
    #[param(pattern = r"^(-?[0-9]{1,19}_-?[0-9]{1,19})?$", nullable = false)]
    pub cursor: Option<String>,
    /// Page size (default 20).
    #[param(minimum = 1, maximum = 100, nullable = false)]
    pub limit: Option<u32>,
}

/// Position after the last event of a page: keyset pagination on (start_time, event_id).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Cursor {
    pub start_time: DateTime<Utc>,
    pub event_id: EventId,
}

/// The time `micros` after the epoch, within the times both chrono and
/// PostgreSQL hold (4713 BC to 262143 AD): a cursor beyond them names the
/// same position as one at them.
fn storable(micros: i128) -> DateTime<Utc> {
    let earliest = chrono::NaiveDate::from_ymd_opt(-4712, 1, 1)
        .and_then(|day| day.and_hms_opt(0, 0, 0))
        .map_or(0, |time| time.and_utc().timestamp_micros());
    let latest = DateTime::<Utc>::MAX_UTC.timestamp_micros();
    let clamped = micros.clamp(i128::from(earliest), i128::from(latest)) as i64;
    DateTime::from_timestamp_micros(clamped).unwrap_or_default()
}

impl Cursor {
    /// `<start_time in microseconds since the epoch>_<event_id>`: every
    /// string of that form is a position, so a client can only send one the
    /// document describes or a malformed one.
    pub fn encode(&self) -> String {
        format!("{}_{}", self.start_time.timestamp_micros(), self.event_id)
    }

    pub fn decode(s: &str) -> Option<Cursor> {
        let (micros, event_id) = s.split_once('_')?;
        let digits = |part: &str| {
            let unsigned = part.strip_prefix('-').unwrap_or(part);
            (1..=19).contains(&unsigned.len()) && unsigned.bytes().all(|b| b.is_ascii_digit())
        };
        if !digits(micros) || !digits(event_id) {
            return None;
        }
        let event_id: i128 = event_id.parse().ok()?;
        Some(Cursor {
            start_time: storable(micros.parse().ok()?),
            event_id: EventId(event_id.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64),
        })
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct EventFilter {
    pub city: Option<String>,
    pub category: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// Substring of the title, with LIKE wildcards escaped.
    pub title_like: Option<String>,
    pub after: Option<Cursor>,
    pub limit: u32,
}

impl TryFrom<EventListQuery> for EventFilter {
    type Error = String;

    fn try_from(q: EventListQuery) -> Result<Self, String> {
        let limit = q.limit.unwrap_or(20);
        if !(1..=100).contains(&limit) {
            return Err("limit must be between 1 and 100".into());
        }
        let after = match q.cursor.as_deref() {
            None | Some("") => None,
            Some(c) => Some(Cursor::decode(c).ok_or("cursor is not one this server issued")?),
        };
        let clean = |v: Option<String>, field: &str| -> Result<Option<String>, String> {
            match v.as_deref().map(str::trim) {
                None | Some("") => Ok(None),
                Some(s) if s.chars().count() > 100 => {
                    Err(format!("{field} must be at most 100 characters"))
                }
                // PostgreSQL text cannot hold NUL: no event has one.
                Some(s) if s.contains('\0') => Err(format!("{field} must not contain NUL")),
                Some(s) => Ok(Some(s.to_owned())),
            }
        };
        let title_like = clean(q.q, "q")?.map(|s| {
            format!(
                "%{}%",
                s.replace('\\', "\\\\")
                    .replace('%', "\\%")
                    .replace('_', "\\_")
            )
        });
        Ok(EventFilter {
            city: clean(q.city, "city")?,
            category: clean(q.category, "category")?,
            from: q.from,
            to: q.to,
            title_like,
            after,
            limit,
        })
    }
}

#[cfg(test)]
mod tests {
    use chrono::Datelike;

    use super::*;

    #[test]
    fn a_cursor_round_trips_and_garbage_is_refused() {
        // PostgreSQL keeps start times to the microsecond, and so does a cursor.
        let cursor = Cursor {
            start_time: DateTime::from_timestamp_micros(1_924_992_000_123_456).unwrap(),
            event_id: EventId(9),
        };
        assert_eq!(cursor.encode(), "1924992000123456_9");
        assert_eq!(Cursor::decode(&cursor.encode()), Some(cursor));
        for garbage in [
            "not-a-cursor",
            "1_",
            "_1",
            "1_2_3",
            "+1_2",
            "1.5_2",
            "12345678901234567890_1",
        ] {
            let query = EventListQuery {
                cursor: Some(garbage.into()),
                ..Default::default()
            };
            assert!(EventFilter::try_from(query).is_err(), "{garbage:?}");
        }
    }

    #[test]
    fn every_cursor_of_the_documented_form_is_a_position() {
        let far = Cursor::decode("-9999999999999999999_9999999999999999999").unwrap();
        assert_eq!(far.event_id, EventId(i64::MAX));
        assert!(
            far.start_time.year() < -4000,
            "clamped to what PostgreSQL stores"
        );
        let late = Cursor::decode("9999999999999999999_-1").unwrap();
        assert_eq!(late.start_time.year(), DateTime::<Utc>::MAX_UTC.year());
    }

    #[test]
    fn like_wildcards_in_the_search_text_are_literal() {
        let query = EventListQuery {
            q: Some("100%_off".into()),
            ..Default::default()
        };
        let filter = EventFilter::try_from(query).unwrap();
        assert_eq!(filter.title_like.as_deref(), Some("%100\\%\\_off%"));
    }

    fn zone(name: &str, price_cents: i64, sections: &[&str]) -> ZoneRequest {
        ZoneRequest {
            name: name.into(),
            price_cents,
            sections: sections.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn bad_zones_are_refused_with_the_offending_field() {
        let cases = [
            (
                vec![zone("A", 100, &["1"]), zone("A", 200, &["2"])],
                "used twice",
            ),
            (vec![zone("A", -1, &["1"])], "zones[0].price_cents"),
            (vec![zone("A", 100_000_001, &["1"])], "zones[0].price_cents"),
            (vec![zone("A", 100, &[])], "sections must not be empty"),
            (vec![zone(" ", 100, &["1"])], "must not be blank"),
            (
                vec![zone("A", 100, &["1", "2"]), zone("B", 200, &["2"])],
                "section \"2\" is in two zones",
            ),
            (vec![zone("A", 100, &["1", "1"])], "in two zones"),
        ];
        for (zones, expected) in cases {
            let error = check_zones(zones).unwrap_err();
            assert!(
                error.contains(expected),
                "{error:?} should mention {expected:?}"
            );
        }
        let zones = check_zones(vec![zone(" Floor ", 9_900, &[" 101 ", "102"])]).unwrap();
        assert_eq!(
            zones,
            vec![Zone {
                name: "Floor".into(),
                price_cents: 9_900,
                sections: vec!["101".into(), "102".into()],
            }]
        );
    }

    #[test]
    fn a_null_cancellation_deadline_is_a_change_and_an_absent_one_is_not() {
        let off: EventPatchRequest =
            serde_json::from_str(r#"{"cancellable_until": null}"#).unwrap();
        assert_eq!(off.cancellable_until, Some(None));
        let absent: EventPatchRequest = serde_json::from_str(r#"{"title": "x"}"#).unwrap();
        assert_eq!(absent.cancellable_until, None);
        assert!(EventPatch::try_from(off).is_ok());
    }

    #[test]
    fn an_empty_patch_is_refused() {
        assert!(EventPatch::try_from(EventPatchRequest::default()).is_err());
    }
}
