//! Opening and closing a caja's session.

use actix::prelude::*;
use diesel::PgConnection;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{author, may_sell, may_work_session, same_session};
use crate::auth::user::{Role, User};
use crate::money::Pesos;
use crate::payments::attempt;
use crate::registers::CajaError;
use crate::registers::commit::{Applied, Command, CommandContext};
use crate::registers::event_log::Change;
use crate::registers::keys::{self, CommandKey};
use crate::registers::snapshot::Snapshot;
use crate::registers::store::{self, ClosedSession};

/// Opens a session with its float (fondo inicial).
#[derive(Message)]
#[rtype(result = "Result<OpenedSession, CajaError>")]
pub struct OpenSession {
    pub by: User,
    pub initial_cash: Pesos,
    /// The opening form's key: sending the form twice opens one session.
    pub key: Option<Uuid>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenedSession {
    pub session_id: i32,
    pub seq: i64,
}

impl Command for OpenSession {
    type Reply = OpenedSession;

    fn apply(
        &self,
        conn: &mut PgConnection,
        state: &Snapshot,
        cx: &CommandContext,
    ) -> Result<Applied<OpenedSession>, CajaError> {
        let key = self.key.map(|key| {
            CommandKey::new(
                key,
                "open_session",
                format!("{}|{}", self.by.id, self.initial_cash.get()),
            )
        });
        if let Some(opened) = keys::replay(conn, key.as_ref(), state.id())? {
            return Ok(Applied::Replayed(opened));
        }
        if state.session.is_some() {
            return Err(CajaError::SessionAlreadyOpen);
        }
        may_sell(state)?;
        let session = store::open_session(
            conn,
            &author(&self.by, cx.at),
            state.id(),
            self.initial_cash,
        )?;
        let reply = OpenedSession {
            session_id: session.id,
            seq: state.next_seq(),
        };
        keys::remember(conn, key.as_ref(), state.id(), reply.seq, &reply)?;
        let mut history = state.history.clone();
        history.session_opened(&session);
        Ok(Applied::changed(
            reply,
            Change::SessionOpened,
            state.changed(state.caja.clone(), Some(session), history),
        ))
    }
}

/// Closes the open session with the cash counted.
#[derive(Message)]
#[rtype(result = "Result<ClosedSession, CajaError>")]
pub struct CloseSession {
    pub by: User,
    pub count: Pesos,
    pub detail: Option<serde_json::Value>,
    /// The session the count is for: never another one opened meanwhile.
    pub session_id: Option<i32>,
    /// The closing form's key: sending it twice closes once.
    pub key: Option<Uuid>,
}

impl Command for CloseSession {
    type Reply = ClosedSession;

    fn apply(
        &self,
        conn: &mut PgConnection,
        state: &Snapshot,
        cx: &CommandContext,
    ) -> Result<Applied<ClosedSession>, CajaError> {
        let key = self.key.map(|key| {
            let detail = self
                .detail
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default();
            CommandKey::new(
                key,
                "close_session",
                format!("{:?}|{}|{detail}", self.session_id, self.count.get()),
            )
        });
        if let Some(closed) = keys::replay(conn, key.as_ref(), state.id())? {
            return Ok(Applied::Replayed(closed));
        }
        let session = may_work_session(state, &self.by)?;
        same_session(session, self.session_id)?;
        // Nobody knows yet whether these customers were charged.
        let unresolved = attempt::unresolved_of_session(conn, session.id)?;
        if !unresolved.is_empty() {
            return Err(CajaError::AttemptsUnresolved(
                unresolved.iter().map(|a| a.describe()).collect(),
            ));
        }
        // Every approved charge ends used by a sale, refunded or written off.
        let open_charges = attempt::open_charges_of_session(conn, state.id(), session.id)?;
        if !open_charges.is_empty() {
            return Err(CajaError::ChargesUnsettled(
                open_charges.iter().map(|a| a.describe()).collect(),
            ));
        }
        // Beyond the caja's limit only a supervisor closes, and is recorded
        // as having approved the difference.
        let difference = self
            .count
            .checked_sub(session.expected_cash())
            .ok_or(CajaError::Overflow)?;
        let limit = state
            .caja
            .max_cash_difference
            .and_then(|l| Pesos::non_negative(l).ok());
        let approved_by = match limit {
            Some(limit) if difference.get().abs() > limit.get() => {
                if !self.by.role.includes(Role::Supervisor) {
                    return Err(CajaError::DifferenceNeedsApproval { difference, limit });
                }
                Some(self.by.id.0)
            }
            _ => None,
        };
        let closed = store::close_session(
            conn,
            &author(&self.by, cx.at),
            session,
            self.count,
            self.detail.clone(),
            approved_by,
        )?;
        keys::remember(conn, key.as_ref(), state.id(), state.next_seq(), &closed)?;
        let mut history = state.history.clone();
        history.session_closed(session, &closed);
        Ok(Applied::changed(
            closed,
            Change::SessionClosed,
            state.changed(state.caja.clone(), None, history),
        ))
    }
}
