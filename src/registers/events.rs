//! Events: every committed change of a register, numbered by its `seq`, sent
//! to that register's screens and to the floor. Channels are bounded
//! broadcasts: a send never waits, and a subscriber that falls behind learns
//! it lagged and resyncs from a snapshot (ARCHITECTURE.md rules 3 and 6).

use std::sync::Arc;

use serde::Serialize;
use tokio::sync::broadcast;

use super::actor::Snapshot;

/// Events one register's screens may fall behind by before they resync.
pub const REGISTER_CHANNEL: usize = 256;
/// Events the floor dashboards may fall behind by before they resync.
pub const FLOOR_CHANNEL: usize = 1024;

/// The protocol's version, sent in every message.
pub const PROTOCOL_VERSION: u32 = 1;

/// A committed change, already serialized once for every subscriber.
#[derive(Debug, Clone)]
pub struct Event {
    pub register_id: i32,
    pub seq: i64,
    pub json: Arc<str>,
}

#[derive(Serialize)]
struct EventMessage<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    v: u32,
    register_id: i32,
    seq: i64,
    change: &'a str,
    register: &'a Snapshot,
}

impl Event {
    pub fn new(change: &str, snapshot: &Snapshot) -> Self {
        let message = EventMessage {
            kind: "event",
            v: PROTOCOL_VERSION,
            register_id: snapshot.caja.id.0,
            seq: snapshot.seq,
            change,
            register: snapshot,
        };
        Self {
            register_id: snapshot.caja.id.0,
            seq: snapshot.seq,
            json: serde_json::to_string(&message).unwrap_or_default().into(),
        }
    }
}

/// The floor's channel, shared by every register actor.
pub fn floor_channel() -> broadcast::Sender<Event> {
    broadcast::channel(FLOOR_CHANNEL).0
}

pub fn register_channel() -> broadcast::Sender<Event> {
    broadcast::channel(REGISTER_CHANNEL).0
}
