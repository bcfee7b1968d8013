//! The closing sheet of a session as CSV (`/caja/session/{id}/cierre.csv`):
//! the page's figures, one per row, under the section they belong to, so a
//! spreadsheet can filter and add them up.

use actix_web::{HttpResponse, web};

use crate::auth::CurrentUser;
use crate::csv::Csv;
use crate::db::PgPool;
use crate::payments::method::PaymentMethod;
use crate::registers::{SessionSheet, session_sheet};
use crate::web::{PageError, local_time};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/caja/session/{id}/cierre.csv", web::get().to(csv));
}

/// GET /caja/session/{id}/cierre.csv: for whoever may read the sheet, and
/// not for a cashier counting blind (the figures are the count's secret).
async fn csv(
    current: CurrentUser,
    pool: web::Data<PgPool>,
    id: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let sheet = session_sheet(&current, &pool, &id).await?;
    if sheet.is_blind_for(&current) {
        return Err(PageError::Forbidden(
            "Conteo ciego: los totales se muestran al cerrar.".into(),
        ));
    }
    let name = format!("cierre_sesion_{}.csv", sheet.session.id);
    Ok(super::pages::attachment(&name, rows(&sheet)))
}

/// The sheet, row by row: `seccion;concepto;detalle;cantidad;monto` (a
/// product sold: its name, its category, how many and for how much).
fn rows(sheet: &SessionSheet) -> Csv {
    let s = &sheet.session;
    let mut out = Csv::new(&["seccion", "concepto", "detalle", "cantidad", "monto"]);
    let mut row =
        |section: &str, what: &str, detail: String, n: Option<i64>, amount: Option<i64>| {
            out.row([
                section.to_owned(),
                what.to_owned(),
                detail,
                n.map(|n| n.to_string()).unwrap_or_default(),
                amount.map(|a| a.to_string()).unwrap_or_default(),
            ])
        };
    let when = |at: Option<&chrono::DateTime<chrono::Utc>>| at.map(local_time).unwrap_or_default();
    row("sesion", "sesion", format!("#{}", s.id), None, None);
    row("sesion", "caja", s.caja.clone(), None, None);
    row("sesion", "estado", s.status.to_string(), None, None);
    let jornada = sheet.extras.jornada_id.map(|j| format!("#{j}"));
    row("sesion", "jornada", jornada.unwrap_or_default(), None, None);
    row("sesion", "cajero", s.opened_by_name.clone(), None, None);
    row("sesion", "abierta", when(Some(&s.opened_at)), None, None);
    row("sesion", "cerrada", when(s.closed_at.as_ref()), None, None);
    let closer = s.closed_by_name.clone().unwrap_or_default();
    row("sesion", "cerrada_por", closer, None, None);
    for method in PaymentMethod::ALL {
        let total = s.payment_totals.get(method.as_str()).copied().unwrap_or(0);
        row("ventas", method.as_str(), String::new(), None, Some(total));
    }
    let tickets = i64::from(s.ticket_count);
    row("ventas", "ventas", String::new(), Some(tickets), None);
    let voided = sheet.sales.iter().filter(|l| l.voided_at.is_some()).count() as i64;
    row("ventas", "anuladas", String::new(), Some(voided), None);
    // Not revenue: each method's tips, apart from its sales.
    for method in PaymentMethod::ALL {
        let tips = s.tip_totals.get(method.as_str()).copied().unwrap_or(0);
        row("propinas", method.as_str(), String::new(), None, Some(tips));
    }
    for product in &sheet.products {
        row(
            "productos",
            &product.name,
            product.category.clone(),
            Some(product.quantity),
            Some(product.total),
        );
    }
    row(
        "efectivo",
        "fondo_inicial",
        String::new(),
        None,
        Some(s.initial_cash.get()),
    );
    row(
        "efectivo",
        "ventas_efectivo",
        String::new(),
        None,
        Some(s.cash_sales.get()),
    );
    row(
        "efectivo",
        "propinas_efectivo",
        String::new(),
        None,
        Some(s.cash_tips().get()),
    );
    row(
        "efectivo",
        "ingresos",
        String::new(),
        None,
        Some(s.cash_in.get()),
    );
    row(
        "efectivo",
        "retiros",
        String::new(),
        None,
        Some(s.cash_out.get()),
    );
    let expected = s.expected_cash().get();
    row("efectivo", "esperado", String::new(), None, Some(expected));
    row(
        "efectivo",
        "contado",
        String::new(),
        None,
        s.cash_count.map(|p| p.get()),
    );
    row(
        "efectivo",
        "diferencia",
        String::new(),
        None,
        s.cash_difference.map(|p| p.get()),
    );
    let approver = sheet.extras.approved_by.clone().unwrap_or_default();
    row("efectivo", "diferencia_aprobada_por", approver, None, None);
    for (value, n, subtotal) in sheet.extras.denominations() {
        row(
            "conteo",
            &value.to_string(),
            String::new(),
            Some(n),
            Some(subtotal),
        );
    }
    for p in &sheet.reconciliation.lines {
        let provider = p.provider.as_str();
        row(
            "proveedor",
            provider,
            "aprobados".into(),
            Some(p.approved_count),
            Some(p.approved_amount),
        );
        row(
            "proveedor",
            provider,
            "anulados_a_devolver".into(),
            None,
            Some(p.voided_amount),
        );
        row(
            "proveedor",
            provider,
            "devuelto".into(),
            None,
            Some(p.refunded_amount),
        );
        row(
            "proveedor",
            provider,
            "neto".into(),
            None,
            Some(p.approved_amount - p.refunded_amount),
        );
        row(
            "proveedor",
            provider,
            "cobros_sin_venta_por_resolver".into(),
            Some(p.open_count),
            Some(p.open_amount),
        );
        row(
            "proveedor",
            provider,
            "cobros_sin_venta_dados_de_baja".into(),
            None,
            Some(p.written_off_amount),
        );
        row(
            "proveedor",
            provider,
            "rechazados".into(),
            Some(p.declined),
            None,
        );
        row(
            "proveedor",
            provider,
            "fallidos".into(),
            Some(p.failed),
            None,
        );
        row(
            "proveedor",
            provider,
            "sin_respuesta".into(),
            Some(p.unanswered),
            None,
        );
        row(
            "proveedor",
            provider,
            "cancelados".into(),
            Some(p.cancelled),
            None,
        );
        row(
            "proveedor",
            provider,
            "respaldos".into(),
            Some(p.fallbacks),
            None,
        );
    }
    for sale in sheet.sales.iter().rev() {
        let mut detail = format!("{} · {}", when(Some(&sale.at)), sale.methods);
        if let Some(providers) = &sale.providers {
            detail.push_str(&format!(" · {providers}"));
        }
        let what = match &sale.voided_at {
            Some(at) => {
                detail.push_str(&format!(" · anulada {}", when(Some(at))));
                if let Some(by) = &sale.voided_by {
                    detail.push_str(&format!(" por {by}"));
                }
                if let Some(reason) = &sale.void_reason {
                    detail.push_str(&format!(": {reason}"));
                }
                "anulada"
            }
            None => "registrada",
        };
        row(
            "venta",
            &format!("#{} {what}", sale.id),
            detail,
            None,
            Some(sale.total_charged),
        );
    }
    for m in sheet.movements.iter().rev() {
        let detail = format!("{} · {} · {}", when(Some(&m.at)), m.reason, m.by);
        row(
            "movimiento",
            &m.kind.to_lowercase(),
            detail,
            None,
            Some(m.amount),
        );
    }
    out
}
