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

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use diesel::PgConnection;
use diesel::prelude::*;

use super::RegisterError;
use super::event_log::{self, AppendError, Change};
use super::events::Event;
use super::snapshot::Snapshot;
use crate::cajas::domain::PaymentProvider;
use crate::db::schema::pos_registers;
use crate::db::{DbError, DbLimits};
use crate::payments::attempt::CardAttempt;
use crate::payments::health::Outage;

/// A command to one register, run on a blocking thread inside the change's
/// transaction.
pub trait Command: Send + 'static {
    type Reply: Send + 'static;

    /// Checks the command against `state` and writes its rows.
    fn apply(
        &self,
        conn: &mut PgConnection,
        state: &Snapshot,
        cx: &CommandContext,
    ) -> Result<Applied<Self::Reply>, RegisterError>;

    /// Told the reply once the change it made is committed (for metrics).
    fn committed(_reply: &Self::Reply) {}
}

/// What a command is made with besides the register's state.
#[derive(Debug, Clone)]
pub struct CommandContext {
    /// The time the command is made at (what the screens are told).
    pub at: DateTime<Utc>,
    /// The providers the venue has declared out of service.
    pub outages: Arc<Vec<Outage>>,
    /// How long a caja's failed provider stays set aside.
    pub cooldown: Duration,
}

pub enum Applied<R> {
    /// Rows written: the register is now `next`, whose `seq` follows the
    /// state's (see [`Snapshot::changed`]); `effects` are for the actor to
    /// carry out once committed.
    Changed {
        reply: R,
        change: Change,
        next: Box<Snapshot>,
        effects: Vec<Effect>,
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
            effects: Vec::new(),
        }
    }

    /// With what the actor must do once the change is committed.
    pub fn with_effects(self, more: impl IntoIterator<Item = Effect>) -> Self {
        match self {
            Applied::Changed {
                reply,
                change,
                next,
                mut effects,
            } => {
                effects.extend(more);
                Applied::Changed {
                    reply,
                    change,
                    next,
                    effects,
                }
            }
            unchanged => unchanged,
        }
    }
}

/// What the actor does once a change is committed, besides publishing it.
#[derive(Debug, Clone)]
pub enum Effect {
    /// Start charging a card attempt on its provider's terminal.
    StartTerminal(Box<CardAttempt>),
    /// A payment on the caja's primary provider failed or went unanswered
    /// (the venue counts them to declare an outage).
    PrimaryFailed {
        provider: PaymentProvider,
        at: DateTime<Utc>,
    },
    /// A payment was approved on a provider (it works: its outage ends).
    Approved { provider: PaymentProvider },
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
    /// What the actor must do now that the change is committed.
    pub effects: Vec<Effect>,
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
            effects: Vec::new(),
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
    cx: &CommandContext,
    limits: DbLimits,
) -> Outcome<C::Reply> {
    let mut outcome = Outcome {
        state: None,
        events: Vec::new(),
        resync: false,
        result: Err(RegisterError::StateMoved),
        stale: false,
        effects: Vec::new(),
    };
    let mut current = held.clone();
    if stale && let Err(err) = reload(conn, &mut current, &mut outcome, cx) {
        outcome.result = Err(err);
        outcome.stale = true;
        return outcome;
    }
    for attempt in 1..=2 {
        let started = Instant::now();
        match attempt_once(conn, &current, command, cx) {
            Ok((
                Applied::Changed {
                    reply,
                    next,
                    effects,
                    ..
                },
                event,
            )) => {
                outcome.events.extend(event);
                outcome.state = Some(*next);
                outcome.effects = effects;
                outcome.result = Ok(reply);
            }
            Ok((Applied::Replayed(reply), _)) => {
                // A retry of something memory may not have seen: is the
                // database ahead?
                match committed_seq(conn, &current) {
                    Ok(seq) if seq == current.seq => {}
                    Ok(_) => {
                        if let Err(err) = reload(conn, &mut current, &mut outcome, cx) {
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
                match reload(conn, &mut current, &mut outcome, cx) {
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
    cx: &CommandContext,
) -> Result<(Applied<C::Reply>, Option<Event>), RegisterError> {
    conn.transaction(|conn| {
        let mut applied = command.apply(conn, current, cx)?;
        let event = match &mut applied {
            Applied::Changed { next, change, .. } => {
                next.advise(cx);
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
    cx: &CommandContext,
) -> Result<(), RegisterError> {
    let fresh = Snapshot::load(conn, current.id(), cx)?;
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
