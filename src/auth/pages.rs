//! Logging in and out, and the start page that greets whoever is logged in.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use chrono::{DateTime, Utc};
use serde::Deserialize;

use uuid::Uuid;

use super::AuthPolicy;
use super::accounts::Accounts;
use super::csrf::{self, CsrfForm, NoFields};
use super::device::DeviceCookie;
use super::logins;
use super::password::Checks;
use super::throttle::{self, Decision};
use super::user::{self, Role, User};
use super::{CurrentUser, session};
use crate::clock::Clock;
use crate::db::{self, PgPool};
use crate::web::{Chrome, PageError, client_address, html, redirect_see_other};

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
    /// How to make the first user here (`cargo run -- user add` in a checkout).
    add_user: &'static str,
    /// On a caja's device, the cashiers to pick from (PIN login).
    cashiers: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct LoginQuery {
    next: String,
    motivo: String,
    /// `otro`: type a name even on a caja's device.
    usuario: String,
}

/// The longest login name typed that is worth looking up.
const MAX_NAME_CHARS: usize = 60;

/// Only a path of this hub, in characters that stay a path whatever reads
/// them: never `//elsewhere`, `/\elsewhere`, `https://…`, nor a control
/// character, a space or a percent-encoded one (`/%09/evil.example` reads
/// as `//evil.example` in a browser; a line break would break the header).
fn safe_next(next: &str) -> String {
    let safe_char = |c: char| c.is_ascii_alphanumeric() || "/-._~?=&%+:@,".contains(c);
    let encodes_control = next.to_ascii_lowercase().split('%').skip(1).any(|escape| {
        escape.starts_with('0')
            || escape.starts_with('1')
            || escape.starts_with("7f")
            || escape.starts_with("20")
    });
    let mut chars = next.chars();
    let well_formed = chars.next() == Some('/')
        && !matches!(chars.next(), Some('/' | '\\'))
        && next.chars().all(safe_char)
        && !encodes_control;
    if well_formed {
        next.to_owned()
    } else {
        "/".to_owned()
    }
}

async fn no_users(pool: &PgPool) -> Result<bool, PageError> {
    Ok(!db::run(pool, user::any_exists).await??)
}

/// GET /login
pub async fn login_form(
    pool: web::Data<PgPool>,
    device: web::Data<DeviceCookie>,
    session: Session,
    request: HttpRequest,
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
            no_users: no_users(&pool).await?,
            add_user: super::cli::user_add_command(),
            cashiers: cashiers_to_pick(&pool, &device, &request, &query.usuario).await?,
        },
    )
}

/// A caja's device offers its cashiers to pick, unless asked for another
/// user (`?usuario=otro`); anywhere else the name is typed.
async fn cashiers_to_pick(
    pool: &PgPool,
    device: &DeviceCookie,
    request: &HttpRequest,
    usuario: &str,
) -> Result<Vec<String>, PageError> {
    if usuario == "otro" || !device.is_marked(request) {
        return Ok(Vec::new());
    }
    Ok(crate::db::run(pool, user::cashiers_with_pin).await??)
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
    Accepted(User, Uuid),
    Refused,
    Disabled,
    Locked(DateTime<Utc>),
}

/// Checks a name and a password (or a cashier's PIN). The attempt is
/// recorded while its secret is checked and counted as a failure when it
/// is one; one that could pass the limit waits for those in flight (so
/// parallel attempts cannot race past the lockout, and parallel right ones
/// are not refused). The check runs on the password checkers (so a flood
/// of logins cannot take the hub's memory), and it does the same work
/// whatever the account: unknown names, accounts with or without a PIN,
/// all answer as slowly and the same way.
async fn attempt(
    pool: &PgPool,
    limits: &throttle::LoginLimits,
    checks: &Checks,
    now: DateTime<Utc>,
    account: String,
    secret: String,
    origin: logins::Origin,
) -> Result<Attempt, PageError> {
    let busy = || {
        PageError::Busy("Hay muchos ingresos a la vez. Intenta de nuevo en unos segundos.".into())
    };
    let decided =
        throttle::admit_when_decided(pool, *limits, &account, &origin.address, now).await?;
    let admitted = match decided {
        Decision::Admitted(admitted) => admitted,
        Decision::Locked(until) => return Ok(Attempt::Locked(until)),
        Decision::Busy => return Err(busy()),
    };
    let name = account.clone();
    let user = db::run(pool, move |conn| user::find_by_name(conn, &name)).await??;
    let hashes = user.as_ref().map(|user| {
        let pin = user.pin_hash.clone().filter(|_| user.role == Role::Cajero);
        (user.password_hash.clone(), pin)
    });
    let (password_hash, pin_hash) = hashes.unzip();
    let checked = checks
        .login(secret, password_hash, pin_hash.flatten())
        .await;
    let Ok((password, pin)) = checked else {
        db::run(pool, move |conn| throttle::withdrawn(conn, admitted)).await??;
        return Err(busy());
    };
    let Some(user) = user.filter(|_| password || pin) else {
        db::run(pool, move |conn| throttle::failed(conn, admitted, now)).await??;
        return Ok(Attempt::Refused);
    };
    db::run(pool, move |conn| {
        throttle::succeeded(conn, admitted, &account)?;
        if user.is_disabled() {
            return Ok(Attempt::Disabled);
        }
        let login = logins::open(conn, user.id, &origin)?;
        Ok::<_, diesel::result::Error>(Attempt::Accepted(user, login))
    })
    .await?
    .map_err(PageError::from)
}

/// POST /login
#[tracing::instrument(skip_all, fields(user = %form.0.name.trim()))]
// Each argument is a piece the handler uses (rule: handlers take what they use).
#[allow(clippy::too_many_arguments)]
pub async fn log_in(
    pool: web::Data<PgPool>,
    policy: web::Data<AuthPolicy>,
    checks: web::Data<Checks>,
    device: web::Data<DeviceCookie>,
    clock: web::Data<Clock>,
    session: Session,
    request: HttpRequest,
    form: CsrfForm<LoginForm>,
) -> Result<HttpResponse, PageError> {
    let LoginForm { name, secret, next } = form.0;
    let next = safe_next(&next);
    let cashiers = cashiers_to_pick(&pool, &device, &request, "").await?;
    let refuse = |status, message: String| -> Result<HttpResponse, PageError> {
        html(
            status,
            &LoginPage {
                chrome: None,
                csrf: csrf::token(&session),
                name: name.chars().filter(|c| !c.is_control()).collect(),
                next: next.clone(),
                message: Some(message),
                notice: None,
                no_users: false,
                add_user: super::cli::user_add_command(),
                cashiers: cashiers.clone(),
            },
        )
    };
    let account = match crate::text::line(&name, MAX_NAME_CHARS) {
        Ok(account) => account.to_lowercase(),
        Err(err) => {
            return refuse(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("El nombre de usuario {err}."),
            );
        }
    };
    let now = clock.now();
    let origin = logins::Origin {
        address: client_address(&request, &policy.trusted_proxies),
        user_agent: request
            .headers()
            .get(actix_web::http::header::USER_AGENT)
            .and_then(|agent| agent.to_str().ok())
            .unwrap_or_default()
            .to_owned(),
    };
    match attempt(&pool, &policy.limits, &checks, now, account, secret, origin).await? {
        Attempt::Accepted(user, login) => {
            session::log_in(&session, &user, login, now.timestamp_millis());
            tracing::info!(user_id = %user.id, role = %user.role, "logged in");
            // A cashier's place is the POS (of their open session, or the
            // form that opens one), not a page of links.
            let next = if next == "/" && user.role == Role::Cajero {
                "/caja/pos".to_owned()
            } else {
                next
            };
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
                    throttle::wait_message(until - now)
                ),
            )
        }
    }
}

/// POST /logout: the login ends on the server too, so a copy of the
/// cookie is worth nothing afterwards.
pub async fn log_out(
    current: CurrentUser,
    pool: web::Data<PgPool>,
    accounts: web::Data<Accounts>,
    session: Session,
    _form: CsrfForm<NoFields>,
) -> Result<HttpResponse, PageError> {
    let login = current.login;
    db::run(&pool, move |conn| {
        logins::end(conn, login, logins::EndReason::LoggedOut, None)
    })
    .await??;
    accounts.changed(current.user.id.0);
    tracing::info!(user_id = %current.user.id, "logged out");
    session::log_out(&session);
    Ok(redirect_see_other("/login?motivo=salida"))
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
        assert_eq!(super::safe_next("/caja/pos?caja=1"), "/caja/pos?caja=1");
        for evil in [
            "/\t/evil.example",
            "/%09/evil.example",
            "/\r\nX:1",
            "/%0d%0aX:1",
            "/ /x",
            "/%7F",
            "/%20/evil",
            "/a\u{0}b",
        ] {
            assert_eq!(super::safe_next(evil), "/", "{evil:?}");
        }
    }
}
