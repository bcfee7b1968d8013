//! The event log (`register_events`): one row per committed change of a
//! caja, written in the change's own transaction, keyed by
//! `(register_id, seq)` so the database refuses a `seq` used twice. Each row
//! keeps what the change changed of the register (its [`Changes`]),
//! exactly as the screens were sent it: applied in order from any `seq`,
//! they land where the register was after each. A screen that reconnects
//! with the last `seq` it saw gets the missed events replayed from here, and
//! a register that reloads after a write of unknown outcome publishes what
//! it had missed.
//!
//! [`Changes`]: super::snapshot::Changes

use diesel::prelude::*;

use super::audience;
use super::events::Event;
use super::snapshot::{Changes, ChangesJson, Snapshot};
use crate::cajas::CajaId;
use crate::db::jsonb::JsonText;
use crate::db::schema::{register_events, register_seqs};

/// The most events replayed to a screen or published after a reload; a
/// screen further behind gets a snapshot instead.
pub const MAX_REPLAY: i64 = 500;

/// The change names a screen may receive (docs/screens.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Created,
    SessionOpened,
    SaleRecorded,
    SaleVoided,
    CashMovement,
    SessionClosed,
    SaleFlagged,
    FlaggedResolved,
    ConfigChanged,
    Archived,
    Restored,
    CardAttempt,
    ProviderChanged,
}

impl Change {
    pub const ALL: [Change; 13] = [
        Change::Created,
        Change::SessionOpened,
        Change::SaleRecorded,
        Change::SaleVoided,
        Change::CashMovement,
        Change::SessionClosed,
        Change::SaleFlagged,
        Change::FlaggedResolved,
        Change::ConfigChanged,
        Change::Archived,
        Change::Restored,
        Change::CardAttempt,
        Change::ProviderChanged,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Change::Created => "created",
            Change::SessionOpened => "session_opened",
            Change::SaleRecorded => "sale_recorded",
            Change::SaleVoided => "sale_voided",
            Change::CashMovement => "cash_movement",
            Change::SessionClosed => "session_closed",
            Change::SaleFlagged => "sale_flagged",
            Change::FlaggedResolved => "flagged_resolved",
            Change::ConfigChanged => "config_changed",
            Change::Archived => "archived",
            Change::Restored => "restored",
            Change::CardAttempt => "card_attempt",
            Change::ProviderChanged => "provider_changed",
        }
    }

    /// Whether the event carries the whole register: the screens have
    /// nothing of a caja just created, or restored, to apply a change to.
    fn carries_everything(self) -> bool {
        matches!(self, Change::Created | Change::Restored)
    }
}

/// Why a change could not be written where memory said it goes.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    /// The caja's `seq` in the database is not the one memory had: another
    /// writer, or a commit whose answer was lost. Nothing was written.
    #[error("the caja's seq in the database is not {expected}")]
    Moved { expected: i64 },
    #[error(transparent)]
    Db(#[from] diesel::result::Error),
}

/// The number of caja `id`'s last committed change (`register_seqs`).
pub fn committed_seq(conn: &mut PgConnection, id: CajaId) -> QueryResult<i64> {
    register_seqs::table
        .find(id)
        .select(register_seqs::event_seq)
        .first(conn)
}

/// What the event of `change` from `before` to `next` carries.
fn changes<'a>(before: &Snapshot, next: &'a Snapshot, change: Change) -> Changes<'a> {
    let before = (!change.carries_everything()).then_some(before);
    next.changes(before)
}

/// What the event of `change` from `before` to `next` carries, serialized
/// once for the log and for every audience.
pub fn changes_json(
    before: &Snapshot,
    next: &Snapshot,
    change: Change,
) -> Result<ChangesJson, diesel::result::Error> {
    changes(before, next, change)
        .to_json()
        .map_err(unserializable)
}

/// Serializes again the last sales in `json`, the changes that left the
/// register as `next`: a sale's id is given by the statement that writes it.
pub fn renew_sales(json: &mut ChangesJson, next: &Snapshot) -> Result<(), diesel::result::Error> {
    json.renew_sales(&next.history.recent_sales)
        .map_err(unserializable)
}

fn unserializable(err: serde_json::Error) -> diesel::result::Error {
    diesel::result::Error::SerializationError(Box::new(err))
}

/// What the log stores of a change.
pub fn payload(changes: &ChangesJson) -> JsonText {
    JsonText(changes.caja())
}

/// The event to publish of `change`, which left the register as `next`
/// (each audience's frame put together from `changes`).
pub fn event(next: &Snapshot, change: Change, changes: &ChangesJson) -> Event {
    let blind_count = next.caja.blind_count;
    Event::of(next.id().0, next.seq, change.as_str(), changes, blind_count)
}

/// Records `next` as the change that follows `before`, guarded: the caja's
/// `event_seq` moves only from `before`'s, and the log's key refuses a
/// `seq` used twice. Returns the event to publish after commit.
pub fn append(
    conn: &mut PgConnection,
    before: &Snapshot,
    next: &Snapshot,
    change: Change,
) -> Result<Event, AppendError> {
    let (id, previous_seq) = (next.id(), before.seq);
    debug_assert_eq!(next.seq, previous_seq + 1);
    let moved = diesel::update(
        register_seqs::table
            .find(id)
            .filter(register_seqs::event_seq.eq(previous_seq)),
    )
    .set(register_seqs::event_seq.eq(next.seq))
    .execute(conn)?;
    if moved != 1 {
        return Err(AppendError::Moved {
            expected: previous_seq,
        });
    }
    // Serialized once for what is stored and what is published.
    let changes = changes_json(before, next, change)?;
    diesel::insert_into(register_events::table)
        .values((
            register_events::register_id.eq(id),
            register_events::seq.eq(next.seq),
            register_events::change.eq(change.as_str()),
            register_events::payload.eq(&payload(&changes)),
        ))
        .execute(conn)?;
    Ok(event(next, change, &changes))
}

/// The events of caja `id` after `after` up to `upto`, in order, when the
/// log holds every one of them and they are at most [`MAX_REPLAY`];
/// `blind_count` is whether the caja counts blind as of `upto`.
pub fn between(
    conn: &mut PgConnection,
    id: CajaId,
    after: i64,
    upto: i64,
    blind_count: bool,
) -> QueryResult<Option<Vec<Event>>> {
    let wanted = upto - after;
    if !(0..=MAX_REPLAY).contains(&wanted) {
        return Ok(None);
    }
    if wanted == 0 {
        return Ok(Some(Vec::new()));
    }
    let rows: Vec<(i64, String, serde_json::Value)> = register_events::table
        .filter(register_events::register_id.eq(id))
        .filter(register_events::seq.gt(after))
        .filter(register_events::seq.le(upto))
        .order(register_events::seq)
        .select((
            register_events::seq,
            register_events::change,
            register_events::payload,
        ))
        .load(conn)?;
    let complete = rows.len() as i64 == wanted
        && rows
            .iter()
            .zip(after + 1..)
            .all(|((seq, ..), expected)| *seq == expected);
    if !complete {
        return Ok(None);
    }
    // Whether the caja counted blind after each event, from the last one
    // back: an event that carries the caja says so itself; before it, the
    // cash is redacted, since what the screen had is replaced by it anyway.
    let mut blind = blind_count;
    let mut events: Vec<Event> = rows
        .iter()
        .rev()
        .map(|(seq, change, payload)| {
            let blind_then = if payload.get("caja").is_some() {
                blind = true;
                audience::is_blind(payload)
            } else {
                blind
            };
            Event::from_log(id.0, *seq, change, payload, blind_then)
        })
        .collect();
    events.reverse();
    Ok(Some(events))
}
