//! The operator's live dashboard stream: who may watch it, its first frame,
//! and samples that follow what happens.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::helpers::{SseClient, TestApp, assert_problem, spawn_app};

const WAIT: Duration = Duration::from_secs(10);

fn dashboard_path(event_id: i64) -> String {
    format!("/admin/events/{event_id}/dashboard/stream")
}

async fn dashboard(app: &TestApp, token: &str, event_id: i64) -> SseClient {
    SseClient::connect_with(
        &app.url(&dashboard_path(event_id)),
        &[("Authorization", format!("Bearer {token}"))],
    )
    .await
}

/// The seats of all sections summed: (available, held, sold).
fn seat_totals(seats: &Value) -> (i64, i64, i64) {
    seats.as_array().unwrap().iter().fold((0, 0, 0), |t, s| {
        (
            t.0 + s["available"].as_i64().unwrap(),
            t.1 + s["held"].as_i64().unwrap(),
            t.2 + s["sold"].as_i64().unwrap(),
        )
    })
}

#[actix_web::test]
async fn only_operators_watch_the_dashboard_of_an_event_that_exists() {
    let app = spawn_app().await;
    let (event_id, _) = app.event_with_seats(2).await;
    let path = dashboard_path(event_id);

    let anonymous = app
        .request(reqwest::Method::GET, &path)
        .send()
        .await
        .unwrap();
    assert_problem(anonymous, 401, "unauthorized").await;
    for token in [app.buyer_token().await, app.door_token().await] {
        let refused = app
            .request(reqwest::Method::GET, &path)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_problem(refused, 403, "forbidden").await;
    }
    let admin = app.admin_token().await;
    let unknown = app
        .request(reqwest::Method::GET, &dashboard_path(999_999))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_problem(unknown, 404, "not_found").await;
}

#[actix_web::test]
async fn the_first_frame_is_a_snapshot_of_the_event_and_samples_follow_its_holds_and_sales() {
    let app = spawn_app().await;
    let (event_id, seats) = app.event_with_seats(4).await;
    let alice = app.buyer_token().await;
    let paid = app.hold(&alice, event_id, &seats[..1]).await;
    app.pays(&alice, paid, "k-paid", "tok_visa").await;
    app.hold(&alice, event_id, &seats[1..2]).await;
    let admin = app.admin_token().await;

    let mut stream = dashboard(&app, &admin, event_id).await;
    let first = stream.next(WAIT).await;
    assert_eq!(first.event, "snapshot");
    assert_eq!(first.data["event_id"], event_id);
    assert_eq!(first.data["interval_ms"], 1000);
    let points = first.data["points"].as_array().unwrap();
    let last = points.last().expect("a point in the snapshot");
    assert_eq!(last["holds_total"], 2);
    assert_eq!(last["sales_total"], 1);
    let price = app.booking(&alice, paid).await["amount_cents"]
        .as_i64()
        .unwrap();
    assert_eq!(last["revenue_cents"], price);
    assert_eq!(last["waiting"], 0, "no waiting room, nobody waiting");
    assert_eq!(seat_totals(&first.data["seats"]), (2, 1, 1));
    assert!(first.data["seats"][0]["section"].is_string());

    // A new hold shows in a sample within a couple of ticks, with its rate.
    let bob = app.buyer_token().await;
    app.hold(&bob, event_id, &seats[2..]).await;
    let deadline = Instant::now() + WAIT;
    let sample = loop {
        assert!(Instant::now() < deadline, "no sample counted the new hold");
        let message = stream.next(WAIT).await;
        assert_eq!(message.event, "sample");
        if message.data["holds_total"] == 3 {
            break message.data;
        }
    };
    assert_eq!(seat_totals(&sample["seats"]), (0, 3, 1));
    assert!(sample["holds_per_sec"].as_f64().unwrap() > 0.0, "{sample}");
    assert!(sample["at"].is_string());

    // A second operator gets the same history, not a fresh board.
    let mut second = dashboard(&app, &admin, event_id).await;
    let snapshot = second.next(WAIT).await;
    assert_eq!(snapshot.event, "snapshot");
    assert!(snapshot.data["points"].as_array().unwrap().len() >= 2);
}
