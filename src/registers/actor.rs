//! `RegisterActor`: the only writer of one caja's live state. Commands
//! wait in the actor's queue and are written in order: every command is
//! checked against the state the one before it left, committed with its
//! guarded `seq` and its event, and only then taken into memory, published
//! and answered. The commands that arrive while a write is in progress are
//! written together in the next transaction and answered after its one
//! commit (group commit, [`commit::execute_batch`]), so a busy caja's
//! throughput grows with its load.
//!
//! Each actor runs on a thread of its own and writes there, blocking it:
//! a command goes from the request's worker to the caja's thread, to the
//! database and back, with no hop through a blocking pool, and a caja
//! waiting for the database holds no other caja. Work that must outlive
//! the actor (the venue's outages) goes to the registry's thread.
//!
//! After a failure the database may hold what memory does not: the actor
//! then reloads before its next command, and probes the database on a
//! backoff until it answers again, so the screens hear of a committed
//! change even if no command follows.

use crate::metrics::metrics;
use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use actix::prelude::*;
use chrono::{DateTime, Utc};
use diesel::PgConnection;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch};
use uuid::Uuid;

use super::RegisterError;
use super::commit::{self, Applied, Command, CommandContext, Effect, Job, Outcome, Queued};
use super::event_log::{self, Change};
use super::events::Push;
use super::flagged::{self, FlagAck, ValidFlag};
use super::history::{RecentMovement, RecentSale};
use super::keys::{self, CommandKey};
use super::live::LiveSession;
use super::record;
use super::registry::{Env, Shared, Stopped};
use super::sale::{SaleLimits, ValidSale};
use super::snapshot::Snapshot;
use super::store::{self, Author, ClosedSession, MovementAck, SaleAck, VoidAck};
use crate::audit::Actor as AuditActor;
use crate::auth::user::{Role, User};
use crate::cajas::Caja;
use crate::cajas::RegisterId;
use crate::cajas::domain::{CajaConfig, OperationalStatus};
use crate::cajas::terminal::TerminalConfig;
use crate::clock::Backoff;
use crate::db::{
    self,
    schema::{pos_registers, register_seqs},
};
use crate::money::Pesos;
use crate::payments::attempt::{self, AttemptStatus};
use crate::payments::health::Outage;
use crate::payments::terminal::Charge;
use crate::registers::commands::card::{
    AttemptDeadline, OrphanPending, Reevaluate, TerminalAnswered, approve_card_payments,
};
use crate::registers::commands::settle;

/// How many commands may wait for one register.
const MAILBOX: usize = 256;
/// The most commands written in one transaction.
const MAX_BATCH: usize = 64;

/// Where an actor runs, and where what outlives it does.
pub struct Threads {
    /// The actor's own, stopped with it (none if one could not be started:
    /// the actor then shares the registry's).
    pub own: Option<ArbiterHandle>,
    /// The registry's.
    pub registry: ArbiterHandle,
}

pub struct RegisterActor {
    env: Arc<Env>,
    threads: Threads,
    shared: Arc<Shared>,
    /// The last committed state.
    state: Arc<Snapshot>,
    /// The database may hold a change memory has not seen.
    stale: bool,
    /// A probe is scheduled.
    probing: bool,
    /// The wait before the next probe.
    backoff: Backoff,
    supervisor: mpsc::UnboundedSender<Stopped>,
    /// Which of the caja's actors this is, for its registry.
    generation: u64,
    /// Card attempts whose deadline this actor is watching.
    watched: HashSet<i64>,
    /// The last moment a provider's failure was due to stop weighing on
    /// the advice, as scheduled for a reevaluation.
    reevaluation: Option<DateTime<Utc>>,
    /// Commands waiting for the write in progress to be settled.
    queue: Vec<Box<dyn Job>>,
    /// A batch is due to be written, or being written.
    writing: bool,
    /// Halted while writing: stops once the write is settled.
    halting: bool,
}

impl RegisterActor {
    pub fn new(
        env: Arc<Env>,
        threads: Threads,
        shared: Arc<Shared>,
        state: Arc<Snapshot>,
        supervisor: mpsc::UnboundedSender<Stopped>,
        generation: u64,
    ) -> Self {
        Self {
            env,
            threads,
            shared,
            state,
            stale: false,
            probing: false,
            backoff: Backoff::new(),
            supervisor,
            generation,
            watched: HashSet::new(),
            reevaluation: None,
            queue: Vec::new(),
            writing: false,
            halting: false,
        }
    }

    fn id(&self) -> i32 {
        self.state.id().0
    }

    /// Queues `command`; it is written with whatever else is waiting once
    /// the write in progress is settled.
    fn enqueue<C: Command>(
        &mut self,
        command: C,
        ctx: &mut Context<Self>,
    ) -> ResponseFuture<Result<C::Reply, RegisterError>> {
        if self.queue.len() >= MAILBOX {
            return Box::pin(async { Err(RegisterError::Busy) });
        }
        let (queued, answer) = Queued::new(command);
        self.queue.push(Box::new(queued));
        self.schedule_write(ctx);
        Box::pin(async move { answer.await.unwrap_or(Err(RegisterError::Busy)) })
    }

    /// Writes what waits once the mailbox is read: actix hands the actor
    /// every message that arrived before it polls the actor's futures, so
    /// the commands that came in together are written together.
    fn schedule_write(&mut self, ctx: &mut Context<Self>) {
        if self.writing || self.queue.is_empty() {
            return;
        }
        self.writing = true;
        ctx.spawn(fut::ready(()).map(|(), actor: &mut Self, ctx| actor.write_queued(ctx)));
    }

    /// Writes the waiting commands, in order, as one batch (see
    /// [`commit::execute_batch`]), on this thread; the next batch starts
    /// once this one is settled, so a register's changes apply one after
    /// another.
    fn write_queued(&mut self, ctx: &mut Context<Self>) {
        let take = self.queue.len().min(MAX_BATCH);
        let jobs: Vec<Box<dyn Job>> = self.queue.drain(..take).collect();
        let cx = self.env.context();
        self.shared.health.write_started(cx.at);
        let mut jobs = jobs;
        let mut outcome = self.write(&mut jobs, self.state.clone(), self.stale, &cx);
        if outcome.connection_lost {
            // The database closed the connection (a restart, a killed
            // backend): once more at once on a fresh one, from what is
            // committed (reloaded first: the guards and keys tell what the
            // first try kept).
            let held = outcome.state.clone().map_or(self.state.clone(), Arc::new);
            let again = self.write(&mut jobs, held, true, &cx);
            outcome.then(again);
        }
        self.settle(outcome, jobs, ctx);
        self.writing = false;
        if self.halting {
            ctx.stop();
        } else if ctx.state().alive() {
            self.schedule_write(ctx);
        }
    }

    /// One try at `jobs` from `held`, in the caja's own transaction, on a
    /// connection of the writes' pool.
    fn write(
        &self,
        jobs: &mut [Box<dyn Job>],
        held: Arc<Snapshot>,
        stale: bool,
        cx: &CommandContext,
    ) -> Outcome {
        let limits = self.env.limits;
        let written = db::run_here(&self.env.writes, |conn| {
            let started = Instant::now();
            let outcome = commit::execute_batch(conn, &held, stale, jobs, cx, limits);
            if outcome.connection_lost {
                db::discard(conn);
            }
            if outcome.state.is_some() {
                metrics().commit_took(started.elapsed());
            }
            outcome
        });
        written.unwrap_or_else(|err| commit::fail_all(jobs, err, stale, held.id()))
    }

    /// Takes what the commands left committed into memory, answers their
    /// callers, then tells the screens. Answers first: a sale's caller is
    /// woken ahead of the thousands of screens its event wakes, so a busy
    /// floor does not delay acknowledgements (which of the two leaves
    /// first does not matter, docs/architecture.md rule 2).
    fn settle(&mut self, outcome: Outcome, jobs: Vec<Box<dyn Job>>, ctx: &mut Context<Self>) {
        let Outcome {
            state,
            events,
            resync,
            stale,
            effects,
            failure,
            connection_lost: _,
            unreadable,
        } = outcome;
        if let Some(state) = state {
            self.state = Arc::new(state);
            // Before the events: a screen that subscribes in between reads
            // a state at least as new as the events it will skip.
            self.shared.state.send_replace(self.state.clone());
        }
        self.stale = stale;
        let now = self.env.clock.now();
        let failed = failure.is_some();
        self.shared.health.write_ended(now, failure);
        self.report_health(now);
        for effect in effects {
            self.carry_out(effect, ctx);
        }
        self.watch_card_attempts(ctx);
        for job in jobs {
            job.answer();
        }
        for event in events {
            tracing::info!(register_id = event.register_id, seq = event.seq, change = %event.change, "change committed");
            metrics().committed(event.register_id, &event.change);
            self.shared.publish(Push::Event(event));
        }
        if resync {
            self.shared.publish(Push::Resync {
                register_id: Some(self.id()),
            });
        }
        if unreadable {
            // Its registry restarts it, names why while it cannot load, and
            // keeps trying; every other caja goes on.
            tracing::error!(register_id = %self.id(), "a caja's stored rows do not read: its actor stops");
            ctx.stop();
        } else if self.state.caja.is_archived() {
            ctx.stop();
        } else if self.stale || failed {
            self.schedule_probe(ctx);
        } else {
            self.backoff.reset();
        }
    }

    /// What a committed change asks of the actor.
    fn carry_out(&mut self, effect: Effect, ctx: &mut Context<Self>) {
        let venue = self.env.venue.clone();
        match effect {
            Effect::StartTerminal(attempt) => {
                let config = self.terminal();
                let charge = Charge {
                    attempt_id: attempt.id,
                    provider: attempt.provider,
                    amount: attempt.amount,
                    started_at: attempt.started_at,
                };
                if let Some(answer) = config.terminal().start(&charge, &self.env.clock) {
                    ctx.spawn(answer.into_actor(self).map(move |answer, _, ctx| {
                        ctx.notify(TerminalAnswered {
                            attempt_id: charge.attempt_id,
                            answer,
                        });
                    }));
                }
            }
            Effect::PrimaryFailed { provider, at } => {
                let register = self.state.id();
                self.threads
                    .registry
                    .spawn(async move { venue.primary_failed(provider, register, at).await });
            }
            Effect::Approved { provider } => {
                self.threads
                    .registry
                    .spawn(async move { venue.approved(provider).await });
            }
        }
    }

    /// How the caja's card terminal is driven (every caja's is simulated
    /// under `--simulate-terminals`).
    fn terminal(&self) -> TerminalConfig {
        self.env
            .simulated_terminal
            .clone()
            .unwrap_or_else(|| self.state.caja.terminal.clone())
    }

    /// Arms the deadline of every pending card attempt not watched yet, and
    /// the moment the provider advice may change by itself.
    fn watch_card_attempts(&mut self, ctx: &mut Context<Self>) {
        let manual = self.terminal().is_manual();
        for attempt in &self.state.card_attempts {
            if attempt.status != AttemptStatus::Pending || !self.watched.insert(attempt.id) {
                continue;
            }
            let (clock, id, deadline) = (self.env.clock.clone(), attempt.id, attempt.deadline_at);
            ctx.spawn(
                async move { clock.sleep_until(deadline).await }
                    .into_actor(self)
                    .map(move |(), actor, ctx| {
                        actor.watched.remove(&id);
                        ctx.notify(AttemptDeadline {
                            attempt_id: id,
                            manual,
                        });
                    }),
            );
        }
        // Reckoned from when the advice was worked out, not from now: a
        // failure that stopped weighing in between still changes it (at once).
        let (cooldown, advised_at) = (self.env.venue.rules.cooldown, self.state.advised_at);
        let memory = &self.state.provider_memory;
        let next = [
            Some(self.state.caja.payment_provider_primary),
            self.state.caja.payment_provider_backup,
        ]
        .into_iter()
        .flatten()
        .filter_map(|provider| memory.recovers_at(provider, advised_at, cooldown))
        .min();
        if let Some(at) = next
            && self.reevaluation != Some(at)
        {
            self.reevaluation = Some(at);
            let clock = self.env.clock.clone();
            ctx.spawn(
                async move { clock.sleep_until(at).await }
                    .into_actor(self)
                    // `reevaluation` keeps `at`: one moment is reevaluated once,
                    // even when the advice comes out unchanged.
                    .map(|(), _, ctx| ctx.notify(Reevaluate)),
            );
        }
    }

    /// Works the advice out again whenever the venue's outages change.
    fn follow_outages(
        &mut self,
        mut outages: watch::Receiver<Arc<Vec<Outage>>>,
        ctx: &mut Context<Self>,
    ) {
        ctx.spawn(
            async move {
                let changed = outages.changed().await.is_ok();
                (changed, outages)
            }
            .into_actor(self)
            .map(|(changed, outages), actor, ctx| {
                if changed {
                    ctx.notify(Reevaluate);
                    actor.follow_outages(outages, ctx);
                }
            }),
        );
    }

    /// Tells the screens when the caja stops or starts answering.
    pub(super) fn report_health(&self, now: DateTime<Utc>) {
        if let Some(health) = self.shared.health.changed(now, self.env.register_timeout) {
            if health.is_ok() {
                tracing::info!(register_id = self.id(), "caja answers again");
            } else {
                tracing::warn!(register_id = self.id(), ?health, "caja does not answer");
            }
            self.shared.publish(Push::health(self.id(), &health));
        }
    }

    /// Asks the database again after a backoff, until it answers: memory
    /// is reloaded and what was missed published, even with no command.
    fn schedule_probe(&mut self, ctx: &mut Context<Self>) {
        if self.probing {
            return;
        }
        self.probing = true;
        let delay = self.backoff.next_wait();
        let clock = self.env.clock.clone();
        ctx.spawn(
            async move { clock.sleep(delay).await }
                .into_actor(self)
                .map(|(), actor, ctx| {
                    actor.probing = false;
                    ctx.notify(Probe);
                }),
        );
    }
}

impl Actor for RegisterActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(MAILBOX);
        // Card attempts the last actor (or hub) left waiting: nobody
        // watches their terminal any more.
        ctx.notify(OrphanPending);
        let outages = self.env.venue.follow();
        self.follow_outages(outages, ctx);
        ctx.notify(Reevaluate);
        tracing::debug!(
            register_id = self.id(),
            seq = self.state.seq,
            "register actor started"
        );
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        let archived = self.state.caja.is_archived();
        tracing::debug!(register_id = self.id(), archived, "register actor stopped");
        let _ = self.supervisor.send(Stopped {
            id: self.state.id(),
            generation: self.generation,
            archived,
        });
        if let Some(own) = &self.threads.own {
            own.stop();
        }
    }
}

impl<C> Handler<C> for RegisterActor
where
    C: Command + Message<Result = Result<<C as Command>::Reply, RegisterError>>,
{
    type Result = ResponseFuture<Result<C::Reply, RegisterError>>;

    fn handle(&mut self, command: C, ctx: &mut Self::Context) -> Self::Result {
        self.enqueue(command, ctx)
    }
}

/// Stops the actor as a crash would; its registry starts it again from
/// the database (what a supervisor is for, and how the tests check it).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Halt;

impl Handler<Halt> for RegisterActor {
    type Result = ();

    fn handle(&mut self, _: Halt, ctx: &mut Self::Context) {
        tracing::warn!(register_id = self.id(), "register actor halted");
        // A write in progress is settled first, as a crash after its
        // commit would leave it.
        if self.writing {
            self.halting = true;
        } else {
            ctx.stop();
        }
    }
}

// ------------------------------------------------------------- the rules

fn may_sell(state: &Snapshot) -> Result<(), RegisterError> {
    if state.caja.is_archived() {
        return Err(RegisterError::Archived);
    }
    match state.caja.operational_status {
        OperationalStatus::Active => Ok(()),
        other => Err(RegisterError::NotActive(other)),
    }
}

/// A sale above the venue's largest is a typo (an extra "000"), refused.
fn within(limits: SaleLimits, sale: &ValidSale) -> Result<(), RegisterError> {
    if sale.total > limits.max {
        return Err(RegisterError::SaleOverLimit(limits.max));
    }
    Ok(())
}

/// A cashier works only their own session; supervisors any.
fn may_work_session<'a>(state: &'a Snapshot, by: &User) -> Result<&'a LiveSession, RegisterError> {
    let session = state.session.as_ref().ok_or(RegisterError::NoOpenSession)?;
    if by.role == Role::Cajero && session.opened_by != Some(by.id.0) {
        return Err(RegisterError::NotYourSession);
    }
    Ok(session)
}

/// A card may be charged on the caja by `by`: the caja sells, and the
/// session is theirs (or they supervise).
pub fn may_charge<'a>(state: &'a Snapshot, by: &User) -> Result<&'a LiveSession, RegisterError> {
    may_sell(state)?;
    may_work_session(state, by)
}

/// A command made for one session acts only on that session.
fn same_session(session: &LiveSession, named: Option<i32>) -> Result<(), RegisterError> {
    match named {
        Some(id) if id != session.id => Err(RegisterError::SessionChanged),
        _ => Ok(()),
    }
}

fn author(by: &User, at: DateTime<Utc>) -> Author {
    Author {
        user_id: by.id.0,
        actor: by.actor(),
        at,
    }
}

// ------------------------------------------------------------- commands

/// The database answers, the caja's row can be locked for a write, and
/// memory holds what it has (else the commit path reloads).
#[derive(Message)]
#[rtype(result = "Result<(), RegisterError>")]
pub struct Probe;

impl Command for Probe {
    type Reply = ();

    fn apply(
        &self,
        conn: &mut PgConnection,
        state: &Snapshot,
        _: &CommandContext,
    ) -> Result<Applied<()>, RegisterError> {
        // What a change takes: the caja's row for its rows' keys, its
        // number for the change.
        pos_registers::table
            .find(state.id())
            .select(pos_registers::id)
            .for_key_share()
            .first::<RegisterId>(conn)?;
        let seq: i64 = register_seqs::table
            .find(state.id())
            .select(register_seqs::event_seq)
            .for_update()
            .first(conn)?;
        if seq != state.seq {
            return Err(RegisterError::StateMoved);
        }
        Ok(Applied::Unchanged(()))
    }
}

/// Opens a session with its float (fondo inicial).
#[derive(Message)]
#[rtype(result = "Result<OpenedSession, RegisterError>")]
pub struct OpenSession {
    pub by: User,
    pub initial_cash: Pesos,
    /// The opening form's key: sending the form twice opens one session.
    pub key: Option<Uuid>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenedSession {
    pub session_id: i32,
    pub seq: i64,
}

impl Command for OpenSession {
    type Reply = OpenedSession;

    fn apply(
        &self,
        conn: &mut PgConnection,
        state: &Snapshot,
        cx: &CommandContext,
    ) -> Result<Applied<OpenedSession>, RegisterError> {
        let key = self.key.map(|key| {
            CommandKey::new(
                key,
                "open_session",
                format!("{}|{}", self.by.id, self.initial_cash.get()),
            )
        });
        if let Some(opened) = keys::replay(conn, key.as_ref(), state.id())? {
            return Ok(Applied::Replayed(opened));
        }
        if state.session.is_some() {
            return Err(RegisterError::SessionAlreadyOpen);
        }
        may_sell(state)?;
        let session = store::open_session(
            conn,
            &author(&self.by, cx.at),
            state.id(),
            self.initial_cash,
        )?;
        let reply = OpenedSession {
            session_id: session.id,
            seq: state.next_seq(),
        };
        keys::remember(conn, key.as_ref(), state.id(), reply.seq, &reply)?;
        let mut history = state.history.clone();
        history.session_opened(&session);
        Ok(Applied::changed(
            reply,
            Change::SessionOpened,
            state.changed(state.caja.clone(), Some(session), history),
        ))
    }
}

/// Records a sale (from the HTTP API or a POS socket).
#[derive(Message)]
#[rtype(result = "Result<RecordedSale, RegisterError>")]
pub struct RecordSale {
    pub by: User,
    pub sale: ValidSale,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordedSale {
    pub ack: SaleAck,
    /// True when this answers a retry of a sale already recorded.
    pub replayed: bool,
}

impl RecordSale {
    /// The answer already given to this sale's key, when it is a retry
    /// (a retry gets the original answer, whatever happened since).
    fn replay(
        &self,
        conn: &mut PgConnection,
        state: &Snapshot,
    ) -> Result<Option<Applied<RecordedSale>>, RegisterError> {
        let Some((ack, fingerprint)) = store::sale_by_key(conn, self.sale.key)? else {
            return Ok(None);
        };
        if ack.register_id == state.id().0 && fingerprint == self.sale.fingerprint() {
            Ok(Some(Applied::Replayed(RecordedSale {
                ack,
                replayed: true,
            })))
        } else {
            Err(RegisterError::KeyReused)
        }
    }

    /// Writes the sale, its payments, the session's counters, the caja's
    /// `seq` and the event with one statement ([`record::record_sale`]).
    /// A sale with nothing to approve is that statement alone, its key
    /// looked at only when it is taken (or when the sale is refused; a
    /// large one takes its id first, from the sequence); one
    /// paid with approved card charges first checks and locks them, takes
    /// its id, then marks them paid by it, in the same transaction.
    fn record(
        &self,
        conn: &mut PgConnection,
        state: &Snapshot,
        cx: &CommandContext,
    ) -> Result<Applied<RecordedSale>, RegisterError> {
        let checked = may_sell(state)
            .and_then(|()| may_work_session(state, &self.by))
            .and_then(|before| same_session(before, self.sale.session_id).map(|()| before))
            .and_then(|before| within(cx.sale_limits, &self.sale).map(|()| before));
        let before = match checked {
            Ok(before) => before,
            Err(refused) => return self.replay(conn, state)?.ok_or(refused),
        };
        let large_above = cx.sale_limits.confirm_above;
        let (sale, approvals, effects, reserved) = if self.sale.asks_approval() {
            if let Some(replayed) = self.replay(conn, state)? {
                return Ok(replayed);
            }
            let (sale, approvals, effects) =
                approve_card_payments(conn, state, before.id, &self.sale, &self.by, cx)?;
            let id = store::reserve_sale_id(conn)?;
            (Cow::Owned(sale), approvals, effects, Some(id))
        } else {
            // A large sale is named on the floor by its id: taken ahead.
            let large = self.sale.total_charged > large_above;
            let reserved = large.then(|| store::reserve_sale_id(conn)).transpose()?;
            (Cow::Borrowed(&self.sale), Vec::new(), Vec::new(), reserved)
        };
        let after = before.with_sale(&sale, cx.at)?;
        let mut history = state.history.clone();
        // Its id is the database's: given below, in memory and in the
        // event, unless it was taken ahead for its card charges.
        history.sale_recorded(
            RecentSale::new(reserved.unwrap_or(0), cx.at, &sale),
            large_above,
        );
        let mut next = state.changed(state.caja.clone(), Some(after.clone()), history);
        for mut approval in approvals.iter().cloned() {
            approval.sale_id = reserved;
            next.provider_memory.approved(approval.provider, cx.at);
            next.put_attempt(approval);
        }
        next.advise(cx);
        let mut payload = event_log::payload(state, &next, Change::SaleRecorded)?;
        let written = record::record_sale(
            conn,
            (before, &after),
            (&sale, reserved),
            self.by.id.0,
            &next,
            &payload,
        )?;
        let Some(sale_id) = written else {
            return self.replay(conn, state)?.ok_or(RegisterError::KeyReused);
        };
        for approval in &approvals {
            if !attempt::pay(conn, approval.id, sale_id)? {
                return Err(RegisterError::SaleAlreadyPaid(approval.id));
            }
        }
        if let Some(recent) = next.history.recent_sales.front_mut() {
            recent.id = sale_id;
        }
        payload["recent_sale"]["id"] = sale_id.into();
        let event = event_log::event(&next, Change::SaleRecorded, &payload);
        let reply = RecordedSale {
            ack: SaleAck::recorded(sale_id, next.id(), next.seq, &sale),
            replayed: false,
        };
        Ok(Applied::logged(reply, next, event).with_effects(effects))
    }
}

impl Command for RecordSale {
    type Reply = RecordedSale;

    fn one_statement(&self) -> bool {
        !self.sale.asks_approval()
    }

    fn apply(
        &self,
        conn: &mut PgConnection,
        state: &Snapshot,
        cx: &CommandContext,
    ) -> Result<Applied<RecordedSale>, RegisterError> {
        self.record(conn, state, cx)
    }
}

/// Closes the open session with the cash counted.
#[derive(Message)]
#[rtype(result = "Result<ClosedSession, RegisterError>")]
pub struct CloseSession {
    pub by: User,
    pub count: Pesos,
    pub detail: Option<serde_json::Value>,
    /// The session the count is for: never another one opened meanwhile.
    pub session_id: Option<i32>,
    /// The closing form's key: sending it twice closes once.
    pub key: Option<Uuid>,
}

impl Command for CloseSession {
    type Reply = ClosedSession;

    fn apply(
        &self,
        conn: &mut PgConnection,
        state: &Snapshot,
        cx: &CommandContext,
    ) -> Result<Applied<ClosedSession>, RegisterError> {
        let key = self.key.map(|key| {
            let detail = self
                .detail
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default();
            CommandKey::new(
                key,
                "close_session",
                format!("{:?}|{}|{detail}", self.session_id, self.count.get()),
            )
        });
        if let Some(closed) = keys::replay(conn, key.as_ref(), state.id())? {
            return Ok(Applied::Replayed(closed));
        }
        let session = may_work_session(state, &self.by)?;
        same_session(session, self.session_id)?;
        // Nobody knows yet whether these customers were charged.
        let unresolved = attempt::unresolved_of_session(conn, session.id)?;
        if !unresolved.is_empty() {
            return Err(RegisterError::AttemptsUnresolved(
                unresolved.iter().map(|a| a.describe()).collect(),
            ));
        }
        // Every approved charge ends used by a sale, refunded or written off.
        let open_charges = attempt::open_charges_of_session(conn, state.id(), session.id)?;
        if !open_charges.is_empty() {
            return Err(RegisterError::ChargesUnsettled(
                open_charges.iter().map(|a| a.describe()).collect(),
            ));
        }
        // Beyond the caja's limit only a supervisor closes, and is recorded
        // as having approved the difference.
        let difference = self
            .count
            .checked_sub(session.expected_cash())
            .ok_or(RegisterError::Overflow)?;
        let limit = state
            .caja
            .max_cash_difference
            .and_then(|l| Pesos::non_negative(l).ok());
        let approved_by = match limit {
            Some(limit) if difference.get().abs() > limit.get() => {
                if !self.by.role.includes(Role::Supervisor) {
                    return Err(RegisterError::DifferenceNeedsApproval { difference, limit });
                }
                Some(self.by.id.0)
            }
            _ => None,
        };
        let closed = store::close_session(
            conn,
            &author(&self.by, cx.at),
            session,
            self.count,
            self.detail.clone(),
            approved_by,
        )?;
        keys::remember(conn, key.as_ref(), state.id(), state.next_seq(), &closed)?;
        let mut history = state.history.clone();
        history.session_closed(session, &closed);
        Ok(Applied::changed(
            closed,
            Change::SessionClosed,
            state.changed(state.caja.clone(), None, history),
        ))
    }
}

/// A supervisor voids a sale of the open session.
#[derive(Message)]
#[rtype(result = "Result<VoidAck, RegisterError>")]
pub struct VoidSale {
    pub by: User,
    pub sale_id: i64,
    pub reason: String,
    pub key: Uuid,
    /// The cashier on whose device the supervisor signed with their PIN.
    pub signed_on_device_of: Option<String>,
    /// The code the terminal printed for giving the sale's card payments
    /// back: they are refunded with the void (a simulated terminal refunds
    /// them by itself). Without it they stay "a devolver" (refunded later).
    pub refund_code: Option<String>,
}

impl Command for VoidSale {
    type Reply = VoidAck;

    fn apply(
        &self,
        conn: &mut PgConnection,
        state: &Snapshot,
        cx: &CommandContext,
    ) -> Result<Applied<VoidAck>, RegisterError> {
        let key = CommandKey::new(
            self.key,
            "void_sale",
            format!("{}|{}|{:?}", self.sale_id, self.reason, self.refund_code),
        );
        if let Some(ack) = key.replay(conn, state.id())? {
            return Ok(Applied::Replayed(ack));
        }
        if !self.by.role.includes(Role::Supervisor) {
            return Err(RegisterError::SupervisorOnly);
        }
        // A card sale's payments go back with the void: with the code the
        // manual terminal printed, or the simulated terminal's own.
        let refund_code = match self.refund_code.as_deref() {
            None if !cx.simulates_terminal_of(&state.caja) => None,
            typed => Some(settle::refund_code(typed, state, cx, "refund_code")?),
        };
        let session = state.session.as_ref().ok_or(RegisterError::NoOpenSession)?;
        let (ack, after) = store::void_sale(
            conn,
            &author(&self.by, cx.at),
            session,
            self.sale_id,
            &self.reason,
            self.signed_on_device_of.as_deref(),
            state.next_seq(),
        )?;
        let refunded = match &refund_code {
            Some(code) => settle::refund_voided_sale(
                conn,
                ack.sale_id,
                code,
                &format!("anulación: {}", self.reason),
                &self.by,
                cx.at,
            )?,
            None => Vec::new(),
        };
        key.remember(conn, state.id(), ack.seq, &ack)?;
        let mut history = state.history.clone();
        history.sale_voided(ack.sale_id);
        let mut next = state.changed(state.caja.clone(), Some(after), history);
        for attempt in refunded {
            next.put_attempt(attempt);
        }
        Ok(Applied::changed(ack, Change::SaleVoided, next))
    }
}

/// Cash added to or dropped from the drawer.
#[derive(Message)]
#[rtype(result = "Result<MovementAck, RegisterError>")]
pub struct CashMovement {
    pub by: User,
    pub movement: store::Movement,
    pub key: Uuid,
}

impl Command for CashMovement {
    type Reply = MovementAck;

    fn apply(
        &self,
        conn: &mut PgConnection,
        state: &Snapshot,
        cx: &CommandContext,
    ) -> Result<Applied<MovementAck>, RegisterError> {
        let movement = &self.movement;
        let key = CommandKey::new(
            self.key,
            "cash_movement",
            format!(
                "{}|{}|{}",
                movement.kind,
                movement.amount.get(),
                movement.reason
            ),
        );
        if let Some(ack) = key.replay(conn, state.id())? {
            return Ok(Applied::Replayed(ack));
        }
        let before = may_work_session(state, &self.by)?;
        let after = before.with_movement(movement.kind, movement.amount)?;
        let ack = store::record_movement(
            conn,
            state.id(),
            &author(&self.by, cx.at),
            before,
            &after,
            movement,
            state.next_seq(),
        )?;
        key.remember(conn, state.id(), ack.seq, &ack)?;
        let mut history = state.history.clone();
        history.movement_recorded(RecentMovement {
            id: ack.movement_id,
            at: cx.at,
            kind: movement.kind.to_string(),
            amount: movement.amount.get(),
            reason: movement.reason.clone(),
        });
        Ok(Applied::changed(
            ack,
            Change::CashMovement,
            state.changed(state.caja.clone(), Some(after), history),
        ))
    }
}

/// An admin's edit of the caja's configuration.
#[derive(Message)]
#[rtype(result = "Result<Caja, RegisterError>")]
pub struct UpdateConfig {
    pub actor: AuditActor,
    pub expected_version: i32,
    pub config: CajaConfig,
}

impl Command for UpdateConfig {
    type Reply = Caja;

    fn apply(
        &self,
        conn: &mut PgConnection,
        state: &Snapshot,
        _: &CommandContext,
    ) -> Result<Applied<Caja>, RegisterError> {
        let caja = Caja::update(
            conn,
            &self.actor,
            state.id(),
            self.expected_version,
            &self.config,
        )?;
        let next = state.changed(caja, state.session.clone(), state.history.clone());
        Ok(Applied::changed(
            next.caja.clone(),
            Change::ConfigChanged,
            next,
        ))
    }
}

/// Archives the caja; the actor stops once it is archived.
#[derive(Message)]
#[rtype(result = "Result<Caja, RegisterError>")]
pub struct Archive {
    pub actor: AuditActor,
    pub expected_version: i32,
}

impl Command for Archive {
    type Reply = Caja;

    fn apply(
        &self,
        conn: &mut PgConnection,
        state: &Snapshot,
        _: &CommandContext,
    ) -> Result<Applied<Caja>, RegisterError> {
        if state.session.is_some() {
            return Err(crate::cajas::model::SaveError::OpenSession.into());
        }
        let caja = Caja::archive(conn, &self.actor, state.id(), self.expected_version)?;
        let next = state.changed(caja, None, state.history.clone());
        Ok(Applied::changed(next.caja.clone(), Change::Archived, next))
    }
}

/// A sale the POS took offline and the hub cannot record as made: kept for
/// a supervisor (see `flagged`).
#[derive(Message)]
#[rtype(result = "Result<FlagAck, RegisterError>")]
pub struct FlagSale {
    pub by: User,
    pub flag: ValidFlag,
}

impl Command for FlagSale {
    type Reply = FlagAck;

    fn apply(
        &self,
        conn: &mut PgConnection,
        state: &Snapshot,
        _: &CommandContext,
    ) -> Result<Applied<FlagAck>, RegisterError> {
        let ack = flagged::insert(conn, state.id(), &self.flag, &self.by)?;
        if ack.replayed {
            return Ok(Applied::Replayed(ack));
        }
        let mut history = state.history.clone();
        history.flagged_pending += 1;
        Ok(Applied::changed(
            ack,
            Change::SaleFlagged,
            state.changed(state.caja.clone(), state.session.clone(), history),
        ))
    }
}

/// A supervisor settles a flagged sale.
#[derive(Message)]
#[rtype(result = "Result<(), RegisterError>")]
pub struct ResolveFlagged {
    pub by: User,
    pub flagged_id: i64,
    pub resolution: String,
}

impl Command for ResolveFlagged {
    type Reply = ();

    fn apply(
        &self,
        conn: &mut PgConnection,
        state: &Snapshot,
        _: &CommandContext,
    ) -> Result<Applied<()>, RegisterError> {
        if !self.by.role.includes(Role::Supervisor) {
            return Err(RegisterError::SupervisorOnly);
        }
        flagged::resolve(
            conn,
            &self.by.actor(),
            state.id(),
            self.flagged_id,
            &self.resolution,
            self.by.id.0,
        )?;
        let mut history = state.history.clone();
        history.flagged_pending = (history.flagged_pending - 1).max(0);
        Ok(Applied::changed(
            (),
            Change::FlaggedResolved,
            state.changed(state.caja.clone(), state.session.clone(), history),
        ))
    }
}
