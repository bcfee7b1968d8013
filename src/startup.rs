//! Building the application: the database, the shared state and the HTTP
//! server. `serve` and the tests build it with the same function.

use std::net::{SocketAddr, TcpListener};

use actix_web::dev::Server;
use actix_web::middleware::DefaultHeaders;
use actix_web::{App, HttpResponse, HttpServer, web};
use diesel::{Connection, PgConnection};
use tokio::signal::unix::{Signal, SignalKind, signal};
use tracing_actix_web::TracingLogger;

use crate::auth::{self, AuthPolicy};
use crate::boleta::issuing::Issuing;
use crate::boleta::outbox::Outbox;
use crate::boleta::webhook::WebhookSecret;
use crate::catalog::{self, CatalogCell};
use crate::config::Settings;
use crate::db::{self, PgPool, migrations};
use crate::payments::venue::Venue;
use crate::registers::CajaActors;
use crate::registers::sale::SaleLimits;
use crate::screens::Screens;
use crate::web::page::Demo;
use crate::{health, jornadas, metrics, registers, screens, telemetry, web as pages};

/// What every handler can reach.
pub struct AppState {
    pub pool: web::Data<PgPool>,
    /// The venue's card providers and their outages.
    pub venue: web::Data<Venue>,
    pub auth: web::Data<AuthPolicy>,
    /// Where passwords are checked, a few at a time.
    pub password_checks: web::Data<auth::password::Checks>,
    pub registers: web::Data<CajaActors>,
    /// What the venue sells, as last committed.
    pub catalog: web::Data<CatalogCell>,
    /// What a sale's boleta is, as last committed.
    pub issuing: web::Data<Issuing>,
    /// Sends the boletas to their provider.
    pub outbox: web::Data<Outbox>,
    /// What the provider's webhook must carry.
    pub webhook_secret: web::Data<WebhookSecret>,
    /// The venue's bounds on one sale (the POS and the floor show them).
    pub sale_limits: web::Data<SaleLimits>,
    /// Marks and recognizes a caja's device (its login page lists cashiers).
    pub device: web::Data<auth::device::DeviceCookie>,
    /// Every card terminal is simulated (`--simulate-terminals`): a demo,
    /// whose card charges are not real. Every page and `/readyz` say so.
    pub demo: web::Data<Demo>,
    pub screens: web::Data<Screens>,
    /// Account changes, pushed to the live screens.
    pub accounts: web::Data<auth::accounts::Accounts>,
    /// When each login was last used (written in the background).
    pub activity: web::Data<auth::activity::Activity>,
    /// The hub's time (tests move it by hand).
    pub clock: web::Data<crate::clock::Clock>,
}

impl AppState {
    /// Hands each piece to the handlers that ask for it by type
    /// (`web::Data<CajaActors>`, …): none of them sees this struct.
    fn share(&self, config: &mut web::ServiceConfig) {
        config
            .app_data(self.pool.clone())
            .app_data(self.venue.clone())
            .app_data(self.auth.clone())
            .app_data(self.password_checks.clone())
            .app_data(self.registers.clone())
            .app_data(self.catalog.clone())
            .app_data(self.issuing.clone())
            .app_data(self.outbox.clone())
            .app_data(self.webhook_secret.clone())
            .app_data(self.sale_limits.clone())
            .app_data(self.device.clone())
            .app_data(self.demo.clone())
            .app_data(self.screens.clone())
            .app_data(self.accounts.clone())
            .app_data(self.activity.clone())
            .app_data(self.clock.clone());
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("could not connect to PostgreSQL")]
    Connect(#[from] diesel::ConnectionError),
    #[error(transparent)]
    Migrate(#[from] migrations::MigrationError),
    #[error(transparent)]
    SessionKey(#[from] auth::session::KeyError),
    #[error("could not open the connection pool")]
    Pool(#[from] diesel::r2d2::PoolError),
    #[error("could not listen on {address}")]
    Bind {
        address: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("could not start the register actors")]
    CajaActors(#[from] crate::db::DbError),
    #[error("could not read the catalog")]
    Catalog(#[source] diesel::result::Error),
    #[error("could not read the boleta settings")]
    Boleta(#[source] diesel::result::Error),
    #[error("invalid settings: {0}")]
    Settings(String),
    #[error("start-up was cancelled")]
    Cancelled,
}

pub struct Application {
    address: SocketAddr,
    server: Server,
    state: web::Data<AppState>,
    /// `/metrics` on its own address, when one is set.
    metrics: Option<(SocketAddr, Server)>,
    signals: StopSignals,
    pool_threads: db::PoolThreads,
}

impl Application {
    /// Migrates the database at `database_url`, opens the pool and binds
    /// `settings.bind` (port 0 picks a free port: see [`Application::address`]).
    pub async fn build(settings: &Settings, database_url: &str) -> Result<Self, StartupError> {
        let url = database_url.to_owned();
        let (pool_size, limits) = (settings.pool_size, settings.db_limits());
        let configured_key = settings.session_key.clone();
        let pool_threads = db::PoolThreads::new();
        let threads = pool_threads.clone();
        let (pool, writes, key, has_users, catalog, boletas) =
            web::block(move || -> Result<_, StartupError> {
                let mut conn = PgConnection::establish(&url)?;
                migrations::run_pending(&mut conn)?;
                let key = auth::session::load_or_create_key(&mut conn, configured_key.as_deref())?;
                let has_users =
                    auth::user::any_exists(&mut conn).map_err(migrations::MigrationError::Lock)?;
                let catalog = catalog::store::load(&mut conn).map_err(StartupError::Catalog)?;
                let boletas = crate::boleta::settings::load(&mut conn)
                    .map_err(StartupError::Boleta)?
                    .issuing();
                let pool = db::build_pool(&url, pool_size, limits, &threads, metrics::PoolWaits)?;
                let writes =
                    db::build_write_pool(&url, pool_size, limits, &threads, metrics::PoolWaits)?;
                Ok((pool, writes, key, has_users, catalog, boletas))
            })
            .await
            .map_err(|_| StartupError::Cancelled)??;
        if !has_users {
            tracing::warn!(
                "no users yet: create the first admin with `{} --name admin --role ADMIN`",
                auth::cli::user_add_command()
            );
        }

        let sale_limits = settings.sale_limits().map_err(StartupError::Settings)?;
        if settings.simulate_terminals.is_some() {
            tracing::warn!(
                "DEMO: every caja's card terminal is simulated (--simulate-terminals): card charges are not real"
            );
        }
        let auth_policy = settings.auth_policy();
        let (secure, lifetime) = (settings.secure_cookies, auth_policy.absolute);
        let venue = Venue::load(
            pool.clone(),
            settings.clock.clone(),
            settings.outage_rules(),
        )
        .await?;
        let issuing = Issuing::new(boletas);
        let registers = CajaActors::start_all(registers::registry::Env {
            pool: pool.clone(),
            writes,
            clock: settings.clock.clone(),
            limits: settings.db_limits(),
            register_timeout: settings.register_timeout,
            venue: venue.clone(),
            simulated_terminal: settings.simulate_terminals.clone(),
            floor_interval: settings.floor_interval,
            sale_limits,
            issuing: issuing.clone(),
        })
        .await?;
        let outbox = Outbox::new(
            pool.clone(),
            settings.clock.clone(),
            issuing.clone(),
            settings.dte_api_key.clone(),
        );
        let state = web::Data::new(AppState {
            pool: web::Data::new(pool),
            venue: web::Data::from(venue),
            auth: web::Data::new(auth_policy),
            password_checks: web::Data::new(auth::password::Checks::for_this_machine()),
            registers: web::Data::new(registers),
            catalog: web::Data::new(CatalogCell::new(catalog)),
            issuing: web::Data::new(issuing),
            outbox: web::Data::new(outbox),
            webhook_secret: web::Data::new(WebhookSecret(settings.dte_webhook_secret.clone())),
            sale_limits: web::Data::new(sale_limits),
            demo: web::Data::new(Demo(settings.simulate_terminals.is_some())),
            device: web::Data::new(auth::device::DeviceCookie::new(key.clone(), secure)),
            screens: web::Data::new(Screens::new(
                settings.screen_timeouts(),
                settings.screen_caps(),
            )),
            accounts: web::Data::new(auth::accounts::Accounts::watch(database_url)),
            activity: web::Data::new(auth::activity::Activity::default()),
            clock: web::Data::new(settings.clock.clone()),
        });
        // Before listening: a stop signal sent as soon as the hub answers
        // must find it ready to stop gracefully, not kill it.
        let signals = StopSignals::listen()?;
        let listener = match &settings.listener {
            Some(listening) => listening.try_clone()?,
            None => TcpListener::bind(settings.bind).map_err(|source| StartupError::Bind {
                address: settings.bind,
                source,
            })?,
        };
        let address = listener.local_addr()?;
        let data = state.clone();
        let server = HttpServer::new(move || {
            App::new()
                .wrap(actix_web::middleware::from_fn(pages::head::head_as_get))
                .wrap(auth::session::middleware(key.clone(), secure, lifetime))
                .wrap(actix_web::middleware::from_fn(pages::gate::gate))
                .wrap(security_headers())
                .wrap(TracingLogger::<telemetry::RequestSpan>::new())
                .configure(|config| data.share(config))
                .app_data(pages::form_config())
                .configure(routes)
        })
        .on_connect(screens::tune_connection)
        .listen(listener)?
        .shutdown_timeout(30)
        // Signals are handled in `run_until_stopped`, so the screens close first.
        .disable_signals()
        .run();
        let metrics = match settings.metrics_bind {
            Some(bind) => Some(metrics_server(bind, state.clone())?),
            None => None,
        };
        Ok(Self {
            address,
            server,
            state,
            metrics,
            signals,
            pool_threads,
        })
    }

    /// Stops the hub from outside (tests restart the hub with it).
    pub fn handle(&self) -> HubHandle {
        HubHandle {
            server: self.server.handle(),
            metrics: self.metrics.as_ref().map(|(_, server)| server.handle()),
            state: self.state.clone(),
        }
    }

    /// Where `/metrics` is served, if anywhere.
    pub fn metrics_address(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().map(|(address, _)| *address)
    }

    /// What every handler reaches (tests read the connected screens there).
    pub fn state(&self) -> web::Data<AppState> {
        self.state.clone()
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Serves until SIGTERM or SIGINT (or [`HubHandle::stop`]), then
    /// closes the live screens and finishes the requests in flight.
    pub async fn run_until_stopped(self) -> std::io::Result<Remains> {
        let handle = self.handle();
        let stop_signals = self.signals;
        let signals = actix_web::rt::spawn(async move {
            stop_signals.received().await;
            tracing::info!("stop signal received; stopping gracefully");
            handle.stop().await;
        });
        if let Some((_, metrics)) = self.metrics {
            actix_web::rt::spawn(metrics);
        }
        let (activity, pool, clock) = (
            self.state.activity.clone().into_inner(),
            self.state.pool.get_ref().clone(),
            self.state.clock.get_ref().clone(),
        );
        let idle = self.state.auth.idle;
        let writes = actix_web::rt::spawn(activity.clone().keep_writing(
            pool.clone(),
            clock.clone(),
            idle,
        ));
        let state = self.state.clone();
        let trims =
            actix_web::rt::spawn(
                async move { screens::memory::trim_after_waves(&state.screens).await },
            );
        let boletas = actix_web::rt::spawn(self.state.outbox.clone().into_inner().keep_sending());
        let outcome = self.server.await;
        signals.abort();
        trims.abort();
        boletas.abort();
        writes.abort();
        // The last minute's uses, written before the hub goes.
        if let Err(err) = activity
            .write(&pool, clock.now().timestamp_millis(), idle)
            .await
        {
            tracing::warn!(error = %err, "could not write when logins were last used");
        }
        self.state.registers.stop();
        self.state.accounts.stop();
        let remains = Remains {
            actors: self.state.registers.take_threads(),
            listener: self.state.accounts.take_thread(),
            pool_threads: self.pool_threads,
        };
        outcome.map(|()| remains)
    }
}

/// The threads of a stopped hub that hold database connections: the cajas'
/// actors, the account listener and the pools' own. The process must not
/// exit while one of them is still inside libpq: `exit` tears down
/// OpenSSL's state, and a TLS connection closed at that moment on another
/// thread corrupts the heap (a double free, seen under load).
pub struct Remains {
    actors: Vec<actix::Arbiter>,
    listener: Option<std::thread::JoinHandle<()>>,
    pool_threads: db::PoolThreads,
}

impl Remains {
    /// How many threads: the actors' and the listener (the pools' apart).
    pub fn threads(&self) -> usize {
        self.actors.len() + usize::from(self.listener.is_some())
    }

    /// Joins them, once the runtime that ran the hub is gone (its tasks and
    /// their pool handles dropped), for at most `within`; whether all ended.
    pub fn join(self, within: std::time::Duration) -> bool {
        let deadline = std::time::Instant::now() + within;
        let Remains {
            actors,
            listener,
            pool_threads,
        } = self;
        let (joined, done) = std::sync::mpsc::channel();
        let joiner = std::thread::Builder::new()
            .name("join-at-stop".into())
            .spawn(move || {
                for actor in actors {
                    let _ = actor.join();
                }
                if let Some(listener) = listener {
                    let _ = listener.join();
                }
                let _ = joined.send(());
            });
        let threads_ended = joiner.is_ok() && done.recv_timeout(within).is_ok();
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        threads_ended && pool_threads.settle(left)
    }
}

/// Stops a running hub: screens are told to come back later, then the
/// server finishes what is in flight.
#[derive(Clone)]
pub struct HubHandle {
    server: actix_web::dev::ServerHandle,
    metrics: Option<actix_web::dev::ServerHandle>,
    state: web::Data<AppState>,
}

impl HubHandle {
    /// The live screens, as counted now.
    pub fn screens(&self) -> &Screens {
        &self.state.screens
    }

    pub async fn stop(&self) {
        self.state.screens.close_all();
        self.server.stop(true).await;
        if let Some(metrics) = &self.metrics {
            metrics.stop(true).await;
        }
    }
}

/// The `/metrics` server: one worker, nothing else on it.
fn metrics_server(
    bind: SocketAddr,
    state: web::Data<AppState>,
) -> Result<(SocketAddr, Server), StartupError> {
    let listener = TcpListener::bind(bind).map_err(|source| StartupError::Bind {
        address: bind,
        source,
    })?;
    let address = listener.local_addr()?;
    let server = HttpServer::new(move || {
        App::new()
            .configure(|config| state.share(config))
            .route("/metrics", web::get().to(scrape))
    })
    .workers(1)
    .listen(listener)?
    .disable_signals()
    .run();
    Ok((address, server))
}

/// GET /metrics (on the metrics address only).
async fn scrape(
    screens: web::Data<Screens>,
    pool: web::Data<PgPool>,
    outbox: web::Data<Outbox>,
    clock: web::Data<crate::clock::Clock>,
) -> HttpResponse {
    let boletas = outbox.summary();
    let now = metrics::Gauges {
        floor_screens: screens.floors(),
        pos_screens: screens.registers(),
        pool: pool.state(),
        boletas: metrics::BoletaGauges {
            pending: boletas.pending,
            rejected: boletas.rejected,
            oldest_pending_seconds: boletas
                .oldest_pending
                .map_or(0, |at| (clock.now() - at).num_seconds().max(0)),
        },
    };
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(metrics::metrics().render(now))
}

/// SIGTERM and SIGINT, caught from the moment they are listened for.
struct StopSignals {
    terminate: Signal,
    interrupt: Signal,
}

impl StopSignals {
    fn listen() -> std::io::Result<Self> {
        Ok(Self {
            terminate: signal(SignalKind::terminate())?,
            interrupt: signal(SignalKind::interrupt())?,
        })
    }

    async fn received(mut self) {
        tokio::select! {
            _ = self.terminate.recv() => {}
            _ = self.interrupt.recv() => {}
        }
    }
}

/// Every route of the hub.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(health::healthz)
        .service(health::readyz)
        .route("/assets/{path:.*}", web::get().to(pages::assets::serve))
        .configure(auth::routes)
        .configure(jornadas::routes)
        .configure(registers::routes)
        .configure(screens::routes)
        // Before the cajas' scope, which would answer its paths itself.
        .configure(crate::reports::routes)
        .configure(registers::caja_admin::routes)
        .configure(catalog::pages::routes)
        .configure(catalog::stock::routes)
        .configure(crate::venue_settings::routes)
        .configure(crate::boleta::settings::routes)
        .configure(crate::boleta::pages::routes)
        .configure(crate::boleta::webhook::routes)
        .default_service(web::to(pages::error::not_found));
}

/// Only the hub's own scripts and styles (templates have no inline script),
/// never inside a frame, no sniffing, no referrer outside the hub.
fn security_headers() -> DefaultHeaders {
    DefaultHeaders::new()
        .add((
            "Content-Security-Policy",
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
             frame-ancestors 'none'",
        ))
        .add(("X-Frame-Options", "DENY"))
        .add(("X-Content-Type-Options", "nosniff"))
        .add(("Referrer-Policy", "same-origin"))
}
