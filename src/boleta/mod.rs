//! Boleta electrónica: the tax document a Chilean venue gives for each
//! sale (docs/architecture.md rules 20 and 21). The venue as its issuer
//! and how it issues (`settings`, `/admin/boleta`), what a sale gets now
//! (`issuing`), the RUT (`rut`), the split of a total into its net and its
//! IVA (`iva`), a document as it is sent (`document`), the outbox that
//! sends them (`outbox`), the providers it sends to (`provider`,
//! `simulated`, `http`, and the provider's `webhook`) and what a supervisor watches (`pages`, `/admin/boletas`).

pub mod document;
pub mod http;
pub mod issuing;
pub mod iva;
pub mod outbox;
pub mod pages;
pub mod provider;
pub mod rut;
pub mod settings;
pub mod simulated;
pub mod webhook;
