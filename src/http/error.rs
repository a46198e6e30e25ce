//! The one error type of the HTTP boundary, rendered as RFC 9457 problem
//! details (`application/problem+json`) with a stable machine `code`.
//!
//! Expected failures carry their own status and code. Unexpected ones keep
//! their cause chain for the log and give the client a generic body.

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use serde_json::Value;

#[derive(thiserror::Error)]
pub enum ApiError {
    #[error("{detail}")]
    Problem {
        status: StatusCode,
        code: &'static str,
        title: &'static str,
        detail: String,
        /// Extra members of the problem object (for example the seats that were taken).
        extra: Option<Value>,
    },
    /// A dependency (PostgreSQL, Redis) is unreachable or saturated: try again shortly.
    #[error("service unavailable")]
    Unavailable(#[source] anyhow::Error),
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
    /// A per-client limit (`[limits]`): 429 `too_many_requests` with `Retry-After`.
    #[error("{detail}")]
    TooManyRequests {
        detail: String,
        retry_after: Duration,
    },
}

impl ApiError {
    pub fn problem(
        status: StatusCode,
        code: &'static str,
        title: &'static str,
        detail: impl Into<String>,
    ) -> Self {
        ApiError::Problem {
            status,
            code,
            title,
            detail: detail.into(),
            extra: None,
        }
    }

    /// Adds members to the problem object.
    pub fn with_extra(self, value: Value) -> Self {
        match self {
            ApiError::Problem {
                status,
                code,
                title,
                detail,
                ..
            } => ApiError::Problem {
                status,
                code,
                title,
                detail,
                extra: Some(value),
            },
            other => other,
        }
    }

    pub fn validation(detail: impl Into<String>) -> Self {
        Self::problem(
            StatusCode::BAD_REQUEST,
            "validation_failed",
            "Invalid request",
            detail,
        )
    }

    pub fn not_found(what: &str) -> Self {
        Self::problem(
            StatusCode::NOT_FOUND,
            "not_found",
            "Not found",
            format!("{what} not found"),
        )
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::problem(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Authentication required",
            detail,
        )
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::problem(StatusCode::FORBIDDEN, "forbidden", "Forbidden", detail)
    }

    pub fn conflict(code: &'static str, detail: impl Into<String>) -> Self {
        Self::problem(StatusCode::CONFLICT, code, "Conflict", detail)
    }

    /// 429, to be retried after `retry_after` (rounded up to whole seconds).
    pub fn too_many_requests(detail: impl Into<String>, retry_after: Duration) -> Self {
        ApiError::TooManyRequests {
            detail: detail.into(),
            retry_after,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Problem { code, .. } => code,
            ApiError::Unavailable(_) => "service_unavailable",
            ApiError::Internal(_) => "internal_error",
            ApiError::TooManyRequests { .. } => "too_many_requests",
        }
    }
}

/// The code and the detail or cause chain, without backtraces: for tests
/// and debugging, never for the log (a problem's detail may quote the
/// request; `http::request_span` logs the code).
impl std::fmt::Debug for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ApiError::Problem {
                status,
                code,
                detail,
                ..
            } => write!(f, "{} {code}: {detail}", status.as_u16()),
            ApiError::Unavailable(cause) => write!(f, "503 service_unavailable: {cause:#}"),
            ApiError::Internal(cause) => write!(f, "500 internal_error: {cause:#}"),
            ApiError::TooManyRequests { detail, .. } => {
                write!(f, "429 too_many_requests: {detail}")
            }
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        match error {
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
                ApiError::Unavailable(error.into())
            }
            // Text PostgreSQL cannot store (a NUL character): the client's
            // input, refused before anything was written (the statement, and
            // its transaction, failed).
            sqlx::Error::Database(ref db)
                if matches!(db.code().as_deref(), Some("22021" | "22P05")) =>
            {
                ApiError::validation("text must not contain NUL (U+0000) characters")
            }
            other => ApiError::Internal(other.into()),
        }
    }
}

#[derive(Serialize)]
struct ProblemBody<'a> {
    #[serde(rename = "type")]
    kind: String,
    title: &'a str,
    status: u16,
    detail: &'a str,
    code: &'a str,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    extra: Option<&'a Value>,
}

/// A problem body, for answers recorded before they are sent (the checkout's
/// replayed answers): the same shape [`ApiError`] renders.
pub fn problem_body(status: StatusCode, code: &str, title: &str, detail: &str) -> Value {
    serde_json::to_value(ProblemBody::new(status, code, title, detail, None)).unwrap_or_default()
}

impl<'a> ProblemBody<'a> {
    fn new(
        status: StatusCode,
        code: &'a str,
        title: &'a str,
        detail: &'a str,
        extra: Option<&'a Value>,
    ) -> ProblemBody<'a> {
        ProblemBody {
            kind: problem_type(code),
            title,
            status: status.as_u16(),
            detail,
            code,
            extra,
        }
    }
}

fn problem_type(code: &str) -> String {
    format!("https://boxoffice.dev/problems/{}", code.replace('_', "-"))
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Problem { status, .. } => *status,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let (title, detail, extra) = match self {
            ApiError::Problem {
                title,
                detail,
                extra,
                ..
            } => (*title, detail.as_str(), extra.as_ref()),
            ApiError::Unavailable(cause) => {
                tracing::warn!(error.cause_chain = %format!("{cause:#}"), "dependency unavailable");
                (
                    "Service unavailable",
                    "a dependency is unavailable; try again shortly",
                    None,
                )
            }
            ApiError::Internal(cause) => {
                tracing::error!(error.cause_chain = %format!("{cause:#}"), "internal error");
                (
                    "Internal server error",
                    "something went wrong on our side",
                    None,
                )
            }
            ApiError::TooManyRequests { detail, .. } => {
                ("Too many requests", detail.as_str(), None)
            }
        };
        let body = ProblemBody::new(status, self.code(), title, detail, extra);
        let mut response = HttpResponse::build(status);
        response.insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        ));
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response.insert_header((header::RETRY_AFTER, HeaderValue::from_static("2")));
        }
        if let ApiError::TooManyRequests { retry_after, .. } = self {
            let seconds = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
            response.insert_header((header::RETRY_AFTER, seconds.max(1)));
        }
        response.json(body)
    }
}
