//! The operator's booking search (`GET /admin/bookings?q=`): one box that
//! takes a booking id, a confirmation number or a buyer's email.

use actors::model::BookingId;
use serde::Deserialize;

/// The query string of `GET /admin/bookings`.
#[derive(Debug, Default, Deserialize)]
pub struct BookingLookupQuery {
    pub q: Option<String>,
}

/// `q` in the document: required, and the text [`BookingLookup::try_from`]
/// takes (utoipa's derive drops `required` beside a `schema_with`).
impl utoipa::IntoParams for BookingLookupQuery {
    fn into_params(
        _: impl Fn() -> Option<utoipa::openapi::path::ParameterIn>,
    ) -> Vec<utoipa::openapi::path::Parameter> {
        use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
        vec![
            ParameterBuilder::new()
                .name("q")
                .parameter_in(ParameterIn::Query)
                .required(utoipa::openapi::Required::True)
                .description(Some(
                    "A booking id (digits), a confirmation number (letters and digits, \
                     any case) or an email (anything with `@`, any case); surrounding \
                     whitespace is ignored, at most 254 characters.",
                ))
                .schema(Some(lookup_text()))
                .build(),
        ]
    }
}

/// The text [`BookingLookup::try_from`] takes: up to 254 characters once
/// trimmed, and digits for an id (up to 18 significant: a 19-digit id over
/// 2^63 - 1 is refused, so the document stops at 18), anything with an `@`,
/// or letters and digits.
fn lookup_text() -> utoipa::openapi::schema::Object {
    use crate::requests::schema::WHITESPACE as W;
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .max_length(Some(254))
        .pattern(Some(format!(
            r"^[{W}]*(?:0*[0-9]{{1,18}}|[^@\u0000]*@[^\u0000]*|[0-9]*[A-Za-z][A-Za-z0-9]*)[{W}]*$"
        )))
        .build()
}

/// What the operator typed, recognised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BookingLookup {
    /// Digits only: a booking id.
    Id(BookingId),
    /// Contains `@`: every booking of every account with this email
    /// (case-insensitive), guests included.
    Email(String),
    /// Anything else: a confirmation number (case-insensitive, as printed).
    ConfirmationNumber(String),
}

impl TryFrom<BookingLookupQuery> for BookingLookup {
    type Error = String;

    fn try_from(query: BookingLookupQuery) -> Result<Self, String> {
        let q = query.q.as_deref().map(str::trim).unwrap_or_default();
        if q.is_empty() {
            return Err("q must be a booking id, a confirmation number or an email".into());
        }
        if q.chars().count() > 254 {
            return Err("q must be at most 254 characters".into());
        }
        if q.contains('\0') {
            return Err("q must not contain NUL characters".into());
        }
        if q.bytes().all(|b| b.is_ascii_digit()) {
            let id: i64 = q
                .parse()
                .map_err(|_| "a booking id is a number up to 2^63".to_owned())?;
            return Ok(BookingLookup::Id(BookingId(id)));
        }
        if q.contains('@') {
            return Ok(BookingLookup::Email(q.to_lowercase()));
        }
        if !q.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err("a confirmation number has only letters and digits".into());
        }
        Ok(BookingLookup::ConfirmationNumber(q.to_ascii_uppercase()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(q: &str) -> Result<BookingLookup, String> {
        BookingLookup::try_from(BookingLookupQuery {
            q: Some(q.to_owned()),
        })
    }

    #[test]
    fn ids_numbers_and_emails_are_told_apart_and_nonsense_is_refused() {
        assert_eq!(parse(" 42 "), Ok(BookingLookup::Id(BookingId(42))));
        assert_eq!(
            parse("Fan@Example.com"),
            Ok(BookingLookup::Email("fan@example.com".into()))
        );
        assert_eq!(
            parse("abc234xyz9"),
            Ok(BookingLookup::ConfirmationNumber("ABC234XYZ9".into()))
        );
        assert!(parse("").is_err());
        assert!(parse("99999999999999999999").is_err());
        assert!(parse("drop table;").is_err());
        assert!(parse(&"a".repeat(300)).is_err());
        assert!(parse("fan\0@example.com").is_err());
    }
}
