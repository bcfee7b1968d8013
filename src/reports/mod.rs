//! Reports for supervisors and the owner: `/admin/cajas/reportes` (the
//! runbook's PASO 6.3), one row per caja over a jornada or a date range,
//! on the page and as CSV. Every figure is an aggregate in SQL over the
//! sessions' counters (kept equal to their sale rows by the write path), so
//! a year of history is read as fast as a night.

mod audit_trail;
mod closing;

mod boletas;
pub mod jornada;
mod jornada_page;
mod pages;
mod products;
mod query;
mod tips;

/// The reports' pages and exports.
pub fn routes(cfg: &mut actix_web::web::ServiceConfig) {
    pages::routes(cfg);
    closing::routes(cfg);
    audit_trail::routes(cfg);
    jornada_page::routes(cfg);
}

pub use query::{CajaLine, Scope, cajas};
