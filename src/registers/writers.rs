//! The cajas' writers: a commit shared by several cajas when the database
//! is busy. At most `slots` cajas write at once, each alone, as before. A
//! caja whose batch comes while every slot is taken waits; when a slot
//! frees, one of the waiting cajas takes it and writes every waiting
//! batch in ONE transaction, each batch from its own caja's state with its
//! own guards and events, and hands each caja back its outcome once that
//! transaction has committed. Under load the database then commits (and
//! flushes its log) once for several cajas' sales instead of once per
//! sale; a quiet venue never waits.
//!
//! Each caja stays the only writer of its rows (ARCHITECTURE.md rule 1):
//! its thread waits for the outcome, and applies, publishes and answers
//! it itself. One caja's trouble costs the others little (rule 10): a
//! waiting batch not taken within `patience` is written alone, outside the
//! slots; a shared transaction waits at most `patience` for a lock (in
//! normal work no other writer holds a caja's rows); and a shared
//! transaction that fails for any reason is rolled back and every caja
//! writes its batch alone, getting its own answer as it would have.

use std::collections::VecDeque;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use diesel::PgConnection;
use diesel::connection::{AnsiTransactionManager, TransactionManager};
use tokio::sync::watch;

use super::commit::{self, CommandContext, Job, Outcome};
use super::snapshot::Snapshot;
use crate::db::{self, DbLimits, PgPool};
use crate::metrics::metrics;

/// The most cajas' batches in one shared transaction.
const MAX_GROUP: usize = 16;

/// How many cajas write at once before the others' batches are grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriterLimits {
    /// Cajas writing at once, each alone (at least 1).
    pub slots: usize,
    /// The longest a batch waits to be taken into a shared transaction,
    /// and (within the database's own lock timeout) a shared transaction
    /// waits for a lock.
    pub patience: Duration,
}

pub struct Writers {
    limits: WriterLimits,
    /// What a shared transaction begins with (its lock wait).
    begin: String,
    pool: PgPool,
    state: Mutex<State>,
    /// How many cajas' batches wait for a slot, for whoever watches.
    waiting: watch::Sender<usize>,
}

#[derive(Default)]
struct State {
    /// Slots taken.
    busy: usize,
    waiting: VecDeque<Waiting>,
    next_ticket: u64,
}

/// One caja's batch waiting for a slot.
struct Waiting {
    ticket: u64,
    batch: Batch,
    wake: Sender<Wake>,
}

/// One caja's batch: its commands and the state they start from.
pub struct Batch {
    pub held: Arc<Snapshot>,
    pub jobs: Vec<Box<dyn Job>>,
    pub cx: CommandContext,
}

enum Wake {
    /// A slot is yours: write these batches (yours among them) together.
    Lead(Vec<Waiting>),
    /// Your batch, written or handed back.
    Done(Vec<Box<dyn Job>>, Shared),
}

/// What a shared transaction did with one caja's batch.
enum Shared {
    Committed(Box<Outcome>),
    /// Not written: the caja writes it alone, reloading first if `stale`
    /// (the shared transaction's outcome is unknown).
    Alone {
        stale: bool,
    },
}

impl Shared {
    /// What the caja whose batch it was does next.
    fn into_turn<'a>(self) -> Turn<'a> {
        match self {
            Shared::Committed(outcome) => Turn::Committed(outcome),
            Shared::Alone { stale } => Turn::Alone { slot: None, stale },
        }
    }
}

/// A caja's turn at writing its batch.
pub enum Turn<'a> {
    /// Write it alone; `slot` (when held) frees once dropped, after the write.
    Alone { slot: Option<Slot<'a>>, stale: bool },
    /// Committed with other cajas' batches.
    Committed(Box<Outcome>),
}

/// A writer's slot, given on to a waiting caja (or freed) when dropped.
pub struct Slot<'a>(&'a Writers);

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.0.hand_on();
    }
}

impl Writers {
    pub fn new(pool: PgPool, limits: WriterLimits, db: DbLimits) -> Self {
        // Another writer's lock on a caja's rows is not normal work: a
        // shared transaction gives up soon and the cajas write alone.
        let lock_wait = limits.patience.min(db.lock_timeout).as_millis().max(1);
        Self {
            limits: WriterLimits {
                slots: limits.slots.max(1),
                ..limits
            },
            begin: format!("BEGIN; SET LOCAL lock_timeout = {lock_wait}"),
            pool,
            state: Mutex::new(State::default()),
            waiting: watch::Sender::new(0),
        }
    }

    /// How many cajas' batches wait for a slot now, and as it changes.
    pub fn waiting(&self) -> watch::Receiver<usize> {
        self.waiting.subscribe()
    }

    fn waiting_now(&self, state: &State) {
        self.waiting.send_replace(state.waiting.len());
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding it: a poisoned state is still whole.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes `batch`'s turn, blocking the calling caja's thread: a free
    /// slot at once, or a wait for one (then the batch may come back
    /// committed with others). The commands come back either way.
    pub fn turn(&self, batch: Batch) -> (Vec<Box<dyn Job>>, Turn<'_>) {
        let (wake, woken) = mpsc::channel();
        let ticket = {
            let mut state = self.state();
            if state.busy < self.limits.slots {
                state.busy += 1;
                metrics().written("alone");
                let slot = Slot(self);
                return (
                    batch.jobs,
                    Turn::Alone {
                        slot: Some(slot),
                        stale: false,
                    },
                );
            }
            let ticket = state.next_ticket;
            state.next_ticket += 1;
            state.waiting.push_back(Waiting {
                ticket,
                batch,
                wake,
            });
            self.waiting_now(&state);
            ticket
        };
        self.wait(ticket, &woken)
    }

    fn wait(&self, ticket: u64, woken: &Receiver<Wake>) -> (Vec<Box<dyn Job>>, Turn<'_>) {
        let wake = match woken.recv_timeout(self.limits.patience) {
            Ok(wake) => Ok(wake),
            Err(RecvTimeoutError::Timeout) => {
                let mut state = self.state();
                let mine = state.waiting.iter().position(|w| w.ticket == ticket);
                if let Some(waiting) = mine.and_then(|at| state.waiting.remove(at)) {
                    self.waiting_now(&state);
                    // Not taken in time (the slots are held up): alone.
                    metrics().written("impatient");
                    return (
                        waiting.batch.jobs,
                        Turn::Alone {
                            slot: None,
                            stale: false,
                        },
                    );
                }
                drop(state);
                // Taken: its transaction is on its way.
                woken.recv()
            }
            Err(RecvTimeoutError::Disconnected) => woken.recv(),
        };
        match wake {
            Ok(Wake::Done(jobs, shared)) => (jobs, shared.into_turn()),
            Ok(Wake::Lead(group)) => self.lead(ticket, group),
            // A leader lost the batch (a panic): its callers were told
            // the caja is busy; what was committed is reloaded.
            Err(_) => (
                Vec::new(),
                Turn::Alone {
                    slot: None,
                    stale: true,
                },
            ),
        }
    }

    /// Writes `group` in one transaction on the slot handed to this
    /// caja, sends every other caja its outcome, and returns this one's.
    fn lead(&self, ticket: u64, mut group: Vec<Waiting>) -> (Vec<Box<dyn Job>>, Turn<'_>) {
        let slot = Slot(self);
        if group.len() == 1
            && let Some(waiting) = group.pop()
        {
            // Nobody to share with: alone, one statement where it can be.
            metrics().written("alone");
            return (
                waiting.batch.jobs,
                Turn::Alone {
                    slot: Some(slot),
                    stale: false,
                },
            );
        }
        let started = Instant::now();
        let written = db::run_here(&self.pool, |conn| {
            write_together(conn, &mut group, &self.begin)
        });
        let alone = |stale| group.iter().map(|_| Shared::Alone { stale }).collect();
        let outcomes: Vec<Shared> = match written {
            Ok(Ok(outcomes)) => {
                metrics().commit_took(started.elapsed());
                outcomes
                    .into_iter()
                    .map(|outcome| Shared::Committed(Box::new(outcome)))
                    .collect()
            }
            // Rolled back, or its COMMIT went unanswered (stale).
            Ok(Err(stale)) => alone(stale),
            // No connection (nothing was sent), or a panic (anything was).
            Err(err) => alone(err.outcome_unknown()),
        };
        let mut mine = (
            Vec::new(),
            Turn::Alone {
                slot: None,
                stale: true,
            },
        );
        for (waiting, shared) in group.into_iter().zip(outcomes) {
            let jobs = waiting.batch.jobs;
            metrics().written(match shared {
                Shared::Committed(_) => "shared",
                Shared::Alone { .. } => "apart",
            });
            if waiting.ticket == ticket {
                mine = (jobs, shared.into_turn());
            } else {
                // A caja whose thread is gone has nobody left to answer.
                let _ = waiting.wake.send(Wake::Done(jobs, shared));
            }
        }
        mine
    }

    /// A slot is free: the waiting cajas' batches go to the first of them,
    /// which writes them all.
    fn hand_on(&self) {
        let mut state = self.state();
        loop {
            if state.waiting.is_empty() {
                state.busy -= 1;
                return;
            }
            let take = state.waiting.len().min(MAX_GROUP);
            let group: Vec<Waiting> = state.waiting.drain(..take).collect();
            self.waiting_now(&state);
            let leader = group[0].wake.clone();
            match leader.send(Wake::Lead(group)) {
                Ok(()) => return,
                Err(mpsc::SendError(wake)) => {
                    // Its thread is gone: the others go to the next.
                    if let Wake::Lead(group) = wake {
                        for waiting in group.into_iter().skip(1).rev() {
                            state.waiting.push_front(waiting);
                        }
                        self.waiting_now(&state);
                    }
                }
            }
        }
    }
}

/// The cajas' batches in one transaction, each from its own state. `Err`
/// (with whether the outcome is unknown): nothing is kept; each caja
/// writes its batch alone.
fn write_together(
    conn: &mut PgConnection,
    group: &mut [Waiting],
    begin: &str,
) -> Result<Vec<Outcome>, bool> {
    if let Err(err) = AnsiTransactionManager::begin_transaction_sql(conn, begin) {
        // Nothing was written; a connection that cannot begin is not lent again.
        tracing::warn!(error = %err, "a shared commit could not begin");
        db::discard(conn);
        return Err(false);
    }
    let mut outcomes = Vec::with_capacity(group.len());
    for waiting in group.iter_mut() {
        let batch = &mut waiting.batch;
        match commit::apply_all(conn, &batch.held, &mut batch.jobs, &batch.cx) {
            Ok(outcome) => outcomes.push(outcome),
            Err(apart) => {
                let stale = apart.connection_lost();
                if stale || AnsiTransactionManager::rollback_transaction(conn).is_err() {
                    db::discard(conn);
                }
                return Err(stale);
            }
        }
    }
    match AnsiTransactionManager::commit_transaction(conn) {
        Ok(()) => Ok(outcomes),
        Err(err) => {
            // Perhaps committed: every caja reloads before writing again.
            tracing::warn!(error = %err, "a shared commit failed");
            db::discard(conn);
            Err(true)
        }
    }
}
