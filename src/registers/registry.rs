//! The registry: every working caja's actor, and what the rest of the hub
//! may read of it without waiting for it. It owns the actors' lifecycle:
//! it starts one on create or restore, forgets it once archived, restarts
//! one that stopped otherwise (reloaded from PostgreSQL, its screens kept),
//! and never runs two for one caja. Page handlers ask it; they neither
//! start nor stop actors.
//!
//! Reads never queue behind a write (docs/architecture.md rule 10): each caja
//! publishes its last committed state on a `watch` channel, so snapshots,
//! new screens and the floor are served at once even while a write waits
//! on a locked row. Every ask to an actor is bounded by the register
//! timeout, and a watchdog marks a caja that stays in a write longer.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use actix::dev::SendError;
use actix::{Actor, Addr, Arbiter, ArbiterHandle, MailboxError};
use chrono::{DateTime, Utc};
use dashmap::DashMap;
use diesel::{Connection, OptionalExtension};
use serde::Serialize;
use tokio::sync::{Mutex, broadcast, mpsc, oneshot, watch};

use super::CajaError;
use super::actor::{Ask, CajaActor, Halt, Threads};
use super::audience::{self, Audience};
use super::commands::Archive;
use super::commit::{Command, CommandContext};
use super::event_log::{self, Change};
use super::events::{self, Event, Push, Subscription};
use super::floor_feed::FloorFeed;
use super::health::{Health, HealthCell};
use super::presence::{PosPresence, PresenceCell};
use super::sale::SaleLimits;
use super::snapshot::Snapshot;
use super::store;
use crate::audit::Actor as AuditActor;
use crate::auth::user::User;
use crate::boleta::issuing::Issuing;
use crate::cajas::domain::{CajaConfig, PaymentProvider};
use crate::cajas::model::SaveError;
use crate::cajas::terminal::TerminalConfig;
use crate::cajas::{Caja, CajaId};
use crate::clock::{Backoff, Clock};
use crate::db::{self, DbError, DbLimits, PgPool};
use crate::payments::attempt::AttemptStatus;
use crate::payments::venue::Venue;

/// How often the watchdog looks for cajas stuck in a write.
const WATCHDOG_EVERY: Duration = Duration::from_secs(1);

/// What every register actor works with.
pub struct Env {
    pub pool: PgPool,
    /// The actors' writes (no test round trip at checkout: see
    /// [`crate::db::build_write_pool`]).
    pub writes: PgPool,
    /// The hub's time (tests move it by hand).
    pub clock: Clock,
    pub limits: DbLimits,
    /// The longest an ask to a caja waits, and a write may last before the
    /// caja counts as not answering.
    pub register_timeout: Duration,
    /// The venue's providers and their outages.
    pub venue: Arc<Venue>,
    /// A terminal simulated for every caja (`--simulate-terminals`), over
    /// what each caja says.
    pub simulated_terminal: Option<TerminalConfig>,
    /// The floor dashboards' frame interval (see [`FloorFeed`]).
    pub floor_interval: Duration,
    /// The venue's bounds on one sale.
    pub sale_limits: SaleLimits,
    /// What a sale's boleta is, now.
    pub issuing: Issuing,
}

impl Env {
    /// What a command is made with, now.
    pub fn context(&self) -> CommandContext {
        CommandContext {
            at: self.clock.now(),
            outages: self.venue.outages(),
            cleared: self.venue.cleared(),
            cooldown: self.venue.rules.cooldown,
            terminals_simulated: self.simulated_terminal.is_some(),
            sale_limits: self.sale_limits,
            boletas: self.issuing.current(),
        }
    }
}

/// What one caja's actor shares with the rest of the hub. It outlives the
/// actor when the actor is restarted, so the caja's screens stay connected.
pub struct Shared {
    /// The caja's own screens.
    pub events: broadcast::Sender<Push>,
    /// Every floor dashboard.
    pub floor: Arc<FloorFeed>,
    /// The last committed state.
    pub state: watch::Sender<Arc<Snapshot>>,
    pub health: HealthCell,
    /// Whether its POS is connected (the socket module tells it).
    pub pos: PresenceCell,
    /// Commands asked of the caja and not answered yet: the ones being
    /// written, and the ones waiting in its mailbox for the next batch.
    pub asked: watch::Sender<usize>,
}

impl Shared {
    /// Pushes to the caja's screens and the floor; never waits (a send to a
    /// channel nobody listens to is simply dropped).
    pub fn publish(&self, push: Push) {
        let _ = self.events.send(push.clone());
        self.floor.publish(push);
    }
}

/// An actor told its registry it stopped.
#[derive(Debug)]
pub struct Stopped {
    pub id: CajaId,
    /// Which of the caja's actors: an older one's notice is ignored.
    pub generation: u64,
    pub archived: bool,
}

/// A register as a screen or a page sees it: its committed state and
/// whether it answers.
#[derive(Debug, Clone, Serialize)]
pub struct View {
    #[serde(flatten)]
    pub register: Arc<Snapshot>,
    pub health: Health,
    pub pos: PosPresence,
}

impl View {
    /// The register as `viewer` may see it (a blind count hides the cash
    /// from the cashier).
    pub fn json_for(&self, viewer: &User) -> serde_json::Value {
        let mut json = serde_json::to_value(self).unwrap_or_default();
        if Audience::of(viewer, &self.register.caja).is_blind() {
            audience::redact_register(&mut json);
        }
        json
    }
}

#[derive(Clone)]
struct Entry {
    addr: Addr<CajaActor>,
    generation: u64,
    shared: Arc<Shared>,
    /// The actor's own thread, if it has one.
    thread: Option<ArbiterHandle>,
}

struct Inner {
    env: Arc<Env>,
    /// The supervisor's and the watchdog's thread; the actors have theirs.
    arbiter: ArbiterHandle,
    /// Every thread started here (the registry's and each actor's), to be
    /// joined when the hub stops: their actors hold database connections.
    threads: std::sync::Mutex<Vec<Arbiter>>,
    entries: DashMap<CajaId, Entry>,
    /// What every caja publishes for the floor, paced for its dashboards.
    floor_feed: Arc<FloorFeed>,
    /// Starts and stops one at a time: never two actors for one caja.
    lifecycle: Mutex<()>,
    supervisor: mpsc::UnboundedSender<Stopped>,
    stopping: AtomicBool,
    /// Numbers the actors started, to tell an old one's notice from the current's.
    generations: AtomicU64,
    /// Cajas found at start whose rows could not be read: no actor yet,
    /// retried in the background, named on `/readyz`.
    unloaded: DashMap<CajaId, Unloaded>,
}

/// A caja the hub could not load at start, and why.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Unloaded {
    pub id: CajaId,
    pub since: chrono::DateTime<chrono::Utc>,
    pub reason: String,
}

/// Why a caja's rows could not be loaded, as its screens and `/readyz` say it.
fn unreadable(err: &CajaError) -> (bool, String) {
    let unavailable = matches!(err, CajaError::Db(db) if db.is_unavailable());
    let reason = if unavailable {
        "sin conexión con la base de datos al cargar la caja".to_owned()
    } else {
        format!("no se pueden leer los datos de la caja: {}", err.detail())
    };
    (unavailable, reason)
}

/// Every working caja's actor, found by id.
#[derive(Clone)]
pub struct CajaActors(Arc<Inner>);

impl CajaActors {
    /// Starts an actor for every caja not archived, each loaded from the
    /// database, and the supervisor and watchdog beside them.
    pub async fn start_all(env: Env) -> Result<Self, DbError> {
        let (supervisor, stopped) = mpsc::unbounded_channel();
        let registry = Arbiter::new();
        let registers = CajaActors(Arc::new(Inner {
            env: Arc::new(env),
            arbiter: registry.handle(),
            threads: std::sync::Mutex::new(vec![registry]),
            entries: DashMap::new(),
            floor_feed: Arc::default(),
            lifecycle: Mutex::new(()),
            supervisor,
            stopping: Default::default(),
            generations: Default::default(),
            unloaded: DashMap::new(),
        }));
        crate::metrics::metrics().changes_known(Change::ALL.map(Change::as_str));
        crate::metrics::metrics().card_labels_known(
            &PaymentProvider::ALL
                .iter()
                .map(|p| p.as_str())
                .collect::<Vec<_>>(),
            &AttemptStatus::ALL
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>(),
        );
        let cx = registers.0.env.context();
        let loaded = db::run(&registers.0.env.pool, move |conn| {
            let ids = store::working_cajas(conn)?;
            Ok::<_, diesel::result::Error>(
                ids.into_iter()
                    .map(|id| (id, Snapshot::load(conn, id, &cx)))
                    .collect::<Vec<_>>(),
            )
        })
        .await??;
        for (id, snapshot) in loaded {
            match snapshot.map_err(CajaError::from) {
                Ok(snapshot) => {
                    registers.start_actor(snapshot, None);
                }
                Err(CajaError::Db(err)) if err.is_unavailable() => return Err(err),
                // One caja's unreadable row takes no other caja down.
                Err(err) => registers.load_later(id, &err),
            }
        }
        tracing::info!(
            registers = registers.0.entries.len(),
            "register actors started"
        );
        registers
            .0
            .arbiter
            .spawn(registers.clone().supervise(stopped));
        registers.0.arbiter.spawn(registers.clone().watchdog());
        let interval = registers.0.env.floor_interval;
        // Beside the actors, not among them: waking thousands of
        // dashboards is not a caja's work.
        actix_web::rt::spawn(registers.0.floor_feed.clone().run(interval));
        Ok(registers)
    }

    pub fn clock(&self) -> &Clock {
        &self.0.env.clock
    }

    /// Starts caja `snapshot`'s actor, with the screens' channels of a
    /// previous actor when it is a restart. The loaded state is readable
    /// before this returns (the actor starts on its own thread later), so
    /// whatever the caller publishes next is never ahead of it.
    fn start_actor(&self, snapshot: Snapshot, shared: Option<Arc<Shared>>) -> Arc<Shared> {
        let id = snapshot.id();
        let snapshot = Arc::new(snapshot);
        let shared = match shared {
            Some(shared) => {
                shared.state.send_replace(snapshot.clone());
                shared
            }
            None => Arc::new(Shared {
                events: events::register_channel(),
                floor: self.0.floor_feed.clone(),
                state: watch::Sender::new(snapshot.clone()),
                health: HealthCell::default(),
                pos: PresenceCell::default(),
                asked: watch::Sender::new(0),
            }),
        };
        crate::metrics::metrics().caja_started(id.0);
        let (env, supervisor) = (self.0.env.clone(), self.0.supervisor.clone());
        let generation = self.0.generations.fetch_add(1, Ordering::Relaxed);
        let actor_shared = shared.clone();
        let own = match Arbiter::try_new() {
            Ok(thread) => {
                let handle = thread.handle();
                if let Ok(mut threads) = self.0.threads.lock() {
                    threads.push(thread);
                }
                Some(handle)
            }
            Err(error) => {
                tracing::error!(register_id = %id, %error, "no thread for a caja's actor: it shares the registry's, and holds it while it writes");
                None
            }
        };
        let registry = self.0.arbiter.clone();
        let runs_on = own.clone().unwrap_or_else(|| registry.clone());
        let threads = Threads {
            own: own.clone(),
            registry,
        };
        let addr = CajaActor::start_in_arbiter(&runs_on, move |_| {
            CajaActor::new(env, threads, actor_shared, snapshot, supervisor, generation)
        });
        self.0.entries.insert(
            id,
            Entry {
                addr,
                generation,
                shared: shared.clone(),
                thread: own,
            },
        );
        shared
    }

    /// Restarts actors that stopped unexpectedly; forgets archived ones.
    /// Each restart runs as a task of its own and takes the lifecycle lock
    /// only to swap the actor in, so a caja that cannot be loaded holds
    /// nothing the others (or an admin creating a caja) need.
    async fn supervise(self, mut stopped: mpsc::UnboundedReceiver<Stopped>) {
        while let Some(Stopped {
            id,
            generation,
            archived,
        }) = stopped.recv().await
        {
            if self.0.stopping.load(Ordering::Relaxed) {
                continue;
            }
            let entry = {
                let _lifecycle = self.0.lifecycle.lock().await;
                let Some(entry) = self.entry(id) else {
                    continue;
                };
                if entry.generation != generation {
                    continue; // an older actor's notice: a new one runs already
                }
                if archived {
                    self.0.entries.remove(&id);
                    tracing::info!(register_id = %id, "caja archived: its actor is gone");
                    continue;
                }
                entry
            };
            tracing::warn!(register_id = %id, "register actor stopped unexpectedly; restarting it");
            let this = self.clone();
            actix_web::rt::spawn(async move { this.restart(id, generation, entry.shared).await });
        }
    }

    /// Loads caja `id` again, tells its screens what they missed, and
    /// starts its actor in place of the one of `generation`. While it cannot
    /// be loaded (the database is down, or a row of it does not parse) the
    /// caja is marked as not answering, with why, and tried again on a
    /// backoff.
    async fn restart(&self, id: CajaId, generation: u64, shared: Arc<Shared>) {
        let mut backoff = Backoff::new();
        let known = shared.state.borrow().seq;
        let mut logged = false;
        loop {
            let cx = self.0.env.context();
            let loaded = db::run(&self.0.env.pool, move |conn| {
                let fresh = Snapshot::load(conn, id, &cx)?;
                let missed =
                    event_log::between(conn, id, known, fresh.seq, fresh.caja.blind_count)?;
                Ok::<_, diesel::result::Error>((fresh, missed))
            })
            .await
            .map_err(CajaError::from)
            .and_then(|loaded| loaded.map_err(CajaError::from));
            let (fresh, missed) = match loaded {
                Ok(loaded) => loaded,
                Err(err) => {
                    let (unavailable, reason) = unreadable(&err);
                    if unavailable || logged {
                        tracing::warn!(register_id = %id, error = ?err, retry_in = ?backoff.peek(), "cannot load a caja to restart its actor; retrying");
                    } else {
                        // Not the database's absence: a row of this caja
                        // that cannot be read. Someone must look at it.
                        tracing::error!(register_id = %id, error = ?err, "a caja's rows cannot be loaded: it takes no sales until they can; the others go on");
                    }
                    logged = true;
                    shared
                        .health
                        .write_ended(self.0.env.clock.now(), Some(reason));
                    self.0.env.clock.sleep(backoff.next_wait()).await;
                    continue;
                }
            };
            let _lifecycle = self.0.lifecycle.lock().await;
            if self
                .entry(id)
                .is_none_or(|entry| entry.generation != generation)
            {
                return; // archived, or started again, meanwhile
            }
            if fresh.caja.is_archived() {
                self.0.entries.remove(&id);
                return;
            }
            shared.health.write_ended(self.0.env.clock.now(), None);
            let fresh_seq = fresh.seq;
            let shared = self.start_actor(fresh, Some(shared));
            if fresh_seq != known {
                match missed {
                    Some(events) => events
                        .into_iter()
                        .for_each(|e| shared.publish(Push::Event(e))),
                    None => shared.publish(Push::Resync {
                        register_id: Some(id.0),
                    }),
                }
            }
            return;
        }
    }

    /// Caja `id` could not be loaded at start: named until it can, tried
    /// again on a backoff, its actor started once it loads.
    fn load_later(&self, id: CajaId, err: &CajaError) {
        let (_, reason) = unreadable(err);
        tracing::error!(register_id = %id, error = ?err, "a caja's rows cannot be loaded: it takes no sales until they can; the others go on");
        let since = self.0.env.clock.now();
        self.0.unloaded.insert(id, Unloaded { id, since, reason });
        let this = self.clone();
        actix_web::rt::spawn(async move {
            let mut backoff = Backoff::new();
            loop {
                this.0.env.clock.sleep(backoff.next_wait()).await;
                if this.0.stopping.load(Ordering::Relaxed) {
                    return;
                }
                let cx = this.0.env.context();
                let loaded = db::run(&this.0.env.pool, move |conn| Snapshot::load(conn, id, &cx))
                    .await
                    .map_err(CajaError::from)
                    .and_then(|loaded| loaded.map_err(CajaError::from));
                match loaded {
                    Ok(snapshot) => {
                        let Ok(_lifecycle) = this.lifecycle().await else {
                            continue;
                        };
                        this.0.unloaded.remove(&id);
                        if this.entry(id).is_none() && !snapshot.caja.is_archived() {
                            tracing::info!(register_id = %id, "a caja that could not be loaded now is");
                            this.start_actor(snapshot, None);
                        }
                        return;
                    }
                    Err(err) => {
                        let (_, reason) = unreadable(&err);
                        if let Some(mut unloaded) = this.0.unloaded.get_mut(&id) {
                            unloaded.reason = reason;
                        }
                    }
                }
            }
        });
    }

    /// The cajas that could not be loaded at start (see [`Unloaded`]).
    pub fn unloaded(&self) -> Vec<Unloaded> {
        let mut all: Vec<Unloaded> = self.0.unloaded.iter().map(|u| u.clone()).collect();
        all.sort_by_key(|u| u.id);
        all
    }

    /// The lifecycle lock, waited for at most the register timeout (rule
    /// 10): a busy registry answers `register_busy`, never a hang.
    async fn lifecycle(&self) -> Result<tokio::sync::MutexGuard<'_, ()>, CajaError> {
        let env = &self.0.env;
        env.clock
            .timeout(env.register_timeout, self.0.lifecycle.lock())
            .await
            .map_err(|_| CajaError::Busy)
    }

    /// Marks the cajas whose write has lasted longer than the register timeout.
    async fn watchdog(self) {
        loop {
            self.0.env.clock.sleep(WATCHDOG_EVERY).await;
            let now = self.0.env.clock.now();
            for entry in self.0.entries.iter() {
                if let Some(health) = entry
                    .shared
                    .health
                    .changed(now, self.0.env.register_timeout)
                {
                    tracing::warn!(register_id = %entry.key(), ?health, "caja health changed");
                    entry.shared.publish(Push::health(entry.key().0, &health));
                }
            }
        }
    }

    fn entry(&self, id: CajaId) -> Option<Entry> {
        self.0.entries.get(&id).map(|entry| entry.clone())
    }

    /// The actor of caja `id` (tests halt it through this).
    pub fn get(&self, id: CajaId) -> Option<Addr<CajaActor>> {
        self.entry(id).map(|entry| entry.addr)
    }

    /// Stops caja `id`'s actor as a crash would; the registry restarts it.
    pub fn halt(&self, id: CajaId) {
        if let Some(addr) = self.get(id) {
            addr.do_send(Halt);
        }
    }

    /// How many commands were asked of caja `id` and not answered yet.
    pub fn asked(&self, id: CajaId) -> Option<watch::Receiver<usize>> {
        self.entry(id).map(|entry| entry.shared.asked.subscribe())
    }

    pub fn ids(&self) -> Vec<CajaId> {
        let mut ids: Vec<_> = self.0.entries.iter().map(|entry| *entry.key()).collect();
        ids.sort();
        ids
    }

    /// Runs `command` on caja `id`, waiting at most the register timeout
    /// (the command may still commit afterwards: a retry with its key gets
    /// its answer).
    pub async fn ask<C: Command>(&self, id: CajaId, command: C) -> Result<C::Reply, CajaError> {
        let entry = self.entry(id).ok_or(CajaError::UnknownCaja)?;
        let env = &self.0.env;
        let _in_flight = crate::metrics::metrics().command_sent(id.0);
        // Into the caja's mailbox with the channel this call waits on, so
        // the caja's thread wakes it once, with the answer. A full mailbox
        // is waited for, within the same limit.
        let (reply, answer) = oneshot::channel();
        let waiting = match entry.addr.try_send(Ask { command, reply }) {
            Ok(()) => None,
            Err(SendError::Full(ask)) => Some(entry.addr.send(ask)),
            Err(SendError::Closed(_)) => return Err(unreachable(id)),
        };
        let _asked = Asked::count(&entry.shared.asked);
        let answered = async move {
            if let Some(waiting) = waiting {
                waiting.await?;
            }
            // An actor that stops drops what it had not answered.
            Ok(answer.await.unwrap_or(Err(CajaError::Busy)))
        };
        match env.clock.timeout(env.register_timeout, answered).await {
            Ok(Ok(result)) => result,
            Ok(Err(MailboxError::Closed)) => Err(unreachable(id)),
            Ok(Err(MailboxError::Timeout)) | Err(_) => {
                tracing::warn!(register_id = %id, timeout = ?env.register_timeout, "register did not answer in time");
                Err(CajaError::Busy)
            }
        }
    }

    /// Caja `id`'s last committed state, at once.
    pub fn snapshot(&self, id: CajaId) -> Option<Arc<Snapshot>> {
        self.entry(id)
            .map(|entry| entry.shared.state.borrow().clone())
    }

    /// Every working caja's last committed state, in id order.
    pub fn snapshots(&self) -> Vec<Arc<Snapshot>> {
        self.ids()
            .into_iter()
            .filter_map(|id| self.snapshot(id))
            .collect()
    }

    fn view_of(&self, entry: &Entry) -> View {
        View {
            register: entry.shared.state.borrow().clone(),
            health: entry
                .shared
                .health
                .current(self.0.env.clock.now(), self.0.env.register_timeout),
            pos: entry.shared.pos.current(),
        }
    }

    /// A POS screen of caja `id` connected: the floor hears of it.
    pub fn pos_connected(&self, id: CajaId) {
        self.pos_changed(id, |pos, now| pos.connected(now));
    }

    /// A POS screen of caja `id` ended, however it ended.
    pub fn pos_disconnected(&self, id: CajaId) {
        self.pos_changed(id, |pos, now| pos.disconnected(now));
    }

    /// The POS of caja `id` reports the sales it holds unsent.
    pub fn pos_reported(&self, id: CajaId, pending: u32) {
        self.pos_changed(id, |pos, _| pos.reported(pending));
    }

    fn pos_changed(
        &self,
        id: CajaId,
        change: impl FnOnce(&PresenceCell, DateTime<Utc>) -> Option<PosPresence>,
    ) {
        let Some(entry) = self.entry(id) else { return };
        if let Some(presence) = change(&entry.shared.pos, self.0.env.clock.now()) {
            tracing::info!(
                register_id = id.0,
                online = presence.online,
                pending = presence.pending,
                "POS presence changed"
            );
            // For the floor only: the POS does not need to hear of itself.
            entry.shared.floor.publish(Push::pos(id.0, &presence));
        }
    }

    pub fn view(&self, id: CajaId) -> Option<View> {
        self.entry(id).map(|entry| self.view_of(&entry))
    }

    pub fn views(&self) -> Vec<View> {
        self.ids()
            .into_iter()
            .filter_map(|id| self.view(id))
            .collect()
    }

    /// A caja's screen: its events from now on, and its state as of now.
    /// Subscribed first, so no event falls between the two (a screen skips
    /// the events its state already has).
    pub fn subscribe(&self, id: CajaId) -> Option<(Subscription, View)> {
        let entry = self.entry(id)?;
        let receiver = Subscription::Register(entry.shared.events.subscribe());
        Some((receiver, self.view_of(&entry)))
    }

    /// The floor: every caja's events from now on, and every state as of
    /// now. A register's state is stored before its event is published, and
    /// the feed hands on an event only after it was published: an event
    /// handed on before this subscription, or published while no
    /// dashboard watched, is in the state read after it.
    pub fn subscribe_floor(&self) -> (Subscription, Vec<View>) {
        let receiver = Subscription::Floor(self.0.floor_feed.subscribe());
        (receiver, self.views())
    }

    /// The cajas that do not answer now, with why.
    pub fn stuck(&self) -> Vec<(Arc<Snapshot>, Health)> {
        self.views()
            .into_iter()
            .filter(|view| !view.health.is_ok())
            .map(|view| (view.register, view.health))
            .collect()
    }

    /// The events of `register`'s caja after `after` up to its `seq`, from
    /// the log, when it holds them all and they are few enough to replay.
    pub async fn events_after(&self, register: &Snapshot, after: i64) -> Option<Vec<Event>> {
        let (id, upto, blind) = (register.id(), register.seq, register.caja.blind_count);
        db::run(&self.0.env.pool, move |conn| {
            event_log::between(conn, id, after, upto, blind)
        })
        .await
        .ok()
        .and_then(Result::ok)
        .flatten()
    }

    /// Archives caja `id` through its actor, which then stops; the caja
    /// leaves the registry before this answers.
    pub async fn archive(
        &self,
        actor: AuditActor,
        id: CajaId,
        expected_version: i32,
    ) -> Result<Caja, CajaError> {
        let this = self.clone();
        detached(async move {
            let archived = this
                .ask(
                    id,
                    Archive {
                        actor,
                        expected_version,
                    },
                )
                .await?;
            // Committed: the caja leaves the registry now, or (the registry
            // busy) when its stopped actor's notice comes.
            if let Ok(_lifecycle) = this.lifecycle().await {
                this.0.entries.remove(&id);
            }
            Ok(archived)
        })
        .await
    }

    /// Creates a caja and starts its actor; the creation is the caja's
    /// first event. It runs to the end even if the request is dropped.
    pub async fn create(&self, actor: AuditActor, config: CajaConfig) -> Result<Caja, CajaError> {
        let this = self.clone();
        detached(async move {
            let _lifecycle = this.lifecycle().await?;
            let cx = this.0.env.context();
            let (created, event) = db::run(&this.0.env.pool, move |conn| {
                conn.transaction(|conn| {
                    let caja = Caja::create(conn, &actor, &config)?;
                    record(conn, caja.id, Change::Created, &cx)
                })
            })
            .await??;
            let caja = created.caja.clone();
            this.start_actor(created, None).publish(Push::Event(event));
            Ok(caja)
        })
        .await
    }

    /// Brings an archived caja back, with its actor. Restoring one that is
    /// not archived changes nothing.
    pub async fn restore(&self, actor: AuditActor, id: CajaId) -> Result<Caja, CajaError> {
        let this = self.clone();
        detached(async move {
            let _lifecycle = this.lifecycle().await?;
            let cx = this.0.env.context();
            let load_cx = cx.clone();
            let restored = db::run(&this.0.env.pool, move |conn| {
                conn.transaction(|conn| {
                    let before = Caja::find(conn, id)
                        .optional()?
                        .ok_or(SaveError::NotFound)?;
                    if !before.is_archived() {
                        return Ok(None);
                    }
                    Caja::restore(conn, &actor, id)?;
                    record(conn, id, Change::Restored, &cx).map(Some)
                })
            })
            .await??;
            match restored {
                Some((snapshot, event)) => {
                    let caja = snapshot.caja.clone();
                    this.start_actor(snapshot, None).publish(Push::Event(event));
                    Ok(caja)
                }
                None => {
                    let caja =
                        db::run(&this.0.env.pool, move |conn| Caja::find(conn, id)).await??;
                    if this.entry(id).is_none() {
                        let snapshot = db::run(&this.0.env.pool, move |conn| {
                            Snapshot::load(conn, id, &load_cx)
                        })
                        .await??;
                        this.start_actor(snapshot, None);
                    }
                    Ok(caja)
                }
            }
        })
        .await
    }

    pub fn stop(&self) {
        self.0
            .stopping
            .store(true, std::sync::atomic::Ordering::Relaxed);
        for entry in self.0.entries.iter() {
            if let Some(thread) = &entry.thread {
                thread.stop();
            }
        }
        self.0.arbiter.stop();
    }

    /// The threads started so far, stopped by [`CajaActors::stop`], for the
    /// caller to join once it may block.
    pub fn take_threads(&self) -> Vec<Arbiter> {
        self.0
            .threads
            .lock()
            .map(|mut threads| std::mem::take(&mut *threads))
            .unwrap_or_default()
    }
}

/// A command asked of a caja, counted in [`Shared::asked`] until its
/// caller has the answer or stops waiting for it.
struct Asked<'a>(&'a watch::Sender<usize>);

impl<'a> Asked<'a> {
    fn count(asked: &'a watch::Sender<usize>) -> Self {
        asked.send_modify(|n| *n += 1);
        Self(asked)
    }
}

impl Drop for Asked<'_> {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n = n.saturating_sub(1));
    }
}

/// Writes caja `id`'s change (made in this transaction) as its next event.
fn record(
    conn: &mut diesel::PgConnection,
    id: CajaId,
    change: Change,
    cx: &CommandContext,
) -> Result<(Snapshot, Event), CajaError> {
    let before = Snapshot::load(conn, id, cx)?;
    let next = before.changed(
        before.caja.clone(),
        before.session.clone(),
        before.history.clone(),
    );
    let event = event_log::append(conn, &before, &next, change)?;
    Ok((next, event))
}

/// Runs `work` as a task of its own, so it finishes even if the request
/// that asked for it is dropped (no caja left without its actor).
async fn detached<T: 'static>(
    work: impl Future<Output = Result<T, CajaError>> + 'static,
) -> Result<T, CajaError> {
    actix_web::rt::spawn(work)
        .await
        .unwrap_or(Err(CajaError::Db(DbError::Cancelled)))
}

/// A caja whose actor is gone (stopped, being started again).
fn unreachable(id: CajaId) -> CajaError {
    tracing::warn!(register_id = %id, "register actor unreachable (restarting?)");
    CajaError::Busy
}
