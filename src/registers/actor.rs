//! `RegisterActor`: the only writer of one caja's live state. Each command
//! is checked against memory, committed in one transaction on the blocking
//! pool, and only then applied to memory and answered. Commands run one at
//! a time (`AtomicResponse`), so a register's changes apply in order while
//! other registers go on in parallel.

use actix::prelude::*;
use chrono::{SubsecRound, Utc};
use serde::Serialize;

use super::RegisterError;
use tokio::sync::broadcast;

use super::events::{self, Event};
use super::flagged::{self, FlagAck, ValidFlag};
use super::history::{History, RecentSale};
use super::live::{LiveSession, MovementKind};
use super::sale::ValidSale;
use super::store::{self, ClosedSession, MovementAck, SaleAck, VoidAck};
use crate::audit::Actor as AuditActor;
use crate::auth::user::{Role, User};
use crate::cajas::domain::{CajaConfig, OperationalStatus, PaymentProvider};
use crate::cajas::model::SaveError;
use crate::cajas::{Caja, RegisterId};
use crate::db::{self, DbError, PgPool};
use crate::money::Pesos;

/// How many commands may wait for one register.
const MAILBOX: usize = 256;

pub struct RegisterActor {
    pool: PgPool,
    caja: Caja,
    session: Option<LiveSession>,
    /// The last sales, the last closing and the jornada so far.
    history: History,
    /// The number of the last committed change.
    seq: i64,
    /// This register's screens.
    events: broadcast::Sender<Event>,
    /// Every floor dashboard.
    floor: broadcast::Sender<Event>,
}

impl RegisterActor {
    pub fn new(
        pool: PgPool,
        caja: Caja,
        session: Option<LiveSession>,
        history: History,
        floor: broadcast::Sender<Event>,
    ) -> Self {
        let seq = caja.event_seq;
        Self {
            pool,
            caja,
            session,
            history,
            seq,
            events: events::register_channel(),
            floor,
        }
    }

    fn id(&self) -> RegisterId {
        self.caja.id
    }

    fn snapshot(&self) -> Snapshot {
        Snapshot {
            provider: ProviderInUse::of(&self.caja, &self.history),
            caja: self.caja.clone(),
            session: self.session.clone(),
            history: self.history.clone(),
            seq: self.seq,
        }
    }

    /// Takes the caja as committed by an admin's change, and tells the screens.
    fn adopt(&mut self, caja: &Caja, change: &str) {
        self.caja = caja.clone();
        self.seq = caja.event_seq;
        self.publish(change);
    }

    /// Pushes the committed change to the screens; never waits (a send to a
    /// channel nobody listens to is simply dropped).
    fn publish(&self, change: &str) {
        let event = Event::new(change, &self.snapshot());
        let _ = self.events.send(event.clone());
        let _ = self.floor.send(event);
    }
}

impl Actor for RegisterActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(MAILBOX);
        tracing::debug!(register_id = %self.caja.id, seq = self.seq, "register actor started");
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        tracing::debug!(register_id = %self.caja.id, "register actor stopped");
    }
}

/// What a screen may see of a register.
#[derive(Debug, Clone, Serialize)]
pub struct Snapshot {
    pub caja: Caja,
    pub session: Option<LiveSession>,
    #[serde(flatten)]
    pub history: History,
    pub provider: ProviderInUse,
    pub seq: i64,
}

/// The card provider a cashier should use now, and why. Until provider
/// health is tracked, the backup is in use when the last card sale was
/// charged on the caja's (current) backup, as the cashier reported.
#[derive(Debug, Clone, Serialize)]
pub struct ProviderInUse {
    pub provider: PaymentProvider,
    pub backup: bool,
    pub reason: String,
    /// Since when the backup is in use.
    pub since: Option<chrono::DateTime<Utc>>,
}

impl ProviderInUse {
    fn of(caja: &Caja, history: &History) -> Self {
        let last_card = history
            .recent_sales
            .iter()
            .find(|sale| !sale.voided && sale.provider.is_some());
        match (last_card, caja.payment_provider_backup) {
            (Some(sale), Some(backup)) if sale.provider.as_deref() == Some(backup.as_str()) => {
                Self {
                    provider: backup,
                    backup: true,
                    reason: format!(
                        "La última venta con tarjeta se cobró con el respaldo {backup}, no con {}.",
                        caja.payment_provider_primary
                    ),
                    since: Some(sale.at),
                }
            }
            _ => {
                let primary = caja.payment_provider_primary;
                let policy = &caja.fallback_policy;
                let reason = match caja.payment_provider_backup {
                    Some(backup) if policy.enabled => format!(
                        "{primary} es el proveedor principal; si no responde en {} s, usa {backup}.",
                        policy.max_seconds.get()
                    ),
                    Some(backup) => {
                        format!("{primary} es el proveedor principal; {backup} queda de respaldo.")
                    }
                    None => format!("{primary} es el único proveedor de esta caja."),
                };
                Self {
                    provider: primary,
                    backup: false,
                    reason,
                    since: None,
                }
            }
        }
    }
}

#[derive(Message)]
#[rtype(result = "Snapshot")]
pub struct GetSnapshot;

impl Handler<GetSnapshot> for RegisterActor {
    type Result = MessageResult<GetSnapshot>;

    fn handle(&mut self, _: GetSnapshot, _: &mut Self::Context) -> Self::Result {
        MessageResult(self.snapshot())
    }
}

/// A screen subscribes: the snapshot and the receiver of every later event,
/// taken at the same point, so nothing is missed or seen twice.
#[derive(Message)]
#[rtype(result = "(Snapshot, broadcast::Receiver<Event>)")]
pub struct Subscribe;

impl Handler<Subscribe> for RegisterActor {
    type Result = MessageResult<Subscribe>;

    fn handle(&mut self, _: Subscribe, _: &mut Self::Context) -> Self::Result {
        MessageResult((self.snapshot(), self.events.subscribe()))
    }
}

/// Runs `work` on the blocking pool; the actor takes no other command until
/// it is done and `apply` has updated memory from what was committed and
/// made the reply. A failed write replies an error and changes nothing.
fn commit<T, R, E, W, A>(
    actor: &RegisterActor,
    work: W,
    apply: A,
) -> AtomicResponse<RegisterActor, Result<R, E>>
where
    T: Send + 'static,
    R: 'static,
    E: From<DbError> + Send + 'static,
    W: FnOnce(&mut diesel::PgConnection) -> Result<T, E> + Send + 'static,
    A: FnOnce(&mut RegisterActor, &mut Context<RegisterActor>, T) -> R + 'static,
{
    let pool = actor.pool.clone();
    AtomicResponse::new(Box::pin(
        async move {
            db::run(&pool, work)
                .await
                .unwrap_or_else(|err| Err(E::from(err)))
        }
        .into_actor(actor)
        .map(move |result, actor, ctx| result.map(|value| apply(actor, ctx, value))),
    ))
}

fn refuse<R: 'static>(
    err: RegisterError,
) -> AtomicResponse<RegisterActor, Result<R, RegisterError>> {
    AtomicResponse::new(Box::pin(fut::ready(Err(err))))
}

/// Opens a session with its float (fondo inicial).
#[derive(Message)]
#[rtype(result = "Result<LiveSession, RegisterError>")]
pub struct OpenSession {
    pub by: User,
    pub initial_cash: Pesos,
}

impl Handler<OpenSession> for RegisterActor {
    type Result = AtomicResponse<Self, Result<LiveSession, RegisterError>>;

    fn handle(&mut self, msg: OpenSession, _: &mut Self::Context) -> Self::Result {
        if self.session.is_some() {
            return refuse(RegisterError::SessionAlreadyOpen);
        }
        if let Err(err) = self.may_sell() {
            return refuse(err);
        }
        let (id, seq, actor) = (self.id(), self.seq + 1, msg.by.actor());
        commit(
            self,
            move |conn| store::open_session(conn, &actor, id, msg.by.id.0, msg.initial_cash, seq),
            move |register, _, session: LiveSession| {
                tracing::info!(register_id = %register.caja.id, session_id = session.id, seq, "session opened");
                register.history.session_opened(&session);
                register.session = Some(session.clone());
                register.seq = seq;
                register.publish("session_opened");
                session
            },
        )
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

impl RegisterActor {
    fn may_sell(&self) -> Result<(), RegisterError> {
        if self.caja.is_archived() {
            return Err(RegisterError::Archived);
        }
        match self.caja.operational_status {
            OperationalStatus::Active => Ok(()),
            other => Err(RegisterError::NotActive(other)),
        }
    }

    /// A sale made in a session sells only into that session.
    fn same_session(session: &LiveSession, sale: &ValidSale) -> Result<(), RegisterError> {
        match sale.session_id {
            Some(id) if id != session.id => Err(RegisterError::SessionChanged),
            _ => Ok(()),
        }
    }

    /// A cashier works only their own session; supervisors any.
    fn may_work_session(&self, by: &User) -> Result<&LiveSession, RegisterError> {
        let session = self.session.as_ref().ok_or(RegisterError::NoOpenSession)?;
        if by.role == Role::Cajero && session.opened_by != Some(by.id.0) {
            return Err(RegisterError::NotYourSession);
        }
        Ok(session)
    }
}

impl Handler<RecordSale> for RegisterActor {
    type Result = AtomicResponse<Self, Result<RecordedSale, RegisterError>>;

    fn handle(&mut self, msg: RecordSale, _: &mut Self::Context) -> Self::Result {
        let id = self.id();
        let seq = self.seq + 1;
        // To the microsecond, as PostgreSQL keeps it.
        let at = Utc::now().trunc_subsecs(6);
        // Decided now, against memory; used only if the key is new.
        let plan = self
            .may_sell()
            .and_then(|()| self.may_work_session(&msg.by))
            .and_then(|session| {
                Self::same_session(session, &msg.sale)?;
                session.with_sale(&msg.sale, &self.caja, at)
            });
        let mut recent = RecentSale::new(0, at, &msg.sale, &self.caja);
        let by = msg.by.id.0;
        let sale = msg.sale;
        let caja = self.caja.clone();
        commit(
            self,
            move |conn| {
                // A retry gets the original answer, whatever happened since.
                if let Some((ack, fingerprint)) = store::sale_by_key(conn, sale.key)? {
                    return if ack.register_id == id.0 && fingerprint == sale.fingerprint() {
                        Ok((
                            RecordedSale {
                                ack,
                                replayed: true,
                            },
                            None,
                        ))
                    } else {
                        Err(RegisterError::KeyReused)
                    };
                }
                let after = plan?;
                let ack = store::insert_sale(conn, &caja, &after, &sale, by, seq)?;
                Ok((
                    RecordedSale {
                        ack,
                        replayed: false,
                    },
                    Some(after),
                ))
            },
            move |register, _, (recorded, after): (RecordedSale, Option<LiveSession>)| {
                if let Some(after) = after {
                    recent.id = recorded.ack.sale_id;
                    register.history.sale_recorded(recent);
                    register.session = Some(after);
                    register.seq = recorded.ack.seq;
                    register.publish("sale_recorded");
                    tracing::info!(register_id = %register.caja.id, sale_id = recorded.ack.sale_id, seq = recorded.ack.seq, "sale recorded");
                }
                recorded
            },
        )
    }
}

/// Closes the open session with the cash counted.
#[derive(Message)]
#[rtype(result = "Result<ClosedSession, RegisterError>")]
pub struct CloseSession {
    pub by: User,
    pub count: Pesos,
    pub detail: Option<serde_json::Value>,
}

impl Handler<CloseSession> for RegisterActor {
    type Result = AtomicResponse<Self, Result<ClosedSession, RegisterError>>;

    fn handle(&mut self, msg: CloseSession, _: &mut Self::Context) -> Self::Result {
        let session = match self.may_work_session(&msg.by) {
            Ok(session) => session.clone(),
            Err(err) => return refuse(err),
        };
        // Beyond the caja's limit only a supervisor closes, and is recorded
        // as having approved the difference.
        let difference = msg
            .count
            .checked_sub(session.expected_cash())
            .unwrap_or_default();
        let limit = self
            .caja
            .max_cash_difference
            .and_then(|l| Pesos::non_negative(l).ok());
        let approved_by = match limit {
            Some(limit) if difference.get().abs() > limit.get() => {
                if !msg.by.role.includes(Role::Supervisor) {
                    return refuse(RegisterError::DifferenceNeedsApproval { difference, limit });
                }
                Some(msg.by.id.0)
            }
            _ => None,
        };
        let (id, seq, actor) = (self.id(), self.seq + 1, msg.by.actor());
        let closing = session.clone();
        commit(
            self,
            move |conn| {
                let by = msg.by.id.0;
                store::close_session(
                    conn,
                    &actor,
                    id,
                    &session,
                    msg.count,
                    msg.detail,
                    by,
                    approved_by,
                    seq,
                )
            },
            move |register, _, closed: ClosedSession| {
                tracing::info!(register_id = %register.caja.id, session_id = closed.id, difference = closed.cash_difference.get(), "session closed");
                register.history.session_closed(&closing, &closed);
                register.session = None;
                register.seq = seq;
                register.publish("session_closed");
                closed
            },
        )
    }
}

/// A supervisor voids a sale of the open session.
#[derive(Message)]
#[rtype(result = "Result<VoidAck, RegisterError>")]
pub struct VoidSale {
    pub by: User,
    pub sale_id: i64,
    pub reason: String,
}

impl Handler<VoidSale> for RegisterActor {
    type Result = AtomicResponse<Self, Result<VoidAck, RegisterError>>;

    fn handle(&mut self, msg: VoidSale, _: &mut Self::Context) -> Self::Result {
        if !msg.by.role.includes(Role::Supervisor) {
            return refuse(RegisterError::SupervisorOnly);
        }
        let Some(session) = self.session.clone() else {
            return refuse(RegisterError::NoOpenSession);
        };
        let (id, seq, actor) = (self.id(), self.seq + 1, msg.by.actor());
        commit(
            self,
            move |conn| {
                store::void_sale(
                    conn,
                    &actor,
                    id,
                    &session,
                    msg.sale_id,
                    &msg.reason,
                    msg.by.id.0,
                    seq,
                )
            },
            move |register, _, (ack, after): (VoidAck, LiveSession)| {
                tracing::info!(register_id = %register.caja.id, sale_id = ack.sale_id, seq, "sale voided");
                register.history.sale_voided(ack.sale_id);
                register.session = Some(after);
                register.seq = seq;
                register.publish("sale_voided");
                ack
            },
        )
    }
}

/// Cash added to or dropped from the drawer.
#[derive(Message)]
#[rtype(result = "Result<MovementAck, RegisterError>")]
pub struct CashMovement {
    pub by: User,
    pub kind: MovementKind,
    pub amount: Pesos,
    pub reason: String,
}

impl Handler<CashMovement> for RegisterActor {
    type Result = AtomicResponse<Self, Result<MovementAck, RegisterError>>;

    fn handle(&mut self, msg: CashMovement, _: &mut Self::Context) -> Self::Result {
        let after = match self
            .may_work_session(&msg.by)
            .and_then(|session| session.with_movement(msg.kind, msg.amount))
        {
            Ok(after) => after,
            Err(err) => return refuse(err),
        };
        let (id, seq) = (self.id(), self.seq + 1);
        let stored = after.clone();
        commit(
            self,
            move |conn| {
                store::record_movement(
                    conn,
                    id,
                    &stored,
                    msg.kind,
                    msg.amount,
                    &msg.reason,
                    msg.by.id.0,
                    seq,
                )
            },
            move |register, _, ack: MovementAck| {
                tracing::info!(register_id = %register.caja.id, movement_id = ack.movement_id, seq, "cash movement");
                register.session = Some(after);
                register.seq = seq;
                register.publish("cash_movement");
                ack
            },
        )
    }
}

/// An admin's edit of the caja's configuration.
#[derive(Message)]
#[rtype(result = "Result<Caja, SaveError>")]
pub struct UpdateConfig {
    pub actor: AuditActor,
    pub expected_version: i32,
    pub config: CajaConfig,
}

impl Handler<UpdateConfig> for RegisterActor {
    type Result = AtomicResponse<Self, Result<Caja, SaveError>>;

    fn handle(&mut self, msg: UpdateConfig, _: &mut Self::Context) -> Self::Result {
        let id = self.id();
        commit(
            self,
            move |conn| Caja::update(conn, &msg.actor, id, msg.expected_version, &msg.config),
            |register, _, caja: Caja| {
                register.adopt(&caja, "config_changed");
                caja
            },
        )
    }
}

/// Archives the caja; the actor stops once it is archived.
#[derive(Message)]
#[rtype(result = "Result<Caja, SaveError>")]
pub struct Archive {
    pub actor: AuditActor,
    pub expected_version: i32,
}

impl Handler<Archive> for RegisterActor {
    type Result = AtomicResponse<Self, Result<Caja, SaveError>>;

    fn handle(&mut self, msg: Archive, _: &mut Self::Context) -> Self::Result {
        if self.session.is_some() {
            return AtomicResponse::new(Box::pin(fut::ready(Err(SaveError::OpenSession))));
        }
        let id = self.id();
        commit(
            self,
            move |conn| Caja::archive(conn, &msg.actor, id, msg.expected_version),
            |register, ctx, caja: Caja| {
                register.adopt(&caja, "archived");
                ctx.stop();
                caja
            },
        )
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

impl Handler<FlagSale> for RegisterActor {
    type Result = AtomicResponse<Self, Result<FlagAck, RegisterError>>;

    fn handle(&mut self, msg: FlagSale, _: &mut Self::Context) -> Self::Result {
        let (id, seq, actor) = (self.id(), self.seq + 1, msg.by.actor());
        let must_own = !msg.by.role.includes(Role::Supervisor);
        commit(
            self,
            move |conn| flagged::insert(conn, &actor, id, &msg.flag, msg.by.id.0, must_own, seq),
            move |register, _, ack: FlagAck| {
                if !ack.replayed {
                    tracing::warn!(register_id = %register.caja.id, flagged_id = ack.flagged_id, "sale flagged for a supervisor");
                    register.history.flagged_pending += 1;
                    register.seq = seq;
                    register.publish("sale_flagged");
                }
                ack
            },
        )
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

impl Handler<ResolveFlagged> for RegisterActor {
    type Result = AtomicResponse<Self, Result<(), RegisterError>>;

    fn handle(&mut self, msg: ResolveFlagged, _: &mut Self::Context) -> Self::Result {
        if !msg.by.role.includes(Role::Supervisor) {
            return refuse(RegisterError::SupervisorOnly);
        }
        let (id, seq, actor) = (self.id(), self.seq + 1, msg.by.actor());
        commit(
            self,
            move |conn| {
                flagged::resolve(
                    conn,
                    &actor,
                    id,
                    msg.flagged_id,
                    &msg.resolution,
                    msg.by.id.0,
                    seq,
                )
            },
            move |register, _, ()| {
                tracing::info!(register_id = %register.caja.id, flagged_id = msg.flagged_id, "flagged sale resolved");
                register.history.flagged_pending = (register.history.flagged_pending - 1).max(0);
                register.seq = seq;
                register.publish("flagged_resolved");
            },
        )
    }
}
