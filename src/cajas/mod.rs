//! Cajas (cash registers): their configuration, its storage in
//! `pos_registers`, and the admin pages that list, create, edit and archive them.

pub mod domain;
pub mod form;
pub mod model;
mod pages;

use actix_web::web;

pub use model::{Caja, RegisterId};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/cajas", web::get().to(pages::list_without_slash))
        .service(
            web::scope("/admin/cajas")
                .route("/", web::get().to(pages::list))
                .route("/crear", web::get().to(pages::new_form))
                .route("/crear", web::post().to(pages::create))
                .route("/{id}/editar", web::get().to(pages::edit_form))
                .route("/{id}/editar", web::post().to(pages::update))
                .route("/{id}/archivar", web::get().to(pages::archive_form))
                .route("/{id}/archivar", web::post().to(pages::archive))
                .route("/{id}/restaurar", web::post().to(pages::restore)),
        );
}
