//! The JSON API of the payment stack (the POS socket sends the same
//! commands as `card_start` and `card_resolve`):
//!
//! - `POST /api/cajas/{id}/card-attempts` starts charging a card;
//! - `POST /api/cajas/{id}/card-attempts/{attempt}/resolve` says how it
//!   ended (the cashier, or a supervisor forcing it);
//! - `POST /api/cajas/{id}/card-attempts/{attempt}/refund` and
//!   `…/write-off` settle an approved charge with no sale (supervisors);
//! - `GET /api/proveedores` the venue's providers and their outages;
//!   `POST /api/proveedores/{provider}/caido` and `…/operativo` let a
//!   supervisor declare one out or back (audited).

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use super::commands::card::{Resolution, ResolveCardAttempt, StartCardAttempt};
use super::commands::settle::{RefundCharge, Settled, WriteOffCharge};
use crate::auth::{CurrentUser, SupervisorUser};
use crate::cajas::CajaId;
use crate::cajas::domain::PaymentProvider;
use crate::money::Pesos;
use crate::payments::attempt::VoucherFields;
use crate::payments::method::PaymentMethod;
use crate::payments::venue::{OutageError, Venue};
use crate::registers::CajaActors;
use crate::registers::{Audience, CajaError, ErrorBody};
use crate::web::json::{JsonBody, Request};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/cajas/{id}/card-attempts", web::post().to(start))
        .route(
            "/api/cajas/{id}/card-attempts/{attempt}/resolve",
            web::post().to(resolve),
        )
        .route(
            "/api/cajas/{id}/card-attempts/{attempt}/refund",
            web::post().to(refund),
        )
        .route(
            "/api/cajas/{id}/card-attempts/{attempt}/write-off",
            web::post().to(write_off),
        )
        .route("/api/proveedores", web::get().to(providers))
        .route(
            "/api/proveedores/{provider}/caido",
            web::post().to(declare_down),
        )
        .route(
            "/api/proveedores/{provider}/operativo",
            web::post().to(declare_up),
        );
}

/// A card request's field at fault, with the one code every card path gives.
fn invalid(field: &str, message: impl Into<String>) -> HttpResponse {
    refused(CajaError::InvalidAttempt {
        field: field.to_owned(),
        message: message.into(),
    })
}

fn refused(err: CajaError) -> HttpResponse {
    if err.status().is_server_error() {
        tracing::warn!(error = ?err, "card command failed");
    }
    HttpResponse::build(err.status()).json(err.body_for(Audience::BlindCount))
}

/// A card attempt as the POS starts it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartRequest {
    pub key: String,
    pub sale_key: String,
    /// What the terminal charges, the tip included.
    pub amount: i64,
    /// The part of `amount` that is the sale's tip.
    #[serde(default)]
    pub tip: i64,
    pub method: String,
    #[serde(default)]
    pub provider: Option<String>,
    /// A supervisor starts it although another attempt of the sale has no result.
    #[serde(default)]
    pub r#override: bool,
}

impl Request for StartRequest {
    const INVALID: &'static str = CajaError::INVALID_CARD_PAYMENT;
}

impl StartRequest {
    /// The command, or the field at fault and why.
    pub fn parse(&self, by: crate::auth::user::User) -> Result<StartCardAttempt, (String, String)> {
        let uuid = |field: &str, raw: &str| {
            Uuid::parse_str(raw.trim())
                .map_err(|_| (field.to_owned(), "debe ser un UUID".to_owned()))
        };
        let method: PaymentMethod = self
            .method
            .trim()
            .parse()
            .ok()
            .filter(|m: &PaymentMethod| m.is_card())
            .ok_or_else(|| ("method".to_owned(), "usa DEBITO o CREDITO".to_owned()))?;
        let provider = self
            .provider
            .as_deref()
            .map(|raw| {
                raw.trim()
                    .parse::<PaymentProvider>()
                    .map_err(|_| ("provider".to_owned(), "usa GETNET o KLAP".to_owned()))
            })
            .transpose()?;
        let amount = Pesos::positive(self.amount)
            .map_err(|err| ("amount".to_owned(), format!("el monto {err}")))?;
        let tip = Pesos::non_negative(self.tip)
            .map_err(|err| ("tip".to_owned(), format!("la propina {err}")))?;
        if tip >= amount {
            return Err((
                "tip".to_owned(),
                format!("la propina es parte del cobro: debe ser menor que {amount}"),
            ));
        }
        Ok(StartCardAttempt {
            by,
            key: uuid("key", &self.key)?,
            sale_key: uuid("sale_key", &self.sale_key)?,
            amount,
            tip,
            method,
            provider,
            override_unresolved: self.r#override,
        })
    }
}

/// How a person says an attempt ended.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResolveRequest {
    #[serde(default)]
    pub key: Option<String>,
    /// `approved`, `declined`, `failed` or `not_charged`.
    pub outcome: String,
    #[serde(default)]
    pub authorization_code: Option<String>,
    #[serde(default)]
    pub terminal_reference: Option<String>,
    /// The voucher's card brand, last four digits and cuotas (on credit).
    #[serde(default)]
    pub card_brand: Option<String>,
    #[serde(default)]
    pub card_last4: Option<String>,
    #[serde(default)]
    pub installments: Option<i64>,
    #[serde(default)]
    pub note: Option<String>,
}

impl Request for ResolveRequest {
    const INVALID: &'static str = CajaError::INVALID_CARD_PAYMENT;
}

impl ResolveRequest {
    fn voucher(&self) -> VoucherFields<'_> {
        VoucherFields {
            terminal_reference: self.terminal_reference.as_deref(),
            card_brand: self.card_brand.as_deref(),
            card_last4: self.card_last4.as_deref(),
            installments: self.installments,
        }
    }

    pub fn parse(
        &self,
        by: crate::auth::user::User,
        attempt_id: i64,
    ) -> Result<ResolveCardAttempt, (String, String)> {
        let key = self
            .key
            .as_deref()
            .map(|raw| {
                Uuid::parse_str(raw.trim())
                    .map_err(|_| ("key".to_owned(), "debe ser un UUID".to_owned()))
            })
            .transpose()?;
        let resolution = match self.outcome.trim() {
            "approved" => Resolution::Approved {
                authorization_code: self.authorization_code.clone().ok_or_else(|| {
                    (
                        "authorization_code".to_owned(),
                        "un cobro aprobado lleva el código de autorización del terminal".to_owned(),
                    )
                })?,
                voucher: self
                    .voucher()
                    .parse()
                    .map_err(|(field, message)| (field.to_owned(), message))?,
            },
            "declined" => Resolution::Declined,
            "failed" => Resolution::Failed,
            "not_charged" => Resolution::NotCharged,
            _ => {
                return Err((
                    "outcome".to_owned(),
                    "usa approved, declined, failed o not_charged".to_owned(),
                ));
            }
        };
        let voucher_given = self
            .authorization_code
            .as_ref()
            .map(|_| "authorization_code")
            .or(self.voucher().first_given());
        if let Some(field) = voucher_given
            && !matches!(resolution, Resolution::Approved { .. })
        {
            return Err((
                field.to_owned(),
                "solo un cobro aprobado lleva código y voucher".to_owned(),
            ));
        }
        let note = self
            .note
            .as_deref()
            .map(|raw| crate::text::line(raw, 200))
            .transpose()
            .map_err(|err| ("note".to_owned(), format!("la nota {err}")))?;
        Ok(ResolveCardAttempt {
            by,
            attempt_id,
            key,
            resolution,
            note,
        })
    }
}

fn caja(raw: &str) -> Result<CajaId, CajaError> {
    raw.parse().map_err(|_| CajaError::UnknownCaja)
}

/// POST /api/cajas/{id}/card-attempts
#[tracing::instrument(skip_all, fields(user = %current.user.name))]
async fn start(
    current: CurrentUser,
    registers: web::Data<CajaActors>,
    id: web::Path<String>,
    JsonBody(body): JsonBody<StartRequest>,
) -> HttpResponse {
    let id = match caja(&id) {
        Ok(id) => id,
        Err(err) => return refused(err),
    };
    let command = match body.parse(current.user) {
        Ok(command) => command,
        Err((field, message)) => return invalid(&field, message),
    };
    match registers.ask(id, command).await {
        Ok(attempt) => HttpResponse::Created().json(json!({ "type": "ack", "attempt": attempt })),
        Err(err) => refused(err),
    }
}

/// POST /api/cajas/{id}/card-attempts/{attempt}/resolve
#[tracing::instrument(skip_all, fields(user = %current.user.name))]
async fn resolve(
    current: CurrentUser,
    registers: web::Data<CajaActors>,
    path: web::Path<(String, String)>,
    JsonBody(body): JsonBody<ResolveRequest>,
) -> HttpResponse {
    let (id, attempt) = path.into_inner();
    let id = match caja(&id) {
        Ok(id) => id,
        Err(err) => return refused(err),
    };
    let Ok(attempt) = attempt.parse::<i64>() else {
        return refused(CajaError::UnknownAttempt);
    };
    let command = match body.parse(current.user, attempt) {
        Ok(command) => command,
        Err((field, message)) => return invalid(&field, message),
    };
    match registers.ask(id, command).await {
        Ok(attempt) => HttpResponse::Ok().json(json!({ "type": "ack", "attempt": attempt })),
        Err(err) => refused(err),
    }
}

fn uuid_field(field: &str, raw: &str) -> Result<Uuid, (String, String)> {
    Uuid::parse_str(raw.trim()).map_err(|_| (field.to_owned(), "debe ser un UUID".to_owned()))
}

fn reason_field(raw: &str) -> Result<String, (String, String)> {
    crate::text::line(raw, 200).map_err(|err| ("reason".to_owned(), format!("el motivo {err}")))
}

/// A refund of an approved charge, as a supervisor asks for it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefundRequest {
    pub key: String,
    pub amount: i64,
    /// The refund's code, as the terminal printed it (a simulated
    /// terminal answers its own).
    #[serde(default)]
    pub authorization_code: Option<String>,
    pub reason: String,
}

impl Request for RefundRequest {
    const INVALID: &'static str = CajaError::INVALID_CARD_PAYMENT;
}

impl RefundRequest {
    pub fn parse(
        &self,
        by: crate::auth::user::User,
        attempt_id: i64,
    ) -> Result<RefundCharge, (String, String)> {
        Ok(RefundCharge {
            by,
            attempt_id,
            key: uuid_field("key", &self.key)?,
            amount: Pesos::positive(self.amount)
                .map_err(|err| ("amount".to_owned(), format!("el monto {err}")))?,
            authorization_code: self.authorization_code.clone(),
            reason: reason_field(&self.reason)?,
        })
    }
}

/// A write-off of an approved charge with no sale, as a supervisor asks for it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WriteOffRequest {
    pub key: String,
    pub reason: String,
}

impl Request for WriteOffRequest {
    const INVALID: &'static str = CajaError::INVALID_CARD_PAYMENT;
}

impl WriteOffRequest {
    pub fn parse(
        &self,
        by: crate::auth::user::User,
        attempt_id: i64,
    ) -> Result<WriteOffCharge, (String, String)> {
        Ok(WriteOffCharge {
            by,
            attempt_id,
            key: uuid_field("key", &self.key)?,
            reason: reason_field(&self.reason)?,
        })
    }
}

/// The caja and attempt of a `/api/cajas/{id}/card-attempts/{attempt}/…` path.
fn attempt_path(path: (String, String)) -> Result<(CajaId, i64), CajaError> {
    let (id, attempt) = path;
    let id = caja(&id)?;
    let attempt = attempt
        .parse::<i64>()
        .map_err(|_| CajaError::UnknownAttempt)?;
    Ok((id, attempt))
}

/// POST /api/cajas/{id}/card-attempts/{attempt}/refund (supervisors)
async fn refund(
    user: SupervisorUser,
    registers: web::Data<CajaActors>,
    path: web::Path<(String, String)>,
    JsonBody(body): JsonBody<RefundRequest>,
) -> HttpResponse {
    settle(&registers, path.into_inner(), |attempt| {
        body.parse(user.user.clone(), attempt)
    })
    .await
}

/// POST /api/cajas/{id}/card-attempts/{attempt}/write-off (supervisors)
async fn write_off(
    user: SupervisorUser,
    registers: web::Data<CajaActors>,
    path: web::Path<(String, String)>,
    JsonBody(body): JsonBody<WriteOffRequest>,
) -> HttpResponse {
    settle(&registers, path.into_inner(), |attempt| {
        body.parse(user.user.clone(), attempt)
    })
    .await
}

/// Asks the caja of `path` to settle its attempt as `command` says.
#[tracing::instrument(skip_all)]
async fn settle<C>(
    registers: &CajaActors,
    path: (String, String),
    command: impl FnOnce(i64) -> Result<C, (String, String)>,
) -> HttpResponse
where
    C: crate::registers::commit::Command<Reply = Settled>
        + actix::Message<Result = Result<Settled, CajaError>>,
{
    let (id, attempt) = match attempt_path(path) {
        Ok(found) => found,
        Err(err) => return refused(err),
    };
    let command = match command(attempt) {
        Ok(command) => command,
        Err((field, message)) => return invalid(&field, message),
    };
    match registers.ask(id, command).await {
        Ok(settled) => HttpResponse::Ok()
            .json(json!({ "type": "ack", "attempt": settled.attempt, "refund": settled.refund })),
        Err(err) => refused(err),
    }
}

/// GET /api/proveedores: the venue's outages now.
async fn providers(_current: CurrentUser, venue: web::Data<Venue>) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "type": "providers", "outages": *venue.outages() }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OutageRequest {
    reason: String,
}

impl Request for OutageRequest {}

fn unknown_provider() -> HttpResponse {
    HttpResponse::NotFound().json(ErrorBody::new(
        "unknown_provider",
        "No existe ese proveedor: usa GETNET o KLAP.",
        None,
    ))
}

fn outage_refused(err: OutageError) -> HttpResponse {
    match err {
        OutageError::AlreadyOut => HttpResponse::Conflict().json(ErrorBody::new(
            "provider_already_down",
            "Ese proveedor ya está marcado como caído.",
            None,
        )),
        OutageError::NotOut => HttpResponse::Conflict().json(ErrorBody::new(
            "provider_not_down",
            "Ese proveedor no está marcado como caído.",
            None,
        )),
        OutageError::Db(err) => refused(CajaError::Db(err)),
    }
}

/// Which way a supervisor declares a provider for the whole venue.
#[derive(Debug, Clone, Copy)]
enum Declared {
    Down,
    Up,
}

/// POST /api/proveedores/{provider}/caido (supervisors)
async fn declare_down(
    user: SupervisorUser,
    venue: web::Data<Venue>,
    provider: web::Path<String>,
    JsonBody(body): JsonBody<OutageRequest>,
) -> HttpResponse {
    declare(user, venue.into_inner(), &provider, body, Declared::Down).await
}

/// POST /api/proveedores/{provider}/operativo (supervisors)
async fn declare_up(
    user: SupervisorUser,
    venue: web::Data<Venue>,
    provider: web::Path<String>,
    JsonBody(body): JsonBody<OutageRequest>,
) -> HttpResponse {
    declare(user, venue.into_inner(), &provider, body, Declared::Up).await
}

async fn declare(
    user: SupervisorUser,
    venue: std::sync::Arc<Venue>,
    provider: &str,
    body: OutageRequest,
    way: Declared,
) -> HttpResponse {
    let Ok(provider) = provider.parse::<PaymentProvider>() else {
        return unknown_provider();
    };
    let reason = match crate::text::line(&body.reason, 200) {
        Ok(reason) => format!("marcado por {}: {reason}", user.user.name),
        Err(err) => return invalid("reason", format!("el motivo {err}")),
    };
    let actor = Some(user.user.actor());
    let done = match way {
        Declared::Down => venue.declare(provider, reason, actor).await,
        Declared::Up => venue.end(provider, reason, actor).await,
    };
    match done {
        Ok(()) => HttpResponse::Ok().json(json!({ "type": "ack", "outages": *venue.outages() })),
        Err(err) => outage_refused(err),
    }
}
