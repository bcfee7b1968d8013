//! The figures of the cajas report, in SQL.

use crate::jornadas::{JornadaStatus, SessionStatus};
use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Date, Integer, Nullable, Text, Timestamptz};

/// Which sessions a report covers: those of one jornada, or those opened
/// between two of the venue's dates (both included).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Jornada(i32),
    Dates { from: NaiveDate, to: NaiveDate },
}

/// One caja over the scope: its providers, its last session, and the sums.
#[derive(Debug, Clone, QueryableByName)]
pub struct CajaLine {
    #[diesel(sql_type = Integer)]
    pub caja_id: i32,
    #[diesel(sql_type = Text)]
    pub name: String,
    #[diesel(sql_type = Text)]
    pub code: String,
    #[diesel(sql_type = Text)]
    pub provider_primary: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub provider_backup: Option<String>,
    #[diesel(sql_type = Bool)]
    pub archived: bool,
    #[diesel(sql_type = Nullable<Integer>)]
    pub last_session: Option<i32>,
    #[diesel(sql_type = Nullable<Text>)]
    pub last_status: Option<SessionStatus>,
    #[diesel(sql_type = Nullable<Text>)]
    pub last_cashier: Option<String>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub last_opened_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub last_closed_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub last_initial_cash: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub last_cash_count: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub last_difference: Option<i64>,
    #[diesel(sql_type = BigInt)]
    pub sessions: i64,
    /// Of them, those still open: not counted yet.
    #[diesel(sql_type = BigInt)]
    pub open_sessions: i64,
    #[diesel(sql_type = BigInt)]
    pub efectivo: i64,
    #[diesel(sql_type = BigInt)]
    pub debito: i64,
    #[diesel(sql_type = BigInt)]
    pub credito: i64,
    #[diesel(sql_type = BigInt)]
    pub transferencia: i64,
    #[diesel(sql_type = BigInt)]
    pub tickets: i64,
    #[diesel(sql_type = BigInt)]
    pub voids: i64,
    /// The closed sessions' differences, added up (faltantes negative).
    #[diesel(sql_type = BigInt)]
    pub difference: i64,
    #[diesel(sql_type = BigInt)]
    pub primary_payments: i64,
    #[diesel(sql_type = BigInt)]
    pub backup_payments: i64,
    /// Each provider's approvals (what its batch shows) and refunds.
    #[diesel(sql_type = BigInt)]
    pub getnet_approved: i64,
    #[diesel(sql_type = BigInt)]
    pub getnet_refunded: i64,
    #[diesel(sql_type = BigInt)]
    pub klap_approved: i64,
    #[diesel(sql_type = BigInt)]
    pub klap_refunded: i64,
    /// Charges with no sale still to refund or write off.
    #[diesel(sql_type = BigInt)]
    pub open_charges: i64,
}

impl CajaLine {
    pub fn total(&self) -> i64 {
        self.efectivo + self.debito + self.credito + self.transferencia
    }

    pub fn is_open(&self) -> bool {
        self.last_status.is_some_and(SessionStatus::is_open)
    }

    /// The last session's cash: "fondo $50.000 · contado $61.500 · dif. -$500".
    pub fn last_cash(&self) -> String {
        let pesos = |n: i64| crate::money::Pesos::new(n).unwrap_or_default().to_string();
        [
            self.last_initial_cash
                .map(|n| format!("fondo {}", pesos(n))),
            self.last_cash_count
                .map(|n| format!("contado {}", pesos(n))),
            self.last_difference.map(|n| format!("dif. {}", pesos(n))),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" · ")
    }
}

/// Every caja not archived, and any archived one with sessions in scope
/// (with no scope, every session recorded: a venue before its first
/// jornada still sees its cajas and their last sessions).
pub fn cajas(conn: &mut PgConnection, scope: Option<Scope>) -> QueryResult<Vec<CajaLine>> {
    let (jornada, from, to) = match scope {
        Some(Scope::Jornada(id)) => (Some(id), None, None),
        Some(Scope::Dates { from, to }) => (None, Some(from), Some(to)),
        None => (None, None, None),
    };
    diesel::sql_query(
        "WITH scope AS (
            SELECT * FROM register_sessions
             WHERE ($1::int IS NULL OR jornada_id = $1)
               AND ($2::date IS NULL OR opened_at >= ($2::date::timestamp AT TIME ZONE 'America/Santiago'))
               AND ($3::date IS NULL OR opened_at < (($3::date + 1)::timestamp AT TIME ZONE 'America/Santiago'))
         ), sums AS (
            SELECT register_id, count(*) AS sessions,
                   count(*) FILTER (WHERE status = 'OPEN') AS open_sessions,
                   sum(coalesce((payment_totals->>'EFECTIVO')::bigint, 0)) AS efectivo,
                   sum(coalesce((payment_totals->>'DEBITO')::bigint, 0)) AS debito,
                   sum(coalesce((payment_totals->>'CREDITO')::bigint, 0)) AS credito,
                   sum(coalesce((payment_totals->>'TRANSFERENCIA')::bigint, 0)) AS transferencia,
                   sum(ticket_count) AS tickets,
                   sum(coalesce(cash_difference, 0)) AS difference,
                   sum(payment_provider_used_primary_count) AS primary_payments,
                   sum(payment_provider_used_backup_count) AS backup_payments
              FROM scope GROUP BY register_id
         ), voids AS (
            SELECT s.register_id, count(*) AS voids
              FROM sales s JOIN scope ON scope.id = s.session_id
             WHERE s.voided_at IS NOT NULL
             GROUP BY s.register_id
         ), cards AS (
            SELECT a.register_id,
                   sum(a.amount) FILTER (WHERE a.status = 'APPROVED' AND a.provider = 'GETNET') AS getnet_approved,
                   sum(a.refunded_amount) FILTER (WHERE a.provider = 'GETNET') AS getnet_refunded,
                   sum(a.amount) FILTER (WHERE a.status = 'APPROVED' AND a.provider = 'KLAP') AS klap_approved,
                   sum(a.refunded_amount) FILTER (WHERE a.provider = 'KLAP') AS klap_refunded,
                   sum(a.amount - a.refunded_amount) FILTER (WHERE a.status = 'APPROVED'
                       AND a.sale_id IS NULL AND a.written_off_at IS NULL) AS open_charges
              FROM card_attempts a JOIN scope ON scope.id = a.session_id
             GROUP BY a.register_id
         ), last AS (
            SELECT DISTINCT ON (register_id) * FROM scope ORDER BY register_id, opened_at DESC, id DESC
         )
         SELECT r.id AS caja_id, r.name::text AS name, r.code::text AS code,
                r.payment_provider_primary::text AS provider_primary,
                r.payment_provider_backup::text AS provider_backup,
                r.archived_at IS NOT NULL AS archived,
                last.id AS last_session, last.status::text AS last_status, u.name AS last_cashier,
                last.opened_at AS last_opened_at, last.closed_at AS last_closed_at,
                last.initial_cash AS last_initial_cash, last.cash_count AS last_cash_count,
                last.cash_difference AS last_difference,
                coalesce(sums.sessions, 0)::bigint AS sessions,
                coalesce(sums.open_sessions, 0)::bigint AS open_sessions,
                coalesce(sums.efectivo, 0)::bigint AS efectivo,
                coalesce(sums.debito, 0)::bigint AS debito,
                coalesce(sums.credito, 0)::bigint AS credito,
                coalesce(sums.transferencia, 0)::bigint AS transferencia,
                coalesce(sums.tickets, 0)::bigint AS tickets,
                coalesce(voids.voids, 0)::bigint AS voids,
                coalesce(sums.difference, 0)::bigint AS difference,
                coalesce(sums.primary_payments, 0)::bigint AS primary_payments,
                coalesce(sums.backup_payments, 0)::bigint AS backup_payments,
                coalesce(cards.getnet_approved, 0)::bigint AS getnet_approved,
                coalesce(cards.getnet_refunded, 0)::bigint AS getnet_refunded,
                coalesce(cards.klap_approved, 0)::bigint AS klap_approved,
                coalesce(cards.klap_refunded, 0)::bigint AS klap_refunded,
                coalesce(cards.open_charges, 0)::bigint AS open_charges
           FROM pos_registers r
           LEFT JOIN sums ON sums.register_id = r.id
           LEFT JOIN cards ON cards.register_id = r.id
           LEFT JOIN voids ON voids.register_id = r.id
           LEFT JOIN last ON last.register_id = r.id
           LEFT JOIN users u ON u.id = last.opened_by
          WHERE r.archived_at IS NULL OR sums.register_id IS NOT NULL
          ORDER BY r.name, r.id",
    )
    .bind::<Nullable<Integer>, _>(jornada)
    .bind::<Nullable<Date>, _>(from)
    .bind::<Nullable<Date>, _>(to)
    .load(conn)
}

/// A jornada a report may cover: its number and when it opened.
#[derive(Debug, Clone, QueryableByName)]
pub struct JornadaChoice {
    #[diesel(sql_type = Integer)]
    pub id: i32,
    #[diesel(sql_type = Timestamptz)]
    pub opened_at: DateTime<Utc>,
    #[diesel(sql_type = Text)]
    pub status: JornadaStatus,
}

/// The latest jornadas, newest first (what the filter offers).
pub fn jornadas(conn: &mut PgConnection, limit: i64) -> QueryResult<Vec<JornadaChoice>> {
    diesel::sql_query(
        "SELECT id, opened_at, status::text AS status FROM jornadas ORDER BY id DESC LIMIT $1",
    )
    .bind::<BigInt, _>(limit)
    .load(conn)
}

/// Whether jornada `id` exists.
pub fn jornada_exists(conn: &mut PgConnection, id: i32) -> QueryResult<bool> {
    use crate::db::schema::jornadas;
    diesel::select(diesel::dsl::exists(jornadas::table.find(id))).get_result(conn)
}

/// The open jornada, or else the last one.
pub fn current_jornada(conn: &mut PgConnection) -> QueryResult<Option<i32>> {
    use crate::db::schema::jornadas;
    jornadas::table
        .order((
            jornadas::status.eq(JornadaStatus::Open).desc(),
            jornadas::id.desc(),
        ))
        .select(jornadas::id)
        .first(conn)
        .optional()
}
