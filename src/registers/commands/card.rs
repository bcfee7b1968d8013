//! The card commands a caja's actor runs, each through the register's one
//! write path (so every transition is committed with its `seq` and event):
//! start an attempt, learn its terminal's answer or its deadline, resolve
//! one by hand, and mark as unknown what a restart left pending.
//!
//! Never charge twice: while one of a sale's attempts has no known result
//! (pending, timed out, unknown), no other attempt for that sale may start
//! on another provider, unless a supervisor overrides it (audited); a sale
//! with an approval may start no more.

use actix::Message;
use diesel::PgConnection;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::audit::{self, Action};
use crate::auth::user::{Role, User};
use crate::cajas::domain::PaymentProvider;
use crate::money::Pesos;
use crate::payments::attempt::{
    self, AttemptStatus, CardAttempt, Ending, NewAttempt, Settlement, Voucher,
};
use crate::payments::lifecycle::{self, Happening, Health, Step, Told};
use crate::payments::method::PaymentMethod;
use crate::payments::repeated_code;
use crate::payments::terminal::Answer;
use crate::registers::CajaError;
use crate::registers::commit::{Applied, Command, CommandContext, Effect};
use crate::registers::event_log::Change;
use crate::registers::keys::{self, CommandKey};
use crate::registers::sale::{CardApproval, ValidSale};
use crate::registers::snapshot::Snapshot;
use crate::registers::store;

/// A cashier starts charging a card: an amount, on the provider the caja
/// advises (or the one named), for one sale.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<CardAttempt, CajaError>")]
pub struct StartCardAttempt {
    pub by: User,
    /// The attempt's own key: starting it twice starts it once.
    pub key: Uuid,
    /// The sale it pays (its idempotency key).
    pub sale_key: Uuid,
    /// What the terminal charges: the sale's part and its tip together.
    pub amount: Pesos,
    /// The part of `amount` that is the tip (less than `amount`).
    pub tip: Pesos,
    pub method: PaymentMethod,
    pub provider: Option<PaymentProvider>,
    /// A supervisor lets it start although another attempt of the sale has
    /// no known result (audited).
    pub override_unresolved: bool,
}

/// A charge as a person reads it: "$11.000 (propina $1.000)".
fn charged(amount: i64, tip: i64) -> String {
    let pesos = |value| Pesos::new(value).unwrap_or_default();
    match tip {
        0 => pesos(amount).to_string(),
        tip => format!("{} (propina {})", pesos(amount), pesos(tip)),
    }
}

fn invalid(field: &str, message: impl Into<String>) -> CajaError {
    CajaError::InvalidAttempt {
        field: field.to_owned(),
        message: message.into(),
    }
}

impl Command for StartCardAttempt {
    type Reply = CardAttempt;

    fn committed(attempt: &CardAttempt) {
        attempt.count();
    }

    fn apply(
        &self,
        conn: &mut PgConnection,
        state: &Snapshot,
        cx: &CommandContext,
    ) -> Result<Applied<CardAttempt>, CajaError> {
        if let Some(known) = attempt::by_key(conn, self.key)? {
            let same = known.register_id == state.id()
                && known.sale_key == self.sale_key
                && known.amount == self.amount.get()
                && known.tip == self.tip.get()
                && known.method == self.method;
            return if same {
                Ok(Applied::Replayed(known))
            } else {
                Err(CajaError::KeyReused)
            };
        }
        if !self.method.is_card() {
            return Err(invalid(
                "method",
                "solo DEBITO o CREDITO se cobran en un terminal",
            ));
        }
        let session = super::may_charge(state, &self.by)?;
        let caja = &state.caja;
        let earlier = attempt::of_sale(conn, self.sale_key)?;
        if let Some(other) = earlier
            .iter()
            .find(|a| a.register_id != state.id() || a.session_id != session.id)
        {
            return Err(invalid(
                "sale_key",
                format!(
                    "esa venta ya tiene un cobro (#{}) en otra caja o sesión",
                    other.id
                ),
            ));
        }
        if let Some(paid) = earlier.iter().find(|a| a.status == AttemptStatus::Approved) {
            return Err(CajaError::SaleAlreadyPaid(paid.id));
        }
        if let Some(first) = earlier.first()
            && (first.amount != self.amount.get()
                || first.tip != self.tip.get()
                || first.method != self.method)
        {
            return Err(invalid(
                "amount",
                format!(
                    "los cobros de una venta son por el mismo monto y medio: {} en {}",
                    charged(first.amount, first.tip),
                    first.method.label()
                ),
            ));
        }
        // The provider: the one named, else a fallback after a failure of
        // this sale's attempt, else what the caja advises.
        let last = earlier.last();
        let failed_here =
            last.is_some_and(|a| a.status.may_fall_back() || a.status == AttemptStatus::Cancelled);
        let policy = &caja.fallback_policy;
        let provider = match self.provider {
            Some(provider) => provider,
            None if failed_here && policy.enabled && caja.payment_provider_backup.is_some() => {
                let failed = last.map(|a| a.provider);
                match (failed, caja.payment_provider_backup) {
                    (Some(failed), Some(backup)) if failed == caja.payment_provider_primary => {
                        backup
                    }
                    _ => state.provider.provider,
                }
            }
            None if state.provider.no_card => return Err(CajaError::NoCardProvider),
            None => state.provider.provider,
        };
        let used_backup = Some(provider) == caja.payment_provider_backup;
        let overridden_by = never_twice(
            state,
            &earlier,
            provider,
            Some(&self.by).filter(|_| self.override_unresolved),
        )?;
        if self.override_unresolved
            && overridden_by.is_none()
            && !self.by.role.includes(Role::Supervisor)
        {
            return Err(CajaError::SupervisorOnly);
        }
        let fallback_from = last
            .filter(|a| a.provider != provider && !matches!(a.status, AttemptStatus::Declined))
            .map(|a| a.id);
        let deadline = cx.at + chrono::Duration::seconds(i64::from(policy.max_seconds.get()));
        let started = attempt::insert(
            conn,
            &NewAttempt {
                register_id: state.id(),
                session_id: session.id,
                attempt_key: self.key,
                sale_key: self.sale_key,
                provider,
                used_backup,
                method: self.method,
                amount: self.amount.get(),
                tip: self.tip.get(),
                status: AttemptStatus::Pending,
                authorization_code: None,
                terminal_reference: None,
                detail: fallback_from.map(|from| {
                    format!(
                        "respaldo del cobro #{from}, que no se pudo hacer en {}",
                        caja.payment_provider_primary
                    )
                }),
                fallback_from,
                overridden_by,
                started_by: self.by.id.0,
                started_at: cx.at,
                deadline_at: deadline,
                ended_at: None,
                resolved_by: None,
                card_brand: None,
                card_last4: None,
                installments: None,
            },
        )
        .map_err(|err| match err {
            diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _,
            ) => CajaError::KeyReused,
            other => other.into(),
        })?;
        if overridden_by.is_some() {
            audit::record(
                conn,
                &self.by.actor(),
                Action::CardOverride,
                started.id,
                None::<&()>,
                Some(&started),
            )?;
        }
        let mut next = state.changed(
            state.caja.clone(),
            state.session.clone(),
            state.history.clone(),
        );
        next.put_attempt(started.clone());
        Ok(Applied::changed(started.clone(), Change::CardAttempt, next)
            .with_effects([Effect::StartTerminal(Box::new(started))]))
    }
}

/// The one rule every new approval of a sale goes through, whatever way it
/// arrives (an attempt started on a terminal, a code typed in with the
/// sale): the provider is one of the caja's, the backup only under its
/// fallback policy, and never twice: no approval while the sale has one,
/// none while one of its attempts has no known result unless a supervisor
/// overrides it (`override_by`; returned, to be audited).
fn never_twice(
    state: &Snapshot,
    earlier: &[CardAttempt],
    provider: PaymentProvider,
    override_by: Option<&User>,
) -> Result<Option<i32>, CajaError> {
    let caja = &state.caja;
    let backup = Some(provider) == caja.payment_provider_backup;
    if provider != caja.payment_provider_primary && !backup {
        return Err(CajaError::ProviderNotConfigured(provider));
    }
    if backup && !caja.fallback_policy.enabled {
        return Err(CajaError::FallbackDisabled);
    }
    if let Some(paid) = earlier.iter().find(|a| a.status == AttemptStatus::Approved) {
        return Err(CajaError::SaleAlreadyPaid(paid.id));
    }
    let Some(open) = earlier.iter().find(|a| a.status.is_unresolved()) else {
        return Ok(None);
    };
    if open.provider == provider && open.status == AttemptStatus::Pending {
        return Err(CajaError::AttemptInProgress(open.id));
    }
    match override_by {
        Some(by) if by.role.includes(Role::Supervisor) => Ok(Some(by.id.0)),
        _ => Err(CajaError::UnresolvedAttempt {
            id: open.id,
            provider: open.provider,
        }),
    }
}

/// What a person says an attempt ended as.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Resolution {
    /// The terminal approved it: its authorization code and what else its
    /// voucher says (checked as typed, see [`Voucher::parse`]).
    Approved {
        authorization_code: String,
        #[serde(default)]
        voucher: Voucher,
    },
    /// The card was declined (the customer's problem, not the provider's).
    Declined,
    /// The terminal failed.
    Failed,
    /// Nothing was charged (the terminal shows it failed or was cancelled).
    NotCharged,
}

/// An authorization code as terminals print it: 4 to 12 letters or digits.
pub fn authorization_code(raw: &str) -> Result<String, CajaError> {
    let code = raw.trim().to_uppercase();
    if (4..=12).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_alphanumeric()) {
        Ok(code)
    } else {
        Err(invalid(
            "authorization_code",
            "el código de autorización tiene de 4 a 12 letras o números",
        ))
    }
}

/// A cashier (of the attempt's session) or a supervisor (any: a forced
/// resolution from the floor, or an approval found on the terminal's batch
/// for an attempt resolved otherwise) says how an attempt ended. Audited.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<CardAttempt, CajaError>")]
pub struct ResolveCardAttempt {
    pub by: User,
    pub attempt_id: i64,
    pub key: Option<Uuid>,
    pub resolution: Resolution,
    pub note: Option<String>,
}

impl Command for ResolveCardAttempt {
    type Reply = CardAttempt;

    fn committed(attempt: &CardAttempt) {
        attempt.count();
    }

    fn apply(
        &self,
        conn: &mut PgConnection,
        state: &Snapshot,
        cx: &CommandContext,
    ) -> Result<Applied<CardAttempt>, CajaError> {
        let key = self.key.map(|key| {
            CommandKey::new(
                key,
                "resolve_card",
                format!("{}|{:?}|{:?}", self.attempt_id, self.resolution, self.note),
            )
        });
        if let Some(resolved) = keys::replay(conn, key.as_ref(), state.id())? {
            return Ok(Applied::Replayed(resolved));
        }
        let found = attempt::find_for_update(conn, state.id(), self.attempt_id)?
            .ok_or(CajaError::UnknownAttempt)?;
        let supervisor = self.by.role.includes(Role::Supervisor);
        let own_session = state
            .session
            .as_ref()
            .is_some_and(|s| s.id == found.session_id && s.opened_by == Some(self.by.id.0));
        if !supervisor && !own_session {
            return Err(CajaError::NotYourSession);
        }
        let (told, code, voucher) = match &self.resolution {
            Resolution::Approved {
                authorization_code: code,
                voucher,
            } => {
                voucher
                    .fits(found.method)
                    .map_err(|(field, message)| invalid(field, message))?;
                (
                    Told::Approved,
                    Some(authorization_code(code)?),
                    voucher.clone(),
                )
            }
            Resolution::Declined => (Told::Declined, None, Voucher::default()),
            Resolution::Failed => (Told::Failed, None, Voucher::default()),
            Resolution::NotCharged => (Told::NotCharged, None, Voucher::default()),
        };
        let who = if supervisor && !own_session {
            "un supervisor"
        } else {
            "el cajero"
        };
        let detail = match &self.note {
            Some(note) => format!("resuelto por {who}: {note}"),
            None => format!("resuelto por {who}"),
        };
        let word = Word {
            code,
            voucher,
            detail: Some(detail),
            by: Some(self.by.actor()),
        };
        let happening = Happening::Resolved { told, supervisor };
        let applied = move_attempt(conn, state, found.clone(), happening, word, cx)?;
        if let Applied::Changed { reply: ended, .. } = &applied {
            keys::remember(conn, key.as_ref(), state.id(), state.next_seq(), ended)?;
            audit::record(
                conn,
                &self.by.actor(),
                Action::CardResolved,
                ended.id,
                Some(&found),
                Some(ended),
            )?;
        }
        Ok(applied)
    }
}

/// What comes with a word on an attempt besides its status.
struct Word {
    code: Option<String>,
    voucher: Voucher,
    detail: Option<String>,
    /// Who said it (`None`: the terminal, or the hub).
    by: Option<audit::Actor>,
}

/// Moves `found` as the lifecycle table says `happening` does (the one
/// place every command that moves an attempt goes through): nothing, a
/// refusal, or the ending written with what it says of the provider. An
/// approval nobody expected any more (the attempt resolved otherwise, or
/// its sale paid another way) is kept as a charge to settle, audited.
fn move_attempt(
    conn: &mut PgConnection,
    state: &Snapshot,
    found: CardAttempt,
    happening: Happening,
    word: Word,
    cx: &CommandContext,
) -> Result<Applied<CardAttempt>, CajaError> {
    let (status, health, late) = match lifecycle::step(found.status, happening) {
        Step::Stay => return Ok(Applied::Unchanged(found)),
        Step::Refuse => return Err(CajaError::AttemptResolved(found.id)),
        Step::Move { to, health, late } => (to, health, late),
    };
    let approved = status == AttemptStatus::Approved;
    let late = late || (approved && sale_paid_otherwise(conn, &found)?);
    let detail = if late {
        Some(format!(
            "{} aprobó después de que el cobro se diera por {}: cobrado sin venta, devuélvelo o dalo de baja",
            found.provider,
            found.status.label().to_lowercase()
        ))
    } else {
        word.detail
    };
    let said_by = word.by.as_ref().and_then(|actor| actor.id).map(|id| id.0);
    let ending = Ending {
        status,
        authorization_code: word.code.filter(|_| approved),
        voucher: if approved {
            word.voucher
        } else {
            Voucher::default()
        },
        detail,
        at: cx.at,
        by: said_by,
        late,
    };
    let ended =
        attempt::end(conn, found.id, found.status, &ending)?.ok_or(CajaError::StateMoved)?;
    // A code a person typed is checked against the jornada's approvals.
    let ended = match &word.by {
        Some(person) if approved => repeated_code::check(conn, ended, person)?.0,
        _ => ended,
    };
    if late {
        tracing::warn!(register_id = %state.id(), attempt = ended.id, was = %found.status,
            "a card was charged with no sale to pay: it stays open until refunded or written off");
        // A person's word is audited as their resolution; the terminal's here.
        if word.by.is_none() {
            let terminal = audit::Actor {
                id: None,
                name: format!("terminal {}", ended.provider),
            };
            audit::record(
                conn,
                &terminal,
                Action::CardLateCharge,
                ended.id,
                Some(&found),
                Some(&ended),
            )?;
        }
    }
    Ok(ended_change(state, found, ended, health, cx))
}

/// Whether `attempt`'s sale was paid without it: another approval of the
/// sale, or the sale recorded.
fn sale_paid_otherwise(conn: &mut PgConnection, attempt: &CardAttempt) -> Result<bool, CajaError> {
    let other_approval = attempt::of_sale(conn, attempt.sale_key)?
        .iter()
        .any(|a| a.id != attempt.id && a.status == AttemptStatus::Approved);
    Ok(other_approval || store::sale_by_key(conn, attempt.sale_key)?.is_some())
}

/// The change an attempt's ending makes: the attempt in the state, the
/// caja's memory of its provider, and what the venue must hear.
fn ended_change(
    state: &Snapshot,
    before: CardAttempt,
    ended: CardAttempt,
    health: Health,
    cx: &CommandContext,
) -> Applied<CardAttempt> {
    let mut next = state.changed(
        state.caja.clone(),
        state.session.clone(),
        state.history.clone(),
    );
    let mut effects = Vec::new();
    let primary = ended.provider == state.caja.payment_provider_primary;
    match health {
        Health::Approved => {
            next.provider_memory.approved(ended.provider, cx.at);
            effects.push(Effect::Approved {
                provider: ended.provider,
            });
        }
        Health::Failed => {
            next.provider_memory.failed(ended.provider, cx.at);
            if primary {
                effects.push(Effect::PrimaryFailed {
                    provider: ended.provider,
                    at: cx.at,
                });
            }
        }
        Health::Neutral => {}
    }
    tracing::info!(register_id = %state.id(), attempt = ended.id, from = %before.status, to = %ended.status, "card attempt moved");
    next.put_attempt(ended.clone());
    Applied::changed(ended, Change::CardAttempt, next).with_effects(effects)
}

/// A terminal answered an attempt (maybe after its deadline, or after it
/// was resolved otherwise: see [`lifecycle`]).
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<CardAttempt, CajaError>")]
pub struct TerminalAnswered {
    pub attempt_id: i64,
    pub answer: Answer,
}

impl Command for TerminalAnswered {
    type Reply = CardAttempt;

    fn committed(attempt: &CardAttempt) {
        attempt.count();
    }

    fn apply(
        &self,
        conn: &mut PgConnection,
        state: &Snapshot,
        cx: &CommandContext,
    ) -> Result<Applied<CardAttempt>, CajaError> {
        let found = attempt::find_for_update(conn, state.id(), self.attempt_id)?
            .ok_or(CajaError::UnknownAttempt)?;
        let late = found.status != AttemptStatus::Pending;
        let (told, word) = match &self.answer {
            Answer::Approved {
                authorization_code,
                reference,
            } => (
                Told::Approved,
                Word {
                    code: Some(authorization_code.clone()),
                    voucher: Voucher {
                        terminal_reference: Some(reference.clone()),
                        ..Voucher::default()
                    },
                    detail: late.then(|| "el terminal aprobó después del plazo".to_owned()),
                    by: None,
                },
            ),
            Answer::Declined(why) | Answer::Failed(why) => (
                if matches!(self.answer, Answer::Declined(_)) {
                    Told::Declined
                } else {
                    Told::Failed
                },
                Word {
                    code: None,
                    voucher: Voucher::default(),
                    detail: Some(why.clone()),
                    by: None,
                },
            ),
        };
        move_attempt(conn, state, found, Happening::Terminal(told), word, cx)
    }
}

/// An attempt's deadline passed: if its terminal has not answered, the
/// attempt timed out (whether the customer was charged is not known).
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<Option<CardAttempt>, CajaError>")]
pub struct AttemptDeadline {
    pub attempt_id: i64,
    /// The cashier runs the terminal: the wait was theirs, not the provider's.
    pub manual: bool,
}

impl Command for AttemptDeadline {
    type Reply = Option<CardAttempt>;

    fn committed(attempt: &Option<CardAttempt>) {
        if let Some(attempt) = attempt {
            attempt.count();
        }
    }

    fn apply(
        &self,
        conn: &mut PgConnection,
        state: &Snapshot,
        cx: &CommandContext,
    ) -> Result<Applied<Option<CardAttempt>>, CajaError> {
        let Some(found) = attempt::find_for_update(conn, state.id(), self.attempt_id)? else {
            return Ok(Applied::Unchanged(None));
        };
        if cx.at < found.deadline_at {
            return Ok(Applied::Unchanged(None));
        }
        let waited = (found.deadline_at - found.started_at).num_seconds();
        let detail = if self.manual {
            format!(
                "pasaron {waited} s sin que el cajero confirmara en el terminal de {}: ¿se cobró?",
                found.provider
            )
        } else {
            format!(
                "{} no respondió en {waited} s: verifica en el terminal si se cobró",
                found.provider
            )
        };
        let word = Word {
            code: None,
            voucher: Voucher::default(),
            detail: Some(detail),
            by: None,
        };
        let happening = Happening::Deadline {
            manual: self.manual,
        };
        Ok(
            match move_attempt(conn, state, found, happening, word, cx)? {
                changed @ Applied::Changed { .. } => changed.map(Some),
                _ => Applied::Unchanged(None),
            },
        )
    }
}

/// At an actor's start: what the last hub left PENDING becomes UNKNOWN.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<usize, CajaError>")]
pub struct OrphanPending;

impl Command for OrphanPending {
    type Reply = usize;

    fn apply(
        &self,
        conn: &mut PgConnection,
        state: &Snapshot,
        cx: &CommandContext,
    ) -> Result<Applied<usize>, CajaError> {
        // The table says what a restart does to a pending attempt; the
        // statement does it to all of them at once.
        debug_assert!(matches!(
            lifecycle::step(AttemptStatus::Pending, Happening::Restart),
            Step::Move {
                to: AttemptStatus::Unknown,
                health: Health::Neutral,
                ..
            }
        ));
        let orphans = attempt::orphan_pending(conn, state.id(), cx.at)?;
        if orphans.is_empty() {
            return Ok(Applied::Unchanged(0));
        }
        tracing::warn!(register_id = %state.id(), attempts = orphans.len(), "card attempts left pending by a restart are now unknown");
        let mut next = state.changed(
            state.caja.clone(),
            state.session.clone(),
            state.history.clone(),
        );
        let count = orphans.len();
        for orphan in orphans {
            next.put_attempt(orphan);
        }
        Ok(Applied::changed(count, Change::CardAttempt, next))
    }
}

/// Time passed or the venue's outages changed: the advice is worked out
/// again, and committed as a change when it differs.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<bool, CajaError>")]
pub struct Reevaluate;

impl Command for Reevaluate {
    type Reply = bool;

    fn apply(
        &self,
        _: &mut PgConnection,
        state: &Snapshot,
        cx: &CommandContext,
    ) -> Result<Applied<bool>, CajaError> {
        let mut next = state.changed(
            state.caja.clone(),
            state.session.clone(),
            state.history.clone(),
        );
        next.advise(cx);
        if next.provider == state.provider {
            return Ok(Applied::Unchanged(false));
        }
        Ok(Applied::changed(true, Change::ProviderChanged, next))
    }
}

/// A sale's card payments, checked against their approvals: an attempt of
/// this sale and session, approved, not used, for the same amount and
/// method (and provider, if named); or a code the cashier read off the
/// standalone terminal, recorded now as an approved attempt. Returns the
/// sale with each card payment's provider and backup use set from its
/// approval, the approvals (to mark paid once the sale has its id), what
/// the venue must hear, and what the cashier must (a typed code that
/// repeats one of the jornada's).
pub fn approve_card_payments(
    conn: &mut PgConnection,
    state: &Snapshot,
    session_id: i32,
    sale: &ValidSale,
    by: &User,
    cx: &CommandContext,
) -> Result<Approvals, CajaError> {
    let caja = &state.caja;
    let mut resolved = sale.clone();
    let mut approvals = Vec::new();
    let mut effects = Vec::new();
    let mut warnings = Vec::new();
    for (i, payment) in resolved.payments.iter_mut().enumerate() {
        let field = |name: &str| format!("payments[{i}].{name}");
        let approval = match &payment.card {
            None => continue,
            Some(CardApproval::Attempt(id)) => {
                let found = attempt::find_for_update(conn, state.id(), *id)?.ok_or_else(|| {
                    invalid(
                        &field("attempt_id"),
                        format!("no existe el cobro #{id} en esta caja"),
                    )
                })?;
                let mismatch =
                    |what: &str| invalid(&field("attempt_id"), format!("el cobro #{id} {what}"));
                if found.status != AttemptStatus::Approved {
                    return Err(mismatch(&format!(
                        "no está aprobado ({})",
                        found.status.label().to_lowercase()
                    )));
                }
                if approvals.iter().any(|a: &CardAttempt| a.id == found.id) {
                    return Err(mismatch("ya pagó otra venta"));
                }
                match found.settlement() {
                    Settlement::Open if found.refunded_amount == 0 => {}
                    Settlement::Sale(_) => return Err(mismatch("ya pagó otra venta")),
                    Settlement::WrittenOff => return Err(mismatch("fue dado de baja")),
                    _ => return Err(mismatch("se devolvió (todo o en parte) a la tarjeta")),
                }
                if found.session_id != session_id || found.sale_key != sale.key {
                    return Err(mismatch("es de otra venta"));
                }
                // The terminal charged the payment and its tip at once, and
                // the charge was started knowing which part is the tip.
                let charge = payment.card_charge();
                if found.amount != charge.get()
                    || found.tip != payment.tip.get()
                    || found.method != payment.method
                {
                    return Err(mismatch(&format!(
                        "fue por {} en {}, no por {} en {}",
                        charged(found.amount, found.tip),
                        found.method.label(),
                        charged(charge.get(), payment.tip.get()),
                        payment.method.label()
                    )));
                }
                if payment.provider.is_some_and(|p| p != found.provider) {
                    return Err(invalid(
                        &field("provider"),
                        format!("el cobro #{id} fue con {}", found.provider),
                    ));
                }
                found
            }
            Some(CardApproval::Manual { code, voucher }) => {
                voucher
                    .fits(payment.method)
                    .map_err(|(name, message)| invalid(&field(name), message))?;
                let provider = payment
                    .provider
                    .ok_or_else(|| invalid(&field("provider"), "indica el proveedor"))?;
                let used_backup = Some(provider) == caja.payment_provider_backup;
                let earlier = attempt::of_sale(conn, sale.key)?;
                never_twice(state, &earlier, provider, None)?;
                let confirmed = attempt::insert(
                    conn,
                    &NewAttempt {
                        register_id: state.id(),
                        session_id,
                        attempt_key: Uuid::new_v4(),
                        sale_key: sale.key,
                        provider,
                        used_backup,
                        method: payment.method,
                        amount: payment.card_charge().get(),
                        tip: payment.tip.get(),
                        status: AttemptStatus::Approved,
                        authorization_code: Some(code.clone()),
                        terminal_reference: voucher.terminal_reference.clone(),
                        detail: Some("confirmado por el cajero con el código del terminal".into()),
                        fallback_from: None,
                        overridden_by: None,
                        started_by: by.id.0,
                        started_at: cx.at,
                        deadline_at: cx.at,
                        ended_at: Some(cx.at),
                        resolved_by: Some(by.id.0),
                        card_brand: voucher.card_brand.clone(),
                        card_last4: voucher.card_last4.clone(),
                        installments: voucher.installments,
                    },
                )?;
                let (confirmed, earlier) = repeated_code::check(conn, confirmed, &by.actor())?;
                if let Some(earlier) = earlier {
                    warnings.push(earlier.warning(provider, code));
                }
                effects.push(Effect::Approved { provider });
                confirmed
            }
        };
        payment.provider = Some(approval.provider);
        payment.backup = approval.used_backup;
        payment.approval = Some(approval.id);
        approvals.push(approval);
    }
    Ok(Approvals {
        sale: resolved,
        attempts: approvals,
        effects,
        warnings,
    })
}

/// A sale's card payments as their approvals leave them.
pub struct Approvals {
    /// The sale, each card payment's provider and backup use set.
    pub sale: ValidSale,
    /// To mark paid once the sale has its id.
    pub attempts: Vec<CardAttempt>,
    pub effects: Vec<Effect>,
    /// For the cashier: typed codes that repeat one of the jornada's.
    pub warnings: Vec<String>,
}
