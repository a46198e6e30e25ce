//! Assembly: pools, shared services and the route table. The only file that
//! knows every route.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix::{Actor, Arbiter, ArbiterHandle};
use actors::event_actor::{EventActorConfig, Ports};
use actors::registry::Registry;
use actors::sweeper::Sweeper;

use actix_web::dev::{Server, ServerHandle};
use actix_web::middleware::{Compress, from_fn};
use actix_web::{App, HttpServer, web};
use secrecy::ExposeSecret;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, PgPool};
use tracing_actix_web::TracingLogger;

use crate::auth::Signer;
use crate::config::{DatabaseSettings, Settings};
use crate::drain::Drain;
use crate::http;
use crate::http::client_addr::TrustedProxies;
use crate::http::hashing::PasswordHashing;
use crate::http::limits::Limits;
use crate::http::ops::MetricsAccess;
use crate::live::dashboard::Dashboards;
use crate::live::hub::Hubs;
use crate::payments::checkout::Checkout;
use crate::payments::simulated::SimulatedProvider;
use crate::store::browse_reads::BrowseReads;
use crate::store::cache::CatalogCache;
use crate::store::catalog::EventGates;
use crate::store::deltas::RedisDeltaBus;
use crate::store::ledger::PgLedger;
use crate::store::locks::RedisSeatLock;
use crate::store::redis::Redis;
use crate::store::waiting_room::QueueStore;
use crate::telemetry;
use crate::waiting_room::driver::AdmissionDriver;
use crate::waiting_room::watch::QueueWatch;

/// A built, listening, not yet running server.
pub struct Application {
    port: u16,
    server: Server,
    pool: PgPool,
    /// The thread the event actors and the sweeper run on.
    actors: Arbiter,
    registry: Arc<Registry>,
    drain: Drain,
    /// Where the listener is, to see it closed when draining.
    local: std::net::SocketAddr,
    linger: Duration,
}

/// A PostgreSQL pool that connects on demand, so the process starts (and
/// `/readyz` reports) while the database is still coming up.
pub fn pg_pool(settings: &DatabaseSettings) -> anyhow::Result<PgPool> {
    lazy_pool(
        settings.url.expose_secret(),
        settings.max_connections,
        Duration::from_secs(settings.acquire_timeout_seconds),
    )
}

/// Browse's pools: the primary's, with the browse replica's when one is set.
/// The replica's connections wait at most a second: browse has the primary
/// to fall back on.
pub fn browse_reads(settings: &DatabaseSettings, primary: &PgPool) -> anyhow::Result<BrowseReads> {
    let Some(url) = settings.replica_url() else {
        return Ok(BrowseReads::primary_only(primary.clone()));
    };
    let acquire = Duration::from_secs(settings.acquire_timeout_seconds.min(1));
    let replica = lazy_pool(url, settings.max_connections, acquire)?;
    Ok(BrowseReads::with_replica(
        primary.clone(),
        replica,
        Duration::from_millis(settings.replica_max_lag_ms),
    ))
}

fn lazy_pool(url: &str, max_connections: u32, acquire: Duration) -> anyhow::Result<PgPool> {
    let options: PgConnectOptions = url.parse()?;
    let options = options
        .log_statements(tracing::log::LevelFilter::Debug)
        .log_slow_statements(tracing::log::LevelFilter::Warn, Duration::from_millis(500));
    Ok(PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(acquire)
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
        let browse = browse_reads(&settings.database, &pool)?;
        actix_web::rt::spawn(browse.clone().monitor());
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
        let local = listener.local_addr()?;
        let port = local.port();
        let drain = Drain::new();

        let node_id = format!("{:016x}", rand::random::<u64>());
        let booking = &settings.booking;
        let ledger = Arc::new(
            PgLedger::new(
                pool.clone(),
                signer.clone(),
                Duration::from_secs(booking.payment_window_seconds),
            )
            .with_hold_cap(booking.max_active_seats_per_buyer),
        );
        let bus = RedisDeltaBus::new(redis.clone(), node_id.clone());
        let ports = Ports {
            ledger: ledger.clone(),
            lock: Arc::new(RedisSeatLock::new(redis.clone())),
            bus: Arc::new(bus.clone()),
        };
        let actors = Arbiter::new();
        let registry = Arc::new(Registry::new(
            ports,
            EventActorConfig {
                batch_max: booking.batch_max,
                hold_for: Duration::from_secs(booking.hold_seconds),
                idle_after: Duration::from_secs(booking.actor_idle_seconds),
                gap_timeout: Duration::from_secs(1),
                // Under a second even with the tick's slack: memory heals within one.
                version_check_every: Duration::from_millis(750),
                parallel_writes: booking.writes_per_event.max(1),
                request_timeout: Duration::from_millis(booking.actor_timeout_ms.max(1)),
            },
            actors.handle(),
        ));
        let sweeper = Sweeper::new(
            ledger,
            registry.clone(),
            Duration::from_millis(booking.sweep_interval_ms),
        );
        Sweeper::start_in_arbiter(&actors.handle(), |_| sweeper);
        let hubs = Arc::new(
            Hubs::new(pool.clone(), settings.live.clone(), actors.handle())
                .with_published_versions(Arc::new(bus.clone())),
        );
        let needed: crate::store::deltas::Needed = {
            let (registry, hubs) = (registry.clone(), hubs.clone());
            Arc::new(move |event| registry.get(event).is_some() || hubs.watches(event))
        };
        actix_web::rt::spawn(bus.clone().listen(registry.clone(), needed));
        actors.spawn(hubs.clone().route(bus.subscribe_local()));

        let payments = &settings.payments;
        let gateway = Arc::new(SimulatedProvider::new(
            pool.clone(),
            Duration::from_millis(payments.slow_token_ms),
        ));
        let checkout = Arc::new(Checkout::new(
            pool.clone(),
            gateway,
            registry.clone(),
            Duration::from_secs(payments.lease_seconds),
            Duration::from_secs(payments.charge_timeout_seconds),
            Duration::from_secs(payments.recovery_after_seconds),
            Duration::from_secs(payments.charge_window_seconds),
            http::payments::answer,
        ));
        let recovery = checkout.clone();
        let recovery_every = Duration::from_millis(payments.recovery_interval_ms);
        actix_web::rt::spawn(async move {
            let mut tick = tokio::time::interval(recovery_every);
            loop {
                tick.tick().await;
                recovery.recover_abandoned().await;
            }
        });
        let queue_store = QueueStore::new(redis.clone());
        let driver = AdmissionDriver {
            store: queue_store.clone(),
            pool: pool.clone(),
            registry: registry.clone(),
            node_id: node_id.clone(),
            settings: settings.queue.clone(),
            drain: drain.clone(),
        };
        actors.spawn(driver.run());
        tracing::info!(node.id = %node_id, "booking core started");

        let pool_data = web::Data::new(pool.clone());
        let browse = web::Data::new(browse);
        let redis = web::Data::new(redis);
        let cache = web::Data::new(cache);
        let signer = web::Data::new(signer);
        let metrics = web::Data::new(telemetry::metrics_handle());
        let max_body = settings.server.max_body_bytes;
        let registry_data = web::Data::from(registry.clone());
        let checkout = web::Data::from(checkout);
        let gates = web::Data::new(EventGates::new(pool.clone(), Duration::from_secs(1)));
        let booking_settings = web::Data::new(settings.booking.clone());
        let bus = web::Data::new(bus);
        let hubs = web::Data::from(hubs);
        let live_settings = web::Data::new(settings.live.clone());
        let queue_watch = web::Data::new(QueueWatch::new(queue_store.clone()));
        let dashboards = web::Data::new(Dashboards::new(
            pool.clone(),
            queue_store.clone(),
            Duration::from_secs(1),
        ));
        let queue_store = web::Data::new(queue_store);
        let limits = Arc::new(Limits::new(
            &settings.limits,
            settings.queue.joins_per_second_per_client,
        ));
        actix_web::rt::spawn(limits.clone().housekeeping(Duration::from_secs(10)));
        let limits = web::Data::from(limits);
        let trusted_proxies =
            web::Data::new(TrustedProxies::new(settings.limits.trusted_proxies()?));
        let password_hashing = web::Data::new(PasswordHashing::new(&settings.limits));
        let metrics_access = web::Data::new(MetricsAccess::new(
            settings.metrics.allow_from()?,
            &settings.metrics.bearer_token,
        ));
        let queue_settings = web::Data::new(settings.queue.clone());
        let node = web::Data::new(http::ops::NodeId(node_id.clone()));
        let drain_data = web::Data::new(drain.clone());
        let cors_origins =
            web::Data::new(http::cors::CorsOrigins::new(&settings.server.cors_origins));

        let server = HttpServer::new(move || {
            App::new()
                .wrap(Compress::default())
                .wrap(from_fn(http::cors::cors))
                .wrap(from_fn(http::security_headers::security_headers))
                .wrap(from_fn(http::ops::record_request))
                .wrap(from_fn(http::ops::close_when_stopping))
                .wrap(TracingLogger::<http::request_span::RequestSpan>::new())
                .app_data(http::json_config(max_body))
                .app_data(http::path_config())
                .app_data(http::query_config())
                .app_data(pool_data.clone())
                .app_data(browse.clone())
                .app_data(redis.clone())
                .app_data(cache.clone())
                .app_data(signer.clone())
                .app_data(metrics.clone())
                .app_data(registry_data.clone())
                .app_data(checkout.clone())
                .app_data(gates.clone())
                .app_data(booking_settings.clone())
                .app_data(bus.clone())
                .app_data(hubs.clone())
                .app_data(live_settings.clone())
                .app_data(queue_store.clone())
                .app_data(queue_watch.clone())
                .app_data(dashboards.clone())
                .app_data(limits.clone())
                .app_data(trusted_proxies.clone())
                .app_data(password_hashing.clone())
                .app_data(metrics_access.clone())
                .app_data(queue_settings.clone())
                .app_data(node.clone())
                .app_data(drain_data.clone())
                .app_data(cors_origins.clone())
                .configure(routes)
                .default_service(web::to(http::no_route))
        })
        .shutdown_timeout(settings.server.shutdown_timeout_seconds)
        // SIGTERM/SIGINT are ours (run_until_stopped): the drain must start
        // right after the listener closes, not at the shutdown timeout.
        .disable_signals()
        .listen(listener)?
        .run();

        Ok(Application {
            port,
            server,
            pool,
            actors,
            registry,
            drain,
            local,
            linger: Duration::from_secs(settings.server.linger_seconds),
        })
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

    /// The thread of the event actors and the sweeper (tests stop it).
    pub fn actors(&self) -> ArbiterHandle {
        self.actors.handle()
    }

    pub fn registry(&self) -> Arc<Registry> {
        self.registry.clone()
    }

    /// The node's drain (tests start it as SIGTERM would, with [`Self::stop`]).
    pub fn drain(&self) -> Drain {
        self.drain.clone()
    }

    /// What SIGTERM does, without the signal: see [`crate::drain`].
    pub fn stop(&self) -> impl std::future::Future<Output = ()> + 'static {
        stop_gracefully(
            self.server.handle(),
            self.drain.clone(),
            self.local,
            self.linger,
        )
    }

    /// Serves until SIGTERM/SIGINT (or a stop through the handle), then
    /// drains: the listener closes, streams end, the admission leases go
    /// back, requests in flight (and their batches) finish within the
    /// shutdown timeout; then the actors stop.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let stopping = stop_gracefully(
            self.server.handle(),
            self.drain.clone(),
            self.local,
            self.linger,
        );
        let signals = actix_web::rt::spawn(async move {
            if stop_signal().await {
                stopping.await;
            }
        });
        let served = self.server.await;
        signals.abort();
        // Anything still waiting on the drain (a stop through the handle).
        self.drain.start();
        self.actors.stop();
        served
    }
}

/// SIGTERM or SIGINT; false if signals cannot be listened to.
async fn stop_signal() -> bool {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("cannot listen for SIGTERM/SIGINT");
        return false;
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: draining"),
        _ = int.recv() => tracing::info!("SIGINT: draining"),
    }
    true
}

/// What SIGTERM does (tests call it directly): serves `linger` longer,
/// closing every connection after its answer; stops accepting and waits (at
/// most a second) until the listener is closed, so clients told to reconnect
/// reach another node; then starts the drain. The server's graceful stop
/// runs on: in-flight requests finish.
pub async fn stop_gracefully(
    handle: ServerHandle,
    drain: Drain,
    local: std::net::SocketAddr,
    linger: Duration,
) {
    drain.close_connections();
    if !linger.is_zero() {
        tracing::info!(
            seconds = linger.as_secs_f64(),
            "closing connections after each answer, then the listener"
        );
        tokio::time::sleep(linger).await;
    }
    let stopped = actix_web::rt::spawn(async move { handle.stop(true).await });
    let mut probe = local;
    if probe.ip().is_unspecified() {
        probe.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(1);
    while tokio::time::Instant::now() < deadline
        && tokio::net::TcpStream::connect(probe).await.is_ok()
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tracing::info!("listener closed: streams end, admission leases go back");
    drain.start();
    let _ = stopped.await;
}

fn routes(cfg: &mut web::ServiceConfig) {
    use http::methods::endpoint;
    use http::{
        admin, auth, bookings, events, live, ops, refunds, seats, tickets, venues, waiting_room,
    };
    cfg.service(endpoint("/healthz").get(ops::healthz))
        .service(endpoint("/readyz").get(ops::readyz))
        .service(endpoint("/metrics").get(ops::metrics))
        .service(endpoint("/openapi.json").get(ops::openapi))
        .service(endpoint("/docs").get(http::client::docs))
        .service(endpoint("/auth/guest").post(auth::guest))
        .service(endpoint("/auth/signup").post(auth::signup))
        .service(endpoint("/auth/login").post(auth::login))
        .service(endpoint("/events").get(events::list))
        .service(endpoint("/events/{event_id}").get(events::get))
        .service(endpoint("/events/{event_id}/seats").get(seats::snapshot))
        .service(endpoint("/events/{event_id}/seats/stream").get(live::stream))
        .service(endpoint("/events/{event_id}/seats/ws").get(live::websocket))
        .service(
            endpoint("/events/{event_id}/queue")
                .post(waiting_room::join)
                .get(waiting_room::status),
        )
        .service(endpoint("/events/{event_id}/queue/stream").get(waiting_room::stream))
        .service(endpoint("/events/{event_id}/queue/fairness").get(waiting_room::fairness))
        .service(
            endpoint("/admin/events/{event_id}/queue")
                .put(waiting_room::configure)
                .get(waiting_room::report_handler),
        )
        .service(endpoint("/").get(http::client::index))
        .service(endpoint("/web/{file}").get(http::client::file))
        .service(endpoint("/web/{dir}/{file}").get(http::client::nested))
        .service(endpoint("/venues/{venue_id}/layout").get(venues::layout))
        .service(endpoint("/admin/venues").post(admin::create_venue))
        .service(endpoint("/admin/events").post(admin::create_event))
        .service(endpoint("/admin/events/{event_id}").patch(admin::patch_event))
        .service(endpoint("/admin/events/{event_id}/dashboard/stream").get(http::dashboard::stream))
        .service(endpoint("/admin/events/{event_id}/checkin").post(admin::check_in))
        .service(endpoint("/admin/bookings").get(admin::lookup))
        .service(endpoint("/admin/bookings/{booking_id}").get(admin::booking))
        .service(endpoint("/admin/bookings/{booking_id}/refund").post(refunds::refund))
        .service(endpoint("/bookings").post(bookings::create))
        .service(
            endpoint("/bookings/{booking_id}")
                .get(bookings::get)
                .delete(bookings::release),
        )
        .service(endpoint("/bookings/{booking_id}/confirm").post(bookings::confirm))
        .service(endpoint("/bookings/{booking_id}/cancel").post(refunds::cancel))
        .service(endpoint("/me/bookings").get(bookings::mine))
        .service(endpoint("/tickets/{confirmation_number}").get(tickets::show));
}
