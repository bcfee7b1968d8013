//! Whether a caja answers: a write in flight for longer than the register
//! timeout, or a last write that failed for the database's sake (a timeout,
//! a lost connection), makes it "sin respuesta" until a write succeeds. The
//! floor marks it, its POS shows it, and `/readyz` names it.

use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Health {
    Ok,
    /// The caja does not answer: since when, and why (in Spanish).
    Stuck {
        since: DateTime<Utc>,
        reason: String,
    },
}

impl Health {
    pub fn is_ok(&self) -> bool {
        matches!(self, Health::Ok)
    }
}

#[derive(Debug, Default)]
struct State {
    /// When the write now in flight started.
    busy_since: Option<DateTime<Utc>>,
    /// The first of the failures since the last success, and the last reason.
    failing: Option<(DateTime<Utc>, String)>,
    /// What the screens were last told.
    reported: Option<Health>,
}

/// One caja's health, written by its actor and read by anyone.
#[derive(Debug, Default)]
pub struct HealthCell {
    state: Mutex<State>,
}

impl HealthCell {
    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        // A poisoned lock only means a panic elsewhere; the state is still plain data.
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        f(&mut state)
    }

    pub fn write_started(&self, at: DateTime<Utc>) {
        self.with(|s| s.busy_since = Some(at));
    }

    /// The write ended; `failure` says why it failed for the database's sake.
    pub fn write_ended(&self, at: DateTime<Utc>, failure: Option<String>) {
        self.with(|s| {
            s.busy_since = None;
            s.failing = match (failure, s.failing.take()) {
                (None, _) => None,
                (Some(reason), Some((since, _))) => Some((since, reason)),
                (Some(reason), None) => Some((at, reason)),
            };
        });
    }

    /// The health as of `now`, where a write may take up to `limit`.
    pub fn current(&self, now: DateTime<Utc>, limit: Duration) -> Health {
        self.with(|s| health(s, now, limit))
    }

    /// The health as of `now`, if it is not what the screens were last told.
    pub fn changed(&self, now: DateTime<Utc>, limit: Duration) -> Option<Health> {
        self.with(|s| {
            let now = health(s, now, limit);
            let first = s.reported.is_none();
            if s.reported.as_ref() == Some(&now) {
                return None;
            }
            s.reported = Some(now.clone());
            // A caja that starts healthy has nothing to announce.
            (!first || !now.is_ok()).then_some(now)
        })
    }
}

fn health(state: &State, now: DateTime<Utc>, limit: Duration) -> Health {
    if let Some((since, reason)) = &state.failing {
        return Health::Stuck {
            since: *since,
            reason: reason.clone(),
        };
    }
    let limit = chrono::Duration::from_std(limit).unwrap_or(chrono::Duration::MAX);
    match state.busy_since {
        Some(since) if now - since >= limit => Health::Stuck {
            since,
            reason: format!(
                "una operación lleva más de {} s sin terminar en la base de datos",
                limit.num_seconds()
            ),
        },
        _ => Health::Ok,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: Duration = Duration::from_secs(10);

    #[test]
    fn a_long_write_is_stuck_only_past_the_limit_and_a_success_heals_a_failure() {
        let cell = HealthCell::default();
        let t0 = Utc::now();
        assert_eq!(cell.changed(t0, LIMIT), None, "healthy from the start");
        cell.write_started(t0);
        assert!(
            cell.current(t0 + chrono::Duration::seconds(9), LIMIT)
                .is_ok()
        );
        let late = t0 + chrono::Duration::seconds(10);
        assert!(
            matches!(cell.changed(late, LIMIT), Some(Health::Stuck { since, .. }) if since == t0)
        );
        assert_eq!(cell.changed(late, LIMIT), None, "told once");

        cell.write_ended(late, Some("lock".into()));
        cell.write_started(late);
        cell.write_ended(late, Some("timeout".into()));
        assert_eq!(
            cell.current(late, LIMIT),
            Health::Stuck {
                since: late,
                reason: "timeout".into()
            },
            "failing since the first failure, with the last reason"
        );
        cell.write_ended(late, None);
        assert_eq!(cell.changed(late, LIMIT), Some(Health::Ok));
    }
}
