//! The text rules of requests as OpenAPI schemas (`#[schema(schema_with =
//! ...)]`), so the document refuses exactly what the parsers here refuse.
//!
//! The parsers trim with `str::trim` (Unicode `White_Space`) and then count
//! characters; the patterns spell that whitespace out, since `\s` means
//! different sets in different regex dialects.

use utoipa::openapi::SchemaFormat;
use utoipa::openapi::schema::{Object, ObjectBuilder, SchemaType, Type};

/// The characters `char::is_whitespace` accepts, as a regex class body.
pub const WHITESPACE: &str =
    r"\t\n\u000b\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000";

/// A string that is 1 to `MAX` characters once trimmed, without NUL
/// (`event::non_blank`).
pub fn non_blank<const MAX: usize>() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(non_blank_pattern(MAX)))
        .build()
}

/// [`non_blank`], or `null` (as if absent).
pub fn non_blank_or_null<const MAX: usize>() -> Object {
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .pattern(Some(non_blank_pattern(MAX)))
        .build()
}

/// A string with something besides whitespace in it, or `null`.
pub fn not_blank_or_null() -> Object {
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .pattern(Some(format!("[^{WHITESPACE}]")))
        .build()
}

/// A string of 1 to `MAX` characters with something besides whitespace in it
/// (checked untrimmed, then trimmed, as the payment token is).
pub fn token<const MAX: usize>() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(MAX))
        .pattern(Some(format!("[^{WHITESPACE}]")))
        .build()
}

/// Only `null` (a field one form of a body leaves to the other).
pub fn null() -> Object {
    ObjectBuilder::new().schema_type(Type::Null).build()
}

/// An RFC 3339 time, or `null`.
pub fn date_time_or_null() -> Object {
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .format(Some(SchemaFormat::KnownFormat(
            utoipa::openapi::KnownFormat::DateTime,
        )))
        .build()
}

/// Whitespace around 1 to `max` characters that start and end with
/// something else; no NUL anywhere (PostgreSQL text cannot hold it).
fn non_blank_pattern(max: usize) -> String {
    let ws = WHITESPACE;
    let inner = max.saturating_sub(2);
    format!(r"^[{ws}]*[^{ws}\u0000](?:[^\u0000]{{0,{inner}}}[^{ws}\u0000])?[{ws}]*$")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The class as `char::is_whitespace` defines it, in the same notation.
    fn whitespace_class() -> String {
        let spaces: Vec<u32> = (0..=0x10FFFFu32)
            .filter_map(char::from_u32)
            .filter(|c| c.is_whitespace())
            .map(u32::from)
            .collect();
        let name = |c: u32| match c {
            0x09 => r"\t".to_owned(),
            0x0A => r"\n".to_owned(),
            0x0C => r"\f".to_owned(),
            0x0D => r"\r".to_owned(),
            0x20 => " ".to_owned(),
            c => format!(r"\u{c:04x}"),
        };
        let mut class = String::new();
        let mut i = 0;
        while i < spaces.len() {
            let mut j = i;
            while j + 1 < spaces.len() && spaces[j + 1] == spaces[j] + 1 {
                j += 1;
            }
            if j - i >= 2 {
                class += &format!("{}-{}", name(spaces[i]), name(spaces[j]));
            } else {
                for &c in &spaces[i..=j] {
                    class += &name(c);
                }
            }
            i = j + 1;
        }
        class
    }

    #[test]
    fn the_whitespace_class_is_what_str_trim_removes() {
        // \t..\r is one run; spelled out, as regex dialects agree on those escapes.
        let expected = whitespace_class().replace(r"\t-\r", r"\t\n\u000b\f\r");
        assert_eq!(WHITESPACE, expected);
    }

    #[test]
    fn the_non_blank_pattern_allows_max_characters_between_the_first_and_last_non_space() {
        assert_eq!(
            non_blank_pattern(50).replace(WHITESPACE, "W"),
            r"^[W]*[^W\u0000](?:[^\u0000]{0,48}[^W\u0000])?[W]*$"
        );
    }
}
