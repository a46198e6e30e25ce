//! No seat is ever sold twice: concurrent reservations through two nodes, and
//! through a Redis outage, checked against PostgreSQL and Redis afterwards.

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};

use futures_util::future::join_all;
use rand::Rng;
use rand::seq::SliceRandom;
use serde_json::Value;

use crate::helpers::{TestApp, eventually, spawn_app, spawn_app_with};
use crate::invariants;

/// Sends `requests` reservations of 1–3 seats drawn from `hot`, spread over
/// `nodes` and `buyers`; returns the winners' (booking, seats).
async fn storm(
    nodes: &[&TestApp],
    buyers: &[String],
    event_id: i64,
    hot: &[i64],
    requests: usize,
) -> Vec<(i64, Vec<i64>)> {
    let plans: Vec<(usize, usize, Vec<i64>)> = {
        let mut rng = rand::thread_rng();
        (0..requests)
            .map(|_| {
                let size = rng.gen_range(1..=3);
                let seats = hot.choose_multiple(&mut rng, size).copied().collect();
                (
                    rng.gen_range(0..nodes.len()),
                    rng.gen_range(0..buyers.len()),
                    seats,
                )
            })
            .collect()
    };
    let answers = join_all(
        plans
            .iter()
            .map(|(node, buyer, seats)| nodes[*node].reserve(&buyers[*buyer], event_id, seats)),
    )
    .await;
    let mut winners = Vec::new();
    for (answer, (_, _, seats)) in answers.into_iter().zip(plans) {
        match answer.status().as_u16() {
            201 => {
                let body: Value = answer.json().await.unwrap();
                winners.push((body["booking_id"].as_i64().unwrap(), seats));
            }
            409 => {}
            other => panic!(
                "unexpected status {other}: {}",
                answer.text().await.unwrap_or_default()
            ),
        }
    }
    winners
}

/// Each seat is in at most one winning reservation.
fn assert_one_winner_per_seat(winners: &[(i64, Vec<i64>)]) -> HashMap<i64, i64> {
    let mut owner = HashMap::new();
    for (booking, seats) in winners {
        for seat in seats {
            if let Some(first) = owner.insert(*seat, *booking) {
                panic!("seat {seat} sold to booking {first} and booking {booking}");
            }
        }
    }
    owner
}

async fn buyers(app: &TestApp, n: usize) -> Vec<String> {
    let mut tokens = Vec::new();
    for _ in 0..n {
        tokens.push(app.buyer_token().await);
    }
    tokens
}

#[actix_web::test]
async fn hundreds_of_concurrent_reservations_on_two_nodes_sell_each_seat_once() {
    two_nodes_sell_each_seat_once(spawn_app().await).await;
}

/// Hundreds of racing reservations through `a` and a peer of it: each seat
/// sold once, and the nodes' maps, the bookings and the locks agree. (Also
/// run on a Redis Cluster, `redis_cluster`.)
pub async fn two_nodes_sell_each_seat_once(a: TestApp) {
    let b = a.peer().await;
    let (event_id, seats) = a.event_with_seats(40).await;
    let buyers = buyers(&a, 30).await;

    let mut winners = Vec::new();
    for _ in 0..2 {
        winners.extend(storm(&[&a, &b], &buyers, event_id, &seats[..25], 200).await);
    }
    let owner = assert_one_winner_per_seat(&winners);
    assert!(!winners.is_empty());

    // The seat maps of both nodes, the bookings and the Redis locks agree.
    let expected: Vec<&str> = seats
        .iter()
        .map(|s| {
            if owner.contains_key(s) {
                "RESERVED"
            } else {
                "AVAILABLE"
            }
        })
        .collect();
    for node in [&a, &b] {
        assert_eq!(node.seat_statuses(event_id).await.1, expected);
    }
    assert_eq!(a.count("bookings").await, winners.len() as i64);
    a.assert_no_violations(event_id).await;
    let locks =
        invariants::lock_disagreements(&a.pool, &mut a.redis().await, &a.redis_prefix, event_id)
            .await;
    assert_eq!(locks, Vec::<String>::new());
}

#[actix_web::test]
async fn the_checker_catches_a_double_sale_when_the_guards_are_off() {
    // The concurrency tests are only worth something if their checks can fail:
    // switch the database guards off and plant the double sale they exist to stop.
    let app = spawn_app().await;
    let (event_id, seats) = app.event_with_seats(1).await;
    let alice = app.buyer_token().await;
    let booking = app.hold(&alice, event_id, &seats).await;
    app.assert_no_violations(event_id).await;

    sqlx::query("DROP INDEX booking_seats_active_seat_key")
        .execute(&app.pool)
        .await
        .unwrap();
    let user: i64 = sqlx::query_scalar("SELECT user_id FROM users LIMIT 1")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let second = app.insert_booking_row(event_id, user, "x").await;
    sqlx::query("INSERT INTO booking_seats (booking_id, event_id, seat_id) VALUES ($1, $2, $3)")
        .bind(second)
        .bind(event_id)
        .bind(seats[0])
        .execute(&app.pool)
        .await
        .unwrap();

    let found = invariants::violations(&app.pool, event_id).await;
    assert!(
        found.iter().any(|v| v.contains("in 2 active bookings")),
        "{found:?}"
    );
    let winners = vec![(booking, seats.clone()), (second, seats.clone())];
    let caught = std::panic::catch_unwind(|| assert_one_winner_per_seat(&winners));
    assert!(
        caught.is_err(),
        "the winner check must reject two owners of one seat"
    );
}

/// A Redis server of the test's own, so stopping it disturbs no other test.
struct PrivateRedis {
    child: Child,
    port: u16,
}

impl PrivateRedis {
    fn start_on(port: u16) -> PrivateRedis {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        PrivateRedis { child, port }
    }

    fn start() -> PrivateRedis {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        PrivateRedis::start_on(port)
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Ready with Redis up (`/readyz` stays 200 without it, saying so).
async fn ready(app: &TestApp) -> bool {
    let response = app.get("/readyz").await;
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    body["redis"] == "up"
}

#[actix_web::test]
async fn booking_stays_correct_and_available_when_redis_dies_and_recovers_when_it_returns() {
    let mut redis = PrivateRedis::start();
    let url = redis.url();
    let app = spawn_app_with(|s| s.redis.url = secrecy::SecretString::from(url.clone())).await;
    eventually("the app connected to its redis", || ready(&app)).await;
    let (event_id, seats) = app.event_with_seats(60).await;
    let buyers = buyers(&app, 20).await;
    let hot = &seats[..20];

    // Reservations race while Redis is killed under them.
    let nodes = [&app];
    let before = storm(&nodes, &buyers, event_id, hot, 150);
    let kill = async {
        tokio::time::sleep(std::time::Duration::from_millis(30)).await;
        redis.kill();
    };
    let (mut winners, ()) = futures_util::join!(before, kill);
    // Redis is gone for good now; a storm on seats nobody has held yet must
    // commit holds on PostgreSQL alone.
    assert!(
        redis::Client::open(url.as_str())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .is_err(),
        "redis is down"
    );
    let during = storm(&[&app], &buyers, event_id, &seats[20..30], 150).await;
    assert!(!during.is_empty(), "no hold committed while Redis was down");
    for (booking, seats_held) in &during {
        let (status, held): (String, i64) = sqlx::query_as(
            "SELECT b.status, (SELECT count(*) FROM seats s
                               WHERE s.booking_id = b.booking_id AND s.status = 'RESERVED')
             FROM bookings b WHERE b.booking_id = $1",
        )
        .bind(booking)
        .fetch_one(&app.pool)
        .await
        .unwrap();
        assert_eq!(
            (status.as_str(), held),
            ("PENDING", seats_held.len() as i64)
        );
    }
    let covered: std::collections::HashSet<i64> =
        during.iter().flat_map(|(_, s)| s.iter().copied()).collect();
    assert!(
        covered.len() >= 5,
        "only {} seats sold during the outage",
        covered.len()
    );
    winners.extend(during);
    winners.extend(storm(&[&app], &buyers, event_id, hot, 150).await);
    assert_one_winner_per_seat(&winners);
    app.assert_no_violations(event_id).await;

    // With Redis down, booking keeps working on PostgreSQL alone.
    assert_eq!(
        app.reserve(&buyers[0], event_id, &[seats[30]])
            .await
            .status(),
        201
    );
    assert_eq!(
        app.reserve(&buyers[1], event_id, &[seats[30]])
            .await
            .status(),
        409
    );

    // Redis returns: the lock layer comes back by itself.
    let _redis = PrivateRedis::start_on(redis.port);
    eventually("the app reconnected to redis", || ready(&app)).await;
    eventually("a new hold takes its redis lock again", || async {
        let seat = seats[40 + rand::thread_rng().gen_range(0..20)];
        let held = app.reserve(&buyers[2], event_id, &[seat]).await;
        if held.status() != 201 {
            return false;
        }
        let client = redis::Client::open(url.as_str()).unwrap();
        let Ok(mut conn) = client.get_multiplexed_async_connection().await else {
            return false;
        };
        let key = app.lock_key(event_id, seat);
        let value: Option<String> = redis::cmd("GET")
            .arg(key)
            .query_async(&mut conn)
            .await
            .unwrap_or(None);
        value.is_some()
    })
    .await;
    app.assert_no_violations(event_id).await;
}
