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
#[derive(Debug, Clone, Copy)]
pub struct Changes<'a> {
    caja: Option<&'a Caja>,
    session: Option<&'a Option<LiveSession>>,
    recent_sales: Option<&'a VecDeque<RecentSale>>,
    recent_sale: Option<&'a RecentSale>,
    recent_movements: Option<&'a VecDeque<RecentMovement>>,
    last_closing: Option<&'a Option<LastClosing>>,
    jornada: Option<&'a Option<JornadaSoFar>>,
    flagged_pending: Option<&'a i64>,
    large_sales: Option<&'a Vec<LargeSale>>,
    card_attempts: Option<CardAttempts<'a>>,
    provider: Option<&'a ProviderAdvice>,
    seq: i64,
}

impl Changes<'_> {
    /// The register's open session after the change, when the change
    /// carries the session (`None`: the change did not touch it).
    pub fn session_id(&self) -> Option<Option<i64>> {
        self.session
            .map(|session| session.as_ref().map(|session| i64::from(session.id)))
    }

    /// These changes serialized once, field by field, for every audience
    /// (see [`ChangesJson`]).
    pub fn to_json(&self) -> serde_json::Result<ChangesJson> {
        let mut json = ChangesJson {
            parts: Vec::with_capacity(4),
            session_id: self.session_id(),
        };
        json.push("caja", self.caja, To::Everyone)?;
        json.push("session", self.session, To::Everyone)?;
        json.push(SALES_FIELD, self.recent_sales, To::Caja)?;
        json.push(SALE_FIELD, self.recent_sale, To::Caja)?;
        json.push("recent_movements", self.recent_movements, To::Caja)?;
        json.push("last_closing", self.last_closing, To::Everyone)?;
        json.push("jornada", self.jornada, To::Everyone)?;
        json.push("flagged_pending", self.flagged_pending, To::Everyone)?;
        json.push("large_sales", self.large_sales, To::Everyone)?;
        json.push("card_attempts", self.card_attempts, To::Caja)?;
        let alerts = self.card_attempts.map(|attempts| CardAttempts {
            alerts_only: true,
            ..attempts
        });
        json.push("card_attempts", alerts, To::Floor)?;
        json.push("provider", self.provider, To::Everyone)?;
        json.push("seq", Some(self.seq), To::Everyone)?;
        Ok(json)
    }
}

/// The fields that hold the last sales (see [`ChangesJson::renew_sales`]).
const SALES_FIELD: &str = "recent_sales";
const SALE_FIELD: &str = "recent_sale";

/// [`Changes`] serialized once: each field as `"name":value`, in the
/// struct's order, with the audience it goes to. What the log stores and
/// what each audience is sent are put together from the same parts, so a
/// change is serialized once however many audiences get it. The floor's
/// parts follow the rule [`super::events::Floor`] applies to a payload read
/// back from the log (the tests hold the two to the same frames): none of
/// the lists of the last sales and cash movements, and only the card
/// attempts that are the floor's alerts.
#[derive(Debug, Clone)]
pub struct ChangesJson {
    parts: Vec<Part>,
    session_id: Option<Option<i64>>,
}

#[derive(Debug, Clone)]
struct Part {
    name: &'static str,
    /// `"name":value`.
    json: String,
    to: To,
}

/// Who a part of the changes goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum To {
    Everyone,
    /// The caja's own screens (and the log).
    Caja,
    Floor,
}

impl ChangesJson {
    fn push<T: Serialize>(
        &mut self,
        name: &'static str,
        value: Option<T>,
        to: To,
    ) -> serde_json::Result<()> {
        if let Some(value) = value {
            let json = field_json(name, &value)?;
            self.parts.push(Part { name, json, to });
        }
        Ok(())
    }

    /// The changes as the caja's screens get them, which is also what the
    /// log stores.
    pub fn caja(&self) -> String {
        self.object(To::Caja)
    }

    /// The changes as the floor dashboards get them.
    pub fn floor(&self) -> String {
        self.object(To::Floor)
    }

    fn object(&self, audience: To) -> String {
        let parts = self
            .parts
            .iter()
            .filter(|part| part.to == To::Everyone || part.to == audience);
        let mut object =
            String::with_capacity(2 + self.parts.iter().map(|p| p.json.len() + 1).sum::<usize>());
        object.push('{');
        for (i, part) in parts.enumerate() {
            if i > 0 {
                object.push(',');
            }
            object.push_str(&part.json);
        }
        object.push('}');
        object
    }

    /// The register's open session after the change, when the change
    /// carries the session.
    pub fn session_id(&self) -> Option<Option<i64>> {
        self.session_id
    }

    /// Serializes again, from the register's last sales after the change
    /// (`recent_sales`), the parts that hold them: a sale written with these
    /// changes has its id only once the database gave it. A sale put first
    /// is the list's first (`sale_put_first`).
    pub fn renew_sales(&mut self, recent_sales: &VecDeque<RecentSale>) -> serde_json::Result<()> {
        for part in &mut self.parts {
            let renewed = match part.name {
                SALE_FIELD => recent_sales
                    .front()
                    .map(|sale| field_json(SALE_FIELD, sale)),
                SALES_FIELD => Some(field_json(SALES_FIELD, recent_sales)),
                _ => continue,
            };
            if let Some(json) = renewed {
                part.json = json?;
            }
        }
        Ok(())
    }
}

/// `"name":value`, written in one buffer.
fn field_json(name: &str, value: &impl Serialize) -> serde_json::Result<String> {
    let mut json = Vec::with_capacity(name.len() + 128);
    json.push(b'"');
    json.extend_from_slice(name.as_bytes());
    json.extend_from_slice(b"\":");
    serde_json::to_writer(&mut json, value)?;
    // serde_json writes UTF-8.
    String::from_utf8(json).map_err(serde::ser::Error::custom)
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
