//! What the registers push to the screens: every committed change of a
//! register, numbered by its `seq`, plus two unnumbered notices (a caja's
//! health, and "take a fresh snapshot"). Channels are bounded broadcasts: a
//! send never waits, and a subscriber that falls behind learns it lagged and
//! resyncs from a snapshot (ARCHITECTURE.md rules 3 and 6).

use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;
use tokio::sync::broadcast;

use super::audience;
use super::health::Health;
use super::presence::PosPresence;
use crate::auth::user::{Role, User};

/// Events one register's screens may fall behind by before they resync.
pub const REGISTER_CHANNEL: usize = 256;
/// Events the floor dashboards may fall behind by before they resync.
pub const FLOOR_CHANNEL: usize = 1024;

/// The protocol's version, sent in every message.
pub const PROTOCOL_VERSION: u32 = 1;

/// A committed change, already serialized once for every subscriber (and
/// once more, without the cash, for the cashier of a blind-count caja).
#[derive(Debug, Clone)]
pub struct Event {
    pub register_id: i32,
    pub seq: i64,
    pub change: Arc<str>,
    /// The register's open session after the change.
    pub session_id: Option<i64>,
    pub json: Arc<str>,
    /// What a blind-count cashier is sent, when the caja counts blind.
    pub blind_json: Option<Arc<str>>,
}

#[derive(Serialize)]
struct EventMessage<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    v: u32,
    register_id: i32,
    seq: i64,
    change: &'a str,
    register: &'a Value,
}

impl Event {
    /// The event of `change` that left the register as `register` (its
    /// state as stored in the event log).
    pub fn new(register_id: i32, seq: i64, change: &str, register: &Value) -> Self {
        let message = |register: &Value| -> Arc<str> {
            let message = EventMessage {
                kind: "event",
                v: PROTOCOL_VERSION,
                register_id,
                seq,
                change,
                register,
            };
            serde_json::to_string(&message).unwrap_or_default().into()
        };
        let blind_json = audience::is_blind(register).then(|| {
            let mut redacted = register.clone();
            audience::redact_register(&mut redacted);
            message(&redacted)
        });
        Self {
            register_id,
            seq,
            change: change.into(),
            session_id: register["session"]["id"].as_i64(),
            json: message(register),
            blind_json,
        }
    }

    /// The event as `viewer` may see it.
    pub fn json_for(&self, viewer: &User) -> &Arc<str> {
        match &self.blind_json {
            Some(blind) if viewer.role == Role::Cajero => blind,
            _ => &self.json,
        }
    }
}

/// What travels on a channel to the screens.
#[derive(Debug, Clone)]
pub enum Push {
    /// A committed change, in `seq` order.
    Event(Event),
    /// A caja's health or its POS's connection changed (not a change of
    /// its state: no `seq`); the JSON frame, ready to send.
    Notice { register_id: i32, json: Arc<str> },
    /// The register reloaded from the database and the event log cannot
    /// say what changed: every screen takes a fresh snapshot.
    Resync { register_id: i32 },
}

impl Push {
    pub fn health(register_id: i32, health: &Health) -> Self {
        let json = serde_json::json!({
            "type": "health", "v": PROTOCOL_VERSION, "register_id": register_id, "health": health,
        });
        Push::Notice {
            register_id,
            json: json.to_string().into(),
        }
    }

    pub fn pos(register_id: i32, pos: &PosPresence) -> Self {
        let json = serde_json::json!({
            "type": "pos", "v": PROTOCOL_VERSION, "register_id": register_id, "pos": pos,
        });
        Push::Notice {
            register_id,
            json: json.to_string().into(),
        }
    }
}

/// The floor's channel, shared by every register actor.
pub fn floor_channel() -> broadcast::Sender<Push> {
    broadcast::channel(FLOOR_CHANNEL).0
}

pub fn register_channel() -> broadcast::Sender<Push> {
    broadcast::channel(REGISTER_CHANNEL).0
}
