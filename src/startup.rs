//! Building the application: the database, the shared state and the HTTP
//! server. `serve` and the tests build it with the same function.

use std::net::{SocketAddr, TcpListener};

use actix_web::dev::Server;
use actix_web::{App, HttpResponse, HttpServer, web};
use diesel::{Connection, PgConnection};
use tracing_actix_web::TracingLogger;

use crate::config::Settings;
use crate::db::{self, PgPool, migrations};
use crate::{cajas, health, web as pages};

/// What every handler can reach.
pub struct AppState {
    pub pool: PgPool,
}

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("could not connect to PostgreSQL")]
    Connect(#[from] diesel::ConnectionError),
    #[error(transparent)]
    Migrate(#[from] migrations::MigrationError),
    #[error("could not open the connection pool")]
    Pool(#[from] diesel::r2d2::PoolError),
    #[error("could not listen on {address}")]
    Bind {
        address: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("start-up was cancelled")]
    Cancelled,
}

pub struct Application {
    address: SocketAddr,
    server: Server,
}

impl Application {
    /// Migrates the database at `database_url`, opens the pool and binds
    /// `settings.bind` (port 0 picks a free port: see [`Application::address`]).
    pub async fn build(settings: &Settings, database_url: &str) -> Result<Self, StartupError> {
        let url = database_url.to_owned();
        let pool_size = settings.pool_size;
        let pool = web::block(move || -> Result<PgPool, StartupError> {
            let mut conn = PgConnection::establish(&url)?;
            migrations::run_pending(&mut conn)?;
            Ok(db::build_pool(&url, pool_size)?)
        })
        .await
        .map_err(|_| StartupError::Cancelled)??;

        let state = web::Data::new(AppState { pool });
        let listener = TcpListener::bind(settings.bind).map_err(|source| StartupError::Bind {
            address: settings.bind,
            source,
        })?;
        let address = listener.local_addr()?;
        let server = HttpServer::new(move || {
            App::new()
                .wrap(TracingLogger::default())
                .app_data(state.clone())
                .configure(routes)
        })
        .listen(listener)?
        .shutdown_timeout(30)
        .run();
        Ok(Self { address, server })
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Serves until SIGTERM or SIGINT, then finishes the requests in flight.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

/// Every route of the hub.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(health::healthz)
        .service(health::readyz)
        .route("/assets/{path:.*}", web::get().to(pages::assets::serve))
        .route("/", web::get().to(home))
        .configure(cajas::routes);
}

async fn home() -> HttpResponse {
    pages::redirect_see_other("/admin/cajas/")
}
