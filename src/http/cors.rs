//! Cross-origin requests, only from the origins in `server.cors_origins`
//! (default: none, and then no CORS header is ever sent).
//!
//! A request from a configured origin gets `Access-Control-Allow-Origin`
//! naming it; its preflight (`OPTIONS` with `Access-Control-Request-Method`)
//! is answered here, 204 with the methods and headers the API takes. From any
//! other origin nothing is added: the preflight reaches the routes and is a
//! 405, so the browser refuses the request. Credentials (the session cookie)
//! are never allowed across origins: a cross-origin client sends its bearer
//! token. With origins configured every answer says `Vary: Origin`, so a
//! shared cache never hands one origin's answer to another.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::http::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN,
    ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE, ACCESS_CONTROL_REQUEST_METHOD,
    HeaderMap, HeaderValue, ORIGIN, VARY,
};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, web};

const ALLOW_METHODS: &str = "GET, POST, PUT, PATCH, DELETE";
const ALLOW_HEADERS: &str =
    "Authorization, Content-Type, Idempotency-Key, X-Queue-Token, Last-Event-ID, If-None-Match";
const EXPOSE_HEADERS: &str = "Retry-After, Location, ETag, Allow";
/// Seconds a browser may reuse a preflight's answer.
const PREFLIGHT_MAX_AGE: &str = "600";

/// The origins allowed to call the API from a browser (`server.cors_origins`).
#[derive(Clone, Default)]
pub struct CorsOrigins(Vec<HeaderValue>);

impl CorsOrigins {
    /// Origins as configured (validated by `Settings::validate`:
    /// `scheme://host[:port]`, no path).
    pub fn new(origins: &[String]) -> CorsOrigins {
        CorsOrigins(
            origins
                .iter()
                .filter_map(|origin| HeaderValue::from_str(origin).ok())
                .collect(),
        )
    }

    /// The request's `Origin` when it is one of ours.
    fn allowed(&self, headers: &HeaderMap) -> Option<HeaderValue> {
        let origin = headers.get(ORIGIN)?;
        self.0
            .iter()
            .find(|allowed| allowed.as_bytes().eq_ignore_ascii_case(origin.as_bytes()))
            .map(|_| origin.clone())
    }
}

pub async fn cors(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let origins = req
        .app_data::<web::Data<CorsOrigins>>()
        .map(|o| o.get_ref().clone())
        .unwrap_or_default();
    if origins.0.is_empty() {
        return Ok(next.call(req).await?.map_into_boxed_body());
    }
    let origin = origins.allowed(req.headers());
    let preflight = req.method() == Method::OPTIONS
        && req.headers().contains_key(ACCESS_CONTROL_REQUEST_METHOD);
    let mut response = match origin.clone() {
        Some(origin) if preflight => req.into_response(
            HttpResponse::NoContent()
                .insert_header((ACCESS_CONTROL_ALLOW_ORIGIN, origin))
                .insert_header((ACCESS_CONTROL_ALLOW_METHODS, ALLOW_METHODS))
                .insert_header((ACCESS_CONTROL_ALLOW_HEADERS, ALLOW_HEADERS))
                .insert_header((ACCESS_CONTROL_MAX_AGE, PREFLIGHT_MAX_AGE))
                .finish(),
        ),
        _ => next.call(req).await?.map_into_boxed_body(),
    };
    let headers = response.headers_mut();
    headers.append(VARY, HeaderValue::from_static("Origin"));
    if let Some(origin) = origin.filter(|_| !preflight) {
        headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        headers.insert(
            ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static(EXPOSE_HEADERS),
        );
    }
    Ok(response)
}
