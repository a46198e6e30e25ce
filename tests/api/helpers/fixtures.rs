//! Arrange steps shared by the tests: accounts and tokens, venues and events,
//! holds, waiting rooms. Each checks that its step worked, so a test that
//! uses one starts from a known state.

use std::time::Duration;

use boxoffice::auth::{Role, Signer, hash_password};
use boxoffice::store::users;
use futures_util::future::join_all;
use reqwest::Response;
use serde_json::{Value, json};

use super::app::TestApp;
use super::asserts::assert_problem;
use super::waits::eventually;

/// A small layout: `sections` sections of `rows` rows of `seats` seats.
pub fn layout(sections: usize, rows: usize, seats: u32) -> Value {
    json!({
        "sections": (0..sections).map(|s| json!({
            "name": format!("S{s}"),
            "rows": (0..rows).map(|r| json!({"name": format!("R{r}"), "seats": seats})).collect::<Vec<_>>(),
        })).collect::<Vec<_>>()
    })
}

/// An RFC 3339 time an hour from now (an on-sale time still to come).
pub fn in_an_hour() -> String {
    (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339()
}

/// The current time in RFC 3339 (an on-sale time that has come).
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339()
}

/// The `booking_id` of a `201 Created` hold.
pub async fn booking_id(held: Response) -> i64 {
    assert_eq!(held.status(), 201);
    held.json::<Value>().await.unwrap()["booking_id"]
        .as_i64()
        .unwrap()
}

impl TestApp {
    /// A buyer's bearer token.
    pub async fn buyer_token(&self) -> String {
        let body: Value = self
            .guest("fan@example.com")
            .await
            .json()
            .await
            .expect("json");
        body["token"].as_str().expect("token").to_owned()
    }

    /// An operator's bearer token (the account is created as `boxoffice admin create` would).
    pub async fn admin_token(&self) -> String {
        self.staff_token("ops", Role::Admin).await
    }

    /// A door-staff bearer token (as `boxoffice admin create --role door` would make).
    pub async fn door_token(&self) -> String {
        self.staff_token("door", Role::Door).await
    }

    async fn staff_token(&self, name: &str, role: Role) -> String {
        let email = format!("{name}-{}@example.com", uuid::Uuid::new_v4().simple());
        let password = "correct horse battery staple";
        let hash = hash_password(&secrecy::SecretString::from(password)).expect("hash");
        users::create_account(&self.pool, &email, &hash, role)
            .await
            .unwrap_or_else(|e| panic!("{name} account: {e}"));
        let body: Value = self
            .login(&email, password)
            .await
            .json()
            .await
            .expect("json");
        body["token"].as_str().expect("token").to_owned()
    }

    /// Buyers created straight in the database, with their tokens (fast).
    pub async fn many_buyers(&self, n: usize) -> Vec<(i64, String)> {
        let ids: Vec<i64> = sqlx::query_scalar(
            "INSERT INTO users (email) SELECT 'fan' || g || '@example.com' FROM generate_series(1, $1) g RETURNING user_id",
        )
        .bind(n as i32)
        .fetch_all(&self.pool)
        .await
        .unwrap();
        let signer = Signer::new(
            self.settings.auth.signing_secret.clone(),
            Duration::from_secs(3600),
        );
        ids.into_iter()
            .map(|id| (id, signer.issue(actors::model::UserId(id), Role::Buyer)))
            .collect()
    }

    /// Creates a venue and an event in it; returns (venue_id, event_id).
    pub async fn venue_and_event(&self, token: &str, city: &str, layout: Value) -> (i64, i64) {
        let venue: Value = self
            .create_venue(
                token,
                &json!({"name": "Hall", "city": city, "layout": layout}),
            )
            .await
            .json()
            .await
            .expect("venue json");
        let venue_id = venue["venue_id"].as_i64().expect("venue_id");
        let event = self
            .create_event(
                token,
                &json!({"title": "Show", "venue_id": venue_id, "category": "concert",
                        "start_time": "2030-06-01T19:00:00Z", "price_cents": 5000}),
            )
            .await;
        assert_eq!(event.status(), 201);
        let event: Value = event.json().await.expect("event json");
        (venue_id, event["event_id"].as_i64().expect("event_id"))
    }

    /// An event with `seats` seats in one row; returns (event_id, seat ids in order).
    pub async fn event_with_seats(&self, seats: u32) -> (i64, Vec<i64>) {
        let admin = self.admin_token().await;
        let (_, event_id) = self
            .venue_and_event(&admin, "Oslo", layout(1, 1, seats))
            .await;
        let map = self.seat_map(event_id).await;
        let ids = map["seats"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["seat_id"].as_i64().unwrap())
            .collect();
        (event_id, ids)
    }

    /// The seat map's version and its seats' statuses in layout order.
    pub async fn seat_statuses(&self, event_id: i64) -> (i64, Vec<String>) {
        let map = self.seat_map(event_id).await;
        let statuses = map["seats"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["status"].as_str().unwrap().to_owned())
            .collect();
        (map["version"].as_i64().unwrap(), statuses)
    }

    /// Holds `seats` for the holder of `token` (asserting `201`); the booking id.
    pub async fn hold(&self, token: &str, event_id: i64, seats: &[i64]) -> i64 {
        let held = self.reserve(token, event_id, seats).await;
        assert_eq!(held.status(), 201, "{seats:?} should be held");
        booking_id(held).await
    }

    /// Pays for `booking` with `card` under idempotency key `key`, asserting
    /// `200`; the confirmed booking.
    pub async fn pays(&self, token: &str, booking: i64, key: &str, card: &str) -> Value {
        let confirmed = self.confirm(token, booking, Some(key), card).await;
        assert_eq!(confirmed.status(), 200);
        confirmed.json().await.unwrap()
    }

    /// Pays for `booking` with a good card (idempotency key `k`); the code of
    /// its first ticket.
    pub async fn paid_ticket_code(&self, token: &str, booking: i64) -> String {
        let confirmed = self.pays(token, booking, "k", "tok_visa").await;
        let number = confirmed["confirmation_number"].as_str().unwrap();
        let tickets = self.tickets_json(token, number).await;
        tickets["tickets"][0]["code"].as_str().unwrap().to_owned()
    }

    /// Turns the event's waiting room on at `rate` a second, opening at
    /// `onsale_at` (none: at once); asserts `200`.
    pub async fn configure_queue(
        &self,
        admin: &str,
        event_id: i64,
        rate: i32,
        onsale_at: Option<&str>,
    ) {
        let mut body = json!({ "enabled": true, "admission_rate_per_sec": rate });
        if let Some(at) = onsale_at {
            body["onsale_at"] = json!(at);
        }
        let answer = self.put_queue(admin, event_id, &body).await;
        assert_eq!(answer.status(), 200);
    }

    /// An operator, and an event of `seats` seats with its waiting room on
    /// (see [`TestApp::configure_queue`]): (admin token, event_id, seat ids).
    pub async fn queued_event(
        &self,
        seats: u32,
        rate: i32,
        onsale_at: Option<&str>,
    ) -> (String, i64, Vec<i64>) {
        let admin = self.admin_token().await;
        let (event_id, seats) = self.event_with_seats(seats).await;
        self.configure_queue(&admin, event_id, rate, onsale_at)
            .await;
        (admin, event_id, seats)
    }

    /// Joins the event's waiting room (asserting `201`); the place as JSON.
    pub async fn joined(&self, token: &str, event_id: i64) -> Value {
        let answer = self.join_queue(token, event_id).await;
        assert_eq!(answer.status(), 201);
        answer.json().await.unwrap()
    }

    /// Joins every buyer to the event's waiting room, a hundred at a time.
    pub async fn join_many(&self, buyers: &[(i64, String)], event_id: i64) {
        for chunk in buyers.chunks(100) {
            join_all(chunk.iter().map(|(_, token)| self.joined(token, event_id))).await;
        }
    }

    /// Opens the sale now at `rate` a second and waits until the waiting
    /// room has admitted someone.
    pub async fn open_sale(&self, admin: &str, event_id: i64, rate: i32) {
        self.configure_queue(admin, event_id, rate, Some(&now()))
            .await;
        eventually("admission started", || async {
            self.admitted_total(admin, event_id).await > 0
        })
        .await;
    }

    /// Waits until the waiter `token` is admitted; their queue token.
    pub async fn queue_token(&self, token: &str, event_id: i64) -> String {
        eventually("admitted", || async {
            self.queue_status(token, event_id).await["admitted"] == true
        })
        .await;
        self.queue_status(token, event_id).await["queue_token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Joins the event's waiting room, waits to be admitted and holds `seats`
    /// with the queue token (asserting `201`); the booking id.
    pub async fn hold_through_queue(&self, token: &str, event_id: i64, seats: &[i64]) -> i64 {
        self.joined(token, event_id).await;
        let queue_token = self.queue_token(token, event_id).await;
        booking_id(
            self.reserve_queued(token, event_id, seats, Some(&queue_token))
                .await,
        )
        .await
    }

    /// How many the event's waiting room has admitted so far.
    pub async fn admitted_total(&self, admin: &str, event_id: i64) -> u64 {
        self.queue_report(admin, event_id).await["admitted_total"]
            .as_u64()
            .unwrap()
    }

    /// The node id this node reports on `/healthz`.
    pub async fn node_id(&self) -> String {
        self.get("/healthz").await.json::<Value>().await.unwrap()["node_id"]
            .as_str()
            .unwrap()
            .to_owned()
    }
}

impl TestApp {
    /// An event of one seat, and a buyer who holds it: (event_id, the
    /// buyer's token, booking_id).
    pub async fn one_seat_held(&self) -> (i64, String, i64) {
        let (event_id, seats) = self.event_with_seats(1).await;
        let buyer = self.buyer_token().await;
        let booking = self.hold(&buyer, event_id, &seats).await;
        (event_id, buyer, booking)
    }

    /// An event of two seats, and one buyer who holds each seat in a
    /// booking of its own: (event_id, the buyer's token, [booking, booking]).
    pub async fn two_holds(&self) -> (i64, String, [i64; 2]) {
        let (event_id, seats) = self.event_with_seats(2).await;
        let buyer = self.buyer_token().await;
        let first = self.hold(&buyer, event_id, &seats[..1]).await;
        let second = self.hold(&buyer, event_id, &seats[1..]).await;
        (event_id, buyer, [first, second])
    }

    /// Pays for `booking` and loses the answer: the confirm gives up with
    /// `504 payment_timeout` while the charge may still land.
    pub async fn payment_timed_out(&self, token: &str, booking: i64, key: &str, card: &str) {
        assert_problem(
            self.confirm(token, booking, Some(key), card).await,
            504,
            "payment_timeout",
        )
        .await;
    }
}
