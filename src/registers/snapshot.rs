//! A register's whole state as of one `seq`: its caja, its open session,
//! its recent history, its card payments in progress and the provider to
//! use. The actor holds the last committed one and the screens get it in
//! their snapshots; an event carries, and the event log stores, what of it
//! a change changed ([`Changes`]).

use std::collections::VecDeque;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;

use super::commit::CommandContext;
use super::event_log;
use super::history::{
    History, JornadaSoFar, LargeSale, LastClosing, RecentMovement, RecentSale, sale_put_first,
};
use super::live::LiveSession;
use super::store;
use crate::cajas::{Caja, CajaId};
use crate::payments::attempt::{self, CardAttempt};
use crate::payments::health::{self, ProviderAdvice, ProviderMemory};

#[derive(Debug, Clone, Serialize)]
pub struct Snapshot {
    pub caja: Caja,
    pub session: Option<LiveSession>,
    #[serde(flatten)]
    pub history: History,
    /// The open session's card payments (the last few, and any still
    /// open) and the caja's charges still to settle from earlier sessions.
    pub card_attempts: Vec<CardAttempt>,
    /// How the caja's own payments on each provider went lately.
    #[serde(skip)]
    pub provider_memory: ProviderMemory,
    pub provider: ProviderAdvice,
    /// When `provider` was worked out: a failure that stops weighing after
    /// this moment changes the advice then.
    #[serde(skip)]
    pub advised_at: DateTime<Utc>,
    pub seq: i64,
}

/// What an event carries of the register after a change: the fields that
/// differ from the register before it, and `seq`; or all of them when
/// there is no register before it (a caja created or restored) or the caja
/// itself changed (its settings say what the rest means: a blind count
/// hides the cash). A screen applies it by replacing those fields, but for
/// a sale put first in the last sales, which comes alone as `recent_sale`
/// (the screen puts it first and keeps the newest [`RECENT_SALES`]). A sale
/// changes only the session and the last sales, it is the change a busy
/// venue makes most, and every one is stored and sent to every screen.
///
/// [`RECENT_SALES`]: super::history::RECENT_SALES
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Changes<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    caja: Option<&'a Caja>,
    #[serde(skip_serializing_if = "Option::is_none")]
    session: Option<&'a Option<LiveSession>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    recent_sales: Option<&'a VecDeque<RecentSale>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    recent_sale: Option<&'a RecentSale>,
    #[serde(skip_serializing_if = "Option::is_none")]
    recent_movements: Option<&'a VecDeque<RecentMovement>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_closing: Option<&'a Option<LastClosing>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    jornada: Option<&'a Option<JornadaSoFar>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    flagged_pending: Option<&'a i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    large_sales: Option<&'a Vec<LargeSale>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    card_attempts: Option<CardAttempts<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    provider: Option<&'a ProviderAdvice>,
    seq: i64,
}

impl Changes<'_> {
    /// What the floor dashboards get of these changes: all but the lists
    /// of the last sales and cash movements (and a sale put first in
    /// them), with only the card attempts that are the floor's alerts.
    /// The same rule as [`super::events::Floor`] applies to a stored
    /// payload, read back from the log.
    pub fn for_floor(self) -> Self {
        Changes {
            recent_sales: None,
            recent_sale: None,
            recent_movements: None,
            card_attempts: self.card_attempts.map(|attempts| CardAttempts {
                alerts_only: true,
                ..attempts
            }),
            ..self
        }
    }

    /// The register's open session after the change, when the change
    /// carries the session (`None`: the change did not touch it).
    pub fn session_id(&self) -> Option<Option<i64>> {
        self.session
            .map(|session| session.as_ref().map(|session| i64::from(session.id)))
    }
}

/// A register's card attempts as an audience gets them: all of them on the
/// caja's own screens, only the floor's alerts on the floor.
#[derive(Debug, Clone, Copy)]
struct CardAttempts<'a> {
    all: &'a [CardAttempt],
    alerts_only: bool,
}

impl Serialize for CardAttempts<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let alerts_only = self.alerts_only;
        serializer.collect_seq(
            self.all
                .iter()
                .filter(|attempt| !alerts_only || attempt.is_floor_alert()),
        )
    }
}

impl Snapshot {
    /// What of this register differs from `before` (all of it, with no
    /// `before` or another caja: see [`Changes`]).
    pub fn changes<'a>(&'a self, before: Option<&Snapshot>) -> Changes<'a> {
        fn changed<'a, T: PartialEq>(now: &'a T, before: Option<&T>) -> Option<&'a T> {
            (before != Some(now)).then_some(now)
        }
        let before = before.filter(|before| before.caja == self.caja);
        let (now, was) = (&self.history, before.map(|b| &b.history));
        let recent_sale = was.and_then(|was| sale_put_first(&was.recent_sales, &now.recent_sales));
        Changes {
            caja: changed(&self.caja, before.map(|b| &b.caja)),
            session: changed(&self.session, before.map(|b| &b.session)),
            recent_sales: changed(&now.recent_sales, was.map(|h| &h.recent_sales))
                .filter(|_| recent_sale.is_none()),
            recent_sale,
            recent_movements: changed(&now.recent_movements, was.map(|h| &h.recent_movements)),
            last_closing: changed(&now.last_closing, was.map(|h| &h.last_closing)),
            jornada: changed(&now.jornada, was.map(|h| &h.jornada)),
            flagged_pending: changed(&now.flagged_pending, was.map(|h| &h.flagged_pending)),
            large_sales: changed(&now.large_sales, was.map(|h| &h.large_sales)),
            card_attempts: changed(&self.card_attempts, before.map(|b| &b.card_attempts)).map(
                |all| CardAttempts {
                    all,
                    alerts_only: false,
                },
            ),
            provider: changed(&self.provider, before.map(|b| &b.provider)),
            seq: self.seq,
        }
    }

    /// What is committed for caja `id`.
    pub fn load(conn: &mut PgConnection, id: CajaId, cx: &CommandContext) -> QueryResult<Self> {
        let (caja, session) = store::load(conn, id)?;
        let large_above = cx.sale_limits.confirm_above;
        let history = History::load(conn, id, session.as_ref(), large_above)?;
        let card_attempts = attempt::for_screens(conn, id, session.as_ref().map(|s| s.id))?;
        let mut provider_memory = ProviderMemory::default();
        for provider in [
            Some(caja.payment_provider_primary),
            caja.payment_provider_backup,
        ]
        .into_iter()
        .flatten()
        {
            let last = attempt::last_outcomes(conn, id, provider)?;
            if let Some(at) = last.failed {
                provider_memory.failed(provider, at);
            }
            if let Some(at) = last.approved {
                provider_memory.approved(provider, at);
            }
        }
        for (provider, at) in &cx.cleared {
            provider_memory.cleared(*provider, *at);
        }
        Ok(Self {
            provider: health::advise(&caja, &provider_memory, &cx.outages, cx.at, cx.cooldown),
            advised_at: cx.at,
            seq: event_log::committed_seq(conn, id)?,
            caja,
            session,
            history,
            card_attempts,
            provider_memory,
        })
    }

    pub fn id(&self) -> CajaId {
        self.caja.id
    }

    /// The number the next committed change takes.
    pub fn next_seq(&self) -> i64 {
        self.seq + 1
    }

    /// The state after a change: the caja, session or history given, and
    /// the next `seq` (the advice is brought up to date when committed).
    pub fn changed(&self, caja: Caja, session: Option<LiveSession>, history: History) -> Self {
        let seq = self.next_seq();
        let session_changed = session.as_ref().map(|s| s.id) != self.session.as_ref().map(|s| s.id);
        Self {
            caja,
            // A new session starts with no card payments of its own; the
            // charges still to settle stay in sight.
            card_attempts: if session_changed {
                self.card_attempts
                    .iter()
                    .filter(|a| a.is_open_charge())
                    .cloned()
                    .collect()
            } else {
                self.card_attempts.clone()
            },
            session,
            history,
            provider_memory: self.provider_memory.clone(),
            provider: self.provider.clone(),
            advised_at: self.advised_at,
            seq,
        }
    }

    /// Brings the provider advice up to date.
    pub fn advise(&mut self, cx: &CommandContext) {
        for (provider, at) in &cx.cleared {
            self.provider_memory.cleared(*provider, *at);
        }
        self.provider = health::advise(
            &self.caja,
            &self.provider_memory,
            &cx.outages,
            cx.at,
            cx.cooldown,
        );
        self.advised_at = cx.at;
    }

    /// Takes in a card attempt as it now stands.
    pub fn put_attempt(&mut self, attempt: CardAttempt) {
        match self.card_attempts.iter_mut().find(|a| a.id == attempt.id) {
            Some(known) => *known = attempt,
            None => self.card_attempts.push(attempt),
        }
        let keep_from = self
            .card_attempts
            .len()
            .saturating_sub(attempt::RECENT_ATTEMPTS as usize);
        let mut index = 0;
        self.card_attempts.retain(|a| {
            index += 1;
            index > keep_from || a.is_open()
        });
    }

    /// The session's attempts still unresolved (nobody knows if charged).
    pub fn unresolved_attempts(&self) -> Vec<&CardAttempt> {
        self.card_attempts
            .iter()
            .filter(|a| a.status.is_unresolved())
            .collect()
    }
}
