//! Never twice, when the cashier types the code: an authorization code
//! typed for an approval (a standalone terminal's, or an attempt resolved
//! by hand) that an approval of the same provider already carries in the
//! same jornada is accepted (codes are short and do repeat), but the
//! approval is marked with the earlier one (`code_repeats`, by the caja's
//! actor in the same commit), the cashier is warned, and a supervisor finds
//! it on /admin/ventas-marcadas until they note what they checked
//! (`card_code_reviews`, audited).

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::attempt::{AttemptStatus, CardAttempt};
use crate::audit::{self, Action, Actor};
use crate::cajas::domain::PaymentProvider;
use crate::db::schema::{
    card_attempts, card_code_reviews, pos_registers, register_sessions, users,
};

/// The earlier approval a code repeats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Earlier {
    pub attempt_id: i64,
    pub caja: String,
}

impl Earlier {
    /// What the cashier is told.
    pub fn warning(&self, provider: PaymentProvider, code: &str) -> String {
        format!(
            "El código {code} de {provider} ya se usó esta jornada en el cobro #{} ({}): revisa el comprobante del terminal. Queda marcado para el supervisor.",
            self.attempt_id, self.caja
        )
    }
}

/// The first approval of `provider` carrying `code` in the jornada of
/// `session`, other than attempt `except`.
pub fn earlier(
    conn: &mut PgConnection,
    session: i32,
    provider: PaymentProvider,
    code: &str,
    except: i64,
) -> QueryResult<Option<Earlier>> {
    let jornada: Option<i32> = register_sessions::table
        .find(session)
        .select(register_sessions::jornada_id)
        .first(conn)?;
    let Some(jornada) = jornada else {
        return Ok(None);
    };
    card_attempts::table
        .inner_join(register_sessions::table.inner_join(pos_registers::table))
        .filter(register_sessions::jornada_id.eq(jornada))
        .filter(card_attempts::provider.eq(provider))
        .filter(card_attempts::authorization_code.eq(code))
        .filter(card_attempts::status.eq(AttemptStatus::Approved))
        .filter(card_attempts::id.ne(except))
        .order(card_attempts::id)
        .select((card_attempts::id, pos_registers::name))
        .first::<(i64, String)>(conn)
        .optional()
        .map(|found| found.map(|(attempt_id, caja)| Earlier { attempt_id, caja }))
}

/// Marks `attempt` (just approved with a typed code) when its code repeats
/// an earlier approval's, audited; the attempt as it now stands and the
/// earlier one.
pub fn check(
    conn: &mut PgConnection,
    attempt: CardAttempt,
    by: &Actor,
) -> QueryResult<(CardAttempt, Option<Earlier>)> {
    let Some(code) = attempt.authorization_code.clone() else {
        return Ok((attempt, None));
    };
    let Some(earlier) = earlier(
        conn,
        attempt.session_id,
        attempt.provider,
        &code,
        attempt.id,
    )?
    else {
        return Ok((attempt, None));
    };
    let marked = diesel::update(card_attempts::table.find(attempt.id))
        .set(card_attempts::code_repeats.eq(earlier.attempt_id))
        .returning(CardAttempt::as_returning())
        .get_result(conn)?;
    audit::record(
        conn,
        by,
        Action::CardCodeRepeated,
        attempt.id,
        Some(&serde_json::json!({ "earlier_attempt": earlier.attempt_id })),
        Some(&serde_json::json!({
            "provider": attempt.provider.as_str(),
            "authorization_code": code,
            "amount": attempt.amount,
        })),
    )?;
    Ok((marked, Some(earlier)))
}

/// A repeated code waiting for a supervisor.
#[derive(Debug, Clone, Queryable)]
pub struct Repeated {
    pub attempt_id: i64,
    pub earlier: i64,
    pub provider: PaymentProvider,
    pub code: Option<String>,
    pub amount: i64,
    pub caja: String,
    pub by: String,
    pub at: DateTime<Utc>,
}

/// Every repeated code no supervisor has reviewed yet, oldest first.
pub fn waiting(conn: &mut PgConnection) -> QueryResult<Vec<Repeated>> {
    card_attempts::table
        .inner_join(pos_registers::table)
        .inner_join(users::table.on(users::id.eq(card_attempts::started_by)))
        .left_join(card_code_reviews::table)
        .filter(card_attempts::code_repeats.is_not_null())
        .filter(card_code_reviews::attempt_id.is_null())
        .order(card_attempts::id)
        .select((
            card_attempts::id,
            card_attempts::code_repeats.assume_not_null(),
            card_attempts::provider,
            card_attempts::authorization_code,
            card_attempts::amount,
            pos_registers::name,
            users::name,
            card_attempts::started_at,
        ))
        .load(conn)
}

/// Why a review was not kept.
#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    #[error("no repeated code waits under that number")]
    NotWaiting,
    #[error(transparent)]
    Db(#[from] diesel::result::Error),
}

/// A supervisor notes what they checked of repeated code `attempt`
/// (audited); it leaves the list.
pub fn review(
    conn: &mut PgConnection,
    attempt: i64,
    by: &Actor,
    reviewer: i32,
    note: &str,
) -> Result<(), ReviewError> {
    conn.transaction(|conn| {
        let repeats: Option<Option<i64>> = card_attempts::table
            .find(attempt)
            .select(card_attempts::code_repeats)
            .first(conn)
            .optional()?;
        if !matches!(repeats, Some(Some(_))) {
            return Err(ReviewError::NotWaiting);
        }
        let inserted = diesel::insert_into(card_code_reviews::table)
            .values((
                card_code_reviews::attempt_id.eq(attempt),
                card_code_reviews::reviewed_by.eq(reviewer),
                card_code_reviews::note.eq(note),
            ))
            .on_conflict_do_nothing()
            .execute(conn)?;
        if inserted == 0 {
            return Err(ReviewError::NotWaiting);
        }
        audit::record(
            conn,
            by,
            Action::CardCodeReviewed,
            attempt,
            None::<&()>,
            Some(&serde_json::json!({ "note": note })),
        )?;
        Ok(())
    })
}
