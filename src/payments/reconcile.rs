//! Reconciliation per provider, for one session or one jornada: what each
//! provider approved (to compare with its batch), refunded and kept (net),
//! the charges with no sale (written off, or still to settle), what failed,
//! timed out or was declined, and the fallbacks with how long they took. Computed in
//! SQL, over the attempts; the reports build on the same query.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Double, Integer, Nullable, Text};
use serde::Serialize;

use super::attempt::{AttemptStatus, CardAttempt};
use crate::db::schema::{card_attempts, register_sessions};
use crate::money::Pesos;

/// One provider's line.
#[derive(Debug, Clone, PartialEq, QueryableByName, Serialize)]
pub struct ProviderLine {
    #[diesel(sql_type = Text)]
    pub provider: String,
    /// Approved: what the provider's batch should show.
    #[diesel(sql_type = BigInt)]
    pub approved_count: i64,
    #[diesel(sql_type = BigInt)]
    pub approved_amount: i64,
    /// Of those, approvals whose sale was voided afterwards (to refund).
    #[diesel(sql_type = BigInt)]
    pub voided_amount: i64,
    /// Given back to the cards (refunds recorded).
    #[diesel(sql_type = BigInt)]
    pub refunded_amount: i64,
    /// Charges with no sale a supervisor wrote off (less what was refunded of them).
    #[diesel(sql_type = BigInt)]
    pub written_off_amount: i64,
    /// Charges with no sale still to settle: how many, and how much is left of them.
    #[diesel(sql_type = BigInt)]
    pub open_count: i64,
    #[diesel(sql_type = BigInt)]
    pub open_amount: i64,
    #[diesel(sql_type = BigInt)]
    pub declined: i64,
    #[diesel(sql_type = BigInt)]
    pub failed: i64,
    /// Timed out or left unknown by a restart, and never resolved otherwise.
    #[diesel(sql_type = BigInt)]
    pub unanswered: i64,
    #[diesel(sql_type = BigInt)]
    pub cancelled: i64,
    /// Attempts on this provider that were a fallback from another.
    #[diesel(sql_type = BigInt)]
    pub fallbacks: i64,
    /// Seconds from the first attempt of a sale to its fallback: average, longest.
    #[diesel(sql_type = Nullable<Double>)]
    pub fallback_avg_seconds: Option<f64>,
    #[diesel(sql_type = Nullable<Double>)]
    pub fallback_max_seconds: Option<f64>,
}

impl ProviderLine {
    pub fn approved(&self) -> Pesos {
        Pesos::new(self.approved_amount).unwrap_or_default()
    }

    pub fn voided(&self) -> Pesos {
        Pesos::new(self.voided_amount).unwrap_or_default()
    }

    pub fn refunded(&self) -> Pesos {
        Pesos::new(self.refunded_amount).unwrap_or_default()
    }

    /// What the provider keeps: approved less refunded.
    pub fn net(&self) -> Pesos {
        Pesos::new(self.approved_amount - self.refunded_amount).unwrap_or_default()
    }

    pub fn written_off(&self) -> Pesos {
        Pesos::new(self.written_off_amount).unwrap_or_default()
    }

    pub fn open(&self) -> Pesos {
        Pesos::new(self.open_amount).unwrap_or_default()
    }

    /// "12 s / 40 s", or "—".
    pub fn fallback_times(&self) -> String {
        match (self.fallback_avg_seconds, self.fallback_max_seconds) {
            (Some(avg), Some(max)) => format!("{avg:.0} s / {max:.0} s"),
            _ => "—".into(),
        }
    }
}

const LINES: &str = "
SELECT a.provider,
       count(*) FILTER (WHERE a.status = 'APPROVED') AS approved_count,
       COALESCE(sum(a.amount) FILTER (WHERE a.status = 'APPROVED'), 0)::bigint AS approved_amount,
       COALESCE(sum(a.amount) FILTER (WHERE a.status = 'APPROVED' AND s.voided_at IS NOT NULL), 0)::bigint AS voided_amount,
       COALESCE(sum(a.refunded_amount), 0)::bigint AS refunded_amount,
       COALESCE(sum(a.amount - a.refunded_amount) FILTER (WHERE a.written_off_at IS NOT NULL), 0)::bigint AS written_off_amount,
       count(*) FILTER (WHERE a.status = 'APPROVED' AND a.sale_id IS NULL AND a.written_off_at IS NULL
                          AND a.refunded_amount < a.amount) AS open_count,
       COALESCE(sum(a.amount - a.refunded_amount) FILTER (WHERE a.status = 'APPROVED' AND a.sale_id IS NULL
                          AND a.written_off_at IS NULL), 0)::bigint AS open_amount,
       count(*) FILTER (WHERE a.status = 'DECLINED') AS declined,
       count(*) FILTER (WHERE a.status = 'FAILED') AS failed,
       count(*) FILTER (WHERE a.status IN ('TIMED_OUT', 'UNKNOWN')) AS unanswered,
       count(*) FILTER (WHERE a.status = 'CANCELLED') AS cancelled,
       count(f.id) AS fallbacks,
       avg(extract(epoch FROM a.started_at - f.started_at))::float8 AS fallback_avg_seconds,
       max(extract(epoch FROM a.started_at - f.started_at))::float8 AS fallback_max_seconds
FROM card_attempts a
LEFT JOIN sales s ON s.id = a.sale_id
LEFT JOIN card_attempts f ON f.id = a.fallback_from
WHERE {scope}
GROUP BY a.provider
ORDER BY a.provider";

/// A session's or a jornada's card payments: a line per provider, and
/// the charges no sale used, line by line (what explains the difference
/// between the sales' card totals and each provider's batch).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Reconciliation {
    pub lines: Vec<ProviderLine>,
    pub charges: Vec<CardAttempt>,
}

impl Reconciliation {
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// The line of `provider`, if it has one.
    pub fn line(&self, provider: &str) -> Option<&ProviderLine> {
        self.lines.iter().find(|l| l.provider == provider)
    }
}

/// The reconciliation of session `session`.
pub fn of_session(conn: &mut PgConnection, session: i32) -> QueryResult<Reconciliation> {
    Ok(Reconciliation {
        lines: diesel::sql_query(LINES.replace("{scope}", "a.session_id = $1"))
            .bind::<Integer, _>(session)
            .load(conn)?,
        charges: without_sale()
            .filter(card_attempts::session_id.eq(session))
            .load(conn)?,
    })
}

/// The reconciliation of every session of jornada `jornada`.
pub fn of_jornada(conn: &mut PgConnection, jornada: i32) -> QueryResult<Reconciliation> {
    let sessions = register_sessions::table
        .filter(register_sessions::jornada_id.eq(jornada))
        .select(register_sessions::id);
    Ok(Reconciliation {
        lines: diesel::sql_query(LINES.replace(
            "{scope}",
            "a.session_id IN (SELECT id FROM register_sessions WHERE jornada_id = $1)",
        ))
        .bind::<Integer, _>(jornada)
        .load(conn)?,
        charges: without_sale()
            .filter(card_attempts::session_id.eq_any(sessions))
            .load(conn)?,
    })
}

/// The approved charges that no sale used: open, refunded or written off;
/// oldest first.
fn without_sale<'a>()
-> card_attempts::BoxedQuery<'a, diesel::pg::Pg, diesel::dsl::AsSelect<CardAttempt, diesel::pg::Pg>>
{
    card_attempts::table
        .filter(card_attempts::status.eq(AttemptStatus::Approved))
        .filter(card_attempts::sale_id.is_null())
        .order(card_attempts::id)
        .select(CardAttempt::as_select())
        .into_boxed()
}
