//! A sale's ticket, printable on the 80 mm roll
//! (`/caja/session/{id}/ventas/{sale}/ticket`): its lines, total, how it was
//! paid and the change given, and its boleta: the emisor, the folio, the
//! net and the IVA and where to verify it, or that it is still being
//! issued (a reprint later carries the folio); a card payment under the
//! voucher model says its voucher is its boleta. Reprinted from the
//! session's page by whoever may read the session (a supervisor, or the
//! cashier who opened it).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Nullable, SmallInt, Text, Timestamptz};

use super::pages::with_readable_session;
use crate::auth::CurrentUser;
use crate::boleta;
use crate::boleta::document::{DocumentStatus, DteKind, Emisor};
use crate::boleta::iva::Desglose;
use crate::boleta::rut::Rut;
use crate::boleta::settings::{BoletaSettings, ModeloEmision};
use crate::db::PgPool;
use crate::money::Pesos;
use crate::payments::method::PaymentMethod;
use crate::web::{Chrome, PageError, html, local_time};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/caja/session/{id}/ventas/{sale}/ticket",
        web::get().to(ticket),
    );
}

#[derive(Debug, Clone, QueryableByName)]
struct Sale {
    #[diesel(sql_type = BigInt)]
    id: i64,
    /// Its number in the session.
    #[diesel(sql_type = BigInt)]
    number: i64,
    #[diesel(sql_type = Timestamptz)]
    at: DateTime<Utc>,
    #[diesel(sql_type = BigInt)]
    total: i64,
    #[diesel(sql_type = BigInt)]
    total_charged: i64,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    voided_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Text)]
    cashier: String,
}

#[derive(Debug, Clone, QueryableByName)]
struct Line {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Integer)]
    quantity: i32,
    #[diesel(sql_type = BigInt)]
    unit_price: i64,
    #[diesel(sql_type = BigInt)]
    line_total: i64,
}

#[derive(Debug, Clone, QueryableByName)]
struct Payment {
    #[diesel(sql_type = Text)]
    method: String,
    #[diesel(sql_type = BigInt)]
    amount_charged: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    tendered: Option<i64>,
    #[diesel(sql_type = BigInt)]
    change_given: i64,
    #[diesel(sql_type = Nullable<Text>)]
    provider: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    authorization_code: Option<String>,
    /// Paid on top of `amount_charged`: not part of the sale.
    #[diesel(sql_type = BigInt)]
    tip: i64,
    /// The operation number the terminal's voucher prints.
    #[diesel(sql_type = Nullable<Text>)]
    terminal_reference: Option<String>,
}

/// A tax document of the sale (its boleta, its nota de crédito).
#[derive(Debug, Clone, QueryableByName)]
struct TaxDocument {
    #[diesel(sql_type = SmallInt)]
    kind: i16,
    #[diesel(sql_type = Text)]
    status: DocumentStatus,
    #[diesel(sql_type = BigInt)]
    total: i64,
    #[diesel(sql_type = BigInt)]
    exempt: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    folio: Option<i64>,
    #[diesel(sql_type = Nullable<Text>)]
    link: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    reason: Option<String>,
}

impl TaxDocument {
    fn accepted(&self) -> bool {
        self.status == DocumentStatus::Aceptada
    }

    fn rejected(&self) -> bool {
        self.status == DocumentStatus::Rechazada
    }

    /// The verification link as a QR code the customer scans, an SVG in a
    /// `data:` address (the page's policy takes images from there).
    fn qr(&self) -> Option<String> {
        use base64::Engine;
        let link = self.link.as_deref()?;
        let svg = qrcode::QrCode::new(link.as_bytes())
            .ok()?
            .render::<qrcode::render::svg::Color>()
            .min_dimensions(120, 120)
            .build();
        let encoded = base64::engine::general_purpose::STANDARD.encode(svg);
        Some(format!("data:image/svg+xml;base64,{encoded}"))
    }

    fn title(&self) -> &'static str {
        DteKind::label_of(self.kind)
    }

    fn desglose(&self) -> Desglose {
        Desglose::of(
            Pesos::new(self.total).unwrap_or_default(),
            Pesos::new(self.exempt).unwrap_or_default(),
        )
    }
}

struct Found {
    sale: Sale,
    lines: Vec<Line>,
    payments: Vec<Payment>,
    documents: Vec<TaxDocument>,
    boletas: BoletaSettings,
}

/// Sale `sale` of session `session`, its lines, payments and documents.
fn find(conn: &mut PgConnection, session: i32, sale: i64) -> QueryResult<Option<Found>> {
    let found: Option<Sale> = diesel::sql_query(
        "SELECT * FROM (
            SELECT s.id, row_number() OVER (ORDER BY s.id) AS number, s.created_at AS at,
                   s.total, s.total_charged, s.voided_at, u.name AS cashier
              FROM sales s JOIN users u ON u.id = s.created_by
             WHERE s.session_id = $1) numbered
          WHERE id = $2",
    )
    .bind::<Integer, _>(session)
    .bind::<BigInt, _>(sale)
    .get_result(conn)
    .optional()?;
    let Some(found) = found else {
        return Ok(None);
    };
    let lines = diesel::sql_query(
        "SELECT name, quantity, unit_price, line_total FROM sale_lines
          WHERE sale_id = $1 ORDER BY line_no",
    )
    .bind::<BigInt, _>(sale)
    .load(conn)?;
    let payments = diesel::sql_query(
        "SELECT p.method, p.amount_charged, p.tendered, p.change_given, p.provider,
                a.authorization_code, p.tip, a.terminal_reference
           FROM sale_payments p LEFT JOIN card_attempts a ON a.id = p.card_attempt_id
          WHERE p.sale_id = $1 ORDER BY p.payment_no",
    )
    .bind::<BigInt, _>(sale)
    .load(conn)?;
    let documents = diesel::sql_query(
        "SELECT kind, status, total, exempt, folio, link, reason FROM tax_documents
          WHERE sale_id = $1 ORDER BY id",
    )
    .bind::<BigInt, _>(sale)
    .load(conn)?;
    Ok(Some(Found {
        sale: found,
        lines,
        payments,
        documents,
        boletas: boleta::settings::load(conn)?,
    }))
}

#[derive(Template)]
#[template(path = "sessions/ticket.html")]
struct TicketPage {
    chrome: Option<Chrome>,
    caja: String,
    session_id: i32,
    sale: Sale,
    lines: Vec<Line>,
    payments: Vec<Payment>,
    documents: Vec<TaxDocument>,
    /// The issuer, as its boletas name it.
    emisor: Option<Emisor>,
    /// The card payments' vouchers are their boleta.
    voucher_is_boleta: bool,
}

impl TicketPage {
    fn pesos(&self, amount: impl std::borrow::Borrow<i64>) -> Pesos {
        Pesos::new(*amount.borrow()).unwrap_or_default()
    }

    fn method<'a>(&self, payment: &'a Payment) -> &'a str {
        payment
            .method
            .parse::<PaymentMethod>()
            .map_or(payment.method.as_str(), |m| m.label())
    }

    /// The emisor's RUT as people read it.
    fn emisor_rut(&self) -> String {
        self.emisor
            .as_ref()
            .and_then(|e| e.rut.parse::<Rut>().ok())
            .map(|rut| rut.to_string())
            .unwrap_or_default()
    }

    fn at(&self) -> String {
        local_time(&self.sale.at)
    }

    /// What cash rounding took off or added (Ley 20.956), when anything.
    fn rounding(&self) -> Option<Pesos> {
        let difference = self.sale.total_charged - self.sale.total;
        (difference != 0).then(|| self.pesos(difference))
    }

    /// The cash handed over for `payment`, when it says.
    fn tendered(&self, payment: &Payment) -> Option<Pesos> {
        payment.tendered.and_then(|t| Pesos::new(t).ok())
    }

    fn change(&self) -> i64 {
        self.payments.iter().map(|p| p.change_given).sum()
    }

    /// The tip, over every payment.
    fn tip(&self) -> i64 {
        self.payments.iter().map(|p| p.tip).sum()
    }

    /// What the customer paid in all: the sale as charged, and the tip.
    fn paid(&self) -> i64 {
        self.sale.total_charged + self.tip()
    }
}

/// GET /caja/session/{id}/ventas/{sale}/ticket
pub async fn ticket(
    current: CurrentUser,
    pool: web::Data<PgPool>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, PageError> {
    let (session, sale) = path.into_inner();
    let sale: i64 = sale.parse().map_err(|_| PageError::NotFound("la venta"))?;
    // Only whoever may read the session: anyone else's answers as missing.
    let (caja, session_id, found) =
        with_readable_session(&current, &pool, &session, move |conn, session| {
            Ok((session.caja, session.id, find(conn, session.id, sale)?))
        })
        .await?;
    let found = found.ok_or(PageError::NotFound("la venta"))?;
    let has_card = found.payments.iter().any(|p| {
        p.method
            .parse::<PaymentMethod>()
            .is_ok_and(PaymentMethod::is_card)
    });
    // The settings say how the venue issues; a sale documented before
    // they changed keeps what it was given.
    let issues = found.boletas.enabled || !found.documents.is_empty();
    let voucher_is_boleta = issues && has_card && found.boletas.modelo == ModeloEmision::Voucher;
    let emisor = Emisor::of(&found.boletas).filter(|_| issues);
    html(
        StatusCode::OK,
        &TicketPage {
            chrome: current.chrome(),
            caja,
            session_id,
            sale: found.sale,
            lines: found.lines,
            payments: found.payments,
            documents: found.documents,
            emisor,
            voucher_is_boleta,
        },
    )
}
