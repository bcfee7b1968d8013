//! Probes for a supervisor process or a load balancer.

use actix_web::{HttpRequest, HttpResponse, get, web};
use serde_json::json;

use crate::db::{self, PgPool, migrations};
use crate::registers::CajaActors;
use crate::web::page::Demo;

/// The process is up and serving.
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// The hub can do its work: the database answers and carries every
/// migration this binary knows. 503 otherwise.
///
/// A balancer needs the status code alone, and that is all anyone reaching
/// the hub through a proxy (the venue's nginx) gets: `{"status": …}`. The
/// details below (the reason, stuck cajas, the ERROR count, the database's
/// fingerprint) go only to a client on the hub's own machine that talks to
/// it directly (`cajahub check --url`, an operator's curl).
///
/// Cajas that do not answer (a write stuck longer than the register
/// timeout, or failing for the database's sake) are named in the body, but
/// leave the hub ready: one stuck caja must not take the whole hub (and
/// every other caja) out of a load balancer. `errors_logged` counts the
/// ERROR lines since the process started; `terminals_simulated` says the
/// card charges are not real (a demo: `cajahub check` fails it elsewhere).
#[get("/readyz")]
pub async fn readyz(
    req: HttpRequest,
    pool: web::Data<PgPool>,
    registers: web::Data<CajaActors>,
    demo: web::Data<Demo>,
) -> HttpResponse {
    let answer = ready(pool, registers, demo).await;
    if on_this_machine(&req) {
        return answer;
    }
    let status = answer.status();
    HttpResponse::build(status).json(json!({
        "status": if status.is_success() { "ready" } else { "unavailable" }
    }))
}

/// A request from the loopback interface that no proxy forwarded.
fn on_this_machine(req: &HttpRequest) -> bool {
    let forwarded = ["x-forwarded-for", "forwarded", "x-real-ip"]
        .iter()
        .any(|name| req.headers().contains_key(*name));
    !forwarded && req.peer_addr().is_some_and(|peer| peer.ip().is_loopback())
}

async fn ready(
    pool: web::Data<PgPool>,
    registers: web::Data<CajaActors>,
    demo: web::Data<Demo>,
) -> HttpResponse {
    let unavailable = |reason: &str| {
        HttpResponse::ServiceUnavailable()
            .json(json!({ "status": "unavailable", "reason": reason }))
    };
    let checked = db::run(&pool, |conn| {
        let pending = migrations::has_pending(conn)?;
        let database =
            db::fingerprint(conn).map_err(|err| migrations::MigrationError::Read(Box::new(err)))?;
        Ok::<_, migrations::MigrationError>((pending, database))
    })
    .await;
    match checked {
        Ok(Ok((false, database))) => {
            let mut stuck: Vec<_> = registers
                .stuck()
                .into_iter()
                .map(|(register, health)| {
                    json!({ "id": register.caja.id, "name": register.caja.name, "health": health })
                })
                .collect();
            // Cajas not loaded at all: no actor, so no name known but the id.
            stuck.extend(registers.unloaded().into_iter().map(|caja| {
                json!({ "id": caja.id, "health": {"status": "stuck", "since": caja.since, "reason": caja.reason} })
            }));
            let errors = crate::telemetry::errors_logged();
            let mut ready = json!({
                "status": "ready",
                "errors_logged": errors,
                "terminals_simulated": demo.0,
                "database": database,
            });
            if !stuck.is_empty() {
                ready["stuck_cajas"] = stuck.into();
            }
            HttpResponse::Ok().json(ready)
        }
        Ok(Ok((true, _))) => unavailable("migraciones pendientes"),
        Ok(Err(err)) => {
            tracing::warn!(error = %err, "not ready: cannot read migrations");
            unavailable("no se pudieron leer las migraciones")
        }
        Err(err) => {
            tracing::warn!(error = %err, "not ready: database unreachable");
            unavailable("base de datos no disponible")
        }
    }
}
