//! The methods a path answers, read from the OpenAPI document (which a test
//! keeps route-complete): a request with any other method gets 405 with
//! `Allow` instead of 404.

use std::sync::OnceLock;

use serde_json::Value;

/// A documented path, split into segments (`None`: a `{parameter}`), and
/// its methods, upper case.
struct Template {
    segments: Vec<Option<String>>,
    methods: Vec<String>,
}

fn templates() -> &'static [Template] {
    static TEMPLATES: OnceLock<Vec<Template>> = OnceLock::new();
    TEMPLATES.get_or_init(|| {
        let doc: Value = serde_json::from_str(crate::http::api_doc::document()).unwrap_or_default();
        let paths = doc["paths"].as_object().cloned().unwrap_or_default();
        paths
            .into_iter()
            .map(|(path, operations)| Template {
                segments: path
                    .split('/')
                    .map(|s| (!s.starts_with('{')).then(|| s.to_owned()))
                    .collect(),
                methods: operations
                    .as_object()
                    .into_iter()
                    .flat_map(|o| o.keys())
                    .map(|m| m.to_ascii_uppercase())
                    .collect(),
            })
            .collect()
    })
}

/// The methods documented for `path` (empty: no such path). A parameter
/// matches any one non-empty segment.
pub fn methods(path: &str) -> Vec<&'static str> {
    let segments: Vec<&str> = path.split('/').collect();
    let mut methods: Vec<&'static str> = Vec::new();
    for template in templates() {
        let matches =
            template.segments.len() == segments.len()
                && template.segments.iter().zip(&segments).all(
                    |(expected, actual)| match expected {
                        Some(literal) => literal == actual,
                        None => !actual.is_empty(),
                    },
                );
        if matches {
            for method in &template.methods {
                if !methods.contains(&method.as_str()) {
                    methods.push(method);
                }
            }
        }
    }
    methods
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_has_the_methods_of_every_template_it_matches() {
        assert_eq!(methods("/events"), ["GET"]);
        let mut queue = methods("/events/7/queue");
        queue.sort_unstable();
        assert_eq!(queue, ["GET", "POST"]);
        assert_eq!(methods("/events/abc"), ["GET"]);
        assert!(methods("/events//queue").is_empty());
        assert!(methods("/no/such/thing").is_empty());
    }
}
