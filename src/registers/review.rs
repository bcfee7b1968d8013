//! `/admin/ventas-marcadas`: the sales POS screens took offline that could
//! not be recorded as made, for a supervisor to settle (record them by hand,
//! refund, ...) and note how. Settling goes through the caja's actor, so
//! every screen's count of waiting sales drops at once.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::CajaActors;
use super::CajaError;
use super::commands::ResolveFlagged;
use super::flagged::{self, PendingFlag};
use crate::auth::SupervisorUser;
use crate::auth::csrf::CsrfForm;
use crate::db::{self, PgPool};
use crate::money::Pesos;
use crate::web::{Chrome, PageError, html, redirect_see_other};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/ventas-marcadas", web::get().to(list))
        .route(
            "/admin/ventas-marcadas/{id}/resolver",
            web::post().to(resolve),
        );
}

#[derive(Template)]
#[template(path = "sessions/flagged.html")]
struct ReviewPage {
    chrome: Option<Chrome>,
    pending: Vec<PendingFlag>,
    notice: Option<String>,
    /// The row whose form came back with an error, and the error.
    error: Option<(i64, String)>,
}

impl ReviewPage {
    fn local(&self, at: &chrono::DateTime<chrono::Utc>) -> String {
        crate::web::local_time(at)
    }

    fn pesos(&self, amount: &i64) -> String {
        Pesos::non_negative(*amount).map_or_else(|_| amount.to_string(), |p| p.to_string())
    }

    fn error_for(&self, id: &i64) -> &str {
        match &self.error {
            Some((row, message)) if row == id => message,
            _ => "",
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct NoticeQuery {
    resuelta: Option<i64>,
}

async fn render(
    user: &SupervisorUser,
    pool: &PgPool,
    status: StatusCode,
    notice: Option<String>,
    error: Option<(i64, String)>,
) -> Result<HttpResponse, PageError> {
    let pending = db::run(pool, flagged::pending).await??;
    html(
        status,
        &ReviewPage {
            chrome: user.chrome(),
            pending,
            notice,
            error,
        },
    )
}

/// GET /admin/ventas-marcadas
async fn list(
    user: SupervisorUser,
    pool: web::Data<PgPool>,
    query: web::Query<NoticeQuery>,
) -> Result<HttpResponse, PageError> {
    let notice = query
        .resuelta
        .map(|id| format!("Venta marcada #{id} resuelta."));
    render(&user, &pool, StatusCode::OK, notice, None).await
}

#[derive(Debug, Deserialize)]
pub struct ResolveForm {
    #[serde(default)]
    resolution: String,
}

/// POST /admin/ventas-marcadas/{id}/resolver
async fn resolve(
    user: SupervisorUser,
    pool: web::Data<PgPool>,
    registers: web::Data<CajaActors>,
    id: web::Path<i64>,
    form: CsrfForm<ResolveForm>,
) -> Result<HttpResponse, PageError> {
    let id = id.into_inner();
    let resolution = match flagged::text("resolution", &form.0.resolution) {
        Ok(text) => text,
        Err(invalid) => {
            let message = format!("La resolución {}.", invalid.message);
            return render(
                &user,
                &pool,
                StatusCode::UNPROCESSABLE_ENTITY,
                None,
                Some((id, message)),
            )
            .await;
        }
    };
    let register = db::run(&pool, move |conn| flagged::register_of(conn, id))
        .await??
        .ok_or(PageError::NotFound("la venta marcada"))?;
    let by = user.user.clone();
    let resolved = registers
        .ask(
            register,
            ResolveFlagged {
                by,
                flagged_id: id,
                resolution,
            },
        )
        .await;
    match resolved {
        Ok(()) => Ok(redirect_see_other(&format!(
            "/admin/ventas-marcadas?resuelta={id}"
        ))),
        Err(CajaError::UnknownFlaggedSale) => Err(PageError::NotFound("la venta marcada")),
        Err(err) if err.status().is_server_error() => Err(err.into()),
        Err(other) => Err(PageError::Conflict(other.message())),
    }
}
