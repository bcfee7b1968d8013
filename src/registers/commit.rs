//! The one write path of a register. A command is checked against the state
//! the actor holds and writes its rows; in the same transaction the caja's
//! `seq` moves on, guarded (it must still be the one memory has), and the
//! change goes into the event log. Only after the commit does memory take
//! the new state (ARCHITECTURE.md rules 2 and 9).
//!
//! Memory follows the database, never the other way: when a write fails in
//! a way that does not prove it rolled back (the connection lost at COMMIT,
//! a cancelled call) memory may be behind, so the next command first
//! reloads the register from PostgreSQL and publishes the events it had
//! missed. A guard that finds the database elsewhere reloads and tries the
//! command once more against the fresh state.

use std::time::Instant;

use chrono::{DateTime, Utc};
use diesel::PgConnection;
use diesel::prelude::*;

use super::RegisterError;
use super::event_log::{self, AppendError, Change};
use super::events::Event;
use super::snapshot::Snapshot;
use crate::db::schema::pos_registers;
use crate::db::{DbError, DbLimits};

/// A command to one register, run on a blocking thread inside the change's
/// transaction.
pub trait Command: Send + 'static {
    type Reply: Send + 'static;

    /// Checks the command against `state` and writes its rows. `at` is the
    /// time the command is made at (what the screens are told).
    fn apply(
        &self,
        conn: &mut PgConnection,
        state: &Snapshot,
        at: DateTime<Utc>,
    ) -> Result<Applied<Self::Reply>, RegisterError>;
}

pub enum Applied<R> {
    /// Rows written: the register is now `next`, whose `seq` follows the
    /// state's (see [`Snapshot::changed`]).
    Changed {
        reply: R,
        change: Change,
        next: Box<Snapshot>,
    },
    /// Nothing written: a retry answered with what was committed before,
    /// which memory may not have seen yet.
    Replayed(R),
    /// Nothing written, nothing to check.
    Unchanged(R),
}

impl<R> Applied<R> {
    pub fn changed(reply: R, change: Change, next: Snapshot) -> Self {
        Applied::Changed {
            reply,
            change,
            next: Box::new(next),
        }
    }
}

/// What running a command did, for the actor to apply after the call.
pub struct Outcome<R> {
    /// The register's state now, when it moved (reloaded, changed or both).
    pub state: Option<Snapshot>,
    /// Committed changes to publish, in order: those found on a reload,
    /// then the command's own.
    pub events: Vec<Event>,
    /// A reload found changes the event log cannot tell: screens resync.
    pub resync: bool,
    pub result: Result<R, RegisterError>,
    /// The database may hold what memory does not: reload before the next command.
    pub stale: bool,
}

impl<R> Outcome<R> {
    /// The database could not be asked at all.
    pub fn unreachable(err: DbError, stale: bool) -> Self {
        let stale = stale || err.outcome_unknown();
        Self {
            state: None,
            events: Vec::new(),
            resync: false,
            result: Err(RegisterError::Db(err)),
            stale,
        }
    }
}

/// Runs `command` against `held` (reloading first if `stale`), in one
/// transaction with its guard and its event.
pub fn execute<C: Command>(
    conn: &mut PgConnection,
    held: &Snapshot,
    stale: bool,
    command: &C,
    at: DateTime<Utc>,
    limits: DbLimits,
) -> Outcome<C::Reply> {
    let mut outcome = Outcome {
        state: None,
        events: Vec::new(),
        resync: false,
        result: Err(RegisterError::StateMoved),
        stale: false,
    };
    let mut current = held.clone();
    if stale && let Err(err) = reload(conn, &mut current, &mut outcome) {
        outcome.result = Err(err);
        outcome.stale = true;
        return outcome;
    }
    for attempt in 1..=2 {
        let started = Instant::now();
        match attempt_once(conn, &current, command, at) {
            Ok((Applied::Changed { reply, next, .. }, event)) => {
                outcome.events.extend(event);
                outcome.state = Some(*next);
                outcome.result = Ok(reply);
            }
            Ok((Applied::Replayed(reply), _)) => {
                // A retry of something memory may not have seen: is the
                // database ahead?
                match committed_seq(conn, &current) {
                    Ok(seq) if seq == current.seq => {}
                    Ok(_) => {
                        if let Err(err) = reload(conn, &mut current, &mut outcome) {
                            tracing::warn!(error = ?err, "reload after a replay failed");
                            outcome.stale = true;
                        }
                    }
                    Err(_) => outcome.stale = true,
                }
                outcome.result = Ok(reply);
            }
            Ok((Applied::Unchanged(reply), _)) => outcome.result = Ok(reply),
            Err(RegisterError::StateMoved) if attempt == 1 => {
                tracing::warn!(register_id = %current.id(), seq = current.seq, "the database moved under the register; reloading");
                match reload(conn, &mut current, &mut outcome) {
                    Ok(()) => continue,
                    Err(err) => {
                        outcome.result = Err(err);
                        outcome.stale = true;
                    }
                }
            }
            Err(err) => {
                let err = err.timed_out_after(started.elapsed(), limits);
                outcome.stale = err.outcome_unknown();
                outcome.result = Err(err);
            }
        }
        break;
    }
    outcome
}

/// One transaction: the command's rows, the guarded `seq` and the event
/// to publish once committed.
fn attempt_once<C: Command>(
    conn: &mut PgConnection,
    current: &Snapshot,
    command: &C,
    at: DateTime<Utc>,
) -> Result<(Applied<C::Reply>, Option<Event>), RegisterError> {
    conn.transaction(|conn| {
        let applied = command.apply(conn, current, at)?;
        let event = match &applied {
            Applied::Changed { next, change, .. } => {
                Some(event_log::append(conn, current.seq, next, *change)?)
            }
            _ => None,
        };
        Ok((applied, event))
    })
}

/// Loads what is committed into `current`; the events memory missed are
/// added to the outcome (or a resync, when the log cannot tell them).
fn reload<R>(
    conn: &mut PgConnection,
    current: &mut Snapshot,
    outcome: &mut Outcome<R>,
) -> Result<(), RegisterError> {
    let fresh = Snapshot::load(conn, current.id())?;
    if fresh.seq != current.seq {
        tracing::warn!(
            register_id = %current.id(),
            memory = current.seq,
            database = fresh.seq,
            "register reloaded: memory was not what the database holds"
        );
        match event_log::between(conn, current.id(), current.seq, fresh.seq)? {
            Some(missed) => outcome.events.extend(missed),
            None => outcome.resync = true,
        }
    }
    outcome.state = Some(fresh.clone());
    *current = fresh;
    Ok(())
}

fn committed_seq(conn: &mut PgConnection, state: &Snapshot) -> QueryResult<i64> {
    pos_registers::table
        .find(state.id())
        .select(pos_registers::event_seq)
        .first(conn)
}

impl From<AppendError> for RegisterError {
    fn from(err: AppendError) -> Self {
        match err {
            AppendError::Moved { .. } => RegisterError::StateMoved,
            AppendError::Db(err) => err.into(),
        }
    }
}
