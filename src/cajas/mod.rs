//! Cajas (cash registers): their configuration and its storage in
//! `pos_registers`. The admin pages that list, create, edit and archive
//! them go through each caja's actor: `registers::caja_admin`.

pub mod domain;
pub mod form;
pub mod model;
pub mod terminal;

pub use model::{Caja, CajaId};
