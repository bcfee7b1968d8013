//! What a standby hub answers while it waits for the lease: alive on
//! `/healthz`, not ready on `/readyz` (503, `"standby"`), and 503 with the
//! API's error shape to anything else, so a load balancer that still sends
//! it a request hears to try the active one.

use std::net::TcpListener;

use actix_web::dev::Server;
use actix_web::{App, HttpResponse, HttpServer, web};
use serde_json::json;

use crate::web::json::ErrorBody;

/// The standby's server on `listener`, not yet running.
pub fn server(listener: TcpListener) -> std::io::Result<Server> {
    Ok(HttpServer::new(|| {
        App::new()
            .route(
                "/healthz",
                web::get().to(|| async { HttpResponse::Ok().json(json!({"status": "standby"})) }),
            )
            .route(
                "/readyz",
                web::get().to(|| async {
                    HttpResponse::ServiceUnavailable().json(json!({"status": "standby"}))
                }),
            )
            .default_service(web::to(|| async {
                HttpResponse::ServiceUnavailable()
                    .insert_header(("Retry-After", "1"))
                    .json(ErrorBody::new(
                        "standby",
                        "este hub espera como respaldo: otro hub atiende",
                        None,
                    ))
            }))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)?
    .run())
}
