//! /admin/jornadas: supervisors open and close the business day.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;

use super::{Jornada, JornadaError, UnclosedSession};
use crate::auth::SupervisorUser;
use crate::auth::csrf::{CsrfForm, NoFields};
use crate::db::{self, PgPool};
use crate::web::{Chrome, PageError, html, redirect_see_other};

const PAGE: &str = "/admin/jornadas";

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route(PAGE, web::get().to(jornadas_page))
        .route("/admin/jornadas/abrir", web::post().to(open))
        .route("/admin/jornadas/{id}/cerrar", web::post().to(close));
}

#[derive(Template)]
#[template(path = "jornadas/list.html")]
struct JornadasPage {
    chrome: Option<Chrome>,
    current: Option<Jornada>,
    recent: Vec<(Jornada, String)>,
    message: Option<String>,
    blocking: Vec<UnclosedSession>,
}

impl JornadasPage {
    fn local(&self, at: &chrono::DateTime<chrono::Utc>) -> String {
        crate::web::local_time(at)
    }
}

async fn render(
    user: &SupervisorUser,
    pool: &PgPool,
    status: StatusCode,
    message: Option<String>,
    blocking: Vec<UnclosedSession>,
) -> Result<HttpResponse, PageError> {
    let (current, recent) = db::run(pool, |conn| {
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
    pool: web::Data<PgPool>,
) -> Result<HttpResponse, PageError> {
    render(&user, &pool, StatusCode::OK, None, vec![]).await
}

/// POST /admin/jornadas/abrir
pub async fn open(
    user: SupervisorUser,
    pool: web::Data<PgPool>,
    _form: CsrfForm<NoFields>,
) -> Result<HttpResponse, PageError> {
    let (actor, by) = (user.user.actor(), user.user.id.0);
    match db::run(&pool, move |conn| super::open(conn, &actor, by)).await? {
        Ok(jornada) => {
            tracing::info!(jornada_id = jornada.id, "jornada opened");
            Ok(redirect_see_other(PAGE))
        }
        Err(JornadaError::AlreadyOpen) => {
            render(
                &user,
                &pool,
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
    pool: web::Data<PgPool>,
    id: web::Path<String>,
    _form: CsrfForm<NoFields>,
) -> Result<HttpResponse, PageError> {
    let id: i32 = id.parse().map_err(|_| PageError::NotFound("la jornada"))?;
    let (actor, by) = (user.user.actor(), user.user.id.0);
    match db::run(&pool, move |conn| super::close(conn, &actor, by, id)).await? {
        Ok(jornada) => {
            tracing::info!(jornada_id = jornada.id, "jornada closed");
            Ok(redirect_see_other(PAGE))
        }
        Err(JornadaError::SessionsOpen(open)) => {
            let message =
                "No se puede cerrar la jornada: estas cajas siguen con su sesión abierta."
                    .to_string();
            render(&user, &pool, StatusCode::CONFLICT, Some(message), open).await
        }
        Err(JornadaError::NotOpen) => {
            render(
                &user,
                &pool,
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
