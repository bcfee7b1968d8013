//! The payment stack: card payments on the caja's primary provider (the
//! GETNET terminal) with an automatic fallback to its backup (KLAP on the
//! backup phones). Each card payment is an attempt that the caja's actor
//! takes from pending to its outcome (`attempt`, `commands`), every move
//! decided by one transition table (`lifecycle`), every approved charge
//! settled by a sale, a refund or a write-off (`settle`); terminals are
//! adapters behind one trait (`terminal`); each caja's providers have a
//! health from which the POS is told what to use (`health`); the venue
//! declares a provider out when it fails on several cajas (`venue`); and
//! the approved payments are reconciled per provider (`reconcile`).

pub mod api;
pub mod attempt;
pub mod commands;
pub mod health;
pub mod lifecycle;
pub mod reconcile;
pub mod settle;
pub mod terminal;
pub mod venue;

pub use api::routes;
