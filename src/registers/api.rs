//! The JSON API of the registers: `POST /api/cajas/{id}/sales` records a
//! sale through the caja's actor (the POS socket sends the same message),
//! `GET /api/cajas/{id}` answers its snapshot. Errors are
//! `{"type":"error","code":…,"message":…,"field":…}` with a 4xx or 503.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use diesel::{Connection, OptionalExtension};

use serde::Deserialize;

use super::CajaActors;
use super::commands::{CashMovement, FlagSale, RecordSale, VoidSale};
use super::flagged::{self, OfflineSale};
use super::live::MovementKind;
use super::sale::{Pricing, SaleRequest};
use super::store::Movement;
use super::{Audience, CajaError, ErrorBody};
use crate::auth::CurrentUser;
use crate::auth::signature::{SignatureError, Signatures};
use crate::auth::user::Role;
use crate::cajas::CajaId;
use crate::catalog::CatalogCell;
use crate::db::PgPool;
use crate::money::Pesos;
use crate::web::json::{JsonBody, Request};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/cajas/{id}", web::get().to(snapshot))
        .route("/api/cajas/{id}/sales", web::post().to(record_sale))
        .route("/api/cajas/{id}/offline-sales", web::post().to(hand_over))
        .route(
            "/api/cajas/{id}/sales/{sale_id}/void",
            web::post().to(void_sale),
        )
        .route(
            "/api/cajas/{id}/cash-movements",
            web::post().to(cash_movement),
        );
}

fn refused(err: CajaError) -> HttpResponse {
    refused_for(err, Audience::BlindCount)
}

/// The refusal as `audience` may read it. Only what an operator must act on
/// is an ERROR in the log; a caja busy or a database away for a moment (the
/// write path heals itself; `/readyz` shows an outage that lasts) is a
/// warning.
fn refused_for(err: CajaError, audience: Audience) -> HttpResponse {
    match err.code() {
        "internal" => tracing::error!(error = ?err, "register command failed"),
        _ if err.status().is_server_error() => {
            tracing::warn!(error = ?err, "register command failed")
        }
        _ => {}
    }
    HttpResponse::build(err.status()).json(err.body_for(audience))
}

/// A sale that does not read, its field named.
fn invalid_sale(invalid: super::sale::InvalidSale) -> HttpResponse {
    HttpResponse::UnprocessableEntity().json(ErrorBody::new(
        "invalid_sale",
        invalid.message,
        Some(invalid.field),
    ))
}

fn caja_id(raw: &str) -> Result<CajaId, CajaError> {
    raw.parse().map_err(|_| CajaError::UnknownCaja)
}

/// POST /api/cajas/{id}/sales
#[tracing::instrument(skip_all, fields(register_id = %id, user = %current.user.name))]
pub async fn record_sale(
    current: CurrentUser,
    registers: web::Data<CajaActors>,
    catalog: web::Data<CatalogCell>,
    id: web::Path<String>,
    JsonBody(body): JsonBody<SaleRequest>,
) -> HttpResponse {
    let id = match caja_id(&id) {
        Ok(id) => id,
        Err(err) => return refused(err),
    };
    let catalog = catalog.current();
    let sale = match body.validate(Pricing::Now {
        catalog: &catalog,
        caja: id,
    }) {
        Ok(sale) => sale,
        Err(invalid) => return invalid_sale(invalid),
    };
    match registers
        .ask(
            id,
            RecordSale {
                by: current.user,
                sale,
            },
        )
        .await
    {
        Ok(recorded) => {
            let status = if recorded.replayed {
                StatusCode::OK
            } else {
                StatusCode::CREATED
            };
            let mut body = recorded.fields();
            body["type"] = "ack".into();
            HttpResponse::build(status).json(body)
        }
        Err(err) => refused(err),
    }
}

/// POST /api/cajas/{id}/offline-sales: a sale a POS took while it could
/// not reach the hub. It is recorded in its session when that is still
/// open and the cashier's; otherwise it is kept for a supervisor (flagged),
/// attributed to the session it was taken in, whatever happened meanwhile
/// (the session closed, another one opened, the caja in maintenance or
/// archived). Over HTTP, not the caja's socket: the socket is only for the
/// cashier of the open session, and a sale taken must arrive regardless.
#[tracing::instrument(skip_all, fields(register_id = %id, user = %current.user.name))]
pub async fn hand_over(
    current: CurrentUser,
    registers: web::Data<CajaActors>,
    pool: web::Data<PgPool>,
    catalog: web::Data<CatalogCell>,
    id: web::Path<String>,
    JsonBody(body): JsonBody<OfflineSale>,
) -> HttpResponse {
    let id = match caja_id(&id) {
        Ok(id) => id,
        Err(err) => return refused(err),
    };
    let catalog = catalog.current();
    let (sale, mut flag) = match body.validate(chrono::Utc::now(), &catalog) {
        Ok(valid) => valid,
        Err(invalid) => return invalid_sale(invalid),
    };
    let user = current.user;
    if registers.snapshot(id).is_none() {
        flag.reason = flagged::offline_reason(flag.session_id, &CajaError::Archived);
        return flagged_answer(flag_archived(&pool, id, user, flag).await);
    }
    // Sold at a price, or of a product, the catalog no longer has for this
    // caja: what the customer paid stands, and a supervisor looks at it.
    if let Some(refusal) = flagged::off_catalog(&sale, &catalog, id) {
        flag.reason = refusal;
        return flagged_answer(registers.ask(id, FlagSale { by: user, flag }).await);
    }
    let by = user.clone();
    match registers.ask(id, RecordSale { by, sale }).await {
        Ok(recorded) => {
            let status = if recorded.replayed {
                StatusCode::OK
            } else {
                StatusCode::CREATED
            };
            HttpResponse::build(status).json(serde_json::json!({
                "type": "ack",
                "outcome": "recorded",
                "replayed": recorded.replayed,
                "sale_id": recorded.ack.sale_id,
            }))
        }
        Err(refusal) if refusal.sale_must_be_flagged() => {
            flag.reason = flagged::offline_reason(flag.session_id, &refusal);
            flagged_answer(registers.ask(id, FlagSale { by: user, flag }).await)
        }
        Err(err) => refused(err),
    }
}

fn flagged_answer(flagged: Result<flagged::FlagAck, CajaError>) -> HttpResponse {
    match flagged {
        Ok(ack) => HttpResponse::Ok().json(serde_json::json!({
            "type": "ack",
            "outcome": "flagged",
            "replayed": ack.replayed,
            "flagged_id": ack.flagged_id,
        })),
        Err(err) => refused(err),
    }
}

/// A caja with no actor: archived (kept for a supervisor straight in the
/// database: no screen follows it any more), or not a caja.
async fn flag_archived(
    pool: &PgPool,
    id: CajaId,
    user: crate::auth::user::User,
    flag: flagged::ValidFlag,
) -> Result<flagged::FlagAck, CajaError> {
    crate::db::run(pool, move |conn| {
        conn.transaction(|conn| {
            let caja = crate::cajas::Caja::find(conn, id)
                .optional()
                .map_err(CajaError::from)?
                .ok_or(CajaError::UnknownCaja)?;
            if !caja.is_archived() {
                // Not loaded (it cannot be read, see `/readyz`): try later.
                return Err(CajaError::Busy);
            }
            flagged::insert(conn, id, &flag, &user)
        })
    })
    .await?
}

/// GET /api/cajas/{id}: the last committed state, never waiting for a
/// write in progress.
pub async fn snapshot(
    current: CurrentUser,
    registers: web::Data<CajaActors>,
    id: web::Path<String>,
) -> HttpResponse {
    let id = match caja_id(&id) {
        Ok(id) => id,
        Err(err) => return refused(err),
    };
    match registers.view(id) {
        Some(view) => HttpResponse::Ok().json(
            serde_json::json!({ "type": "snapshot", "register": view.json_for(&current.user) }),
        ),
        None => refused(CajaError::UnknownCaja),
    }
}

fn invalid(field: &str, message: impl Into<String>) -> HttpResponse {
    HttpResponse::UnprocessableEntity().json(ErrorBody::new(
        "invalid",
        message,
        Some(field.to_owned()),
    ))
}

/// A reason typed by a person: 1 to 200 characters.
fn reason(raw: &str) -> Result<String, String> {
    crate::text::line(raw, 200).map_err(|err| match err {
        crate::text::TextError::Empty => "Indica el motivo.".to_owned(),
        other => format!("El motivo {other}."),
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VoidRequest {
    /// The idempotency key: a retry with it voids once and gets the same answer.
    key: String,
    reason: String,
    /// On a cashier's device: the supervisor who signs the void, and their PIN.
    #[serde(default)]
    supervisor: Option<String>,
    #[serde(default)]
    pin: Option<String>,
    /// The code the terminal printed for the refund of the sale's card payments.
    #[serde(default)]
    refund_code: Option<String>,
}

/// What a key that is not a UUID is told.
const INVALID_KEY: &str = "La clave debe ser un UUID (la clave de idempotencia).";

/// POST /api/cajas/{id}/sales/{sale_id}/void (supervisors)
#[tracing::instrument(skip_all, fields(user = %current.user.name))]
pub async fn void_sale(
    current: CurrentUser,
    registers: web::Data<CajaActors>,
    signatures: Signatures,
    path: web::Path<(String, String)>,
    JsonBody(body): JsonBody<VoidRequest>,
) -> HttpResponse {
    let (id, sale_id) = path.into_inner();
    let id = match caja_id(&id) {
        Ok(id) => id,
        Err(err) => return refused(err),
    };
    let Ok(sale_id) = sale_id.parse::<i64>() else {
        return refused(CajaError::UnknownSale);
    };
    let Ok(key) = uuid::Uuid::parse_str(body.key.trim()) else {
        return invalid("key", INVALID_KEY);
    };
    let reason = match reason(&body.reason) {
        Ok(reason) => reason,
        Err(message) => return invalid("reason", message),
    };
    let (by, signed_on_device_of) = if current.user.role.includes(Role::Supervisor) {
        (current.user, None)
    } else {
        match signed_by(&signatures, &current.user, body.supervisor, body.pin).await {
            Ok(supervisor) => (supervisor, Some(current.user.name.to_string())),
            Err(refusal) => return refusal,
        }
    };
    let void = VoidSale {
        by,
        sale_id,
        reason,
        key,
        signed_on_device_of,
        refund_code: body.refund_code.filter(|code| !code.trim().is_empty()),
    };
    match registers.ask(id, void).await {
        Ok(ack) => HttpResponse::Ok()
            .json(serde_json::json!({ "type": "ack", "sale_id": ack.sale_id, "seq": ack.seq })),
        Err(err) => refused(err),
    }
}

/// The supervisor who signs, with their PIN, what `cashier` asks.
async fn signed_by(
    signatures: &Signatures,
    cashier: &crate::auth::user::User,
    supervisor: Option<String>,
    pin: Option<String>,
) -> Result<crate::auth::user::User, HttpResponse> {
    let supervisor = supervisor.unwrap_or_default();
    if supervisor.trim().is_empty() {
        return Err(HttpResponse::Forbidden().json(ErrorBody::new(
            "supervisor_only",
            "Una anulación la autoriza un supervisor: escribe su nombre y su PIN.",
            Some("supervisor".to_owned()),
        )));
    }
    if crate::text::line(&supervisor, 64).is_err() {
        return Err(invalid("supervisor", "Escribe el nombre del supervisor."));
    }
    let pin = pin.unwrap_or_default();
    if pin.is_empty() || pin.len() > 12 || !pin.chars().all(|c| c.is_ascii_digit()) {
        return Err(invalid(
            "pin",
            "Escribe el PIN del supervisor (solo números).",
        ));
    }
    signatures
        .supervisor(cashier, &supervisor, pin)
        .await
        .map_err(|err| match err {
            SignatureError::Refused => HttpResponse::Forbidden().json(ErrorBody::new(
                "signature_refused",
                "Supervisor o PIN incorrecto (o el supervisor no tiene PIN).",
                Some("pin".to_owned()),
            )),
            SignatureError::Locked(remaining) => {
                HttpResponse::TooManyRequests().json(ErrorBody::new(
                    "signature_locked",
                    format!(
                        "Demasiados PIN incorrectos. {}",
                        crate::auth::throttle::wait_message(remaining)
                    ),
                    Some("pin".to_owned()),
                ))
            }
            SignatureError::Busy => HttpResponse::ServiceUnavailable().json(ErrorBody::new(
                "busy",
                "Hay muchos ingresos a la vez. Intenta de nuevo en unos segundos.",
                None,
            )),
            SignatureError::Db(err) => refused(CajaError::Db(err)),
        })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MovementRequest {
    /// The idempotency key: a retry with it records the movement once.
    key: String,
    kind: String,
    amount: i64,
    reason: String,
}

/// POST /api/cajas/{id}/cash-movements: a retiro or an ingreso of cash.
#[tracing::instrument(skip_all, fields(user = %current.user.name))]
pub async fn cash_movement(
    current: CurrentUser,
    registers: web::Data<CajaActors>,
    id: web::Path<String>,
    JsonBody(body): JsonBody<MovementRequest>,
) -> HttpResponse {
    let id = match caja_id(&id) {
        Ok(id) => id,
        Err(err) => return refused(err),
    };
    let Ok(key) = uuid::Uuid::parse_str(body.key.trim()) else {
        return invalid("key", INVALID_KEY);
    };
    let Ok(kind) = body.kind.trim().parse::<MovementKind>() else {
        return invalid("kind", "Usa RETIRO o INGRESO.");
    };
    let amount = match Pesos::positive(body.amount) {
        Ok(amount) => amount,
        Err(err) => return invalid("amount", format!("El monto {err}.")),
    };
    let reason = match reason(&body.reason) {
        Ok(reason) => reason,
        Err(message) => return invalid("reason", message),
    };
    let audience = registers
        .snapshot(id)
        .map_or(Audience::BlindCount, |register| {
            Audience::of(&current.user, &register.caja)
        });
    let movement = CashMovement {
        by: current.user,
        movement: Movement {
            kind,
            amount,
            reason,
        },
        key,
    };
    match registers.ask(id, movement).await {
        Ok(ack) => {
            let mut answer = serde_json::json!({
                "type": "ack",
                "movement_id": ack.movement_id,
                "seq": ack.seq,
                "expected_cash": ack.expected_cash,
            });
            if audience.is_blind() {
                answer
                    .as_object_mut()
                    .map(|answer| answer.remove("expected_cash"));
            }
            HttpResponse::Created().json(answer)
        }
        Err(err) => refused_for(err, audience),
    }
}

impl Request for SaleRequest {
    const INVALID: &'static str = "invalid_sale";
}
impl Request for VoidRequest {}
impl Request for OfflineSale {
    const INVALID: &'static str = "invalid_sale";
}
impl Request for MovementRequest {}
