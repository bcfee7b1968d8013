//! Whether a caja's POS is connected now, since when it is (or is not),
//! and how many sales it last said it holds unsent: what the floor shows
//! of a POS that lost its link ("POS sin conexión desde 02:14"). Kept in
//! memory only: after a restart every POS reconnects and reports again.

use std::sync::Mutex;

use chrono::{DateTime, Utc};
use serde::Serialize;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PosPresence {
    pub online: bool,
    /// Since when it is online, or offline; none until a POS first connects.
    pub since: Option<DateTime<Utc>>,
    /// Sales the POS holds that the hub has not recorded yet, as last reported.
    pub pending: u32,
}

/// The caja's POS connections, counted (a cashier may have two tabs open).
#[derive(Debug, Default)]
pub struct PresenceCell(Mutex<(u32, PosPresence)>);

impl PresenceCell {
    pub fn current(&self) -> PosPresence {
        self.lock().1.clone()
    }

    /// A POS connected; the presence if that changed it.
    pub fn connected(&self, now: DateTime<Utc>) -> Option<PosPresence> {
        self.update(|connections, presence| {
            *connections += 1;
            if !presence.online {
                presence.online = true;
                presence.since = Some(now);
            }
        })
    }

    /// A POS's connection ended (or went silent and was dropped).
    pub fn disconnected(&self, now: DateTime<Utc>) -> Option<PosPresence> {
        self.update(|connections, presence| {
            *connections = connections.saturating_sub(1);
            if *connections == 0 && presence.online {
                presence.online = false;
                presence.since = Some(now);
            }
        })
    }

    /// The POS says how many sales it holds unsent.
    pub fn reported(&self, pending: u32) -> Option<PosPresence> {
        self.update(|_, presence| presence.pending = pending)
    }

    fn update(&self, change: impl FnOnce(&mut u32, &mut PosPresence)) -> Option<PosPresence> {
        let mut guard = self.lock();
        let before = guard.1.clone();
        let (connections, presence) = &mut *guard;
        change(connections, presence);
        (*presence != before).then(|| presence.clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (u32, PosPresence)> {
        // A panic elsewhere cannot leave these two numbers half-updated.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offline_only_when_the_last_pos_leaves() {
        let cell = PresenceCell::default();
        let (t1, t2, t3) = (
            Utc::now(),
            Utc::now() + chrono::Duration::seconds(5),
            Utc::now() + chrono::Duration::seconds(9),
        );
        assert_eq!(cell.current().since, None);
        assert!(cell.connected(t1).is_some_and(|p| p.online));
        assert_eq!(cell.connected(t2), None, "a second tab changes nothing");
        assert_eq!(cell.disconnected(t2), None, "one tab is still there");
        let gone = cell.disconnected(t3).unwrap();
        assert_eq!((gone.online, gone.since), (false, Some(t3)));
        assert_eq!(cell.reported(3).map(|p| p.pending), Some(3));
        assert_eq!(cell.reported(3), None);
    }
}
