//! The floor's snapshot as those who see everything get it, serialized once
//! and shared by every screen that greets the floor at the same state. After
//! a restart thousands of dashboards reconnect at once; each building and
//! holding its own copy of a 30-caja snapshot (tens of KB) is where their
//! memory and time went.

use std::sync::{Arc, Mutex, PoisonError};

use bytestring::ByteString;

use crate::registers::registry::View;

#[derive(Debug, Default)]
pub struct SharedSnapshot(Mutex<Option<Made>>);

#[derive(Debug)]
struct Made {
    reason: String,
    /// What it was made of (kept, so a state's address is never reused
    /// while it is compared).
    views: Vec<View>,
    message: ByteString,
}

impl SharedSnapshot {
    /// The message for `views`, made by `make` unless the last one was made
    /// of the very same committed states, health and presence.
    pub fn get_or_make(
        &self,
        reason: &str,
        views: &[View],
        make: impl FnOnce() -> String,
    ) -> ByteString {
        let mut made = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(last) = made.as_ref()
            && last.reason == reason
            && same(&last.views, views)
        {
            return last.message.clone();
        }
        let message = ByteString::from(make());
        *made = Some(Made {
            reason: reason.to_owned(),
            views: views.to_vec(),
            message: message.clone(),
        });
        message
    }
}

fn same(a: &[View], b: &[View]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(a, b)| {
            Arc::ptr_eq(&a.register, &b.register) && a.health == b.health && a.pos == b.pos
        })
}
