//! Active and standby hubs on one database (docs/architecture.md rule 23).
//!
//! Exactly one hub is active: the one holding a PostgreSQL advisory lock on
//! a connection of its own ([`lease`]). A hub started with failover on waits
//! for it as a standby, answering `/healthz` but `/readyz` 503 "standby"
//! and everything else 503 ([`standby`]), so a load balancer sends it
//! nothing; when it gets the lock it moves the lease's epoch on, ends every
//! connection of the hub it took over from, and only then builds the whole
//! hub, loading every caja from the database (rule 9) before it listens.
//! The active renews its lease while it lives; a standby takes over when
//! the active's connection dies (a killed process: at once) or when the
//! active stops renewing (a paused process: after the lease's length). A
//! hub that finds its lease gone steps down: it logs why and exits, and its
//! service manager starts it again, as a standby.

pub mod lease;
pub mod standby;
pub mod status;

use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use diesel::{Connection, PgConnection};
use tokio::sync::oneshot;

use crate::db::fence::Fence;
use crate::db::migrations;

#[derive(Debug, thiserror::Error)]
pub enum FailoverError {
    #[error("could not connect to PostgreSQL")]
    Connect(#[from] diesel::ConnectionError),
    #[error(transparent)]
    Migrate(#[from] migrations::MigrationError),
    #[error("could not serve as a standby on {address}")]
    Bind {
        address: SocketAddr,
        source: std::io::Error,
    },
    #[error("could not start the lease's thread")]
    Thread(#[source] std::io::Error),
    #[error("the lease's thread ended before this hub became active")]
    LeaseEnded,
    #[error("start-up was cancelled")]
    Cancelled,
}

/// This hub, active: the fence its connections must pass, and the socket
/// it listens on (the standby's, never let go of).
pub struct Active {
    pub fence: Fence,
    pub listener: TcpListener,
}

/// Waits, serving as a standby on `bind`, until this hub holds the lease
/// and has fenced off the hub it took over from. The lease is renewed for
/// the rest of the process's life.
pub async fn become_active(
    bind: SocketAddr,
    database_url: &str,
    lease: Duration,
) -> Result<Active, FailoverError> {
    // The schema first: the lease lives in it (migrations take a lock of
    // their own, so hubs starting together do not race).
    let url = database_url.to_owned();
    actix_web::web::block(move || -> Result<(), FailoverError> {
        let mut conn = PgConnection::establish(&url)?;
        migrations::run_pending(&mut conn)?;
        Ok(())
    })
    .await
    .map_err(|_| FailoverError::Cancelled)??;

    let bound = |source| FailoverError::Bind {
        address: bind,
        source,
    };
    let listener = TcpListener::bind(bind).map_err(bound)?;
    let standby = standby::server(listener.try_clone().map_err(bound)?).map_err(bound)?;
    let handle = standby.handle();
    actix_web::rt::spawn(standby);

    let instance = lease::instance_name();
    let (acquired, fenced) = oneshot::channel();
    let url = database_url.to_owned();
    std::thread::Builder::new()
        .name("failover-lease".into())
        .spawn(move || lease::hold(&url, instance, lease, acquired))
        .map_err(FailoverError::Thread)?;
    let fence = fenced.await.map_err(|_| FailoverError::LeaseEnded)?;
    // The port is the whole hub's from now on.
    handle.stop(false).await;
    Ok(Active { fence, listener })
}
