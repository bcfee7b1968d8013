//! Logging in and out, and the start page that greets whoever is logged in.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::csrf::{self, CsrfForm, NoFields};
use super::password;
use super::throttle;
use super::user::{self, Role, User};
use super::{CurrentUser, session};
use crate::db;
use crate::startup::AppState;
use crate::web::{Chrome, PageError, html, redirect_see_other};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/login", web::get().to(login_form))
        .route("/login", web::post().to(log_in))
        .route("/logout", web::post().to(log_out))
        .route("/", web::get().to(home));
}

#[derive(Template)]
#[template(path = "auth/login.html")]
struct LoginPage {
    chrome: Option<Chrome>,
    csrf: String,
    name: String,
    next: String,
    message: Option<String>,
    notice: Option<String>,
    no_users: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct LoginQuery {
    next: String,
    motivo: String,
}

/// Only a path of this hub: never `//elsewhere` or `https://…`.
fn safe_next(next: &str) -> String {
    if next.starts_with('/') && !next.starts_with("//") && !next.contains('\\') {
        next.to_owned()
    } else {
        "/".to_owned()
    }
}

async fn no_users(state: &AppState) -> Result<bool, PageError> {
    Ok(!db::run(&state.pool, user::any_exists).await??)
}

/// GET /login
pub async fn login_form(
    state: web::Data<AppState>,
    session: Session,
    query: web::Query<LoginQuery>,
) -> Result<HttpResponse, PageError> {
    let notice = match query.motivo.as_str() {
        "expirada" => Some("Tu sesión expiró. Ingresa de nuevo para continuar.".to_owned()),
        "salida" => Some("Cerraste tu sesión.".to_owned()),
        _ => None,
    };
    html(
        StatusCode::OK,
        &LoginPage {
            chrome: None,
            csrf: csrf::token(&session),
            name: String::new(),
            next: safe_next(&query.next),
            message: None,
            notice,
            no_users: no_users(&state).await?,
        },
    )
}

#[derive(Deserialize)]
#[serde(default)]
#[derive(Default)]
pub struct LoginForm {
    name: String,
    secret: String,
    next: String,
}

// The secret never reaches a log.
impl std::fmt::Debug for LoginForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginForm")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

enum Attempt {
    Accepted(User),
    Refused,
    Disabled,
    Locked(DateTime<Utc>),
}

/// Checks a name and a password (or a cashier's PIN). Unknown names cost
/// the same time as wrong passwords and get the same answer.
fn attempt(
    conn: &mut diesel::PgConnection,
    limits: &throttle::LoginLimits,
    name: &str,
    secret: &str,
    address: &str,
) -> diesel::QueryResult<Attempt> {
    let account = name.trim().to_lowercase();
    if let Some(until) = throttle::locked_until(conn, limits, &account, address)? {
        return Ok(Attempt::Locked(until));
    }
    let user = user::find_by_name(conn, &account)?;
    let matches = match &user {
        Some(user) => {
            password::verify(secret, &user.password_hash)
                || (user.role == Role::Cajero
                    && user
                        .pin_hash
                        .as_deref()
                        .is_some_and(|pin| password::verify(secret, pin)))
        }
        None => {
            password::verify_nothing(secret);
            false
        }
    };
    match user {
        Some(user) if matches => {
            throttle::forget_account(conn, &account)?;
            Ok(if user.is_disabled() {
                Attempt::Disabled
            } else {
                Attempt::Accepted(user)
            })
        }
        _ => {
            throttle::record_failure(conn, limits, &account, address)?;
            Ok(Attempt::Refused)
        }
    }
}

/// POST /login
#[tracing::instrument(skip_all, fields(user = %form.0.name.trim()))]
pub async fn log_in(
    state: web::Data<AppState>,
    session: Session,
    request: HttpRequest,
    form: CsrfForm<LoginForm>,
) -> Result<HttpResponse, PageError> {
    let LoginForm { name, secret, next } = form.0;
    let next = safe_next(&next);
    let address = request
        .peer_addr()
        .map(|addr| addr.ip().to_string())
        .unwrap_or_else(|| "desconocida".into());
    let limits = state.auth.limits;
    let typed = name.clone();
    let outcome = db::run(&state.pool, move |conn| {
        attempt(conn, &limits, &typed, &secret, &address)
    })
    .await??;
    let refuse = |status, message: String| -> Result<HttpResponse, PageError> {
        html(
            status,
            &LoginPage {
                chrome: None,
                csrf: csrf::token(&session),
                name: name.clone(),
                next: next.clone(),
                message: Some(message),
                notice: None,
                no_users: false,
            },
        )
    };
    match outcome {
        Attempt::Accepted(user) => {
            session::log_in(&session, &user);
            tracing::info!(user_id = %user.id, role = %user.role, "logged in");
            Ok(redirect_see_other(&next))
        }
        Attempt::Refused => {
            tracing::warn!("login refused");
            refuse(
                StatusCode::UNAUTHORIZED,
                "Usuario o contraseña incorrectos.".into(),
            )
        }
        Attempt::Disabled => {
            tracing::warn!("login of a disabled user");
            refuse(
                StatusCode::FORBIDDEN,
                "Tu cuenta está deshabilitada. Pide a un administrador que la habilite.".into(),
            )
        }
        Attempt::Locked(until) => {
            tracing::warn!(%until, "login locked");
            refuse(
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "Demasiados intentos fallidos. Podrás intentar de nuevo en {}.",
                    throttle::wait_message(until)
                ),
            )
        }
    }
}

/// POST /logout
pub async fn log_out(
    current: CurrentUser,
    session: Session,
    _form: CsrfForm<NoFields>,
) -> HttpResponse {
    tracing::info!(user_id = %current.user.id, "logged out");
    session::log_out(&session);
    redirect_see_other("/login?motivo=salida")
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    chrome: Option<Chrome>,
    name: String,
    role: Role,
}

/// GET /: what this user can do here.
pub async fn home(current: CurrentUser) -> Result<HttpResponse, PageError> {
    html(
        StatusCode::OK,
        &HomePage {
            chrome: current.chrome(),
            name: current.user.name.clone(),
            role: current.user.role,
        },
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn next_stays_on_this_hub() {
        assert_eq!(super::safe_next("/admin/cajas/"), "/admin/cajas/");
        assert_eq!(super::safe_next("//evil.example/"), "/");
        assert_eq!(super::safe_next("https://evil.example/"), "/");
        assert_eq!(super::safe_next("/\\evil.example"), "/");
        assert_eq!(super::safe_next(""), "/");
    }
}
