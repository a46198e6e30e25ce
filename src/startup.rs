//! Assembly: pools, shared services and the route table. The only file that
//! knows every route.

use std::net::TcpListener;
use std::time::Duration;

use actix_web::dev::{Server, ServerHandle};
use actix_web::middleware::{Compress, from_fn};
use actix_web::{App, HttpServer, web};
use secrecy::ExposeSecret;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, PgPool};
use tracing_actix_web::TracingLogger;

use crate::auth::Signer;
use crate::config::{DatabaseSettings, Settings};
use crate::http;
use crate::store::cache::CatalogCache;
use crate::store::redis::Redis;
use crate::telemetry;

/// A built, listening, not yet running server.
pub struct Application {
    port: u16,
    server: Server,
    pool: PgPool,
}

/// A PostgreSQL pool that connects on demand, so the process starts (and
/// `/readyz` reports) while the database is still coming up.
pub fn pg_pool(settings: &DatabaseSettings) -> anyhow::Result<PgPool> {
    let options: PgConnectOptions = settings.url.expose_secret().parse()?;
    let options = options
        .log_statements(tracing::log::LevelFilter::Debug)
        .log_slow_statements(tracing::log::LevelFilter::Warn, Duration::from_millis(500));
    Ok(PgPoolOptions::new()
        .max_connections(settings.max_connections)
        .acquire_timeout(Duration::from_secs(settings.acquire_timeout_seconds))
        .connect_lazy_with(options))
}

pub async fn migrate(pool: &PgPool) -> anyhow::Result<()> {
    sqlx::migrate!("./migrations").run(pool).await?;
    Ok(())
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        let pool = pg_pool(&settings.database)?;
        Application::build_with_pool(settings, pool).await
    }

    pub async fn build_with_pool(settings: Settings, pool: PgPool) -> anyhow::Result<Application> {
        let redis = Redis::connect(&settings.redis)?;
        let cache = CatalogCache::new(
            redis.clone(),
            Duration::from_secs(settings.cache.event_ttl_seconds),
            Duration::from_secs(settings.cache.listing_ttl_seconds),
        );
        let signer = Signer::new(
            settings.auth.signing_secret.clone(),
            Duration::from_secs(settings.auth.token_ttl_seconds),
        );
        let listener = TcpListener::bind((settings.server.host.as_str(), settings.server.port))?;
        let port = listener.local_addr()?.port();

        let pool_data = web::Data::new(pool.clone());
        let redis = web::Data::new(redis);
        let cache = web::Data::new(cache);
        let signer = web::Data::new(signer);
        let metrics = web::Data::new(telemetry::metrics_handle());
        let max_body = settings.server.max_body_bytes;

        let server = HttpServer::new(move || {
            App::new()
                .wrap(Compress::default())
                .wrap(from_fn(telemetry::record_request))
                .wrap(TracingLogger::default())
                .app_data(http::json_config(max_body))
                .app_data(http::path_config())
                .app_data(http::query_config())
                .app_data(pool_data.clone())
                .app_data(redis.clone())
                .app_data(cache.clone())
                .app_data(signer.clone())
                .app_data(metrics.clone())
                .configure(routes)
                .default_service(web::to(http::no_route))
        })
        .shutdown_timeout(settings.server.shutdown_timeout_seconds)
        .listen(listener)?
        .run();

        Ok(Application { port, server, pool })
    }

    /// The port actually bound (useful with port 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until SIGTERM/SIGINT (or a stop through the handle), then lets
    /// in-flight requests finish within the shutdown timeout.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

fn routes(cfg: &mut web::ServiceConfig) {
    use http::{admin, auth, events, ops, seats, venues};
    cfg.route("/healthz", web::get().to(ops::healthz))
        .route("/readyz", web::get().to(ops::readyz))
        .route("/metrics", web::get().to(ops::metrics))
        .route("/auth/guest", web::post().to(auth::guest))
        .route("/auth/signup", web::post().to(auth::signup))
        .route("/auth/login", web::post().to(auth::login))
        .route("/events", web::get().to(events::list))
        .route("/events/{event_id}", web::get().to(events::get))
        .route("/events/{event_id}/seats", web::get().to(seats::snapshot))
        .route("/venues/{venue_id}/layout", web::get().to(venues::layout))
        .route("/admin/venues", web::post().to(admin::create_venue))
        .route("/admin/events", web::post().to(admin::create_event))
        .route(
            "/admin/events/{event_id}",
            web::patch().to(admin::patch_event),
        );
}
