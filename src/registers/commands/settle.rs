//! Settling approved charges: every one ends used by one sale, refunded,
//! or written off by a supervisor with a reason. A charge with no sale (a
//! late approval, a second approval of a sale, a customer who walked away)
//! stays open, on the floor and in the way of its session's closing, until
//! it is refunded (in full, maybe in parts) or written off; a card sale
//! voided is refunded the same way. Both go through the caja's actor, are
//! committed with its `seq` and audited.

use actix::Message;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::card::authorization_code;
use crate::audit::{self, Action};
use crate::auth::user::{Role, User};
use crate::cajas::CajaId;
use crate::db::schema::{card_attempts, card_refunds, sales};
use crate::money::Pesos;
use crate::payments::attempt::{self, AttemptStatus, CardAttempt, Settlement};
use crate::registers::CajaError;
use crate::registers::commit::{Applied, Command, CommandContext};
use crate::registers::event_log::Change;
use crate::registers::keys::CommandKey;
use crate::registers::snapshot::Snapshot;

fn invalid(field: &str, message: impl Into<String>) -> CajaError {
    CajaError::InvalidAttempt {
        field: field.to_owned(),
        message: message.into(),
    }
}

/// One row of `card_refunds`.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Serialize, Deserialize)]
#[diesel(table_name = card_refunds, check_for_backend(diesel::pg::Pg))]
pub struct CardRefund {
    pub id: i64,
    pub refund_key: Uuid,
    pub attempt_id: i64,
    pub register_id: CajaId,
    pub amount: i64,
    pub authorization_code: String,
    pub reason: String,
    pub refunded_by: i32,
    pub refunded_at: DateTime<Utc>,
}

#[derive(Insertable)]
#[diesel(table_name = card_refunds)]
struct NewRefund<'a> {
    refund_key: Uuid,
    attempt_id: i64,
    register_id: CajaId,
    amount: i64,
    authorization_code: &'a str,
    reason: &'a str,
    refunded_by: i32,
    refunded_at: DateTime<Utc>,
}

/// What a settlement answers: the charge as it is now, and the refund made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settled {
    pub attempt: CardAttempt,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refund: Option<CardRefund>,
}

fn supervisor(by: &User) -> Result<(), CajaError> {
    if by.role.includes(Role::Supervisor) {
        Ok(())
    } else {
        Err(CajaError::SupervisorOnly)
    }
}

/// The change a settlement makes: the charge as it is now, on the screens.
fn settled_change(state: &Snapshot, settled: Settled) -> Applied<Settled> {
    let mut next = state.changed(
        state.caja.clone(),
        state.session.clone(),
        state.history.clone(),
    );
    next.put_attempt(settled.attempt.clone());
    Applied::changed(settled, Change::CardAttempt, next)
}

/// A supervisor gives back all or part of a charge to the card: one with
/// no sale, or one whose sale was voided. The refund's code is what the
/// terminal printed for it.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<Settled, CajaError>")]
pub struct RefundCharge {
    pub by: User,
    pub attempt_id: i64,
    /// Refunding twice with the same key refunds once.
    pub key: Uuid,
    pub amount: Pesos,
    /// The refund's code as the terminal printed it; a simulated terminal
    /// answers its own when none is given.
    pub authorization_code: Option<String>,
    pub reason: String,
}

impl Command for RefundCharge {
    type Reply = Settled;

    fn apply(
        &self,
        conn: &mut PgConnection,
        state: &Snapshot,
        cx: &CommandContext,
    ) -> Result<Applied<Settled>, CajaError> {
        supervisor(&self.by)?;
        let known: Option<CardRefund> = card_refunds::table
            .filter(card_refunds::refund_key.eq(self.key))
            .select(CardRefund::as_select())
            .first(conn)
            .optional()?;
        if let Some(refund) = known {
            let same = refund.register_id == state.id()
                && refund.attempt_id == self.attempt_id
                && refund.amount == self.amount.get();
            if !same {
                return Err(CajaError::KeyReused);
            }
            let attempt = attempt::find_for_update(conn, state.id(), self.attempt_id)?
                .ok_or(CajaError::UnknownAttempt)?;
            return Ok(Applied::Replayed(Settled {
                attempt,
                refund: Some(refund),
            }));
        }
        let code = refund_code(
            self.authorization_code.as_deref(),
            state,
            cx,
            "authorization_code",
        )?;
        let found = attempt::find_for_update(conn, state.id(), self.attempt_id)?
            .ok_or(CajaError::UnknownAttempt)?;
        match found.settlement() {
            Settlement::Open => {}
            Settlement::Sale(sale) => {
                let voided: Option<DateTime<Utc>> = sales::table
                    .find(sale)
                    .select(sales::voided_at)
                    .first(conn)?;
                if voided.is_none() {
                    return Err(invalid(
                        "attempt_id",
                        format!(
                            "el cobro #{} pagó la venta #{sale}, que no está anulada: anúlala primero",
                            found.id
                        ),
                    ));
                }
                if found.refunded_amount >= found.amount {
                    return Err(CajaError::ChargeNotOpen(found.id));
                }
            }
            Settlement::NoCharge | Settlement::Refunded | Settlement::WrittenOff => {
                return Err(CajaError::ChargeNotOpen(found.id));
            }
        }
        let left = found.unsettled_amount();
        if self.amount.get() > left {
            return Err(invalid(
                "amount",
                format!(
                    "se puede devolver a lo más {} del cobro #{}",
                    Pesos::new(left).unwrap_or_default(),
                    found.id
                ),
            ));
        }
        let (attempt, refund) = record_refund(
            conn,
            &found,
            RefundOf {
                key: self.key,
                amount: self.amount.get(),
                code: &code,
                reason: &self.reason,
                by: &self.by,
                at: cx.at,
            },
        )?;
        Ok(settled_change(
            state,
            Settled {
                attempt,
                refund: Some(refund),
            },
        ))
    }
}

/// The refund's code: as typed (checked), or the simulated terminal's
/// answer when the hub plays the caja's terminal; a manual terminal's
/// refund needs the code it printed (`field` names it).
pub fn refund_code(
    typed: Option<&str>,
    state: &Snapshot,
    cx: &CommandContext,
    field: &str,
) -> Result<String, CajaError> {
    match typed.map(str::trim).filter(|code| !code.is_empty()) {
        Some(code) => authorization_code(code).map_err(|_| {
            invalid(
                field,
                "el código de la devolución tiene de 4 a 12 letras o números",
            )
        }),
        None if cx.simulates_terminal_of(&state.caja) => {
            Ok(crate::payments::terminal::simulated_refund_code())
        }
        None => Err(invalid(
            field,
            "haz la devolución en el terminal y anota el código que imprime",
        )),
    }
}

/// What a refund is: how much, its code, why, who and when.
struct RefundOf<'a> {
    key: Uuid,
    amount: i64,
    code: &'a str,
    reason: &'a str,
    by: &'a User,
    at: DateTime<Utc>,
}

/// Writes a refund of `found` (checked by the caller: approved, and no
/// more than is left of it), audited; the attempt as it is now.
fn record_refund(
    conn: &mut PgConnection,
    found: &CardAttempt,
    refund: RefundOf<'_>,
) -> Result<(CardAttempt, CardRefund), CajaError> {
    let made = diesel::insert_into(card_refunds::table)
        .values(NewRefund {
            refund_key: refund.key,
            attempt_id: found.id,
            register_id: found.register_id,
            amount: refund.amount,
            authorization_code: refund.code,
            reason: refund.reason,
            refunded_by: refund.by.id.0,
            refunded_at: refund.at,
        })
        .returning(CardRefund::as_returning())
        .get_result(conn)?;
    let attempt = diesel::update(
        card_attempts::table
            .find(found.id)
            .filter(card_attempts::refunded_amount.eq(found.refunded_amount)),
    )
    .set(card_attempts::refunded_amount.eq(found.refunded_amount + made.amount))
    .returning(CardAttempt::as_returning())
    .get_result(conn)
    .optional()?
    .ok_or(CajaError::StateMoved)?;
    audit::record(
        conn,
        &refund.by.actor(),
        Action::CardRefunded,
        attempt.id,
        Some(found),
        Some(&made),
    )?;
    Ok((attempt, made))
}

/// A card sale voided with the refund's code (what the terminal printed
/// for it): each of its card payments is given back in full, in the
/// void's transaction. Returns the attempts as they are now.
pub fn refund_voided_sale(
    conn: &mut PgConnection,
    sale_id: i64,
    code: &str,
    reason: &str,
    by: &User,
    at: DateTime<Utc>,
) -> Result<Vec<CardAttempt>, CajaError> {
    let paid: Vec<CardAttempt> = card_attempts::table
        .filter(card_attempts::sale_id.eq(sale_id))
        .order(card_attempts::id)
        .select(CardAttempt::as_select())
        .for_update()
        .load(conn)?;
    let mut refunded = Vec::with_capacity(paid.len());
    for found in paid {
        let left = found.unsettled_amount();
        if left == 0 {
            refunded.push(found);
            continue;
        }
        let (attempt, _) = record_refund(
            conn,
            &found,
            RefundOf {
                key: Uuid::new_v4(),
                amount: left,
                code,
                reason,
                by,
                at,
            },
        )?;
        refunded.push(attempt);
    }
    Ok(refunded)
}

/// A supervisor settles a charge with no sale otherwise than by a refund
/// (the customer took a drink for it, the provider reversed it itself…),
/// with the reason. What was refunded of it stays refunded.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<Settled, CajaError>")]
pub struct WriteOffCharge {
    pub by: User,
    pub attempt_id: i64,
    /// Writing off twice with the same key writes off once.
    pub key: Uuid,
    pub reason: String,
}

impl Command for WriteOffCharge {
    type Reply = Settled;

    fn apply(
        &self,
        conn: &mut PgConnection,
        state: &Snapshot,
        cx: &CommandContext,
    ) -> Result<Applied<Settled>, CajaError> {
        supervisor(&self.by)?;
        let key = CommandKey::new(
            self.key,
            "write_off_charge",
            format!("{}|{}", self.attempt_id, self.reason),
        );
        if let Some(settled) = key.replay(conn, state.id())? {
            return Ok(Applied::Replayed(settled));
        }
        let found = attempt::find_for_update(conn, state.id(), self.attempt_id)?
            .ok_or(CajaError::UnknownAttempt)?;
        if !found.is_open_charge() {
            return Err(CajaError::ChargeNotOpen(found.id));
        }
        let attempt = diesel::update(
            card_attempts::table
                .find(found.id)
                .filter(card_attempts::status.eq(AttemptStatus::Approved))
                .filter(card_attempts::sale_id.is_null())
                .filter(card_attempts::written_off_at.is_null()),
        )
        .set((
            card_attempts::written_off_by.eq(self.by.id.0),
            card_attempts::written_off_at.eq(cx.at),
            card_attempts::write_off_reason.eq(&self.reason),
        ))
        .returning(CardAttempt::as_returning())
        .get_result(conn)
        .optional()?
        .ok_or(CajaError::StateMoved)?;
        audit::record(
            conn,
            &self.by.actor(),
            Action::CardWrittenOff,
            attempt.id,
            Some(&found),
            Some(&attempt),
        )?;
        let settled = Settled {
            attempt,
            refund: None,
        };
        key.remember(conn, state.id(), state.next_seq(), &settled)?;
        Ok(settled_change(state, settled))
    }
}
