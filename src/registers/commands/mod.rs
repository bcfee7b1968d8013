//! The commands a caja's actor runs, one family per file, each with its
//! validation and its `apply` (docs/architecture.md, "One sale, end to end").

pub mod card;
pub mod config;
pub mod flag;
pub mod movement;
pub mod sale;
pub mod session;
pub mod settle;
pub mod void;

pub use config::{Archive, UpdateConfig};
pub use flag::{FlagSale, ResolveFlagged};
pub use movement::CashMovement;
pub use sale::{RecordSale, RecordedSale};
pub use session::{CloseSession, OpenSession, OpenedSession};
pub use void::VoidSale;

use chrono::{DateTime, Utc};

use super::CajaError;
use super::live::LiveSession;
use super::sale::{SaleLimits, ValidSale};
use super::snapshot::Snapshot;
use super::store::Author;
use crate::auth::user::{Role, User};
use crate::cajas::domain::OperationalStatus;

// The rules every command checks against the caja's memory.

fn may_sell(state: &Snapshot) -> Result<(), CajaError> {
    if state.caja.is_archived() {
        return Err(CajaError::Archived);
    }
    match state.caja.operational_status {
        OperationalStatus::Active => Ok(()),
        other => Err(CajaError::NotActive(other)),
    }
}

/// A sale above the venue's largest is a typo (an extra "000"), refused.
fn within(limits: SaleLimits, sale: &ValidSale) -> Result<(), CajaError> {
    if sale.total > limits.max {
        return Err(CajaError::SaleOverLimit(limits.max));
    }
    Ok(())
}

/// A cashier works only their own session; supervisors any.
fn may_work_session<'a>(state: &'a Snapshot, by: &User) -> Result<&'a LiveSession, CajaError> {
    let session = state.session.as_ref().ok_or(CajaError::NoOpenSession)?;
    if by.role == Role::Cajero && session.opened_by != Some(by.id.0) {
        return Err(CajaError::NotYourSession);
    }
    Ok(session)
}

/// A card may be charged on the caja by `by`: the caja sells, and the
/// session is theirs (or they supervise).
pub fn may_charge<'a>(state: &'a Snapshot, by: &User) -> Result<&'a LiveSession, CajaError> {
    may_sell(state)?;
    may_work_session(state, by)
}

/// A command made for one session acts only on that session.
fn same_session(session: &LiveSession, named: Option<i32>) -> Result<(), CajaError> {
    match named {
        Some(id) if id != session.id => Err(CajaError::SessionChanged),
        _ => Ok(()),
    }
}

fn author(by: &User, at: DateTime<Utc>) -> Author {
    Author {
        user_id: by.id.0,
        actor: by.actor(),
        at,
    }
}
