//! cajahub: the real-time hub for a venue's cash registers (cajas).
//!
//! One folder per area of the domain, each owning its types and its
//! queries, layered so that no module imports one that imports it back
//! (docs/architecture.md, "Layers"; checked by `layers`): `audit` (the
//! trail), `auth` (users, logins, CSRF), `jornadas` (business days),
//! `cajas` (a caja's settings), `payments` (card attempts, terminals,
//! provider health), `registers` (one actor per caja, its commands and the
//! API and pages that reach them), `reports` (what the owner reads),
//! `screens` (the live WebSocket screens), `venue_settings` (the venue's
//! own rules), `boleta` (the tax document of each sale), `health` (probes). `db` holds the
//! connection pool and the migrations, `web` the pieces every page shares,
//! `startup` assembles the hub and shares each piece with its handlers.

pub mod audit;
pub mod auth;
pub mod backup;
pub mod boleta;
pub mod cajas;
pub mod catalog;
pub mod check;
pub mod cli;
pub mod clock;
pub mod config;
pub mod csv;
pub mod db;
pub mod failover;
pub mod health;
pub mod ids;
pub mod jornadas;
#[cfg(test)]
mod layers;
pub mod metrics;
pub mod money;
pub mod payments;
pub mod registers;
pub mod reports;
pub mod screens;
pub mod startup;
pub mod telemetry;
pub mod text;
pub mod tips;
pub mod venue_settings;
pub mod web;

/// The commit this binary was built from (`unknown` outside a checkout).
pub const GIT_COMMIT: &str = env!("CAJAHUB_GIT_COMMIT");
