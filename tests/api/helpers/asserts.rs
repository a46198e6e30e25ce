//! Assertions on answers that many tests make alike.

use reqwest::Response;
use serde_json::Value;

use super::app::TestApp;

/// Reads a problem response and checks its shape; returns the body.
pub async fn assert_problem(response: Response, status: u16, code: &str) -> Value {
    assert_eq!(
        response.status().as_u16(),
        status,
        "status for expected problem {code}"
    );
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(content_type, "application/problem+json");
    let body: Value = response.json().await.expect("problem json");
    assert_eq!(body["code"], code, "problem body: {body}");
    assert_eq!(body["status"], status);
    for member in ["type", "title", "detail"] {
        assert!(body[member].is_string(), "problem lacks {member}: {body}");
    }
    body
}

/// A 429 problem with a `Retry-After` of at least one second.
pub async fn assert_limited(response: Response) {
    let retry_after: u64 = response
        .headers()
        .get("retry-after")
        .expect("a 429 says when to retry")
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after >= 1, "{retry_after}");
    assert_problem(response, 429, "too_many_requests").await;
}

impl TestApp {
    /// Asserts that the event breaks none of the invariants of
    /// `invariants.rs`, naming any it breaks.
    pub async fn assert_no_violations(&self, event_id: i64) {
        assert_eq!(
            crate::invariants::violations(&self.pool, event_id).await,
            Vec::<String>::new()
        );
    }
}
