//! How a sale is written, the only way: the sale, its lines, its payments
//! (with their tips), the session's counters, the caja's `seq`, the
//! event and its boleta's pending document, in ONE statement, kept
//! prepared on each connection (one round trip, parsed and planned once;
//! alone it needs no transaction of its own). The event is the row
//! `event_log::append` writes for every other change.
//!
//! A sale with a boleta and one without are two texts of that statement,
//! each prepared: PostgreSQL starts every part of a statement at each
//! execution, and the document's `INSERT` (its table, indexes and checks)
//! cost a venue without boletas about 8 % of the database's time per
//! sale (load-tests/README.md, "What a sale costs the database").

use std::marker::PhantomData;

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
/// is sent from (docs/architecture.md rule 21).
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
    let sale_row = SaleRow {
        session_id: after.id,
        sale_id: reserved,
        register_id: next.id().0,
        seq: next.seq,
        before: Counters::of(before),
        movements: Movements::of(before),
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
        change: Change::SaleRecorded.as_str(),
        payload,
    };
    let written: Written = match documented {
        None => RecordSale::new(sale_row, NoBoleta).get_result(conn)?,
        Some(documented) => RecordSale::new(
            sale_row,
            Boleta {
                total: documented.total.get(),
                exempt: documented.exempt.get(),
                line_exempt: sale.line_exempt(),
            },
        )
        .get_result(conn)?,
    };
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

/// The `args` columns of the counters a sale changes, before it and after
/// it, in the order [`Counters::walk`] binds them (static text: the
/// statement is walked to bind it on every execution).
const BEFORE: [&str; 6] = [
    "::jsonb AS totals_before, ",
    "::jsonb AS tips_before, ",
    "::int4 AS tickets_before, ",
    "::int8 AS cash_sales_before, ",
    "::int4 AS primary_before, ",
    "::int4 AS backup_before, ",
];
const AFTER: [&str; 6] = [
    "::jsonb AS totals_after, ",
    "::jsonb AS tips_after, ",
    "::int4 AS tickets_after, ",
    "::int8 AS cash_sales_after, ",
    "::int4 AS primary_after, ",
    "::int4 AS backup_after, ",
];

/// The session's running counters a sale changes, as the statement
/// compares and writes them.
struct Counters {
    totals: serde_json::Value,
    tips: serde_json::Value,
    tickets: i32,
    cash_sales: i64,
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
            primary: session.primary_count,
            backup: session.backup_count,
        }
    }

    /// Binds the counters as the `args` columns `names` ([`BEFORE`] or [`AFTER`]).
    fn walk<'b>(
        &'b self,
        out: &mut AstPass<'_, 'b, Pg>,
        names: &'static [&'static str; 6],
    ) -> QueryResult<()> {
        out.push_bind_param::<Jsonb, _>(&self.totals)?;
        out.push_sql(names[0]);
        out.push_bind_param::<Jsonb, _>(&self.tips)?;
        out.push_sql(names[1]);
        out.push_bind_param::<Int4, _>(&self.tickets)?;
        out.push_sql(names[2]);
        out.push_bind_param::<Int8, _>(&self.cash_sales)?;
        out.push_sql(names[3]);
        out.push_bind_param::<Int4, _>(&self.primary)?;
        out.push_sql(names[4]);
        out.push_bind_param::<Int4, _>(&self.backup)?;
        out.push_sql(names[5]);
        Ok(())
    }
}

/// The session's cash movements: a sale changes none, so the guard
/// compares them and nothing sets them.
struct Movements {
    cash_in: i64,
    cash_out: i64,
}

impl Movements {
    fn of(session: &LiveSession) -> Self {
        Self {
            cash_in: session.cash_in.get(),
            cash_out: session.cash_out.get(),
        }
    }

    fn walk<'b>(&'b self, out: &mut AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_bind_param::<Int8, _>(&self.cash_in)?;
        out.push_sql("::int8 AS cash_in, ");
        out.push_bind_param::<Int8, _>(&self.cash_out)?;
        out.push_sql("::int8 AS cash_out, ");
        Ok(())
    }
}

/// The sale's values; each is bound once, in the `args` row the rest of
/// the statement reads.
struct SaleRow<'a> {
    session_id: i32,
    sale_id: Option<i64>,
    register_id: i32,
    seq: i64,
    before: Counters,
    movements: Movements,
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
    change: &'static str,
    payload: &'a JsonText,
}

/// The statement for a sale, with its boleta's part (`D`): [`Boleta`] or
/// [`NoBoleta`], each its own prepared text.
struct RecordSale<'a, D> {
    sale: SaleRow<'a>,
    document: D,
}

impl<'a, D: DocumentPart> RecordSale<'a, D> {
    fn new(sale: SaleRow<'a>, document: D) -> Self {
        Self { sale, document }
    }
}

/// The boleta's part of the statement: its `args` columns and its `INSERT`.
trait DocumentPart: 'static {
    /// The `documented` CTE, or nothing.
    const INSERT: &'static str;
    fn walk_args<'b>(&'b self, out: &mut AstPass<'_, 'b, Pg>) -> QueryResult<()>;
}

/// A sale with no boleta: the statement writes no document.
struct NoBoleta;

impl DocumentPart for NoBoleta {
    const INSERT: &'static str = "";
    fn walk_args<'b>(&'b self, _: &mut AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        Ok(())
    }
}

/// What a sale's boleta documents, written pending in the same statement.
struct Boleta {
    total: i64,
    exempt: i64,
    line_exempt: Option<Vec<bool>>,
}

impl DocumentPart for Boleta {
    const INSERT: &'static str = "
), documented AS (
    INSERT INTO tax_documents (sale_id, register_id, kind, idempotency_key, total, exempt,
                               line_exempt, next_try_at, created_at)
    SELECT sale.id, a.register_id, CASE WHEN a.documented_exempt = a.documented THEN 41 ELSE 39 END,
           a.key, a.documented, a.documented_exempt, a.line_exempt, a.created_at, a.created_at
    FROM sale, args a";

    fn walk_args<'b>(&'b self, out: &mut AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql(", ");
        out.push_bind_param::<Int8, _>(&self.total)?;
        out.push_sql("::int8 AS documented, ");
        out.push_bind_param::<Int8, _>(&self.exempt)?;
        out.push_sql("::int8 AS documented_exempt, ");
        out.push_bind_param::<Nullable<Array<Bool>>, _>(&self.line_exempt)?;
        out.push_sql("::bool[] AS line_exempt");
        Ok(())
    }
}

/// What follows the `args` row up to the boleta's part. `args.seq` is the
/// new `seq`. A sale changes no cash movement: `cash_in` and `cash_out`
/// are compared, not set.
const AFTER_ARGS: &str = "\
), guard AS (
    SELECT s.id FROM args a, register_sessions s
        JOIN register_seqs r ON r.register_id = s.register_id
    WHERE s.id = a.session_id AND r.register_id = a.register_id AND r.event_seq = a.seq - 1
      AND s.status = 'OPEN'
      AND s.payment_totals = a.totals_before AND s.tip_totals = a.tips_before
      AND s.ticket_count = a.tickets_before
      AND s.cash_sales = a.cash_sales_before AND s.cash_in = a.cash_in
      AND s.cash_out = a.cash_out
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
        ticket_count = a.tickets_after, cash_sales = a.cash_sales_after,
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
    FROM sale, args a";

/// What the statement answers.
const ANSWER: &str = "
)
SELECT EXISTS (SELECT 1 FROM guard) AS guarded, (SELECT id FROM sale) AS sale_id";

impl<D: DocumentPart> QueryFragment<Pg> for RecordSale<'_, D> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        let sale = &self.sale;
        out.push_sql("WITH args AS (SELECT ");
        out.push_bind_param::<Int4, _>(&sale.session_id)?;
        out.push_sql("::int4 AS session_id, ");
        out.push_bind_param::<Nullable<Int8>, _>(&sale.sale_id)?;
        out.push_sql("::int8 AS sale_id, ");
        out.push_bind_param::<Int4, _>(&sale.register_id)?;
        out.push_sql("::int4 AS register_id, ");
        out.push_bind_param::<Int8, _>(&sale.seq)?;
        out.push_sql("::int8 AS seq, ");
        sale.before.walk(&mut out, &BEFORE)?;
        sale.movements.walk(&mut out)?;
        out.push_bind_param::<SqlUuid, _>(&sale.key)?;
        out.push_sql("::uuid AS key, ");
        out.push_bind_param::<Text, _>(&sale.fingerprint)?;
        out.push_sql("::text AS fingerprint, ");
        out.push_bind_param::<Int8, _>(&sale.total)?;
        out.push_sql("::int8 AS total, ");
        out.push_bind_param::<Int8, _>(&sale.total_charged)?;
        out.push_sql("::int8 AS total_charged, ");
        out.push_bind_param::<Int4, _>(&sale.created_by)?;
        out.push_sql("::int4 AS created_by, ");
        out.push_bind_param::<Timestamptz, _>(&sale.created_at)?;
        out.push_sql("::timestamptz AS created_at, ");
        out.push_bind_param::<Array<Text>, _>(&sale.methods)?;
        out.push_sql("::text[] AS methods, ");
        out.push_bind_param::<Array<Int8>, _>(&sale.amounts)?;
        out.push_sql("::int8[] AS amounts, ");
        out.push_bind_param::<Array<Int8>, _>(&sale.charged)?;
        out.push_sql("::int8[] AS charged, ");
        out.push_bind_param::<Array<Nullable<Int8>>, _>(&sale.tendered)?;
        out.push_sql("::int8[] AS tendered, ");
        out.push_bind_param::<Array<Int8>, _>(&sale.change_given)?;
        out.push_sql("::int8[] AS change_given, ");
        out.push_bind_param::<Array<Nullable<Text>>, _>(&sale.providers)?;
        out.push_sql("::text[] AS providers, ");
        out.push_bind_param::<Array<Bool>, _>(&sale.backups)?;
        out.push_sql("::bool[] AS backups, ");
        out.push_bind_param::<Array<Nullable<Int8>>, _>(&sale.approvals)?;
        out.push_sql("::int8[] AS approvals, ");
        out.push_bind_param::<Array<Int8>, _>(&sale.tips)?;
        out.push_sql("::int8[] AS tips, ");
        out.push_bind_param::<Array<Nullable<Int4>>, _>(&sale.line_products)?;
        out.push_sql("::int4[] AS line_products, ");
        out.push_bind_param::<Array<Text>, _>(&sale.line_names)?;
        out.push_sql("::text[] AS line_names, ");
        out.push_bind_param::<Array<Int8>, _>(&sale.line_prices)?;
        out.push_sql("::int8[] AS line_prices, ");
        out.push_bind_param::<Array<Int4>, _>(&sale.line_quantities)?;
        out.push_sql("::int4[] AS line_quantities, ");
        sale.after.walk(&mut out, &AFTER)?;
        out.push_bind_param::<Text, _>(sale.change)?;
        out.push_sql("::text AS change, ");
        out.push_bind_param::<Jsonb, _>(sale.payload)?;
        out.push_sql("::jsonb AS payload");
        self.document.walk_args(&mut out)?;
        out.push_sql(AFTER_ARGS);
        out.push_sql(D::INSERT);
        out.push_sql(ANSWER);
        Ok(())
    }
}

/// Each shape's text never changes: diesel keeps it prepared, by type.
impl<D: DocumentPart> QueryId for RecordSale<'_, D> {
    type QueryId = RecordSaleStatement<D>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

/// [`RecordSale`]'s identity in diesel's statement cache, one per shape.
pub struct RecordSaleStatement<D>(PhantomData<D>);

impl<D> Query for RecordSale<'_, D> {
    type SqlType = Untyped;
}

impl<D> RunQueryDsl<PgConnection> for RecordSale<'_, D> {}

#[cfg(test)]
mod tests {
    use super::*;

    fn sale_row(payload: &JsonText) -> SaleRow<'_> {
        let counters = || Counters {
            totals: serde_json::json!({}),
            tips: serde_json::json!({}),
            tickets: 0,
            cash_sales: 0,
            primary: 0,
            backup: 0,
        };
        SaleRow {
            session_id: 1,
            sale_id: None,
            register_id: 1,
            seq: 2,
            before: counters(),
            movements: Movements {
                cash_in: 0,
                cash_out: 0,
            },
            key: Uuid::nil(),
            fingerprint: String::new(),
            total: 1000,
            total_charged: 1000,
            created_by: 1,
            created_at: Utc::now(),
            methods: vec!["EFECTIVO"],
            amounts: vec![1000],
            charged: vec![1000],
            tendered: vec![None],
            change_given: vec![0],
            providers: vec![None],
            backups: vec![false],
            approvals: vec![None],
            tips: vec![0],
            line_products: vec![None],
            line_names: vec!["Monto libre"],
            line_prices: vec![1000],
            line_quantities: vec![1],
            after: counters(),
            change: "sale_recorded",
            payload,
        }
    }

    fn text<D: DocumentPart>(statement: &RecordSale<'_, D>) -> String {
        diesel::debug_query::<Pg, _>(statement).to_string()
    }

    /// PostgreSQL starts every part of a statement at each execution: a
    /// sale with no boleta runs a text without the document's `INSERT`,
    /// and no sale sets the cash movements it cannot change.
    #[test]
    fn a_sale_without_a_boleta_runs_no_part_of_the_document() {
        let payload = JsonText("{}".into());
        let plain = text(&RecordSale::new(sale_row(&payload), NoBoleta));
        let boleta = Boleta {
            total: 1000,
            exempt: 0,
            line_exempt: None,
        };
        let documented = text(&RecordSale::new(sale_row(&payload), boleta));
        assert!(!plain.contains("tax_documents"), "{plain}");
        assert!(documented.contains("INSERT INTO tax_documents"));
        for statement in [&plain, &documented] {
            let set = &statement[statement.find("SET payment_totals").unwrap()..];
            let set = &set[..set.find("FROM args").unwrap()];
            assert!(
                !set.contains("cash_in") && !set.contains("cash_out"),
                "{set}"
            );
        }
        // Two texts, each its own prepared statement.
        assert_ne!(
            RecordSale::<NoBoleta>::query_id(),
            RecordSale::<Boleta>::query_id()
        );
    }
}
