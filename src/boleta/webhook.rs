//! The provider's webhook (`POST /api/boletas/estado`): the SII's answer
//! to a queued document, told by the provider instead of asked for. It
//! carries the secret shared with the provider (`CAJAHUB_DTE_WEBHOOK_SECRET`)
//! in `X-Webhook-Secret`: without it, or with another, it is refused and
//! logged. Its body is a document's state as the provider's API answers it
//! (`boleta::http`). It decides only a document still waiting under that
//! key; one already decided stays as it is, and says so.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use diesel::prelude::*;
use serde_json::json;

use super::document::DocumentStatus;
use super::http::state_of;
use super::issuing::Issuing;
use super::outbox::{self, Waiting};
use super::provider::Answer;
use crate::clock::Clock;
use crate::db::schema::tax_documents;
use crate::db::{self, DbError, PgPool};
use crate::web::json::ErrorBody;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/boletas/estado", web::post().to(told));
}

/// The secret the provider's webhook carries; none: the webhook is off.
#[derive(Clone, Default)]
pub struct WebhookSecret(pub Option<String>);

const HEADER: &str = "X-Webhook-Secret";

fn refused(status: StatusCode, code: &'static str, message: impl Into<String>) -> HttpResponse {
    HttpResponse::build(status).json(ErrorBody::new(code, message, None))
}

/// POST /api/boletas/estado
async fn told(
    req: HttpRequest,
    body: web::Bytes,
    secret: web::Data<WebhookSecret>,
    pool: web::Data<PgPool>,
    clock: web::Data<Clock>,
    issuing: web::Data<Issuing>,
) -> HttpResponse {
    let Some(expected) = secret.0.as_deref() else {
        return refused(
            StatusCode::NOT_FOUND,
            "not_found",
            "el aviso de boletas no está activado",
        );
    };
    let given = req
        .headers()
        .get(HEADER)
        .map(|value| value.as_bytes())
        .unwrap_or_default();
    if !bool::from(subtle::ConstantTimeEq::ct_eq(given, expected.as_bytes())) {
        tracing::warn!(
            with_secret = !given.is_empty(),
            "boleta webhook refused: wrong secret"
        );
        return refused(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "falta el secreto compartido o no es el acordado",
        );
    }
    let (key, answer) = match state_of(&body) {
        Ok(state) => state,
        Err(err) => {
            tracing::warn!(error = %err, "boleta webhook refused: its body does not read");
            return refused(StatusCode::BAD_REQUEST, "invalid_webhook", err.to_string());
        }
    };
    if matches!(answer, Answer::Queued { .. }) {
        return HttpResponse::Accepted().json(json!({"applied": false, "status": "EN_PROCESO"}));
    }
    let at = clock.now();
    let decided = db::run(&pool, move |conn| {
        conn.transaction(|conn| {
            let found: Option<(i64, DocumentStatus)> = tax_documents::table
                .filter(tax_documents::idempotency_key.eq(key))
                .select((tax_documents::id, tax_documents::status))
                .for_update()
                .first(conn)
                .optional()?;
            let Some((id, status)) = found else {
                return Ok::<_, diesel::result::Error>(None);
            };
            if !matches!(status, DocumentStatus::Pendiente | DocumentStatus::Enviada) {
                return Ok(Some((false, status)));
            }
            outbox::settle(conn, Waiting { id, status }, Ok(answer), at)?;
            let now = tax_documents::table
                .find(id)
                .select(tax_documents::status)
                .first(conn)?;
            Ok(Some((true, now)))
        })
    })
    .await;
    match decided.and_then(|done| done.map_err(DbError::Query)) {
        Ok(Some((applied, status))) => {
            if applied {
                tracing::info!(%key, status = status.as_str(), "boleta decided by the provider's webhook");
                // The floor and /metrics follow on the outbox's next look.
                issuing.queued();
            }
            HttpResponse::Ok().json(json!({"applied": applied, "status": status.as_str()}))
        }
        Ok(None) => refused(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no hay un documento con la clave {key}"),
        ),
        Err(err) => {
            tracing::warn!(error = %err, "boleta webhook not applied");
            refused(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "no se pudo guardar; reintente",
            )
        }
    }
}
