//! Recording a sale: checked against memory, written by `record`.

use std::borrow::Cow;

use actix::prelude::*;
use diesel::PgConnection;
use serde::Serialize;

use super::card::approve_card_payments;
use super::{may_sell, may_work_session, same_session, within};
use crate::auth::user::User;
use crate::payments::attempt;
use crate::registers::CajaError;
use crate::registers::commit::{Applied, Command, CommandContext, Effect};
use crate::registers::event_log::{self, Change};
use crate::registers::history::RecentSale;
use crate::registers::record;
use crate::registers::sale::ValidSale;
use crate::registers::snapshot::Snapshot;
use crate::registers::store::{self, SaleAck};

/// Records a sale (from the HTTP API or a POS socket).
#[derive(Message)]
#[rtype(result = "Result<RecordedSale, CajaError>")]
pub struct RecordSale {
    pub by: User,
    pub sale: ValidSale,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordedSale {
    #[serde(flatten)]
    pub ack: SaleAck,
    /// True when this answers a retry of a sale already recorded.
    pub replayed: bool,
}

impl RecordedSale {
    /// The answer's fields, as the API and the POS socket send them.
    pub fn fields(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}

impl RecordSale {
    /// The answer already given to this sale's key, when it is a retry
    /// (a retry gets the original answer, whatever happened since).
    fn replay(
        &self,
        conn: &mut PgConnection,
        state: &Snapshot,
    ) -> Result<Option<Applied<RecordedSale>>, CajaError> {
        let Some((ack, fingerprint)) = store::sale_by_key(conn, self.sale.key)? else {
            return Ok(None);
        };
        if ack.register_id == state.id().0 && fingerprint == self.sale.fingerprint() {
            Ok(Some(Applied::Replayed(RecordedSale {
                ack,
                replayed: true,
            })))
        } else {
            Err(CajaError::KeyReused)
        }
    }

    /// Writes the sale, its payments, the session's counters, the caja's
    /// `seq` and the event with one statement ([`record::record_sale`]).
    /// A sale with nothing to approve is that statement alone, its key
    /// looked at only when it is taken (or when the sale is refused; a
    /// large one takes its id first, from the sequence); one
    /// paid with approved card charges first checks and locks them, takes
    /// its id, then marks them paid by it, in the same transaction.
    fn record(
        &self,
        conn: &mut PgConnection,
        state: &Snapshot,
        cx: &CommandContext,
    ) -> Result<Applied<RecordedSale>, CajaError> {
        let checked = may_sell(state)
            .and_then(|()| may_work_session(state, &self.by))
            .and_then(|before| same_session(before, self.sale.session_id).map(|()| before))
            .and_then(|before| within(cx.sale_limits, &self.sale).map(|()| before));
        let before = match checked {
            Ok(before) => before,
            Err(refused) => return self.replay(conn, state)?.ok_or(refused),
        };
        let large_above = cx.sale_limits.confirm_above;
        let (sale, approvals, effects, warnings, reserved) = if self.sale.asks_approval() {
            if let Some(replayed) = self.replay(conn, state)? {
                return Ok(replayed);
            }
            let approved = approve_card_payments(conn, state, before.id, &self.sale, &self.by, cx)?;
            let id = store::reserve_sale_id(conn)?;
            (
                Cow::Owned(approved.sale),
                approved.attempts,
                approved.effects,
                approved.warnings,
                Some(id),
            )
        } else {
            // A large sale is named on the floor by its id: taken ahead.
            let large = self.sale.total_charged > large_above;
            let reserved = large.then(|| store::reserve_sale_id(conn)).transpose()?;
            (
                Cow::Borrowed(&self.sale),
                Vec::new(),
                Vec::new(),
                Vec::new(),
                reserved,
            )
        };
        let after = before.with_sale(&sale, cx.at)?;
        let mut history = state.history.clone();
        // Its id is the database's: given below, in memory and in the
        // event, unless it was taken ahead for its card charges.
        history.sale_recorded(
            RecentSale::new(reserved.unwrap_or(0), cx.at, &sale),
            large_above,
        );
        let mut next = state.changed(state.caja.clone(), Some(after.clone()), history);
        for mut approval in approvals.iter().cloned() {
            approval.sale_id = reserved;
            next.provider_memory.approved(approval.provider, cx.at);
            next.put_attempt(approval);
        }
        next.advise(cx);
        // Stored with the sale's id given by the statement itself.
        let mut changes = event_log::changes_json(state, &next, Change::SaleRecorded)?;
        let payload = event_log::payload(&changes);
        let documented = sale.documented(cx.boletas);
        let written = record::record_sale(
            conn,
            (before, &after),
            (&sale, reserved, documented),
            self.by.id.0,
            &next,
            &payload,
        )?;
        let Some(sale_id) = written else {
            return self.replay(conn, state)?.ok_or(CajaError::KeyReused);
        };
        for approval in &approvals {
            if !attempt::pay(conn, approval.id, sale_id)? {
                return Err(CajaError::SaleAlreadyPaid(approval.id));
            }
        }
        if let Some(recent) = next.history.recent_sales.front_mut() {
            recent.id = sale_id;
        }
        event_log::renew_sales(&mut changes, &next)?;
        let event = event_log::event(&next, Change::SaleRecorded, &changes);
        let mut ack = SaleAck::recorded(sale_id, next.id(), next.seq, &sale);
        ack.warnings = warnings;
        let reply = RecordedSale {
            ack,
            replayed: false,
        };
        let queued = documented.map(|_| Effect::DocumentQueued);
        Ok(Applied::logged(reply, next, event).with_effects(effects.into_iter().chain(queued)))
    }
}

impl Command for RecordSale {
    type Reply = RecordedSale;

    fn one_statement(&self) -> bool {
        !self.sale.asks_approval()
    }

    fn apply(
        &self,
        conn: &mut PgConnection,
        state: &Snapshot,
        cx: &CommandContext,
    ) -> Result<Applied<RecordedSale>, CajaError> {
        self.record(conn, state, cx)
    }
}
