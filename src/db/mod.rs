//! The database: the connection pool, the schema and its migrations, and the
//! PostgreSQL the hub starts on.

pub mod local;
pub mod migrations;
pub mod schema;
#[macro_use]
pub mod text_enum;

/// An `i32` id column behind a type of its own, so ids of different tables
/// cannot be swapped: `id_newtype!(/** doc */ RegisterId);`.
#[macro_export]
macro_rules! id_newtype {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord,
            serde::Serialize, diesel_derive_newtype::DieselNewType,
        )]
        pub struct $name(pub i32);

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = std::num::ParseIntError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                s.parse().map($name)
            }
        }
    };
}

use std::time::Duration;

use diesel::PgConnection;
use diesel::r2d2::{ConnectionManager, Pool, PoolError};
use diesel::result::{DatabaseErrorKind, Error as DieselError};

pub type PgPool = Pool<ConnectionManager<PgConnection>>;

/// How long a request waits for a connection before the hub answers 503.
const CHECKOUT_TIMEOUT: Duration = Duration::from_secs(5);

/// Builds the pool. Connections are tested when checked out, so a restarted
/// PostgreSQL costs one failed test, not one failed request.
pub fn build_pool(database_url: &str, max_size: u32) -> Result<PgPool, PoolError> {
    Pool::builder()
        .max_size(max_size)
        .min_idle(Some(0))
        .connection_timeout(CHECKOUT_TIMEOUT)
        .test_on_check_out(true)
        .build(ConnectionManager::new(database_url))
}

/// A database call that failed, as the layers above need to tell apart.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("no database connection available")]
    Unavailable(#[from] PoolError),
    #[error("database query failed")]
    Query(#[from] DieselError),
    #[error("the database task was cancelled")]
    Cancelled,
}

impl DbError {
    /// True when the database could not be reached, rather than refused the query.
    pub fn is_unavailable(&self) -> bool {
        match self {
            DbError::Unavailable(_) | DbError::Cancelled => true,
            DbError::Query(err) => matches!(
                err,
                DieselError::DatabaseError(DatabaseErrorKind::ClosedConnection, _)
                    | DieselError::BrokenTransactionManager
            ),
        }
    }
}

/// Runs blocking diesel work on the blocking thread pool, never on an async
/// worker, with a pooled connection, keeping the caller's tracing span. The
/// outer error says the database could not be reached; what the work itself
/// returns (often a `QueryResult`) comes back untouched.
pub async fn run<T, F>(pool: &PgPool, work: F) -> Result<T, DbError>
where
    F: FnOnce(&mut PgConnection) -> T + Send + 'static,
    T: Send + 'static,
{
    let pool = pool.clone();
    let span = tracing::Span::current();
    actix_web::web::block(move || {
        let _entered = span.enter();
        let mut conn = pool.get()?;
        Ok(work(&mut conn))
    })
    .await
    .map_err(|_| DbError::Cancelled)?
}
