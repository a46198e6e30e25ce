//! Logs never carry a secret (issue #14): no token, password, email, card
//! token or ticket code reaches them, even at the most verbose level the
//! server has. The real binary serves every endpoint family with
//! recognisable secrets (each input one carries the same canary) while it
//! logs at `trace` into a file; then it is stopped and the file searched.

use std::time::Duration;

use boxoffice::auth::{Role, hash_password};
use boxoffice::store::users;
use futures_util::StreamExt;
use reqwest::Method;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::helpers::{
    LoggedNode, SseClient, TestApp, assert_problem, booking_id, layout, spawn_app,
};

/// What the test must not find in the log: a name for the report, the value.
#[derive(Default)]
struct Secrets(Vec<(String, String)>);

impl Secrets {
    fn add(&mut self, what: impl Into<String>, value: impl Into<String>) {
        self.0.push((what.into(), value.into()));
    }

    /// A bearer token (session or queue), and its MAC on its own.
    fn add_token(&mut self, what: &str, token: &str) {
        self.add(what, token);
        if let Some((_, mac)) = token.rsplit_once('.') {
            self.add(format!("{what} (its MAC)"), mac);
        }
    }

    /// Each secret found in `log` (case-insensitively: emails and
    /// confirmation numbers are looked up in other cases), with the first
    /// lines that carry it.
    fn leaks(&self, log: &str) -> Vec<String> {
        let lines: Vec<String> = log.lines().map(str::to_lowercase).collect();
        self.0
            .iter()
            .filter_map(|(what, value)| {
                let needle = value.to_lowercase();
                let found: Vec<&String> = lines.iter().filter(|l| l.contains(&needle)).collect();
                (!found.is_empty()).then(|| {
                    let shown: Vec<&str> = found.iter().take(3).map(|l| cut(l, &needle)).collect();
                    format!(
                        "{what} ({value}) in {} lines, e.g.\n    {}",
                        found.len(),
                        shown.join("\n    ")
                    )
                })
            })
            .collect()
    }
}

/// At most 300 characters of `line` around `needle`.
fn cut<'a>(line: &'a str, needle: &str) -> &'a str {
    let at = line.find(needle).unwrap_or(0);
    let mut start = at.saturating_sub(150);
    let mut end = (at + needle.len() + 150).min(line.len());
    while !line.is_char_boundary(start) {
        start -= 1;
    }
    while !line.is_char_boundary(end) {
        end += 1;
    }
    &line[start..end]
}

async fn token_of(answer: reqwest::Response, status: u16) -> String {
    assert_eq!(answer.status(), status);
    answer.json::<Value>().await.unwrap()["token"]
        .as_str()
        .expect("token")
        .to_owned()
}

/// Pays for `booking` with `tok_visa` under `key`, opens its ticket page
/// (the session in the cookie) and reads its tickets: (the confirmation
/// number, the first ticket's code, as its QR code carries it).
async fn paid_ticket(app: &TestApp, buyer: &str, booking: i64, key: &str) -> (String, String) {
    let paid = app.pays(buyer, booking, key, "tok_visa").await;
    let number = paid["confirmation_number"].as_str().unwrap().to_owned();
    let page = get_with_cookie(app, buyer, &format!("/tickets/{number}")).await;
    assert_eq!(page.status(), 200);
    let tickets = app.tickets_json(buyer, &number).await;
    let code = tickets["tickets"][0]["code"].as_str().unwrap().to_owned();
    (number, code)
}

/// `body` with one more member.
fn with_field(mut body: Value, name: &str, value: &str) -> Value {
    body[name] = json!(value);
    body
}

/// GET `path` with the session in the browser's cookie instead of a header.
async fn get_with_cookie(app: &TestApp, token: &str, path: &str) -> reqwest::Response {
    app.request(Method::GET, path)
        .header("Cookie", format!("boxoffice_token={token}"))
        .header("Accept", "application/json")
        .send()
        .await
        .expect("request")
}

#[actix_web::test]
async fn no_token_password_email_card_or_ticket_code_reaches_the_logs_at_trace_level() {
    let mut app = spawn_app().await;
    let canary = format!("cnry{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let mut secrets = Secrets::default();
    secrets.add("the canary every input secret carries", &canary);
    let admin_email = format!("{canary}.ops@example.com");
    let admin_password = format!("{canary}-operator-password");
    let hash = hash_password(&secrecy::SecretString::from(admin_password.clone())).unwrap();
    users::create_account(&app.pool, &admin_email, &hash, Role::Admin)
        .await
        .unwrap();
    // The logged binary is the only node serving this database.
    app.stop().await;
    let node = LoggedNode::start(&app).await;
    app.address = node.address.clone();

    // Identity: a guest, a signup, logins; wrong and malformed input.
    let guest_email = format!("{canary}.guest@example.com");
    let guest = token_of(app.guest(&guest_email).await, 201).await;
    secrets.add_token("a guest's session token", &guest);
    let buyer_email = format!("{canary}.fan@example.com");
    let buyer_password = format!("{canary}-buyer-password");
    let signed_up = token_of(app.signup(&buyer_email, &buyer_password).await, 201).await;
    secrets.add_token("a new account's session token", &signed_up);
    let buyer = token_of(app.login(&buyer_email, &buyer_password).await, 200).await;
    secrets.add_token("a buyer's session token", &buyer);
    let admin = token_of(app.login(&admin_email, &admin_password).await, 200).await;
    secrets.add_token("an operator's session token", &admin);
    let wrong = format!("{canary}-wrong-password");
    assert_problem(
        app.login(&buyer_email, &wrong).await,
        401,
        "invalid_credentials",
    )
    .await;
    let malformed = format!("{canary} at example dot com");
    assert_problem(
        app.signup(&malformed, &buyer_password).await,
        400,
        "validation_failed",
    )
    .await;
    assert_problem(app.guest(&malformed).await, 400, "validation_failed").await;
    let forged = format!("{canary}.forged-session");
    assert_problem(
        app.get_as(&forged, "/me/bookings").await,
        401,
        "unauthorized",
    )
    .await;
    assert_problem(
        get_with_cookie(&app, &forged, "/me/bookings").await,
        401,
        "unauthorized",
    )
    .await;
    // A client that puts credentials in the query string or a field name.
    let in_query = app
        .get(&format!(
            "/auth/login?email={buyer_email}&password={buyer_password}"
        ))
        .await;
    assert!(in_query.status().is_client_error(), "{}", in_query.status());
    let unknown_field = app
        .post_json(
            "/auth/guest",
            None,
            &with_field(
                json!({ "email": buyer_email }),
                &format!("{canary}_password"),
                "x",
            ),
        )
        .await;
    assert_eq!(unknown_field.status(), 400);
    assert_eq!(
        get_with_cookie(&app, &buyer, "/me/bookings").await.status(),
        200
    );

    // Catalog, live maps and the operator's dashboard.
    let (_, event_id) = app.venue_and_event(&admin, "Oslo", layout(1, 1, 6)).await;
    let seats: Vec<i64> = app.seat_map(event_id).await["seats"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["seat_id"].as_i64().unwrap())
        .collect();
    let mut map = SseClient::connect_with(
        &app.seat_stream_url(event_id),
        &[("Cookie", format!("boxoffice_token={buyer}"))],
    )
    .await;
    map.next(Duration::from_secs(10)).await;
    let mut ws = app
        .url(&format!("/events/{event_id}/seats/ws"))
        .replacen("http://", "ws://", 1)
        .into_client_request()
        .unwrap();
    let cookie = format!("boxoffice_token={buyer}").parse().unwrap();
    ws.headers_mut().insert("Cookie", cookie);
    let (mut socket, _) = tokio_tungstenite::connect_async(ws)
        .await
        .expect("websocket handshake");
    let first = tokio::time::timeout(Duration::from_secs(10), socket.next()).await;
    assert!(
        matches!(first, Ok(Some(Ok(Message::Text(_))))),
        "the snapshot: {first:?}"
    );
    let mut board = SseClient::connect_with(
        &app.url(&format!("/admin/events/{event_id}/dashboard/stream")),
        &[("Authorization", format!("Bearer {admin}"))],
    )
    .await;
    board.next(Duration::from_secs(10)).await;

    // The waiting room: its queue token, and a forged one.
    app.configure_queue(&admin, event_id, 100, None).await;
    app.joined(&buyer, event_id).await;
    let mut position = SseClient::connect_with(
        &app.url(&format!("/events/{event_id}/queue/stream")),
        &[("Cookie", format!("boxoffice_token={buyer}"))],
    )
    .await;
    position.next(Duration::from_secs(10)).await;
    let queue_token = app.queue_token(&buyer, event_id).await;
    secrets.add_token("a queue token", &queue_token);
    let forged_queue = format!("{canary}.forged-queue-token");
    assert_eq!(
        app.reserve_queued(&buyer, event_id, &seats[..1], Some(&forged_queue))
            .await
            .status(),
        403
    );

    // Two bookings paid with a card token under keys that carry the
    // canary; a declined attempt with a made-up card; a body with a card
    // number in an unknown field.
    let admitted = booking_id(
        app.reserve_queued(&buyer, event_id, &seats[..1], Some(&queue_token))
            .await,
    )
    .await;
    let refunded = booking_id(
        app.reserve_queued(&buyer, event_id, &seats[1..2], Some(&queue_token))
            .await,
    )
    .await;
    let unpaid = booking_id(
        app.reserve_queued(&buyer, event_id, &seats[2..3], Some(&queue_token))
            .await,
    )
    .await;
    let card = format!("tok_{canary}");
    let declined = app
        .confirm(&buyer, unpaid, Some(&format!("{canary}-key-1")), &card)
        .await;
    assert!(declined.status().is_client_error(), "{}", declined.status());
    let card_number = app
        .request(Method::POST, &format!("/bookings/{unpaid}/confirm"))
        .bearer_auth(&buyer)
        .header("Idempotency-Key", format!("{canary}-key-2"))
        .json(&with_field(
            json!({ "payment_token": "tok_visa" }),
            &format!("{canary}_card"),
            "4242",
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(card_number.status(), 400);
    assert_eq!(app.release(&buyer, unpaid).await.status(), 200);
    secrets.add("the card token that paid", "tok_visa");
    let mut paid = Vec::new();
    for (booking, key) in [(admitted, "key-3"), (refunded, "key-4")] {
        let (number, code) = paid_ticket(&app, &buyer, booking, &format!("{canary}-{key}")).await;
        secrets.add("a confirmation number", &number);
        secrets.add_token("a ticket code", &code);
        paid.push((number, code));
    }
    assert_eq!(app.get_booking(&buyer, admitted).await.status(), 200);

    // The door, the operator's lookups and a refund.
    let (number, code) = &paid[0];
    assert_eq!(app.check_in(&admin, event_id, code).await.status(), 200);
    assert_eq!(app.check_in(&admin, event_id, code).await.status(), 409);
    let forged_code = format!("T1.{admitted}.{event_id}.{}.{canary}", seats[0]);
    assert_problem(
        app.check_in(&admin, event_id, &forged_code).await,
        422,
        "invalid_ticket",
    )
    .await;
    for q in [buyer_email.to_uppercase(), number.to_lowercase()] {
        let found = app.lookup_bookings(&admin, &q).await;
        assert_eq!(found.status(), 200);
        let found: Value = found.json().await.unwrap();
        assert!(
            found["bookings"]
                .as_array()
                .unwrap()
                .iter()
                .any(|b| b["booking_id"] == admitted),
            "{found}"
        );
    }
    assert_eq!(app.admin_booking(&admin, admitted).await.status(), 200);
    assert_problem(
        app.cancel(&buyer, refunded, Some(&format!("{canary}-key-5")))
            .await,
        403,
        "cancellation_not_allowed",
    )
    .await;
    assert_eq!(
        app.refund(&admin, refunded, Some(&format!("{canary}-key-6")))
            .await
            .status(),
        200
    );
    assert_eq!(
        app.check_in(&admin, event_id, &paid[1].1).await.status(),
        410
    );
    drop((map, board, position, socket));

    let log = node.stop().await;

    // The log is the most verbose there is: spans with fields, sqlx's
    // statements, the libraries' trace lines.
    for (what, mark) in [
        ("the request spans", "HTTP request"),
        ("sqlx's statements", "db.statement"),
        ("trace lines", " TRACE "),
        ("the handlers' events", "booking confirmed"),
    ] {
        assert!(log.contains(mark), "the log has no {what} ({mark:?})");
    }
    let mut leaks = secrets.leaks(&log);
    for (what, mark) in [
        ("an Authorization header", "Bearer "),
        ("a session cookie", "boxoffice_token="),
    ] {
        if log.contains(mark) {
            leaks.push(format!("{what} ({mark:?})"));
        }
    }
    assert!(
        leaks.is_empty(),
        "the log ({} lines) carries secrets:\n{}",
        log.lines().count(),
        leaks.join("\n")
    );
}
