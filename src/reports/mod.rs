//! Reports for supervisors and the owner: `/admin/cajas/reportes` (the
//! runbook's PASO 6.3), one row per caja over a jornada or a date range,
//! on the page and as CSV. Every figure is an aggregate in SQL over the
//! sessions' counters (kept equal to their sale rows by the write path), so
//! a year of history is read as fast as a night.

mod csv;
pub mod jornada;
mod pages;
mod query;

pub use pages::routes;
pub use query::{CajaLine, Scope, cajas};
