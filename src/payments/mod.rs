//! The payment stack: card payments on the caja's primary provider (the
//! GETNET terminal) with an automatic fallback to its backup (KLAP on the
//! backup phones). Each card payment is an attempt that the caja's actor
//! takes from pending to its outcome (`attempt`; its commands are the
//! caja's, in `registers::commands::card`), every move decided by one
//! transition table (`lifecycle`), every approved charge settled by a
//! sale, a refund or a write-off (`registers::commands::settle`); terminals are
//! adapters behind one trait (`terminal`); each caja's providers have a
//! health from which the POS is told what to use (`health`); the venue
//! declares a provider out when it fails on several cajas (`venue`); and
//! the approved payments are reconciled per provider (`reconcile`).

pub mod attempt;
pub mod health;
pub mod lifecycle;
pub mod method;
pub mod reconcile;
pub mod repeated_code;
pub mod terminal;
pub mod venue;
