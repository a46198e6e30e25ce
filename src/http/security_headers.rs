//! The headers a security review expects, on every answer (errors, 404s,
//! 405s and CORS preflights included):
//!
//! - `X-Content-Type-Options: nosniff` and a `Referrer-Policy`;
//! - a `Content-Security-Policy` that runs scripts, styles and fonts from
//!   this origin only (no inline script, no `eval`, no plugins, no framing);
//! - a `Permissions-Policy` that denies the camera (and the microphone and
//!   location) to every page but the door page, which scans QR codes;
//! - `Cache-Control: no-store` on every answer whose handler set no caching
//!   of its own: sessions, bookings, tickets, queue tokens, admin answers and
//!   errors are never stored; the public catalog (event listings, layouts)
//!   and the web client's files keep the caching their handlers set.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, HeaderName, HeaderValue, REFERRER_POLICY,
    X_CONTENT_TYPE_OPTIONS,
};
use actix_web::middleware::Next;

/// Where the web client may load from: only this origin. Images may also be
/// `data:` (the API reference's icons are CSS data URLs) and `blob:` (a
/// camera frame); WebSockets to this origin are `'self'` too.
pub const CONTENT_SECURITY_POLICY_VALUE: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self' data: blob:; font-src 'self'; connect-src 'self'; \
     object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

pub const REFERRER_POLICY_VALUE: &str = "strict-origin-when-cross-origin";

/// The page that scans tickets with the camera.
pub const DOOR_PAGE: &str = "/web/door.html";

const PERMISSIONS_POLICY: HeaderName = HeaderName::from_static("permissions-policy");
const NO_DEVICES: &str = "camera=(), microphone=(), geolocation=()";
const DOOR_DEVICES: &str = "camera=(self), microphone=(), geolocation=()";

/// Handlers' and extractors' errors are answers by the time they get here
/// (actix renders them inside the route), so every answer passes through.
pub async fn security_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let devices = if req.path() == DOOR_PAGE {
        DOOR_DEVICES
    } else {
        NO_DEVICES
    };
    let mut response = next.call(req).await?;
    let headers = response.headers_mut();
    let fixed = [
        (X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (REFERRER_POLICY, REFERRER_POLICY_VALUE),
        (CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY_VALUE),
        (PERMISSIONS_POLICY, devices),
    ];
    for (name, value) in fixed {
        headers.insert(name, HeaderValue::from_static(value));
    }
    if !headers.contains_key(CACHE_CONTROL) {
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    Ok(response)
}
