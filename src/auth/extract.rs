//! Extractors that guard handlers: [`CurrentUser`] for anyone logged in,
//! [`AdminUser`] and [`SupervisorUser`] for a role. The server checks them on
//! every request; hiding a link is never the protection.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;

use actix_session::SessionExt;
use actix_web::dev::Payload;
use actix_web::http::{StatusCode, header};
use actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError};

use super::AuthPolicy;
use super::accounts::Accounts;
use super::activity::Activity;
use super::csrf;
use super::logins;
use super::session;
use super::user::{Role, User, UserId};
use crate::clock::Clock;
use crate::db::DbError;
use crate::db::PgPool;
use crate::web::json::ErrorBody;
use crate::web::page::Demo;
use crate::web::shared;
use crate::web::{Chrome, PageError};

/// The logged-in user of this request, checked against the database: a
/// disabled user, a changed password or an expired session ends it.
#[derive(Debug, Clone)]
pub struct CurrentUser {
    pub user: User,
    /// This browser's login (its row in `logins`).
    pub login: uuid::Uuid,
    pub csrf: String,
    /// The hub simulates the card terminals (see [`Demo`]).
    pub demo: bool,
}

impl CurrentUser {
    /// What the layout shows of the user (name, role, the logout form's token).
    pub fn chrome(&self) -> Option<Chrome> {
        Some(Chrome {
            user_name: self.user.name.clone(),
            role_label: self.user.role.label(),
            admin: self.user.role.includes(Role::Admin),
            supervisor: self.user.role.includes(Role::Supervisor),
            csrf: self.csrf.clone(),
            demo: self.demo,
        })
    }
}

/// Why a request was not let through.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("not logged in")]
    NotLoggedIn {
        next: String,
        expired: bool,
        json: bool,
    },
    #[error("{user} ({role}) may not do what needs {required}")]
    Forbidden {
        user: String,
        role: Role,
        required: Role,
        json: bool,
    },
    #[error("could not check the session")]
    Db { source: DbError, json: bool },
}

impl ResponseError for AuthError {
    fn status_code(&self) -> StatusCode {
        match self {
            AuthError::NotLoggedIn { .. } => StatusCode::UNAUTHORIZED,
            AuthError::Forbidden { .. } => StatusCode::FORBIDDEN,
            AuthError::Db { source, .. } if source.is_unavailable() => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            AuthError::Db { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            AuthError::NotLoggedIn { json: true, .. } => HttpResponse::Unauthorized().json(
                ErrorBody::new("not_logged_in", "Inicia sesión para continuar.", None),
            ),
            AuthError::NotLoggedIn { next, expired, .. } => {
                let mut location = format!("/login?next={}", encode(next));
                if *expired {
                    location.push_str("&motivo=expirada");
                }
                HttpResponse::SeeOther()
                    .insert_header((header::LOCATION, location))
                    .finish()
            }
            AuthError::Forbidden { json: true, .. } => HttpResponse::Forbidden().json(
                ErrorBody::new("forbidden", "Tu rol no permite esta acción.", None),
            ),
            AuthError::Forbidden { role, .. } => PageError::Forbidden(format!(
                "Tu rol ({}) no permite ver esta página ni hacer esta acción.",
                role.label()
            ))
            .error_response(),
            AuthError::Db { source, json: true } => {
                if source.is_unavailable() {
                    tracing::warn!(error = ?source, "could not check the session");
                } else {
                    tracing::error!(error = ?source, "could not check the session");
                }
                let (code, message) = if source.is_unavailable() {
                    (
                        "database_unavailable",
                        "La base de datos no responde. Intenta de nuevo.",
                    )
                } else {
                    ("internal", "Error interno.")
                };
                HttpResponse::build(self.status_code()).json(ErrorBody::new(code, message, None))
            }
            AuthError::Db {
                source,
                json: false,
            } => crate::web::error::database_error_page(source),
        }
    }
}

/// What a path keeps as it is in a query string: unreserved characters and `/`.
const PATH_IN_QUERY: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');

/// Percent-encodes a path for a query string.
fn encode(path: &str) -> String {
    percent_encoding::utf8_percent_encode(path, PATH_IN_QUERY).to_string()
}

/// Requests to /api answer in JSON; the rest are pages.
fn wants_json(req: &HttpRequest) -> bool {
    req.path().starts_with("/api/") || req.path().starts_with("/ws/")
}

/// Where to come back after logging in: the page asked for, when it was a
/// page (a GET); the start page otherwise.
fn next_for(req: &HttpRequest) -> String {
    if req.method() == actix_web::http::Method::GET {
        match req.query_string() {
            "" => req.path().to_owned(),
            query => format!("{}?{query}", req.path()),
        }
    } else {
        "/".to_owned()
    }
}

async fn current_user(req: HttpRequest) -> Result<CurrentUser, AuthError> {
    let session = req.get_session();
    let not_logged_in = |expired| AuthError::NotLoggedIn {
        next: next_for(&req),
        expired,
        json: wants_json(&req),
    };
    let Some(login) = session::current(&session) else {
        return Err(not_logged_in(false));
    };
    let json = wants_json(&req);
    let policy = shared::<AuthPolicy>(&req);
    let accounts = shared::<Accounts>(&req);
    let activity = shared::<Activity>(&req);
    let pool = shared::<PgPool>(&req);
    let demo = shared::<Demo>(&req);
    let now = shared::<Clock>(&req).now().timestamp_millis();
    let idle = |last_seen: i64| now - last_seen > policy.idle.as_millis() as i64;
    let expired = |user_id| {
        tracing::info!(user_id, "session expired");
        session::forget_login(&session);
        not_logged_in(true)
    };
    if now - login.logged_in_at > policy.absolute.as_millis() as i64 {
        return Err(expired(login.user_id));
    }
    // The idle limit, from the latest use this hub saw (the cookie's time,
    // or a later request's: a client may keep its first cookie).
    let login_id = login.login_id;
    let seen_here = activity.last_seen(login_id);
    let last_seen = seen_here.map_or(login.last_seen_at, |at| at.max(login.last_seen_at));
    // Idle by the cookie and unseen here (a restart, another hub): the
    // login's row says when it was last used.
    let ask_the_row = idle(last_seen);
    if ask_the_row && seen_here.is_some() {
        return Err(expired(login.user_id));
    }
    // Known and unchanged since it was read: no query.
    let known = if ask_the_row {
        None
    } else {
        accounts.known(login_id)
    };
    let turn = match known {
        Some(_) => None,
        None => accounts.turn_to_read(login_id).await,
    };
    // Another request of the same login may have read it meanwhile.
    let known = known.or_else(|| (!ask_the_row).then(|| accounts.known(login_id)).flatten());
    let user = match known {
        Some(user) => Some(user),
        None => {
            let version = accounts.version();
            let read = crate::db::run(&pool, move |conn| {
                logins::user_and_last_seen(conn, login_id)
            })
            .await
            .and_then(|found| found.map_err(DbError::Query));
            match read {
                Ok(Some((_, row_seen))) if idle(row_seen.timestamp_millis().max(last_seen)) => {
                    return Err(expired(login.user_id));
                }
                Ok(found) => found.map(|(user, _)| {
                    accounts.remember(login_id, user.clone(), version);
                    user
                }),
                // While the database does not answer, nobody can change an
                // account: the login as last heard serves what memory holds.
                Err(source) if source.is_unavailable() => match accounts.last_heard(login_id) {
                    Some(user) => Some(user),
                    None => return Err(AuthError::Db { source, json }),
                },
                Err(source) => return Err(AuthError::Db { source, json }),
            }
        }
    };
    drop(turn);
    let user = match user {
        Some(user)
            if user.id == UserId(login.user_id)
                && !user.is_disabled()
                && user.session_epoch == login.epoch =>
        {
            user
        }
        _ => {
            tracing::info!(user_id = login.user_id, "session revoked");
            activity.forget(login_id);
            session::forget_login(&session);
            return Err(not_logged_in(true));
        }
    };
    // Kept in memory and written to the login's row in the background
    // (`Activity`); the cookie is left as it is, so a response carries no
    // new one (nor its encryption) and a client may keep its first.
    activity.seen(login_id, now);
    Ok(CurrentUser {
        demo: demo.0,
        csrf: csrf::token(&session),
        login: login_id,
        user,
    })
}

impl FromRequest for CurrentUser {
    type Error = AuthError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, AuthError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        Box::pin(current_user(req.clone()))
    }
}

/// The least role a handler needs.
pub trait Requirement {
    const ROLE: Role;
}

pub struct NeedsAdmin;
impl Requirement for NeedsAdmin {
    const ROLE: Role = Role::Admin;
}

pub struct NeedsSupervisor;
impl Requirement for NeedsSupervisor {
    const ROLE: Role = Role::Supervisor;
}

/// A logged-in user whose role includes `R::ROLE`.
pub struct Authorized<R> {
    pub current: CurrentUser,
    _role: PhantomData<R>,
}

pub type AdminUser = Authorized<NeedsAdmin>;
pub type SupervisorUser = Authorized<NeedsSupervisor>;

impl<R> std::ops::Deref for Authorized<R> {
    type Target = CurrentUser;

    fn deref(&self) -> &CurrentUser {
        &self.current
    }
}

impl<R: Requirement + 'static> FromRequest for Authorized<R> {
    type Error = AuthError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, AuthError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let current = current_user(req.clone()).await?;
            if current.user.role.includes(R::ROLE) {
                Ok(Authorized {
                    current,
                    _role: PhantomData,
                })
            } else {
                tracing::warn!(user = %current.user.name, role = %current.user.role, required = %R::ROLE, path = %req.path(), "forbidden");
                Err(AuthError::Forbidden {
                    user: current.user.name,
                    role: current.user.role,
                    required: R::ROLE,
                    json: wants_json(&req),
                })
            }
        })
    }
}
