//! How a sale is written, the only way: the sale, its lines, its payments
//! (with their tips), the session's counters, the caja's `seq`, the
//! event and its boleta's pending document, in ONE statement, kept prepared on each connection (one round
//! trip, parsed and planned once; alone it needs no transaction of its
//! own). The event is the row `event_log::append` writes for every other
//! change.

use chrono::{DateTime, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::{
    Array, Bool, Int4, Int8, Jsonb, Nullable, Text, Timestamptz, Untyped, Uuid as SqlUuid,
};
use uuid::Uuid;

use super::CajaError;
use super::event_log::Change;
use super::live::LiveSession;
use super::sale::{Documented, ValidSale};
use super::snapshot::Snapshot;
use super::store::per_method_json;
use crate::db::jsonb::JsonText;
use crate::money::Pesos;

/// Records `sale` as the change that takes the caja to `next` (whose event
/// payload is `payload`). Its guard locks the session and the caja and
/// checks both against memory (the counters as `before`, the `seq` as the
/// one before `next`'s); everything else is written only from the sale's
/// row, so a failed guard or a key already taken writes nothing. The
/// payload's sale (`recent_sale`, see [`Changes`]) gets the sale's id.
///
/// [`Changes`]: super::snapshot::Changes
///
/// The sale takes the id `reserved` when it was taken ahead (its card
/// charges name it), else the next of `sales_id_seq`.
///
/// A sale that needs a boleta (`documented`: what it documents) writes
/// the document, pending, in the same statement: the outbox the provider
/// is sent from (docs/architecture.md rule 20).
///
/// `Ok(None)`: the key is taken (a retry, or a key reused): nothing written.
pub fn record_sale(
    conn: &mut PgConnection,
    change: (&LiveSession, &LiveSession),
    (sale, reserved, documented): (&ValidSale, Option<i64>, Option<Documented>),
    by: i32,
    next: &Snapshot,
    payload: &JsonText,
) -> Result<Option<i64>, CajaError> {
    let (before, after) = change;
    let payments = &sale.payments;
    let statement = RecordSale {
        session_id: after.id,
        sale_id: reserved,
        register_id: next.id().0,
        seq: next.seq,
        before: Counters::of(before),
        key: sale.key,
        fingerprint: sale.fingerprint(),
        total: sale.total.get(),
        total_charged: sale.total_charged.get(),
        created_by: by,
        // The time the screens are told, so memory and rows agree.
        created_at: after.last_sale_at.unwrap_or_else(Utc::now),
        methods: payments.iter().map(|p| p.method.as_str()).collect(),
        amounts: payments.iter().map(|p| p.amount.get()).collect(),
        charged: payments.iter().map(|p| p.charged.get()).collect(),
        tendered: payments
            .iter()
            .map(|p| p.tendered.map(Pesos::get))
            .collect(),
        change_given: payments.iter().map(|p| p.change.get()).collect(),
        providers: payments
            .iter()
            .map(|p| p.provider.map(|p| p.as_str()))
            .collect(),
        backups: payments.iter().map(|p| p.backup).collect(),
        approvals: payments.iter().map(|p| p.approval).collect(),
        tips: payments.iter().map(|p| p.tip.get()).collect(),
        line_products: sale.lines.iter().map(|l| l.product.map(|p| p.0)).collect(),
        line_names: sale.lines.iter().map(|l| l.name.as_str()).collect(),
        line_prices: sale.lines.iter().map(|l| l.unit_price.get()).collect(),
        line_quantities: sale
            .lines
            .iter()
            .map(|l| i32::from(l.quantity.get()))
            .collect(),
        after: Counters::of(after),
        documented: documented.map(|d| d.total.get()),
        documented_exempt: documented.map(|d| d.exempt.get()),
        line_exempt: documented.and_then(|_| sale.line_exempt()),
        change: Change::SaleRecorded.as_str(),
        payload,
    };
    let written: Written = statement.get_result(conn)?;
    match written {
        Written { guarded: false, .. } => Err(CajaError::StateMoved),
        Written { sale_id, .. } => Ok(sale_id),
    }
}

#[derive(QueryableByName)]
struct Written {
    #[diesel(sql_type = Bool)]
    guarded: bool,
    #[diesel(sql_type = Nullable<Int8>)]
    sale_id: Option<i64>,
}

/// The `args` columns of a session's counters before the sale and after
/// it, in the order [`Counters::walk`] binds them (static text: the
/// statement is walked to bind it on every execution).
const BEFORE: [&str; 8] = [
    "::jsonb AS totals_before, ",
    "::jsonb AS tips_before, ",
    "::int4 AS tickets_before, ",
    "::int8 AS cash_sales_before, ",
    "::int8 AS cash_in_before, ",
    "::int8 AS cash_out_before, ",
    "::int4 AS primary_before, ",
    "::int4 AS backup_before, ",
];
const AFTER: [&str; 8] = [
    "::jsonb AS totals_after, ",
    "::jsonb AS tips_after, ",
    "::int4 AS tickets_after, ",
    "::int8 AS cash_sales_after, ",
    "::int8 AS cash_in_after, ",
    "::int8 AS cash_out_after, ",
    "::int4 AS primary_after, ",
    "::int4 AS backup_after, ",
];

/// A session's running counters, as the statement compares and writes them.
struct Counters {
    totals: serde_json::Value,
    tips: serde_json::Value,
    tickets: i32,
    cash_sales: i64,
    cash_in: i64,
    cash_out: i64,
    primary: i32,
    backup: i32,
}

impl Counters {
    fn of(session: &LiveSession) -> Self {
        Self {
            totals: per_method_json(&session.payment_totals),
            tips: per_method_json(&session.tip_totals),
            tickets: session.ticket_count,
            cash_sales: session.cash_sales.get(),
            cash_in: session.cash_in.get(),
            cash_out: session.cash_out.get(),
            primary: session.primary_count,
            backup: session.backup_count,
        }
    }

    /// Binds the counters as the `args` columns `names` ([`BEFORE`] or [`AFTER`]).
    fn walk<'b>(
        &'b self,
        out: &mut AstPass<'_, 'b, Pg>,
        names: &'static [&'static str; 8],
    ) -> QueryResult<()> {
        out.push_bind_param::<Jsonb, _>(&self.totals)?;
        out.push_sql(names[0]);
        out.push_bind_param::<Jsonb, _>(&self.tips)?;
        out.push_sql(names[1]);
        out.push_bind_param::<Int4, _>(&self.tickets)?;
        out.push_sql(names[2]);
        out.push_bind_param::<Int8, _>(&self.cash_sales)?;
        out.push_sql(names[3]);
        out.push_bind_param::<Int8, _>(&self.cash_in)?;
        out.push_sql(names[4]);
        out.push_bind_param::<Int8, _>(&self.cash_out)?;
        out.push_sql(names[5]);
        out.push_bind_param::<Int4, _>(&self.primary)?;
        out.push_sql(names[6]);
        out.push_bind_param::<Int4, _>(&self.backup)?;
        out.push_sql(names[7]);
        Ok(())
    }
}

/// The statement's values; each is bound once, in the `args` row the rest
/// of the statement reads.
struct RecordSale<'a> {
    session_id: i32,
    sale_id: Option<i64>,
    register_id: i32,
    seq: i64,
    before: Counters,
    key: Uuid,
    fingerprint: String,
    total: i64,
    total_charged: i64,
    created_by: i32,
    created_at: DateTime<Utc>,
    methods: Vec<&'static str>,
    amounts: Vec<i64>,
    charged: Vec<i64>,
    tendered: Vec<Option<i64>>,
    change_given: Vec<i64>,
    providers: Vec<Option<&'static str>>,
    backups: Vec<bool>,
    approvals: Vec<Option<i64>>,
    tips: Vec<i64>,
    line_products: Vec<Option<i32>>,
    line_names: Vec<&'a str>,
    line_prices: Vec<i64>,
    line_quantities: Vec<i32>,
    after: Counters,
    documented: Option<i64>,
    documented_exempt: Option<i64>,
    line_exempt: Option<Vec<bool>>,
    change: &'static str,
    payload: &'a JsonText,
}

/// What follows the `args` row. `args.seq` is the new `seq`.
const AFTER_ARGS: &str = "\
), guard AS (
    SELECT s.id FROM args a, register_sessions s
        JOIN register_seqs r ON r.register_id = s.register_id
    WHERE s.id = a.session_id AND r.register_id = a.register_id AND r.event_seq = a.seq - 1
      AND s.status = 'OPEN'
      AND s.payment_totals = a.totals_before AND s.tip_totals = a.tips_before
      AND s.ticket_count = a.tickets_before
      AND s.cash_sales = a.cash_sales_before AND s.cash_in = a.cash_in_before
      AND s.cash_out = a.cash_out_before
      AND s.payment_provider_used_primary_count = a.primary_before
      AND s.payment_provider_used_backup_count = a.backup_before
    FOR UPDATE OF s, r
), sale AS (
    INSERT INTO sales (id, register_id, session_id, idempotency_key, request_hash, total,
                       total_charged, seq, created_by, created_at, line_products, line_names,
                       line_prices, line_quantities)
    SELECT COALESCE(a.sale_id, nextval('sales_id_seq')), a.register_id, g.id, a.key, a.fingerprint, a.total, a.total_charged, a.seq,
           a.created_by, a.created_at, a.line_products, a.line_names, a.line_prices, a.line_quantities
    FROM guard g, args a
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING id
), paid AS (
    INSERT INTO sale_payments (sale_id, method, amount, amount_charged, tendered,
                               change_given, provider, used_backup, card_attempt_id, tip)
    SELECT sale.id, p.* FROM sale, args a,
        unnest(a.methods, a.amounts, a.charged, a.tendered, a.change_given, a.providers,
               a.backups, a.approvals, a.tips) AS p
), counted AS (
    UPDATE register_sessions s
    SET payment_totals = a.totals_after, tip_totals = a.tips_after,
        ticket_count = a.tickets_after,
        cash_sales = a.cash_sales_after, cash_in = a.cash_in_after, cash_out = a.cash_out_after,
        payment_provider_used_primary_count = a.primary_after,
        payment_provider_used_backup_count = a.backup_after
    FROM args a
    WHERE s.id = a.session_id AND EXISTS (SELECT 1 FROM sale)
), moved AS (
    UPDATE register_seqs r SET event_seq = a.seq FROM args a
    WHERE r.register_id = a.register_id AND EXISTS (SELECT 1 FROM sale)
), logged AS (
    INSERT INTO register_events (register_id, seq, change, payload)
    SELECT a.register_id, a.seq, a.change,
           jsonb_set(a.payload, '{recent_sale,id}', to_jsonb(sale.id))
    FROM sale, args a
), documented AS (
    INSERT INTO tax_documents (sale_id, register_id, kind, idempotency_key, total, exempt,
                               line_exempt, next_try_at, created_at)
    SELECT sale.id, a.register_id, CASE WHEN a.documented_exempt = a.documented THEN 41 ELSE 39 END,
           a.key, a.documented, a.documented_exempt, a.line_exempt, a.created_at, a.created_at
    FROM sale, args a WHERE a.documented IS NOT NULL
)
SELECT EXISTS (SELECT 1 FROM guard) AS guarded, (SELECT id FROM sale) AS sale_id";

impl QueryFragment<Pg> for RecordSale<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql("WITH args AS (SELECT ");
        out.push_bind_param::<Int4, _>(&self.session_id)?;
        out.push_sql("::int4 AS session_id, ");
        out.push_bind_param::<Nullable<Int8>, _>(&self.sale_id)?;
        out.push_sql("::int8 AS sale_id, ");
        out.push_bind_param::<Int4, _>(&self.register_id)?;
        out.push_sql("::int4 AS register_id, ");
        out.push_bind_param::<Int8, _>(&self.seq)?;
        out.push_sql("::int8 AS seq, ");
        self.before.walk(&mut out, &BEFORE)?;
        out.push_bind_param::<SqlUuid, _>(&self.key)?;
        out.push_sql("::uuid AS key, ");
        out.push_bind_param::<Text, _>(&self.fingerprint)?;
        out.push_sql("::text AS fingerprint, ");
        out.push_bind_param::<Int8, _>(&self.total)?;
        out.push_sql("::int8 AS total, ");
        out.push_bind_param::<Int8, _>(&self.total_charged)?;
        out.push_sql("::int8 AS total_charged, ");
        out.push_bind_param::<Int4, _>(&self.created_by)?;
        out.push_sql("::int4 AS created_by, ");
        out.push_bind_param::<Timestamptz, _>(&self.created_at)?;
        out.push_sql("::timestamptz AS created_at, ");
        out.push_bind_param::<Array<Text>, _>(&self.methods)?;
        out.push_sql("::text[] AS methods, ");
        out.push_bind_param::<Array<Int8>, _>(&self.amounts)?;
        out.push_sql("::int8[] AS amounts, ");
        out.push_bind_param::<Array<Int8>, _>(&self.charged)?;
        out.push_sql("::int8[] AS charged, ");
        out.push_bind_param::<Array<Nullable<Int8>>, _>(&self.tendered)?;
        out.push_sql("::int8[] AS tendered, ");
        out.push_bind_param::<Array<Int8>, _>(&self.change_given)?;
        out.push_sql("::int8[] AS change_given, ");
        out.push_bind_param::<Array<Nullable<Text>>, _>(&self.providers)?;
        out.push_sql("::text[] AS providers, ");
        out.push_bind_param::<Array<Bool>, _>(&self.backups)?;
        out.push_sql("::bool[] AS backups, ");
        out.push_bind_param::<Array<Nullable<Int8>>, _>(&self.approvals)?;
        out.push_sql("::int8[] AS approvals, ");
        out.push_bind_param::<Array<Int8>, _>(&self.tips)?;
        out.push_sql("::int8[] AS tips, ");
        out.push_bind_param::<Array<Nullable<Int4>>, _>(&self.line_products)?;
        out.push_sql("::int4[] AS line_products, ");
        out.push_bind_param::<Array<Text>, _>(&self.line_names)?;
        out.push_sql("::text[] AS line_names, ");
        out.push_bind_param::<Array<Int8>, _>(&self.line_prices)?;
        out.push_sql("::int8[] AS line_prices, ");
        out.push_bind_param::<Array<Int4>, _>(&self.line_quantities)?;
        out.push_sql("::int4[] AS line_quantities, ");
        self.after.walk(&mut out, &AFTER)?;
        out.push_bind_param::<Nullable<Int8>, _>(&self.documented)?;
        out.push_sql("::int8 AS documented, ");
        out.push_bind_param::<Nullable<Int8>, _>(&self.documented_exempt)?;
        out.push_sql("::int8 AS documented_exempt, ");
        out.push_bind_param::<Nullable<Array<Bool>>, _>(&self.line_exempt)?;
        out.push_sql("::bool[] AS line_exempt, ");
        out.push_bind_param::<Text, _>(self.change)?;
        out.push_sql("::text AS change, ");
        out.push_bind_param::<Jsonb, _>(self.payload)?;
        out.push_sql("::jsonb AS payload");
        out.push_sql(AFTER_ARGS);
        Ok(())
    }
}

/// The statement's text never changes: diesel keeps it prepared, by type.
impl QueryId for RecordSale<'_> {
    type QueryId = RecordSaleStatement;
    const HAS_STATIC_QUERY_ID: bool = true;
}

/// [`RecordSale`]'s identity in diesel's statement cache.
pub struct RecordSaleStatement;

impl Query for RecordSale<'_> {
    type SqlType = Untyped;
}

impl RunQueryDsl<PgConnection> for RecordSale<'_> {}
