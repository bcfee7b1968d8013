//! What the registers push to the screens: every committed change of a
//! register, numbered by its `seq`, plus two unnumbered notices (a caja's
//! health, and "take a fresh snapshot"). Channels are bounded broadcasts: a
//! send never waits, and a subscriber that falls behind learns it lagged and
//! resyncs from a snapshot (docs/architecture.md rules 3 and 6).

use std::sync::Arc;

use bytestring::ByteString;
use serde::Serialize;
use serde_json::Value;
use tokio::sync::broadcast::{self, error::RecvError};

use super::audience;
use super::floor_feed::FloorReceiver;
use super::health::Health;
use super::presence::PosPresence;
use super::snapshot::ChangesJson;
use crate::auth::user::{Role, User};
use crate::payments::attempt::AttemptStatus;

/// Events one register's screens may fall behind by before they resync.
pub const REGISTER_CHANNEL: usize = 256;
/// Events the floor dashboards may fall behind by before they resync.
pub const FLOOR_CHANNEL: usize = 1024;

/// The protocol's version, sent in every message.
pub const PROTOCOL_VERSION: u32 = 3;

/// A committed change, already serialized once for every subscriber (and
/// once more, without the cash, for the cashier of a blind-count caja).
/// The frames are shared, not copied, by the screens that send them.
#[derive(Debug, Clone)]
pub struct Event {
    pub register_id: i32,
    pub seq: i64,
    pub change: Arc<str>,
    /// The register's open session after the change, when the change
    /// carries the session (`None`: the change did not touch it).
    pub session_id: Option<Option<i64>>,
    pub json: ByteString,
    /// What a blind-count cashier is sent, when the caja counts blind.
    pub blind_json: Option<ByteString>,
    /// What the floor dashboards are sent (see [`Floor`]).
    pub floor_json: ByteString,
}

/// A register, or what a change changed of it, as the floor dashboards
/// get it: all of it but the lists of its last sales and cash movements
/// (and a sale put first in them), which only the caja's own screens
/// show, and with only the card attempts nobody knows the end of and the
/// charges still to settle (the floor's alerts; the caja's screens get its
/// last ones too). Those lists
/// are the largest part of a busy caja's register, and thousands of
/// dashboards get every event of every caja. This is the rule applied to a
/// register or a payload read back from the log; a change just committed
/// applies it as it is serialized (`ChangesJson::floor`), and the tests
/// hold the two to the same frames.
pub struct Floor<'a>(pub &'a Value);

impl Floor<'_> {
    const LEFT_OUT: [&'static str; 3] = ["recent_sales", "recent_sale", "recent_movements"];
    const CARD_ATTEMPTS: &'static str = "card_attempts";

    /// An alert for the floor: nobody knows whether it charged, or it is a
    /// charge nothing has settled yet (`CardAttempt::is_floor_alert`).
    fn alert(attempt: &&Value) -> bool {
        let status = attempt["status"]
            .as_str()
            .and_then(|status| status.parse::<AttemptStatus>().ok());
        let open_charge = status == Some(AttemptStatus::Approved)
            && attempt["sale_id"].is_null()
            && attempt["written_off_at"].is_null()
            && attempt["refunded_amount"].as_i64() < attempt["amount"].as_i64();
        status.is_some_and(AttemptStatus::is_unresolved) || open_charge
    }
}

impl Serialize for Floor<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let Value::Object(fields) = self.0 else {
            return self.0.serialize(serializer);
        };
        let kept = fields
            .iter()
            .filter(|(key, _)| !Self::LEFT_OUT.contains(&key.as_str()));
        let mut map = serializer.serialize_map(None)?;
        for (key, value) in kept {
            match value {
                Value::Array(attempts) if key == Self::CARD_ATTEMPTS => {
                    let alerts: Vec<&Value> = attempts.iter().filter(Self::alert).collect();
                    map.serialize_entry(key, &alerts)?;
                }
                _ => map.serialize_entry(key, value)?,
            }
        }
        map.end()
    }
}

/// An event's frame: what changed, in the protocol's envelope.
fn message(register_id: i32, seq: i64, change: &str, changed: impl Serialize) -> ByteString {
    framed(
        register_id,
        seq,
        change,
        &serde_json::to_string(&changed).unwrap_or_default(),
    )
}

/// The frame a blind-count cashier is sent of `register`'s changes.
fn blind(register_id: i32, seq: i64, change: &str, mut register: Value) -> ByteString {
    audience::redact_register(&mut register);
    message(register_id, seq, change, &register)
}

/// An event's frame around `changed`, a JSON object already serialized:
/// `{"type":"event","v":…,"register_id":…,"seq":…,"change":…,"changed":…}`.
fn framed(register_id: i32, seq: i64, change: &str, changed: &str) -> ByteString {
    use std::fmt::Write;
    let mut frame = String::with_capacity(changed.len() + 96);
    let _ = write!(
        frame,
        r#"{{"type":"event","v":{PROTOCOL_VERSION},"register_id":{register_id},"seq":{seq},"change":{},"changed":{changed}}}"#,
        serde_json::to_string(change).unwrap_or_default(),
    );
    frame.into()
}

impl Event {
    /// The event of `change` just committed, which changed `changes` of
    /// the register: each audience's frame put together from the parts
    /// serialized once.
    pub fn of(
        register_id: i32,
        seq: i64,
        change: &str,
        changes: &ChangesJson,
        blind_count: bool,
    ) -> Self {
        let changed = changes.caja();
        let blind_json = blind_count.then(|| {
            let register = serde_json::from_str(&changed).unwrap_or_default();
            blind(register_id, seq, change, register)
        });
        Event {
            register_id,
            seq,
            change: change.into(),
            session_id: changes.session_id(),
            json: framed(register_id, seq, change, &changed),
            blind_json,
            floor_json: framed(register_id, seq, change, &changes.floor()),
        }
    }

    /// The event of `change` read back from the log, which changed
    /// `changed` of the register (its stored payload, see
    /// [`super::snapshot::Changes`]), on a caja that counts blind or not
    /// after it.
    pub fn from_log(
        register_id: i32,
        seq: i64,
        change: &str,
        changed: &Value,
        blind_count: bool,
    ) -> Self {
        Event {
            register_id,
            seq,
            change: change.into(),
            session_id: changed.get("session").map(|session| session["id"].as_i64()),
            json: message(register_id, seq, change, changed),
            blind_json: blind_count.then(|| blind(register_id, seq, change, changed.clone())),
            floor_json: message(register_id, seq, change, Floor(changed)),
        }
    }

    /// The event as `viewer` may see it.
    pub fn json_for(&self, viewer: &User) -> &ByteString {
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
    Notice { register_id: i32, json: ByteString },
    /// The register reloaded from the database and the event log cannot
    /// say what changed: every screen takes a fresh snapshot. `None`: of
    /// every register (the floor's feed missed pushes).
    Resync { register_id: Option<i32> },
    /// Pushes the floor's feed gathered for one hand-on (see
    /// [`super::floor_feed`]), in order; never nested.
    Batch(Arc<[Push]>),
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

/// What a screen receives: its caja's channel, or its group of the floor's
/// feed.
pub enum Subscription {
    Register(broadcast::Receiver<Push>),
    Floor(FloorReceiver),
}

impl Subscription {
    pub async fn recv(&mut self) -> Result<Push, RecvError> {
        match self {
            Subscription::Register(receiver) => receiver.recv().await,
            Subscription::Floor(receiver) => receiver.recv().await,
        }
    }

    /// The screen queued what it received (the floor's feed waits for a
    /// group to have, before it hands on to the next).
    pub async fn took(&self) {
        if let Subscription::Floor(receiver) = self {
            receiver.took().await;
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
