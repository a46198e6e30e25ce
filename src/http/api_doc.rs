//! The OpenAPI document served at `GET /openapi.json`, derived from the
//! handlers (`#[utoipa::path]`) and the request and response types
//! (`#[derive(ToSchema)]`): a changed field changes the document.
//!
//! Every operation lists each status it can answer, with the problem schema
//! for errors, and every constraint the server enforces on its input, so a
//! client generated from the document sends nothing the server refuses.

use std::sync::OnceLock;

use serde_json::Value;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

use crate::auth::COOKIE_NAME;
use crate::http::{
    admin, auth, bookings, client, dashboard, events, live, ops, refunds, seats, tickets, venues,
    waiting_room,
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "boxoffice",
        description = "Ticket on-sale server that never sells the same seat twice. \
            Errors are RFC 9457 problems (`application/problem+json`) with a \
            machine-readable `code`."
    ),
    paths(
        auth::guest, auth::signup, auth::login,
        client::docs,
        ops::healthz, ops::readyz, ops::metrics, ops::openapi,
        events::list, events::get, venues::layout,
        seats::snapshot, live::stream, live::websocket,
        waiting_room::join, waiting_room::status, waiting_room::stream, waiting_room::fairness,
        waiting_room::configure, waiting_room::report_handler,
        dashboard::stream,
        client::index, client::file, client::nested,
        bookings::create, bookings::get, bookings::release, bookings::confirm, bookings::mine,
        refunds::cancel, refunds::refund,
        tickets::show,
        admin::create_venue, admin::create_event, admin::patch_event, admin::check_in,
        admin::lookup, admin::booking,
    ),
    components(schemas(
        Problem,
        crate::live::frames::FullSnapshot, crate::live::frames::CompactSnapshot, crate::live::frames::DeltaMessage,
        crate::live::dashboard::DashboardSnapshot, crate::live::dashboard::DashboardSample,
    )),
    modifiers(&Security),
    tags(
        (name = "identity", description = "Guest buyers, accounts and sessions"),
        (name = "booking", description = "Holds, payment, release and cancellation"),
        (name = "tickets", description = "A paid booking's tickets"),
        (name = "operator", description = "Venues, events, check-in, bookings and refunds (admin role; check-in also door staff)"),
        (name = "operations", description = "Liveness, readiness, metrics and this document"),
        (name = "browse", description = "Events and venue layouts (cacheable)"),
        (name = "seat map", description = "Seat statuses, fresh or live"),
        (name = "waiting room", description = "The line before an on-sale, and its operator's controls"),
        (name = "dashboard", description = "The operator's live view of a sale"),
        (name = "client", description = "The browser client"),
    )
)]
pub struct ApiDoc;

/// An RFC 9457 problem: every error answer has this shape (`ApiError`).
/// Some problems add members, named in the operation's description (for
/// example the `seat_ids` that were taken).
#[derive(ToSchema)]
#[allow(dead_code)] // documents the body `crate::http::error` writes
pub struct Problem {
    /// A URI naming the problem kind: `https://boxoffice.dev/problems/<code>`.
    #[schema(rename = "type")]
    kind: String,
    title: String,
    status: u16,
    detail: String,
    /// The machine-readable code, such as `seat_unavailable`.
    code: String,
}

/// The two ways to present a session: `Authorization: Bearer <token>`, or
/// the `HttpOnly` cookie the sign-in answers set (for `EventSource`).
struct Security;

impl Modify for Security {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(COOKIE_NAME))),
        );
        // `GET /metrics` from outside `metrics.allow_from`: the configured
        // `metrics.bearer_token`, not a session.
        components.add_security_scheme(
            "metrics_token",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The document as served, built once.
pub fn document() -> &'static str {
    static DOCUMENT: OnceLock<String> = OnceLock::new();
    DOCUMENT.get_or_init(|| {
        let mut doc = serde_json::to_value(ApiDoc::openapi()).expect("the document serialises");
        crate::http::stream_doc::add_event_streams(&mut doc);
        crate::http::client::list_files(&mut doc);
        add_common_problems(&mut doc);
        camel_case_links(&mut doc);
        doc.to_string()
    })
}

/// The answers the extractors give on every route of a kind, listed on each
/// operation that does not list them itself: a JSON body can be malformed
/// (400), too large (413) or not JSON (415); a path id can name nothing or
/// not be an id (404); a protected operation can lack a valid session (401).
fn add_common_problems(doc: &mut Value) {
    const COMMON: [(&str, &str); 5] = [
        (
            "400",
            "`malformed_json` or `validation_failed`: the body is not what the schema says",
        ),
        (
            "413",
            "`payload_too_large`: the body is over `server.max_body_bytes`",
        ),
        (
            "415",
            "`unsupported_media_type`: send the body as `application/json`",
        ),
        (
            "404",
            "`not_found`: nothing has this id, or a path segment is not an id",
        ),
        (
            "401",
            "`unauthorized`: no session, or an expired or forged one",
        ),
    ];
    let Some(paths) = doc["paths"].as_object_mut() else {
        return;
    };
    for operation in paths
        .values_mut()
        .filter_map(Value::as_object_mut)
        .flat_map(|item| item.values_mut())
        .filter(|operation| operation.get("responses").is_some())
    {
        let has_body = operation.get("requestBody").is_some();
        let has_path_id = operation["parameters"]
            .as_array()
            .is_some_and(|ps| ps.iter().any(|p| p["in"] == "path"));
        // An empty requirement ({}) in the list means the session is optional.
        let protected = operation["security"]
            .as_array()
            .is_some_and(|alternatives| {
                !alternatives.is_empty()
                    && alternatives
                        .iter()
                        .all(|a| a.as_object().is_some_and(|a| !a.is_empty()))
            });
        for (status, description) in COMMON {
            let applies = match status {
                "400" | "413" | "415" => has_body,
                "404" => has_path_id,
                _ => protected,
            };
            if applies && operation["responses"][status].is_null() {
                operation["responses"][status] = serde_json::json!({
                    "description": description,
                    "content": {"application/problem+json": {
                        "schema": {"$ref": "#/components/schemas/Problem"}
                    }}
                });
            }
        }
    }
}

/// utoipa 5 writes a Link Object's members in snake case (`operation_id`);
/// OpenAPI spells them `operationId`, `operationRef`, `requestBody`.
fn camel_case_links(doc: &mut Value) {
    let responses = doc["paths"]
        .as_object_mut()
        .into_iter()
        .flat_map(|paths| paths.values_mut())
        .filter_map(Value::as_object_mut)
        .flat_map(|operations| operations.values_mut())
        .filter_map(|operation| operation["responses"].as_object_mut())
        .flat_map(|responses| responses.values_mut());
    for response in responses {
        let links = response.get_mut("links").and_then(Value::as_object_mut);
        for link in links.into_iter().flat_map(|links| links.values_mut()) {
            let Some(link) = link.as_object_mut() else {
                continue;
            };
            for (snake, camel) in [
                ("operation_id", "operationId"),
                ("operation_ref", "operationRef"),
                ("request_body", "requestBody"),
            ] {
                if let Some(value) = link.remove(snake) {
                    link.insert(camel.to_owned(), value);
                }
            }
        }
    }
}
