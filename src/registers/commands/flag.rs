//! Sales kept for a supervisor (flagged), and their resolution.

use actix::prelude::*;
use diesel::PgConnection;

use crate::auth::user::{Role, User};
use crate::registers::CajaError;
use crate::registers::commit::{Applied, Command, CommandContext};
use crate::registers::event_log::Change;
use crate::registers::flagged::{self, FlagAck, ValidFlag};
use crate::registers::snapshot::Snapshot;

/// A sale the POS took offline and the hub cannot record as made: kept for
/// a supervisor (see `flagged`).
#[derive(Message)]
#[rtype(result = "Result<FlagAck, CajaError>")]
pub struct FlagSale {
    pub by: User,
    pub flag: ValidFlag,
}

impl Command for FlagSale {
    type Reply = FlagAck;

    fn apply(
        &self,
        conn: &mut PgConnection,
        state: &Snapshot,
        _: &CommandContext,
    ) -> Result<Applied<FlagAck>, CajaError> {
        let ack = flagged::insert(conn, state.id(), &self.flag, &self.by)?;
        if ack.replayed {
            return Ok(Applied::Replayed(ack));
        }
        let mut history = state.history.clone();
        history.flagged_pending += 1;
        Ok(Applied::changed(
            ack,
            Change::SaleFlagged,
            state.changed(state.caja.clone(), state.session.clone(), history),
        ))
    }
}

/// A supervisor settles a flagged sale.
#[derive(Message)]
#[rtype(result = "Result<(), CajaError>")]
pub struct ResolveFlagged {
    pub by: User,
    pub flagged_id: i64,
    pub resolution: String,
}

impl Command for ResolveFlagged {
    type Reply = ();

    fn apply(
        &self,
        conn: &mut PgConnection,
        state: &Snapshot,
        _: &CommandContext,
    ) -> Result<Applied<()>, CajaError> {
        if !self.by.role.includes(Role::Supervisor) {
            return Err(CajaError::SupervisorOnly);
        }
        flagged::resolve(
            conn,
            &self.by.actor(),
            state.id(),
            self.flagged_id,
            &self.resolution,
            self.by.id.0,
        )?;
        let mut history = state.history.clone();
        history.flagged_pending = (history.flagged_pending - 1).max(0);
        Ok(Applied::changed(
            (),
            Change::FlaggedResolved,
            state.changed(state.caja.clone(), state.session.clone(), history),
        ))
    }
}
