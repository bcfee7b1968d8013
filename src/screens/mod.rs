//! Live screens over WebSockets: a POS screen follows one caja
//! (`/ws/caja/{id}`), a floor dashboard follows them all (`/ws/piso`). Both
//! are behind the login, the role and an `Origin` that is the hub's own,
//! checked before the upgrade. The protocol is described in the README
//! ("Live screens").
//!
//! actix-web-actors is confined to `socket.rs`, so it can be swapped for
//! actix-ws in one place.

mod socket;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};

use crate::auth::CurrentUser;
use crate::auth::user::Role;
use crate::cajas::RegisterId;
use crate::registers::actor::Subscribe;
use crate::registers::ask;
use crate::startup::AppState;

pub use socket::{MAX_FRAME_BYTES, Scope};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/ws/piso", web::get().to(floor))
        .route("/ws/caja/{id}", web::get().to(register));
}

fn refuse(status: actix_web::http::StatusCode, code: &str, message: &str) -> HttpResponse {
    tracing::warn!(code, "websocket refused");
    HttpResponse::build(status)
        .json(serde_json::json!({ "type": "error", "code": code, "message": message }))
}

/// Cross-site WebSocket hijacking: a page of another site may open a socket
/// with the user's cookies; only the hub's own pages may.
fn same_origin(req: &HttpRequest) -> bool {
    let Some(origin) = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let host = req.connection_info().host().to_owned();
    origin == format!("http://{host}") || origin == format!("https://{host}")
}

/// The refusal for a socket opened from another site, if it is one.
fn foreign_origin(req: &HttpRequest) -> Option<HttpResponse> {
    (!same_origin(req)).then(|| {
        refuse(
            actix_web::http::StatusCode::FORBIDDEN,
            "bad_origin",
            "Origen no permitido.",
        )
    })
}

/// GET /ws/piso: every caja, for supervisors.
pub async fn floor(
    current: CurrentUser,
    state: web::Data<AppState>,
    req: HttpRequest,
    stream: web::Payload,
) -> Result<HttpResponse, actix_web::Error> {
    if let Some(refused) = foreign_origin(&req) {
        return Ok(refused);
    }
    if !current.user.role.includes(Role::Supervisor) {
        return Ok(refuse(
            actix_web::http::StatusCode::FORBIDDEN,
            "forbidden",
            "Tu rol no permite ver el piso.",
        ));
    }
    let receiver = state.registers.floor();
    let snapshots = state.registers.snapshots().await;
    socket::start(
        current.user,
        state.clone(),
        Scope::Floor,
        snapshots,
        receiver,
        &req,
        stream,
    )
}

/// GET /ws/caja/{id}: one caja, for the cashier of its open session or a supervisor.
pub async fn register(
    current: CurrentUser,
    state: web::Data<AppState>,
    id: web::Path<String>,
    req: HttpRequest,
    stream: web::Payload,
) -> Result<HttpResponse, actix_web::Error> {
    if let Some(refused) = foreign_origin(&req) {
        return Ok(refused);
    }
    let Ok(id) = id.parse::<RegisterId>() else {
        return Ok(refuse(
            actix_web::http::StatusCode::NOT_FOUND,
            "unknown_caja",
            "No existe esa caja.",
        ));
    };
    let (snapshot, receiver) = match ask(&state.registers, id, Subscribe).await {
        Ok(subscribed) => subscribed,
        Err(err) => return Ok(refuse(err.status(), err.code(), &err.message())),
    };
    let user = &current.user;
    let theirs = snapshot
        .session
        .as_ref()
        .is_some_and(|s| s.opened_by == Some(user.id.0));
    if !user.role.includes(Role::Supervisor) && !theirs {
        return Ok(refuse(
            actix_web::http::StatusCode::FORBIDDEN,
            "not_your_session",
            "La sesión de esta caja no es tuya.",
        ));
    }
    socket::start(
        current.user,
        state.clone(),
        Scope::Register(id),
        vec![snapshot],
        receiver,
        &req,
        stream,
    )
}
