//! Account changes, pushed: PostgreSQL notifies `cajahub_accounts` (a
//! trigger on `users` and `logins`) whenever a user is disabled, changes
//! role or session epoch, or a login of theirs ends, whoever made the
//! change (this hub, another one, `cajahub user …`). One thread listens on
//! a connection of its own and tells the live screens, so an idle screen
//! asks the database nothing.
//!
//! The same notifications keep the logins the hub has checked in memory
//! (`known`), so a request needs no query to know who sends it: an entry
//! goes when its user's account changes. A notification can only be missed
//! while the listening connection is down: then nothing is kept, and after
//! every reconnection every screen is told to check once. What was known
//! when changes stopped being heard is kept aside (`last_heard`) for one
//! use only: answering while the database cannot be reached, when nobody
//! can change an account either; each login is checked again as soon as it
//! answers.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use dashmap::DashMap;
use dashmap::mapref::entry::Entry;
use diesel::{Connection, PgConnection, RunQueryDsl};
use tokio::sync::{broadcast, watch};
use uuid::Uuid;

use super::user::User;

/// The channel the trigger notifies.
const CHANNEL: &str = "cajahub_accounts";
/// How often the listening connection's socket is read. Reading is local
/// (no query, no round trip, one system call): a change made by another
/// process reaches the screens and the known logins within this.
const POLL: Duration = Duration::from_millis(20);
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
    /// The thread listening for changes (taken to be joined at a stop).
    thread: std::sync::Mutex<Option<std::thread::JoinHandle<()>>>,
}

#[derive(Debug)]
struct Shared {
    changes: broadcast::Sender<AccountChange>,
    stopped: AtomicBool,
    /// The logins checked against the database, with their user as read.
    logins: DashMap<Uuid, User>,
    /// Moves on every change heard: a read that began before a change is
    /// not kept (it may predate it).
    version: AtomicU64,
    /// Whether changes are being heard now (else nothing is kept).
    listening: AtomicBool,
    /// The logins known when changes stopped being heard, until they are
    /// heard again: used only while the database does not answer.
    last_heard: DashMap<Uuid, User>,
    /// Logins being read: the requests of one login that arrive together
    /// (a wall of screens reconnecting) wait for one read instead of each
    /// making its own. The receiver hears when that read is over.
    reading: DashMap<Uuid, watch::Receiver<()>>,
}

impl Shared {
    /// Forgets what is known of `user` (or of everyone).
    fn forget(&self, change: AccountChange) {
        self.version.fetch_add(1, Ordering::SeqCst);
        match change {
            AccountChange::User(id) => {
                self.logins.retain(|_, user| user.id.0 != id);
                self.last_heard.retain(|_, user| user.id.0 != id);
            }
            AccountChange::Everyone => self.logins.clear(),
        }
    }

    fn tell(&self, change: AccountChange) {
        self.forget(change);
        let _ = self.changes.send(change);
    }
}

impl Accounts {
    /// Starts listening on the database at `url`.
    pub fn watch(url: &str) -> Self {
        let shared = Arc::new(Shared {
            changes: broadcast::channel(1024).0,
            stopped: AtomicBool::new(false),
            logins: DashMap::new(),
            version: AtomicU64::new(0),
            listening: AtomicBool::new(false),
            last_heard: DashMap::new(),
            reading: DashMap::new(),
        });
        let (weak, url) = (Arc::downgrade(&shared), url.to_owned());
        let started = std::thread::Builder::new()
            .name("account-changes".into())
            .spawn(move || listen(&url, &weak));
        let thread = match started {
            Ok(thread) => Some(thread),
            Err(err) => {
                // Without it nothing is kept (every request reads its login),
                // but open screens are not told of account changes.
                tracing::error!(error = %err, "could not start listening for account changes");
                None
            }
        };
        Self {
            shared,
            thread: std::sync::Mutex::new(thread),
        }
    }

    /// The listening thread, stopped by [`Accounts::stop`], for the caller
    /// to join once it may block (it holds a database connection).
    pub fn take_thread(&self) -> Option<std::thread::JoinHandle<()>> {
        self.thread.lock().ok().and_then(|mut thread| thread.take())
    }

    pub fn subscribe(&self) -> broadcast::Receiver<AccountChange> {
        self.shared.changes.subscribe()
    }

    /// The user of login `login`, if it was checked and nothing changed since.
    pub fn known(&self, login: Uuid) -> Option<User> {
        if !self.shared.listening.load(Ordering::SeqCst) {
            return None;
        }
        self.shared.logins.get(&login).map(|user| user.clone())
    }

    /// The user of login `login` as known when changes stopped being heard:
    /// for a request while the database does not answer (no account can
    /// change then), never otherwise.
    pub fn last_heard(&self, login: Uuid) -> Option<User> {
        self.shared.last_heard.get(&login).map(|user| user.clone())
    }

    /// Before reading login `login`: when another request is reading it,
    /// waits for that read to end and answers `None` (look at
    /// [`Accounts::known`] again; read it yourself if it is not there);
    /// else answers the turn to read it, held until the read is over.
    pub async fn turn_to_read(&self, login: Uuid) -> Option<ReadTurn> {
        let mut other = match self.shared.reading.entry(login) {
            Entry::Occupied(reading) => reading.get().clone(),
            Entry::Vacant(free) => {
                let (over, reading) = watch::channel(());
                free.insert(reading);
                return Some(ReadTurn {
                    _over: over,
                    login,
                    shared: self.shared.clone(),
                });
            }
        };
        // Ends when the reader's turn is dropped (its sender with it).
        let _ = other.changed().await;
        None
    }

    /// Where a read of the database starts: pass it to [`Accounts::remember`].
    pub fn version(&self) -> u64 {
        self.shared.version.load(Ordering::SeqCst)
    }

    /// Keeps login `login`'s user as read, unless a change was heard since
    /// the read began (`version`) or changes are not being heard.
    pub fn remember(&self, login: Uuid, user: User, version: u64) {
        let shared = &self.shared;
        if shared.listening.load(Ordering::SeqCst)
            && shared.version.load(Ordering::SeqCst) == version
        {
            shared.logins.insert(login, user);
            // A change heard while inserting: drop what may predate it.
            if shared.version.load(Ordering::SeqCst) != version {
                shared.logins.remove(&login);
            }
        }
    }

    /// This hub changed `user`'s account (or ended a login of theirs): its
    /// next request is checked against the database at once, without
    /// waiting for the notification.
    pub fn changed(&self, user: i32) {
        self.shared.tell(AccountChange::User(user));
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

/// A request's turn to read a login (see [`Accounts::turn_to_read`]); the
/// requests waiting for it go on when it is dropped.
pub struct ReadTurn {
    _over: watch::Sender<()>,
    login: Uuid,
    shared: Arc<Shared>,
}

impl Drop for ReadTurn {
    fn drop(&mut self) {
        self.shared.reading.remove(&self.login);
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
    let deaf = |shared: &Shared| {
        shared.listening.store(false, Ordering::SeqCst);
        for entry in shared.logins.iter() {
            shared
                .last_heard
                .insert(*entry.key(), entry.value().clone());
        }
        shared.forget(AccountChange::Everyone);
    };
    while let Some(current) = alive() {
        let listening =
            PgConnection::establish(&crate::db::with_tcp_limits(url)).and_then(|mut conn| {
                diesel::sql_query(format!("LISTEN {CHANNEL}"))
                    .execute(&mut conn)
                    .map(|_| conn)
                    .map_err(|err| diesel::ConnectionError::BadConnection(err.to_string()))
            });
        let mut conn = match listening {
            Ok(conn) => conn,
            Err(err) => {
                deaf(&current);
                drop(current);
                tracing::warn!(error = %err, "cannot listen for account changes; retrying");
                std::thread::sleep(RECONNECT);
                continue;
            }
        };
        // Whatever changed before LISTEN took effect was not notified.
        current.tell(AccountChange::Everyone);
        current.last_heard.clear();
        current.listening.store(true, Ordering::SeqCst);
        drop(current);
        'listening: while let Some(shared) = alive() {
            for notification in conn.notifications_iter() {
                match notification {
                    Ok(n) => match n.payload.parse::<i32>() {
                        Ok(user) => shared.tell(AccountChange::User(user)),
                        Err(_) => shared.tell(AccountChange::Everyone),
                    },
                    Err(err) => {
                        deaf(&shared);
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
