//! The admin pages for cajas: list, create, edit, archive and restore.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::CajaActors;
use super::CajaError;
use super::commands::UpdateConfig;
use crate::auth::AdminUser;
use crate::auth::csrf::{CsrfForm, NoFields};
use crate::cajas::domain::{CajaType, OperationalStatus, PaymentProvider};
use crate::cajas::form::CajaForm;
use crate::cajas::model::{Caja, CajaId, SaveError};
use crate::cajas::terminal::SimulatedBehavior;
use crate::db::{self, PgPool};
use crate::web::FieldErrors;
use crate::web::{Chrome, PageError, html, redirect_see_other};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/cajas", web::get().to(list_without_slash))
        .service(
            web::scope("/admin/cajas")
                .route("/", web::get().to(list))
                .route("/crear", web::get().to(new_form))
                .route("/crear", web::post().to(create))
                .route("/{id}/editar", web::get().to(edit_form))
                .route("/{id}/editar", web::post().to(update))
                .route("/{id}/archivar", web::get().to(archive_form))
                .route("/{id}/archivar", web::post().to(archive))
                .route("/{id}/restaurar", web::post().to(restore)),
        );
}

const LIST_URL: &str = "/admin/cajas/";
fn parse_id(raw: &str) -> Result<CajaId, PageError> {
    raw.parse().map_err(|_| PageError::NotFound("la caja"))
}

async fn find(pool: &PgPool, id: CajaId) -> Result<Caja, PageError> {
    db::run(pool, move |conn| Caja::find(conn, id))
        .await?
        .map_err(|err| match err {
            diesel::result::Error::NotFound => PageError::NotFound("la caja"),
            other => other.into(),
        })
}

// ------------------------------------------------------------------- list

#[derive(Template)]
#[template(path = "cajas/list.html")]
struct ListPage {
    chrome: Option<Chrome>,
    active: Vec<Caja>,
    archived: Vec<Caja>,
    notice: Option<String>,
    /// The cajas with a session open: archiving waits for its closing.
    open: Vec<CajaId>,
}

impl ListPage {
    fn is_open(&self, caja: &Caja) -> bool {
        self.open.contains(&caja.id)
    }
}

/// Whether caja `id` has a session open now (as its actor holds it).
fn has_open_session(registers: &CajaActors, id: CajaId) -> bool {
    registers
        .snapshot(id)
        .is_some_and(|snapshot| snapshot.session.is_some())
}

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    aviso: Option<String>,
    caja: Option<i32>,
}

/// GET /admin/cajas
pub async fn list_without_slash() -> HttpResponse {
    HttpResponse::PermanentRedirect()
        .insert_header(("Location", LIST_URL))
        .finish()
}

/// GET /admin/cajas/
pub async fn list(
    admin: AdminUser,
    pool: web::Data<PgPool>,
    registers: web::Data<CajaActors>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, PageError> {
    let cajas = db::run(&pool, Caja::list).await??;
    let named = query
        .caja
        .and_then(|id| cajas.iter().find(|c| c.id == CajaId(id)))
        .map(|c| c.name.clone());
    let notice = match (query.aviso.as_deref(), named) {
        (Some("creada"), Some(name)) => Some(format!("Caja «{name}» creada.")),
        (Some("guardada"), Some(name)) => Some(format!("Cambios de «{name}» guardados.")),
        (Some("archivada"), Some(name)) => Some(format!("Caja «{name}» archivada.")),
        (Some("restaurada"), Some(name)) => Some(format!("Caja «{name}» restaurada.")),
        _ => None,
    };
    let open = cajas
        .iter()
        .map(|caja| caja.id)
        .filter(|id| has_open_session(&registers, *id))
        .collect();
    let (archived, active) = cajas.into_iter().partition(Caja::is_archived);
    html(
        StatusCode::OK,
        &ListPage {
            chrome: admin.chrome(),
            active,
            archived,
            notice,
            open,
        },
    )
}

// ------------------------------------------------------------ create, edit

#[derive(Template)]
#[template(path = "cajas/form.html")]
struct FormPage {
    chrome: Option<Chrome>,
    title: String,
    action: String,
    form: CajaForm,
    errors: FieldErrors,
    /// A message above the form, e.g. that someone else saved first.
    warning: Option<String>,
    /// The caja being edited, as stored now.
    caja: Option<Caja>,
}

impl FormPage {
    fn create(admin: &AdminUser, form: CajaForm, errors: FieldErrors) -> Self {
        Self {
            chrome: admin.chrome(),
            title: "Crear caja".into(),
            action: "/admin/cajas/crear".into(),
            form,
            errors,
            warning: None,
            caja: None,
        }
    }

    fn edit(admin: &AdminUser, caja: Caja, form: CajaForm, errors: FieldErrors) -> Self {
        Self {
            chrome: admin.chrome(),
            title: format!("Editar caja «{}»", caja.name),
            action: format!("/admin/cajas/{}/editar", caja.id),
            form,
            errors,
            warning: None,
            caja: Some(caja),
        }
    }

    fn register_types(&self) -> &'static [CajaType] {
        CajaType::ALL
    }

    fn providers(&self) -> &'static [PaymentProvider] {
        PaymentProvider::ALL
    }

    fn statuses(&self) -> &'static [OperationalStatus] {
        OperationalStatus::ALL
    }

    fn behaviors(&self) -> &'static [SimulatedBehavior] {
        SimulatedBehavior::ALL
    }

    /// Each provider's simulated behavior field: (field, provider, value).
    fn simulated_behaviors(&self) -> [(&'static str, &'static str, &str); 2] {
        [
            ("terminal_getnet", "GETNET", &self.form.terminal_getnet),
            ("terminal_klap", "KLAP", &self.form.terminal_klap),
        ]
    }

    /// The message for `field`, or "" (askama cannot match an Option<&str> neatly).
    fn error(&self, field: &str) -> &str {
        self.errors.get(field).unwrap_or("")
    }

    fn invalid(&self, field: &str) -> bool {
        self.errors.get(field).is_some()
    }
}

/// The status a form page is sent with when it comes back with errors.
const INVALID_FORM: StatusCode = StatusCode::UNPROCESSABLE_ENTITY;

/// GET /admin/cajas/crear
pub async fn new_form(admin: AdminUser) -> Result<HttpResponse, PageError> {
    html(
        StatusCode::OK,
        &FormPage::create(&admin, CajaForm::blank(), FieldErrors::default()),
    )
}

/// POST /admin/cajas/crear
#[tracing::instrument(skip_all)]
pub async fn create(
    admin: AdminUser,
    registers: web::Data<CajaActors>,
    CsrfForm(form): CsrfForm<CajaForm>,
) -> Result<HttpResponse, PageError> {
    let actor = admin.user.actor();
    let config = match form.parse() {
        Ok(config) => config,
        Err(errors) => return html(INVALID_FORM, &FormPage::create(&admin, form, errors)),
    };
    match registers.create(actor, config).await {
        Ok(caja) => {
            tracing::info!(register_id = %caja.id, code = %caja.code, "caja created");
            Ok(redirect_see_other(&format!(
                "{LIST_URL}?aviso=creada&caja={}",
                caja.id
            )))
        }
        Err(CajaError::Config(SaveError::DuplicateCode(code))) => {
            let errors = FieldErrors::single("code", duplicate_code_message(&code));
            html(INVALID_FORM, &FormPage::create(&admin, form, errors))
        }
        Err(err) => Err(unexpected(err)),
    }
}

/// GET /admin/cajas/{id}/editar
pub async fn edit_form(
    admin: AdminUser,
    pool: web::Data<PgPool>,
    id: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let caja = find(&pool, parse_id(&id)?).await?;
    if caja.is_archived() {
        return Err(archived_conflict(&caja));
    }
    let form = CajaForm::from_caja(&caja);
    html(
        StatusCode::OK,
        &FormPage::edit(&admin, caja, form, FieldErrors::default()),
    )
}

/// POST /admin/cajas/{id}/editar
#[tracing::instrument(skip_all, fields(register_id = %id))]
pub async fn update(
    admin: AdminUser,
    pool: web::Data<PgPool>,
    registers: web::Data<CajaActors>,
    id: web::Path<String>,
    CsrfForm(form): CsrfForm<CajaForm>,
) -> Result<HttpResponse, PageError> {
    let id = parse_id(&id)?;
    let actor = admin.user.actor();
    let parsed = form
        .expected_version()
        .and_then(|version| Ok((version, form.parse()?)));
    let (version, config) = match parsed {
        Ok(valid) => valid,
        Err(errors) => {
            let caja = find(&pool, id).await?;
            return html(INVALID_FORM, &FormPage::edit(&admin, caja, form, errors));
        }
    };
    let saved = if registers.get(id).is_some() {
        let msg = UpdateConfig {
            actor,
            expected_version: version,
            config,
        };
        registers.ask(id, msg).await
    } else {
        // No actor: the caja is archived or does not exist; the database says which.
        db::run(&pool, move |conn| {
            Caja::update(conn, &actor, id, version, &config)
        })
        .await?
        .map_err(CajaError::from)
    };
    match saved {
        Ok(caja) => {
            tracing::info!(code = %caja.code, version = caja.version, "caja saved");
            Ok(redirect_see_other(&format!(
                "{LIST_URL}?aviso=guardada&caja={}",
                caja.id
            )))
        }
        Err(CajaError::Config(SaveError::DuplicateCode(code))) => {
            let caja = find(&pool, id).await?;
            let errors = FieldErrors::single("code", duplicate_code_message(&code));
            html(INVALID_FORM, &FormPage::edit(&admin, caja, form, errors))
        }
        Err(CajaError::Config(SaveError::Stale { current, .. })) => {
            tracing::info!(
                expected = version,
                current = current.version,
                "stale caja edit refused"
            );
            // Keep what this admin typed, but base a new save on the current
            // version: saving again is now a deliberate choice.
            let form = CajaForm {
                version: current.version.to_string(),
                ..form
            };
            let mut page = FormPage::edit(&admin, *current, form, FieldErrors::default());
            page.warning = Some(
                "Otra persona guardó cambios en esta caja mientras la editabas. Tus cambios NO se \
                 guardaron: revisa los valores actuales (abajo) y guarda de nuevo si quieres \
                 reemplazarlos."
                    .into(),
            );
            html(StatusCode::CONFLICT, &page)
        }
        Err(CajaError::Config(SaveError::Archived)) => Err(PageError::Conflict(
            "La caja fue archivada mientras la editabas; restáurala para editarla.".into(),
        )),
        Err(CajaError::Config(SaveError::NotFound)) => Err(PageError::NotFound("la caja")),
        Err(err) => Err(unexpected(err)),
    }
}

fn duplicate_code_message(code: &str) -> String {
    format!("Ya existe una caja con el código {code}; elige otro.")
}

fn archived_conflict(caja: &Caja) -> PageError {
    PageError::Conflict(format!(
        "La caja «{}» está archivada; restáurala para editarla.",
        caja.name
    ))
}

fn unexpected(err: CajaError) -> PageError {
    match err {
        CajaError::Config(SaveError::Db(err)) => err.into(),
        CajaError::Config(SaveError::Unavailable(err)) => err.into(),
        CajaError::Config(other) => PageError::Conflict(other.to_string()),
        CajaError::UnknownCaja => PageError::NotFound("la caja"),
        other => other.into(),
    }
}

// ------------------------------------------------------- archive, restore

#[derive(Template)]
#[template(path = "cajas/archive.html")]
struct ArchivePage {
    chrome: Option<Chrome>,
    caja: Caja,
    error: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ArchiveForm {
    version: String,
}

const OPEN_SESSION: &str = "La caja tiene una sesión abierta: ciérrala antes de archivar la caja.";

/// GET /admin/cajas/{id}/archivar: asks for confirmation.
pub async fn archive_form(
    admin: AdminUser,
    pool: web::Data<PgPool>,
    registers: web::Data<CajaActors>,
    id: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let caja = find(&pool, parse_id(&id)?).await?;
    if caja.is_archived() {
        return Ok(redirect_see_other(LIST_URL));
    }
    // Said before the click, not after it.
    let error = has_open_session(&registers, caja.id).then(|| OPEN_SESSION.to_owned());
    html(
        StatusCode::OK,
        &ArchivePage {
            chrome: admin.chrome(),
            caja,
            error,
        },
    )
}

/// POST /admin/cajas/{id}/archivar
#[tracing::instrument(skip_all, fields(register_id = %id))]
pub async fn archive(
    admin: AdminUser,
    pool: web::Data<PgPool>,
    registers: web::Data<CajaActors>,
    id: web::Path<String>,
    CsrfForm(form): CsrfForm<ArchiveForm>,
) -> Result<HttpResponse, PageError> {
    let id = parse_id(&id)?;
    let actor = admin.user.actor();
    let Ok(version) = form.version.trim().parse::<i32>() else {
        return Err(PageError::BadRequest(
            "Falta la versión de la caja: vuelve a abrir la página de archivar.".into(),
        ));
    };
    let refused = |caja: Caja, message: &str| {
        html(
            StatusCode::CONFLICT,
            &ArchivePage {
                chrome: admin.chrome(),
                caja,
                error: Some(message.to_owned()),
            },
        )
    };
    let archived = if registers.get(id).is_some() {
        registers.archive(actor, id, version).await
    } else {
        // No actor: archived already, or no such caja.
        db::run(&pool, move |conn| Caja::archive(conn, &actor, id, version))
            .await?
            .map_err(CajaError::from)
    };
    match archived {
        Ok(caja) => {
            tracing::info!(code = %caja.code, "caja archived");
            Ok(redirect_see_other(&format!(
                "{LIST_URL}?aviso=archivada&caja={}",
                caja.id
            )))
        }
        Err(CajaError::Config(SaveError::Stale { current, .. })) => refused(
            *current,
            "Otra persona cambió esta caja hace un momento. Revisa sus datos y confirma de nuevo.",
        ),
        Err(CajaError::Config(SaveError::OpenSession)) => {
            refused(find(&pool, id).await?, OPEN_SESSION)
        }
        Err(CajaError::Config(SaveError::Archived)) => Ok(redirect_see_other(LIST_URL)),
        Err(CajaError::Config(SaveError::NotFound)) => Err(PageError::NotFound("la caja")),
        Err(err) => Err(unexpected(err)),
    }
}

/// POST /admin/cajas/{id}/restaurar
#[tracing::instrument(skip_all, fields(register_id = %id))]
pub async fn restore(
    admin: AdminUser,
    registers: web::Data<CajaActors>,
    id: web::Path<String>,
    _form: CsrfForm<NoFields>,
) -> Result<HttpResponse, PageError> {
    let id = parse_id(&id)?;
    let actor = admin.user.actor();
    match registers.restore(actor, id).await {
        Ok(caja) => {
            tracing::info!(code = %caja.code, "caja restored");
            Ok(redirect_see_other(&format!(
                "{LIST_URL}?aviso=restaurada&caja={}",
                caja.id
            )))
        }
        Err(CajaError::Config(SaveError::NotFound)) => Err(PageError::NotFound("la caja")),
        Err(err) => Err(unexpected(err)),
    }
}

// ------------------------------------------------------------ display

impl Caja {
    /// The fallback column of the list, e.g. "Sí · 60 s · 2 celulares".
    pub fn fallback_summary(&self) -> String {
        let policy = self.fallback_policy;
        if !policy.enabled {
            return "No".into();
        }
        let phones = match policy.backup_phones.get() {
            1 => "1 celular".to_string(),
            n => format!("{n} celulares"),
        };
        format!("Sí · {} s · {phones}", policy.max_seconds.get())
    }

    pub fn backup_label(&self) -> &'static str {
        self.payment_provider_backup
            .map_or("—", PaymentProvider::label)
    }

    pub fn status_class(&self) -> &'static str {
        match self.operational_status {
            OperationalStatus::Active => "ok",
            OperationalStatus::Maintenance => "warn",
            OperationalStatus::Disabled => "off",
        }
    }
}
