//! The admin's pages for people: every user with their open logins; a new
//! user; a user's page to disable or enable them, set a new password, set
//! or remove their PIN, and end any open login (when, from where, on what).
//! The same rules and the same audit as `cajahub user …`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;

use super::AdminUser;
use super::AuthPolicy;
use super::accounts::Accounts;
use super::csrf::{CsrfForm, NoFields};
use super::logins::{self, OpenLogin};
use super::password::{Password, Pin};
use super::user::{self, Role, User, UserError, UserId, UserName};
use crate::db::{self, PgPool};
use crate::web::FieldErrors;
use crate::web::{Chrome, PageError, html, local_time, redirect_see_other};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/usuarios", web::get().to(list))
        .route("/admin/usuarios/crear", web::get().to(new_form))
        .route("/admin/usuarios/crear", web::post().to(create))
        .route("/admin/usuarios/{id}", web::get().to(show))
        .route("/admin/usuarios/{id}/{change}", web::post().to(change))
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
async fn list(
    admin: AdminUser,
    pool: web::Data<PgPool>,
    policy: web::Data<AuthPolicy>,
) -> Result<HttpResponse, PageError> {
    let (idle, absolute) = (policy.idle, policy.absolute);
    let users = db::run(&pool, move |conn| {
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
    /// What was refused, by field, after a change that did not go through.
    errors: FieldErrors,
}

impl ShowPage {
    fn local(&self, at: &chrono::DateTime<chrono::Utc>) -> String {
        local_time(at)
    }

    fn error(&self, field: &str) -> Option<&str> {
        self.errors.get(field)
    }

    fn is_self(&self) -> bool {
        self.chrome
            .as_ref()
            .is_some_and(|c| c.user_name == self.user.name)
    }
}

/// What the notice after a change says.
fn notice_of(aviso: &str) -> Option<&'static str> {
    Some(match aviso {
        "cerrada" => "Se cerró el ingreso.",
        "creado" => "Usuario creado.",
        "deshabilitado" => "Usuario deshabilitado: sus ingresos y pantallas se cerraron.",
        "habilitado" => "Usuario habilitado: puede volver a ingresar.",
        "clave" => "Contraseña cambiada: sus ingresos abiertos se cerraron.",
        "pin" => "PIN guardado.",
        "sin-pin" => "PIN quitado.",
        _ => return None,
    })
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
    pool: web::Data<PgPool>,
    policy: web::Data<AuthPolicy>,
    id: web::Path<String>,
    query: web::Query<ShowQuery>,
) -> Result<HttpResponse, PageError> {
    let id = parse_id(&id)?;
    let notice = notice_of(&query.aviso);
    user_page(
        &admin,
        &pool,
        &policy,
        id,
        StatusCode::OK,
        notice,
        FieldErrors::default(),
    )
    .await
}

/// The user's page again, 422, with what was refused beside its field.
async fn refused(
    admin: &AdminUser,
    pool: &PgPool,
    policy: &AuthPolicy,
    id: UserId,
    field: &'static str,
    message: String,
) -> Result<HttpResponse, PageError> {
    let errors = FieldErrors::single(field, message);
    user_page(
        admin,
        pool,
        policy,
        id,
        StatusCode::UNPROCESSABLE_ENTITY,
        None,
        errors,
    )
    .await
}

/// A user's page: the account, its changes and its open logins.
async fn user_page(
    admin: &AdminUser,
    pool: &PgPool,
    policy: &AuthPolicy,
    id: UserId,
    status: StatusCode,
    notice: Option<&'static str>,
    errors: FieldErrors,
) -> Result<HttpResponse, PageError> {
    let (idle, absolute) = (policy.idle, policy.absolute);
    let (user, open) = db::run(pool, move |conn| {
        let user = user::find(conn, id)?;
        Ok::<_, diesel::result::Error>((user, logins::open_of(conn, id, idle, absolute)?))
    })
    .await?
    .map_err(|err| match err {
        diesel::result::Error::NotFound => PageError::NotFound("el usuario"),
        other => other.into(),
    })?;
    html(
        status,
        &ShowPage {
            chrome: admin.chrome(),
            user,
            logins: open,
            own_login: admin.login,
            notice,
            errors,
        },
    )
}

/// The fields of every change on a user's page (each form sends its own).
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct ChangeForm {
    password: String,
    password_again: String,
    pin: String,
    remove: String,
}

/// One change to a user, run in the database.
type UserChange = Box<dyn FnOnce(&mut diesel::PgConnection) -> Result<User, UserError> + Send>;

/// POST /admin/usuarios/{id}/{deshabilitar|habilitar|clave|pin}
async fn change(
    admin: AdminUser,
    pool: web::Data<PgPool>,
    accounts: web::Data<Accounts>,
    policy: web::Data<AuthPolicy>,
    path: web::Path<(String, String)>,
    form: CsrfForm<ChangeForm>,
) -> Result<HttpResponse, PageError> {
    let (id, change) = path.into_inner();
    let id = parse_id(&id)?;
    let form = form.0;
    let name = db::run(&pool, move |conn| user::find(conn, id))
        .await?
        .map_err(|err| match err {
            diesel::result::Error::NotFound => PageError::NotFound("el usuario"),
            other => other.into(),
        })?
        .name
        .to_string();
    let actor = admin.user.actor();
    let (done, aviso): (UserChange, _) = match change.as_str() {
        "deshabilitar" => {
            if id == admin.user.id {
                let message = "No puedes deshabilitar tu propia cuenta.".to_owned();
                return refused(&admin, &pool, &policy, id, "status", message).await;
            }
            (
                Box::new(move |conn| user::disable(conn, &actor, &name)),
                "deshabilitado",
            )
        }
        "habilitar" => (
            Box::new(move |conn| user::enable(conn, &actor, &name)),
            "habilitado",
        ),
        "clave" => {
            if form.password != form.password_again {
                let message = "Las dos contraseñas no coinciden.".to_owned();
                return refused(&admin, &pool, &policy, id, "password", message).await;
            }
            let password = match Password::parse(form.password) {
                Ok(password) => password,
                Err(err) => {
                    return refused(&admin, &pool, &policy, id, "password", err.to_string()).await;
                }
            };
            (
                Box::new(move |conn| user::set_password(conn, &actor, &name, &password)),
                "clave",
            )
        }
        "pin" if !form.remove.is_empty() => (
            Box::new(move |conn| user::set_pin(conn, &actor, &name, None)),
            "sin-pin",
        ),
        "pin" => {
            let pin = match Pin::parse(form.pin.trim().to_owned()) {
                Ok(pin) => pin,
                Err(err) => {
                    return refused(&admin, &pool, &policy, id, "pin", err.to_string()).await;
                }
            };
            (
                Box::new(move |conn| user::set_pin(conn, &actor, &name, Some(&pin))),
                "pin",
            )
        }
        _ => return Err(PageError::NotFound("esa acción")),
    };
    db::run(&pool, done).await?.map_err(user_error)?;
    accounts.changed(id.0);
    tracing::info!(user_id = %id, change = %change, "user changed by an admin");
    Ok(redirect_see_other(&format!(
        "/admin/usuarios/{id}?aviso={aviso}"
    )))
}

fn user_error(err: UserError) -> PageError {
    match err {
        UserError::NameTaken(name) => {
            PageError::Conflict(format!("Ya existe un usuario llamado {name}."))
        }
        UserError::NotFound(_) => PageError::NotFound("el usuario"),
        UserError::Db(err) => err.into(),
        UserError::Hash(err) => {
            tracing::error!(error = %err, "password hash failed");
            PageError::Busy("No se pudo guardar la contraseña. Intenta de nuevo.".into())
        }
    }
}

#[derive(Template)]
#[template(path = "users/new.html")]
struct NewPage {
    chrome: Option<Chrome>,
    form: NewUserForm,
    errors: FieldErrors,
}

impl NewPage {
    fn error(&self, field: &str) -> Option<&str> {
        self.errors.get(field)
    }

    fn roles(&self) -> &'static [Role] {
        Role::ALL
    }
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct NewUserForm {
    name: String,
    role: String,
    password: String,
    password_again: String,
    pin: String,
}

/// GET /admin/usuarios/crear
async fn new_form(admin: AdminUser) -> Result<HttpResponse, PageError> {
    html(
        StatusCode::OK,
        &NewPage {
            chrome: admin.chrome(),
            form: NewUserForm {
                role: Role::Cajero.as_str().to_owned(),
                ..Default::default()
            },
            errors: FieldErrors::default(),
        },
    )
}

/// POST /admin/usuarios/crear: the user, and their PIN if one was given.
async fn create(
    admin: AdminUser,
    pool: web::Data<PgPool>,
    form: CsrfForm<NewUserForm>,
) -> Result<HttpResponse, PageError> {
    let mut form = form.0;
    let mut errors = FieldErrors::default();
    let name = UserName::parse(&form.name).map_err(|err| errors.add("name", err.to_string()));
    let role = form
        .role
        .parse::<Role>()
        .map_err(|_| errors.add("role", "Elige un rol."));
    let password = if form.password != form.password_again {
        errors.add("password", "Las dos contraseñas no coinciden.");
        Err(())
    } else {
        Password::parse(std::mem::take(&mut form.password))
            .map_err(|err| errors.add("password", err.to_string()))
    };
    let pin = match form.pin.trim() {
        "" => Ok(None),
        typed => Pin::parse(typed.to_owned())
            .map(Some)
            .map_err(|err| errors.add("pin", err.to_string())),
    };
    let (Ok(name), Ok(role), Ok(password), Ok(pin)) = (name, role, password, pin) else {
        return refused_new(&admin, form, errors);
    };
    let actor = admin.user.actor();
    let created = db::run(&pool, move |conn| {
        conn.build_transaction().run(|conn| {
            let user = user::create(conn, &actor, &name, role, &password)?;
            match pin {
                Some(pin) => user::set_pin(conn, &actor, name.as_str(), Some(&pin)),
                None => Ok(user),
            }
        })
    })
    .await?;
    match created {
        Ok(user) => {
            tracing::info!(user_id = %user.id, "user created by an admin");
            Ok(redirect_see_other(&format!(
                "/admin/usuarios/{}?aviso=creado",
                user.id
            )))
        }
        Err(UserError::NameTaken(taken)) => {
            let message = format!("Ya existe un usuario llamado {taken}.");
            refused_new(&admin, form, FieldErrors::single("name", message))
        }
        Err(err) => Err(user_error(err)),
    }
}

fn refused_new(
    admin: &AdminUser,
    mut form: NewUserForm,
    errors: FieldErrors,
) -> Result<HttpResponse, PageError> {
    // Secrets are never sent back.
    form.password.clear();
    form.password_again.clear();
    form.pin.clear();
    form.name = form.name.chars().filter(|c| !c.is_control()).collect();
    html(
        StatusCode::UNPROCESSABLE_ENTITY,
        &NewPage {
            chrome: admin.chrome(),
            form,
            errors,
        },
    )
}

/// POST /admin/usuarios/{id}/ingresos/{login}/cerrar: that browser is
/// logged out at its next request, and its live screens within a heartbeat.
async fn end_login(
    admin: AdminUser,
    pool: web::Data<PgPool>,
    accounts: web::Data<Accounts>,
    path: web::Path<(String, String)>,
    _form: CsrfForm<NoFields>,
) -> Result<HttpResponse, PageError> {
    let (id, login) = path.into_inner();
    let id = parse_id(&id)?;
    let login: uuid::Uuid = login
        .parse()
        .map_err(|_| PageError::NotFound("el ingreso"))?;
    let actor = admin.user.actor();
    let ended = db::run(&pool, move |conn| {
        logins::end_by_admin(conn, &actor, id, login)
    })
    .await??;
    if !ended {
        return Err(PageError::NotFound("un ingreso abierto de ese usuario"));
    }
    accounts.changed(id.0);
    tracing::info!(user_id = %id, %login, "login ended by an admin");
    Ok(redirect_see_other(&format!(
        "/admin/usuarios/{id}?aviso=cerrada"
    )))
}
