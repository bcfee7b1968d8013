//! Live screens over WebSockets: a POS screen follows one caja
//! (`/ws/caja/{id}`), a floor dashboard follows them all (`/ws/piso`). Both
//! are behind the login, the role and an `Origin` that is the hub's own,
//! checked before the upgrade. The protocol is described in docs/screens.md
//! ("Live screens").
//!
//! The WebSocket library is confined to `socket.rs` (see there why it is
//! actix-ws).

mod connection;
mod counter;
mod frame_guard;
pub mod memory;
mod pages;
mod sent_seqs;
mod shared_snapshot;
mod socket;

use actix_web::{HttpRequest, HttpResponse, web};

use serde::Deserialize;

use crate::auth::CurrentUser;
use crate::auth::user::Role;
use crate::cajas::CajaId;

pub use counter::{Holder, ScreenCaps, Screens, TooManyScreens};
pub use socket::{MAX_FRAME_BYTES, Resume, Scope, Timeouts};

/// What the kernel may hold for one client connection before writes wait.
/// Linux would let it grow to 4 MiB, thousands of events a screen that
/// stopped reading never sees; bounded, such a screen is noticed after a
/// few hundred and dropped (rule 6). Pages and assets are far smaller.
const SOCKET_SEND_BUFFER: usize = 64 * 1024;

/// Tunes every accepted connection (`HttpServer::on_connect`): a bounded
/// send buffer, and no Nagle delay. Without `TCP_NODELAY` a sale's small
/// ack frame, written just after its event frame, waits for the client's
/// delayed ACK of the first (40 ms on Linux, up to 200 ms on Windows).
pub fn tune_connection(
    connection: &dyn std::any::Any,
    extensions: &mut actix_web::dev::Extensions,
) {
    use nix::sys::socket::{setsockopt, sockopt::SndBuf};
    let Some(tcp) = connection.downcast_ref::<actix_web::rt::net::TcpStream>() else {
        return;
    };
    // A screen opened on this connection can cut it (see `connection`).
    if let Some(connection) = connection::Connection::of(tcp) {
        extensions.insert(connection);
    }
    if let Err(err) = setsockopt(tcp, SndBuf, &SOCKET_SEND_BUFFER) {
        tracing::warn!(error = %err, "could not bound a connection's send buffer");
    }
    if let Err(err) = tcp.set_nodelay(true) {
        tracing::warn!(error = %err, "could not set TCP_NODELAY on a connection");
    }
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    pages::routes(cfg);
    cfg.route("/ws/piso", web::get().to(floor))
        .route("/ws/caja/{id}", web::get().to(register));
}

fn refuse(status: actix_web::http::StatusCode, code: &'static str, message: &str) -> HttpResponse {
    tracing::warn!(code, "websocket refused");
    HttpResponse::build(status).json(crate::web::json::ErrorBody::new(code, message, None))
}

/// The refusal for a socket opened from another site, if it is one.
fn foreign_origin(req: &HttpRequest) -> Option<HttpResponse> {
    // Cross-site WebSocket hijacking: a page of another site may open a
    // socket with the user's cookies; only the hub's own pages may.
    (!crate::web::gate::same_origin(req)).then(|| {
        refuse(
            actix_web::http::StatusCode::FORBIDDEN,
            "bad_origin",
            "Origen no permitido.",
        )
    })
}

/// Where a reconnecting screen left off: `last_seq=41` (one caja) or
/// `last_seq=1:41,2:17` (the floor: caja and seq, for each caja it had).
#[derive(Debug, Default, Deserialize)]
pub struct ResumeQuery {
    #[serde(default)]
    last_seq: Option<String>,
}

impl ResumeQuery {
    /// The seqs given, when every part of them is well formed; anything
    /// else is simply a new screen (it gets a snapshot).
    fn parse(&self, caja: Option<CajaId>) -> Resume {
        let Some(raw) = self.last_seq.as_deref().filter(|raw| !raw.is_empty()) else {
            return Resume::new();
        };
        let parsed: Option<Resume> = match caja {
            Some(caja) => raw
                .parse::<i64>()
                .ok()
                .map(|seq| Resume::from([(caja.0, seq)])),
            None => raw
                .split(',')
                .map(|pair| {
                    let (id, seq) = pair.split_once(':')?;
                    Some((id.parse().ok()?, seq.parse().ok()?))
                })
                .collect(),
        };
        parsed
            .filter(|resume| resume.values().all(|seq| *seq >= 0))
            .unwrap_or_default()
    }
}

/// GET /ws/piso: every caja, for supervisors.
pub async fn floor(
    current: CurrentUser,
    backend: socket::Backend,
    query: web::Query<ResumeQuery>,
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
    let (receiver, views) = backend.registers.subscribe_floor();
    socket::start(
        current,
        backend.clone(),
        Scope::Floor,
        views,
        receiver,
        query.parse(None),
        &req,
        stream,
    )
}

/// GET /ws/caja/{id}: one caja, for the cashier of its open session or a supervisor.
pub async fn register(
    current: CurrentUser,
    backend: socket::Backend,
    id: web::Path<String>,
    query: web::Query<ResumeQuery>,
    req: HttpRequest,
    stream: web::Payload,
) -> Result<HttpResponse, actix_web::Error> {
    if let Some(refused) = foreign_origin(&req) {
        return Ok(refused);
    }
    let Ok(id) = id.parse::<CajaId>() else {
        return Ok(refuse(
            actix_web::http::StatusCode::NOT_FOUND,
            "unknown_caja",
            "No existe esa caja.",
        ));
    };
    let Some((receiver, view)) = backend.registers.subscribe(id) else {
        return Ok(refuse(
            actix_web::http::StatusCode::NOT_FOUND,
            "unknown_caja",
            "No existe esa caja (o está archivada).",
        ));
    };
    let user = &current.user;
    let theirs = view
        .register
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
        current,
        backend.clone(),
        Scope::Register(id),
        vec![view],
        receiver,
        query.parse(Some(id)),
        &req,
        stream,
    )
}
