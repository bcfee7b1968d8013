//! How a sale is written, the only way: the sale with its lines and its
//! payments (with their tips) in its row (docs/architecture.md rules 17
//! and 24), the session's counters, the caja's `seq`, the
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
use std::sync::LazyLock;

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

    /// Binds the counter `name` (`totals`, `tips`, `tickets`, …); false
    /// when there is none of that name.
    fn bind<'b>(&'b self, name: &str, out: &mut AstPass<'_, 'b, Pg>) -> QueryResult<bool> {
        match name {
            "totals" => typed::<Jsonb, _>(out, &self.totals, "jsonb")?,
            "tips" => typed::<Jsonb, _>(out, &self.tips, "jsonb")?,
            "tickets" => typed::<Int4, _>(out, &self.tickets, "int4")?,
            "cash_sales" => typed::<Int8, _>(out, &self.cash_sales, "int8")?,
            "primary" => typed::<Int4, _>(out, &self.primary, "int4")?,
            "backup" => typed::<Int4, _>(out, &self.backup, "int4")?,
            _ => return Ok(false),
        }
        Ok(true)
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
}

/// The sale's values, each bound where the statement first uses it.
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

impl SaleRow<'_> {
    /// Binds the value the statement names `$name`; false when there is
    /// none of that name.
    fn bind<'b>(&'b self, name: &str, out: &mut AstPass<'_, 'b, Pg>) -> QueryResult<bool> {
        if let Some(counter) = name.strip_suffix("_before") {
            return self.before.bind(counter, out);
        }
        if let Some(counter) = name.strip_suffix("_after") {
            return self.after.bind(counter, out);
        }
        match name {
            "session_id" => typed::<Int4, _>(out, &self.session_id, "int4")?,
            "sale_id" => typed::<Nullable<Int8>, _>(out, &self.sale_id, "int8")?,
            "register_id" => typed::<Int4, _>(out, &self.register_id, "int4")?,
            "seq" => typed::<Int8, _>(out, &self.seq, "int8")?,
            "cash_in" => typed::<Int8, _>(out, &self.movements.cash_in, "int8")?,
            "cash_out" => typed::<Int8, _>(out, &self.movements.cash_out, "int8")?,
            "key" => typed::<SqlUuid, _>(out, &self.key, "uuid")?,
            "fingerprint" => typed::<Text, _>(out, &self.fingerprint, "text")?,
            "total" => typed::<Int8, _>(out, &self.total, "int8")?,
            "total_charged" => typed::<Int8, _>(out, &self.total_charged, "int8")?,
            "created_by" => typed::<Int4, _>(out, &self.created_by, "int4")?,
            "created_at" => typed::<Timestamptz, _>(out, &self.created_at, "timestamptz")?,
            "methods" => typed::<Array<Text>, _>(out, &self.methods, "text[]")?,
            "amounts" => typed::<Array<Int8>, _>(out, &self.amounts, "int8[]")?,
            "charged" => typed::<Array<Int8>, _>(out, &self.charged, "int8[]")?,
            "tendered" => typed::<Array<Nullable<Int8>>, _>(out, &self.tendered, "int8[]")?,
            "change_given" => typed::<Array<Int8>, _>(out, &self.change_given, "int8[]")?,
            "providers" => typed::<Array<Nullable<Text>>, _>(out, &self.providers, "text[]")?,
            "backups" => typed::<Array<Bool>, _>(out, &self.backups, "bool[]")?,
            "approvals" => typed::<Array<Nullable<Int8>>, _>(out, &self.approvals, "int8[]")?,
            "tips" => typed::<Array<Int8>, _>(out, &self.tips, "int8[]")?,
            "line_products" => {
                typed::<Array<Nullable<Int4>>, _>(out, &self.line_products, "int4[]")?
            }
            "line_names" => typed::<Array<Text>, _>(out, &self.line_names, "text[]")?,
            "line_prices" => typed::<Array<Int8>, _>(out, &self.line_prices, "int8[]")?,
            "line_quantities" => typed::<Array<Int4>, _>(out, &self.line_quantities, "int4[]")?,
            "change" => typed::<Text, _>(out, self.change, "text")?,
            "payload" => typed::<Jsonb, _>(out, self.payload, "jsonb")?,
            _ => return Ok(false),
        }
        Ok(true)
    }
}

/// Binds `value` as the next parameter, cast to `cast` where it stands.
fn typed<'b, ST, U>(out: &mut AstPass<'_, 'b, Pg>, value: &'b U, cast: &str) -> QueryResult<()>
where
    Pg: diesel::sql_types::HasSqlType<ST>,
    U: diesel::serialize::ToSql<ST, Pg> + ?Sized,
{
    out.push_bind_param::<ST, U>(value)?;
    out.push_sql("::");
    out.push_sql(cast);
    Ok(())
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

/// The boleta's part of the statement: its `INSERT` and its values.
trait DocumentPart: 'static {
    /// The `documented` CTE, or nothing.
    const INSERT: &'static str;
    /// The whole statement of this shape ([`STATEMENT`], [`Self::INSERT`],
    /// [`ANSWER`]) in pieces, cut once.
    fn pieces() -> &'static [Piece];
    /// Binds the document's value `$name`; false when there is none.
    fn bind<'b>(&'b self, name: &str, out: &mut AstPass<'_, 'b, Pg>) -> QueryResult<bool>;
}

/// A sale with no boleta: the statement writes no document.
struct NoBoleta;

impl DocumentPart for NoBoleta {
    const INSERT: &'static str = "";
    fn pieces() -> &'static [Piece] {
        static PIECES: LazyLock<Vec<Piece>> =
            LazyLock::new(|| Piece::split(&[STATEMENT, NoBoleta::INSERT, ANSWER]));
        &PIECES
    }
    fn bind<'b>(&'b self, _: &str, _: &mut AstPass<'_, 'b, Pg>) -> QueryResult<bool> {
        Ok(false)
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
    SELECT sale.id, $register_id, CASE WHEN $documented_exempt = $documented THEN 41 ELSE 39 END,
           $key, $documented, $documented_exempt, $line_exempt, $created_at, $created_at
    FROM sale";

    fn pieces() -> &'static [Piece] {
        static PIECES: LazyLock<Vec<Piece>> =
            LazyLock::new(|| Piece::split(&[STATEMENT, Boleta::INSERT, ANSWER]));
        &PIECES
    }

    fn bind<'b>(&'b self, name: &str, out: &mut AstPass<'_, 'b, Pg>) -> QueryResult<bool> {
        match name {
            "documented" => typed::<Int8, _>(out, &self.total, "int8")?,
            "documented_exempt" => typed::<Int8, _>(out, &self.exempt, "int8")?,
            "line_exempt" => typed::<Nullable<Array<Bool>>, _>(out, &self.line_exempt, "bool[]")?,
            _ => return Ok(false),
        }
        Ok(true)
    }
}

/// The statement up to the boleta's part, each value named where it is
/// used (`$name`): PostgreSQL runs it faster this way than with every
/// value in one `args` row that each part joins (load-tests/README.md,
/// "A sale's values bound where they are used"). Each value is bound at
/// its first use and named by its number after ([`Piece::split`]).
/// `$seq` is the new `seq`. A sale changes no cash movement: `cash_in`
/// and `cash_out` are compared, not set.
const STATEMENT: &str = "\
WITH guard AS (
    SELECT s.id FROM register_sessions s
        JOIN register_seqs r ON r.register_id = s.register_id
    WHERE s.id = $session_id AND r.register_id = $register_id AND r.event_seq = $seq - 1
      AND s.status = 'OPEN'
      AND s.payment_totals = $totals_before AND s.tip_totals = $tips_before
      AND s.ticket_count = $tickets_before
      AND s.cash_sales = $cash_sales_before AND s.cash_in = $cash_in
      AND s.cash_out = $cash_out
      AND s.payment_provider_used_primary_count = $primary_before
      AND s.payment_provider_used_backup_count = $backup_before
    FOR UPDATE OF s, r
), sale AS (
    INSERT INTO sales (id, register_id, session_id, idempotency_key, request_hash, total,
                       total_charged, seq, created_by, created_at, line_products, line_names,
                       line_prices, line_quantities, payment_methods, payment_amounts,
                       payment_charged, payment_tendered, payment_change_given,
                       payment_providers, payment_used_backup, payment_card_attempts,
                       payment_tips)
    SELECT COALESCE($sale_id, nextval('sales_id_seq')), $register_id, g.id, $key, $fingerprint,
           $total, $total_charged, $seq, $created_by, $created_at, $line_products, $line_names,
           $line_prices, $line_quantities, $methods, $amounts, $charged, $tendered,
           $change_given, $providers, $backups, $approvals, $tips
    FROM guard g
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING id
), counted AS (
    UPDATE register_sessions s
    SET payment_totals = $totals_after, tip_totals = $tips_after,
        ticket_count = $tickets_after, cash_sales = $cash_sales_after,
        payment_provider_used_primary_count = $primary_after,
        payment_provider_used_backup_count = $backup_after
    WHERE s.id = $session_id AND EXISTS (SELECT 1 FROM sale)
), moved AS (
    UPDATE register_seqs r SET event_seq = $seq
    WHERE r.register_id = $register_id AND EXISTS (SELECT 1 FROM sale)
), logged AS (
    INSERT INTO register_events (register_id, seq, change, payload)
    SELECT $register_id, $seq, $change,
           jsonb_set($payload, '{recent_sale,id}', to_jsonb(sale.id))
    FROM sale";

/// What the statement answers.
const ANSWER: &str = "
)
SELECT EXISTS (SELECT 1 FROM guard) AS guarded, (SELECT id FROM sale) AS sale_id";

/// A piece of the statement's text: SQL as it is, or the first use of a
/// value, bound there.
enum Piece {
    Sql(String),
    Value(&'static str),
}

impl Piece {
    /// `texts`, read as one, cut at the first use of each `$name`. A
    /// value's later uses are written as the number PostgreSQL knows it
    /// by (diesel numbers parameters from `$1` in the order they are
    /// bound), so each value is bound and sent once however often the
    /// statement uses it. The statement is walked several times an
    /// execution (diesel binds and checks it), so it is cut once.
    fn split(texts: &[&'static str]) -> Vec<Piece> {
        let mut pieces = Vec::new();
        let mut bound: Vec<&'static str> = Vec::new();
        let mut sql = String::new();
        for text in texts {
            let mut rest = *text;
            while let Some(at) = rest.find('$') {
                sql.push_str(&rest[..at]);
                let named = &rest[at + 1..];
                let end = named
                    .find(|c: char| !(c.is_ascii_lowercase() || c == '_'))
                    .unwrap_or(named.len());
                let name = &named[..end];
                match bound.iter().position(|seen| *seen == name) {
                    Some(index) => {
                        sql.push('$');
                        sql.push_str(&(index + 1).to_string());
                    }
                    None => {
                        bound.push(name);
                        pieces.push(Piece::Sql(std::mem::take(&mut sql)));
                        pieces.push(Piece::Value(name));
                    }
                }
                rest = &named[end..];
            }
            sql.push_str(rest);
        }
        pieces.push(Piece::Sql(sql));
        pieces
    }
}

impl<D: DocumentPart> QueryFragment<Pg> for RecordSale<'_, D> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        for piece in D::pieces() {
            match piece {
                Piece::Sql(sql) => out.push_sql(sql),
                Piece::Value(name) => {
                    if !(self.sale.bind(name, &mut out)? || self.document.bind(name, &mut out)?) {
                        return Err(diesel::result::Error::QueryBuilderError(
                            format!("the sale's statement names no value `{name}`").into(),
                        ));
                    }
                }
            }
        }
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

    #[test]
    fn a_text_is_cut_at_the_first_use_of_each_value() {
        let pieces = Piece::split(&["a = $b_c, $d", " AND $b_c = $e + $d"]);
        let seen: Vec<(bool, &str)> = pieces
            .iter()
            .map(|piece| match piece {
                Piece::Sql(sql) => (false, sql.as_str()),
                Piece::Value(name) => (true, *name),
            })
            .collect();
        assert_eq!(
            seen,
            [
                (false, "a = "),
                (true, "b_c"),
                (false, ", "),
                (true, "d"),
                (false, " AND $1 = "),
                (true, "e"),
                (false, " + $2")
            ]
        );
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
            let set = &set[..set.find("WHERE").unwrap()];
            assert!(
                !set.contains("cash_in") && !set.contains("cash_out"),
                "{set}"
            );
        }
        for (statement, insert) in [(&plain, NoBoleta::INSERT), (&documented, Boleta::INSERT)] {
            let sql = &statement[..statement.find("-- binds").unwrap_or(statement.len())];
            // Every value the texts name is bound where it stands.
            assert!(
                !sql.as_bytes()
                    .windows(2)
                    .any(|w| w[0] == b'$' && w[1].is_ascii_lowercase()),
                "{sql}"
            );
            // Each value is bound once, however often it is used: as many
            // parameters as the texts have names.
            let names: std::collections::BTreeSet<&str> = [STATEMENT, insert]
                .iter()
                .flat_map(|text| text.split('$').skip(1))
                .map(|named| {
                    named
                        .split(|c: char| !(c.is_ascii_lowercase() || c == '_'))
                        .next()
                })
                .map(Option::unwrap_or_default)
                .collect();
            let highest = sql
                .split('$')
                .skip(1)
                .filter_map(|numbered| {
                    let digits = numbered.find(|c: char| !c.is_ascii_digit())?;
                    numbered[..digits].parse::<usize>().ok()
                })
                .max();
            assert_eq!(highest, Some(names.len()), "{sql}");
        }
        // Two texts, each its own prepared statement.
        assert_ne!(
            RecordSale::<NoBoleta>::query_id(),
            RecordSale::<Boleta>::query_id()
        );
    }
}
