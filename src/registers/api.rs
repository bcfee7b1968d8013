//! The JSON API of the registers: `POST /api/cajas/{id}/sales` records a
//! sale through the caja's actor (the POS socket sends the same message),
//! `GET /api/cajas/{id}` answers its snapshot. Errors are
//! `{"type":"error","code":…,"message":…,"field":…}` with a 4xx or 503.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};

use serde::Deserialize;

use super::actor::{CashMovement, RecordSale, VoidSale};
use super::live::MovementKind;
use super::sale::SaleRequest;
use super::store::Movement;
use super::{ErrorBody, RegisterError};
use crate::auth::CurrentUser;
use crate::cajas::RegisterId;
use crate::money::Pesos;
use crate::startup::AppState;

/// A sale is small; a larger body is not one.
const JSON_LIMIT_BYTES: usize = 16 * 1024;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api")
            .app_data(json_config())
            .route("/cajas/{id}", web::get().to(snapshot))
            .route("/cajas/{id}/sales", web::post().to(record_sale))
            .route(
                "/cajas/{id}/sales/{sale_id}/void",
                web::post().to(void_sale),
            )
            .route("/cajas/{id}/cash-movements", web::post().to(cash_movement)),
    );
}

fn json_config() -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(JSON_LIMIT_BYTES)
        .error_handler(|err, _| {
            let body = ErrorBody {
                kind: "error",
                code: "invalid_json",
                message: format!("El cuerpo no es una venta válida: {err}"),
                field: None,
            };
            actix_web::error::InternalError::from_response(
                err,
                HttpResponse::BadRequest().json(body),
            )
            .into()
        })
}

fn refused(err: RegisterError) -> HttpResponse {
    if err.status().is_server_error() {
        tracing::error!(error = ?err, "register command failed");
    }
    HttpResponse::build(err.status()).json(err.body())
}

fn caja_id(raw: &str) -> Result<RegisterId, RegisterError> {
    raw.parse().map_err(|_| RegisterError::UnknownCaja)
}

/// POST /api/cajas/{id}/sales
#[tracing::instrument(skip_all, fields(register_id = %id, user = %current.user.name))]
pub async fn record_sale(
    current: CurrentUser,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Json<SaleRequest>,
) -> HttpResponse {
    let id = match caja_id(&id) {
        Ok(id) => id,
        Err(err) => return refused(err),
    };
    let sale = match body.validate() {
        Ok(sale) => sale,
        Err(invalid) => {
            return HttpResponse::UnprocessableEntity().json(ErrorBody {
                kind: "error",
                code: "invalid_sale",
                message: invalid.message,
                field: Some(invalid.field),
            });
        }
    };
    match state
        .registers
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
            HttpResponse::build(status).json(serde_json::json!({
                "type": "ack",
                "replayed": recorded.replayed,
                "sale_id": recorded.ack.sale_id,
                "register_id": recorded.ack.register_id,
                "seq": recorded.ack.seq,
                "total": recorded.ack.total,
                "total_charged": recorded.ack.total_charged,
                "change": recorded.ack.change,
            }))
        }
        Err(err) => refused(err),
    }
}

/// GET /api/cajas/{id}: the last committed state, never waiting for a
/// write in progress.
pub async fn snapshot(
    _current: CurrentUser,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> HttpResponse {
    let id = match caja_id(&id) {
        Ok(id) => id,
        Err(err) => return refused(err),
    };
    match state.registers.view(id) {
        Some(view) => {
            HttpResponse::Ok().json(serde_json::json!({ "type": "snapshot", "register": view }))
        }
        None => refused(RegisterError::UnknownCaja),
    }
}

fn invalid(field: &str, message: impl Into<String>) -> HttpResponse {
    HttpResponse::UnprocessableEntity().json(ErrorBody {
        kind: "error",
        code: "invalid",
        message: message.into(),
        field: Some(field.to_owned()),
    })
}

/// A reason typed by a person: 1 to 200 characters.
fn reason(raw: &str) -> Result<String, &'static str> {
    let reason = raw.trim();
    match reason.chars().count() {
        0 => Err("Indica el motivo."),
        n if n > 200 => Err("El motivo admite hasta 200 caracteres."),
        _ => Ok(reason.to_owned()),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VoidRequest {
    /// The idempotency key: a retry with it voids once and gets the same answer.
    key: String,
    reason: String,
}

/// What a key that is not a UUID is told.
const INVALID_KEY: &str = "La clave debe ser un UUID (la clave de idempotencia).";

/// POST /api/cajas/{id}/sales/{sale_id}/void (supervisors)
#[tracing::instrument(skip_all, fields(user = %current.user.name))]
pub async fn void_sale(
    current: CurrentUser,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: web::Json<VoidRequest>,
) -> HttpResponse {
    let (id, sale_id) = path.into_inner();
    let id = match caja_id(&id) {
        Ok(id) => id,
        Err(err) => return refused(err),
    };
    let Ok(sale_id) = sale_id.parse::<i64>() else {
        return refused(RegisterError::UnknownSale);
    };
    let Ok(key) = uuid::Uuid::parse_str(body.key.trim()) else {
        return invalid("key", INVALID_KEY);
    };
    let reason = match reason(&body.reason) {
        Ok(reason) => reason,
        Err(message) => return invalid("reason", message),
    };
    let void = VoidSale {
        by: current.user,
        sale_id,
        reason,
        key,
    };
    match state.registers.ask(id, void).await {
        Ok(ack) => HttpResponse::Ok()
            .json(serde_json::json!({ "type": "ack", "sale_id": ack.sale_id, "seq": ack.seq })),
        Err(err) => refused(err),
    }
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
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Json<MovementRequest>,
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
    let movement = CashMovement {
        by: current.user,
        movement: Movement {
            kind,
            amount,
            reason,
        },
        key,
    };
    match state.registers.ask(id, movement).await {
        Ok(ack) => HttpResponse::Created().json(serde_json::json!({
            "type": "ack",
            "movement_id": ack.movement_id,
            "seq": ack.seq,
            "expected_cash": ack.expected_cash,
        })),
        Err(err) => refused(err),
    }
}
