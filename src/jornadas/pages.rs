//! /admin/jornadas: supervisors open and close the business day.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;

use super::{Jornada, JornadaError, JornadaSession, OpenSession};
use crate::auth::SupervisorUser;
use crate::auth::csrf::{CsrfForm, NoFields};
use crate::db;
use crate::money::Pesos;
use crate::payments::reconcile::{self, Reconciliation};
use crate::reports::jornada::{self, Chart, Fallback, TopLine};
use crate::reports::{self, CajaLine, Scope};
use crate::startup::AppState;
use crate::web::{Chrome, PageError, html, redirect_see_other};

const PAGE: &str = "/admin/jornadas";

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route(PAGE, web::get().to(jornadas_page))
        .route("/admin/jornadas/abrir", web::post().to(open))
        .route("/admin/jornadas/{id}", web::get().to(jornada_page))
        .route("/admin/jornadas/{id}/cerrar", web::post().to(close));
}

#[derive(Template)]
#[template(path = "jornadas/show.html")]
struct JornadaPage {
    chrome: Option<Chrome>,
    jornada: Jornada,
    opener: String,
    sessions: Vec<JornadaSession>,
    reconciliation: Reconciliation,
    cajas: Vec<CajaLine>,
    top: TopLine,
    fallbacks: Vec<Fallback>,
    chart: Chart,
}

impl JornadaPage {
    fn local(&self, at: &chrono::DateTime<chrono::Utc>) -> String {
        crate::web::local_time(at)
    }

    /// When a session closed: its time alone when it closed the day it
    /// opened (the row already says the date).
    fn closed(
        &self,
        opened: &chrono::DateTime<chrono::Utc>,
        closed: &chrono::DateTime<chrono::Utc>,
    ) -> String {
        let span = crate::web::local_span(opened, Some(closed));
        span.rsplit(" → ").next().unwrap_or_default().to_owned()
    }

    fn pesos(&self, amount: impl std::borrow::Borrow<i64>) -> Pesos {
        Pesos::new(*amount.borrow()).unwrap_or_default()
    }

    /// "faltante $500", "sobrante $100" or "cuadra" for the caja's counted
    /// sessions; a session still open is not counted, and says so.
    fn difference_words(&self, caja: &CajaLine) -> String {
        let counted = caja.sessions - caja.open_sessions;
        let words = match caja.difference {
            _ if counted == 0 => "sin contar".to_owned(),
            0 => "cuadra".to_owned(),
            d if d < 0 => format!("faltante {}", self.pesos(-d)),
            d => format!("sobrante {}", self.pesos(d)),
        };
        match caja.open_sessions {
            0 => words,
            _ if counted == 0 => "sin contar: sesión abierta".to_owned(),
            open => format!("{words}; {open} sesión(es) abierta(s) sin contar"),
        }
    }
}

/// GET /admin/jornadas/{id}: the jornada's sessions and its card payments
/// per provider.
pub async fn jornada_page(
    user: SupervisorUser,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let id: i32 = id.parse().map_err(|_| PageError::NotFound("la jornada"))?;
    let found = db::run(&state.pool, move |conn| {
        let Some((jornada, opener)) = super::find(conn, id)? else {
            return Ok::<_, diesel::result::Error>(None);
        };
        let sessions = super::sessions(conn, id)?;
        let reconciliation = reconcile::of_jornada(conn, id)?;
        let cajas = reports::cajas(conn, Some(Scope::Jornada(id)))?;
        let fallbacks = jornada::fallbacks(conn, id)?;
        let hours = jornada::hours(conn, id)?;
        Ok(Some((
            jornada,
            opener,
            sessions,
            reconciliation,
            cajas,
            fallbacks,
            hours,
        )))
    })
    .await??;
    let (jornada, opener, sessions, reconciliation, cajas, fallbacks, hours) =
        found.ok_or(PageError::NotFound("la jornada"))?;
    // Only the cajas that worked this jornada.
    let cajas: Vec<CajaLine> = cajas.into_iter().filter(|c| c.sessions > 0).collect();
    html(
        StatusCode::OK,
        &JornadaPage {
            chrome: user.chrome(),
            jornada,
            opener,
            sessions,
            reconciliation,
            top: TopLine::of(&cajas),
            cajas,
            fallbacks,
            chart: Chart::of(&hours),
        },
    )
}

#[derive(Template)]
#[template(path = "jornadas/list.html")]
struct JornadasPage {
    chrome: Option<Chrome>,
    current: Option<Jornada>,
    recent: Vec<(Jornada, String)>,
    message: Option<String>,
    blocking: Vec<OpenSession>,
}

impl JornadasPage {
    fn local(&self, at: &chrono::DateTime<chrono::Utc>) -> String {
        crate::web::local_time(at)
    }
}

async fn render(
    user: &SupervisorUser,
    state: &AppState,
    status: StatusCode,
    message: Option<String>,
    blocking: Vec<OpenSession>,
) -> Result<HttpResponse, PageError> {
    let (current, recent) = db::run(&state.pool, |conn| {
        Ok::<_, diesel::result::Error>((super::current(conn)?, super::recent(conn, 20)?))
    })
    .await??;
    html(
        status,
        &JornadasPage {
            chrome: user.chrome(),
            current,
            recent,
            message,
            blocking,
        },
    )
}

/// GET /admin/jornadas
pub async fn jornadas_page(
    user: SupervisorUser,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    render(&user, &state, StatusCode::OK, None, vec![]).await
}

/// POST /admin/jornadas/abrir
pub async fn open(
    user: SupervisorUser,
    state: web::Data<AppState>,
    _form: CsrfForm<NoFields>,
) -> Result<HttpResponse, PageError> {
    let (actor, by) = (user.user.actor(), user.user.id.0);
    match db::run(&state.pool, move |conn| super::open(conn, &actor, by)).await? {
        Ok(jornada) => {
            tracing::info!(jornada_id = jornada.id, "jornada opened");
            Ok(redirect_see_other(PAGE))
        }
        Err(JornadaError::AlreadyOpen) => {
            render(
                &user,
                &state,
                StatusCode::CONFLICT,
                Some("Ya hay una jornada abierta.".into()),
                vec![],
            )
            .await
        }
        Err(JornadaError::Db(err)) => Err(err.into()),
        Err(other) => Err(PageError::Conflict(other.to_string())),
    }
}

/// POST /admin/jornadas/{id}/cerrar
pub async fn close(
    user: SupervisorUser,
    state: web::Data<AppState>,
    id: web::Path<String>,
    _form: CsrfForm<NoFields>,
) -> Result<HttpResponse, PageError> {
    let id: i32 = id.parse().map_err(|_| PageError::NotFound("la jornada"))?;
    let (actor, by) = (user.user.actor(), user.user.id.0);
    match db::run(&state.pool, move |conn| super::close(conn, &actor, by, id)).await? {
        Ok(jornada) => {
            tracing::info!(jornada_id = jornada.id, "jornada closed");
            Ok(redirect_see_other(PAGE))
        }
        Err(JornadaError::SessionsOpen(open)) => {
            let message =
                "No se puede cerrar la jornada: estas cajas siguen con su sesión abierta."
                    .to_string();
            render(&user, &state, StatusCode::CONFLICT, Some(message), open).await
        }
        Err(JornadaError::NotOpen) => {
            render(
                &user,
                &state,
                StatusCode::CONFLICT,
                Some("Esa jornada no está abierta.".into()),
                vec![],
            )
            .await
        }
        Err(JornadaError::Db(err)) => Err(err.into()),
        Err(other) => Err(PageError::Conflict(other.to_string())),
    }
}
