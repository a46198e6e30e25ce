//! The waiting room: order, fairness, rate, nodes, tokens, sold out, abandonment.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::helpers::{
    Settings, TestApp, assert_problem, eventually, in_an_hour, now, spawn_app, spawn_app_with,
};

/// The time (unix ms) of every admission, oldest first: the log the
/// admitting node writes in the same Lua step that admits.
async fn admission_times(app: &TestApp, event_id: i64) -> Vec<i64> {
    let mut redis = app.redis().await;
    let log: Vec<(String, f64)> = redis::cmd("ZRANGE")
        .arg(app.event_key(event_id, "q:admissions"))
        .arg(0)
        .arg(-1)
        .arg("WITHSCORES")
        .query_async(&mut redis)
        .await
        .unwrap();
    log.into_iter().map(|(_, at)| at as i64).collect()
}

/// Over every window `[t_i, t_j]` of the log, how many more were admitted
/// than `rate × (t_j − t_i)` allows; the worst such excess.
fn worst_excess(times: &[i64], rate: f64) -> f64 {
    let mut worst: f64 = 0.0;
    for i in 0..times.len() {
        for j in i..times.len() {
            let window = (times[j] - times[i]) as f64 / 1000.0;
            worst = worst.max((j - i + 1) as f64 - rate * window);
        }
    }
    worst
}

/// What admission may exceed `rate × window` by: one tick's worth plus the
/// one admission a fraction carried between ticks can complete, plus 2 ms of
/// rate for the log's millisecond clock.
fn one_tick(app: &TestApp, rate: f64) -> f64 {
    rate * app.settings.queue.tick_ms as f64 / 1000.0 + 1.0 + rate * 0.002
}

/// Asserts that no window of `times` saw more than `rate × window + one tick`.
fn assert_no_burst(app: &TestApp, times: &[i64], rate: f64, when: &str) {
    let (worst, allowed) = (worst_excess(times, rate), one_tick(app, rate));
    assert!(
        worst <= allowed,
        "{when}: {worst:.1} admissions beyond {rate}/s in one window; one tick's worth (+1 carried, +2 ms) is {allowed:.1} ({} admissions logged)",
        times.len()
    );
}

/// Thousands of buyers join from the test's one address: no join limit.
pub fn unlimited_joins(s: &mut Settings) {
    s.queue.joins_per_second_per_client = 100_000;
}

#[actix_web::test]
async fn waiters_are_admitted_first_come_first_served_and_joining_again_keeps_the_place() {
    let app = spawn_app().await;
    let (_, event_id, _) = app.queued_event(10, 5, None).await;
    let buyers = app.many_buyers(4).await;
    let mut places = Vec::new();
    for (_, token) in &buyers {
        places.push(app.joined(token, event_id).await);
    }
    let again = app.joined(&buyers[1].1, event_id).await;
    assert_eq!(
        again["queue_id"], places[1]["queue_id"],
        "joining again keeps the same place"
    );

    // Poll everyone (a sign of life) and note when each is first admitted.
    let mut admitted_at: HashMap<usize, Instant> = HashMap::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while admitted_at.len() < buyers.len() {
        assert!(
            Instant::now() < deadline,
            "not everyone was admitted: {admitted_at:?}"
        );
        for (i, (_, token)) in buyers.iter().enumerate() {
            if !admitted_at.contains_key(&i)
                && app.queue_status(token, event_id).await["admitted"] == true
            {
                admitted_at.insert(i, Instant::now());
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut order: Vec<usize> = (0..buyers.len()).collect();
    order.sort_by_key(|i| admitted_at[i]);
    assert_eq!(order, vec![0, 1, 2, 3]);
}

#[actix_web::test]
async fn a_position_stream_counts_down_and_ends_with_the_queue_token() {
    let app = spawn_app().await;
    let (_, event_id, seats) = app.queued_event(10, 2, None).await;
    let buyers = app.many_buyers(4).await;
    for (_, token) in &buyers {
        app.joined(token, event_id).await;
    }
    let last = &buyers[3].1;
    let mut stream = app.queue_events(last, event_id).await;
    let mut positions = Vec::new();
    let token = loop {
        let event = stream.next(Duration::from_secs(3)).await;
        match event.event.as_str() {
            "position" => positions.push(event.data["position"].as_u64().unwrap()),
            "admitted" => break event.data["queue_token"].as_str().unwrap().to_owned(),
            other => panic!("unexpected {other}"),
        }
    };
    assert!(
        positions.len() >= 2 && positions.windows(2).all(|w| w[0] >= w[1]),
        "{positions:?}"
    );
    let booked = app
        .reserve_queued(last, event_id, &[seats[0]], Some(&token))
        .await;
    assert_eq!(booked.status(), 201);
}

#[actix_web::test]
async fn booking_an_event_with_a_waiting_room_needs_a_valid_queue_token() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (event_id, seats) = app.event_with_seats(4).await;
    let (other_event, _) = app.event_with_seats(1).await;
    app.configure_queue(&admin, event_id, 50, None).await;
    app.configure_queue(&admin, other_event, 50, None).await;
    let buyers = app.many_buyers(2).await;
    let (alice, bob) = (&buyers[0], &buyers[1]);
    for event in [event_id, other_event] {
        app.joined(&alice.1, event).await;
    }
    let mut tokens = HashMap::new();
    for event in [event_id, other_event] {
        tokens.insert(event, app.queue_token(&alice.1, event).await);
    }
    let book = async |token: &str, queue_token: Option<String>| {
        let queue_token = queue_token.as_deref();
        app.reserve_queued(token, event_id, &[seats[0]], queue_token)
            .await
    };
    let signer = boxoffice::auth::Signer::new(
        app.settings.auth.signing_secret.clone(),
        Duration::from_secs(60),
    );
    let expired = boxoffice::waiting_room::token::sign(
        &signer,
        actors::model::EventId(event_id),
        actors::model::UserId(alice.0),
        chrono::Utc::now() - chrono::Duration::seconds(5),
    );
    let forged = tokens[&event_id].replacen(&format!(".{}.", alice.0), &format!(".{}.", bob.0), 1);
    assert_problem(book(&alice.1, None).await, 403, "queue_token_required").await;
    assert_problem(
        book(&alice.1, Some("Q1.garbage".into())).await,
        403,
        "queue_token_invalid",
    )
    .await;
    assert_problem(book(&bob.1, Some(forged)).await, 403, "queue_token_invalid").await;
    assert_problem(
        book(&bob.1, Some(tokens[&event_id].clone())).await,
        403,
        "queue_token_invalid",
    )
    .await;
    assert_problem(
        book(&alice.1, Some(tokens[&other_event].clone())).await,
        403,
        "queue_token_invalid",
    )
    .await;
    assert_problem(
        book(&alice.1, Some(expired)).await,
        403,
        "queue_token_invalid",
    )
    .await;
    assert_eq!(app.count("bookings").await, 0);
    assert_eq!(
        book(&alice.1, Some(tokens[&event_id].clone()))
            .await
            .status(),
        201
    );
}

#[actix_web::test]
async fn admission_follows_the_configured_rate_with_no_opening_burst_and_a_change_applies_live() {
    let app = spawn_app_with(unlimited_joins).await;
    let admin = app.admin_token().await;
    let (event_id, _) = app.event_with_seats(10).await;
    // The room is on with the sale open (a node admits for it; nobody waits
    // yet) before the operator sets an on-sale time: no admission slots may
    // build up meanwhile.
    app.configure_queue(&admin, event_id, 100, None).await;
    eventually("a node admits for the event", || async {
        app.queue_report(&admin, event_id).await["lease_holder"].is_string()
    })
    .await;
    app.configure_queue(&admin, event_id, 100, Some(&in_an_hour()))
        .await;
    // Settings apply within a second: from then on nobody is admitted until
    // the sale opens.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let buyers = app.many_buyers(1800).await;
    app.join_many(&buyers, event_id).await;
    assert_eq!(app.queue_report(&admin, event_id).await["waiting"], 1800);
    app.open_sale(&admin, event_id, 100).await;

    let (start, at_start) = (Instant::now(), app.admitted_total(&admin, event_id).await);
    tokio::time::sleep(Duration::from_secs(10)).await;
    let admitted = app.admitted_total(&admin, event_id).await - at_start;
    let rate = admitted as f64 / start.elapsed().as_secs_f64();
    assert!(
        (95.0..=105.0).contains(&rate),
        "100/s configured, {rate:.1}/s admitted ({admitted})"
    );
    // Over any window, from the opening tick on.
    assert_no_burst(
        &app,
        &admission_times(&app, event_id).await,
        100.0,
        "at 100/s from the opening",
    );

    app.configure_queue(&admin, event_id, 40, None).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (start, at_start) = (Instant::now(), app.admitted_total(&admin, event_id).await);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rate = (app.admitted_total(&admin, event_id).await - at_start) as f64
        / start.elapsed().as_secs_f64();
    assert!(
        (34.0..=46.0).contains(&rate),
        "40/s after the change, {rate:.1}/s admitted"
    );
    let report = app.queue_report(&admin, event_id).await;
    assert!(
        report["admitted_last_minute"].as_u64().unwrap() >= 1000,
        "{report}"
    );
}

#[actix_web::test]
async fn two_nodes_admit_at_the_configured_rate_and_one_takes_over_when_the_other_stops() {
    two_nodes_admit_at_the_rate_across_a_takeover(spawn_app_with(unlimited_joins).await).await;
}

/// `a` and a peer admit 50/s together, and the survivor goes on at that
/// rate when the lease holder stops. (Also run on a Redis Cluster,
/// `redis_cluster`.)
pub async fn two_nodes_admit_at_the_rate_across_a_takeover(a: TestApp) {
    let b = a.peer().await;
    let (admin, event_id, _) = a.queued_event(10, 50, Some(&in_an_hour())).await;
    a.join_many(&a.many_buyers(900).await, event_id).await;
    a.open_sale(&admin, event_id, 50).await;
    let (start, at_start) = (Instant::now(), a.admitted_total(&admin, event_id).await);
    tokio::time::sleep(Duration::from_secs(5)).await;
    let rate = (a.admitted_total(&admin, event_id).await - at_start) as f64
        / start.elapsed().as_secs_f64();
    assert!(
        (45.0..=55.0).contains(&rate),
        "two nodes, 50/s configured: {rate:.1}/s"
    );

    // Stop whichever node holds the lease; the other takes over.
    let holder = a.queue_report(&admin, event_id).await["lease_holder"]
        .as_str()
        .unwrap()
        .to_owned();
    let (survivor, stopped) = if a.node_id().await == holder {
        (&b, &a)
    } else {
        (&a, &b)
    };
    stopped.stop().await;
    let survivor_id = survivor.node_id().await;
    eventually("the surviving node holds the lease", || async {
        survivor.queue_report(&admin, event_id).await["lease_holder"] == survivor_id
    })
    .await;
    let before = survivor.admitted_total(&admin, event_id).await;
    eventually("admission goes on", || async {
        survivor.admitted_total(&admin, event_id).await > before + 20
    })
    .await;
    assert_no_burst(
        survivor,
        &admission_times(survivor, event_id).await,
        50.0,
        "on two nodes, across the takeover",
    );
}

#[actix_web::test]
async fn early_arrivals_are_shuffled_at_on_sale_verifiably_from_the_published_seed() {
    let app = spawn_app().await;
    let (admin, event_id, _) = app.queued_event(10, 1, Some(&in_an_hour())).await;
    let buyers = app.many_buyers(20).await;
    for (_, token) in &buyers {
        let place = app.joined(token, event_id).await;
        assert!(
            place["position"].is_null(),
            "no position before the draw: {place}"
        );
    }
    let before = app.fairness(event_id).await;
    let published = before["seed_sha256"].as_str().unwrap().to_owned();
    assert!(
        before["seed"].is_null(),
        "the seed stays secret until the sale opens"
    );

    app.configure_queue(&admin, event_id, 1, Some(&now())).await;
    eventually("the draw happened", || async {
        app.fairness(event_id).await["shuffled"] == true
    })
    .await;
    let after = app.fairness(event_id).await;
    let seed = after["seed"].as_str().unwrap();
    assert_eq!(
        format!("{:x}", Sha256::digest(seed.as_bytes())),
        published,
        "the seed matches its published hash"
    );

    let mut expected: Vec<i64> = buyers.iter().map(|(id, _)| *id).collect();
    expected.sort_by_key(|id| Sha256::digest(format!("{seed}:{id}").as_bytes()).to_vec());
    let mut by_position = Vec::new();
    for (id, token) in &buyers {
        let standing = app.queue_status(token, event_id).await;
        let position = if standing["admitted"] == true {
            0
        } else {
            standing["position"].as_u64().unwrap()
        };
        by_position.push((position, *id));
    }
    by_position.sort();
    let actual: Vec<i64> = by_position.into_iter().map(|(_, id)| id).collect();
    assert_eq!(
        actual, expected,
        "the order is the one anyone can recompute from the seed"
    );
    assert_ne!(
        actual,
        buyers.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
        "arrival order did not survive"
    );
}

#[actix_web::test]
async fn waiters_hear_sold_out_and_admission_resumes_when_holds_expire() {
    let app = spawn_app_with(|s| s.booking.hold_seconds = 2).await;
    let (_, event_id, seats) = app.queued_event(1, 20, None).await;
    let buyers = app.many_buyers(2).await;
    let (first, second) = (&buyers[0], &buyers[1]);
    app.hold_through_queue(&first.1, event_id, &seats).await;

    app.joined(&second.1, event_id).await;
    let mut stream = app.queue_events(&second.1, event_id).await;
    let mut heard_sold_out = false;
    let admitted = loop {
        let event = stream.next(Duration::from_secs(10)).await;
        match event.event.as_str() {
            "sold_out" if event.data["sold_out"] == true => heard_sold_out = true,
            "admitted" => break event,
            _ => {}
        }
    };
    assert!(heard_sold_out, "the waiter was told nothing was left");
    assert!(
        admitted.data["queue_token"].is_string(),
        "admission resumed after the hold expired"
    );
}

#[actix_web::test]
async fn a_silent_waiter_is_skipped_at_the_front_and_a_polling_one_is_not() {
    let app = spawn_app_with(|s| s.queue.grace_seconds = 2).await;
    let (admin, event_id, _) = app.queued_event(10, 5, Some(&in_an_hour())).await;
    let buyers = app.many_buyers(2).await;
    let (silent, polling) = (&buyers[0], &buyers[1]);
    app.joined(&silent.1, event_id).await;
    app.joined(&polling.1, event_id).await;

    // One waiter polls all along; the other closed the tab after joining.
    let poll_until_admitted = async {
        let deadline = Instant::now() + Duration::from_secs(20);
        while app.queue_status(&polling.1, event_id).await["admitted"] != true {
            assert!(
                Instant::now() < deadline,
                "the polling waiter was never admitted"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    let open_sale_later = async {
        tokio::time::sleep(Duration::from_millis(2500)).await; // the silent one's grace runs out
        app.configure_queue(&admin, event_id, 5, Some(&now())).await;
    };
    futures_util::join!(poll_until_admitted, open_sale_later);
    // Asking the silent waiter's status would be a sign of life: watch the line instead.
    eventually("the line emptied", || async {
        app.queue_report(&admin, event_id).await["waiting"] == 0
    })
    .await;

    let late = app.queue_status(&silent.1, event_id).await;
    assert_eq!(
        late["admitted"], false,
        "a closed tab took no admission: {late}"
    );
    assert!(late["position"].is_null(), "and left the line: {late}");
    assert_eq!(
        app.queue_report(&admin, event_id).await["admitted_total"],
        1
    );
}

#[actix_web::test]
async fn joining_needs_a_waiting_room_and_redis_and_issued_tokens_outlive_a_redis_outage() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (event_id, _) = app.event_with_seats(1).await;
    let buyer = app.buyer_token().await;
    assert_problem(
        app.join_queue(&buyer, event_id).await,
        409,
        "queue_not_enabled",
    )
    .await;
    assert_problem(
        app.post_json("/events/999999/queue", Some(&buyer), &json!({}))
            .await,
        404,
        "not_found",
    )
    .await;

    app.configure_queue(&admin, event_id, 10, None).await;
    app.joined(&buyer, event_id).await;
    let queue_token = app.queue_token(&buyer, event_id).await;

    // A node that cannot reach Redis: joining is refused, issued tokens still book.
    let down = app
        .peer_with(|s| s.redis.url = secrecy::SecretString::from("redis://127.0.0.1:1/".to_owned()))
        .await;
    let other = app.buyer_token().await;
    let refused = down.join_queue(&other, event_id).await;
    assert_eq!(refused.headers()["retry-after"], "2");
    assert_problem(refused, 503, "service_unavailable").await;
    let seat: i64 = sqlx::query_scalar("SELECT seat_id FROM seats WHERE event_id = $1 LIMIT 1")
        .bind(event_id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let booked = down
        .reserve_queued(&buyer, event_id, &[seat], Some(&queue_token))
        .await;
    assert_eq!(booked.status(), 201, "an issued queue token needs no Redis");

    // Joins per client address are limited.
    let limited = app
        .peer_with(|s| s.queue.joins_per_second_per_client = 1)
        .await;
    let (path, body) = (format!("/events/{event_id}/queue"), json!({}));
    let answers = join_all((0..6).map(|_| limited.post_json(&path, Some(&other), &body))).await;
    let statuses: Vec<u16> = answers.iter().map(|r| r.status().as_u16()).collect();
    assert!(statuses.contains(&429), "{statuses:?}");
}

#[actix_web::test]
async fn turning_the_waiting_room_off_tells_waiters_to_book_directly() {
    let app = spawn_app().await;
    let (admin, event_id, seats) = app.queued_event(2, 1, Some(&in_an_hour())).await;
    let buyers = app.many_buyers(1).await;
    app.joined(&buyers[0].1, event_id).await;
    let mut stream = app.queue_events(&buyers[0].1, event_id).await;
    assert_eq!(stream.next(Duration::from_secs(5)).await.event, "position");

    let off = app
        .put_queue(
            &admin,
            event_id,
            &json!({"enabled": false, "admission_rate_per_sec": 1, "onsale_at": null}),
        )
        .await;
    assert_eq!(off.status(), 200);
    let off: Value = off.json().await.unwrap();
    assert!(
        off["sale_opens_at"].is_null(),
        "an explicit null clears the on-sale time: {off}"
    );
    let closed = loop {
        let event = stream.next(Duration::from_secs(10)).await;
        if event.event != "position" {
            break event;
        }
    };
    assert_eq!(
        (closed.event.as_str(), &closed.data["reason"]),
        ("closed", &json!("queue_disabled"))
    );
    assert_eq!(
        app.reserve(&buyers[0].1, event_id, &seats[..1])
            .await
            .status(),
        201
    );
}

#[actix_web::test]
async fn after_a_sold_out_pause_admission_resumes_at_the_rate_without_a_burst() {
    let app = spawn_app_with(unlimited_joins).await;
    let (admin, event_id, seats) = app.queued_event(2, 100, None).await;
    let buyers = app.many_buyers(301).await;
    let (first, rest) = buyers.split_first().unwrap();
    let booking_id = app.hold_through_queue(&first.1, event_id, &seats).await;
    eventually("the line stops: sold out", || async {
        app.queue_report(&admin, event_id).await["sold_out"] == true
    })
    .await;
    app.join_many(rest, event_id).await;

    // Longer than a second of sold out: nobody is admitted, and no slots
    // build up for later.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(app.admitted_total(&admin, event_id).await, 1);

    assert_eq!(app.release(&first.1, booking_id).await.status(), 200);
    eventually("admission resumed", || async {
        app.admitted_total(&admin, event_id).await > 50
    })
    .await;
    assert_no_burst(
        &app,
        &admission_times(&app, event_id).await,
        100.0,
        "right after sold out ended",
    );
}

/// A line of `waiters` (users 1..=n) on an event no driver of this app
/// looks after (no such event in PostgreSQL), for tests that play the
/// driver themselves.
async fn unattended_line(
    app: &TestApp,
    event: i64,
    waiters: i64,
) -> (
    boxoffice::store::waiting_room::QueueStore,
    actors::model::EventId,
) {
    let redis = boxoffice::store::redis::Redis::connect(&app.settings.redis).unwrap();
    eventually("connected to redis", || async {
        redis.ping().await.is_ok()
    })
    .await;
    let store = boxoffice::store::waiting_room::QueueStore::new(redis);
    let event = actors::model::EventId(event);
    for user in 1..=waiters {
        store
            .join(event, actors::model::UserId(user))
            .await
            .unwrap();
    }
    (store, event)
}

/// An admission step of up to three, now, with a minute's grace.
fn admit_three_now() -> boxoffice::store::waiting_room::Admission {
    boxoffice::store::waiting_room::Admission {
        n: 3,
        at_ms: chrono::Utc::now().timestamp_millis(),
        grace_ms: 60_000,
        expires: chrono::Utc::now().timestamp() + 600,
    }
}

#[actix_web::test]
async fn a_stale_lease_holder_admits_nobody() {
    let app = spawn_app().await;
    let (store, event) = unattended_line(&app, 987_654_321, 3).await;
    assert!(store.lease(event, "old-holder", 60_000).await.unwrap());
    // The old holder stalls past its lease; another node takes it over.
    let mut redis = app.redis().await;
    let _: () = redis::cmd("DEL")
        .arg(app.event_key(event.0, "q:driver"))
        .query_async(&mut redis)
        .await
        .unwrap();
    assert!(store.lease(event, "new-holder", 60_000).await.unwrap());

    let admission = admit_three_now();
    assert_eq!(
        store.admit(event, "old-holder", admission).await.unwrap(),
        None,
        "the stale holder admits nobody"
    );
    let progress = store.progress(event).await.unwrap();
    assert_eq!((progress.waiting, progress.admitted_total), (3, 0));
    assert_eq!(
        store.admit(event, "new-holder", admission).await.unwrap(),
        Some(vec![1, 2, 3]),
        "the holder admits"
    );
}

#[actix_web::test]
async fn when_the_lease_changes_hands_the_old_and_the_new_holder_never_both_admit() {
    // The first node renews its lease so rarely that it would go on believing
    // it holds it long after another node took it.
    let a = spawn_app_with(|s| {
        unlimited_joins(s);
        s.queue.lease_ms = 600_000;
    })
    .await;
    let (admin, event_id, _) = a.queued_event(10, 50, Some(&in_an_hour())).await;
    a.join_many(&a.many_buyers(600).await, event_id).await;
    a.open_sale(&admin, event_id, 50).await;
    assert_eq!(
        a.queue_report(&admin, event_id).await["lease_holder"],
        a.node_id().await
    );
    let b = a.peer_with(|s| s.queue.lease_ms = 900).await;
    let b_id = b.node_id().await;
    // The first node's lease lapses (as if it stalled) and the second takes it.
    let mut redis = a.redis().await;
    let _: () = redis::cmd("SET")
        .arg(a.event_key(event_id, "q:driver"))
        .arg(&b_id)
        .arg("PX")
        .arg(3000)
        .query_async(&mut redis)
        .await
        .unwrap();
    let swapped_at = chrono::Utc::now().timestamp_millis();

    let (start, at_start) = (Instant::now(), a.admitted_total(&admin, event_id).await);
    tokio::time::sleep(Duration::from_secs(4)).await;
    let rate = (a.admitted_total(&admin, event_id).await - at_start) as f64
        / start.elapsed().as_secs_f64();
    assert_eq!(a.queue_report(&admin, event_id).await["lease_holder"], b_id);
    assert!(
        (40.0..=55.0).contains(&rate),
        "50/s configured, {rate:.1}/s admitted across the handover"
    );
    let times: Vec<i64> = admission_times(&a, event_id)
        .await
        .into_iter()
        .filter(|at| *at >= swapped_at - 1000)
        .collect();
    assert_no_burst(&a, &times, 50.0, "across the lease handover");
}

#[actix_web::test]
async fn an_operator_pauses_admission_with_rate_zero_and_waiters_keep_their_places_until_it_resumes()
 {
    let app = spawn_app_with(unlimited_joins).await;
    let admin = app.admin_token().await;
    let (event_id, _) = app.event_with_seats(10).await;
    for rate in [-1, 100_001] {
        let refused = app
            .put_queue(
                &admin,
                event_id,
                &json!({ "enabled": true, "admission_rate_per_sec": rate }),
            )
            .await;
        assert_problem(refused, 400, "validation_failed").await;
    }
    app.configure_queue(&admin, event_id, 20, Some(&in_an_hour()))
        .await;
    let buyers = app.many_buyers(200).await;
    app.join_many(&buyers, event_id).await;
    app.open_sale(&admin, event_id, 20).await;

    // Pause: the room stays on, the operator sees rate 0 and no ETA.
    app.configure_queue(&admin, event_id, 0, None).await;
    let paused = app.queue_report(&admin, event_id).await;
    assert_eq!(
        (
            &paused["enabled"],
            &paused["admission_rate_per_sec"],
            &paused["paused"],
            &paused["eta_last_seconds"]
        ),
        (&json!(true), &json!(0), &json!(true), &Value::Null),
        "{paused}"
    );
    // A waiter still in line: the on-sale draw shuffles the early arrivals,
    // so the last to join may have been admitted before the pause.
    eventually("waiters see the pause", || async {
        waiting_one(&app, &buyers, event_id).await.is_some()
    })
    .await;
    let last = waiting_one(&app, &buyers, event_id)
        .await
        .expect("a waiter still in line sees the pause");
    let newcomer = app.buyer_token().await;
    let joined = app.joined(&newcomer, event_id).await;
    assert_eq!(
        (&joined["paused"], &joined["eta_seconds"]),
        (&json!(true), &Value::Null),
        "joining still works while paused: {joined}"
    );
    let standing = app.queue_status(last, event_id).await;
    assert_eq!(standing["in_queue"], true, "{standing}");
    assert!(
        standing["eta_seconds"].is_null(),
        "no ETA while paused: {standing}"
    );
    let place = standing["position"].as_u64().unwrap();
    let mut stream = app.queue_events(last, event_id).await;
    let shown = stream.next(Duration::from_secs(5)).await;
    assert_eq!(
        (
            shown.event.as_str(),
            &shown.data["paused"],
            &shown.data["position"],
            &shown.data["eta_seconds"]
        ),
        ("position", &json!(true), &json!(place), &Value::Null),
        "{shown:?}"
    );

    // Paused: nobody is admitted and everyone keeps their place.
    let (admitted, waiting) = (
        app.admitted_total(&admin, event_id).await,
        app.queue_report(&admin, event_id).await["waiting"].clone(),
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(app.admitted_total(&admin, event_id).await, admitted);
    assert_eq!(app.queue_report(&admin, event_id).await["waiting"], waiting);
    let still = app.queue_status(last, event_id).await;
    assert_eq!(
        (&still["position"], &still["paused"]),
        (&json!(place), &json!(true))
    );

    // Resumed: admission goes on at the new rate, with no burst.
    let resumed_at = chrono::Utc::now().timestamp_millis();
    app.configure_queue(&admin, event_id, 10, None).await;
    eventually("waiters see admission resume", || async {
        let standing = app.queue_status(last, event_id).await;
        standing["paused"] == false && standing["eta_seconds"].is_u64()
    })
    .await;
    let resumed = loop {
        let event = stream.next(Duration::from_secs(5)).await;
        if event.event == "position" && event.data["paused"] == false {
            break event;
        }
    };
    assert!(resumed.data["eta_seconds"].is_u64(), "{resumed:?}");
    let (start, at_start) = (Instant::now(), app.admitted_total(&admin, event_id).await);
    tokio::time::sleep(Duration::from_secs(4)).await;
    let rate = (app.admitted_total(&admin, event_id).await - at_start) as f64
        / start.elapsed().as_secs_f64();
    assert!(
        (8.0..=12.0).contains(&rate),
        "10/s after resuming, {rate:.1}/s admitted"
    );
    let times: Vec<i64> = admission_times(&app, event_id)
        .await
        .into_iter()
        .filter(|at| *at >= resumed_at)
        .collect();
    assert_no_burst(&app, &times, 10.0, "right after resuming");
}

/// The admitting node reads its settings from PostgreSQL once a second; a
/// pause must not wait for that. From the operator's 200 on, nobody is
/// admitted and waiters are told the line is paused, also while the node
/// still runs on the rate it read before.
#[actix_web::test]
async fn a_pause_holds_from_the_operators_answer_on_though_the_admitting_node_reads_it_later() {
    let app = spawn_app_with(unlimited_joins).await;
    let admin = app.admin_token().await;
    let (event_id, _) = app.event_with_seats(10).await;
    app.configure_queue(&admin, event_id, 200, Some(&in_an_hour()))
        .await;
    let buyers = app.many_buyers(600).await;
    app.join_many(&buyers, event_id).await;
    app.open_sale(&admin, event_id, 200).await;

    app.configure_queue(&admin, event_id, 0, None).await;
    let at_pause = app.admitted_total(&admin, event_id).await;
    let mut waiter = None;
    for (_, token) in buyers.iter().rev() {
        if app.queue_status(token, event_id).await["in_queue"] == true {
            waiter = Some(token);
            break;
        }
    }
    let waiter = waiter.expect("someone is still in line at 200/s");
    // Longer than the node takes to read the pause itself, plus a tick.
    let until = Instant::now() + Duration::from_millis(1500);
    while Instant::now() < until {
        assert_eq!(
            app.admitted_total(&admin, event_id).await,
            at_pause,
            "admitted after the pause was answered"
        );
        let standing = app.queue_status(waiter, event_id).await;
        assert_eq!(
            (&standing["paused"], &standing["eta_seconds"]),
            (&json!(true), &Value::Null),
            "a waiter told the line moves after the pause: {standing}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The settings in Redis only move forward: a node that read the
/// settings before the operator's change cannot write them back, and while
/// they say paused even the lease holder admits nobody.
#[actix_web::test]
async fn admission_settings_in_redis_only_move_forward_and_a_pause_stops_the_lease_holder() {
    let app = spawn_app().await;
    let (store, event) = unattended_line(&app, 987_654_322, 3).await;
    assert!(store.lease(event, "holder", 60_000).await.unwrap());
    assert!(
        store.publish_settings(event, 2, 0).await.unwrap(),
        "the operator's pause"
    );
    assert!(
        !store.publish_settings(event, 1, 50).await.unwrap(),
        "a node's older read is not written"
    );
    assert!(!store.publish_settings(event, 2, 50).await.unwrap());
    assert!(store.progress(event).await.unwrap().paused);
    let admission = admit_three_now();
    assert_eq!(
        store.admit(event, "holder", admission).await.unwrap(),
        Some(vec![]),
        "paused: the holder admits nobody"
    );
    assert_eq!(store.progress(event).await.unwrap().waiting, 3);
    assert!(
        store.publish_settings(event, 3, 10).await.unwrap(),
        "resumed"
    );
    assert!(!store.progress(event).await.unwrap().paused);
    assert_eq!(
        store.admit(event, "holder", admission).await.unwrap(),
        Some(vec![1, 2, 3])
    );
}

/// The last-joined buyer who is still in line and told admission is paused.
async fn waiting_one<'a>(
    app: &TestApp,
    buyers: &'a [(i64, String)],
    event_id: i64,
) -> Option<&'a String> {
    for (_, token) in buyers.iter().rev() {
        let status = app.queue_status(token, event_id).await;
        if status["in_queue"] == true {
            return (status["paused"] == true).then_some(token);
        }
    }
    None
}
