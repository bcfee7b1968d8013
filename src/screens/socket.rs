//! The WebSocket session of one screen (the only module that knows the
//! WebSocket library). One task per screen sends a snapshot, then every
//! event in `seq` order; a gap is answered with a fresh snapshot. It pings
//! the client and drops one that stays silent, re-checks the user's account
//! when told it changed (pushed by `auth::accounts`: an idle screen asks the
//! database nothing) so a disabled user's socket closes, limits the
//! commands per second, and
//! answers each command only after the register committed it.
//!
//! A screen that cannot keep up is dropped, never waited for: every frame
//! must be taken by the connection within the send timeout, and a screen
//! whose event queue overflowed is closed so it reconnects to a snapshot.
//! This is why the module uses actix-ws rather than actix-web-actors: an
//! actix-web-actors context is only polled while the socket's write buffer
//! has room, so a client that stops reading freezes its actor, timers
//! included, and nothing ever notices (actix-web issue 2441). Here the task
//! runs on its own and the send itself is what times out.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use actix_ws::{CloseCode, CloseReason, Item, Message, MessageStream, ProtocolError, Session};
use bytestring::ByteString;
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::{Instant, MissedTickBehavior, interval, timeout};

use super::Screens;
use super::connection::Connection;
use super::counter::{Connected, Holder};
use super::frame_guard::FrameGuard;
use super::sent_seqs::SentSeqs;
use crate::auth::CurrentUser;
use crate::auth::accounts::AccountChange;
use crate::auth::accounts::Accounts;
use crate::auth::logins;
use crate::auth::user::{Role, User};
use crate::boleta::issuing::Issuing;
use crate::boleta::outbox::{Outbox, Summary};
use crate::cajas::CajaId;
use crate::catalog::{Catalog, CatalogCell};
use crate::db::PgPool;
use crate::metrics::metrics;
use crate::registers::Audience;
use crate::registers::CajaActors;
use crate::registers::card_api::{ResolveRequest, StartRequest};
use crate::registers::commands::{FlagSale, RecordSale};
use crate::registers::commit::Command;
use crate::registers::events::{Event, Floor, PROTOCOL_VERSION, Push, Subscription};
use crate::registers::flagged::FlagRequest;
use crate::registers::registry::View;
use crate::registers::sale::{InvalidSale, Pricing, SaleRequest};
use crate::registers::{CajaError, ErrorBody};
use crate::web::shared;

/// A larger frame closes the connection.
pub const MAX_FRAME_BYTES: usize = 16 * 1024;
/// A larger message goes in fragments of this size: within the 8 KB a
/// connection's write buffer starts with.
const FRAGMENT_BYTES: usize = 7 * 1024;
/// The close code of a screen refused because its login or its person
/// holds as many screens as they may (4000–4999 are the application's;
/// 429 as HTTP's "too many requests").
pub const TOO_MANY_SCREENS: u16 = 4429;
/// Commands a client may send per second before being told to slow down.
const MAX_COMMANDS_PER_SECOND: u32 = 20;
/// How long a stopping hub waits for a screen to answer its close frame
/// before cutting the connection: a deploy must not wait for a phone
/// asleep on bad Wi-Fi.
const STOP_GRACE: Duration = Duration::from_secs(1);

/// What a screen follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Floor,
    Register(CajaId),
}

/// How long a screen may stay silent, and how long one frame may wait for
/// the connection to take it, before the screen is dropped.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub silence: Duration,
    pub send: Duration,
}

impl Timeouts {
    /// Pings go out four times per allowed silence.
    fn heartbeat(&self) -> Duration {
        (self.silence / 4).max(Duration::from_millis(50))
    }
}

/// The last `seq` a reconnecting screen saw of each register it follows
/// (`?last_seq=41` for a caja, `?last_seq=1:41,2:17` for the floor).
pub type Resume = std::collections::HashMap<i32, i64>;

/// What a screen's socket talks to: the cajas, the screens' count, the
/// accounts (a screen ends with its login) and the database.
#[derive(Clone)]
pub struct Backend {
    pub registers: web::Data<CajaActors>,
    pub screens: web::Data<Screens>,
    accounts: web::Data<Accounts>,
    pool: web::Data<PgPool>,
    catalog: web::Data<CatalogCell>,
    /// The boletas' outbox (the floor shows what waits and what was
    /// rejected), and whether the venue issues them.
    outbox: web::Data<Outbox>,
    issuing: web::Data<Issuing>,
}

impl FromRequest for Backend {
    type Error = actix_web::Error;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        std::future::ready(Ok(Backend {
            registers: shared(req),
            screens: shared(req),
            accounts: shared(req),
            pool: shared(req),
            catalog: shared(req),
            outbox: shared(req),
            issuing: shared(req),
        }))
    }
}

#[allow(clippy::too_many_arguments)]
pub fn start(
    current: CurrentUser,
    backend: Backend,
    scope: Scope,
    views: Vec<View>,
    events: Subscription,
    resume: Resume,
    req: &HttpRequest,
    body: web::Payload,
) -> Result<HttpResponse, actix_web::Error> {
    // Frames are checked against the limit from their header on.
    let oversized = Arc::new(AtomicBool::new(false));
    let guarded = FrameGuard::new(body.into_inner(), MAX_FRAME_BYTES, oversized.clone());
    let mut guarded: actix_web::dev::Payload = actix_web::dev::Payload::Stream {
        payload: Box::pin(guarded),
    };
    let body = web::Payload::from_request(req, &mut guarded).into_inner()?;
    let (response, session, messages) = actix_ws::handle(req, body)?;
    let CurrentUser { user, login, .. } = current;
    let holder = Holder {
        login,
        user: user.id.0,
    };
    let connected = match backend.screens.connect(scope, holder) {
        Ok(connected) => connected,
        Err(refused) => {
            tracing::info!(user_id = %user.id, %refused, "screen refused: too many open");
            actix_web::rt::spawn(session.close(Some(CloseReason {
                code: CloseCode::Other(TOO_MANY_SCREENS),
                description: Some(
                    "demasiadas pantallas abiertas con tu usuario: cierra alguna y recarga".into(),
                ),
            })));
            return Ok(response);
        }
    };
    // A cashier's screen follows their own session and ends with it.
    let own_session = match scope {
        Scope::Register(_) if user.role == Role::Cajero => views
            .first()
            .and_then(|view| view.register.session.as_ref())
            .map(|session| i64::from(session.id)),
        _ => None,
    };
    // The cashier's own POS: the floor sees whether it is connected.
    let pos = match scope {
        Scope::Register(id) if own_session.is_some() => Some(PosConnection::new(&backend, id)),
        _ => None,
    };
    let screen = Screen {
        pos,
        login,
        oversized,
        own_session,
        _connected: connected,
        timeouts: backend.screens.timeouts,
        user,
        backend: backend.clone(),
        scope,
        known: Default::default(),
        session,
        tasks: JoinSet::new(),
        window: (Instant::now(), 0),
        connection: req.conn_data::<Connection>().copied(),
        stopping: backend.screens.stopping(),
    };
    let messages = messages.max_frame_size(MAX_FRAME_BYTES);
    let stopping = backend.screens.stopping();
    actix_web::rt::spawn(screen.run(views, resume, messages, events, stopping));
    Ok(response)
}

/// A cashier's POS connected to its caja, until dropped (however the
/// screen ended: left, silent, dropped).
struct PosConnection {
    registers: web::Data<CajaActors>,
    id: CajaId,
}

impl PosConnection {
    fn new(backend: &Backend, id: CajaId) -> Self {
        backend.registers.pos_connected(id);
        Self {
            registers: backend.registers.clone(),
            id,
        }
    }
}

impl Drop for PosConnection {
    fn drop(&mut self) {
        self.registers.pos_disconnected(self.id);
    }
}

/// Why a screen's connection ended.
#[derive(Debug)]
enum End {
    /// The client closed it or went away.
    ClientLeft,
    /// Nothing heard from the client within the allowed silence.
    Silent,
    /// The connection did not take a frame within the send timeout.
    Stuck,
    /// The event queue overflowed: the client must reconnect to a snapshot.
    FellBehind(u64),
    /// The user was disabled or signed out everywhere.
    AccountEnded,
    /// The cashier's session on this caja ended (the caja may be someone else's now).
    SessionEnded,
    /// The caja was archived.
    Archived,
    /// The hub is stopping (a restart, a deploy).
    HubStopping,
    /// A frame over the size limit or not WebSocket at all.
    Protocol(String),
}

impl End {
    /// Why the hub dropped the screen for its own sake (the metric's
    /// label); `None` when it ended normally.
    fn dropped_for(&self) -> Option<&'static str> {
        let [silent, slow, fell_behind, protocol] = crate::metrics::DROP_REASONS;
        match self {
            End::Silent => Some(silent),
            End::Stuck => Some(slow),
            End::FellBehind(_) => Some(fell_behind),
            End::Protocol(_) => Some(protocol),
            End::ClientLeft
            | End::AccountEnded
            | End::SessionEnded
            | End::Archived
            | End::HubStopping => None,
        }
    }

    /// The close frame sent, when the connection can still take one.
    fn close_reason(&self) -> Option<CloseReason> {
        let (code, description) = match self {
            End::ClientLeft | End::Stuck => return None,
            End::Silent => (CloseCode::Away, "sin respuesta"),
            End::FellBehind(_) => (CloseCode::Again, "pantalla atrasada; reconecta"),
            End::AccountEnded => (CloseCode::Policy, "sesión terminada"),
            End::SessionEnded => (CloseCode::Normal, "la sesión de caja terminó"),
            End::Archived => (CloseCode::Normal, "caja archivada"),
            End::HubStopping => (CloseCode::Restart, "el servidor se reinicia"),
            End::Protocol(_) => (CloseCode::Size, "mensaje no válido o demasiado grande"),
        };
        Some(CloseReason {
            code,
            description: Some(description.into()),
        })
    }
}

/// What a background task of the screen brings back.
enum Done {
    /// A command's answer, ready to send.
    Reply(String),
    /// Whether the user's account still allows this socket.
    AccountChecked(bool),
}

struct Screen {
    /// Set on a cashier's own POS screen.
    pos: Option<PosConnection>,
    /// The login this screen was opened in: logging out ends the screen too.
    login: uuid::Uuid,
    /// Set when the client announced a frame over the limit.
    oversized: Arc<AtomicBool>,
    /// A cashier's screen: the session it was opened for.
    own_session: Option<i64>,
    /// Counts this screen as connected until it is dropped.
    _connected: Connected,
    timeouts: Timeouts,
    user: User,
    backend: Backend,
    scope: Scope,
    /// The last `seq` sent per register.
    known: SentSeqs,
    session: Session,
    /// Commands waiting for their register, and account checks.
    tasks: JoinSet<Done>,
    /// The connection under the socket, to cut when the screen is dropped.
    connection: Option<Connection>,
    /// Set when the hub stops: a send waiting for a stuck client gives up.
    stopping: watch::Receiver<bool>,
    /// Start of the current second and the commands received in it.
    window: (Instant, u32),
}

/// A command's payload (`field` of the message), or the error to answer,
/// naming the field at fault (`sale.payments[0].amount`).
fn payload<T: serde::de::DeserializeOwned>(
    id: &Option<Value>,
    value: Option<Value>,
    field: &str,
    code: &'static str,
    what: &str,
) -> Result<T, String> {
    let Some(value) = value else {
        return Err(error(
            id.as_ref(),
            code,
            &format!("Falta {what}."),
            Some(field),
        ));
    };
    crate::web::json::read(value, field).map_err(|unreadable| {
        let field = unreadable.field.as_deref().unwrap_or(field);
        error(
            id.as_ref(),
            code,
            &format!("No se pudo leer {what}: {field}: {}", unreadable.message),
            Some(field),
        )
    })
}

/// The error answering an invalid payload, naming its field.
fn refusal(id: &Option<Value>, code: &'static str, invalid: InvalidSale) -> String {
    error(id.as_ref(), code, &invalid.message, Some(&invalid.field))
}

/// The API's error body, with the protocol's version and the id of the
/// message it answers.
fn error(id: Option<&Value>, code: &'static str, message: &str, field: Option<&str>) -> String {
    let mut body = json!(ErrorBody::new(code, message, field.map(str::to_owned)));
    body["v"] = json!(PROTOCOL_VERSION);
    body["id"] = json!(id);
    body.to_string()
}

/// A frame handed to the connection within `limit`, or why not (a hub
/// that stops does not wait for the rest of the limit).
async fn within(
    limit: Duration,
    stopping: &mut watch::Receiver<bool>,
    sending: impl std::future::Future<Output = Result<(), actix_ws::Closed>>,
) -> Result<(), End> {
    tokio::select! {
        sent = timeout(limit, sending) => match sent {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_closed)) => Err(End::ClientLeft),
            Err(_elapsed) => Err(End::Stuck),
        },
        _ = stopping.wait_for(|stopping| *stopping) => Err(End::HubStopping),
    }
}

impl Screen {
    async fn run(
        mut self,
        views: Vec<View>,
        resume: Resume,
        mut messages: MessageStream,
        events: Subscription,
        stopping: watch::Receiver<bool>,
    ) {
        tracing::info!(user = %self.user.name, scope = ?self.scope, "screen connected");
        let end = self
            .serve(views, resume, &mut messages, events, stopping)
            .await;
        // The POS is gone now, not once its close (maybe to a dead link) is sent.
        drop(self.pos.take());
        let (user, scope) = (&self.user.name, self.scope);
        match &end {
            End::ClientLeft | End::HubStopping | End::SessionEnded => {
                tracing::info!(%user, ?scope, reason = ?end, "screen disconnected")
            }
            End::FellBehind(missed) => {
                tracing::warn!(%user, ?scope, missed, "screen fell behind; dropped")
            }
            End::Protocol(error) => {
                tracing::warn!(%user, ?scope, %error, "screen broke the protocol; dropped")
            }
            other => tracing::warn!(%user, ?scope, reason = ?other, "screen dropped"),
        }
        if let Some(reason) = end.dropped_for() {
            metrics().screen_dropped(reason);
        }
        self.tasks.abort_all();
        // The connection ends with the screen: it is held until the client
        // took everything sent, its close frame included, and reset if the
        // client does not in time (at once when it was stuck), so nothing
        // is kept for it: a descriptor, the kernel's queue, a stop.
        let held = match end {
            End::ClientLeft => None,
            _ => self.connection.and_then(Connection::hold),
        };
        let grace = match end {
            End::Stuck => Duration::ZERO,
            End::HubStopping => STOP_GRACE.min(self.timeouts.send),
            _ => self.timeouts.send,
        };
        let started = Instant::now();
        if let Some(reason) = end.close_reason() {
            let _ = timeout(grace, self.session.close(Some(reason))).await;
        }
        drop(messages);
        if let Some(held) = held {
            held.settle(grace.saturating_sub(started.elapsed())).await;
        }
    }

    async fn serve(
        &mut self,
        views: Vec<View>,
        resume: Resume,
        messages: &mut MessageStream,
        mut events: Subscription,
        mut stopping: watch::Receiver<bool>,
    ) -> End {
        // A task is allocated at the size of its largest state, and an
        // idle screen waits in `select!` for as long as it stays: the
        // greeting, a command, a push, a reply and a ping are each boxed
        // while they run, so each of thousands of screens holds 2.2 KB for
        // its task instead of 3.6 KB.

        // Account changes come pushed; one check now covers any made
        // between the upgrade's check and this subscription.
        let mut accounts = self.backend.accounts.subscribe();
        let mut following_accounts = true;
        self.check_account();
        // A caja's screen shows its keys: the catalog comes with the
        // greeting, and again at each change of it (followed from before
        // the greeting, so no change falls in between).
        let mut catalog = match self.scope {
            Scope::Register(_) => Some(self.backend.catalog.subscribe()),
            Scope::Floor => None,
        };
        // The floor shows the boletas' outbox: with the greeting, and at
        // each change of it.
        let mut boletas = match self.scope {
            Scope::Floor => Some(self.backend.outbox.summaries()),
            Scope::Register(_) => None,
        };
        if let Err(end) = Box::pin(self.greet(views, resume)).await {
            return end;
        }
        // A venue that issues none hears nothing of them (unless some
        // issued earlier still wait).
        let silent = self.backend.issuing.current().is_none()
            && boletas
                .as_ref()
                .is_none_or(|b| *b.borrow() == Summary::default());
        if !silent && let Err(end) = Box::pin(self.send_boletas(&mut boletas)).await {
            return end;
        }
        let mut heartbeat = interval(self.timeouts.heartbeat());
        heartbeat.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut last_heard = Instant::now();
        loop {
            let step = tokio::select! {
                message = messages.recv() => match message {
                    Some(Ok(message)) => {
                        last_heard = Instant::now();
                        Box::pin(self.on_message(message)).await
                    }
                    Some(Err(_)) if self.oversized.load(Ordering::Relaxed) => {
                        Err(End::Protocol("a frame announced over the size limit".into()))
                    }
                    Some(Err(ProtocolError::Io(_))) | None => Err(End::ClientLeft),
                    Some(Err(err)) => Err(End::Protocol(err.to_string())),
                },
                push = events.recv() => match push {
                    Ok(push) => {
                        let sent = Box::pin(self.on_push(push)).await;
                        events.took().await;
                        sent
                    }
                    Err(RecvError::Lagged(missed)) => Err(End::FellBehind(missed)),
                    Err(RecvError::Closed) => Err(End::Archived),
                },
                Some(done) = self.tasks.join_next(), if !self.tasks.is_empty() => match done {
                    Ok(Done::Reply(text)) => Box::pin(self.send(text)).await,
                    Ok(Done::AccountChecked(true)) => Ok(()),
                    Ok(Done::AccountChecked(false)) => Err(End::AccountEnded),
                    Err(err) => {
                        tracing::error!(error = %err, "screen task failed");
                        Ok(())
                    }
                },
                change = accounts.recv(), if following_accounts => {
                    match change {
                        Ok(AccountChange::User(id)) if id != self.user.id.0 => {}
                        Ok(_) | Err(RecvError::Lagged(_)) => self.check_account(),
                        // The hub is stopping; its screens close with it.
                        Err(RecvError::Closed) => following_accounts = false,
                    }
                    Ok(())
                }
                changed = watch_changed(&mut boletas), if boletas.is_some() => {
                    if changed {
                        Box::pin(self.send_boletas(&mut boletas)).await
                    } else {
                        boletas = None;
                        Ok(())
                    }
                }
                changed = watch_changed(&mut catalog), if catalog.is_some() => {
                    if changed {
                        Box::pin(self.send_catalog(&mut catalog)).await
                    } else {
                        // The hub is stopping: nothing more will change.
                        catalog = None;
                        Ok(())
                    }
                }
                _ = stopping.wait_for(|stopping| *stopping) => Err(End::HubStopping),
                // A link silent for the allowed silence is given up on at
                // that moment, not at the next ping's tick.
                _ = tokio::time::sleep_until(last_heard + self.timeouts.silence) => Err(End::Silent),
                _ = heartbeat.tick() => Box::pin(self.ping()).await,
            };
            if let Err(end) = step {
                return end;
            }
        }
    }

    /// Hands one message to the connection, or gives up on a stuck client.
    /// A large one (a snapshot) goes in fragments, each taken by the
    /// connection before the next is queued: a connection's write buffer
    /// keeps the size of the largest chunk it was handed, so a 30-caja
    /// snapshot sent whole would hold its size in every screen's connection
    /// for as long as the screen stays.
    async fn send(&mut self, text: impl Into<ByteString>) -> Result<(), End> {
        let text: ByteString = text.into();
        if text.len() <= FRAGMENT_BYTES {
            return within(
                self.timeouts.send,
                &mut self.stopping,
                self.session.text(text),
            )
            .await;
        }
        let bytes = text.into_bytes();
        let mut from = 0;
        while from < bytes.len() {
            let to = (from + FRAGMENT_BYTES).min(bytes.len());
            let part = bytes.slice(from..to);
            let item = match (from, to == bytes.len()) {
                (0, _) => Item::FirstText(part),
                (_, true) => Item::Last(part),
                (_, false) => Item::Continue(part),
            };
            within(
                self.timeouts.send,
                &mut self.stopping,
                self.session.continuation(item),
            )
            .await?;
            // The connection's task (on this thread) takes the fragment now.
            tokio::task::yield_now().await;
            from = to;
        }
        Ok(())
    }

    /// A caja's screen: its keys, as the catalog is now.
    fn keys(&self) -> Option<Value> {
        match self.scope {
            Scope::Register(caja) => Some(self.backend.catalog.current().keys_for(caja)),
            Scope::Floor => None,
        }
    }

    /// The caja's keys again, after the catalog changed.
    async fn send_catalog(
        &mut self,
        catalog: &mut Option<watch::Receiver<Arc<Catalog>>>,
    ) -> Result<(), End> {
        let (Some(catalog), Scope::Register(caja)) = (catalog, self.scope) else {
            return Ok(());
        };
        let keys = catalog.borrow_and_update().keys_for(caja);
        self.send(json!({ "type": "catalog", "catalog": keys }).to_string())
            .await
    }

    /// The boletas' outbox as it is now, to a floor.
    async fn send_boletas(
        &mut self,
        boletas: &mut Option<watch::Receiver<Summary>>,
    ) -> Result<(), End> {
        let Some(boletas) = boletas else {
            return Ok(());
        };
        let summary = boletas.borrow_and_update().clone();
        self.send(json!({ "type": "boletas", "boletas": summary }).to_string())
            .await
    }

    async fn ping(&mut self) -> Result<(), End> {
        within(
            self.timeouts.send,
            &mut self.stopping,
            self.session.ping(b""),
        )
        .await
    }

    /// A new screen gets a snapshot; one that reconnects with the last
    /// `seq` of everything it follows gets what it missed from the event
    /// log instead, when the log has it all and it is not too much.
    async fn greet(&mut self, views: Vec<View>, resume: Resume) -> Result<(), End> {
        if let Some(missed) = self.missed(&views, &resume).await {
            let replayed = missed.len();
            for view in &views {
                let register = view.register.caja.id.0;
                self.known.set(register, resume[&register]);
            }
            for event in missed {
                self.on_event(event).await?;
            }
            let mut message =
                json!({ "type": "resumed", "v": PROTOCOL_VERSION, "replayed": replayed });
            if let Some(keys) = self.keys() {
                message["catalog"] = keys;
            }
            metrics().greeted(true);
            return self.send(message.to_string()).await;
        }
        metrics().greeted(false);
        self.send_snapshot(views, "connect").await
    }

    /// The events a reconnecting screen missed, if it can be told them all.
    async fn missed(&self, views: &[View], resume: &Resume) -> Option<Vec<Event>> {
        let follows_the_same = !resume.is_empty()
            && views.len() == resume.len()
            && views
                .iter()
                .all(|view| resume.contains_key(&view.register.caja.id.0));
        if !follows_the_same {
            return None;
        }
        let mut missed = Vec::new();
        for view in views {
            let register = view.register.caja.id;
            let events = self
                .backend
                .registers
                .events_after(&view.register, resume[&register.0])
                .await?;
            missed.extend(events);
        }
        Some(missed)
    }

    async fn send_snapshot(&mut self, views: Vec<View>, reason: &str) -> Result<(), End> {
        if let Some(own) = self.own_session {
            let still_own = views
                .iter()
                .all(|view| view.register.session.as_ref().map(|s| i64::from(s.id)) == Some(own));
            if !still_own {
                return Err(End::SessionEnded);
            }
        }
        for view in &views {
            self.known.set(view.register.caja.id.0, view.register.seq);
        }
        let user = &self.user;
        let floor = self.scope == Scope::Floor;
        let keys = self.keys();
        let make = || {
            let registers: Vec<Value> = views.iter().map(|view| view.json_for(user)).collect();
            let registers = if floor {
                json!(registers.iter().map(Floor).collect::<Vec<_>>())
            } else {
                Value::Array(registers)
            };
            let mut snapshot = json!({ "type": "snapshot", "v": PROTOCOL_VERSION, "reason": reason, "registers": registers });
            if let Some(keys) = &keys {
                snapshot["catalog"] = keys.clone();
            }
            snapshot.to_string()
        };
        let sees_everything = views
            .iter()
            .all(|view| !Audience::of(user, &view.register.caja).is_blind());
        if floor && sees_everything {
            let message = self
                .backend
                .screens
                .floor_snapshot
                .get_or_make(reason, &views, make);
            return self.send(message).await;
        }
        let message = make();
        self.send(message).await
    }

    /// Sends a fresh snapshot of what this screen follows (the last
    /// committed state: no register is asked, none is waited for).
    async fn resync(&mut self) -> Result<(), End> {
        let views = match self.scope {
            Scope::Floor => self.backend.registers.views(),
            Scope::Register(id) => match self.backend.registers.view(id) {
                Some(view) => vec![view],
                None => return Err(End::Archived),
            },
        };
        self.send_snapshot(views, "resync").await
    }

    fn follows(&self, register_id: i32) -> bool {
        match self.scope {
            Scope::Floor => true,
            Scope::Register(id) => id.0 == register_id,
        }
    }

    /// A push, or the floor feed's batch of them: each message is queued
    /// before the connection's task runs again, so a batch goes out in one
    /// write.
    async fn on_push(&mut self, push: Push) -> Result<(), End> {
        match push {
            Push::Batch(pushes) => {
                for push in pushes.iter() {
                    self.on_one(push.clone()).await?;
                }
                Ok(())
            }
            push => self.on_one(push).await,
        }
    }

    async fn on_one(&mut self, push: Push) -> Result<(), End> {
        match push {
            Push::Event(event) => self.on_event(event).await,
            Push::Notice { register_id, json } if self.follows(register_id) => {
                self.send(json).await
            }
            Push::Resync { register_id } if register_id.is_none_or(|id| self.follows(id)) => {
                self.resync().await
            }
            Push::Notice { .. } | Push::Resync { .. } => Ok(()),
            // Never nested: the feed batches what the registers publish.
            Push::Batch(_) => Ok(()),
        }
    }

    async fn on_event(&mut self, event: Event) -> Result<(), End> {
        match self.known.get(event.register_id) {
            // Already in the snapshot this screen has.
            Some(known) if event.seq <= known => Ok(()),
            Some(known) if event.seq > known + 1 => self.resync().await,
            _ if self.own_session.is_some()
                && event.session_id.is_some_and(|now| now != self.own_session) =>
            {
                // The cashier's session ended: they are told so, and no more.
                if &*event.change == "session_closed" {
                    self.send(event.json_for(&self.user).clone()).await?;
                }
                Err(End::SessionEnded)
            }
            _ => {
                self.known.set(event.register_id, event.seq);
                let frame = match self.scope {
                    Scope::Floor => event.floor_json,
                    Scope::Register(_) => event.json_for(&self.user).clone(),
                };
                self.send(frame).await
            }
        }
    }

    async fn on_message(&mut self, message: Message) -> Result<(), End> {
        match message {
            Message::Ping(bytes) => {
                within(
                    self.timeouts.send,
                    &mut self.stopping,
                    self.session.pong(&bytes),
                )
                .await
            }
            Message::Pong(_) | Message::Nop => Ok(()),
            Message::Text(text) => self.command(&text).await,
            Message::Binary(_) | Message::Continuation(_) => {
                let text = error(
                    None,
                    "binary_not_supported",
                    "Solo mensajes de texto JSON en un solo marco.",
                    None,
                );
                self.send(text).await
            }
            Message::Close(_) => Err(End::ClientLeft),
        }
    }

    fn over_rate(&mut self) -> bool {
        let (start, count) = self.window;
        if start.elapsed() >= Duration::from_secs(1) {
            self.window = (Instant::now(), 1);
            false
        } else {
            self.window = (start, count + 1);
            count + 1 > MAX_COMMANDS_PER_SECOND
        }
    }

    async fn command(&mut self, text: &str) -> Result<(), End> {
        let limited = self.over_rate();
        let message: Value = match serde_json::from_str(text) {
            Ok(message) => message,
            Err(err) => {
                let (code, message) = if limited {
                    (
                        "rate_limited",
                        "Demasiados mensajes; espera un momento.".to_owned(),
                    )
                } else {
                    ("invalid_json", format!("Mensaje no válido: {err}"))
                };
                return self.send(error(None, code, &message, None)).await;
            }
        };
        let id = message.get("id").cloned();
        if limited {
            // The id tells the client which command was refused.
            let text = error(
                id.as_ref(),
                "rate_limited",
                "Demasiados mensajes; espera un momento.",
                None,
            );
            return self.send(text).await;
        }
        match message.get("type").and_then(Value::as_str) {
            Some("pong") => Ok(()),
            Some("ping") => {
                self.send(json!({ "type": "pong", "v": PROTOCOL_VERSION }).to_string())
                    .await
            }
            Some("resync") => self.resync().await,
            Some("outbox") => match self.outbox(id.as_ref(), message.get("pending")) {
                Ok(()) => Ok(()),
                Err(refusal) => self.send(refusal).await,
            },
            Some("sale") => match self.sale(id.clone(), message.get("sale").cloned()) {
                Ok(()) => Ok(()),
                Err(refusal) => self.send(refusal).await,
            },
            Some("flag") => match self.flag(id.clone(), message.get("flag").cloned()) {
                Ok(()) => Ok(()),
                Err(refusal) => self.send(refusal).await,
            },
            Some("card_start") => {
                match self.card_start(id.clone(), message.get("attempt").cloned()) {
                    Ok(()) => Ok(()),
                    Err(refusal) => self.send(refusal).await,
                }
            }
            Some("card_resolve") => {
                match self.card_resolve(id.clone(), message.get("resolve").cloned()) {
                    Ok(()) => Ok(()),
                    Err(refusal) => self.send(refusal).await,
                }
            }
            Some(other) => {
                let text = error(
                    id.as_ref(),
                    "unknown_type",
                    &format!("Tipo de mensaje desconocido: {other:?}"),
                    Some("type"),
                );
                self.send(text).await
            }
            None => {
                let text = error(
                    id.as_ref(),
                    "invalid_message",
                    "Falta el campo type.",
                    Some("type"),
                );
                self.send(text).await
            }
        }
    }

    /// The POS reports how many sales it holds unsent (0 to 100 000).
    fn outbox(&self, id: Option<&Value>, pending: Option<&Value>) -> Result<(), String> {
        let Scope::Register(caja) = self.scope else {
            return Err(error(
                id,
                "not_a_pos",
                "Solo una caja informa sus ventas guardadas.",
                Some("type"),
            ));
        };
        if self.pos.is_none() {
            return Ok(()); // a supervisor watching the caja holds no sales
        }
        let pending = pending
            .and_then(Value::as_u64)
            .filter(|n| *n <= 100_000)
            .ok_or_else(|| {
                error(
                    id,
                    "invalid_message",
                    "pending debe ser un entero de 0 a 100000.",
                    Some("pending"),
                )
            })?;
        self.backend.registers.pos_reported(caja, pending as u32);
        Ok(())
    }

    /// A sale from the POS: the same actor message as the HTTP API, answered
    /// after the commit. The wait runs beside the screen, so events keep
    /// flowing; an invalid sale is refused at once (the `Err`).
    fn sale(&mut self, id: Option<Value>, sale: Option<Value>) -> Result<(), String> {
        let register = self.register(&id)?;
        let request: SaleRequest = payload(&id, sale, "sale", "invalid_sale", "la venta")?;
        let catalog = self.backend.catalog.current();
        let sale = request
            .validate(Pricing::Now {
                catalog: &catalog,
                caja: register,
            })
            .map_err(|invalid| refusal(&id, "invalid_sale", invalid))?;
        let by = self.user.clone();
        self.ask_register(id, register, RecordSale { by, sale }, |recorded| {
            recorded.fields()
        });
        Ok(())
    }

    /// A sale the POS took offline that cannot be recorded as made: handed
    /// to the register to keep for a supervisor.
    fn flag(&mut self, id: Option<Value>, flag: Option<Value>) -> Result<(), String> {
        let register = self.register(&id)?;
        let request: FlagRequest = payload(&id, flag, "flag", "invalid_flag", "la venta marcada")?;
        let catalog = self.backend.catalog.current();
        let flag = request
            .validate(chrono::Utc::now(), &catalog)
            .map_err(|invalid| refusal(&id, "invalid_flag", invalid))?;
        let by = self.user.clone();
        self.ask_register(
            id,
            register,
            FlagSale { by, flag },
            |ack| json!({ "flagged_id": ack.flagged_id, "replayed": ack.replayed }),
        );
        Ok(())
    }

    /// A card charge starts on the caja's terminal; the answer carries the
    /// attempt (its provider, its deadline).
    fn card_start(&mut self, id: Option<Value>, attempt: Option<Value>) -> Result<(), String> {
        let register = self.register(&id)?;
        let request: StartRequest =
            payload(&id, attempt, "attempt", "invalid_card_payment", "el cobro")?;
        let command = request
            .parse(self.user.clone())
            .map_err(|(field, message)| {
                error(
                    id.as_ref(),
                    "invalid_card_payment",
                    &message,
                    Some(&format!("attempt.{field}")),
                )
            })?;
        self.ask_register(
            id,
            register,
            command,
            |attempt| json!({ "attempt": attempt }),
        );
        Ok(())
    }

    /// How a card charge ended, as the cashier (or a supervisor) saw it.
    fn card_resolve(&mut self, id: Option<Value>, resolve: Option<Value>) -> Result<(), String> {
        let register = self.register(&id)?;
        let attempt_id = resolve
            .as_ref()
            .and_then(|r| r.get("attempt_id"))
            .and_then(Value::as_i64)
            .ok_or_else(|| {
                error(
                    id.as_ref(),
                    "invalid_card_payment",
                    "Falta el cobro (attempt_id).",
                    Some("resolve.attempt_id"),
                )
            })?;
        let mut body = resolve.unwrap_or_default();
        if let Some(fields) = body.as_object_mut() {
            fields.remove("attempt_id");
        }
        let request: ResolveRequest = payload(
            &id,
            Some(body),
            "resolve",
            "invalid_card_payment",
            "el resultado del cobro",
        )?;
        let command =
            request
                .parse(self.user.clone(), attempt_id)
                .map_err(|(field, message)| {
                    error(
                        id.as_ref(),
                        "invalid_card_payment",
                        &message,
                        Some(&format!("resolve.{field}")),
                    )
                })?;
        self.ask_register(
            id,
            register,
            command,
            |attempt| json!({ "attempt": attempt }),
        );
        Ok(())
    }

    /// The caja this screen follows: commands are only for caja screens.
    fn register(&self, id: &Option<Value>) -> Result<CajaId, String> {
        match self.scope {
            Scope::Register(register) => Ok(register),
            Scope::Floor => Err(error(
                id.as_ref(),
                "wrong_screen",
                "Esto se hace desde la pantalla de una caja.",
                None,
            )),
        }
    }

    /// Sends `msg` to the register beside the screen, and answers the
    /// command with an `ack` (the fields `ack` makes) or an `error`.
    fn ask_register<C>(
        &mut self,
        id: Option<Value>,
        register: CajaId,
        command: C,
        ack: impl FnOnce(C::Reply) -> Value + 'static,
    ) where
        C: Command + actix::Message<Result = Result<<C as Command>::Reply, CajaError>>,
    {
        let backend = self.backend.clone();
        self.tasks.spawn_local(async move {
            let result = backend.registers.ask(register, command).await;
            Done::Reply(match result {
                Ok(value) => {
                    let mut answer = ack(value);
                    answer["type"] = json!("ack");
                    answer["v"] = json!(PROTOCOL_VERSION);
                    answer["id"] = id.unwrap_or(Value::Null);
                    answer.to_string()
                }
                Err(err) => {
                    let ErrorBody {
                        code,
                        message,
                        field,
                        ..
                    } = CajaError::body(&err);
                    error(id.as_ref(), code, &message, field.as_deref())
                }
            })
        });
    }

    /// Checks in the background that the account still allows this socket.
    fn check_account(&mut self) {
        let (pool, login, id, epoch) = (
            self.backend.pool.clone(),
            self.login,
            self.user.id,
            self.user.session_epoch,
        );
        self.tasks.spawn_local(async move {
            Done::AccountChecked(
                match crate::db::run(&pool, move |conn| logins::user_of(conn, login)).await {
                    Ok(Ok(Some(user))) => {
                        user.id == id && !user.is_disabled() && user.session_epoch == epoch
                    }
                    Ok(Ok(None)) => false,
                    Ok(Err(_)) => false,
                    // The database being away is not the user's fault.
                    Err(_) => true,
                },
            )
        });
    }
}

/// Whether what `watched` follows (the catalog, the boletas' summary)
/// changed; false: it never will again (the hub is stopping).
async fn watch_changed<T>(watched: &mut Option<watch::Receiver<T>>) -> bool {
    match watched {
        Some(watched) => watched.changed().await.is_ok(),
        None => std::future::pending().await,
    }
}
