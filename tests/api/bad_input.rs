//! Every way a request can be wrong is a clear 4xx problem that writes nothing.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{assert_problem, layout, spawn_app};

struct Case {
    name: &'static str,
    method: Method,
    path: String,
    body: Body,
    status: u16,
    code: &'static str,
}

enum Body {
    Json(Value),
    Raw(&'static str, String),
}

fn json_case(
    name: &'static str,
    method: Method,
    path: &str,
    body: Value,
    status: u16,
    code: &'static str,
) -> Case {
    Case {
        name,
        method,
        path: path.into(),
        body: Body::Json(body),
        status,
        code,
    }
}

#[actix_web::test]
async fn bad_input_is_a_4xx_problem_and_changes_nothing() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (venue_id, event_id) = app.venue_and_event(&admin, "Oslo", layout(1, 1, 2)).await;
    let event = |extra: Value| {
        let mut body = json!({"title": "T", "venue_id": venue_id, "category": "c",
                              "start_time": "2030-01-01T00:00:00Z", "price_cents": 1});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    let venue = |layout: Value| json!({"name": "V", "city": "Oslo", "layout": layout});
    let patch = format!("/admin/events/{event_id}");
    let too_many_seats = json!({"sections": (0..201).map(|s| json!({
        "name": format!("S{s}"), "rows": [{"name": "A", "seats": 1000}]})).collect::<Vec<_>>()});
    let cases = vec![
        Case {
            name: "malformed json",
            method: Method::POST,
            path: "/admin/venues".into(),
            body: Body::Raw("application/json", "{\"name\": ".into()),
            status: 400,
            code: "malformed_json",
        },
        Case {
            name: "not json at all",
            method: Method::POST,
            path: "/admin/venues".into(),
            body: Body::Raw("text/plain", "hello".into()),
            status: 415,
            code: "unsupported_media_type",
        },
        Case {
            name: "oversized body",
            method: Method::POST,
            path: "/admin/venues".into(),
            body: Body::Raw(
                "application/json",
                format!("{{\"name\":\"{}\"}}", "x".repeat(2 * 1024 * 1024)),
            ),
            status: 413,
            code: "payload_too_large",
        },
        json_case(
            "empty layout",
            Method::POST,
            "/admin/venues",
            venue(json!({"sections": []})),
            400,
            "validation_failed",
        ),
        json_case(
            "row without seats",
            Method::POST,
            "/admin/venues",
            venue(json!({"sections": [{"name": "A", "rows": [{"name": "1", "seats": 0}]}]})),
            400,
            "validation_failed",
        ),
        json_case(
            "negative seat count",
            Method::POST,
            "/admin/venues",
            venue(json!({"sections": [{"name": "A", "rows": [{"name": "1", "seats": -3}]}]})),
            400,
            "validation_failed",
        ),
        json_case(
            "a 100-million-seat venue",
            Method::POST,
            "/admin/venues",
            venue(
                json!({"sections": [{"name": "A", "rows": [{"name": "1", "seats": 100_000_000}]}]}),
            ),
            400,
            "validation_failed",
        ),
        json_case(
            "over the venue seat cap",
            Method::POST,
            "/admin/venues",
            venue(too_many_seats),
            400,
            "validation_failed",
        ),
        json_case(
            "blank venue name",
            Method::POST,
            "/admin/venues",
            json!({"name": "  ", "city": "Oslo", "layout": layout(1, 1, 1)}),
            400,
            "validation_failed",
        ),
        json_case(
            "unknown field",
            Method::POST,
            "/admin/venues",
            json!({"name": "V", "city": "Oslo", "layout": layout(1, 1, 1), "vip": true}),
            400,
            "validation_failed",
        ),
        json_case(
            "venue id of the wrong type",
            Method::POST,
            "/admin/events",
            event(json!({"venue_id": "one"})),
            400,
            "validation_failed",
        ),
        json_case(
            "missing title",
            Method::POST,
            "/admin/events",
            json!({"venue_id": venue_id, "category": "c", "start_time": "2030-01-01T00:00:00Z", "price_cents": 1}),
            400,
            "validation_failed",
        ),
        json_case(
            "not a timestamp",
            Method::POST,
            "/admin/events",
            event(json!({"start_time": "next friday"})),
            400,
            "validation_failed",
        ),
        json_case(
            "negative price",
            Method::POST,
            "/admin/events",
            event(json!({"price_cents": -1})),
            400,
            "validation_failed",
        ),
        json_case(
            "unknown status",
            Method::POST,
            "/admin/events",
            event(json!({"status": "PARTY"})),
            400,
            "validation_failed",
        ),
        json_case(
            "zero admission rate",
            Method::POST,
            "/admin/events",
            event(json!({"admission_rate_per_sec": 0})),
            400,
            "validation_failed",
        ),
        json_case(
            "empty patch",
            Method::PATCH,
            &patch,
            json!({}),
            400,
            "validation_failed",
        ),
        json_case(
            "blank title patch",
            Method::PATCH,
            &patch,
            json!({"title": ""}),
            400,
            "validation_failed",
        ),
        json_case(
            "guest without email",
            Method::POST,
            "/auth/guest",
            json!({}),
            400,
            "validation_failed",
        ),
        json_case(
            "guest with a bad email",
            Method::POST,
            "/auth/guest",
            json!({"email": "nobody"}),
            400,
            "validation_failed",
        ),
        json_case(
            "short password",
            Method::POST,
            "/auth/signup",
            json!({"email": "a@b.co", "password": "short"}),
            400,
            "validation_failed",
        ),
        json_case(
            "unknown event id",
            Method::GET,
            "/events/999999",
            Value::Null,
            404,
            "not_found",
        ),
        json_case(
            "id out of range",
            Method::GET,
            "/events/99999999999999999999999",
            Value::Null,
            404,
            "not_found",
        ),
        json_case(
            "limit out of range",
            Method::GET,
            "/events?limit=0",
            Value::Null,
            400,
            "validation_failed",
        ),
        json_case(
            "limit of the wrong type",
            Method::GET,
            "/events?limit=lots",
            Value::Null,
            400,
            "validation_failed",
        ),
        json_case(
            "forged cursor",
            Method::GET,
            "/events?cursor=abc",
            Value::Null,
            400,
            "validation_failed",
        ),
        json_case(
            "NUL in the search text",
            Method::GET,
            "/events?q=a%00b",
            Value::Null,
            400,
            "validation_failed",
        ),
        json_case(
            "NUL in the city",
            Method::GET,
            "/events?city=%00",
            Value::Null,
            400,
            "validation_failed",
        ),
    ];

    let tables = ["users", "venues", "venue_seats", "events", "seats"];
    let mut before = Vec::new();
    for table in tables {
        before.push(app.count(table).await);
    }
    for case in cases {
        let mut request = app
            .request(case.method.clone(), &case.path)
            .bearer_auth(&admin);
        request = match case.body {
            Body::Json(Value::Null) => request,
            Body::Json(body) => request.json(&body),
            Body::Raw(content_type, body) => {
                request.header("Content-Type", content_type).body(body)
            }
        };
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        assert!(
            status == case.status,
            "{}: expected {}, got {status}",
            case.name,
            case.status
        );
        assert_problem(response, case.status, case.code).await;
    }
    let mut after = Vec::new();
    for table in tables {
        after.push(app.count(table).await);
    }
    assert_eq!(before, after, "bad input wrote to {tables:?}");
    let details = app.event_details(event_id).await;
    assert_eq!(details["title"], "Show");
}
