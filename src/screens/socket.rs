//! The WebSocket session of one screen (the only module that knows
//! actix-web-actors). It sends a snapshot, then every event in `seq` order;
//! a gap or a lag is answered with a fresh snapshot. It pings the client and
//! drops one that stays silent, re-checks the user's account so a disabled
//! user's socket closes, limits the commands per second, and answers each
//! command only after the register committed it.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use actix::prelude::*;
use actix_web::{HttpRequest, HttpResponse, web};
use actix_web_actors::ws;
use serde_json::{Value, json};
use tokio::sync::broadcast;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;

use crate::auth::user::{self, User};
use crate::cajas::RegisterId;
use crate::registers::actor::{GetSnapshot, RecordSale, Snapshot};
use crate::registers::events::{Event, PROTOCOL_VERSION};
use crate::registers::sale::SaleRequest;
use crate::registers::{ErrorBody, RegisterError, ask};
use crate::startup::AppState;

/// A larger frame closes the connection.
pub const MAX_FRAME_BYTES: usize = 16 * 1024;
const HEARTBEAT: Duration = Duration::from_secs(5);
const CLIENT_TIMEOUT: Duration = Duration::from_secs(20);
/// The account is re-checked every this many heartbeats.
const RECHECK_EVERY: u32 = 1;
/// Commands a client may send per second before being told to slow down.
const MAX_COMMANDS_PER_SECOND: u32 = 20;

/// What a screen follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Floor,
    Register(RegisterId),
}

pub fn start(
    user: User,
    state: web::Data<AppState>,
    scope: Scope,
    snapshots: Vec<Snapshot>,
    receiver: broadcast::Receiver<Event>,
    req: &HttpRequest,
    stream: web::Payload,
) -> Result<HttpResponse, actix_web::Error> {
    let socket = ScreenSocket {
        user,
        state,
        scope,
        first: Some((snapshots, receiver)),
        known: HashMap::new(),
        last_heard: Instant::now(),
        ticks: 0,
        window: (Instant::now(), 0),
    };
    ws::WsResponseBuilder::new(socket, req, stream)
        .frame_size(MAX_FRAME_BYTES)
        .start()
}

struct ScreenSocket {
    user: User,
    state: web::Data<AppState>,
    scope: Scope,
    /// The snapshot and subscription taken at upgrade, sent on start.
    first: Option<(Vec<Snapshot>, broadcast::Receiver<Event>)>,
    /// The last `seq` sent per register.
    known: HashMap<i32, i64>,
    last_heard: Instant,
    ticks: u32,
    /// Start of the current second and the commands received in it.
    window: (Instant, u32),
}

fn error(id: Option<&Value>, code: &str, message: &str, field: Option<&str>) -> String {
    json!({ "type": "error", "v": PROTOCOL_VERSION, "id": id, "code": code, "message": message, "field": field })
        .to_string()
}

impl ScreenSocket {
    fn send_snapshot(
        &mut self,
        ctx: &mut ws::WebsocketContext<Self>,
        snapshots: Vec<Snapshot>,
        reason: &str,
    ) {
        for snapshot in &snapshots {
            self.known.insert(snapshot.caja.id.0, snapshot.seq);
        }
        ctx.text(json!({ "type": "snapshot", "v": PROTOCOL_VERSION, "reason": reason, "registers": snapshots }).to_string());
    }

    /// Sends a fresh snapshot of what this screen follows.
    fn resync(&mut self, ctx: &mut ws::WebsocketContext<Self>) {
        let state = self.state.clone();
        let scope = self.scope;
        async move {
            match scope {
                Scope::Floor => state.registers.snapshots().await,
                Scope::Register(id) => ask(&state.registers, id, GetSnapshot)
                    .await
                    .into_iter()
                    .collect(),
            }
        }
        .into_actor(self)
        .map(|snapshots, socket, ctx| socket.send_snapshot(ctx, snapshots, "resync"))
        .wait(ctx);
    }

    fn heartbeat(&mut self, ctx: &mut ws::WebsocketContext<Self>) {
        if self.last_heard.elapsed() > CLIENT_TIMEOUT {
            tracing::info!(user = %self.user.name, "silent websocket client dropped");
            ctx.close(Some(ws::CloseReason {
                code: ws::CloseCode::Away,
                description: Some("sin respuesta".into()),
            }));
            ctx.stop();
            return;
        }
        ctx.ping(b"");
        self.ticks += 1;
        if self.ticks.is_multiple_of(RECHECK_EVERY) {
            let (pool, id, epoch) = (
                self.state.pool.clone(),
                self.user.id,
                self.user.session_epoch,
            );
            async move {
                match crate::db::run(&pool, move |conn| user::find(conn, id)).await {
                    Ok(Ok(user)) => !user.is_disabled() && user.session_epoch == epoch,
                    Ok(Err(_)) => false,
                    // The database being away is not the user's fault.
                    Err(_) => true,
                }
            }
            .into_actor(self)
            .map(|still_valid, socket, ctx| {
                if !still_valid {
                    tracing::info!(user = %socket.user.name, "websocket closed: account disabled or changed");
                    ctx.close(Some(ws::CloseReason {
                        code: ws::CloseCode::Policy,
                        description: Some("sesión terminada".into()),
                    }));
                    ctx.stop();
                }
            })
            .spawn(ctx);
        }
    }

    fn over_rate(&mut self) -> bool {
        let (start, count) = self.window;
        if start.elapsed() >= Duration::from_secs(1) {
            self.window = (Instant::now(), 1);
            false
        } else {
            self.window = (start, count + 1);
            count + 1 > MAX_COMMANDS_PER_SECOND
        }
    }

    fn command(&mut self, text: &str, ctx: &mut ws::WebsocketContext<Self>) {
        if self.over_rate() {
            ctx.text(error(
                None,
                "rate_limited",
                "Demasiados mensajes; espera un momento.",
                None,
            ));
            return;
        }
        let message: Value = match serde_json::from_str(text) {
            Ok(message) => message,
            Err(err) => {
                ctx.text(error(
                    None,
                    "invalid_json",
                    &format!("Mensaje no válido: {err}"),
                    None,
                ));
                return;
            }
        };
        let id = message.get("id").cloned();
        match message.get("type").and_then(Value::as_str) {
            Some("pong") => {}
            Some("ping") => ctx.text(json!({ "type": "pong", "v": PROTOCOL_VERSION }).to_string()),
            Some("resync") => self.resync(ctx),
            Some("sale") => self.sale(id, message.get("sale").cloned(), ctx),
            Some(other) => ctx.text(error(
                id.as_ref(),
                "unknown_type",
                &format!("Tipo de mensaje desconocido: {other:?}"),
                Some("type"),
            )),
            None => ctx.text(error(
                id.as_ref(),
                "invalid_message",
                "Falta el campo type.",
                Some("type"),
            )),
        }
    }

    /// A sale from the POS: the same actor message as the HTTP API; the ack
    /// comes after the commit.
    fn sale(
        &mut self,
        id: Option<Value>,
        sale: Option<Value>,
        ctx: &mut ws::WebsocketContext<Self>,
    ) {
        let Scope::Register(register) = self.scope else {
            ctx.text(error(
                id.as_ref(),
                "wrong_screen",
                "Las ventas se registran desde la pantalla de una caja.",
                None,
            ));
            return;
        };
        let request: SaleRequest = match sale.map(serde_json::from_value) {
            Some(Ok(request)) => request,
            Some(Err(err)) => {
                ctx.text(error(
                    id.as_ref(),
                    "invalid_sale",
                    &format!("Venta no válida: {err}"),
                    Some("sale"),
                ));
                return;
            }
            None => {
                ctx.text(error(
                    id.as_ref(),
                    "invalid_sale",
                    "Falta la venta.",
                    Some("sale"),
                ));
                return;
            }
        };
        let sale = match request.validate() {
            Ok(sale) => sale,
            Err(invalid) => {
                ctx.text(error(
                    id.as_ref(),
                    "invalid_sale",
                    &invalid.message,
                    Some(&invalid.field),
                ));
                return;
            }
        };
        let (state, by) = (self.state.clone(), self.user.clone());
        async move { ask(&state.registers, register, RecordSale { by, sale }).await.and_then(|r| r) }
            .into_actor(self)
            .map(move |result, _, ctx| match result {
                Ok(recorded) => ctx.text(
                    json!({
                        "type": "ack", "v": PROTOCOL_VERSION, "id": id, "replayed": recorded.replayed,
                        "sale_id": recorded.ack.sale_id, "register_id": recorded.ack.register_id, "seq": recorded.ack.seq,
                        "total": recorded.ack.total, "total_charged": recorded.ack.total_charged, "change": recorded.ack.change,
                    })
                    .to_string(),
                ),
                Err(err) => {
                    let ErrorBody { code, message, .. } = RegisterError::body(&err);
                    ctx.text(error(id.as_ref(), code, &message, None))
                }
            })
            .spawn(ctx);
    }
}

impl Actor for ScreenSocket {
    type Context = ws::WebsocketContext<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        if let Some((snapshots, receiver)) = self.first.take() {
            self.send_snapshot(ctx, snapshots, "connect");
            ctx.add_stream(BroadcastStream::new(receiver));
        }
        ctx.run_interval(HEARTBEAT, |socket, ctx| socket.heartbeat(ctx));
        tracing::info!(user = %self.user.name, scope = ?self.scope, "screen connected");
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        tracing::info!(user = %self.user.name, scope = ?self.scope, "screen disconnected");
    }
}

impl StreamHandler<Result<Event, BroadcastStreamRecvError>> for ScreenSocket {
    fn handle(&mut self, item: Result<Event, BroadcastStreamRecvError>, ctx: &mut Self::Context) {
        match item {
            Ok(event) => match self.known.get(&event.register_id).copied() {
                // Already in the snapshot this screen has.
                Some(known) if event.seq <= known => {}
                Some(known) if event.seq > known + 1 => self.resync(ctx),
                _ => {
                    self.known.insert(event.register_id, event.seq);
                    ctx.text(&*event.json);
                }
            },
            Err(BroadcastStreamRecvError::Lagged(missed)) => {
                tracing::warn!(user = %self.user.name, missed, "screen fell behind; resyncing");
                self.resync(ctx);
            }
        }
    }

    /// The register was archived and its channel closed: nothing more to follow.
    fn finished(&mut self, ctx: &mut Self::Context) {
        if let Scope::Register(_) = self.scope {
            ctx.close(Some(ws::CloseReason {
                code: ws::CloseCode::Normal,
                description: Some("caja archivada".into()),
            }));
            ctx.stop();
        }
    }
}

impl StreamHandler<Result<ws::Message, ws::ProtocolError>> for ScreenSocket {
    fn handle(&mut self, message: Result<ws::Message, ws::ProtocolError>, ctx: &mut Self::Context) {
        match message {
            Ok(ws::Message::Ping(bytes)) => {
                self.last_heard = Instant::now();
                ctx.pong(&bytes);
            }
            Ok(ws::Message::Pong(_)) => self.last_heard = Instant::now(),
            Ok(ws::Message::Text(text)) => {
                self.last_heard = Instant::now();
                self.command(&text, ctx);
            }
            Ok(ws::Message::Binary(_)) => {
                ctx.text(error(
                    None,
                    "binary_not_supported",
                    "Solo mensajes de texto JSON.",
                    None,
                ));
            }
            Ok(ws::Message::Close(reason)) => {
                ctx.close(reason);
                ctx.stop();
            }
            Ok(ws::Message::Continuation(_)) | Ok(ws::Message::Nop) => {}
            Err(err) => {
                tracing::info!(user = %self.user.name, error = %err, "websocket protocol error; closing");
                ctx.stop();
            }
        }
    }
}
