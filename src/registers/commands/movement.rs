//! Cash added to or dropped from the drawer (retiro, ingreso).

use actix::prelude::*;
use diesel::PgConnection;
use uuid::Uuid;

use super::{author, may_work_session};
use crate::auth::user::User;
use crate::registers::CajaError;
use crate::registers::commit::{Applied, Command, CommandContext};
use crate::registers::event_log::Change;
use crate::registers::history::RecentMovement;
use crate::registers::keys::CommandKey;
use crate::registers::snapshot::Snapshot;
use crate::registers::store::{self, MovementAck};

/// Cash added to or dropped from the drawer.
#[derive(Message)]
#[rtype(result = "Result<MovementAck, CajaError>")]
pub struct CashMovement {
    pub by: User,
    pub movement: store::Movement,
    pub key: Uuid,
}

impl Command for CashMovement {
    type Reply = MovementAck;

    fn apply(
        &self,
        conn: &mut PgConnection,
        state: &Snapshot,
        cx: &CommandContext,
    ) -> Result<Applied<MovementAck>, CajaError> {
        let movement = &self.movement;
        let key = CommandKey::new(
            self.key,
            "cash_movement",
            format!(
                "{}|{}|{}",
                movement.kind,
                movement.amount.get(),
                movement.reason
            ),
        );
        if let Some(ack) = key.replay(conn, state.id())? {
            return Ok(Applied::Replayed(ack));
        }
        let before = may_work_session(state, &self.by)?;
        let after = before.with_movement(movement.kind, movement.amount)?;
        let ack = store::record_movement(
            conn,
            state.id(),
            &author(&self.by, cx.at),
            before,
            &after,
            movement,
            state.next_seq(),
        )?;
        key.remember(conn, state.id(), ack.seq, &ack)?;
        let mut history = state.history.clone();
        history.movement_recorded(RecentMovement {
            id: ack.movement_id,
            at: cx.at,
            kind: movement.kind.to_string(),
            amount: movement.amount.get(),
            reason: movement.reason.clone(),
        });
        Ok(Applied::changed(
            ack,
            Change::CashMovement,
            state.changed(state.caja.clone(), Some(after), history),
        ))
    }
}
