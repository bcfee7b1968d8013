//! cajahub: the real-time hub for a venue's cash registers (cajas).
//!
//! One folder per area of the domain, each owning its types, its queries and
//! its handlers: `cajas` (register configuration), `auth` (users, roles,
//! sessions, CSRF), `audit` (the audit trail), `jornadas` (business days),
//! `registers` (one actor per caja: sessions and sales), `payments` (card
//! attempts and provider health), `reports` (the figures of the night),
//! `screens` (the live WebSocket screens), `health` (probes). `db`
//! holds the connection pool, the embedded migrations and the database the hub
//! starts on; `web` the pieces every page shares.

pub mod audit;
pub mod auth;
pub mod backup;
pub mod cajas;
pub mod check;
pub mod cli;
pub mod clock;
pub mod config;
pub mod db;
pub mod health;
pub mod jornadas;
pub mod metrics;
pub mod money;
pub mod payments;
pub mod registers;
pub mod reports;
pub mod screens;
pub mod startup;
pub mod telemetry;
pub mod text;
pub mod web;

/// The commit this binary was built from (`unknown` outside a checkout).
pub const GIT_COMMIT: &str = env!("CAJAHUB_GIT_COMMIT");
