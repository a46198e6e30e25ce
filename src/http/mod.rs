//! HTTP routes, one module per resource, and the extractor settings that turn
//! malformed input into problem responses.

pub mod admin;
pub mod api_doc;
pub mod auth;
pub mod bookings;
pub mod client;
pub mod client_addr;
pub mod cors;
pub mod dashboard;
pub mod error;
pub mod events;
pub mod extractors;
pub mod hashing;
pub mod json_body;
pub mod limits;
pub mod live;
pub mod methods;
pub mod ops;
pub mod payments;
pub mod refunds;
pub mod request_span;
pub mod seats;
pub mod security_headers;
pub mod stream_doc;
pub mod tickets;
pub mod venues;
pub mod waiting_room;

use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, web};

use error::ApiError;

/// JSON bodies: size-limited, and every way a body can be wrong is a 4xx problem.
pub fn json_config(limit: usize) -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(limit)
        .error_handler(|error, _req| {
            let problem = match &error {
                JsonPayloadError::Overflow { limit }
                | JsonPayloadError::OverflowKnownLength { limit, .. } => ApiError::problem(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload_too_large",
                    "Payload too large",
                    format!("the body must be at most {limit} bytes"),
                ),
                JsonPayloadError::ContentType => ApiError::problem(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported_media_type",
                    "Unsupported media type",
                    "send the body as application/json",
                ),
                JsonPayloadError::Deserialize(e) if e.is_data() => {
                    ApiError::validation(e.to_string())
                }
                JsonPayloadError::Deserialize(e) => ApiError::problem(
                    StatusCode::BAD_REQUEST,
                    "malformed_json",
                    "Malformed JSON",
                    e.to_string(),
                ),
                other => ApiError::problem(
                    StatusCode::BAD_REQUEST,
                    "malformed_json",
                    "Malformed JSON",
                    other.to_string(),
                ),
            };
            problem.into()
        })
}

/// A path segment that is not a valid id names nothing: 404.
pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|error: PathError, _req| {
        ApiError::problem(
            StatusCode::NOT_FOUND,
            "not_found",
            "Not found",
            error.to_string(),
        )
        .into()
    })
}

pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|error: QueryPayloadError, _req| {
        ApiError::validation(error.to_string()).into()
    })
}

/// Unknown routes answer with a problem too (a known path asked with another
/// method is a 405 from its resource: `methods::endpoint`).
pub async fn no_route(req: HttpRequest) -> actix_web::HttpResponse {
    use actix_web::ResponseError;
    ApiError::problem(
        StatusCode::NOT_FOUND,
        "not_found",
        "Not found",
        format!("no route for {} {}", req.method(), req.path()),
    )
    .error_response()
}
