//! How many screens are connected right now, by kind: what a supervisor of
//! the hub (and its tests) reads to know dropped screens really went away;
//! and how many each login and each person holds, capped so one login
//! cannot pin hundreds of the hub's sockets.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use dashmap::DashMap;
use tokio::sync::watch;
use uuid::Uuid;

use super::shared_snapshot::SharedSnapshot;
use super::socket::{Scope, Timeouts};

/// The screens of the hub: their timeouts and how many are connected.
#[derive(Debug)]
pub struct Screens {
    pub timeouts: Timeouts,
    floor: Arc<AtomicUsize>,
    registers: Arc<AtomicUsize>,
    /// Screens closed since the memory was last trimmed (`memory.rs`).
    closed: Arc<AtomicUsize>,
    /// Turns true when the hub stops: every screen closes, telling its
    /// client to come back, so a graceful stop does not wait on them.
    stopping: watch::Sender<bool>,
    /// The floor's last snapshot for those who see everything.
    pub floor_snapshot: SharedSnapshot,
    caps: ScreenCaps,
    /// Screens open per login and per person (entries go at zero).
    held: Arc<Held>,
}

/// How many live screens one login, and one person over all their
/// logins, may hold at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScreenCaps {
    pub per_login: usize,
    pub per_user: usize,
}

impl Default for ScreenCaps {
    /// A browser with a few tabs; a supervisor with a few devices.
    fn default() -> Self {
        Self {
            per_login: 10,
            per_user: 30,
        }
    }
}

#[derive(Debug, Default)]
struct Held {
    by_login: DashMap<Uuid, usize>,
    by_user: DashMap<i32, usize>,
}

/// A screen refused because its login or its person holds as many as
/// they may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TooManyScreens {
    #[error("this login holds {0} screens already")]
    Login(usize),
    #[error("this person holds {0} screens already")]
    User(usize),
}

/// Whose screen it is.
#[derive(Debug, Clone, Copy)]
pub struct Holder {
    pub login: Uuid,
    pub user: i32,
}

impl Screens {
    pub fn new(timeouts: Timeouts, caps: ScreenCaps) -> Self {
        Self {
            caps,
            held: Arc::default(),
            timeouts,
            floor: Arc::default(),
            registers: Arc::default(),
            closed: Arc::default(),
            stopping: watch::channel(false).0,
            floor_snapshot: SharedSnapshot::default(),
        }
    }

    /// What a screen watches to learn the hub is stopping.
    pub fn stopping(&self) -> watch::Receiver<bool> {
        self.stopping.subscribe()
    }

    /// Closes every screen (the hub is stopping).
    pub fn close_all(&self) {
        self.stopping.send_replace(true);
    }

    /// Counts one more screen of `holder` until the returned guard is
    /// dropped, unless their login or their person is at the cap.
    pub fn connect(&self, scope: Scope, holder: Holder) -> Result<Connected, TooManyScreens> {
        self.held.take(holder, self.caps)?;
        let count = match scope {
            Scope::Floor => self.floor.clone(),
            Scope::Register(_) => self.registers.clone(),
        };
        count.fetch_add(1, Ordering::Relaxed);
        Ok(Connected {
            count,
            closed: self.closed.clone(),
            held: self.held.clone(),
            holder,
        })
    }

    /// Floor dashboards connected now.
    pub fn floors(&self) -> usize {
        self.floor.load(Ordering::Relaxed)
    }

    /// Caja screens connected now.
    pub fn registers(&self) -> usize {
        self.registers.load(Ordering::Relaxed)
    }

    /// Screens closed since the last call.
    pub fn take_closed(&self) -> usize {
        self.closed.swap(0, Ordering::Relaxed)
    }
}

impl Held {
    /// One more for the login and the person, or neither. The login's
    /// entry is held while the person's is checked, so two screens of one
    /// login racing for the last place get one.
    fn take(&self, holder: Holder, caps: ScreenCaps) -> Result<(), TooManyScreens> {
        let mut login = self.by_login.entry(holder.login).or_insert(0);
        if *login >= caps.per_login {
            return Err(TooManyScreens::Login(*login));
        }
        let mut user = self.by_user.entry(holder.user).or_insert(0);
        if *user >= caps.per_user {
            let (held, fresh) = (*user, *login == 0);
            drop(user);
            drop(login);
            if fresh {
                self.by_login.remove_if(&holder.login, |_, n| *n == 0);
            }
            return Err(TooManyScreens::User(held));
        }
        *user += 1;
        *login += 1;
        Ok(())
    }

    /// One fewer for the login and the person; entries at zero go, so
    /// the maps hold only those with screens open.
    fn forget(&self, holder: Holder) {
        self.by_login.remove_if_mut(&holder.login, |_, n| {
            *n = n.saturating_sub(1);
            *n == 0
        });
        self.by_user.remove_if_mut(&holder.user, |_, n| {
            *n = n.saturating_sub(1);
            *n == 0
        });
    }
}

/// One connected screen; dropping it, however the screen ended, counts it gone.
#[derive(Debug)]
pub struct Connected {
    count: Arc<AtomicUsize>,
    closed: Arc<AtomicUsize>,
    held: Arc<Held>,
    holder: Holder,
}

impl Drop for Connected {
    fn drop(&mut self) {
        self.count.fetch_sub(1, Ordering::Relaxed);
        self.closed.fetch_add(1, Ordering::Relaxed);
        self.held.forget(self.holder);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::cajas::CajaId;

    fn screens(caps: ScreenCaps) -> Screens {
        Screens::new(
            Timeouts {
                silence: Duration::from_secs(20),
                send: Duration::from_secs(2),
            },
            caps,
        )
    }

    fn holder(login: u128, user: i32) -> Holder {
        Holder {
            login: Uuid::from_u128(login),
            user,
        }
    }

    #[test]
    fn closed_screens_are_counted_until_taken() {
        let screens = screens(ScreenCaps::default());
        let floor = screens.connect(Scope::Floor, holder(1, 1)).unwrap();
        let caja = screens
            .connect(Scope::Register(CajaId(1)), holder(1, 1))
            .unwrap();
        let other = screens.connect(Scope::Floor, holder(2, 2)).unwrap();
        assert_eq!((screens.floors(), screens.registers()), (2, 1));
        drop(floor);
        drop(caja);
        assert_eq!((screens.floors(), screens.registers()), (1, 0));
        assert_eq!(screens.take_closed(), 2);
        assert_eq!(screens.take_closed(), 0, "taken once");
        drop(other);
        assert_eq!(screens.take_closed(), 1);
    }

    #[test]
    fn a_login_and_a_person_hold_screens_up_to_their_caps() {
        let screens = screens(ScreenCaps {
            per_login: 2,
            per_user: 3,
        });
        let (first, second) = (holder(1, 7), holder(2, 7));
        let a = screens.connect(Scope::Floor, first).unwrap();
        let _b = screens.connect(Scope::Floor, first).unwrap();
        assert_eq!(
            screens.connect(Scope::Floor, first).err(),
            Some(TooManyScreens::Login(2))
        );
        let _c = screens.connect(Scope::Floor, second).unwrap();
        assert_eq!(
            screens.connect(Scope::Floor, second).err(),
            Some(TooManyScreens::User(3)),
            "the person's third screen was the last"
        );
        // Somebody else is not affected; a refusal counts nothing.
        let _d = screens.connect(Scope::Floor, holder(3, 8)).unwrap();
        assert_eq!(screens.floors(), 4);
        drop(a);
        let _e = screens.connect(Scope::Floor, second).unwrap();
        assert_eq!(screens.held.by_login.get(&first.login).map(|n| *n), Some(1));
    }

    #[test]
    fn nothing_is_kept_of_those_with_no_screen_open() {
        let screens = screens(ScreenCaps::default());
        let held: Vec<_> = (0..50)
            .map(|n| screens.connect(Scope::Floor, holder(n, n as i32)).unwrap())
            .collect();
        drop(held);
        assert!(screens.held.by_login.is_empty() && screens.held.by_user.is_empty());
    }
}
