//! A register's whole state as of one `seq`: its caja, its open session,
//! its recent history and the provider to use. The actor holds the last
//! committed one, every event carries one, and the event log stores one per
//! change, so a screen applies an event by replacing what it had.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use super::history::History;
use super::live::LiveSession;
use super::store;
use crate::cajas::domain::PaymentProvider;
use crate::cajas::{Caja, RegisterId};

#[derive(Debug, Clone, Serialize)]
pub struct Snapshot {
    pub caja: Caja,
    pub session: Option<LiveSession>,
    #[serde(flatten)]
    pub history: History,
    pub provider: ProviderInUse,
    pub seq: i64,
}

impl Snapshot {
    pub fn new(caja: Caja, session: Option<LiveSession>, history: History) -> Self {
        Self {
            provider: ProviderInUse::of(&caja, &history),
            seq: caja.event_seq,
            caja,
            session,
            history,
        }
    }

    /// What is committed for caja `id`.
    pub fn load(conn: &mut PgConnection, id: RegisterId) -> QueryResult<Self> {
        let (caja, session) = store::load(conn, id)?;
        let history = History::load(conn, id, session.as_ref())?;
        Ok(Self::new(caja, session, history))
    }

    pub fn id(&self) -> RegisterId {
        self.caja.id
    }

    /// The number the next committed change takes.
    pub fn next_seq(&self) -> i64 {
        self.seq + 1
    }

    /// The state after a change: the caja, session or history given, the
    /// provider advice derived again, and the next `seq`.
    pub fn changed(&self, caja: Caja, session: Option<LiveSession>, history: History) -> Self {
        let seq = self.next_seq();
        Self::new(
            Caja {
                event_seq: seq,
                ..caja
            },
            session,
            history,
        )
    }
}

/// The card provider a cashier should use now, and why. Until provider
/// health is tracked, the backup is in use when the last card sale was
/// charged on the caja's (current) backup, as the cashier reported.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProviderInUse {
    pub provider: PaymentProvider,
    pub backup: bool,
    pub reason: String,
    /// Since when the backup is in use.
    pub since: Option<DateTime<Utc>>,
}

impl ProviderInUse {
    fn of(caja: &Caja, history: &History) -> Self {
        let last_card = history
            .recent_sales
            .iter()
            .find(|sale| !sale.voided && sale.provider.is_some());
        match (last_card, caja.payment_provider_backup) {
            (Some(sale), Some(backup)) if sale.provider.as_deref() == Some(backup.as_str()) => {
                Self {
                    provider: backup,
                    backup: true,
                    reason: format!(
                        "La última venta con tarjeta se cobró con el respaldo {backup}, no con {}.",
                        caja.payment_provider_primary
                    ),
                    since: Some(sale.at),
                }
            }
            _ => {
                let primary = caja.payment_provider_primary;
                let policy = &caja.fallback_policy;
                let reason = match caja.payment_provider_backup {
                    Some(backup) if policy.enabled => format!(
                        "{primary} es el proveedor principal; si no responde en {} s, usa {backup}.",
                        policy.max_seconds.get()
                    ),
                    Some(backup) => {
                        format!("{primary} es el proveedor principal; {backup} queda de respaldo.")
                    }
                    None => format!("{primary} es el único proveedor de esta caja."),
                };
                Self {
                    provider: primary,
                    backup: false,
                    reason,
                    since: None,
                }
            }
        }
    }
}
