//! One method per endpoint of the HTTP contract (`/work/shared/API.md`): each
//! sends the request as a client would and returns the raw answer, so a test
//! asserts on it itself. Helpers that also check the answer live in
//! `fixtures.rs`.

use reqwest::{Method, Response};
use serde_json::{Value, json};

use super::app::TestApp;
use super::sse::SseClient;

impl TestApp {
    pub async fn get(&self, path: &str) -> Response {
        self.request(Method::GET, path)
            .send()
            .await
            .expect("request")
    }

    /// GET `path` as the holder of `token`.
    pub async fn get_as(&self, token: &str, path: &str) -> Response {
        self.request(Method::GET, path)
            .bearer_auth(token)
            .send()
            .await
            .expect("request")
    }

    pub async fn post_json(&self, path: &str, token: Option<&str>, body: &Value) -> Response {
        let mut request = self.request(Method::POST, path).json(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("request")
    }

    // ---- Identity ----

    pub async fn guest(&self, email: &str) -> Response {
        self.post_json("/auth/guest", None, &json!({ "email": email }))
            .await
    }

    /// `POST /auth/guest` as fan@example.com, through a proxy that says the
    /// client is `forwarded_for` (an `X-Forwarded-For` chain).
    pub async fn guest_from(&self, forwarded_for: Option<&str>) -> Response {
        let mut request = self
            .request(Method::POST, "/auth/guest")
            .json(&json!({ "email": "fan@example.com" }));
        if let Some(chain) = forwarded_for {
            request = request.header("X-Forwarded-For", chain);
        }
        request.send().await.expect("request")
    }

    pub async fn signup(&self, email: &str, password: &str) -> Response {
        self.post_json(
            "/auth/signup",
            None,
            &json!({ "email": email, "password": password }),
        )
        .await
    }

    pub async fn login(&self, email: &str, password: &str) -> Response {
        self.post_json(
            "/auth/login",
            None,
            &json!({ "email": email, "password": password }),
        )
        .await
    }

    // ---- Catalog ----

    pub async fn create_venue(&self, token: &str, body: &Value) -> Response {
        self.post_json("/admin/venues", Some(token), body).await
    }

    pub async fn create_event(&self, token: &str, body: &Value) -> Response {
        self.post_json("/admin/events", Some(token), body).await
    }

    pub async fn patch_event(&self, token: &str, event_id: i64, body: &Value) -> Response {
        self.request(Method::PATCH, &format!("/admin/events/{event_id}"))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .expect("request")
    }

    /// `GET /events/{id}`, as JSON.
    pub async fn event_details(&self, event_id: i64) -> Value {
        self.get(&format!("/events/{event_id}"))
            .await
            .json()
            .await
            .expect("event json")
    }

    /// `GET /events/{id}/seats`, as JSON.
    pub async fn seat_map(&self, event_id: i64) -> Value {
        self.get(&format!("/events/{event_id}/seats"))
            .await
            .json()
            .await
            .expect("seat map json")
    }

    // ---- Live seat maps ----

    pub fn seat_stream_url(&self, event_id: i64) -> String {
        self.url(&format!("/events/{event_id}/seats/stream"))
    }

    /// `GET /events/{id}/seats/stream` as the client `forwarded_for` (through a
    /// proxy), the raw answer.
    pub async fn open_seat_stream_from(&self, event_id: i64, forwarded_for: &str) -> Response {
        self.request(Method::GET, &format!("/events/{event_id}/seats/stream"))
            .header("Accept", "text/event-stream")
            .header("X-Forwarded-For", forwarded_for)
            .send()
            .await
            .expect("request")
    }

    /// A live seat map subscriber (SSE).
    pub async fn seat_events(&self, event_id: i64) -> SseClient {
        SseClient::connect(&self.seat_stream_url(event_id), None).await
    }

    // ---- Bookings ----

    pub async fn reserve(&self, token: &str, event_id: i64, seats: &[i64]) -> Response {
        self.reserve_queued(token, event_id, seats, None).await
    }

    /// `POST /bookings`, with an `X-Queue-Token` if given.
    pub async fn reserve_queued(
        &self,
        token: &str,
        event_id: i64,
        seats: &[i64],
        queue_token: Option<&str>,
    ) -> Response {
        let mut request = self
            .request(Method::POST, "/bookings")
            .bearer_auth(token)
            .json(&json!({ "event_id": event_id, "seat_ids": seats }));
        if let Some(queue_token) = queue_token {
            request = request.header("X-Queue-Token", queue_token);
        }
        request.send().await.expect("request")
    }

    /// `POST /bookings` with `best_available: {count, zone?}`.
    pub async fn reserve_best(
        &self,
        token: &str,
        event_id: i64,
        count: u32,
        zone: Option<&str>,
    ) -> Response {
        let mut best = json!({ "count": count });
        if let Some(zone) = zone {
            best["zone"] = json!(zone);
        }
        self.request(Method::POST, "/bookings")
            .bearer_auth(token)
            .json(&json!({ "event_id": event_id, "best_available": best }))
            .send()
            .await
            .expect("request")
    }

    pub async fn get_booking(&self, token: &str, booking_id: i64) -> Response {
        self.get_as(token, &format!("/bookings/{booking_id}")).await
    }

    /// `GET /bookings/{id}`, as JSON.
    pub async fn booking(&self, token: &str, booking_id: i64) -> Value {
        self.get_booking(token, booking_id)
            .await
            .json()
            .await
            .expect("booking json")
    }

    /// `GET /admin/bookings/{id}`.
    pub async fn admin_booking(&self, token: &str, booking_id: i64) -> Response {
        self.get_as(token, &format!("/admin/bookings/{booking_id}"))
            .await
    }

    pub async fn release(&self, token: &str, booking_id: i64) -> Response {
        self.request(Method::DELETE, &format!("/bookings/{booking_id}"))
            .bearer_auth(token)
            .send()
            .await
            .expect("request")
    }

    pub async fn confirm(
        &self,
        token: &str,
        booking_id: i64,
        key: Option<&str>,
        payment_token: &str,
    ) -> Response {
        let mut request = self
            .request(Method::POST, &format!("/bookings/{booking_id}/confirm"))
            .bearer_auth(token)
            .json(&json!({ "payment_token": payment_token }));
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        request.send().await.expect("request")
    }

    /// `POST /admin/bookings/{id}/refund` (an operator), with `key` as the
    /// `Idempotency-Key` when given.
    pub async fn refund(&self, token: &str, booking_id: i64, key: Option<&str>) -> Response {
        self.post_with_key(&format!("/admin/bookings/{booking_id}/refund"), token, key)
            .await
    }

    /// `POST /bookings/{id}/cancel` (the buyer), with `key` as the
    /// `Idempotency-Key` when given.
    pub async fn cancel(&self, token: &str, booking_id: i64, key: Option<&str>) -> Response {
        self.post_with_key(&format!("/bookings/{booking_id}/cancel"), token, key)
            .await
    }

    async fn post_with_key(&self, path: &str, token: &str, key: Option<&str>) -> Response {
        let mut request = self.request(Method::POST, path).bearer_auth(token);
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        request.send().await.expect("request")
    }

    /// `GET /admin/bookings?q=`.
    pub async fn lookup_bookings(&self, token: &str, q: &str) -> Response {
        self.request(Method::GET, "/admin/bookings")
            .query(&[("q", q)])
            .bearer_auth(token)
            .send()
            .await
            .expect("request")
    }

    // ---- Tickets ----

    /// `GET /tickets/{number}` as a browser asks for it (the HTML page).
    pub async fn tickets_page(&self, token: &str, number: &str) -> Response {
        self.get_as(token, &format!("/tickets/{number}")).await
    }

    /// The tickets of a confirmation number, as JSON.
    pub async fn tickets_json(&self, token: &str, number: &str) -> Value {
        self.request(Method::GET, &format!("/tickets/{number}"))
            .bearer_auth(token)
            .header("Accept", "application/json")
            .send()
            .await
            .expect("request")
            .json()
            .await
            .expect("tickets json")
    }

    /// `POST /admin/events/{id}/checkin`.
    pub async fn check_in(&self, token: &str, event_id: i64, ticket_code: &str) -> Response {
        self.post_json(
            &format!("/admin/events/{event_id}/checkin"),
            Some(token),
            &json!({ "ticket_code": ticket_code }),
        )
        .await
    }

    // ---- Waiting room ----

    /// `PUT /admin/events/{id}/queue`.
    pub async fn put_queue(&self, token: &str, event_id: i64, body: &Value) -> Response {
        self.request(Method::PUT, &format!("/admin/events/{event_id}/queue"))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .expect("request")
    }

    /// `GET /admin/events/{id}/queue`, as JSON.
    pub async fn queue_report(&self, token: &str, event_id: i64) -> Value {
        self.get_as(token, &format!("/admin/events/{event_id}/queue"))
            .await
            .json()
            .await
            .expect("queue report json")
    }

    /// `POST /events/{id}/queue`.
    pub async fn join_queue(&self, token: &str, event_id: i64) -> Response {
        self.post_json(
            &format!("/events/{event_id}/queue"),
            Some(token),
            &json!({}),
        )
        .await
    }

    /// `GET /events/{id}/queue`, as JSON.
    pub async fn queue_status(&self, token: &str, event_id: i64) -> Value {
        self.get_as(token, &format!("/events/{event_id}/queue"))
            .await
            .json()
            .await
            .expect("queue status json")
    }

    /// `GET /events/{id}/queue/fairness`, as JSON.
    pub async fn fairness(&self, event_id: i64) -> Value {
        self.get(&format!("/events/{event_id}/queue/fairness"))
            .await
            .json()
            .await
            .expect("fairness json")
    }

    /// `GET /events/{id}/queue/stream`, the raw answer.
    pub async fn open_queue_stream(&self, token: &str, event_id: i64) -> Response {
        self.request(Method::GET, &format!("/events/{event_id}/queue/stream"))
            .bearer_auth(token)
            .header("Accept", "text/event-stream")
            .send()
            .await
            .expect("request")
    }

    /// A waiter's position stream (SSE; it needs a caller).
    pub async fn queue_events(&self, token: &str, event_id: i64) -> SseClient {
        SseClient::connect_with(
            &self.url(&format!("/events/{event_id}/queue/stream")),
            &[("Authorization", format!("Bearer {token}"))],
        )
        .await
    }
}
