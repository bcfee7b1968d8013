//! `/admin/ventas-marcadas`: the sales POS screens took offline that could
//! not be recorded as made, for a supervisor to settle (record them by hand,
//! refund, ...) and note how. Settling goes through the caja's actor, so
//! every screen's count of waiting sales drops at once. Below them, the
//! card approvals whose typed code repeats one of the jornada's
//! (`payments::repeated_code`), until a supervisor notes what they checked.

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
use crate::payments::repeated_code::{self, Repeated, ReviewError};
use crate::web::{Chrome, PageError, html, redirect_see_other};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/ventas-marcadas", web::get().to(list))
        .route(
            "/admin/ventas-marcadas/{id}/resolver",
            web::post().to(resolve),
        )
        .route(
            "/admin/ventas-marcadas/codigos/{id}/revisar",
            web::post().to(review_code),
        );
}

#[derive(Template)]
#[template(path = "sessions/flagged.html")]
struct ReviewPage {
    chrome: Option<Chrome>,
    pending: Vec<PendingFlag>,
    repeated: Vec<Repeated>,
    notice: Option<String>,
    /// The row whose form came back with an error, and the error.
    error: Option<(i64, String)>,
    /// The repeated code whose note came back with an error, and the error.
    code_error: Option<(i64, String)>,
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

    fn code_error_for(&self, id: &i64) -> &str {
        match &self.code_error {
            Some((row, message)) if row == id => message,
            _ => "",
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct NoticeQuery {
    resuelta: Option<i64>,
    revisado: Option<i64>,
}

/// What came back with an error: a flagged sale's resolution, or a
/// repeated code's note.
enum Refused {
    Flag(i64, String),
    Code(i64, String),
}

async fn render(
    user: &SupervisorUser,
    pool: &PgPool,
    status: StatusCode,
    notice: Option<String>,
    refused: Option<Refused>,
) -> Result<HttpResponse, PageError> {
    let (pending, repeated) = db::run(pool, |conn| {
        Ok::<_, diesel::result::Error>((flagged::pending(conn)?, repeated_code::waiting(conn)?))
    })
    .await??;
    let (error, code_error) = match refused {
        Some(Refused::Flag(id, message)) => (Some((id, message)), None),
        Some(Refused::Code(id, message)) => (None, Some((id, message))),
        None => (None, None),
    };
    html(
        status,
        &ReviewPage {
            chrome: user.chrome(),
            pending,
            repeated,
            notice,
            error,
            code_error,
        },
    )
}

/// GET /admin/ventas-marcadas
async fn list(
    user: SupervisorUser,
    pool: web::Data<PgPool>,
    query: web::Query<NoticeQuery>,
) -> Result<HttpResponse, PageError> {
    let notice = match (query.resuelta, query.revisado) {
        (Some(id), _) => Some(format!("Venta marcada #{id} resuelta.")),
        (None, Some(id)) => Some(format!("Código repetido del cobro #{id} revisado.")),
        (None, None) => None,
    };
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
                Some(Refused::Flag(id, message)),
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

#[derive(Debug, Deserialize)]
pub struct CodeReviewForm {
    #[serde(default)]
    note: String,
}

/// POST /admin/ventas-marcadas/codigos/{id}/revisar: a supervisor notes
/// what they checked of a repeated code (the vouchers, the terminal's
/// batch); it leaves the list, audited.
async fn review_code(
    user: SupervisorUser,
    pool: web::Data<PgPool>,
    id: web::Path<i64>,
    form: CsrfForm<CodeReviewForm>,
) -> Result<HttpResponse, PageError> {
    let id = id.into_inner();
    let note = match crate::text::line(&form.0.note, 200) {
        Ok(note) => note,
        Err(err) => {
            let message = match err {
                crate::text::TextError::Empty => "Anota qué revisaste.".to_owned(),
                other => format!("La nota {other}."),
            };
            return render(
                &user,
                &pool,
                StatusCode::UNPROCESSABLE_ENTITY,
                None,
                Some(Refused::Code(id, message)),
            )
            .await;
        }
    };
    let by = user.user.clone();
    match db::run(&pool, move |conn| {
        repeated_code::review(conn, id, &by.actor(), by.id.0, &note)
    })
    .await?
    {
        Ok(()) => Ok(redirect_see_other(&format!(
            "/admin/ventas-marcadas?revisado={id}"
        ))),
        Err(ReviewError::NotWaiting) => Err(PageError::NotFound("el código repetido")),
        Err(ReviewError::Db(err)) => Err(err.into()),
    }
}
