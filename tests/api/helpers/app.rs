//! `spawn_app()`: the real application on port 0, against a fresh PostgreSQL
//! database (dropped afterwards) and its own Redis key prefix; peers of it,
//! and the ways in that every helper builds on (URLs, requests, connections).

use std::path::Path;

use boxoffice::config::Settings;
use boxoffice::startup::{self, Application};
use reqwest::{Method, RequestBuilder};
use secrecy::SecretString;
use sqlx::{Connection, Executor, PgConnection, PgPool};

pub struct TestApp {
    pub address: String,
    pub pool: PgPool,
    pub client: reqwest::Client,
    pub settings: Settings,
    server: actix_web::dev::ServerHandle,
    actors: actix::ArbiterHandle,
    drain: boxoffice::drain::Drain,
    local: std::net::SocketAddr,
    /// The first node of a test owns the database and the Redis keys.
    owner: bool,
    db_name: String,
    admin_url: String,
    redis_url: String,
    pub redis_prefix: String,
}

/// Deletes every key of `prefix` from one Redis server, key by key (in a
/// cluster node a multi-key DEL would cross slots).
async fn delete_prefixed(url: &str, prefix: &str) {
    let Ok(client) = redis::Client::open(url) else {
        return;
    };
    let Ok(mut conn) = client.get_multiplexed_async_connection().await else {
        return;
    };
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async(&mut conn)
        .await
        .unwrap_or_default();
    if keys.is_empty() {
        return;
    }
    let mut pipe = redis::pipe();
    for key in keys {
        pipe.del(key).ignore();
    }
    let _: redis::RedisResult<()> = pipe.query_async(&mut conn).await;
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
    spawn_app_against(env("BOXOFFICE_TEST_DATABASE_URL"), |s, _| adjust(s)).await
}

/// Like [`spawn_app_with`], on the PostgreSQL of `admin_url` (a maintenance
/// database there); `adjust` also gets the test database's name.
pub async fn spawn_app_against(
    admin_url: String,
    adjust: impl FnOnce(&mut Settings, &str),
) -> TestApp {
    boxoffice::telemetry::init_logging("error");
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
    adjust(&mut settings, &db_name);

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
    let (server, actors, drain) = (app.handle(), app.actors(), app.drain());
    let local = std::net::SocketAddr::from(([127, 0, 0, 1], app.port()));
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
        drain,
        local,
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

    /// What SIGTERM does to this node: it drains (see `boxoffice::drain`)
    /// and stops; returns once it has.
    pub async fn drain(&self) {
        startup::stop_gracefully(
            self.server.clone(),
            self.drain.clone(),
            self.local,
            std::time::Duration::from_secs(self.settings.server.linger_seconds),
        )
        .await;
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
        let prefix = self.redis_prefix.clone();
        // Every master of a cluster, or the one Redis.
        let redis_urls = if self.settings.redis.is_cluster() {
            self.settings.redis.cluster_urls.clone()
        } else {
            vec![self.redis_url.clone()]
        };
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
                for url in redis_urls {
                    delete_prefixed(&url, &prefix).await;
                }
            });
        });
        let _ = cleanup.join();
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client.request(method, self.url(path))
    }

    pub fn database_url(&self) -> String {
        replace_database(&self.admin_url, &self.db_name)
    }

    pub fn redis_url(&self) -> &str {
        &self.redis_url
    }

    /// A connection to the test's Redis (one server or the cluster, as the
    /// app's settings say).
    pub async fn redis(&self) -> boxoffice::store::redis::Connection {
        boxoffice::store::redis::Target::from_settings(&self.settings.redis)
            .expect("redis settings")
            .connect(std::time::Duration::from_secs(2))
            .await
            .expect("connect to the test's redis")
    }

    /// `name` among the Redis keys of one event (its hash tag).
    pub fn event_key(&self, event_id: i64, name: &str) -> String {
        boxoffice::store::redis::event_key(&self.redis_prefix, event_id, name)
    }

    pub async fn count(&self, table: &str) -> i64 {
        sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
            .fetch_one(&self.pool)
            .await
            .expect("count")
    }
}
