//! The span every request is logged in (`tracing-actix-web`'s root span),
//! built so that no secret reaches the log through it.
//!
//! The library's default span records `http.target`, the path and query as
//! sent: `/tickets/{confirmation_number}` with the number, `GET
//! /admin/bookings?q=` with a buyer's email, whatever credentials a client
//! puts in a query string. Here the route is recorded by its pattern
//! (`/tickets/{confirmation_number}`), never the path. A failed request is
//! logged once, by its status and problem `code`: not by the error's text,
//! which may quote the request (serde names an unknown field, a bad value).
//! Unexpected errors log their cause chain where they are answered
//! (`ApiError::error_response`).

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::{Error, HttpMessage};
use tracing::Span;
use tracing::field::Empty;
use tracing_actix_web::{RequestId, RootSpanBuilder};

use super::error::ApiError;

pub struct RequestSpan;

impl RootSpanBuilder for RequestSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        let route = request.match_pattern();
        let route = route.as_deref().unwrap_or("unmatched");
        let user_agent = request
            .headers()
            .get("User-Agent")
            .and_then(|h| h.to_str().ok())
            .unwrap_or("");
        let request_id = request.extensions().get::<RequestId>().copied();
        let client_ip = request
            .connection_info()
            .realip_remote_addr()
            .unwrap_or("")
            .to_owned();
        tracing::info_span!(
            "HTTP request",
            http.method = %request.method(),
            http.route = %route,
            http.client_ip = %client_ip,
            http.user_agent = %user_agent,
            request_id = request_id.map(tracing::field::display),
            http.status_code = Empty,
        )
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        let (status, error) = match outcome {
            Ok(response) => (response.status(), response.response().error()),
            Err(error) => (error.as_response_error().status_code(), Some(error)),
        };
        span.record("http.status_code", status.as_u16());
        let Some(error) = error else {
            return;
        };
        let code = error
            .as_error::<ApiError>()
            .map_or("unexpected", ApiError::code);
        if status.is_server_error() {
            tracing::error!(error.code = code, "request failed");
        } else {
            tracing::warn!(error.code = code, "request refused");
        }
    }
}
