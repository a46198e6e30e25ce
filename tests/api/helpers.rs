//! `spawn_app()`: the real application on port 0, against a fresh PostgreSQL
//! database (dropped afterwards) and its own Redis key prefix; and one helper
//! per endpoint.

use std::path::Path;

use boxoffice::auth::{Role, hash_password};
use boxoffice::config::Settings;
use boxoffice::startup::{self, Application};
use boxoffice::store::users;
use reqwest::{Method, RequestBuilder, Response};
use secrecy::SecretString;
use serde_json::{Value, json};
use sqlx::{Connection, Executor, PgConnection, PgPool};

pub struct TestApp {
    pub address: String,
    pub pool: PgPool,
    pub client: reqwest::Client,
    pub settings: Settings,
    server: actix_web::dev::ServerHandle,
    actors: actix::ArbiterHandle,
    /// The first node of a test owns the database and the Redis keys.
    owner: bool,
    db_name: String,
    admin_url: String,
    redis_url: String,
    pub redis_prefix: String,
}

fn env(name: &str) -> String {
    std::env::var(name)
        .unwrap_or_else(|_| panic!("{name} is not set: run the tests with `make test`"))
}

/// Settings for a test app: `config/` with the test environment, fresh names.
pub fn test_settings() -> Settings {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    let mut settings = Settings::load_from(&dir).expect("test settings load");
    settings.server.port = 0;
    settings.server.host = "127.0.0.1".into();
    settings
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Like [`spawn_app`], with a hook to adjust the settings first.
pub async fn spawn_app_with(adjust: impl FnOnce(&mut Settings)) -> TestApp {
    boxoffice::telemetry::init_logging("error");
    let admin_url = env("BOXOFFICE_TEST_DATABASE_URL");
    let redis_url = env("BOXOFFICE_TEST_REDIS_URL");
    let id = uuid::Uuid::new_v4().simple().to_string();
    let db_name = format!("bo_test_{id}");

    let mut admin = PgConnection::connect(&admin_url)
        .await
        .expect("connect to the test PostgreSQL");
    admin
        .execute(sqlx::AssertSqlSafe(format!(
            r#"CREATE DATABASE "{db_name}""#
        )))
        .await
        .expect("create test database");
    let db_url = replace_database(&admin_url, &db_name);

    let mut settings = test_settings();
    settings.database.url = SecretString::from(db_url);
    settings.redis.url = SecretString::from(redis_url.clone());
    settings.redis.key_prefix = format!("test:{id}:");
    adjust(&mut settings);

    let pool = startup::pg_pool(&settings.database).expect("pool");
    startup::migrate(&pool).await.expect("migrate");
    start_node(
        settings,
        pool,
        db_name,
        admin_url,
        redis_url,
        format!("test:{id}:"),
        true,
    )
    .await
}

async fn start_node(
    settings: Settings,
    pool: PgPool,
    db_name: String,
    admin_url: String,
    redis_url: String,
    redis_prefix: String,
    owner: bool,
) -> TestApp {
    let app = Application::build_with_pool(settings.clone(), pool.clone())
        .await
        .expect("build app");
    let address = format!("http://127.0.0.1:{}", app.port());
    let (server, actors) = (app.handle(), app.actors());
    actix_web::rt::spawn(app.run_until_stopped());
    TestApp {
        address,
        pool,
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(30))
            .pool_max_idle_per_host(64)
            .build()
            .expect("client"),
        settings,
        server,
        actors,
        owner,
        db_name,
        admin_url,
        redis_url,
        redis_prefix,
    }
}

fn replace_database(url: &str, db: &str) -> String {
    let (base, _) = url.rsplit_once('/').expect("database url has a path");
    format!("{base}/{db}")
}

impl TestApp {
    /// Another node of the same deployment: same PostgreSQL database, same
    /// Redis key space, its own actors and port.
    pub async fn peer(&self) -> TestApp {
        self.peer_with(|_| {}).await
    }

    pub async fn peer_with(&self, adjust: impl FnOnce(&mut Settings)) -> TestApp {
        let mut settings = self.settings.clone();
        adjust(&mut settings);
        let pool = startup::pg_pool(&settings.database).expect("pool");
        start_node(
            settings,
            pool,
            self.db_name.clone(),
            self.admin_url.clone(),
            self.redis_url.clone(),
            self.redis_prefix.clone(),
            false,
        )
        .await
    }

    /// Stops this node: its HTTP server and its actors (the database stays).
    pub async fn stop(&self) {
        self.server.stop(false).await;
        self.actors.stop();
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.actors.stop();
        if !self.owner {
            return;
        }
        let (admin_url, db_name) = (self.admin_url.clone(), self.db_name.clone());
        let (redis_url, prefix) = (self.redis_url.clone(), self.redis_prefix.clone());
        // Async cleanup from a synchronous Drop: a short-lived runtime on its own thread.
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

/// A small layout: `sections` sections of `rows` rows of `seats` seats.
pub fn layout(sections: usize, rows: usize, seats: u32) -> Value {
    json!({
        "sections": (0..sections).map(|s| json!({
            "name": format!("S{s}"),
            "rows": (0..rows).map(|r| json!({"name": format!("R{r}"), "seats": seats})).collect::<Vec<_>>(),
        })).collect::<Vec<_>>()
    })
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client.request(method, self.url(path))
    }

    pub async fn get(&self, path: &str) -> Response {
        self.request(Method::GET, path)
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

    pub async fn guest(&self, email: &str) -> Response {
        self.post_json("/auth/guest", None, &json!({ "email": email }))
            .await
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
        let email = format!("ops-{}@example.com", uuid::Uuid::new_v4().simple());
        let password = "correct horse battery staple";
        let hash = hash_password(&SecretString::from(password)).expect("hash");
        users::create_account(&self.pool, &email, &hash, Role::Admin)
            .await
            .expect("admin account");
        let body: Value = self
            .login(&email, password)
            .await
            .json()
            .await
            .expect("json");
        body["token"].as_str().expect("token").to_owned()
    }

    /// A door-staff bearer token (as `boxoffice admin create --role door` would make).
    pub async fn door_token(&self) -> String {
        let email = format!("door-{}@example.com", uuid::Uuid::new_v4().simple());
        let password = "correct horse battery staple";
        let hash = hash_password(&SecretString::from(password)).expect("hash");
        users::create_account(&self.pool, &email, &hash, Role::Door)
            .await
            .expect("door account");
        let body: Value = self
            .login(&email, password)
            .await
            .json()
            .await
            .expect("json");
        body["token"].as_str().expect("token").to_owned()
    }

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

    pub fn database_url(&self) -> String {
        replace_database(&self.admin_url, &self.db_name)
    }

    pub async fn count(&self, table: &str) -> i64 {
        sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
            .fetch_one(&self.pool)
            .await
            .expect("count")
    }
}

/// Reads a problem response and checks its shape; returns the body.
pub async fn assert_problem(response: Response, status: u16, code: &str) -> Value {
    assert_eq!(
        response.status().as_u16(),
        status,
        "status for expected problem {code}"
    );
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(content_type, "application/problem+json");
    let body: Value = response.json().await.expect("problem json");
    assert_eq!(body["code"], code, "problem body: {body}");
    assert_eq!(body["status"], status);
    for member in ["type", "title", "detail"] {
        assert!(body[member].is_string(), "problem lacks {member}: {body}");
    }
    body
}

impl TestApp {
    pub async fn reserve(&self, token: &str, event_id: i64, seats: &[i64]) -> Response {
        self.post_json(
            "/bookings",
            Some(token),
            &json!({ "event_id": event_id, "seat_ids": seats }),
        )
        .await
    }

    pub async fn get_booking(&self, token: &str, booking_id: i64) -> Response {
        self.request(Method::GET, &format!("/bookings/{booking_id}"))
            .bearer_auth(token)
            .send()
            .await
            .expect("request")
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

    pub fn redis_url(&self) -> &str {
        &self.redis_url
    }
}
