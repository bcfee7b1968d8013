//! `/admin/cajas/reportes` and its CSV (SUPERVISOR, ADMIN).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use chrono::NaiveDate;
use serde::Deserialize;

use super::jornada;
use super::query::{self, CajaLine, JornadaChoice, Scope};
use crate::auth::SupervisorUser;
use crate::csv::Csv;
use crate::db::{self, PgPool};
use crate::money::Pesos;
use crate::web::FieldErrors;
use crate::web::{Chrome, PageError, html, local_time};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/cajas/reportes", web::get().to(page))
        .route("/admin/cajas/reportes.csv", web::get().to(csv))
        .route(
            "/admin/jornadas/{id}/ventas-por-hora.csv",
            web::get().to(hours_csv),
        )
        .route(
            "/admin/jornadas/{id}/productos.csv",
            web::get().to(products_csv),
        )
        .route(
            "/admin/jornadas/{id}/proveedores.csv",
            web::get().to(providers_csv),
        );
}

/// The filters as typed (kept to fill the form again).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct Filters {
    jornada: String,
    desde: String,
    hasta: String,
}

impl Filters {
    /// The scope asked for, with what was wrong in it by field; `None`
    /// when nothing was asked (the open or last jornada then).
    fn scope(&self) -> (Option<Scope>, FieldErrors) {
        let mut errors = FieldErrors::default();
        let mut date = |field: &'static str, raw: &str| -> Option<NaiveDate> {
            let raw = raw.trim();
            if raw.is_empty() {
                return None;
            }
            NaiveDate::parse_from_str(raw, "%Y-%m-%d")
                .map_err(|_| errors.add(field, "Fecha no válida: usa el formato AAAA-MM-DD."))
                .ok()
        };
        let (from, to) = (date("desde", &self.desde), date("hasta", &self.hasta));
        if !errors.is_empty() {
            return (None, errors);
        }
        match (from, to) {
            (Some(from), Some(to)) if to < from => {
                errors.add("hasta", "La fecha final es anterior a la inicial.");
                return (None, errors);
            }
            (Some(from), Some(to)) => return (Some(Scope::Dates { from, to }), errors),
            (Some(day), None) | (None, Some(day)) => {
                return (Some(Scope::Dates { from: day, to: day }), errors);
            }
            (None, None) => {}
        }
        let jornada = self.jornada.trim();
        if jornada.is_empty() {
            return (None, errors);
        }
        match jornada.parse::<i32>() {
            Ok(id) if id > 0 => (Some(Scope::Jornada(id)), errors),
            _ => {
                errors.add("jornada", "Elige una jornada de la lista.");
                (None, errors)
            }
        }
    }
}

/// What a report shows: its scope (if there is one yet) and its rows.
struct Report {
    scope: Option<Scope>,
    lines: Vec<CajaLine>,
    jornadas: Vec<JornadaChoice>,
    errors: FieldErrors,
}

async fn report(pool: &PgPool, filters: &Filters) -> Result<Report, PageError> {
    let (asked, mut errors) = filters.scope();
    let report = db::run(pool, move |conn| {
        let mut unknown = None;
        let scope = match asked {
            Some(Scope::Jornada(id)) if !query::jornada_exists(conn, id)? => {
                unknown = Some(format!("No existe la jornada #{id}: se muestra la actual."));
                query::current_jornada(conn)?.map(Scope::Jornada)
            }
            Some(scope) => Some(scope),
            None => query::current_jornada(conn)?.map(Scope::Jornada),
        };
        let lines = query::cajas(conn, scope)?;
        Ok::<_, diesel::result::Error>((scope, lines, query::jornadas(conn, 60)?, unknown))
    })
    .await??;
    let (scope, lines, jornadas, unknown) = report;
    if let Some(message) = unknown {
        errors.add("jornada", message);
    }
    Ok(Report {
        scope,
        lines,
        jornadas,
        errors,
    })
}

#[derive(Template)]
#[template(path = "reports/cajas.html")]
struct ReportPage {
    chrome: Option<Chrome>,
    filters: Filters,
    report: Report,
    totals: Totals,
}

/// The totals row: each column added up over the cajas.
#[derive(Debug, Default)]
struct Totals {
    efectivo: i64,
    debito: i64,
    credito: i64,
    transferencia: i64,
    tickets: i64,
    voids: i64,
    difference: i64,
    primary: i64,
    backup: i64,
}

impl Totals {
    fn of(lines: &[CajaLine]) -> Self {
        lines.iter().fold(Totals::default(), |t, l| Totals {
            efectivo: t.efectivo + l.efectivo,
            debito: t.debito + l.debito,
            credito: t.credito + l.credito,
            transferencia: t.transferencia + l.transferencia,
            tickets: t.tickets + l.tickets,
            voids: t.voids + l.voids,
            difference: t.difference + l.difference,
            primary: t.primary + l.primary_payments,
            backup: t.backup + l.backup_payments,
        })
    }

    fn total(&self) -> i64 {
        self.efectivo + self.debito + self.credito + self.transferencia
    }
}

impl ReportPage {
    fn pesos(&self, amount: impl std::borrow::Borrow<i64>) -> Pesos {
        Pesos::new(*amount.borrow()).unwrap_or_default()
    }

    fn local(&self, at: &chrono::DateTime<chrono::Utc>) -> String {
        local_time(at)
    }

    /// A session's hours, the date said once when it closed the same day.
    fn span(
        &self,
        from: &chrono::DateTime<chrono::Utc>,
        to: &Option<chrono::DateTime<chrono::Utc>>,
    ) -> String {
        crate::web::local_span(from, to.as_ref())
    }

    fn error(&self, field: &str) -> Option<&str> {
        self.report.errors.get(field)
    }

    fn title(&self) -> String {
        match self.report.scope {
            Some(Scope::Jornada(id)) => {
                let open = self
                    .report
                    .jornadas
                    .iter()
                    .any(|j| j.id == id && j.status.is_open());
                format!("Jornada #{id}{}", if open { " (abierta)" } else { "" })
            }
            Some(Scope::Dates { from, to }) if from == to => {
                format!("Sesiones abiertas el {}", from.format("%d-%m-%Y"))
            }
            Some(Scope::Dates { from, to }) => format!(
                "Sesiones abiertas del {} al {}",
                from.format("%d-%m-%Y"),
                to.format("%d-%m-%Y")
            ),
            None => "Sin jornadas aún: cada caja y su última sesión registrada".to_owned(),
        }
    }

    fn is_chosen(&self, jornada: impl std::borrow::Borrow<i32>) -> bool {
        self.report.scope == Some(Scope::Jornada(*jornada.borrow()))
    }

    fn live(&self) -> bool {
        self.report.lines.iter().any(CajaLine::is_open)
    }

    fn csv_link(&self) -> String {
        match self.report.scope {
            Some(Scope::Jornada(id)) => format!("/admin/cajas/reportes.csv?jornada={id}"),
            Some(Scope::Dates { from, to }) => format!(
                "/admin/cajas/reportes.csv?desde={}&hasta={}",
                from.format("%Y-%m-%d"),
                to.format("%Y-%m-%d")
            ),
            None => "/admin/cajas/reportes.csv".to_owned(),
        }
    }
}

/// GET /admin/cajas/reportes
async fn page(
    supervisor: SupervisorUser,
    pool: web::Data<PgPool>,
    filters: web::Query<Filters>,
) -> Result<HttpResponse, PageError> {
    let filters = filters.into_inner();
    let report = report(&pool, &filters).await?;
    let status = if report.errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let totals = Totals::of(&report.lines);
    html(
        status,
        &ReportPage {
            chrome: supervisor.chrome(),
            filters,
            report,
            totals,
        },
    )
}

/// The CSV columns, in order.
const COLUMNS: [&str; 28] = [
    "caja",
    "codigo",
    "proveedor_principal",
    "proveedor_respaldo",
    "ultima_sesion",
    "estado",
    "cajero",
    "abierta",
    "cerrada",
    "fondo_inicial",
    "efectivo_contado",
    "diferencia_ultima",
    "efectivo",
    "debito",
    "credito",
    "transferencia",
    "total",
    "ventas",
    "anuladas",
    "diferencias",
    "pagos_principal",
    "pagos_respaldo",
    "sesiones",
    "getnet_aprobado",
    "getnet_devuelto",
    "klap_aprobado",
    "klap_devuelto",
    "cobros_sin_venta_por_resolver",
];

/// GET /admin/cajas/reportes.csv: the page's figures, as a spreadsheet opens them.
async fn csv(
    _supervisor: SupervisorUser,
    pool: web::Data<PgPool>,
    filters: web::Query<Filters>,
) -> Result<HttpResponse, PageError> {
    let filters = filters.into_inner();
    let report = report(&pool, &filters).await?;
    if let Some((field, message)) = report.errors.iter().next() {
        return Err(PageError::BadRequest(format!("{field}: {message}")));
    }
    let mut out = Csv::new(&COLUMNS);
    let text = |v: Option<String>| v.unwrap_or_default();
    let number = |v: Option<i64>| v.map(|n| n.to_string()).unwrap_or_default();
    for l in &report.lines {
        out.row([
            l.name.clone(),
            l.code.clone(),
            l.provider_primary.clone(),
            text(l.provider_backup.clone()),
            number(l.last_session.map(i64::from)),
            text(l.last_status.map(|s| s.to_string())),
            text(l.last_cashier.clone()),
            text(l.last_opened_at.as_ref().map(local_time)),
            text(l.last_closed_at.as_ref().map(local_time)),
            number(l.last_initial_cash),
            number(l.last_cash_count),
            number(l.last_difference),
            l.efectivo.to_string(),
            l.debito.to_string(),
            l.credito.to_string(),
            l.transferencia.to_string(),
            l.total().to_string(),
            l.tickets.to_string(),
            l.voids.to_string(),
            l.difference.to_string(),
            l.primary_payments.to_string(),
            l.backup_payments.to_string(),
            l.sessions.to_string(),
            l.getnet_approved.to_string(),
            l.getnet_refunded.to_string(),
            l.klap_approved.to_string(),
            l.klap_refunded.to_string(),
            l.open_charges.to_string(),
        ]);
    }
    let t = Totals::of(&report.lines);
    let mut total = vec![String::new(); 12];
    total[0] = "TOTAL".to_owned();
    total.extend(
        [
            t.efectivo,
            t.debito,
            t.credito,
            t.transferencia,
            t.total(),
            t.tickets,
            t.voids,
            t.difference,
            t.primary,
            t.backup,
        ]
        .map(|n| n.to_string()),
    );
    let sum =
        |figure: fn(&CajaLine) -> i64| report.lines.iter().map(figure).sum::<i64>().to_string();
    total.extend([
        sum(|l| l.sessions),
        sum(|l| l.getnet_approved),
        sum(|l| l.getnet_refunded),
        sum(|l| l.klap_approved),
        sum(|l| l.klap_refunded),
        sum(|l| l.open_charges),
    ]);
    out.row(total);
    let name = match report.scope {
        Some(Scope::Jornada(id)) => format!("reporte_cajas_jornada_{id}.csv"),
        Some(Scope::Dates { from, to }) => format!(
            "reporte_cajas_{}_{}.csv",
            from.format("%Y%m%d"),
            to.format("%Y%m%d")
        ),
        None => "reporte_cajas.csv".to_owned(),
    };
    Ok(attachment(&name, out))
}

/// GET /admin/jornadas/{id}/ventas-por-hora.csv: the chart's figures, hour
/// by hour (the venue's clock), with a total row.
async fn hours_csv(
    _supervisor: SupervisorUser,
    pool: web::Data<PgPool>,
    id: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let id: i32 = id.parse().map_err(|_| PageError::NotFound("la jornada"))?;
    let hours = db::run(&pool, move |conn| {
        if !query::jornada_exists(conn, id)? {
            return Ok(None);
        }
        jornada::hours(conn, id).map(Some)
    })
    .await??
    .ok_or(PageError::NotFound("la jornada"))?;
    let mut out = Csv::new(&["hora", "ventas", "total"]);
    for h in &hours {
        out.row([
            h.hour.format("%d-%m-%Y %H:00").to_string(),
            h.tickets.to_string(),
            h.total.to_string(),
        ]);
    }
    out.row([
        "TOTAL".to_owned(),
        hours.iter().map(|h| h.tickets).sum::<i64>().to_string(),
        hours.iter().map(|h| h.total).sum::<i64>().to_string(),
    ]);
    Ok(attachment(
        &format!("ventas_por_hora_jornada_{id}.csv"),
        out,
    ))
}

/// GET /admin/jornadas/{id}/productos.csv: every product sold, by hour
/// (the venue's clock) and caja, with a total row.
async fn products_csv(
    _supervisor: SupervisorUser,
    pool: web::Data<PgPool>,
    id: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let id: i32 = id.parse().map_err(|_| PageError::NotFound("la jornada"))?;
    let rows = db::run(&pool, move |conn| {
        if !query::jornada_exists(conn, id)? {
            return Ok(None);
        }
        super::products::by_hour_and_caja(conn, id).map(Some)
    })
    .await??
    .ok_or(PageError::NotFound("la jornada"))?;
    let mut out = Csv::new(&["hora", "caja", "categoria", "producto", "cantidad", "total"]);
    for row in &rows {
        out.row([
            row.hour.format("%d-%m-%Y %H:00").to_string(),
            row.caja.clone(),
            row.category.clone(),
            row.name.clone(),
            row.quantity.to_string(),
            row.total.to_string(),
        ]);
    }
    out.row([
        "TOTAL".to_owned(),
        String::new(),
        String::new(),
        String::new(),
        rows.iter().map(|r| r.quantity).sum::<i64>().to_string(),
        rows.iter().map(|r| r.total).sum::<i64>().to_string(),
    ]);
    Ok(attachment(&format!("productos_jornada_{id}.csv"), out))
}

/// GET /admin/jornadas/{id}/proveedores.csv: the jornada's card payments
/// per provider, to set beside each provider's batch: a row per figure,
/// then each charge with no sale (what explains the difference).
async fn providers_csv(
    _supervisor: SupervisorUser,
    pool: web::Data<PgPool>,
    id: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let id: i32 = id.parse().map_err(|_| PageError::NotFound("la jornada"))?;
    let reconciliation = db::run(&pool, move |conn| {
        if !query::jornada_exists(conn, id)? {
            return Ok(None);
        }
        crate::payments::reconcile::of_jornada(conn, id).map(Some)
    })
    .await??
    .ok_or(PageError::NotFound("la jornada"))?;
    let mut out = Csv::new(&["seccion", "proveedor", "concepto", "cantidad", "monto"]);
    let mut row = |section: &str, provider: &str, what: &str, count: Option<i64>, amount: i64| {
        out.row([
            section.to_owned(),
            provider.to_owned(),
            what.to_owned(),
            count.map(|n| n.to_string()).unwrap_or_default(),
            amount.to_string(),
        ]);
    };
    for l in &reconciliation.lines {
        let p = l.provider.as_str();
        row(
            "proveedor",
            p,
            "aprobados",
            Some(l.approved_count),
            l.approved_amount,
        );
        row("proveedor", p, "de_ventas_anuladas", None, l.voided_amount);
        row("proveedor", p, "devuelto", None, l.refunded_amount);
        row(
            "proveedor",
            p,
            "neto",
            None,
            l.approved_amount - l.refunded_amount,
        );
        row(
            "proveedor",
            p,
            "sin_venta_por_resolver",
            Some(l.open_count),
            l.open_amount,
        );
        row(
            "proveedor",
            p,
            "sin_venta_dados_de_baja",
            None,
            l.written_off_amount,
        );
        row("proveedor", p, "rechazados", Some(l.declined), 0);
        row("proveedor", p, "fallidos", Some(l.failed), 0);
        row("proveedor", p, "sin_respuesta", Some(l.unanswered), 0);
        row("proveedor", p, "no_cobrados", Some(l.cancelled), 0);
        row("proveedor", p, "respaldos", Some(l.fallbacks), 0);
    }
    for charge in &reconciliation.charges {
        let what = format!(
            "#{} {} código {}",
            charge.id,
            charge.state_label(),
            charge.authorization_code.as_deref().unwrap_or("-")
        );
        row(
            "cobro_sin_venta",
            charge.provider.as_str(),
            &what,
            Some(1),
            charge.amount,
        );
    }
    Ok(attachment(&format!("proveedores_jornada_{id}.csv"), out))
}

/// A CSV as a download named `name`.
pub(super) fn attachment(name: &str, csv: Csv) -> HttpResponse {
    crate::web::csv_download(name, csv.into_string())
}
