//! `CajaActor`: the only writer of one caja's live state. It keeps the
//! loop, the mailbox and the lifecycle; the commands themselves, each with
//! its checks and its `apply`, are in `commands/`. Commands
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
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use actix::prelude::*;
use chrono::{DateTime, Utc};
use diesel::PgConnection;
use diesel::prelude::*;
use tokio::sync::{mpsc, oneshot, watch};

use super::CajaError;
use super::commit::{self, Applied, Command, CommandContext, Effect, Job, Outcome, Queued, Reply};
use super::events::Push;
use super::registry::{Env, Shared, Stopped};
use super::snapshot::Snapshot;
use crate::cajas::CajaId;
use crate::cajas::terminal::TerminalConfig;
use crate::clock::Backoff;
use crate::db::{
    self,
    schema::{pos_registers, register_seqs, register_sessions},
};
use crate::payments::attempt::AttemptStatus;
use crate::payments::health::Outage;
use crate::payments::terminal::Charge;
use crate::registers::commands::card::{
    AttemptDeadline, OrphanPending, Reevaluate, TerminalAnswered,
};

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

pub struct CajaActor {
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

impl CajaActor {
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

    /// Queues `command`, answered to `reply`; it is written with whatever
    /// else is waiting once the write in progress is settled.
    fn enqueue<C: Command>(&mut self, command: C, reply: Reply<C>, ctx: &mut Context<Self>) {
        if self.queue.len() >= MAILBOX {
            let _ = reply.send(Err(CajaError::Busy));
            return;
        }
        self.queue.push(Box::new(Queued::new(command, reply)));
        self.schedule_write(ctx);
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
        // The probe's wait starts before a caller hears of the failure:
        // whoever moves the clock once told moves the probe along with it.
        let stopping = unreadable || self.state.caja.is_archived();
        let probe = !stopping && (self.stale || failed);
        if probe {
            self.schedule_probe(ctx);
        }
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
        }
        if stopping {
            ctx.stop();
        } else if !probe {
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
            Effect::DocumentQueued => self.env.issuing.queued(),
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
        // Asked for now, not at the future's first poll: the wait is timed
        // from here (`Clock::sleep`).
        let wait = self.env.clock.sleep(self.backoff.next_wait());
        ctx.spawn(wait.into_actor(self).map(|(), actor, ctx| {
            actor.probing = false;
            ctx.notify(Probe);
        }));
    }
}

impl Actor for CajaActor {
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

impl<C> Handler<C> for CajaActor
where
    C: Command + Message<Result = Result<<C as Command>::Reply, CajaError>>,
{
    type Result = ResponseFuture<Result<C::Reply, CajaError>>;

    fn handle(&mut self, command: C, ctx: &mut Self::Context) -> Self::Result {
        let (reply, answer) = oneshot::channel();
        self.enqueue(command, reply, ctx);
        Box::pin(async move { answer.await.unwrap_or(Err(CajaError::Busy)) })
    }
}

/// A command with the channel its caller waits on
/// (`CajaActors::ask`): the caja's thread answers straight to the caller,
/// as soon as the outcome is settled and before the screens are told,
/// instead of through a reply relayed by a task of its own.
pub struct Ask<C: Command> {
    pub command: C,
    pub reply: Reply<C>,
}

impl<C: Command> Message for Ask<C> {
    type Result = ();
}

impl<C: Command> Handler<Ask<C>> for CajaActor {
    type Result = ();

    fn handle(&mut self, Ask { command, reply }: Ask<C>, ctx: &mut Self::Context) {
        self.enqueue(command, reply, ctx);
    }
}

/// Stops the actor as a crash would; its registry starts it again from
/// the database (what a supervisor is for, and how the tests check it).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Halt;

impl Handler<Halt> for CajaActor {
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

// ------------------------------------------------------------- commands

/// The database answers, the rows a change locks can be locked (the
/// caja's for its rows' keys, its open session, its number), and memory
/// holds what it has (else the commit path reloads). A probe that skipped
/// one of them would call a caja healthy that still cannot sell.
#[derive(Message)]
#[rtype(result = "Result<(), CajaError>")]
pub struct Probe;

impl Command for Probe {
    type Reply = ();

    fn apply(
        &self,
        conn: &mut PgConnection,
        state: &Snapshot,
        _: &CommandContext,
    ) -> Result<Applied<()>, CajaError> {
        // What a change takes: the caja's row for its rows' keys, its open
        // session (a sale's guard locks it first), its number.
        pos_registers::table
            .find(state.id())
            .select(pos_registers::id)
            .for_key_share()
            .first::<CajaId>(conn)?;
        if let Some(session) = &state.session {
            register_sessions::table
                .find(session.id)
                .select(register_sessions::id)
                .for_update()
                .first::<i32>(conn)
                .optional()?
                .ok_or(CajaError::StateMoved)?;
        }
        let seq: i64 = register_seqs::table
            .find(state.id())
            .select(register_seqs::event_seq)
            .for_update()
            .first(conn)?;
        if seq != state.seq {
            return Err(CajaError::StateMoved);
        }
        Ok(Applied::Unchanged(()))
    }
}
