//! The live registers: one [`RegisterActor`] per working caja owns its open
//! session, its running totals and its sequence of changes. Sessions open
//! and close, and sales are recorded, only through it. This folder holds
//! what happens on a sale, end to end: the request (`sale`), the live state
//! (`live`), the transaction (`store`), the actor, the JSON API and pages.

pub mod actor;
mod api;
pub mod events;
pub mod flagged;
pub mod history;
pub mod live;
mod pages;
mod review;
pub mod sale;
pub mod store;

use actix::{Actor, Addr, Arbiter};
use dashmap::DashMap;
use serde::Serialize;

pub use actor::{RegisterActor, Snapshot};

use crate::cajas::RegisterId;
use crate::cajas::domain::{OperationalStatus, PaymentProvider};
use crate::db::{self, DbError, PgPool};

pub fn routes(cfg: &mut actix_web::web::ServiceConfig) {
    api::routes(cfg);
    pages::routes(cfg);
    review::routes(cfg);
}

/// Why a register refused a command. Each has a stable code for clients
/// and a Spanish message for people.
#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    #[error("the caja has no open session")]
    NoOpenSession,
    #[error("the sale's session is no longer the open one")]
    SessionChanged,
    #[error("the sale was recorded after all")]
    AlreadyRecorded,
    #[error("no such flagged sale waiting")]
    UnknownFlaggedSale,
    #[error("the caja already has an open session")]
    SessionAlreadyOpen,
    #[error("no jornada is open")]
    NoJornada,
    #[error("the caja is {0}")]
    NotActive(OperationalStatus),
    #[error("the caja is archived")]
    Archived,
    #[error("the session belongs to another cashier")]
    NotYourSession,
    #[error("{0} is not a provider of this caja")]
    ProviderNotConfigured(PaymentProvider),
    #[error("the idempotency key was used for another sale")]
    KeyReused,
    #[error("a total would overflow")]
    Overflow,
    #[error("no such caja")]
    UnknownCaja,
    #[error("the register is busy")]
    Busy,
    #[error("no such sale")]
    UnknownSale,
    #[error("the sale is not of the open session")]
    SaleNotInSession,
    #[error("the sale is already voided")]
    AlreadyVoided,
    #[error("the drawer holds less than that")]
    NotEnoughCash(crate::money::Pesos),
    #[error("the difference needs a supervisor")]
    DifferenceNeedsApproval {
        difference: crate::money::Pesos,
        limit: crate::money::Pesos,
    },
    #[error("only a supervisor may do this")]
    SupervisorOnly,
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<diesel::result::Error> for RegisterError {
    fn from(err: diesel::result::Error) -> Self {
        RegisterError::Db(DbError::Query(err))
    }
}

#[derive(Debug, Serialize)]
pub struct ErrorBody {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub code: &'static str,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl RegisterError {
    pub fn code(&self) -> &'static str {
        match self {
            RegisterError::NoOpenSession => "no_open_session",
            RegisterError::SessionChanged => "session_changed",
            RegisterError::AlreadyRecorded => "already_recorded",
            RegisterError::UnknownFlaggedSale => "unknown_flagged_sale",
            RegisterError::SessionAlreadyOpen => "session_already_open",
            RegisterError::NoJornada => "no_jornada",
            RegisterError::NotActive(_) => "caja_not_active",
            RegisterError::Archived => "caja_archived",
            RegisterError::NotYourSession => "not_your_session",
            RegisterError::ProviderNotConfigured(_) => "provider_not_configured",
            RegisterError::KeyReused => "idempotency_key_reused",
            RegisterError::Overflow => "overflow",
            RegisterError::UnknownCaja => "unknown_caja",
            RegisterError::Busy => "busy",
            RegisterError::UnknownSale => "unknown_sale",
            RegisterError::SaleNotInSession => "sale_not_in_session",
            RegisterError::AlreadyVoided => "already_voided",
            RegisterError::NotEnoughCash(_) => "not_enough_cash",
            RegisterError::DifferenceNeedsApproval { .. } => "difference_needs_approval",
            RegisterError::SupervisorOnly => "supervisor_only",
            RegisterError::Db(err) if err.is_unavailable() => "database_unavailable",
            RegisterError::Db(_) => "internal",
        }
    }

    pub fn message(&self) -> String {
        match self {
            RegisterError::NoOpenSession => "La caja no tiene una sesión abierta.".into(),
            RegisterError::AlreadyRecorded => {
                "Esa venta sí quedó registrada: no hay nada que revisar.".into()
            }
            RegisterError::UnknownFlaggedSale => {
                "Esa venta marcada no existe o ya fue resuelta.".into()
            }
            RegisterError::SessionChanged => {
                "La venta es de una sesión que ya se cerró; queda para revisión de un supervisor."
                    .into()
            }
            RegisterError::SessionAlreadyOpen => "La caja ya tiene una sesión abierta.".into(),
            RegisterError::NoJornada => {
                "No hay una jornada abierta: pide a un supervisor que la abra.".into()
            }
            RegisterError::NotActive(status) => format!(
                "La caja está {}: no puede vender.",
                status.label().to_lowercase()
            ),
            RegisterError::Archived => "La caja está archivada.".into(),
            RegisterError::NotYourSession => "La sesión de esta caja es de otra persona.".into(),
            RegisterError::ProviderNotConfigured(p) => format!("{p} no es proveedor de esta caja."),
            RegisterError::KeyReused => {
                "Esa clave de venta ya se usó para otra venta distinta.".into()
            }
            RegisterError::Overflow => "El monto es demasiado grande.".into(),
            RegisterError::UnknownCaja => "No existe esa caja (o está archivada).".into(),
            RegisterError::Busy => "La caja está ocupada; intenta de nuevo.".into(),
            RegisterError::UnknownSale => "No existe esa venta.".into(),
            RegisterError::SaleNotInSession => {
                "Solo se anulan ventas de la sesión abierta de esta caja.".into()
            }
            RegisterError::AlreadyVoided => "Esa venta ya está anulada.".into(),
            RegisterError::NotEnoughCash(expected) => {
                format!("En la caja debería haber {expected}: no se puede retirar más.")
            }
            RegisterError::DifferenceNeedsApproval { difference, limit } => format!(
                "La diferencia ({difference}) supera el límite de la caja ({limit}): recuenta el efectivo o pide a un supervisor que cierre."
            ),
            RegisterError::SupervisorOnly => "Solo un supervisor puede hacer esto.".into(),
            RegisterError::Db(err) if err.is_unavailable() => {
                "La base de datos no responde; la operación no se guardó. Intenta de nuevo.".into()
            }
            RegisterError::Db(_) => "Error interno; la operación no se guardó.".into(),
        }
    }

    pub fn status(&self) -> actix_web::http::StatusCode {
        use actix_web::http::StatusCode;
        match self {
            RegisterError::NotYourSession | RegisterError::SupervisorOnly => StatusCode::FORBIDDEN,
            RegisterError::UnknownSale | RegisterError::UnknownFlaggedSale => StatusCode::NOT_FOUND,
            RegisterError::UnknownCaja => StatusCode::NOT_FOUND,
            RegisterError::KeyReused
            | RegisterError::ProviderNotConfigured(_)
            | RegisterError::Overflow => StatusCode::UNPROCESSABLE_ENTITY,
            RegisterError::Busy => StatusCode::SERVICE_UNAVAILABLE,
            RegisterError::Db(err) if err.is_unavailable() => StatusCode::SERVICE_UNAVAILABLE,
            RegisterError::Db(_) => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::CONFLICT,
        }
    }

    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            kind: "error",
            code: self.code(),
            message: self.message(),
            field: None,
        }
    }
}

/// Every working caja's actor, found by id. The actors run on an arbiter
/// of their own; their database work runs on the blocking pool.
pub struct Registers {
    pool: PgPool,
    arbiter: Arbiter,
    actors: DashMap<RegisterId, Addr<RegisterActor>>,
    floor: tokio::sync::broadcast::Sender<events::Event>,
}

impl Registers {
    /// Starts an actor for every caja not archived, each loaded from the database.
    pub async fn start_all(pool: PgPool) -> Result<Self, DbError> {
        let registers = Registers {
            pool: pool.clone(),
            arbiter: Arbiter::new(),
            actors: DashMap::new(),
            floor: events::floor_channel(),
        };
        for id in db::run(&pool, store::working_cajas).await?? {
            registers.start(id).await?;
        }
        tracing::info!(
            registers = registers.actors.len(),
            "register actors started"
        );
        Ok(registers)
    }

    /// Starts (or restarts) the actor of caja `id` from what is committed.
    pub async fn start(&self, id: RegisterId) -> Result<Addr<RegisterActor>, DbError> {
        let (caja, session, history) = db::run(&self.pool, move |conn| {
            let (caja, session) = store::load(conn, id)?;
            let history = history::History::load(conn, id, session.as_ref())?;
            Ok::<_, diesel::result::Error>((caja, session, history))
        })
        .await??;
        let (pool, floor) = (self.pool.clone(), self.floor.clone());
        let addr = RegisterActor::start_in_arbiter(&self.arbiter.handle(), move |_| {
            RegisterActor::new(pool, caja, session, history, floor)
        });
        self.actors.insert(id, addr.clone());
        Ok(addr)
    }

    pub fn get(&self, id: RegisterId) -> Option<Addr<RegisterActor>> {
        self.actors.get(&id).map(|entry| entry.clone())
    }

    /// Forgets an archived caja's actor (it stops itself).
    pub fn remove(&self, id: RegisterId) {
        self.actors.remove(&id);
    }

    pub fn ids(&self) -> Vec<RegisterId> {
        let mut ids: Vec<_> = self.actors.iter().map(|entry| *entry.key()).collect();
        ids.sort();
        ids
    }

    /// Snapshots of every working caja, in id order.
    pub async fn snapshots(&self) -> Vec<Snapshot> {
        let mut out = Vec::new();
        for id in self.ids() {
            if let Some(addr) = self.get(id)
                && let Ok(snapshot) = addr.send(actor::GetSnapshot).await
            {
                out.push(snapshot);
            }
        }
        out
    }

    /// Every register's events, for a floor dashboard. Subscribe before
    /// taking the snapshots, so no event falls between the two.
    pub fn floor(&self) -> tokio::sync::broadcast::Receiver<events::Event> {
        self.floor.subscribe()
    }

    pub fn stop(&self) {
        self.arbiter.stop();
    }
}

/// Sends `msg` to caja `id`'s actor.
pub async fn ask<M>(
    registers: &Registers,
    id: RegisterId,
    msg: M,
) -> Result<M::Result, RegisterError>
where
    M: actix::Message + Send + 'static,
    M::Result: Send,
    RegisterActor: actix::Handler<M>,
{
    let addr = registers.get(id).ok_or(RegisterError::UnknownCaja)?;
    addr.send(msg).await.map_err(|err| {
        tracing::error!(register_id = %id, error = %err, "register actor unreachable");
        RegisterError::Busy
    })
}
