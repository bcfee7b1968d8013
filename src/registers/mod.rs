//! The live registers: one [`CajaActor`] per working caja owns its open
//! session, its running totals and its sequence of changes. Sessions open
//! and close, and sales are recorded, only through it. This folder holds
//! what happens on a sale, end to end: the request (`sale`), the live state
//! (`live`, `snapshot`), the rows it writes (`store`), the one write path
//! with its guard and event log (`commit`, `event_log`), the actor, the
//! registry that supervises the actors (`registry`), and the JSON API and
//! pages.

pub mod actor;
mod api;
pub mod audience;
pub mod caja_admin;
pub mod card_api;
pub mod commands;
pub mod commit;
pub mod event_log;
pub mod events;
pub mod flagged;
pub mod floor_feed;
pub mod health;
pub mod history;
pub mod keys;
pub mod ledger;
pub mod live;
mod pages;
pub mod presence;
mod receipt;
mod record;
mod refused_close;
pub mod registry;
mod review;
pub mod sale;
pub mod snapshot;
pub mod store;

pub use actor::CajaActor;
pub use audience::Audience;
pub use pages::{SessionSheet, session_sheet};
pub use registry::CajaActors;
pub use snapshot::Snapshot;

use crate::cajas::domain::{OperationalStatus, PaymentProvider};
use crate::cajas::model::SaveError;
use crate::db::{DbError, DbLimits};

pub fn routes(cfg: &mut actix_web::web::ServiceConfig) {
    api::routes(cfg);
    card_api::routes(cfg);
    pages::routes(cfg);
    receipt::routes(cfg);
    review::routes(cfg);
}

/// Why a register refused a command. Each has a stable code for clients
/// and a Spanish message for people.
#[derive(Debug, thiserror::Error)]
pub enum CajaError {
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
    /// The venue allows one open session per person, and theirs is open on
    /// this caja (named).
    #[error("the person already has a session open on {0}")]
    OpenElsewhere(String),
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
    #[error("the sale is above the venue's largest ({0})")]
    SaleOverLimit(crate::money::Pesos),
    #[error("no such caja")]
    UnknownCaja,
    #[error("the register did not answer in time")]
    Busy,
    #[error("the database was not where the register's memory said")]
    StateMoved,
    #[error("no such card attempt")]
    UnknownAttempt,
    #[error("card attempt {0} is resolved already")]
    AttemptResolved(i64),
    #[error("card attempt {0} is still waiting for its terminal")]
    AttemptInProgress(i64),
    #[error("card attempt {id} on {provider} has no known result")]
    UnresolvedAttempt { id: i64, provider: PaymentProvider },
    #[error("the sale was approved already by card attempt {0}")]
    SaleAlreadyPaid(i64),
    #[error("the caja's fallback policy is off")]
    FallbackDisabled,
    #[error("no card provider can be used")]
    NoCardProvider,
    #[error("{field}: {message}")]
    InvalidAttempt { field: String, message: String },
    #[error("card attempts without a known result: {0:?}")]
    AttemptsUnresolved(Vec<String>),
    #[error("approved card charges with no sale, refund or write-off: {0:?}")]
    ChargesUnsettled(Vec<String>),
    #[error("card attempt {0} is not an approved charge left to settle")]
    ChargeNotOpen(i64),
    #[error(transparent)]
    Config(#[from] SaveError),
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

impl From<diesel::result::Error> for CajaError {
    fn from(err: diesel::result::Error) -> Self {
        CajaError::Db(DbError::Query(err))
    }
}

pub use crate::web::json::ErrorBody;

impl From<CajaError> for crate::web::PageError {
    fn from(err: CajaError) -> Self {
        match err {
            CajaError::Db(err) => crate::web::PageError::Db(err),
            other => crate::web::PageError::Caja {
                status: other.status(),
                message: other.message(),
            },
        }
    }
}

impl CajaError {
    /// A sale refused so can never be recorded as it was made (its session
    /// or caja moved on): taken offline, it is kept for a supervisor.
    pub fn sale_must_be_flagged(&self) -> bool {
        matches!(
            self,
            CajaError::NoOpenSession
                | CajaError::SessionChanged
                | CajaError::NoJornada
                | CajaError::NotActive(_)
                | CajaError::Archived
                | CajaError::NotYourSession
                | CajaError::ProviderNotConfigured(_)
                | CajaError::SaleAlreadyPaid(_)
                | CajaError::Overflow
                | CajaError::SaleOverLimit(_)
        )
    }

    /// The code of a card request's field at fault, whichever finds it
    /// (the body's reader, the request's parser or the caja's actor).
    pub const INVALID_CARD_PAYMENT: &'static str = "invalid_card_payment";

    pub fn code(&self) -> &'static str {
        match self {
            CajaError::NoOpenSession => "no_open_session",
            CajaError::SessionChanged => "session_changed",
            CajaError::AlreadyRecorded => "already_recorded",
            CajaError::UnknownFlaggedSale => "unknown_flagged_sale",
            CajaError::SessionAlreadyOpen => "session_already_open",
            CajaError::OpenElsewhere(_) => "session_open_elsewhere",
            CajaError::NoJornada => "no_jornada",
            CajaError::NotActive(_) => "caja_not_active",
            CajaError::Archived => "caja_archived",
            CajaError::NotYourSession => "not_your_session",
            CajaError::ProviderNotConfigured(_) => "provider_not_configured",
            CajaError::KeyReused => "idempotency_key_reused",
            CajaError::Overflow => "overflow",
            CajaError::SaleOverLimit(_) => "sale_over_limit",
            CajaError::UnknownCaja => "unknown_caja",
            CajaError::Busy => "register_busy",
            CajaError::StateMoved => "register_reloaded",
            CajaError::UnknownAttempt => "unknown_attempt",
            CajaError::AttemptResolved(_) => "attempt_already_resolved",
            CajaError::AttemptInProgress(_) => "card_attempt_in_progress",
            CajaError::UnresolvedAttempt { .. } => "card_result_unknown",
            CajaError::SaleAlreadyPaid(_) => "sale_already_paid",
            CajaError::FallbackDisabled => "fallback_disabled",
            CajaError::NoCardProvider => "no_card_provider",
            CajaError::InvalidAttempt { .. } => Self::INVALID_CARD_PAYMENT,
            CajaError::AttemptsUnresolved(_) => "card_attempts_unresolved",
            CajaError::ChargesUnsettled(_) => "card_charges_unsettled",
            CajaError::ChargeNotOpen(_) => "charge_not_open",
            CajaError::Config(_) => "config_refused",
            CajaError::UnknownSale => "unknown_sale",
            CajaError::SaleNotInSession => "sale_not_in_session",
            CajaError::AlreadyVoided => "already_voided",
            CajaError::NotEnoughCash(_) => "not_enough_cash",
            CajaError::DifferenceNeedsApproval { .. } => "difference_needs_approval",
            CajaError::SupervisorOnly => "supervisor_only",
            CajaError::Db(DbError::TimedOut(_)) => "database_timeout",
            err if err.is_unreadable() => "caja_unreadable",
            CajaError::Db(err) if err.is_unavailable() => "database_unavailable",
            CajaError::Db(_) => "internal",
        }
    }

    pub fn message(&self) -> String {
        match self {
            CajaError::NoOpenSession => "La caja no tiene una sesión abierta.".into(),
            CajaError::AlreadyRecorded => {
                "Esa venta sí quedó registrada: no hay nada que revisar.".into()
            }
            CajaError::UnknownFlaggedSale => {
                "Esa venta marcada no existe o ya fue resuelta.".into()
            }
            CajaError::SessionChanged => {
                "La venta es de una sesión que ya se cerró; queda para revisión de un supervisor."
                    .into()
            }
            CajaError::SessionAlreadyOpen => "La caja ya tiene una sesión abierta.".into(),
            CajaError::OpenElsewhere(caja) => format!(
                "Ya tienes una sesión abierta en {caja}: ciérrala antes de abrir otra (en este local, una sesión abierta por persona)."
            ),
            CajaError::NoJornada => {
                "No hay una jornada abierta: pide a un supervisor que la abra.".into()
            }
            CajaError::NotActive(status) => format!(
                "La caja está {}: no puede vender.",
                status.label().to_lowercase()
            ),
            CajaError::Archived => "La caja está archivada.".into(),
            CajaError::NotYourSession => "La sesión de esta caja es de otra persona.".into(),
            CajaError::ProviderNotConfigured(p) => format!("{p} no es proveedor de esta caja."),
            CajaError::KeyReused => {
                "Esa clave de venta ya se usó para otra venta distinta.".into()
            }
            CajaError::Overflow => "El monto es demasiado grande.".into(),
            CajaError::SaleOverLimit(max) => format!(
                "El máximo por venta en este local es {max}: revisa el monto (¿un 000 de más?)."
            ),
            CajaError::UnknownCaja => "No existe esa caja (o está archivada).".into(),
            CajaError::Busy => {
                "La caja no respondió a tiempo; si era una venta, reintenta con la misma clave.".into()
            }
            CajaError::StateMoved => {
                "La caja se recargó desde la base de datos; intenta de nuevo.".into()
            }
            CajaError::UnknownAttempt => "No existe ese cobro con tarjeta en esta caja.".into(),
            CajaError::AttemptResolved(id) => format!("El cobro #{id} ya tiene resultado."),
            CajaError::AttemptInProgress(id) => {
                format!("El cobro #{id} todavía espera al terminal.")
            }
            CajaError::UnresolvedAttempt { id, provider } => format!(
                "El cobro #{id} en {provider} no tiene resultado: mira el terminal y márcalo (cobrado o no) antes de cobrar de nuevo; un supervisor puede autorizarlo."
            ),
            CajaError::SaleAlreadyPaid(id) => {
                format!("Esa venta ya fue aprobada con tarjeta (cobro #{id}): no se cobra dos veces.")
            }
            CajaError::FallbackDisabled => {
                "Esta caja no tiene activado el respaldo: cobra en efectivo u otro medio.".into()
            }
            CajaError::NoCardProvider => {
                "No hay proveedor de tarjeta disponible: cobra en efectivo u otro medio.".into()
            }
            CajaError::InvalidAttempt { message, .. } => message.clone(),
            CajaError::AttemptsUnresolved(list) => format!(
                "Hay cobros con tarjeta sin resultado; resuélvelos antes de cerrar: {}.",
                list.join("; ")
            ),
            CajaError::ChargesUnsettled(list) => format!(
                "Hay cobros con tarjeta aprobados sin venta: un supervisor debe devolverlos o darlos de baja antes de cerrar: {}.",
                list.join("; ")
            ),
            CajaError::ChargeNotOpen(id) => format!(
                "El cobro #{id} no es un cobro aprobado pendiente: no hay nada que devolver ni dar de baja."
            ),
            CajaError::Config(err) => err.to_string(),
            CajaError::UnknownSale => "No existe esa venta.".into(),
            CajaError::SaleNotInSession => {
                "Solo se anulan ventas de la sesión abierta de esta caja.".into()
            }
            CajaError::AlreadyVoided => "Esa venta ya está anulada.".into(),
            // Amounts that would reveal the expected cash are told only to
            // those who may see it (`message_for`).
            CajaError::NotEnoughCash(_) => {
                "En la caja no hay tanto efectivo: no se puede retirar ese monto.".into()
            }
            CajaError::DifferenceNeedsApproval { .. } => {
                "El conteo no cuadra dentro del margen de la caja: recuenta el efectivo o pide a un supervisor que cierre.".into()
            }
            CajaError::SupervisorOnly => "Solo un supervisor puede hacer esto.".into(),
            err if err.is_unreadable() => {
                "Los datos guardados de esta caja no se pueden leer: un administrador debe revisarlos. Las demás cajas siguen funcionando.".into()
            }
            CajaError::Db(DbError::TimedOut(_)) => {
                "La base de datos no respondió a tiempo (¿una fila bloqueada?); la operación no se guardó. Intenta de nuevo.".into()
            }
            CajaError::Db(err) if err.is_unavailable() => {
                "La base de datos no responde; la operación no se guardó. Intenta de nuevo.".into()
            }
            CajaError::Db(_) => "Error interno; la operación no se guardó.".into(),
        }
    }

    pub fn status(&self) -> actix_web::http::StatusCode {
        use actix_web::http::StatusCode;
        match self {
            CajaError::NotYourSession | CajaError::SupervisorOnly => StatusCode::FORBIDDEN,
            CajaError::UnknownSale | CajaError::UnknownFlaggedSale => StatusCode::NOT_FOUND,
            CajaError::UnknownCaja => StatusCode::NOT_FOUND,
            CajaError::KeyReused
            | CajaError::ProviderNotConfigured(_)
            | CajaError::InvalidAttempt { .. }
            | CajaError::Overflow
            | CajaError::SaleOverLimit(_) => StatusCode::UNPROCESSABLE_ENTITY,
            CajaError::UnknownAttempt => StatusCode::NOT_FOUND,
            CajaError::Busy | CajaError::StateMoved => StatusCode::SERVICE_UNAVAILABLE,
            CajaError::Config(SaveError::NotFound) => StatusCode::NOT_FOUND,
            CajaError::Config(SaveError::Db(_)) => StatusCode::INTERNAL_SERVER_ERROR,
            CajaError::Config(SaveError::Unavailable(err)) if err.is_unavailable() => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            CajaError::Db(err) if err.is_unavailable() => StatusCode::SERVICE_UNAVAILABLE,
            err if err.is_unreadable() => StatusCode::SERVICE_UNAVAILABLE,
            CajaError::Db(_) => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::CONFLICT,
        }
    }

    /// The message for `audience`: with the amounts when it may see the
    /// expected cash.
    pub fn message_for(&self, audience: Audience) -> String {
        match self {
            CajaError::NotEnoughCash(expected) if !audience.is_blind() => {
                format!("En la caja debería haber {expected}: no se puede retirar más.")
            }
            CajaError::DifferenceNeedsApproval { difference, limit } if !audience.is_blind() => {
                format!(
                    "La diferencia ({difference}) supera el límite de la caja ({limit}): recuenta el efectivo o pide a un supervisor que cierre."
                )
            }
            _ => self.message(),
        }
    }

    pub fn body(&self) -> ErrorBody {
        self.body_for(Audience::BlindCount)
    }

    pub fn body_for(&self, audience: Audience) -> ErrorBody {
        ErrorBody::new(self.code(), self.message_for(audience), self.field())
    }

    /// The field of the request at fault, when one is.
    pub fn field(&self) -> Option<String> {
        match self {
            CajaError::InvalidAttempt { field, .. } => Some(field.clone()),
            CajaError::SaleOverLimit(_) => Some("total".into()),
            _ => None,
        }
    }

    /// A stored row of the caja that the hub cannot read (a malformed
    /// value): no retry will help until someone repairs it.
    pub fn is_unreadable(&self) -> bool {
        matches!(
            self,
            CajaError::Db(DbError::Query(diesel::result::Error::DeserializationError(
                _
            )))
        )
    }

    /// What is wrong, for the log and the operator: a malformed row says
    /// which (table, row, field).
    pub fn detail(&self) -> String {
        match self {
            CajaError::Db(DbError::Query(diesel::result::Error::DeserializationError(why))) => {
                why.to_string()
            }
            other => other.to_string(),
        }
    }

    /// True when the command may have been committed although it failed:
    /// memory must reload before the next command.
    pub fn outcome_unknown(&self) -> bool {
        match self {
            CajaError::Db(err) | CajaError::Config(SaveError::Unavailable(err)) => {
                err.outcome_unknown()
            }
            CajaError::Config(SaveError::Db(_)) => true,
            _ => false,
        }
    }

    /// Why the caja counts as not answering, when the database made the
    /// command fail (a refusal of the command itself is no such thing).
    pub fn database_failure(&self) -> Option<String> {
        let err = match self {
            CajaError::Db(err) | CajaError::Config(SaveError::Unavailable(err)) => err,
            _ => return None,
        };
        Some(
            match err {
                DbError::TimedOut(_) => "la base de datos no respondió a tiempo",
                DbError::Unavailable(_) | DbError::Cancelled => "sin conexión con la base de datos",
                DbError::Query(_) if err.is_unavailable() => {
                    "se perdió la conexión con la base de datos"
                }
                DbError::Query(_) => "la última escritura falló en la base de datos",
            }
            .to_owned(),
        )
    }

    /// A query error that lasted as long as a database limit was that limit.
    pub fn timed_out_after(self, elapsed: std::time::Duration, limits: DbLimits) -> Self {
        match self {
            CajaError::Db(err) => CajaError::Db(err.timed_out_after(elapsed, limits)),
            other => other,
        }
    }
}
