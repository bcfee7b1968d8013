//! How many screens are connected right now, by kind: what a supervisor of
//! the hub (and its tests) reads to know dropped screens really went away.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::watch;

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
}

impl Screens {
    pub fn new(timeouts: Timeouts) -> Self {
        Self {
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

    /// Counts one more screen until the returned guard is dropped.
    pub fn connect(&self, scope: Scope) -> Connected {
        let count = match scope {
            Scope::Floor => self.floor.clone(),
            Scope::Register(_) => self.registers.clone(),
        };
        count.fetch_add(1, Ordering::Relaxed);
        Connected {
            count,
            closed: self.closed.clone(),
        }
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

/// One connected screen; dropping it, however the screen ended, counts it gone.
#[derive(Debug)]
pub struct Connected {
    count: Arc<AtomicUsize>,
    closed: Arc<AtomicUsize>,
}

impl Drop for Connected {
    fn drop(&mut self) {
        self.count.fetch_sub(1, Ordering::Relaxed);
        self.closed.fetch_add(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::cajas::CajaId;

    #[test]
    fn closed_screens_are_counted_until_taken() {
        let screens = Screens::new(Timeouts {
            silence: Duration::from_secs(20),
            send: Duration::from_secs(2),
        });
        let floor = screens.connect(Scope::Floor);
        let caja = screens.connect(Scope::Register(CajaId(1)));
        let other = screens.connect(Scope::Floor);
        assert_eq!((screens.floors(), screens.registers()), (2, 1));
        drop(floor);
        drop(caja);
        assert_eq!((screens.floors(), screens.registers()), (1, 0));
        assert_eq!(screens.take_closed(), 2);
        assert_eq!(screens.take_closed(), 0, "taken once");
        drop(other);
        assert_eq!(screens.take_closed(), 1);
    }
}
