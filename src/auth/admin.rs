//! The admin's pages for people: every user with their open logins, and a
//! user's page where each open login (when, from where, on what) can be
//! ended on the spot, audited.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;

use super::AdminUser;
use super::csrf::{CsrfForm, NoFields};
use super::logins::{self, OpenLogin};
use super::user::{self, User, UserId};
use crate::db;
use crate::startup::AppState;
use crate::web::{Chrome, PageError, html, local_time, redirect_see_other};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/usuarios", web::get().to(list))
        .route("/admin/usuarios/{id}", web::get().to(show))
        .route(
            "/admin/usuarios/{id}/ingresos/{login}/cerrar",
            web::post().to(end_login),
        );
}

#[derive(Template)]
#[template(path = "users/list.html")]
struct ListPage {
    chrome: Option<Chrome>,
    users: Vec<(User, usize)>,
}

/// GET /admin/usuarios
async fn list(admin: AdminUser, state: web::Data<AppState>) -> Result<HttpResponse, PageError> {
    let (idle, absolute) = (state.auth.idle, state.auth.absolute);
    let users = db::run(&state.pool, move |conn| {
        user::list(conn)?
            .into_iter()
            .map(|user| {
                let open = logins::open_of(conn, user.id, idle, absolute)?.len();
                Ok((user, open))
            })
            .collect::<diesel::QueryResult<Vec<_>>>()
    })
    .await??;
    html(
        StatusCode::OK,
        &ListPage {
            chrome: admin.chrome(),
            users,
        },
    )
}

#[derive(Template)]
#[template(path = "users/show.html")]
struct ShowPage {
    chrome: Option<Chrome>,
    user: User,
    logins: Vec<OpenLogin>,
    /// The login this admin is using, marked on the page.
    own_login: uuid::Uuid,
    notice: Option<&'static str>,
}

impl ShowPage {
    fn local(&self, at: &chrono::DateTime<chrono::Utc>) -> String {
        local_time(at)
    }
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct ShowQuery {
    aviso: String,
}

fn parse_id(raw: &str) -> Result<UserId, PageError> {
    raw.parse().map_err(|_| PageError::NotFound("el usuario"))
}

/// GET /admin/usuarios/{id}
async fn show(
    admin: AdminUser,
    state: web::Data<AppState>,
    id: web::Path<String>,
    query: web::Query<ShowQuery>,
) -> Result<HttpResponse, PageError> {
    let id = parse_id(&id)?;
    let (idle, absolute) = (state.auth.idle, state.auth.absolute);
    let (user, open) = db::run(&state.pool, move |conn| {
        let user = user::find(conn, id)?;
        Ok::<_, diesel::result::Error>((user, logins::open_of(conn, id, idle, absolute)?))
    })
    .await?
    .map_err(|err| match err {
        diesel::result::Error::NotFound => PageError::NotFound("el usuario"),
        other => other.into(),
    })?;
    html(
        StatusCode::OK,
        &ShowPage {
            chrome: admin.chrome(),
            user,
            logins: open,
            own_login: admin.login,
            notice: (query.aviso == "cerrada").then_some("Se cerró el ingreso."),
        },
    )
}

/// POST /admin/usuarios/{id}/ingresos/{login}/cerrar: that browser is
/// logged out at its next request, and its live screens within a heartbeat.
async fn end_login(
    admin: AdminUser,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    _form: CsrfForm<NoFields>,
) -> Result<HttpResponse, PageError> {
    let (id, login) = path.into_inner();
    let id = parse_id(&id)?;
    let login: uuid::Uuid = login
        .parse()
        .map_err(|_| PageError::NotFound("el ingreso"))?;
    let actor = admin.user.actor();
    let ended = db::run(&state.pool, move |conn| {
        logins::end_by_admin(conn, &actor, id, login)
    })
    .await??;
    if !ended {
        return Err(PageError::NotFound("un ingreso abierto de ese usuario"));
    }
    tracing::info!(user_id = %id, %login, "login ended by an admin");
    Ok(redirect_see_other(&format!(
        "/admin/usuarios/{id}?aviso=cerrada"
    )))
}
