//! The session pages of the runbook's PASO 6.2: `/caja/session/open`,
//! `/caja/session/close`, and each session's own page with its totals and,
//! once closed, its cuadratura.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use diesel::{PgConnection, QueryResult};
use serde::Deserialize;

use super::Audience;
use super::CajaActors;
use super::CajaError;
use super::commands::{CloseSession, OpenSession, VoidSale};
use super::ledger::{self, ClosingExtras, MovementLine, ProductSold, SaleLine};
use super::live::{LiveSession, of_method};
use super::refused_close;
use super::snapshot::Snapshot;
use super::store::{self, SessionSummary};
use crate::auth::csrf::CsrfForm;
use crate::auth::device::DeviceCookie;
use crate::auth::user::{Role, User};
use crate::auth::{CurrentUser, SupervisorUser};
use crate::cajas::CajaId;
use crate::cajas::domain::OperationalStatus;
use crate::db::{self, PgPool};
use crate::money::{self, Pesos};
use crate::payments::attempt::CardAttempt;
use crate::payments::method::PaymentMethod;
use crate::payments::reconcile::{self, Reconciliation};
use crate::web::FieldErrors;
use crate::web::{Chrome, PageError, html, local_time, redirect_see_other};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/caja/session/open", web::get().to(open_form))
        .route("/caja/session/open", web::post().to(open))
        .route("/caja/session/close", web::get().to(close_form))
        .route("/caja/session/close", web::post().to(close))
        .route("/caja/session/{id}", web::get().to(session_page))
        .route(
            "/caja/session/{id}/ventas/{sale}/anular",
            web::post().to(void_from_page),
        );
}

/// Bills and coins in circulation, for counting cash by denomination.
pub const DENOMINATIONS: [i64; 9] = [20_000, 10_000, 5_000, 2_000, 1_000, 500, 100, 50, 10];

// ------------------------------------------------------------------ open

#[derive(Template)]
#[template(path = "sessions/open.html")]
struct OpenPage {
    chrome: Option<Chrome>,
    jornada_open: bool,
    cajas: Vec<(CajaId, String, String)>,
    form: OpenForm,
    errors: FieldErrors,
    message: Option<String>,
}

impl OpenPage {
    fn error(&self, field: &str) -> &str {
        self.errors.get(field).unwrap_or("")
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct OpenForm {
    register_id: String,
    initial_cash: String,
    /// The form's idempotency key: sending it twice opens one session.
    key: String,
}

/// The idempotency key a form came with: none from a page older than
/// keys, refused when it is not a UUID (the page was tampered with).
fn sent_key(typed: &str) -> Result<Option<uuid::Uuid>, PageError> {
    match typed.trim() {
        "" => Ok(None),
        typed => uuid::Uuid::parse_str(typed).map(Some).map_err(|_| {
            PageError::BadRequest(
                "La clave del formulario no es válida: vuelve a cargar la página.".into(),
            )
        }),
    }
}

/// A form's idempotency key: the one it was sent with, or a new one for a
/// form about to be shown.
fn form_key(typed: &str) -> String {
    match uuid::Uuid::parse_str(typed.trim()) {
        Ok(key) => key.to_string(),
        Err(_) => uuid::Uuid::new_v4().to_string(),
    }
}

async fn render_open(
    current: &CurrentUser,
    pool: &PgPool,
    registers: &CajaActors,
    status: StatusCode,
    form: OpenForm,
    errors: FieldErrors,
    message: Option<String>,
) -> Result<HttpResponse, PageError> {
    let jornada_open = db::run(pool, crate::jornadas::current).await??.is_some();
    let cajas = registers
        .snapshots()
        .into_iter()
        .filter(|s| s.session.is_none() && s.caja.operational_status == OperationalStatus::Active)
        .map(|s| (s.caja.id, s.caja.code.clone(), s.caja.name.clone()))
        .collect();
    html(
        status,
        &OpenPage {
            chrome: current.chrome(),
            jornada_open,
            cajas,
            form: OpenForm {
                key: form_key(&form.key),
                ..form
            },
            errors,
            message,
        },
    )
}

/// GET /caja/session/open
pub async fn open_form(
    current: CurrentUser,
    pool: web::Data<PgPool>,
    registers: web::Data<CajaActors>,
) -> Result<HttpResponse, PageError> {
    render_open(
        &current,
        &pool,
        &registers,
        StatusCode::OK,
        OpenForm::default(),
        FieldErrors::default(),
        None,
    )
    .await
}

/// POST /caja/session/open
#[tracing::instrument(skip_all, fields(user = %current.user.name))]
pub async fn open(
    current: CurrentUser,
    pool: web::Data<PgPool>,
    registers: web::Data<CajaActors>,
    device: web::Data<DeviceCookie>,
    CsrfForm(form): CsrfForm<OpenForm>,
) -> Result<HttpResponse, PageError> {
    let mut errors = FieldErrors::default();
    let register: Option<CajaId> = form.register_id.trim().parse().ok();
    if register.is_none() {
        errors.add("register_id", "Elige una caja.");
    }
    let initial_cash = match money::parse_typed(&form.initial_cash).map(Pesos::non_negative) {
        Some(Ok(amount)) => Some(amount),
        Some(Err(err)) => {
            errors.add("initial_cash", format!("El fondo inicial {err}."));
            None
        }
        None => {
            errors.add(
                "initial_cash",
                "Escribe el fondo inicial en pesos enteros, con o sin puntos de miles: 50000 o 50.000.",
            );
            None
        }
    };
    let (Some(register), Some(initial_cash)) = (register, initial_cash) else {
        return render_open(
            &current,
            &pool,
            &registers,
            StatusCode::UNPROCESSABLE_ENTITY,
            form,
            errors,
            None,
        )
        .await;
    };
    let open = OpenSession {
        by: current.user.clone(),
        initial_cash,
        key: sent_key(&form.key)?,
    };
    match registers.ask(register, open).await {
        // Straight to selling; this browser is a caja's device from now on.
        Ok(_) => {
            let mut response = redirect_see_other(&format!("/caja/pos?caja={register}"));
            device.mark(&mut response);
            Ok(response)
        }
        Err(err) if err.status().is_server_error() => Err(err.into()),
        Err(err) => {
            render_open(
                &current,
                &pool,
                &registers,
                StatusCode::CONFLICT,
                form,
                errors,
                Some(err.message()),
            )
            .await
        }
    }
}

// ----------------------------------------------------------------- close

#[derive(Template)]
#[template(path = "sessions/close.html")]
struct ClosePage {
    chrome: Option<Chrome>,
    /// Sessions this user may close, to choose from.
    choices: Vec<Snapshot>,
    chosen: Option<Snapshot>,
    form: CloseForm,
    errors: FieldErrors,
    message: Option<String>,
    /// The chosen session's card payments per provider.
    reconciliation: Reconciliation,
}

impl ClosePage {
    /// Card payments nobody knows the result of: the session cannot close
    /// until each is resolved.
    fn unresolved(&self) -> Vec<&CardAttempt> {
        self.attempts_where(|a| a.status.is_unresolved())
    }

    /// The session's approved charges nothing has settled (no sale, no
    /// refund, no write-off): the session cannot close until each is.
    fn open_charges(&self) -> Vec<&CardAttempt> {
        let session = self
            .chosen
            .as_ref()
            .and_then(|c| c.session.as_ref())
            .map(|s| s.id);
        self.attempts_where(|a| a.is_open_charge() && Some(a.session_id) == session)
    }

    fn attempts_where(&self, wanted: impl Fn(&CardAttempt) -> bool) -> Vec<&CardAttempt> {
        self.chosen
            .as_ref()
            .map(|c| c.card_attempts.iter().filter(|a| wanted(a)).collect())
            .unwrap_or_default()
    }

    fn error(&self, field: &str) -> &str {
        self.errors.get(field).unwrap_or("")
    }

    /// A blind count hides what is expected from the cashier (not from
    /// supervisors) until the count is in.
    fn blind(&self) -> bool {
        let supervisor = self.chrome.as_ref().is_some_and(Chrome::is_supervisor);
        !supervisor && self.chosen.as_ref().is_some_and(|c| c.caja.blind_count)
    }

    fn denominations(&self) -> Vec<(i64, String, String)> {
        DENOMINATIONS
            .iter()
            .map(|d| {
                let value = self
                    .form
                    .denominations
                    .get(&format!("d{d}"))
                    .cloned()
                    .unwrap_or_default();
                (*d, Pesos::new(*d).unwrap_or_default().to_string(), value)
            })
            .collect()
    }
}

/// Per-method totals of a session, for the pages.
fn method_rows(totals: &BTreeMap<String, i64>) -> Vec<(&'static str, String)> {
    PaymentMethod::ALL
        .iter()
        .map(|m| (m.label(), of_method(totals, *m).to_string()))
        .collect()
}

impl LiveSession {
    pub fn method_rows(&self) -> Vec<(&'static str, String)> {
        method_rows(&self.payment_totals)
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct CloseForm {
    register_id: String,
    /// The session counted: a count is never applied to another session.
    session_id: String,
    /// The form's idempotency key: sending it twice closes once.
    key: String,
    cash_count: String,
    #[serde(flatten)]
    denominations: BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CloseQuery {
    caja: Option<i32>,
}

fn may_close(user: &crate::auth::user::User, session: &LiveSession) -> bool {
    user.role.includes(Role::Supervisor) || session.opened_by == Some(user.id.0)
}

#[allow(clippy::too_many_arguments)]
async fn render_close(
    current: &CurrentUser,
    pool: &PgPool,
    registers: &CajaActors,
    status: StatusCode,
    caja: Option<CajaId>,
    form: CloseForm,
    errors: FieldErrors,
    message: Option<String>,
) -> Result<HttpResponse, PageError> {
    let choices: Vec<Snapshot> = registers
        .snapshots()
        .into_iter()
        .map(|snapshot| (*snapshot).clone())
        .filter(|s| {
            s.session
                .as_ref()
                .is_some_and(|session| may_close(&current.user, session))
        })
        .collect();
    let chosen = match caja {
        Some(id) => choices.iter().find(|s| s.caja.id == id).cloned(),
        None if choices.len() == 1 => choices.first().cloned(),
        None => None,
    };
    let reconciliation = match chosen.as_ref().and_then(|c| c.session.as_ref()) {
        Some(session) => {
            let id = session.id;
            db::run(pool, move |conn| reconcile::of_session(conn, id)).await??
        }
        None => Reconciliation::default(),
    };
    html(
        status,
        &ClosePage {
            chrome: current.chrome(),
            choices,
            chosen,
            reconciliation,
            form: CloseForm {
                key: form_key(&form.key),
                ..form
            },
            errors,
            message,
        },
    )
}

/// GET /caja/session/close
pub async fn close_form(
    current: CurrentUser,
    pool: web::Data<PgPool>,
    registers: web::Data<CajaActors>,
    query: web::Query<CloseQuery>,
) -> Result<HttpResponse, PageError> {
    let caja = query.caja.map(CajaId);
    render_close(
        &current,
        &pool,
        &registers,
        StatusCode::OK,
        caja,
        CloseForm::default(),
        FieldErrors::default(),
        None,
    )
    .await
}

/// The count: one amount, or bills and coins by denomination (then the
/// amount, if also given, must agree).
fn parse_count(
    form: &CloseForm,
    errors: &mut FieldErrors,
) -> Option<(Pesos, Option<serde_json::Value>)> {
    let mut by_denomination = serde_json::Map::new();
    let mut sum = Pesos::ZERO;
    for d in DENOMINATIONS {
        let field = format!("d{d}");
        let raw = form
            .denominations
            .get(&field)
            .map(|v| v.trim())
            .unwrap_or("");
        if raw.is_empty() {
            continue;
        }
        match money::parse_count(raw) {
            Some(n) if (0..=1_000_000).contains(&n) => {
                by_denomination.insert(d.to_string(), n.into());
                sum = sum.checked_add(Pesos::new(d * n).unwrap_or_default())?;
            }
            _ => {
                errors.add(
                    "denominations",
                    format!(
                        "La cantidad de {} debe ser un número entero de 0 a 1.000.000.",
                        Pesos::new(d).unwrap_or_default()
                    ),
                );
                return None;
            }
        }
    }
    let typed = form.cash_count.trim();
    let amount = if typed.is_empty() {
        None
    } else {
        match money::parse_typed(typed).map(Pesos::non_negative) {
            Some(Ok(amount)) => Some(amount),
            _ => {
                errors.add(
                    "cash_count",
                    "Escribe el efectivo contado en pesos enteros, con o sin puntos de miles: 50000 o 50.000.",
                );
                return None;
            }
        }
    };
    match (amount, by_denomination.is_empty()) {
        (None, true) => {
            errors.add(
                "cash_count",
                "Ingresa el efectivo contado: el monto o la cantidad de billetes y monedas.",
            );
            None
        }
        (Some(amount), true) => Some((amount, None)),
        (Some(amount), false) if amount != sum => {
            errors.add(
                "cash_count",
                format!("El monto ({amount}) no coincide con los billetes y monedas ({sum})."),
            );
            None
        }
        (_, false) => Some((sum, Some(serde_json::Value::Object(by_denomination)))),
    }
}

/// POST /caja/session/close
#[tracing::instrument(skip_all, fields(user = %current.user.name))]
pub async fn close(
    current: CurrentUser,
    pool: web::Data<PgPool>,
    registers: web::Data<CajaActors>,
    CsrfForm(form): CsrfForm<CloseForm>,
) -> Result<HttpResponse, PageError> {
    let mut errors = FieldErrors::default();
    let register: Option<CajaId> = form.register_id.trim().parse().ok();
    let count = parse_count(&form, &mut errors);
    let (Some(register), Some((count, detail))) = (register, count) else {
        if register.is_none() {
            errors.add("register_id", "Elige la caja a cerrar.");
        }
        return render_close(
            &current,
            &pool,
            &registers,
            StatusCode::UNPROCESSABLE_ENTITY,
            register,
            form,
            errors,
            None,
        )
        .await;
    };
    let session_id: Option<i32> = form.session_id.trim().parse().ok();
    let close = CloseSession {
        by: current.user.clone(),
        count,
        detail,
        session_id,
        key: sent_key(&form.key)?,
    };
    // A cashier's refused counts are audited and limited (`refused_close`):
    // their closings of this caja go one at a time.
    let watched = (!current.user.role.includes(Role::Supervisor))
        .then(|| {
            registers
                .snapshot(register)
                .and_then(|r| r.session.as_ref().map(|s| s.id))
                .filter(|open| session_id.is_none_or(|sent| sent == *open))
        })
        .flatten();
    let _one_at_a_time = match watched {
        Some(_) => Some(refused_close::one_at_a_time(register).await),
        None => None,
    };
    if let Some(session) = watched {
        let refused = refused_close::recent(&pool, session).await?;
        if refused >= refused_close::MAX_REFUSED {
            refused_close::record(&pool, &current.user, session, count, "too_many_refused").await?;
            return render_close(
                &current,
                &pool,
                &registers,
                StatusCode::TOO_MANY_REQUESTS,
                Some(register),
                form,
                errors,
                Some(format!(
                    "Este cierre ya fue rechazado {refused} veces: pide a un supervisor que cuente contigo y cierre la caja."
                )),
            )
            .await;
        }
    }
    match registers.ask(register, close).await {
        Ok(closed) => Ok(redirect_see_other(&format!("/caja/session/{}", closed.id))),
        Err(err) if err.status().is_server_error() => Err(err.into()),
        Err(err) => {
            if let (Some(session), CajaError::DifferenceNeedsApproval { .. }) = (watched, &err) {
                refused_close::record(&pool, &current.user, session, count, err.code()).await?;
            }
            let audience = registers
                .snapshot(register)
                .map_or(Audience::BlindCount, |r| {
                    Audience::of(&current.user, &r.caja)
                });
            render_close(
                &current,
                &pool,
                &registers,
                err.status(),
                Some(register),
                form,
                errors,
                Some(err.message_for(audience)),
            )
            .await
        }
    }
}

// ------------------------------------------------------------ one session

#[derive(Template)]
#[template(path = "sessions/show.html")]
struct SessionPage {
    chrome: Option<Chrome>,
    session: SessionSummary,
    reconciliation: Reconciliation,
    sales: Vec<SaleLine>,
    movements: Vec<MovementLine>,
    extras: ClosingExtras,
    products: Vec<ProductSold>,
    notice: Option<String>,
}

impl SessionPage {
    /// A blind count hides the totals and the expected cash from the
    /// cashier until the session is closed (supervisors see them).
    fn blind(&self) -> bool {
        let supervisor = self.chrome.as_ref().is_some_and(Chrome::is_supervisor);
        !supervisor && self.session.blind_count && self.session.status.is_open()
    }

    fn methods(&self) -> Vec<(&'static str, String)> {
        method_rows(&self.session.payment_totals)
    }

    /// The methods tips were paid by, with their tips.
    fn tips(&self) -> Vec<(&'static str, String)> {
        PaymentMethod::ALL
            .iter()
            .map(|m| (m.label(), of_method(&self.session.tip_totals, *m)))
            .filter(|(_, tip)| *tip > Pesos::ZERO)
            .map(|(label, tip)| (label, tip.to_string()))
            .collect()
    }

    /// "faltante $500", "sobrante $100" or "cuadra ($0)": a sign alone is
    /// easy to miss on paper.
    fn difference_words(&self, difference: &Pesos) -> String {
        match difference.get() {
            0 => "cuadra ($0)".to_owned(),
            d if d < 0 => format!("faltante {}", Pesos::new(-d).unwrap_or_default()),
            _ => format!("sobrante {difference}"),
        }
    }

    /// What the 80 mm roll's closing (Z) says of the sales instead of
    /// listing them: how many count, how many were voided and for how much.
    fn sale_counts(&self) -> (usize, usize, Pesos) {
        let voided: Vec<&SaleLine> = self
            .sales
            .iter()
            .filter(|s| s.voided_at.is_some())
            .collect();
        let amount = voided.iter().map(|s| s.total_charged).sum::<i64>();
        (
            self.sales.len() - voided.len(),
            voided.len(),
            Pesos::new(amount).unwrap_or_default(),
        )
    }

    /// A supervisor may void the sales of an open session from here.
    fn may_void(&self) -> bool {
        self.session.status.is_open() && self.chrome.as_ref().is_some_and(Chrome::is_supervisor)
    }

    fn pesos(&self, amount: &i64) -> Pesos {
        Pesos::new(*amount).unwrap_or_default()
    }

    /// Who signs the sheet as supervisor: whoever closed the session, unless
    /// that was its own cashier (the line is then left for a signature).
    fn supervisor_signing(&self) -> Option<&str> {
        self.session
            .closed_by_name
            .as_deref()
            .filter(|by| *by != self.session.opened_by_name)
    }

    fn method_names(&self, methods: &str) -> String {
        methods
            .split(" + ")
            .map(|m| m.parse::<PaymentMethod>().map_or(m, |m| m.label()))
            .collect::<Vec<_>>()
            .join(" + ")
    }

    fn expected(&self) -> Pesos {
        self.session.expected_cash()
    }

    fn local(&self, at: &chrono::DateTime<chrono::Utc>) -> String {
        local_time(at)
    }
}

/// GET /caja/session/{id}
pub async fn session_page(
    current: CurrentUser,
    pool: web::Data<PgPool>,
    id: web::Path<String>,
    query: web::Query<SessionQuery>,
) -> Result<HttpResponse, PageError> {
    let sheet = session_sheet(&current, &pool, &id).await?;
    // The voided sale, by its number in the session.
    let voided = query.aviso.parse::<i64>().ok();
    let notice = voided
        .and_then(|id| sheet.sales.iter().find(|sale| sale.id == id))
        .map(|sale| format!("Venta N.º {} anulada.", sale.number));
    html(
        StatusCode::OK,
        &SessionPage {
            chrome: current.chrome(),
            session: sheet.session,
            reconciliation: sheet.reconciliation,
            sales: sheet.sales,
            movements: sheet.movements,
            extras: sheet.extras,
            products: sheet.products,
            notice,
        },
    )
}

/// Everything a session's closing sheet shows.
pub struct SessionSheet {
    pub session: SessionSummary,
    pub reconciliation: Reconciliation,
    pub sales: Vec<SaleLine>,
    pub movements: Vec<MovementLine>,
    pub extras: ClosingExtras,
    /// What its sales sold, by product.
    pub products: Vec<ProductSold>,
}

impl SessionSheet {
    /// Whether `viewer` sees the sheet blind: a blind count hides the
    /// totals and the expected cash from the cashier until the session is
    /// closed (supervisors see them).
    pub fn is_blind_for(&self, viewer: &CurrentUser) -> bool {
        !viewer.user.role.includes(Role::Supervisor)
            && self.session.blind_count
            && self.session.status.is_open()
    }
}

/// Session `id` (as typed in the path) read on `conn`, for a supervisor or
/// the cashier who opened it. Anyone else's session answers exactly as a
/// missing one (`NotFound`), so a cashier cannot find out which numbers exist.
fn readable_session(
    conn: &mut PgConnection,
    current: &User,
    id: i32,
) -> QueryResult<SessionSummary> {
    let session = store::session_summary(conn, id)?;
    let reader = (!current.role.includes(Role::Supervisor)).then_some(current.id.0);
    if reader.is_some_and(|cashier| session.opened_by != Some(cashier)) {
        return Err(diesel::result::Error::NotFound);
    }
    Ok(session)
}

/// Reads what `read` takes of the session `id` that `current` may read
/// (see [`readable_session`]): a session missing or not theirs is 404.
pub async fn with_readable_session<T: Send + 'static>(
    current: &CurrentUser,
    pool: &PgPool,
    id: &str,
    read: impl FnOnce(&mut PgConnection, SessionSummary) -> QueryResult<T> + Send + 'static,
) -> Result<T, PageError> {
    let id: i32 = id.parse().map_err(|_| PageError::NotFound("la sesión"))?;
    let user = current.user.clone();
    db::run(pool, move |conn| {
        let session = readable_session(conn, &user, id)?;
        read(conn, session)
    })
    .await?
    .map_err(|err| match err {
        diesel::result::Error::NotFound => PageError::NotFound("la sesión"),
        other => other.into(),
    })
}

/// The sheet of session `id` (as typed in the path), for whoever may read
/// it (see [`readable_session`]).
pub async fn session_sheet(
    current: &CurrentUser,
    pool: &PgPool,
    id: &str,
) -> Result<SessionSheet, PageError> {
    with_readable_session(current, pool, id, |conn, session| {
        let id = session.id;
        Ok(SessionSheet {
            session,
            reconciliation: reconcile::of_session(conn, id)?,
            sales: ledger::sales(conn, id)?,
            movements: ledger::movements(conn, id)?,
            extras: ledger::closing_extras(conn, id)?,
            products: ledger::products_sold(conn, id)?,
        })
    })
    .await
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SessionQuery {
    aviso: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct VoidForm {
    reason: String,
    /// The refund's code, when the sale had card payments given back.
    refund_code: String,
}

/// POST /caja/session/{id}/ventas/{sale}/anular: a supervisor voids a sale
/// from the session's page (opened from the floor).
pub async fn void_from_page(
    supervisor: SupervisorUser,
    pool: web::Data<PgPool>,
    registers: web::Data<CajaActors>,
    path: web::Path<(String, String)>,
    form: CsrfForm<VoidForm>,
) -> Result<HttpResponse, PageError> {
    let (id, sale) = path.into_inner();
    let id: i32 = id.parse().map_err(|_| PageError::NotFound("la sesión"))?;
    let sale: i64 = sale.parse().map_err(|_| PageError::NotFound("la venta"))?;
    let reason = crate::text::line(&form.0.reason, 200).map_err(|err| {
        PageError::BadRequest(match err {
            crate::text::TextError::Empty => "Indica el motivo de la anulación.".to_owned(),
            other => format!("El motivo {other}."),
        })
    })?;
    let session = db::run(&pool, move |conn| store::session_summary(conn, id))
        .await?
        .map_err(|err| match err {
            diesel::result::Error::NotFound => PageError::NotFound("la sesión"),
            other => other.into(),
        })?;
    if !session.status.is_open() {
        return Err(PageError::Conflict(
            "La sesión ya está cerrada: no se pueden anular sus ventas.".into(),
        ));
    }
    let void = VoidSale {
        by: supervisor.user.clone(),
        sale_id: sale,
        reason,
        key: uuid::Uuid::new_v4(),
        signed_on_device_of: None,
        refund_code: Some(form.0.refund_code.trim().to_owned()).filter(|code| !code.is_empty()),
    };
    registers.ask(CajaId(session.register_id), void).await?;
    Ok(redirect_see_other(&format!(
        "/caja/session/{id}?aviso={sale}"
    )))
}
