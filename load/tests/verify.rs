//! `boxoffice-load verify` against real PostgreSQL and Redis: a clean sale
//! made through the real server passes, and each planted fault (double sale,
//! double charge, a node's seat map that disagrees with the database, a lost
//! acknowledged booking, a booking by a buyer the waiting room never
//! admitted, a stale hold) fails its check.
//!
//! Each test has its own database (from `BOXOFFICE_TEST_DATABASE_URL`,
//! migrated from `migrations/`) and Redis key prefix, dropped afterwards.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use boxoffice::auth::{Role, hash_password};
use boxoffice::config::Settings;
use boxoffice::startup::Application;
use boxoffice::store::users;
use boxoffice_load::verify::{Extras, VerifyOptions, VerifyReport, verify_with};
use secrecy::SecretString;
use serde_json::{Value, json};
use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, Executor, PgConnection, PgPool};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Every test finishes well within this, or fails.
const DEADLINE: Duration = Duration::from_secs(60);

fn env(name: &str) -> String {
    std::env::var(name)
        .unwrap_or_else(|_| panic!("{name} is not set: run the tests with `make test`"))
}

/// A fresh database and Redis prefix; dropped (both) with the value.
struct Fresh {
    admin_url: String,
    db_name: String,
    db_url: String,
    redis_url: String,
    prefix: String,
    pool: PgPool,
    dir: PathBuf,
}

impl Fresh {
    async fn new() -> Fresh {
        let admin_url = env("BOXOFFICE_TEST_DATABASE_URL");
        let redis_url = env("BOXOFFICE_TEST_REDIS_URL");
        let id = uuid::Uuid::new_v4().simple().to_string();
        let db_name = format!("bo_verify_{id}");
        let mut admin = PgConnection::connect(&admin_url).await.expect("connect");
        admin
            .execute(sqlx::AssertSqlSafe(format!(
                r#"CREATE DATABASE "{db_name}""#
            )))
            .await
            .expect("create database");
        let (base, _) = admin_url.rsplit_once('/').expect("database url path");
        let db_url = format!("{base}/{db_name}");
        let pool = PgPoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(10))
            .connect(&db_url)
            .await
            .expect("pool");
        sqlx::migrate!("../migrations")
            .run(&pool)
            .await
            .expect("migrate");
        let dir = std::env::temp_dir().join(format!("bo-verify-{id}"));
        std::fs::create_dir_all(&dir).expect("temp dir");
        Fresh {
            admin_url,
            db_name,
            db_url,
            redis_url,
            prefix: format!("test:verify:{id}:"),
            pool,
            dir,
        }
    }

    fn options(&self, event_id: i64) -> VerifyOptions {
        VerifyOptions {
            database_url: self.db_url.clone(),
            redis_url: Some(self.redis_url.clone()),
            redis_prefix: self.prefix.clone(),
            event_id,
            targets: Vec::new(),
            acknowledged: None,
            sweep_grace: Duration::from_secs(2),
            rate_tolerance: 0.02,
        }
    }

    /// Writes `acks` as the acknowledged JSONL file.
    fn acknowledged(&self, acks: &[Value]) -> PathBuf {
        let path = self
            .dir
            .join(format!("acks-{}.jsonl", uuid::Uuid::new_v4()));
        let mut file = std::fs::File::create(&path).expect("acks file");
        for ack in acks {
            writeln!(file, "{ack}").expect("write ack");
        }
        path
    }

    async fn redis(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.redis_url.as_str())
            .expect("redis url")
            .get_multiplexed_async_connection()
            .await
            .expect("redis")
    }
}

impl Drop for Fresh {
    fn drop(&mut self) {
        let (admin_url, db_name) = (self.admin_url.clone(), self.db_name.clone());
        let (redis_url, prefix) = (self.redis_url.clone(), self.prefix.clone());
        let _ = std::fs::remove_dir_all(&self.dir);
        let cleanup = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                if let Ok(mut admin) = PgConnection::connect(&admin_url).await {
                    let _ = admin
                        .execute(sqlx::AssertSqlSafe(format!(
                            r#"DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)"#
                        )))
                        .await;
                }
                if let Ok(client) = redis::Client::open(redis_url.as_str())
                    && let Ok(mut conn) = client.get_multiplexed_async_connection().await
                {
                    let keys: Vec<String> = redis::cmd("KEYS")
                        .arg(format!("{prefix}*"))
                        .query_async(&mut conn)
                        .await
                        .unwrap_or_default();
                    if !keys.is_empty() {
                        let _: redis::RedisResult<()> =
                            redis::cmd("DEL").arg(keys).query_async(&mut conn).await;
                    }
                }
            });
        });
        let _ = cleanup.join();
    }
}

/// The real server on port 0 over `fresh`'s database and Redis prefix.
struct Node {
    address: String,
    client: reqwest::Client,
    secret: String,
    server: actix_web::dev::ServerHandle,
    actors: actix::ArbiterHandle,
}

impl Node {
    async fn start(fresh: &Fresh) -> Node {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config");
        let mut settings = Settings::load_from(&dir).expect("settings (BOXOFFICE_ENV=test)");
        settings.server.port = 0;
        settings.server.host = "127.0.0.1".into();
        settings.database.url = SecretString::from(fresh.db_url.clone());
        settings.redis.url = SecretString::from(fresh.redis_url.clone());
        settings.redis.key_prefix = fresh.prefix.clone();
        // A secret of this test's own: the checker must be given it.
        let secret = format!("verify-{}", uuid::Uuid::new_v4().simple());
        settings.auth.signing_secret = SecretString::from(secret.clone());
        // The waiting-room test joins a crowd from one address.
        settings.queue.joins_per_second_per_client = 100_000;
        // The node's own pool: its connections live on the node's runtimes,
        // which stop with it; the test's pool must outlive the node.
        let pool = boxoffice::startup::pg_pool(&settings.database).expect("pool");
        let app = Application::build_with_pool(settings, pool)
            .await
            .expect("build app");
        let address = format!("http://127.0.0.1:{}", app.port());
        let (server, actors) = (app.handle(), app.actors());
        actix_web::rt::spawn(app.run_until_stopped());
        Node {
            address,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .expect("client"),
            secret,
            server,
            actors,
        }
    }

    async fn stop(&self) {
        self.server.stop(false).await;
        self.actors.stop();
    }

    async fn call(&self, method: reqwest::Method, path: &str, token: Option<&str>) -> Value {
        self.send(method, path, token, None, None).await.1
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
        key: Option<&str>,
    ) -> (u16, Value) {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.address));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (u16, Value) {
        self.send(reqwest::Method::POST, path, token, Some(&body), None)
            .await
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.actors.stop();
    }
}

/// What a clean sale left behind.
struct Sale {
    event_id: i64,
    /// Confirmed bookings, and the one released.
    confirmed: Vec<i64>,
    released: i64,
    acks: Vec<Value>,
}

/// A small sale through the public API: three buyers; one pays at once, one
/// is declined then pays with another card, one holds and releases; one
/// ticket is scanned at the door.
async fn clean_sale(fresh: &Fresh, node: &Node) -> Sale {
    let admin = admin_token(fresh, node).await;
    let (status, venue) = node
        .post(
            "/admin/venues",
            Some(&admin),
            json!({"name": "Hall", "city": "Verify", "layout": {"sections": [
                {"name": "A", "rows": [{"name": "1", "seats": 4}, {"name": "2", "seats": 4}]}
            ]}}),
        )
        .await;
    assert_eq!(status, 201, "{venue}");
    let (status, event) = node
        .post(
            "/admin/events",
            Some(&admin),
            json!({"title": "Show", "venue_id": venue["venue_id"], "category": "concert",
                   "start_time": "2030-06-01T19:00:00Z", "price_cents": 5000}),
        )
        .await;
    assert_eq!(status, 201, "{event}");
    let event_id = event["event_id"].as_i64().expect("event_id");
    let map = node
        .call(
            reqwest::Method::GET,
            &format!("/events/{event_id}/seats"),
            None,
        )
        .await;
    let seats: Vec<i64> = map["seats"]
        .as_array()
        .expect("seats")
        .iter()
        .map(|s| s["seat_id"].as_i64().expect("seat_id"))
        .collect();

    let mut acks = Vec::new();
    let mut confirmed = Vec::new();
    let mut released = 0;
    for (buyer, wanted) in [&seats[0..2], &seats[2..3], &seats[3..5]]
        .iter()
        .enumerate()
    {
        let (_, guest) = node
            .post(
                "/auth/guest",
                None,
                json!({"email": format!("fan{buyer}@example.com")}),
            )
            .await;
        let token = guest["token"].as_str().expect("guest token").to_owned();
        let (status, hold) = node
            .post(
                "/bookings",
                Some(&token),
                json!({"event_id": event_id, "seat_ids": wanted}),
            )
            .await;
        assert_eq!(status, 201, "{hold}");
        let booking = hold["booking_id"].as_i64().expect("booking_id");
        acks.push(json!({"kind": "hold", "booking_id": booking}));
        let confirm = |key: &'static str, card: &'static str| {
            let token = token.clone();
            async move {
                node.send(
                    reqwest::Method::POST,
                    &format!("/bookings/{booking}/confirm"),
                    Some(&token),
                    Some(&json!({"payment_token": card})),
                    Some(key),
                )
                .await
            }
        };
        match buyer {
            0 => {
                let (status, body) = confirm("k1", "tok_visa").await;
                assert_eq!(status, 200, "{body}");
            }
            1 => {
                let (status, body) = confirm("k1", "tok_chargeDeclined").await;
                assert_eq!(status, 402, "{body}");
                let (status, body) = confirm("k2", "tok_visa").await;
                assert_eq!(status, 200, "{body}");
            }
            _ => {
                let (status, body) = node
                    .send(
                        reqwest::Method::DELETE,
                        &format!("/bookings/{booking}"),
                        Some(&token),
                        None,
                        None,
                    )
                    .await;
                assert_eq!(status, 200, "{body}");
                released = booking;
                continue;
            }
        }
        acks.push(json!({"kind": "confirm", "booking_id": booking}));
        confirmed.push(booking);
    }
    let code: String = sqlx::query_scalar("SELECT code FROM tickets ORDER BY ticket_id LIMIT 1")
        .fetch_one(&fresh.pool)
        .await
        .expect("a ticket");
    let (status, body) = node
        .post(
            &format!("/admin/events/{event_id}/checkin"),
            Some(&admin),
            json!({"ticket_code": code}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    Sale {
        event_id,
        confirmed,
        released,
        acks,
    }
}

async fn check(fresh: &Fresh, node: Option<&Node>, opts: &VerifyOptions) -> VerifyReport {
    let extras = Extras {
        signing_secret: node.map(|n| n.secret.clone()),
        payment_window: Duration::from_secs(120),
        map_deadline: Duration::from_secs(3),
    };
    let _ = fresh;
    let report = verify_with(opts, &extras).await.expect("verify runs");
    report.print();
    report
}

/// Runs `boxoffice-load verify` on `opts`; returns its exit code and stdout.
async fn cli(opts: &VerifyOptions, secret: &str) -> (Option<i32>, String) {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_boxoffice-load"));
    command
        .arg("verify")
        .args(["--database-url", &opts.database_url])
        .args(["--redis-url", opts.redis_url.as_deref().unwrap_or_default()])
        .args(["--redis-prefix", &opts.redis_prefix])
        .args(["--event", &opts.event_id.to_string()])
        .args(["--signing-secret", secret])
        .env_remove("BOXOFFICE__AUTH__SIGNING_SECRET");
    if !opts.targets.is_empty() {
        command.args(["--target", &opts.targets.join(",")]);
    }
    if let Some(acks) = &opts.acknowledged {
        command.arg("--acknowledged").arg(acks);
    }
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("join")
        .expect("run boxoffice-load");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    println!("{stdout}{}", String::from_utf8_lossy(&output.stderr));
    (output.status.code(), stdout)
}

/// The violations of the check named `name`.
fn violations<'a>(report: &'a VerifyReport, name: &str) -> &'a [String] {
    &report
        .checks
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no check named {name}"))
        .violations
}

/// A clean sale, checked with the node as target and the acknowledgements.
async fn sold(fresh: &Fresh) -> (Node, Sale, VerifyOptions) {
    let node = Node::start(fresh).await;
    let sale = clean_sale(fresh, &node).await;
    let mut opts = fresh.options(sale.event_id);
    opts.targets = vec![node.address.clone()];
    opts.acknowledged = Some(fresh.acknowledged(&sale.acks));
    (node, sale, opts)
}

#[actix_web::test]
async fn a_clean_sale_through_the_real_server_passes_every_check() {
    tokio::time::timeout(DEADLINE, async {
        let fresh = Fresh::new().await;
        let (node, sale, opts) = sold(&fresh).await;
        let report = check(&fresh, Some(&node), &opts).await;
        assert!(report.passed(), "a clean sale must pass");
        let counted = |name: &str| {
            report
                .checks
                .iter()
                .find(|c| c.name == name)
                .expect("check")
                .checked
        };
        assert_eq!(counted("seats"), 8);
        // The node's snapshot and its live stream, 8 seats each.
        assert_eq!(counted("seat map"), 16);
        assert_eq!(counted("tickets"), 3);
        assert_eq!(counted("acknowledged"), sale.acks.len() as u64);
        // Two confirmed bookings and their two kept charges.
        assert_eq!(counted("charges"), 4);

        let (code, stdout) = cli(&opts, &node.secret).await;
        assert_eq!(code, Some(0), "the command passes too");
        assert!(stdout.contains("PASSED"), "{stdout}");
        node.stop().await;
    })
    .await
    .expect("the test finished in time");
}

#[actix_web::test]
async fn a_planted_double_sale_fails_the_seat_check() {
    tokio::time::timeout(DEADLINE, async {
        let fresh = Fresh::new().await;
        let (node, sale, mut opts) = sold(&fresh).await;
        node.stop().await;
        opts.targets.clear();
        // The last line of defence has to go before a seat can be sold twice.
        let mut tx = fresh.pool.begin().await.expect("tx");
        tx.execute("DROP INDEX booking_seats_active_seat_key")
            .await
            .expect("drop the guard");
        let (seat, user): (i64, i64) = sqlx::query_as(
            "SELECT bs.seat_id, b.user_id FROM booking_seats bs JOIN bookings b USING (booking_id)
             WHERE b.booking_id = $1 LIMIT 1",
        )
        .bind(sale.confirmed[0])
        .fetch_one(&mut *tx)
        .await
        .expect("a sold seat");
        let (second,): (i64,) = sqlx::query_as(
            "INSERT INTO bookings (event_id, user_id, status, amount_cents, expires_at, lock_token)
             VALUES ($1, $2, 'CONFIRMED', 5000, now(), 'planted') RETURNING booking_id",
        )
        .bind(sale.event_id)
        .bind(user)
        .fetch_one(&mut *tx)
        .await
        .expect("second booking");
        sqlx::query(
            "INSERT INTO booking_seats (booking_id, event_id, seat_id) VALUES ($1, $2, $3)",
        )
        .bind(second)
        .bind(sale.event_id)
        .bind(seat)
        .execute(&mut *tx)
        .await
        .expect("sell the seat again");
        tx.commit().await.expect("commit");

        let report = check(&fresh, Some(&node), &opts).await;
        assert!(!report.passed());
        let seats = violations(&report, "seats");
        assert!(
            seats
                .iter()
                .any(|v| v.contains("DOUBLE SALE") && v.contains(&format!("seat {seat} "))),
            "{seats:?}"
        );
    })
    .await
    .expect("the test finished in time");
}

#[actix_web::test]
async fn a_planted_double_charge_fails_the_charge_check() {
    tokio::time::timeout(DEADLINE, async {
        let fresh = Fresh::new().await;
        let (node, sale, mut opts) = sold(&fresh).await;
        node.stop().await;
        opts.targets.clear();
        let booking = sale.confirmed[0];
        // A second attempt on the same booking whose charge was kept.
        let (payment,): (i64,) = sqlx::query_as(
            "INSERT INTO payments (booking_id, user_id, idempotency_key, status, amount_cents,
                                   response_status, response)
             SELECT booking_id, user_id, 'planted', 'SUCCEEDED', amount_cents, 200, '{}'
             FROM bookings WHERE booking_id = $1 RETURNING payment_id",
        )
        .bind(booking)
        .fetch_one(&fresh.pool)
        .await
        .expect("second attempt");
        sqlx::query(
            "INSERT INTO provider_charges (charge_id, idempotency_key, amount_cents, status)
             VALUES ('ch_planted', $1, 5000, 'SUCCEEDED')",
        )
        .bind(format!("bo-pay-{payment}"))
        .execute(&fresh.pool)
        .await
        .expect("second charge");

        let report = check(&fresh, Some(&node), &opts).await;
        assert!(!report.passed());
        let charges = violations(&report, "charges");
        assert!(
            charges
                .iter()
                .any(|v| v.contains("DOUBLE CHARGE") && v.contains(&format!("booking {booking} "))),
            "{charges:?}"
        );
        // Everything else about the sale is still fine.
        assert!(violations(&report, "seats").is_empty());
    })
    .await
    .expect("the test finished in time");
}

/// A node that serves `snapshot` as its seat map, both as the snapshot and
/// as the live stream's first frame (a broken node).
async fn stub_node(snapshot: Value) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut snapshot = snapshot.clone();
            tokio::spawn(async move {
                let mut request = [0u8; 4096];
                let n = socket.read(&mut request).await.unwrap_or(0);
                let stream = String::from_utf8_lossy(&request[..n]).contains("/seats/stream");
                let (content_type, body) = if stream {
                    snapshot["type"] = json!("snapshot");
                    (
                        "text/event-stream",
                        format!("event: snapshot\nid: 1\ndata: {snapshot}\n\n"),
                    )
                } else {
                    ("application/json", snapshot.to_string())
                };
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(response.as_bytes()).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    address
}

#[actix_web::test]
async fn a_node_whose_seat_map_disagrees_with_the_database_fails_the_map_check() {
    tokio::time::timeout(DEADLINE, async {
        let fresh = Fresh::new().await;
        let (node, sale, mut opts) = sold(&fresh).await;
        // The real node's map at the database's version, with one sold seat
        // shown as available.
        let mut map = node
            .call(
                reqwest::Method::GET,
                &format!("/events/{}/seats", sale.event_id),
                None,
            )
            .await;
        let seats = map["seats"].as_array_mut().expect("seats");
        let sold = seats
            .iter_mut()
            .find(|s| s["status"] == "CONFIRMED")
            .expect("a sold seat");
        sold["status"] = json!("AVAILABLE");
        let seat = sold["seat_id"].as_i64().expect("seat_id");
        let stub = stub_node(map).await;
        opts.targets = vec![node.address.clone(), stub.clone()];

        let report = check(&fresh, Some(&node), &opts).await;
        assert!(!report.passed());
        let map = violations(&report, "seat map");
        // The real node agrees; the stub is wrong in its snapshot and its stream.
        assert_eq!(map.len(), 2, "{map:?}");
        for (violation, source) in map.iter().zip(["snapshot", "live"]) {
            assert!(
                violation.starts_with(&format!("{stub} {source}"))
                    && violation.contains(&format!("seat {seat} AVAILABLE")),
                "{map:?}"
            );
        }
        node.stop().await;
    })
    .await
    .expect("the test finished in time");
}

#[actix_web::test]
async fn a_lost_acknowledged_booking_fails_the_acknowledged_check() {
    tokio::time::timeout(DEADLINE, async {
        let fresh = Fresh::new().await;
        let (node, sale, mut opts) = sold(&fresh).await;
        node.stop().await;
        opts.targets.clear();
        // A hold the client was given a 201 for that the database lost, and a
        // confirmation the client was told of for a booking that is not confirmed.
        let lost = 999_999_999;
        let mut acks = sale.acks.clone();
        acks.push(json!({"kind": "hold", "booking_id": lost}));
        acks.push(json!({"kind": "confirm", "booking_id": sale.released}));
        opts.acknowledged = Some(fresh.acknowledged(&acks));

        let report = check(&fresh, Some(&node), &opts).await;
        assert!(!report.passed());
        let acked = violations(&report, "acknowledged");
        assert_eq!(acked.len(), 2, "{acked:?}");
        assert!(acked[0].contains(&format!("booking {lost} ")), "{acked:?}");
        assert!(acked[1].contains("RELEASED"), "{acked:?}");

        let (code, stdout) = cli(&opts, &node.secret).await;
        assert_eq!(code, Some(1), "the command exits non-zero on a violation");
        assert!(stdout.contains("FAIL acknowledged"), "{stdout}");
    })
    .await
    .expect("the test finished in time");
}

#[actix_web::test]
async fn a_booking_by_a_buyer_never_admitted_and_a_stale_hold_fail_their_checks() {
    tokio::time::timeout(DEADLINE, async {
        let fresh = Fresh::new().await;
        // Built with SQL: a queued event, two buyers, two holds, one of them
        // long expired; only the first buyer was admitted by the waiting room.
        let (venue,): (i64,) = sqlx::query_as(
            "INSERT INTO venues (name, city, seat_count) VALUES ('Hall', 'Verify', 2) RETURNING venue_id",
        )
        .fetch_one(&fresh.pool)
        .await
        .expect("venue");
        sqlx::query(
            "INSERT INTO venue_seats (venue_id, position, section, row_name, number, x, y)
             VALUES ($1, 0, 'A', '1', 1, 0, 0), ($1, 1, 'A', '1', 2, 1, 0)",
        )
        .bind(venue)
        .execute(&fresh.pool)
        .await
        .expect("seats");
        let (event,): (i64,) = sqlx::query_as(
            "INSERT INTO events (title, venue_id, category, start_time, price_cents, queue_enabled, admission_rate_per_sec)
             VALUES ('Show', $1, 'concert', now() + interval '1 day', 5000, true, 10) RETURNING event_id",
        )
        .bind(venue)
        .fetch_one(&fresh.pool)
        .await
        .expect("event");
        sqlx::query("INSERT INTO seats (event_id, seat_id) SELECT $1, seat_id FROM venue_seats WHERE venue_id = $2")
            .bind(event)
            .bind(venue)
            .execute(&fresh.pool)
            .await
            .expect("event seats");
        let mut users = Vec::new();
        for n in 0..2 {
            let (user,): (i64,) = sqlx::query_as(
                "INSERT INTO users (email) VALUES ($1) RETURNING user_id",
            )
            .bind(format!("fan{n}@example.com"))
            .fetch_one(&fresh.pool)
            .await
            .expect("user");
            users.push(user);
        }
        let mut bookings = Vec::new();
        for (n, user) in users.iter().enumerate() {
            let expires = if n == 0 { "now() + interval '10 minutes'" } else { "now() - interval '1 hour'" };
            let (booking,): (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "INSERT INTO bookings (event_id, user_id, amount_cents, expires_at, lock_token)
                 VALUES ($1, $2, 5000, {expires}, 't') RETURNING booking_id"
            )))
            .bind(event)
            .bind(user)
            .fetch_one(&fresh.pool)
            .await
            .expect("booking");
            sqlx::query(
                "WITH seat AS (
                     UPDATE seats SET status = 'RESERVED', booking_id = $2, reserved_at = now()
                     WHERE event_id = $1 AND seat_id = (SELECT min(seat_id) FROM seats WHERE event_id = $1 AND status = 'AVAILABLE')
                     RETURNING seat_id)
                 INSERT INTO booking_seats (booking_id, event_id, seat_id) SELECT $2, $1, seat_id FROM seat",
            )
            .bind(event)
            .bind(booking)
            .execute(&fresh.pool)
            .await
            .expect("hold a seat");
            bookings.push(booking);
        }
        let mut redis = fresh.redis().await;
        let key = |name: &str| {
            boxoffice::store::redis::event_key(&fresh.prefix, event, format!("q:{name}"))
        };
        let admitted_at = chrono::Utc::now().timestamp_millis() - 60_000;
        let expires = chrono::Utc::now().timestamp() + 600;
        let _: () = redis::cmd("HSET")
            .arg(key("admitted"))
            .arg(users[0])
            .arg(expires)
            .query_async(&mut redis)
            .await
            .expect("admitted");
        let _: () = redis::cmd("ZADD")
            .arg(key("admissions"))
            .arg(admitted_at)
            .arg(users[0])
            .query_async(&mut redis)
            .await
            .expect("admissions");

        let report = check(&fresh, None, &fresh.options(event)).await;
        assert!(!report.passed());
        let queued = violations(&report, "queued bookings");
        assert_eq!(queued.len(), 1, "{queued:?}");
        assert!(
            queued[0].contains(&format!("booking {} ", bookings[1])) && queued[0].contains("never admitted"),
            "{queued:?}"
        );
        let holds = violations(&report, "holds");
        assert_eq!(holds.len(), 1, "{holds:?}");
        assert!(holds[0].contains(&format!("booking {} ", bookings[1])), "{holds:?}");
        assert!(violations(&report, "seats").is_empty());
    })
    .await
    .expect("the test finished in time");
}

#[actix_web::test]
async fn a_forged_ticket_and_a_seat_admitted_twice_fail_the_ticket_check() {
    tokio::time::timeout(DEADLINE, async {
        let fresh = Fresh::new().await;
        let (node, sale, mut opts) = sold(&fresh).await;
        node.stop().await;
        opts.targets.clear();
        // One ticket's code re-signed with another key: well formed, not genuine.
        let (forged, code): (i64, String) = sqlx::query_as(
            "UPDATE tickets SET code = split_part(code, '.', 1) || '.' || split_part(code, '.', 2) || '.'
                 || split_part(code, '.', 3) || '.' || split_part(code, '.', 4) || '.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'
             WHERE ticket_id = (SELECT max(ticket_id) FROM tickets) RETURNING ticket_id, code",
        )
        .fetch_one(&fresh.pool)
        .await
        .expect("forge");
        // The seat already scanned at the door, scanned again on a second
        // ticket (of the released booking).
        let (seat, event): (i64, i64) = sqlx::query_as(
            "SELECT seat_id, event_id FROM tickets WHERE checked_in_at IS NOT NULL",
        )
        .fetch_one(&fresh.pool)
        .await
        .expect("the scanned ticket");
        sqlx::query(
            "INSERT INTO tickets (booking_id, event_id, seat_id, code, checked_in_at)
             VALUES ($1, $2, $3, 'T1.planted', now())",
        )
        .bind(sale.released)
        .bind(event)
        .bind(seat)
        .execute(&fresh.pool)
        .await
        .expect("second ticket");

        let report = check(&fresh, Some(&node), &opts).await;
        let tickets = violations(&report, "tickets");
        assert!(
            tickets
                .iter()
                .any(|v| v.contains(&format!("ticket {forged} ")) && v.contains(&code)),
            "{tickets:?}"
        );
        assert!(
            tickets
                .iter()
                .any(|v| v.contains(&format!("seat {seat} was admitted at the door 2 times"))),
            "{tickets:?}"
        );
        assert!(
            tickets.iter().any(|v| v.contains("RELEASED")),
            "{tickets:?}"
        );
        assert!(violations(&report, "seats").is_empty());
    })
    .await
    .expect("the test finished in time");
}

#[actix_web::test]
async fn a_refunded_booking_whose_seats_were_sold_again_passes_and_its_void_ticket_may_not_admit() {
    tokio::time::timeout(DEADLINE, async {
        let fresh = Fresh::new().await;
        let (node, mut sale, mut opts) = sold(&fresh).await;
        // An operator refunds the second buyer's booking (its ticket unscanned).
        let refunded = sale.confirmed[1];
        let admin = admin_token(&fresh, &node).await;
        let (status, body) = node
            .send(
                reqwest::Method::POST,
                &format!("/admin/bookings/{refunded}/refund"),
                Some(&admin),
                None,
                Some("refund-1"),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        // Its seat is sold again, to someone else.
        let seats: Vec<i64> =
            sqlx::query_scalar("SELECT seat_id FROM booking_seats WHERE booking_id = $1")
                .bind(refunded)
                .fetch_all(&fresh.pool)
                .await
                .expect("seats");
        let (_, guest) = node
            .post("/auth/guest", None, json!({"email": "late@example.com"}))
            .await;
        let token = guest["token"].as_str().expect("guest token").to_owned();
        let (status, hold) = node
            .post(
                "/bookings",
                Some(&token),
                json!({"event_id": sale.event_id, "seat_ids": seats}),
            )
            .await;
        assert_eq!(status, 201, "{hold}");
        let resold = hold["booking_id"].as_i64().expect("booking_id");
        let (status, body) = node
            .send(
                reqwest::Method::POST,
                &format!("/bookings/{resold}/confirm"),
                Some(&token),
                Some(&json!({"payment_token": "tok_visa"})),
                Some("k1"),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        sale.acks
            .push(json!({"kind": "hold", "booking_id": resold}));
        sale.acks
            .push(json!({"kind": "confirm", "booking_id": resold}));
        opts.acknowledged = Some(fresh.acknowledged(&sale.acks));

        let report = check(&fresh, Some(&node), &opts).await;
        assert!(report.passed(), "a refund and a resale break nothing");

        // The void ticket scanned after the refund (behind the server's back).
        node.stop().await;
        opts.targets.clear();
        sqlx::query("UPDATE tickets SET checked_in_at = now() WHERE booking_id = $1")
            .bind(refunded)
            .execute(&fresh.pool)
            .await
            .expect("plant a scan");
        let report = check(&fresh, None, &opts).await;
        let tickets = violations(&report, "tickets");
        assert!(
            tickets
                .iter()
                .any(|v| v.contains(&format!("refunded booking {refunded} was admitted"))),
            "{tickets:?}"
        );
    })
    .await
    .expect("the test finished in time");
}

#[actix_web::test]
async fn a_change_planted_behind_the_nodes_back_fails_the_live_map_check() {
    tokio::time::timeout(DEADLINE, async {
        let fresh = Fresh::new().await;
        let (node, sale, opts) = sold(&fresh).await;
        // A fan watching the live map keeps the node's hub in memory.
        let mut watching = node
            .client
            .get(format!("{}/events/{}/seats/stream", node.address, sale.event_id))
            .send()
            .await
            .expect("live map");
        watching.chunk().await.expect("first frame").expect("a frame");
        // A hold written straight into the database, consistent there but
        // without a new seat version or a delta: the node's live hub (at the
        // same version) still shows the seat available, in the stream and in
        // the snapshot, which the node serves from the hub at that version.
        let (user,): (i64,) = sqlx::query_as("SELECT min(user_id) FROM bookings")
            .fetch_one(&fresh.pool)
            .await
            .expect("a buyer");
        let (seat,): (i64,) = sqlx::query_as(
            "WITH b AS (
                 INSERT INTO bookings (event_id, user_id, amount_cents, expires_at, lock_token)
                 VALUES ($1, $2, 5000, now() + interval '10 minutes', 'planted') RETURNING booking_id),
             s AS (
                 UPDATE seats SET status = 'RESERVED', booking_id = (SELECT booking_id FROM b), reserved_at = now()
                 WHERE event_id = $1 AND seat_id = (SELECT max(seat_id) FROM seats WHERE event_id = $1 AND status = 'AVAILABLE')
                 RETURNING seat_id)
             INSERT INTO booking_seats (booking_id, event_id, seat_id)
             SELECT (SELECT booking_id FROM b), $1, seat_id FROM s RETURNING seat_id",
        )
        .bind(sale.event_id)
        .bind(user)
        .fetch_one(&fresh.pool)
        .await
        .expect("plant a hold");

        let report = check(&fresh, Some(&node), &opts).await;
        let map = violations(&report, "seat map");
        assert_eq!(map.len(), 2, "{map:?}");
        for (violation, form) in map.iter().zip(["snapshot", "live"]) {
            assert!(
                violation.starts_with(&format!("{} {form}", node.address))
                    && violation.contains(&format!("seat {seat} AVAILABLE, the database RESERVED")),
                "{map:?}"
            );
        }
        assert!(violations(&report, "seats").is_empty());
        drop(watching);
        node.stop().await;
    })
    .await
    .expect("the test finished in time");
}

#[actix_web::test]
async fn a_waiting_room_run_through_the_real_server_passes_the_queue_checks() {
    tokio::time::timeout(DEADLINE, async {
        let fresh = Fresh::new().await;
        let node = Node::start(&fresh).await;
        let sale = clean_sale(&fresh, &node).await;
        let event = sale.event_id;
        let admin = admin_token(&fresh, &node).await;
        let rate = 50;
        let configure = |onsale: String| {
            let admin = admin.clone();
            let node = &node;
            async move {
                let (status, body) = node
                    .send(
                        reqwest::Method::PUT,
                        &format!("/admin/events/{event}/queue"),
                        Some(&admin),
                        Some(&json!({"enabled": true, "admission_rate_per_sec": rate, "onsale_at": onsale})),
                        None,
                    )
                    .await;
                assert_eq!(status, 200, "{body}");
            }
        };
        configure((chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339()).await;
        // A crowd of 150 joins before the sale opens: three seconds at 50/s.
        let ids: Vec<i64> = sqlx::query_scalar(
            "INSERT INTO users (email) SELECT 'crowd' || g || '@example.com'
             FROM generate_series(1, 150) g RETURNING user_id",
        )
        .fetch_all(&fresh.pool)
        .await
        .expect("crowd");
        let signer = boxoffice::auth::Signer::new(
            SecretString::from(node.secret.clone()),
            Duration::from_secs(3600),
        );
        let tokens: Vec<String> = ids
            .iter()
            .map(|id| signer.issue(actors::model::UserId(*id), Role::Buyer))
            .collect();
        let join_path = format!("/events/{event}/queue");
        for chunk in tokens.chunks(50) {
            for (status, body) in futures_util::future::join_all(chunk.iter().map(|t| {
                node.post(&join_path, Some(t), json!({}))
            }))
            .await
            {
                assert_eq!(status, 201, "{body}");
            }
        }
        configure(chrono::Utc::now().to_rfc3339()).await;
        let mut redis = fresh.redis().await;
        let admitted_key = boxoffice::store::redis::event_key(&fresh.prefix, event, "q:admitted");
        // Until the whole crowd is in (the outer deadline bounds it).
        loop {
            let n: u64 = redis::cmd("HLEN")
                .arg(&admitted_key)
                .query_async(&mut redis)
                .await
                .expect("HLEN");
            if n >= 150 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // Two admitted buyers book with their queue tokens.
        let mut acks = sale.acks.clone();
        let free: Vec<i64> = sqlx::query_scalar(
            "SELECT seat_id FROM seats WHERE event_id = $1 AND status = 'AVAILABLE' ORDER BY seat_id LIMIT 2",
        )
        .bind(event)
        .fetch_all(&fresh.pool)
        .await
        .expect("free seats");
        for (token, seat) in tokens.iter().zip(&free) {
            let standing = node
                .call(reqwest::Method::GET, &format!("/events/{event}/queue"), Some(token))
                .await;
            let queue_token = standing["queue_token"].as_str().expect("admitted").to_owned();
            let response = node
                .client
                .post(format!("{}/bookings", node.address))
                .bearer_auth(token)
                .header("X-Queue-Token", queue_token)
                .json(&json!({"event_id": event, "seat_ids": [seat]}))
                .send()
                .await
                .expect("book");
            assert_eq!(response.status(), 201);
            let body: Value = response.json().await.expect("json");
            acks.push(json!({"kind": "hold", "booking_id": body["booking_id"]}));
        }
        let mut opts = fresh.options(event);
        opts.targets = vec![node.address.clone()];
        opts.acknowledged = Some(fresh.acknowledged(&acks));
        // ±5 %: this machine's two cores are shared with builds; the rate
        // check's own arithmetic is pinned by the unit tests.
        opts.rate_tolerance = 0.05;
        let report = check(&fresh, Some(&node), &opts).await;
        let find = |name: &str| report.checks.iter().find(|c| c.name == name).expect("check");
        assert!(find("admission rate").checked >= 50, "{:?}", find("admission rate"));
        assert!(find("admission rate").violations.is_empty());
        // The bookings of the sale before the room was on were made by
        // buyers never admitted: the check says so; the crowd's are fine.
        let queued = find("queued bookings");
        assert_eq!(queued.checked, 5);
        assert_eq!(queued.violations.len(), 3, "{queued:?}");
        assert!(queued.violations.iter().all(|v| v.contains("never admitted")));
        node.stop().await;
    })
    .await
    .expect("the test finished in time");
}

/// An operator's token.
async fn admin_token(fresh: &Fresh, node: &Node) -> String {
    let email = format!("ops-{}@example.com", uuid::Uuid::new_v4().simple());
    let password = "correct horse battery staple";
    let hash = hash_password(&SecretString::from(password)).expect("hash");
    users::create_account(&fresh.pool, &email, &hash, Role::Admin)
        .await
        .expect("admin");
    let (_, login) = node
        .post(
            "/auth/login",
            None,
            json!({"email": email, "password": password}),
        )
        .await;
    login["token"].as_str().expect("admin token").to_owned()
}
