//! An operator's change made through one node is obeyed at once by every
//! node where it would otherwise refuse a buyer, and read back at once by
//! the operator through any node (behind nginx, the next request may land
//! on another node). Each node caches an event's sale status and waiting-room
//! settings for a second; a refusal, and an operator's read, go to
//! PostgreSQL.

use serde_json::json;

use crate::helpers::{assert_problem, spawn_app};

#[actix_web::test]
async fn a_sale_opened_through_one_node_sells_at_once_on_another_that_had_it_closed() {
    let a = spawn_app().await;
    let b = a.peer().await;
    let admin = a.admin_token().await;
    let (event_id, seats) = a.event_with_seats(4).await;
    let buyer = b.buyer_token().await;

    let closed = a
        .patch_event(&admin, event_id, &json!({ "status": "SCHEDULED" }))
        .await;
    assert_eq!(closed.status(), 200);
    // Node B refuses, and now holds "SCHEDULED" in its cache.
    assert_problem(
        b.reserve(&buyer, event_id, &seats[..1]).await,
        409,
        "event_not_on_sale",
    )
    .await;

    let opened = a
        .patch_event(&admin, event_id, &json!({ "status": "ON_SALE" }))
        .await;
    assert_eq!(opened.status(), 200);
    // Within B's cache second: B checks its refusal against PostgreSQL.
    let held = b.reserve(&buyer, event_id, &seats[..1]).await;
    assert_eq!(held.status(), 201, "{:?}", held.text().await);
}

#[actix_web::test]
async fn a_waiting_room_change_through_one_node_reads_back_at_once_through_another() {
    let a = spawn_app().await;
    let b = a.peer().await;
    let admin = a.admin_token().await;
    let (event_id, _) = a.event_with_seats(4).await;
    a.configure_queue(&admin, event_id, 2, None).await;
    // Node B reads it, and now holds rate 2 in its cache.
    let before = b.queue_report(&admin, event_id).await;
    assert_eq!(before["admission_rate_per_sec"], 2);

    a.configure_queue(&admin, event_id, 5, None).await;
    let after = b.queue_report(&admin, event_id).await;
    assert_eq!(after["admission_rate_per_sec"], 5);
}
