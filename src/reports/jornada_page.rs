//! /admin/jornadas/{id}: one jornada's report: its sessions, its cajas'
//! figures, its card payments per provider and its hours.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;

use super::boletas::{self, DocumentCount};
use super::jornada::{self, Chart, Fallback, TopLine};
use super::products::{self, CategorySold};
use super::tips::{self, CashierTips};
use super::{CajaLine, Scope};
use crate::auth::SupervisorUser;
use crate::db::{self, PgPool};
use crate::jornadas::{self, Jornada, JornadaSession};
use crate::money::Pesos;
use crate::payments::reconcile::{self, Reconciliation};
use crate::registers::ledger::ProductSold;
use crate::web::{Chrome, PageError, html};

/// How many products the page lists, best-selling first.
const TOP_PRODUCTS: usize = 10;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/jornadas/{id}", web::get().to(jornada_page));
}

#[derive(Template)]
#[template(path = "jornadas/show.html")]
struct JornadaPage {
    chrome: Option<Chrome>,
    jornada: Jornada,
    opener: String,
    sessions: Vec<JornadaSession>,
    reconciliation: Reconciliation,
    cajas: Vec<CajaLine>,
    top: TopLine,
    fallbacks: Vec<Fallback>,
    chart: Chart,
    /// The best-selling products (the CSV has every one).
    products: Vec<ProductSold>,
    /// How many products sold in all.
    product_count: usize,
    categories: Vec<CategorySold>,
    /// Tips per cashier, and in all (apart from the sales).
    tips: Vec<CashierTips>,
    tips_total: CashierTips,
    /// Its tax documents by type and status.
    boletas: Vec<DocumentCount>,
}

impl JornadaPage {
    fn local(&self, at: &chrono::DateTime<chrono::Utc>) -> String {
        crate::web::local_time(at)
    }

    /// When a session closed: its time alone when it closed the day it
    /// opened (the row already says the date).
    fn closed(
        &self,
        opened: &chrono::DateTime<chrono::Utc>,
        closed: &chrono::DateTime<chrono::Utc>,
    ) -> String {
        let span = crate::web::local_span(opened, Some(closed));
        span.rsplit(" → ").next().unwrap_or_default().to_owned()
    }

    fn pesos(&self, amount: impl std::borrow::Borrow<i64>) -> Pesos {
        Pesos::new(*amount.borrow()).unwrap_or_default()
    }

    /// "faltante $500", "sobrante $100" or "cuadra" for the caja's counted
    /// sessions; a session still open is not counted, and says so.
    fn difference_words(&self, caja: &CajaLine) -> String {
        let counted = caja.sessions - caja.open_sessions;
        let words = match caja.difference {
            _ if counted == 0 => "sin contar".to_owned(),
            0 => "cuadra".to_owned(),
            d if d < 0 => format!("faltante {}", self.pesos(-d)),
            d => format!("sobrante {}", self.pesos(d)),
        };
        match caja.open_sessions {
            0 => words,
            _ if counted == 0 => "sin contar: sesión abierta".to_owned(),
            open => format!("{words}; {open} sesión(es) abierta(s) sin contar"),
        }
    }
}

/// GET /admin/jornadas/{id}: the jornada's sessions and its card payments
/// per provider.
pub async fn jornada_page(
    user: SupervisorUser,
    pool: web::Data<PgPool>,
    id: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let id: i32 = id.parse().map_err(|_| PageError::NotFound("la jornada"))?;
    let found = db::run(&pool, move |conn| {
        let Some((jornada, opener)) = jornadas::find(conn, id)? else {
            return Ok::<_, diesel::result::Error>(None);
        };
        let sessions = jornadas::sessions(conn, id)?;
        let reconciliation = reconcile::of_jornada(conn, id)?;
        let cajas = super::cajas(conn, Some(Scope::Jornada(id)))?;
        let fallbacks = jornada::fallbacks(conn, id)?;
        let hours = jornada::hours(conn, id)?;
        let sold = (
            products::by_product(conn, id)?,
            products::by_category(conn, id)?,
            tips::by_cashier(conn, id)?,
            boletas::of_jornada(conn, id)?,
        );
        Ok(Some((
            (jornada, opener, sessions),
            reconciliation,
            cajas,
            fallbacks,
            hours,
            sold,
        )))
    })
    .await??;
    let ((jornada, opener, sessions), reconciliation, cajas, fallbacks, hours, sold) =
        found.ok_or(PageError::NotFound("la jornada"))?;
    let (mut products, categories, tips, boletas) = sold;
    let product_count = products.len();
    products.truncate(TOP_PRODUCTS);
    // Only the cajas that worked this jornada.
    let cajas: Vec<CajaLine> = cajas.into_iter().filter(|c| c.sessions > 0).collect();
    html(
        StatusCode::OK,
        &JornadaPage {
            chrome: user.chrome(),
            jornada,
            opener,
            sessions,
            reconciliation,
            top: TopLine::of(&cajas),
            cajas,
            fallbacks,
            chart: Chart::of(&hours),
            products,
            product_count,
            categories,
            tips_total: tips::total(&tips),
            tips,
            boletas,
        },
    )
}
