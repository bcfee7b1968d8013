//! The database: the connection pool, the schema and its migrations, and the
//! PostgreSQL the hub starts on.

pub mod fence;
#[macro_use]
pub mod jsonb;
pub mod local;
pub mod migrations;
pub mod on_this_machine;
pub mod schema;
#[macro_use]
pub mod text_enum;

/// An `i32` id column behind a type of its own, so ids of different tables
/// cannot be swapped: `id_newtype!(/** doc */ CajaId);`.
#[macro_export]
macro_rules! id_newtype {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord,
            serde::Serialize, serde::Deserialize, diesel_derive_newtype::DieselNewType,
        )]
        #[serde(transparent)]
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

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use diesel::PgConnection;
use diesel::connection::SimpleConnection;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, HandleEvent, Pool, PoolError};
use diesel::result::{DatabaseErrorKind, Error as DieselError};

/// A pool of connections, and what it has lately seen of its database.
#[derive(Clone)]
pub struct PgPool {
    pool: Pool<ConnectionManager<PgConnection>>,
    reach: Arc<Reach>,
}

impl std::ops::Deref for PgPool {
    type Target = Pool<ConnectionManager<PgConnection>>;

    fn deref(&self) -> &Self::Target {
        &self.pool
    }
}

impl PgPool {
    /// A connection: waiting up to [`CHECKOUT_TIMEOUT`] while the database
    /// answers, but only [`FAIL_FAST`] while it is known to be unreachable
    /// (no connection could be opened since the last failure), so a
    /// request, a probe or a caja hears of an outage at once instead of
    /// each waiting seconds for it. A checkout that succeeds ends it.
    pub fn connection(&self) -> Result<PooledConnection, PoolError> {
        if self.reach.unreachable() {
            self.pool.get_timeout(FAIL_FAST)
        } else {
            self.pool.get()
        }
    }
}

pub type PooledConnection = diesel::r2d2::PooledConnection<ConnectionManager<PgConnection>>;

/// Whether the pool failed to open a connection and has lent none since.
#[derive(Debug, Default)]
struct Reach {
    unreachable: AtomicBool,
}

impl Reach {
    fn failed(&self) {
        self.unreachable.store(true, Ordering::Relaxed);
    }

    fn reached(&self) {
        self.unreachable.store(false, Ordering::Relaxed);
    }

    fn unreachable(&self) -> bool {
        self.unreachable.load(Ordering::Relaxed)
    }
}

/// Hears the pool's checkouts: the database is reached again, and the
/// caller's recorder is told how long each waited.
#[derive(Debug)]
struct Watch<E> {
    reach: Arc<Reach>,
    events: E,
}

impl<E: HandleEvent> HandleEvent for Watch<E> {
    fn handle_checkout(&self, event: diesel::r2d2::event::CheckoutEvent) {
        self.reach.reached();
        self.events.handle_checkout(event);
    }
}

/// How long a request waits for a connection before the hub answers 503.
const CHECKOUT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long it waits while the database is known to be unreachable: time
/// enough for a connection to open if it is back (then the outage ends).
const FAIL_FAST: Duration = Duration::from_millis(250);

/// The database's own bounds on one statement and on one lock wait, set on
/// every pooled connection: a locked row or a stuck query answers an error
/// instead of holding a caja (docs/architecture.md rule 10).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DbLimits {
    pub statement_timeout: Duration,
    pub lock_timeout: Duration,
    /// The active hub's fence, when hubs share the database (rule 23).
    pub fence: Option<fence::Fence>,
}

impl DbLimits {
    /// A failure that took this long was one of these limits.
    pub fn shortest(&self) -> Duration {
        self.statement_timeout.min(self.lock_timeout)
    }
}

impl CustomizeConnection<PgConnection, diesel::r2d2::Error> for DbLimits {
    fn on_acquire(&self, conn: &mut PgConnection) -> Result<(), diesel::r2d2::Error> {
        conn.batch_execute(&format!(
            "SET statement_timeout = {}; SET lock_timeout = {};",
            self.statement_timeout.as_millis(),
            self.lock_timeout.as_millis()
        ))
        .map_err(diesel::r2d2::Error::QueryError)?;
        match self.fence {
            Some(fence) => fence.check(conn).map_err(diesel::r2d2::Error::QueryError),
            None => Ok(()),
        }
    }
}

/// The threads a hub's pools open connections on (in the background,
/// after a failed checkout) and reap idle ones on: r2d2's, owned here so a
/// stop can wait until none of them is inside libpq. A connection still
/// being opened or closed over TLS while the process exits races OpenSSL's
/// own clean-up at exit, and corrupts the heap.
#[derive(Clone)]
pub struct PoolThreads(Arc<scheduled_thread_pool::ScheduledThreadPool>);

impl PoolThreads {
    /// r2d2's default count.
    const THREADS: usize = 3;

    pub fn new() -> Self {
        Self(Arc::new(
            scheduled_thread_pool::ScheduledThreadPool::builder()
                .num_threads(Self::THREADS)
                .thread_name_pattern("db-pool-{}")
                .build(),
        ))
    }

    /// Waits until every job queued so far on these threads has ended
    /// (each thread takes one of ours, and they wait for each other, so
    /// none is running anything else), or `within` passed; whether they
    /// did. Call it once the pools are dropped: a job queued later finds
    /// its pool gone and does nothing.
    pub fn settle(&self, within: std::time::Duration) -> bool {
        use std::sync::{Condvar, Mutex};
        let deadline = std::time::Instant::now() + within;
        let gate = Arc::new((Mutex::new(0_usize), Condvar::new()));
        let (done, finished) = std::sync::mpsc::channel();
        for _ in 0..Self::THREADS {
            let (gate, done) = (gate.clone(), done.clone());
            self.0.execute(move || {
                let (arrived, all_here) = &*gate;
                let Ok(mut here) = arrived.lock() else { return };
                *here += 1;
                all_here.notify_all();
                while *here < Self::THREADS {
                    let left = deadline.saturating_duration_since(std::time::Instant::now());
                    match all_here.wait_timeout(here, left) {
                        Ok((next, timeout)) if !timeout.timed_out() => here = next,
                        _ => return,
                    }
                }
                let _ = done.send(());
            });
        }
        drop(done);
        (0..Self::THREADS).all(|_| {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            finished.recv_timeout(left).is_ok()
        })
    }
}

impl Default for PoolThreads {
    fn default() -> Self {
        Self::new()
    }
}

/// Builds the pool for requests. Connections are tested when checked out,
/// so a restarted PostgreSQL costs one failed test, not one failed request.
/// A connection whose peer went silent is given up on by the kernel
/// (keepalives and `tcp_user_timeout`), so even a COMMIT whose answer never
/// comes ends.
pub fn build_pool(
    database_url: &str,
    max_size: u32,
    limits: DbLimits,
    threads: &PoolThreads,
    events: impl HandleEvent + 'static,
) -> Result<PgPool, PoolError> {
    let reach = Arc::new(Reach::default());
    let pool = builder(max_size, limits, threads, events, &reach)
        .test_on_check_out(true)
        .build(ConnectionManager::new(with_tcp_limits(database_url)))?;
    Ok(PgPool { pool, reach })
}

/// Builds the pool of the registers' writes: the same limits, but no test
/// round trip at checkout (a sale's hot path). The write path tells a
/// connection the database closed by its error, [`discard`]s it and tries
/// once more on a fresh one, where its guards say what was kept.
pub fn build_write_pool(
    database_url: &str,
    max_size: u32,
    limits: DbLimits,
    threads: &PoolThreads,
    events: impl HandleEvent + 'static,
) -> Result<PgPool, PoolError> {
    let reach = Arc::new(Reach::default());
    let pool = builder(max_size, limits, threads, events, &reach)
        .test_on_check_out(false)
        .build(ConnectionManager::new(with_tcp_limits(database_url)))?;
    Ok(PgPool { pool, reach })
}

/// `events` hears each checkout and how long it waited (the caller's
/// metrics: this module counts nothing itself).
fn builder(
    max_size: u32,
    limits: DbLimits,
    threads: &PoolThreads,
    events: impl HandleEvent + 'static,
    reach: &Arc<Reach>,
) -> diesel::r2d2::Builder<ConnectionManager<PgConnection>> {
    Pool::builder()
        .thread_pool(threads.0.clone())
        .event_handler(Box::new(Watch {
            reach: reach.clone(),
            events,
        }))
        .max_size(max_size)
        .min_idle(Some(0))
        .connection_timeout(CHECKOUT_TIMEOUT)
        .connection_customizer(Box::new(limits))
        .error_handler(Box::new(ConnectFailed {
            reach: reach.clone(),
        }))
}

/// Marks `conn` broken so the pool closes it instead of lending it again.
/// Which database `conn` is on, as a fingerprint: its name, its oid and its
/// server's start time, hashed (readable by any role, telling apart two
/// databases of one server and two servers). `/readyz` says the hub's, so
/// `cajahub check --url` can tell whether the hub it reaches uses the
/// database it checked.
pub fn fingerprint(conn: &mut PgConnection) -> diesel::QueryResult<String> {
    use diesel::RunQueryDsl;
    #[derive(diesel::QueryableByName)]
    struct Fingerprint {
        #[diesel(sql_type = diesel::sql_types::Text)]
        fingerprint: String,
    }
    diesel::sql_query(
        "SELECT left(md5(current_database() || ':' || d.oid::text || ':' || \
                pg_postmaster_start_time()::text), 16) AS fingerprint \
           FROM pg_database d WHERE d.datname = current_database()",
    )
    .get_result::<Fingerprint>(conn)
    .map(|row| row.fingerprint)
}

pub fn discard(conn: &mut PgConnection) {
    use diesel::connection::{AnsiTransactionManager, TransactionManager};
    AnsiTransactionManager::transaction_manager_status_mut(conn).set_in_error();
}

/// A connection the pool could not open. r2d2 would log it as an ERROR by
/// itself, once per attempt; it is a warning here: what it means for the
/// hub (a 503, a caja not answering, `/readyz`) is logged where it happens,
/// and a PostgreSQL that stays away shows there.
#[derive(Debug)]
struct ConnectFailed {
    reach: Arc<Reach>,
}

impl diesel::r2d2::HandleError<diesel::r2d2::Error> for ConnectFailed {
    fn handle_error(&self, error: diesel::r2d2::Error) {
        self.reach.failed();
        tracing::warn!(%error, "could not open a database connection");
    }
}

/// The TCP settings libpq applies unless the URL says otherwise: without
/// them a peer that vanishes mid-answer holds a connection for minutes.
const TCP_LIMITS: [(&str, &str); 5] = [
    ("keepalives", "1"),
    ("keepalives_idle", "10"),
    ("keepalives_interval", "5"),
    ("keepalives_count", "3"),
    ("tcp_user_timeout", "30000"),
];

pub(crate) fn with_tcp_limits(url: &str) -> String {
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return url.to_owned();
    }
    let mut out = url.to_owned();
    for (name, value) in TCP_LIMITS {
        let present = url.split_once('?').is_some_and(|(_, query)| {
            query
                .split('&')
                .any(|pair| pair.split('=').next() == Some(name))
        });
        if !present {
            out.push(if out.contains('?') { '&' } else { '?' });
            out.push_str(&format!("{name}={value}"));
        }
    }
    out
}

/// A database call that failed, as the layers above need to tell apart.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// No connection could be had: nothing was sent.
    #[error("no database connection available: {0}")]
    Unavailable(String),
    #[error("database query failed")]
    Query(#[from] DieselError),
    /// A statement or lock timeout ended the work (it rolled back).
    #[error("the database did not answer in time")]
    TimedOut(#[source] DieselError),
    #[error("the database task was cancelled")]
    Cancelled,
}

impl From<PoolError> for DbError {
    fn from(err: PoolError) -> Self {
        DbError::Unavailable(err.to_string())
    }
}

/// The same failure again, for each command of a batch that failed as one
/// (diesel's errors are not `Clone`: a database error keeps its kind and
/// its message, what the layers above look at).
impl Clone for DbError {
    fn clone(&self) -> Self {
        fn again(err: &DieselError) -> DieselError {
            match err {
                DieselError::DatabaseError(kind, info) => {
                    DieselError::DatabaseError(*kind, Box::new(info.message().to_owned()))
                }
                DieselError::NotFound => DieselError::NotFound,
                DieselError::BrokenTransactionManager => DieselError::BrokenTransactionManager,
                DieselError::RollbackTransaction => DieselError::RollbackTransaction,
                other => DieselError::DatabaseError(
                    DatabaseErrorKind::Unknown,
                    Box::new(other.to_string()),
                ),
            }
        }
        match self {
            DbError::Unavailable(reason) => DbError::Unavailable(reason.clone()),
            DbError::Query(err) => DbError::Query(again(err)),
            DbError::TimedOut(err) => DbError::TimedOut(again(err)),
            DbError::Cancelled => DbError::Cancelled,
        }
    }
}

impl DbError {
    /// The connection is gone (the database closed it, or it broke): it
    /// must not be used again.
    pub fn connection_lost(&self) -> bool {
        matches!(
            self,
            DbError::Query(
                DieselError::DatabaseError(DatabaseErrorKind::ClosedConnection, _)
                    | DieselError::BrokenTransactionManager
            )
        )
    }

    /// True when the database could not be reached, rather than refused the query.
    pub fn is_unavailable(&self) -> bool {
        match self {
            DbError::Unavailable(_) | DbError::Cancelled | DbError::TimedOut(_) => true,
            DbError::Query(_) => self.connection_lost(),
        }
    }

    /// True unless the work provably never reached the database: after a
    /// lost connection, even a COMMIT may have happened.
    pub fn outcome_unknown(&self) -> bool {
        !matches!(self, DbError::Unavailable(_))
    }

    /// A query error that took as long as one of `limits` was that limit.
    /// (PostgreSQL's SQLSTATE does not reach diesel, and its messages may be
    /// translated: the time taken is what tells.)
    pub fn timed_out_after(self, elapsed: Duration, limits: DbLimits) -> Self {
        match self {
            DbError::Query(err @ DieselError::DatabaseError(DatabaseErrorKind::Unknown, _))
                if elapsed >= limits.shortest() || err.to_string().contains("timeout") =>
            {
                DbError::TimedOut(err)
            }
            other => other,
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
        run_here(&pool, work)
    })
    .await
    .map_err(|_| DbError::Cancelled)?
}

/// [`run`] on the calling thread, which it blocks: for a thread whose only
/// work is this one (a caja's actor). A panic in `work` is its error
/// ([`DbError::Cancelled`]), as on the blocking pool, and its connection is
/// closed rather than lent again in whatever state the panic left it.
pub fn run_here<T, F>(pool: &PgPool, work: F) -> Result<T, DbError>
where
    F: FnOnce(&mut PgConnection) -> T,
{
    let mut conn = pool.connection()?;
    let done = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(&mut conn)));
    done.map_err(|_| {
        discard(&mut conn);
        DbError::Cancelled
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    use super::PoolThreads;

    #[test]
    fn settling_waits_for_every_job_queued_and_gives_up_on_one_that_hangs() {
        let threads = PoolThreads::new();
        let finished = Arc::new(AtomicBool::new(false));
        let done = finished.clone();
        threads.0.execute(move || {
            std::thread::sleep(Duration::from_millis(50));
            done.store(true, Ordering::SeqCst);
        });
        assert!(threads.settle(Duration::from_secs(10)));
        assert!(
            finished.load(Ordering::SeqCst),
            "the job queued before ended first"
        );

        let (release, hold) = std::sync::mpsc::channel::<()>();
        threads.0.execute(move || {
            let _ = hold.recv();
        });
        assert!(
            !threads.settle(Duration::from_millis(100)),
            "a job still running"
        );
        drop(release);
        assert!(threads.settle(Duration::from_secs(10)));
    }
}
