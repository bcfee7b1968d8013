//! Account changes, pushed: PostgreSQL notifies `cajahub_accounts` (a
//! trigger on `users` and `logins`) whenever a user is disabled, changes
//! role or session epoch, or a login of theirs ends, whoever made the
//! change (this hub, another one, `cajahub user …`). One thread listens on
//! a connection of its own and tells the live screens, so an idle screen
//! asks the database nothing.
//!
//! A notification can only be missed while the listening connection is
//! down; after every reconnection every screen is told to check once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use diesel::{Connection, PgConnection, RunQueryDsl};
use tokio::sync::broadcast;

/// The channel the trigger notifies.
const CHANNEL: &str = "cajahub_accounts";
/// How often the listening connection's socket is read. Reading is local
/// (no query, no round trip): a change reaches the screens within this.
const POLL: Duration = Duration::from_millis(100);
/// The wait before connecting again after the listening connection failed.
const RECONNECT: Duration = Duration::from_secs(1);

/// What a screen is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountChange {
    /// This user's account or one of their logins changed.
    User(i32),
    /// Changes may have been missed: every screen checks its account.
    Everyone,
}

/// The account changes of the hub's database, for the screens to follow.
/// The listening thread ends when this is dropped.
#[derive(Debug)]
pub struct Accounts {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    changes: broadcast::Sender<AccountChange>,
    stopped: AtomicBool,
}

impl Accounts {
    /// Starts listening on the database at `url`.
    pub fn watch(url: &str) -> Self {
        let shared = Arc::new(Shared {
            changes: broadcast::channel(1024).0,
            stopped: AtomicBool::new(false),
        });
        let (weak, url) = (Arc::downgrade(&shared), url.to_owned());
        let started = std::thread::Builder::new()
            .name("account-changes".into())
            .spawn(move || listen(&url, &weak));
        if let Err(err) = started {
            // Without it the screens still end at their next request's check.
            tracing::error!(error = %err, "could not start listening for account changes");
        }
        Self { shared }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<AccountChange> {
        self.shared.changes.subscribe()
    }

    /// Stops listening (the hub is stopping).
    pub fn stop(&self) {
        self.shared.stopped.store(true, Ordering::Relaxed);
    }
}

impl Drop for Accounts {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The listening loop: connect, LISTEN, read notifications; on failure,
/// reconnect and have every screen check. Ends when the hub lets go.
fn listen(url: &str, shared: &Weak<Shared>) {
    let alive = || {
        shared
            .upgrade()
            .filter(|s| !s.stopped.load(Ordering::Relaxed))
    };
    while let Some(current) = alive() {
        drop(current);
        let mut conn =
            match PgConnection::establish(&crate::db::with_tcp_limits(url)).and_then(|mut conn| {
                diesel::sql_query(format!("LISTEN {CHANNEL}"))
                    .execute(&mut conn)
                    .map(|_| conn)
                    .map_err(|err| diesel::ConnectionError::BadConnection(err.to_string()))
            }) {
                Ok(conn) => conn,
                Err(err) => {
                    tracing::warn!(error = %err, "cannot listen for account changes; retrying");
                    std::thread::sleep(RECONNECT);
                    continue;
                }
            };
        // Whatever changed before LISTEN took effect was not notified.
        if let Some(shared) = alive() {
            let _ = shared.changes.send(AccountChange::Everyone);
        }
        'listening: while let Some(shared) = alive() {
            for notification in conn.notifications_iter() {
                match notification {
                    Ok(n) => match n.payload.parse::<i32>() {
                        Ok(user) => {
                            let _ = shared.changes.send(AccountChange::User(user));
                        }
                        Err(_) => {
                            let _ = shared.changes.send(AccountChange::Everyone);
                        }
                    },
                    Err(err) => {
                        tracing::warn!(error = %err, "the connection listening for account changes failed; reconnecting");
                        break 'listening;
                    }
                }
            }
            drop(shared);
            std::thread::sleep(POLL);
        }
    }
}
