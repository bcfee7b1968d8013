//! The one write path of a register. A command is checked against the state
//! the actor holds and writes its rows; in the same transaction the caja's
//! `seq` moves on, guarded (it must still be the one memory has), and the
//! change goes into the event log. Only after the commit does memory take
//! the new state (docs/architecture.md rules 2 and 9).
//!
//! Memory follows the database, never the other way: when a write fails in
//! a way that does not prove it rolled back (the connection lost at COMMIT,
//! a cancelled call) memory may be behind, so the next command first
//! reloads the register from PostgreSQL and publishes the events it had
//! missed. A guard that finds the database elsewhere reloads and tries the
//! command once more against the fresh state.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use diesel::PgConnection;
use diesel::prelude::*;
use tokio::sync::oneshot;

use super::CajaError;
use super::event_log::{self, AppendError, Change};
use super::events::Event;
use super::sale::SaleLimits;
use super::snapshot::Snapshot;
use crate::boleta::settings::ModeloEmision;
use crate::cajas::CajaId;
use crate::cajas::domain::PaymentProvider;
use crate::cajas::model::SaveError;
use crate::db::{DbError, DbLimits};
use crate::payments::attempt::CardAttempt;
use crate::payments::health::Outage;
use crate::payments::venue::Cleared;

/// A command to one register, run on a blocking thread inside the change's
/// transaction.
pub trait Command: Send + 'static {
    type Reply: Send + 'static;

    /// Whether `apply` writes at most one statement (with its own guard
    /// and event, see [`Applied::logged`]): then, alone, it runs without a
    /// transaction around it.
    fn one_statement(&self) -> bool {
        false
    }

    /// Checks the command against `state` and writes its rows.
    fn apply(
        &self,
        conn: &mut PgConnection,
        state: &Snapshot,
        cx: &CommandContext,
    ) -> Result<Applied<Self::Reply>, CajaError>;

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
    /// When a supervisor last declared each provider back in service.
    pub cleared: Cleared,
    /// How long a caja's failed provider stays set aside.
    pub cooldown: Duration,
    /// Every caja's terminal is simulated (`--simulate-terminals`).
    pub terminals_simulated: bool,
    /// The venue's bounds on one sale.
    pub sale_limits: SaleLimits,
    /// The venue's modelo de emisión while it issues boletas.
    pub boletas: Option<ModeloEmision>,
}

impl CommandContext {
    /// Whether `caja`'s card terminal is played by the hub.
    pub fn simulates_terminal_of(&self, caja: &crate::cajas::Caja) -> bool {
        self.terminals_simulated || !caja.terminal.is_manual()
    }
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
        /// The event, when the command wrote it with its rows (else the
        /// commit path appends it).
        logged: Option<Event>,
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
            logged: None,
        }
    }

    /// Rows, guarded `seq` and event written by the command itself: `next`
    /// is already advised and `event` is what was logged.
    pub fn logged(reply: R, next: Snapshot, event: Event) -> Self {
        Applied::Changed {
            reply,
            change: Change::SaleRecorded,
            next: Box::new(next),
            effects: Vec::new(),
            logged: Some(event),
        }
    }

    /// The same outcome, with the reply `f` makes of it.
    pub fn map<T>(self, f: impl FnOnce(R) -> T) -> Applied<T> {
        match self {
            Applied::Changed {
                reply,
                change,
                next,
                effects,
                logged,
            } => Applied::Changed {
                reply: f(reply),
                change,
                next,
                effects,
                logged,
            },
            Applied::Replayed(reply) => Applied::Replayed(f(reply)),
            Applied::Unchanged(reply) => Applied::Unchanged(f(reply)),
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
                logged,
            } => {
                effects.extend(more);
                Applied::Changed {
                    reply,
                    change,
                    next,
                    effects,
                    logged,
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
    /// A boleta's document was committed: the outbox sends it.
    DocumentQueued,
}

/// What running commands did, for the actor to apply after the call.
#[derive(Default)]
pub struct Outcome {
    /// The register's state now, when it moved (reloaded, changed or both).
    pub state: Option<Snapshot>,
    /// Committed changes to publish, in order: those found on a reload,
    /// then the commands' own.
    pub events: Vec<Event>,
    /// A reload found changes the event log cannot tell: screens resync.
    pub resync: bool,
    /// The database may hold what memory does not: reload before the next command.
    pub stale: bool,
    /// What the actor must do now that the changes are committed.
    pub effects: Vec<Effect>,
    /// Why the database failed the last command, for the caja's health.
    pub failure: Option<String>,
    /// The connection was lost: it must not be lent again.
    pub connection_lost: bool,
    /// A row of the caja does not read (see `CajaError::is_unreadable`):
    /// the actor stops rather than loop on it.
    pub unreadable: bool,
}

impl Outcome {
    /// Takes in what was done after this (a later command of the same
    /// batch, or the batch again on a fresh connection).
    pub fn then(&mut self, later: Outcome) {
        if later.state.is_some() {
            self.state = later.state;
        }
        self.events.extend(later.events);
        self.resync |= later.resync;
        self.stale = later.stale;
        self.effects.extend(later.effects);
        self.failure = later.failure;
        self.connection_lost |= later.connection_lost;
        self.unreadable |= later.unreadable;
    }

    fn failed<R>(&mut self, result: &Result<R, CajaError>, register: CajaId) {
        if let Err(err) = result
            && err.is_unreadable()
        {
            self.unreadable = true;
        }
        if let Err(err) = result
            && let Some(failure) = err.database_failure()
        {
            if let CajaError::Db(err) = err {
                self.connection_lost |= err.connection_lost();
            }
            tracing::warn!(register_id = %register, error = ?err, stale = self.stale, "register command failed in the database");
            self.failure = Some(failure);
        }
    }
}

/// A command waiting in the actor's queue with the caller's answer, whatever
/// its reply type: what lets one transaction carry several commands.
pub trait Job: Send {
    /// Applies the command to `current` inside the batch's transaction.
    fn apply(&mut self, conn: &mut PgConnection, current: &Snapshot, cx: &CommandContext) -> Step;
    /// Runs the command by itself, from `held`.
    fn execute(
        &mut self,
        conn: &mut PgConnection,
        held: &Snapshot,
        stale: bool,
        cx: &CommandContext,
        limits: DbLimits,
    ) -> Outcome;
    /// The batch it was part of failed in the database.
    fn fail(&mut self, err: DbError);
    /// After a write whose outcome is unknown (a connection lost, even at
    /// COMMIT), with `committed` the caja's `seq` as reloaded:
    /// whether this command must run again. One whose change reached that
    /// `seq` was kept, and takes the answer it had; one answered already
    /// (kept, or refused) keeps that answer.
    fn redo(&mut self, committed: i64) -> bool;
    /// Sends the result to whoever asked (once the actor took the outcome in).
    fn answer(self: Box<Self>);
}

/// What one command of a batch did inside the batch's transaction.
pub enum Step {
    Changed {
        change: Change,
        next: Box<Snapshot>,
        effects: Vec<Effect>,
        logged: Option<Event>,
    },
    Unchanged,
    /// A refusal or a retry's answer: the batch rolls back and each of its
    /// commands runs by itself, so that this one's answer is its own.
    Apart,
    /// The database failed or refused a statement (see `Apart::Failed`).
    Failed(DbError),
}

/// A command in the queue; its result is kept until the actor answers.
pub struct Queued<C: Command> {
    command: C,
    result: Option<Result<C::Reply, CajaError>>,
    /// The `seq` its change took in a batch, until that batch commits.
    seq: Option<i64>,
    /// The answer of a change whose batch's commit failed in a way that
    /// does not prove it rolled back, with its `seq` (see [`Job::redo`]).
    unsure: Option<(i64, C::Reply)>,
    reply: Reply<C>,
}

impl<C: Command> Queued<C> {
    /// `command`, whose answer goes to `reply`.
    pub fn new(command: C, reply: Reply<C>) -> Self {
        Self {
            command,
            result: None,
            seq: None,
            unsure: None,
            reply,
        }
    }
}

/// Where the answer to a command goes.
pub type Reply<C> = oneshot::Sender<Result<<C as Command>::Reply, CajaError>>;

impl<C: Command> Job for Queued<C> {
    fn apply(&mut self, conn: &mut PgConnection, current: &Snapshot, cx: &CommandContext) -> Step {
        match self.command.apply(conn, current, cx) {
            Ok(Applied::Changed {
                reply,
                change,
                next,
                effects,
                logged,
            }) => {
                self.result = Some(Ok(reply));
                self.seq = Some(next.seq);
                Step::Changed {
                    change,
                    next,
                    effects,
                    logged,
                }
            }
            Ok(Applied::Unchanged(reply)) => {
                self.result = Some(Ok(reply));
                Step::Unchanged
            }
            Ok(Applied::Replayed(_)) => Step::Apart,
            Err(CajaError::Db(err) | CajaError::Config(SaveError::Unavailable(err))) => {
                Step::Failed(err)
            }
            Err(_) => Step::Apart,
        }
    }

    fn execute(
        &mut self,
        conn: &mut PgConnection,
        held: &Snapshot,
        stale: bool,
        cx: &CommandContext,
        limits: DbLimits,
    ) -> Outcome {
        let (outcome, result, unsure) = execute(conn, held, stale, &self.command, cx, limits);
        // Its own commit's answer: no batch's to wait for, unless nobody
        // confirmed that commit (see `redo`).
        self.seq = None;
        self.unsure = unsure;
        self.result = Some(result);
        outcome
    }

    fn fail(&mut self, err: DbError) {
        if err.outcome_unknown()
            && let (Some(Ok(reply)), Some(seq)) = (self.result.take(), self.seq.take())
        {
            self.unsure = Some((seq, reply));
        }
        self.result = Some(Err(CajaError::Db(err)));
    }

    fn redo(&mut self, committed: i64) -> bool {
        // A change applied in a batch whose commit nobody confirmed: kept
        // if the caja's `seq` reached it.
        let unconfirmed = self.unsure.take().or_else(|| match self.result.take() {
            Some(Ok(reply)) if self.seq.is_some() => self.seq.take().map(|seq| (seq, reply)),
            other => {
                self.result = other;
                None
            }
        });
        if let Some((seq, reply)) = unconfirmed {
            let kept = seq <= committed;
            self.result = kept.then_some(Ok(reply));
            return !kept;
        }
        match &self.result {
            None => true,
            Some(Err(err)) => {
                err.outcome_unknown()
                    || err.database_failure().is_some()
                    || matches!(err, CajaError::StateMoved)
            }
            Some(Ok(_)) => false,
        }
    }

    fn answer(self: Box<Self>) {
        if let Some(Ok(reply)) = &self.result {
            C::committed(reply);
        }
        let result = self.result.unwrap_or(Err(CajaError::Busy));
        // The caller may have stopped waiting (its own timeout).
        let _ = self.reply.send(result);
    }
}

/// Runs the queued `jobs` from `held`: together in one transaction when
/// they are several and memory is fresh, each answered after that one
/// commit (group commit); one at a time when they are alone, when memory
/// must be reloaded first, or when one of them is refused (the batch rolls
/// back and every command gets its own answer).
pub fn execute_batch(
    conn: &mut PgConnection,
    held: &Snapshot,
    stale: bool,
    jobs: &mut [Box<dyn Job>],
    cx: &CommandContext,
    limits: DbLimits,
) -> Outcome {
    if stale {
        return after_unknown_outcome(conn, held, jobs, cx, limits);
    }
    if jobs.len() > 1 {
        let started = Instant::now();
        match together(conn, held, jobs, cx) {
            Ok(outcome) => return outcome,
            Err(Apart::Refused) => {}
            Err(Apart::Failed(err)) => {
                let err = err.timed_out_after(started.elapsed(), limits);
                // The database refused a statement (a constraint, a
                // trigger): that command's own answer, found one at a time.
                // The database being away, or a limit reached, is every
                // command's answer: waiting for it once per command would
                // only multiply the wait.
                if !err.is_unavailable() {
                    return one_at_a_time(conn, held, false, jobs.iter_mut(), cx, limits);
                }
                return fail_all(jobs, err, false, held.id());
            }
        }
    }
    one_at_a_time(conn, held, false, jobs.iter_mut(), cx, limits)
}

/// Memory may be behind what is committed (a write whose outcome is
/// unknown, a failure before): reload, take the answer of every command the
/// database shows was kept, and run the others one at a time from there.
fn after_unknown_outcome(
    conn: &mut PgConnection,
    held: &Snapshot,
    jobs: &mut [Box<dyn Job>],
    cx: &CommandContext,
    limits: DbLimits,
) -> Outcome {
    let mut outcome = Outcome::default();
    let mut current = held.clone();
    if let Err(err) = reload(conn, &mut current, &mut outcome, cx) {
        outcome.stale = true;
        let failed: Result<(), CajaError> = Err(err);
        outcome.failed(&failed, held.id());
        // A reload only queries: its error is the database's.
        let err = match failed {
            Err(CajaError::Db(err)) => err,
            _ => DbError::Cancelled,
        };
        for job in jobs.iter_mut() {
            if job.redo(held.seq) {
                job.fail(err.clone());
            }
        }
        return outcome;
    }
    let committed = current.seq;
    let again = jobs
        .iter_mut()
        .filter_map(|job| job.redo(committed).then_some(job));
    let rest = one_at_a_time(conn, &current, false, again, cx, limits);
    outcome.then(rest);
    outcome
}

/// Every command of the batch answered with `err`: the database failed them
/// all at once (or could not be asked). Memory may be behind after it
/// unless the work provably never reached the database.
pub fn fail_all(jobs: &mut [Box<dyn Job>], err: DbError, stale: bool, register: CajaId) -> Outcome {
    let mut outcome = Outcome {
        stale: stale || err.outcome_unknown(),
        ..Outcome::default()
    };
    for job in jobs.iter_mut() {
        job.fail(err.clone());
    }
    outcome.failed::<()>(&Err(CajaError::Db(err)), register);
    outcome
}

/// Each command in its own transaction, from the state the one before left.
fn one_at_a_time<'a>(
    conn: &mut PgConnection,
    held: &Snapshot,
    stale: bool,
    jobs: impl Iterator<Item = &'a mut Box<dyn Job>>,
    cx: &CommandContext,
    limits: DbLimits,
) -> Outcome {
    let mut outcome = Outcome {
        stale,
        ..Outcome::default()
    };
    // Moved along, not copied (see `apply_all`).
    let mut latest: Option<Snapshot> = None;
    for job in jobs {
        let current = latest.as_ref().unwrap_or(held);
        let mut done = job.execute(conn, current, outcome.stale, cx, limits);
        if let Some(state) = done.state.take() {
            latest = Some(state);
        }
        outcome.then(done);
    }
    if latest.is_some() {
        outcome.state = latest;
    }
    outcome
}

/// Why a batch did not commit as one.
pub enum Apart {
    /// A command was refused or answered a retry: nothing was kept.
    Refused,
    /// The database failed: every command of the batch fails with it,
    /// unless it only refused one statement.
    Failed(DbError),
}

impl From<diesel::result::Error> for Apart {
    fn from(err: diesel::result::Error) -> Self {
        Apart::Failed(DbError::Query(err))
    }
}

impl Apart {
    /// The connection was lost on the way: the batch's outcome is unknown.
    pub fn connection_lost(&self) -> bool {
        matches!(self, Apart::Failed(err) if err.connection_lost())
    }
}

/// The batch as one transaction: each command applied to the state the
/// one before it left, each with its guarded `seq` and its event.
fn together(
    conn: &mut PgConnection,
    held: &Snapshot,
    jobs: &mut [Box<dyn Job>],
    cx: &CommandContext,
) -> Result<Outcome, Apart> {
    conn.transaction(|conn| apply_all(conn, held, jobs, cx))
}

/// The batch's statements inside the caja's transaction. On an error the
/// caller rolls back.
fn apply_all(
    conn: &mut PgConnection,
    held: &Snapshot,
    jobs: &mut [Box<dyn Job>],
    cx: &CommandContext,
) -> Result<Outcome, Apart> {
    let mut outcome = Outcome::default();
    // The state each command starts from: the one the command before it
    // left, moved along rather than copied (a copy is a few hundred
    // allocations' worth of the caja's last sales).
    let mut latest: Option<Snapshot> = None;
    for job in jobs.iter_mut() {
        let current = latest.as_ref().unwrap_or(held);
        match job.apply(conn, current, cx) {
            Step::Changed {
                change,
                mut next,
                effects,
                logged,
            } => {
                let event = match logged {
                    Some(event) => event,
                    None => {
                        next.advise(cx);
                        event_log::append(conn, current, &next, change).map_err(
                            |err| match err {
                                AppendError::Moved { .. } => Apart::Refused,
                                AppendError::Db(err) => err.into(),
                            },
                        )?
                    }
                };
                outcome.events.push(event);
                outcome.effects.extend(effects);
                latest = Some(*next);
            }
            Step::Unchanged => {}
            Step::Apart => return Err(Apart::Refused),
            Step::Failed(err) => return Err(Apart::Failed(err)),
        }
    }
    outcome.state = latest;
    Ok(outcome)
}

/// A command's answer and the `seq` its change took, when the commit that
/// would have kept it was never confirmed: the database tells which.
pub type Unsure<R> = Option<(i64, R)>;

/// Runs `command` against `held` (reloading first if `stale`), in one
/// transaction with its guard and its event.
pub fn execute<C: Command>(
    conn: &mut PgConnection,
    held: &Snapshot,
    stale: bool,
    command: &C,
    cx: &CommandContext,
    limits: DbLimits,
) -> (Outcome, Result<C::Reply, CajaError>, Unsure<C::Reply>) {
    let mut outcome = Outcome::default();
    let mut result = Err(CajaError::StateMoved);
    let mut unsure = None;
    // Copied only when reloaded into.
    let mut current = Cow::Borrowed(held);
    if stale && let Err(err) = reload(conn, current.to_mut(), &mut outcome, cx) {
        outcome.stale = true;
        let result = Err(err);
        outcome.failed(&result, held.id());
        return (outcome, result, None);
    }
    for attempt in 1..=2 {
        let started = Instant::now();
        let mut written = None;
        match attempt_once(conn, &current, command, cx, &mut written) {
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
                result = Ok(reply);
            }
            Ok((Applied::Replayed(reply), _)) => {
                // A retry of something memory may not have seen: is the
                // database ahead?
                match committed_seq(conn, &current) {
                    Ok(seq) if seq == current.seq => {}
                    Ok(_) => {
                        if let Err(err) = reload(conn, current.to_mut(), &mut outcome, cx) {
                            tracing::warn!(error = ?err, "reload after a replay failed");
                            outcome.stale = true;
                        }
                    }
                    Err(_) => outcome.stale = true,
                }
                result = Ok(reply);
            }
            Ok((Applied::Unchanged(reply), _)) => result = Ok(reply),
            Err(CajaError::StateMoved) if attempt == 1 => {
                tracing::warn!(register_id = %current.id(), seq = current.seq, "the database moved under the register; reloading");
                match reload(conn, current.to_mut(), &mut outcome, cx) {
                    Ok(()) => continue,
                    Err(err) => {
                        result = Err(err);
                        outcome.stale = true;
                    }
                }
            }
            Err(err) => {
                let err = err.timed_out_after(started.elapsed(), limits);
                outcome.stale = err.outcome_unknown();
                if outcome.stale
                    && let Some(Applied::Changed { reply, next, .. }) = written
                {
                    unsure = Some((next.seq, reply));
                }
                result = Err(err);
            }
        }
        break;
    }
    outcome.failed(&result, held.id());
    (outcome, result, unsure)
}

/// One transaction: the command's rows, the guarded `seq` and the event
/// to publish once committed. What the command did is left in `written`
/// until the commit answers, so that a commit whose answer is lost still
/// knows the change it carried.
fn attempt_once<C: Command>(
    conn: &mut PgConnection,
    current: &Snapshot,
    command: &C,
    cx: &CommandContext,
    written: &mut Option<Applied<C::Reply>>,
) -> Result<(Applied<C::Reply>, Option<Event>), CajaError> {
    let mut write = |conn: &mut PgConnection| {
        let mut applied = command.apply(conn, current, cx)?;
        let event = match &mut applied {
            Applied::Changed {
                logged: Some(event),
                ..
            } => Some(event.clone()),
            Applied::Changed { next, change, .. } => {
                next.advise(cx);
                Some(event_log::append(conn, current, next, *change)?)
            }
            _ => None,
        };
        *written = Some(applied);
        Ok::<_, CajaError>(event)
    };
    let event = if command.one_statement() {
        write(conn)
    } else {
        conn.transaction(write)
    }?;
    let applied = written.take().ok_or(CajaError::StateMoved)?;
    Ok((applied, event))
}

/// Loads what is committed into `current`; the events memory missed are
/// added to the outcome (or a resync, when the log cannot tell them).
fn reload(
    conn: &mut PgConnection,
    current: &mut Snapshot,
    outcome: &mut Outcome,
    cx: &CommandContext,
) -> Result<(), CajaError> {
    let fresh = Snapshot::load(conn, current.id(), cx)?;
    if fresh.seq != current.seq {
        tracing::warn!(
            register_id = %current.id(),
            memory = current.seq,
            database = fresh.seq,
            "register reloaded: memory was not what the database holds"
        );
        let blind = fresh.caja.blind_count;
        match event_log::between(conn, current.id(), current.seq, fresh.seq, blind)? {
            Some(missed) => outcome.events.extend(missed),
            None => outcome.resync = true,
        }
    }
    outcome.state = Some(fresh.clone());
    *current = fresh;
    Ok(())
}

fn committed_seq(conn: &mut PgConnection, state: &Snapshot) -> QueryResult<i64> {
    event_log::committed_seq(conn, state.id())
}

impl From<AppendError> for CajaError {
    fn from(err: AppendError) -> Self {
        match err {
            AppendError::Moved { .. } => CajaError::StateMoved,
            AppendError::Db(err) => err.into(),
        }
    }
}
