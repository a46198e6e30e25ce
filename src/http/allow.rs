//! The methods each path answers, read from the OpenAPI document (which
//! `tests/api/ops.rs` keeps route-complete): the `Allow` header of a 405.

use std::sync::OnceLock;

use serde_json::Value;

/// A path template split into segments, `None` for a `{parameter}`.
struct Template {
    segments: Vec<Option<String>>,
    allow: String,
}

fn templates() -> &'static [Template] {
    static TEMPLATES: OnceLock<Vec<Template>> = OnceLock::new();
    TEMPLATES.get_or_init(|| {
        let doc: Value = serde_json::from_str(crate::http::api_doc::document()).unwrap_or_default();
        doc["paths"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(path, operations)| Template {
                segments: path
                    .split('/')
                    .map(|s| (!s.starts_with('{')).then(|| s.to_owned()))
                    .collect(),
                allow: operations
                    .as_object()
                    .into_iter()
                    .flat_map(|o| o.keys())
                    .map(|m| m.to_ascii_uppercase())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
            .collect()
    })
}

/// The `Allow` value for `path` (`GET, POST`), if the server has the path.
pub fn allowed(path: &str) -> Option<&'static str> {
    let segments: Vec<&str> = path.split('/').collect();
    templates()
        .iter()
        .find(|t| {
            t.segments.len() == segments.len()
                && t.segments.iter().zip(&segments).all(|(t, s)| match t {
                    Some(literal) => literal == s,
                    None => !s.is_empty(),
                })
        })
        .map(|t| t.allow.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_known_path_names_its_methods_and_an_unknown_one_nothing() {
        assert_eq!(allowed("/bookings/12"), Some("DELETE, GET"));
        assert_eq!(allowed("/bookings/12/confirm"), Some("POST"));
        assert_eq!(allowed("/bookings//confirm"), None);
        assert_eq!(allowed("/nothing/here"), None);
    }
}
