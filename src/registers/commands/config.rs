//! An admin's edit of the caja's configuration, and its archiving.

use actix::prelude::*;
use diesel::PgConnection;

use crate::audit::Actor as AuditActor;
use crate::cajas::Caja;
use crate::cajas::domain::CajaConfig;
use crate::registers::CajaError;
use crate::registers::commit::{Applied, Command, CommandContext};
use crate::registers::event_log::Change;
use crate::registers::snapshot::Snapshot;

/// An admin's edit of the caja's configuration.
#[derive(Message)]
#[rtype(result = "Result<Caja, CajaError>")]
pub struct UpdateConfig {
    pub actor: AuditActor,
    pub expected_version: i32,
    pub config: CajaConfig,
}

impl Command for UpdateConfig {
    type Reply = Caja;

    fn apply(
        &self,
        conn: &mut PgConnection,
        state: &Snapshot,
        _: &CommandContext,
    ) -> Result<Applied<Caja>, CajaError> {
        let caja = Caja::update(
            conn,
            &self.actor,
            state.id(),
            self.expected_version,
            &self.config,
        )?;
        let next = state.changed(caja, state.session.clone(), state.history.clone());
        Ok(Applied::changed(
            next.caja.clone(),
            Change::ConfigChanged,
            next,
        ))
    }
}

/// Archives the caja; the actor stops once it is archived.
#[derive(Message)]
#[rtype(result = "Result<Caja, CajaError>")]
pub struct Archive {
    pub actor: AuditActor,
    pub expected_version: i32,
}

impl Command for Archive {
    type Reply = Caja;

    fn apply(
        &self,
        conn: &mut PgConnection,
        state: &Snapshot,
        _: &CommandContext,
    ) -> Result<Applied<Caja>, CajaError> {
        if state.session.is_some() {
            return Err(crate::cajas::model::SaveError::OpenSession.into());
        }
        let caja = Caja::archive(conn, &self.actor, state.id(), self.expected_version)?;
        let next = state.changed(caja, None, state.history.clone());
        Ok(Applied::changed(next.caja.clone(), Change::Archived, next))
    }
}
