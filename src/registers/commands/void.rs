//! A supervisor voids a sale of the open session.

use actix::prelude::*;
use diesel::PgConnection;
use uuid::Uuid;

use super::author;
use super::settle;
use crate::auth::user::{Role, User};
use crate::boleta;
use crate::registers::CajaError;
use crate::registers::commit::{Applied, Command, CommandContext, Effect};
use crate::registers::event_log::Change;
use crate::registers::keys::CommandKey;
use crate::registers::snapshot::Snapshot;
use crate::registers::store::{self, VoidAck};

/// A supervisor voids a sale of the open session.
#[derive(Message)]
#[rtype(result = "Result<VoidAck, CajaError>")]
pub struct VoidSale {
    pub by: User,
    pub sale_id: i64,
    pub reason: String,
    pub key: Uuid,
    /// The cashier on whose device the supervisor signed with their PIN.
    pub signed_on_device_of: Option<String>,
    /// The code the terminal printed for giving the sale's card payments
    /// back: they are refunded with the void (a simulated terminal refunds
    /// them by itself). Without it they stay "a devolver" (refunded later).
    pub refund_code: Option<String>,
}

impl Command for VoidSale {
    type Reply = VoidAck;

    fn apply(
        &self,
        conn: &mut PgConnection,
        state: &Snapshot,
        cx: &CommandContext,
    ) -> Result<Applied<VoidAck>, CajaError> {
        let key = CommandKey::new(
            self.key,
            "void_sale",
            format!("{}|{}|{:?}", self.sale_id, self.reason, self.refund_code),
        );
        if let Some(ack) = key.replay(conn, state.id())? {
            return Ok(Applied::Replayed(ack));
        }
        if !self.by.role.includes(Role::Supervisor) {
            return Err(CajaError::SupervisorOnly);
        }
        // A card sale's payments go back with the void: with the code the
        // manual terminal printed, or the simulated terminal's own.
        let refund_code = match self.refund_code.as_deref() {
            None if !cx.simulates_terminal_of(&state.caja) => None,
            typed => Some(settle::refund_code(typed, state, cx, "refund_code")?),
        };
        let session = state.session.as_ref().ok_or(CajaError::NoOpenSession)?;
        let (ack, after) = store::void_sale(
            conn,
            &author(&self.by, cx.at),
            session,
            self.sale_id,
            &self.reason,
            self.signed_on_device_of.as_deref(),
            state.next_seq(),
        )?;
        let refunded = match &refund_code {
            Some(code) => settle::refund_voided_sale(
                conn,
                ack.sale_id,
                code,
                &format!("anulación: {}", self.reason),
                &self.by,
                cx.at,
            )?,
            None => Vec::new(),
        };
        // A boleta issued for it is undone by a nota de crédito, sent
        // through the outbox like the boleta (under this void's key).
        let credited = boleta::document::queue_credit_note(conn, ack.sale_id, self.key, cx.at)?;
        key.remember(conn, state.id(), ack.seq, &ack)?;
        let mut history = state.history.clone();
        history.sale_voided(ack.sale_id);
        let mut next = state.changed(state.caja.clone(), Some(after), history);
        for attempt in refunded {
            next.put_attempt(attempt);
        }
        let queued = credited.then_some(Effect::DocumentQueued);
        Ok(Applied::changed(ack, Change::SaleVoided, next).with_effects(queued))
    }
}
