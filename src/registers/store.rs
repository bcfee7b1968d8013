//! The register's rows: loading its live state, and what each change writes
//! (session opened, sale recorded, voided, cash moved, session closed). The
//! transaction around them, the caja's `seq` and the event log belong to
//! `commit`; the session's counters are written only from the values
//! memory holds (a compare-and-set), so stale memory cannot overwrite them.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::CajaError;
use super::live::{LiveSession, MovementKind, ProviderSlot, RecordedPayment, of_method};
use super::sale::ValidSale;
use crate::audit::{self, Action, Actor};
use crate::cajas::{Caja, CajaId};
use crate::db::schema::{
    cash_movements, jornadas, pos_registers, register_sessions, sale_payments, sales, users,
};
use crate::jornadas::{JornadaStatus, SessionStatus};
use crate::money::Pesos;
use crate::payments::method::PaymentMethod;

/// An open session's row, as the caja loads it.
#[derive(Queryable)]
struct SessionRow {
    id: i32,
    jornada_id: Option<i32>,
    opened_by: Option<i32>,
    opened_by_name: Option<String>,
    opened_at: DateTime<Utc>,
    initial_cash: i64,
    payment_totals: serde_json::Value,
    ticket_count: i32,
    cash_sales: i64,
    primary_count: i32,
    backup_count: i32,
    cash_in: i64,
    cash_out: i64,
    tip_totals: serde_json::Value,
}

/// A stored value the hub cannot read: which row and field, and why (the
/// caja stops rather than guess: see `registry::restart`).
fn unreadable(row: i32, field: &str, why: impl std::fmt::Display) -> DieselError {
    DieselError::DeserializationError(format!("register_sessions #{row}: {field} {why}").into())
}

/// Session `row`'s stored `field`, an amount of pesos, or why it does not read.
fn stored_pesos(row: i32, field: &str, value: i64) -> Result<Pesos, DieselError> {
    Pesos::new(value).map_err(|err| unreadable(row, field, format!("= {value}: {err}")))
}

/// Session `row`'s stored totals per method (`field`), or why they do not read.
fn stored_totals(
    row: i32,
    field: &str,
    value: &serde_json::Value,
) -> Result<BTreeMap<String, i64>, DieselError> {
    serde_json::from_value(value.clone()).map_err(|err| {
        unreadable(
            row,
            field,
            format!("= {value} is not a map of whole pesos: {err}"),
        )
    })
}

impl SessionRow {
    fn into_live(self, last_sale_at: Option<DateTime<Utc>>) -> Result<LiveSession, DieselError> {
        let id = self.id;
        let pesos = |field: &str, value: i64| stored_pesos(id, field, value);
        let payment_totals = stored_totals(id, "payment_totals", &self.payment_totals)?;
        let tip_totals = stored_totals(id, "tip_totals", &self.tip_totals)?;
        Ok(LiveSession {
            id,
            jornada_id: self.jornada_id,
            opened_by: self.opened_by,
            opened_by_name: self.opened_by_name.unwrap_or_else(|| "?".into()),
            opened_at: self.opened_at,
            initial_cash: pesos("initial_cash", self.initial_cash)?,
            payment_totals,
            tip_totals,
            ticket_count: self.ticket_count,
            cash_sales: pesos("cash_sales", self.cash_sales)?,
            cash_in: pesos("cash_in", self.cash_in)?,
            cash_out: pesos("cash_out", self.cash_out)?,
            primary_count: self.primary_count,
            backup_count: self.backup_count,
            last_sale_at,
        })
    }
}

/// The caja and its open session, as committed.
pub fn load(conn: &mut PgConnection, id: CajaId) -> QueryResult<(Caja, Option<LiveSession>)> {
    let caja = Caja::find(conn, id)?;
    let row: Option<SessionRow> = register_sessions::table
        .left_join(users::table.on(register_sessions::opened_by.eq(users::id.nullable())))
        .filter(register_sessions::register_id.eq(id))
        .filter(register_sessions::status.eq(SessionStatus::Open))
        .select((
            register_sessions::id,
            register_sessions::jornada_id,
            register_sessions::opened_by,
            users::name.nullable(),
            register_sessions::opened_at,
            register_sessions::initial_cash,
            register_sessions::payment_totals,
            register_sessions::ticket_count,
            register_sessions::cash_sales,
            register_sessions::payment_provider_used_primary_count,
            register_sessions::payment_provider_used_backup_count,
            register_sessions::cash_in,
            register_sessions::cash_out,
            register_sessions::tip_totals,
        ))
        .first(conn)
        .optional()?;
    let session = match row {
        Some(row) => {
            let last_sale_at = sales::table
                .filter(sales::session_id.eq(row.id))
                .select(diesel::dsl::max(sales::created_at))
                .first::<Option<DateTime<Utc>>>(conn)?;
            Some(row.into_live(last_sale_at)?)
        }
        None => None,
    };
    Ok((caja, session))
}

/// Every caja that has an actor: the ones not archived.
pub fn working_cajas(conn: &mut PgConnection) -> QueryResult<Vec<CajaId>> {
    pos_registers::table
        .filter(pos_registers::archived_at.is_null())
        .select(pos_registers::id)
        .load(conn)
}

/// The rule that refuses a person's second open session, when the venue
/// keeps it (`venue_settings`).
const ONE_OPEN_SESSION_PER_CASHIER: &str = "one_open_session_per_cashier";

/// Opens a session inside the open jornada (locked for share, so the
/// jornada cannot close under it).
pub fn open_session(
    conn: &mut PgConnection,
    by: &Author,
    caja: CajaId,
    initial_cash: Pesos,
) -> Result<LiveSession, CajaError> {
    let jornada: i32 = jornadas::table
        .filter(jornadas::status.eq(JornadaStatus::Open))
        .select(jornadas::id)
        .for_share()
        .first(conn)
        .optional()?
        .ok_or(CajaError::NoJornada)?;
    let id: i32 = diesel::insert_into(register_sessions::table)
        .values((
            register_sessions::register_id.eq(caja),
            register_sessions::status.eq(SessionStatus::Open),
            register_sessions::initial_cash.eq(initial_cash.get()),
            register_sessions::jornada_id.eq(jornada),
            register_sessions::opened_by.eq(by.user_id),
            register_sessions::opened_at.eq(by.at),
        ))
        .returning(register_sessions::id)
        .get_result(conn)
        .map_err(|err| match err {
            // The venue's rule, kept by a trigger (migration
            // one_open_session_per_cashier): the detail names the caja.
            DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info)
                if info.constraint_name() == Some(ONE_OPEN_SESSION_PER_CASHIER) =>
            {
                CajaError::OpenElsewhere(info.details().unwrap_or("otra caja").to_owned())
            }
            DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
                CajaError::SessionAlreadyOpen
            }
            other => other.into(),
        })?;
    let (_, session) = load(conn, caja)?;
    let session = session.ok_or(CajaError::NoOpenSession)?;
    audit::record(
        conn,
        &by.actor,
        Action::SessionOpened,
        id,
        None::<&()>,
        Some(&session),
    )?;
    Ok(session)
}

/// What a committed sale answers, the first time and on every retry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SaleAck {
    pub sale_id: i64,
    pub register_id: i32,
    pub seq: i64,
    pub total: Pesos,
    pub total_charged: Pesos,
    /// Paid on top of `total_charged`, not part of the sale.
    pub tip: Pesos,
    pub change: Pesos,
    /// What the cashier must check (a typed card code that repeats one of
    /// the jornada's); told with the first answer only.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl SaleAck {
    /// The answer to `sale`, just recorded as `sale_id` on caja `caja` at `seq`.
    pub fn recorded(sale_id: i64, caja: CajaId, seq: i64, sale: &ValidSale) -> Self {
        Self {
            sale_id,
            register_id: caja.0,
            seq,
            total: sale.total,
            total_charged: sale.total_charged,
            tip: sale.tip(),
            change: sale.change(),
            warnings: Vec::new(),
        }
    }
}

/// The sale already recorded under `key`, if any, with its fingerprint.
pub fn sale_by_key(conn: &mut PgConnection, key: Uuid) -> QueryResult<Option<(SaleAck, String)>> {
    let row: Option<(i64, i32, i64, i64, i64, String)> = sales::table
        .filter(sales::idempotency_key.eq(key))
        .select((
            sales::id,
            sales::register_id,
            sales::seq,
            sales::total,
            sales::total_charged,
            sales::request_hash,
        ))
        .first(conn)
        .optional()?;
    let Some((sale_id, register_id, seq, total, total_charged, fingerprint)) = row else {
        return Ok(None);
    };
    let paid: Vec<(i64, i64)> = sale_payments::table
        .filter(sale_payments::sale_id.eq(sale_id))
        .select((sale_payments::change_given, sale_payments::tip))
        .load(conn)?;
    let change: i64 = paid.iter().map(|p| p.0).sum();
    let tip: i64 = paid.iter().map(|p| p.1).sum();
    Ok(Some((
        SaleAck {
            sale_id,
            register_id,
            seq,
            total: Pesos::new(total).unwrap_or_default(),
            total_charged: Pesos::new(total_charged).unwrap_or_default(),
            tip: Pesos::new(tip).unwrap_or_default(),
            change: Pesos::new(change).unwrap_or_default(),
            warnings: Vec::new(),
        },
        fingerprint,
    )))
}

/// Takes the next sale id ahead of its insert, for a sale whose card
/// charges must name it in the same change.
pub fn reserve_sale_id(conn: &mut PgConnection) -> QueryResult<i64> {
    diesel::select(nextval("sales_id_seq")).get_result(conn)
}

define_sql_function! {
    /// PostgreSQL's `nextval(regclass)`, by the sequence's name.
    fn nextval(sequence: diesel::sql_types::Text) -> diesel::sql_types::BigInt;
}

define_sql_function! {
    /// The cash tips of a session's `tip_totals`, 0 when there are none
    /// (a function of the database: the checks read it too).
    fn session_cash_tips(tip_totals: diesel::sql_types::Jsonb) -> diesel::sql_types::BigInt;
}

/// Moves the session's running counters from `before` to `after`. The
/// session must still be open and hold exactly `before`: anything else
/// means memory is not what the database has, and nothing is written.
fn write_counters(
    conn: &mut PgConnection,
    before: &LiveSession,
    after: &LiveSession,
) -> Result<(), CajaError> {
    let updated = diesel::update(
        register_sessions::table
            .find(after.id)
            .filter(register_sessions::status.eq(SessionStatus::Open))
            .filter(register_sessions::payment_totals.eq(per_method_json(&before.payment_totals)))
            .filter(register_sessions::tip_totals.eq(per_method_json(&before.tip_totals)))
            .filter(register_sessions::ticket_count.eq(before.ticket_count))
            .filter(register_sessions::cash_sales.eq(before.cash_sales.get()))
            .filter(register_sessions::cash_in.eq(before.cash_in.get()))
            .filter(register_sessions::cash_out.eq(before.cash_out.get()))
            .filter(register_sessions::payment_provider_used_primary_count.eq(before.primary_count))
            .filter(register_sessions::payment_provider_used_backup_count.eq(before.backup_count)),
    )
    .set((
        register_sessions::payment_totals.eq(per_method_json(&after.payment_totals)),
        register_sessions::tip_totals.eq(per_method_json(&after.tip_totals)),
        register_sessions::ticket_count.eq(after.ticket_count),
        register_sessions::cash_sales.eq(after.cash_sales.get()),
        register_sessions::cash_in.eq(after.cash_in.get()),
        register_sessions::cash_out.eq(after.cash_out.get()),
        register_sessions::payment_provider_used_primary_count.eq(after.primary_count),
        register_sessions::payment_provider_used_backup_count.eq(after.backup_count),
    ))
    .execute(conn)?;
    if updated == 1 {
        Ok(())
    } else {
        Err(CajaError::StateMoved)
    }
}

/// A map of pesos per method as its JSONB column stores it.
pub(super) fn per_method_json(totals: &BTreeMap<String, i64>) -> serde_json::Value {
    serde_json::to_value(totals).unwrap_or_default()
}

/// A sale of the open session, not yet voided, with its payments.
pub fn sale_to_void(
    conn: &mut PgConnection,
    session: i32,
    sale_id: i64,
) -> Result<Vec<RecordedPayment>, CajaError> {
    let found: Option<(i32, Option<DateTime<Utc>>)> = sales::table
        .find(sale_id)
        .select((sales::session_id, sales::voided_at))
        .for_update()
        .first(conn)
        .optional()?;
    match found {
        None => return Err(CajaError::UnknownSale),
        Some((in_session, _)) if in_session != session => {
            return Err(CajaError::SaleNotInSession);
        }
        Some((_, Some(_))) => return Err(CajaError::AlreadyVoided),
        Some(_) => {}
    }
    let rows: Vec<(String, i64, i64, Option<String>, bool)> = sale_payments::table
        .filter(sale_payments::sale_id.eq(sale_id))
        .select((
            sale_payments::method,
            sale_payments::amount_charged,
            sale_payments::tip,
            sale_payments::provider,
            sale_payments::used_backup,
        ))
        .load(conn)?;
    rows.into_iter()
        .map(|(method, charged, tip, provider, used_backup)| {
            Ok(RecordedPayment {
                method: method.parse().map_err(|_| CajaError::Overflow)?,
                charged: Pesos::new(charged).map_err(|_| CajaError::Overflow)?,
                tip: Pesos::new(tip).map_err(|_| CajaError::Overflow)?,
                provider_slot: provider.map(|_| {
                    if used_backup {
                        ProviderSlot::Backup
                    } else {
                        ProviderSlot::Primary
                    }
                }),
            })
        })
        .collect()
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VoidAck {
    pub sale_id: i64,
    pub seq: i64,
}

/// Voids a sale: it stays on record, marked with who and why; the session's
/// totals no longer count it.
pub fn void_sale(
    conn: &mut PgConnection,
    by: &Author,
    session: &LiveSession,
    sale_id: i64,
    reason: &str,
    signed_on_device_of: Option<&str>,
    seq: i64,
) -> Result<(VoidAck, LiveSession), CajaError> {
    let payments = sale_to_void(conn, session.id, sale_id)?;
    let after = session.without_sale(&payments)?;
    diesel::update(sales::table.find(sale_id))
        .set((
            sales::voided_at.eq(by.at),
            sales::voided_by.eq(by.user_id),
            sales::void_reason.eq(reason),
        ))
        .execute(conn)?;
    write_counters(conn, session, &after)?;
    audit::record(
        conn,
        &by.actor,
        Action::SaleVoided,
        sale_id,
        None::<&()>,
        Some(&match signed_on_device_of {
            Some(cashier) => {
                serde_json::json!({ "reason": reason, "signed_with_pin_on_device_of": cashier })
            }
            None => serde_json::json!({ "reason": reason }),
        }),
    )?;
    Ok((VoidAck { sale_id, seq }, after))
}

/// Who makes a change, and when, as the rows and the audit trail keep it.
#[derive(Debug, Clone)]
pub struct Author {
    pub user_id: i32,
    pub actor: Actor,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MovementAck {
    pub movement_id: i64,
    pub seq: i64,
    pub expected_cash: Pesos,
}

/// A cash movement as requested.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Movement {
    pub kind: MovementKind,
    pub amount: Pesos,
    pub reason: String,
}

/// Records cash added or dropped, and the session's counters going from
/// `before` to `after`.
pub fn record_movement(
    conn: &mut PgConnection,
    caja: CajaId,
    by: &Author,
    before: &LiveSession,
    after: &LiveSession,
    movement: &Movement,
    seq: i64,
) -> Result<MovementAck, CajaError> {
    let movement_id: i64 = diesel::insert_into(cash_movements::table)
        .values((
            cash_movements::register_id.eq(caja),
            cash_movements::session_id.eq(after.id),
            cash_movements::kind.eq(movement.kind.as_str()),
            cash_movements::amount.eq(movement.amount.get()),
            cash_movements::reason.eq(&movement.reason),
            cash_movements::seq.eq(seq),
            cash_movements::created_by.eq(by.user_id),
            cash_movements::created_at.eq(by.at),
        ))
        .returning(cash_movements::id)
        .get_result(conn)?;
    write_counters(conn, before, after)?;
    audit::record(
        conn,
        &by.actor,
        Action::CashMoved,
        movement_id,
        None::<&()>,
        Some(&serde_json::json!({
            "kind": movement.kind.as_str(), "amount": movement.amount, "reason": movement.reason,
        })),
    )?;
    Ok(MovementAck {
        movement_id,
        seq,
        expected_cash: after.expected_cash(),
    })
}

/// The outcome of a closed session: the "cuadratura".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClosedSession {
    pub id: i32,
    pub cash_expected: Pesos,
    pub cash_count: Pesos,
    pub cash_difference: Pesos,
    pub closed_at: DateTime<Utc>,
}

/// Closes the open session with the cash counted. The expected cash is
/// computed from the session's row and must be what memory expected.
pub fn close_session(
    conn: &mut PgConnection,
    by: &Author,
    session: &LiveSession,
    count: Pesos,
    detail: Option<serde_json::Value>,
    approved_by: Option<i32>,
) -> Result<ClosedSession, CajaError> {
    use register_sessions::dsl as s;
    let expected = session.expected_cash();
    let difference = count.checked_sub(expected).ok_or(CajaError::Overflow)?;
    let expected_sql =
        s::initial_cash + s::cash_sales + session_cash_tips(s::tip_totals) + s::cash_in
            - s::cash_out;
    let stored: Option<i64> = diesel::update(
        s::register_sessions
            .find(session.id)
            .filter(s::status.eq(SessionStatus::Open)),
    )
    .set((
        s::status.eq(SessionStatus::Closed),
        s::closed_at.eq(by.at),
        s::closed_by.eq(by.user_id),
        s::cash_count.eq(count.get()),
        s::cash_expected.eq(expected_sql.nullable()),
        s::cash_difference
            .eq((count.get().into_sql::<diesel::sql_types::BigInt>() - expected_sql).nullable()),
        s::cash_count_detail.eq(detail),
        s::difference_approved_by.eq(approved_by),
    ))
    .returning(s::cash_expected)
    .get_result::<Option<i64>>(conn)
    .optional()?
    .ok_or(CajaError::StateMoved)?;
    if stored != Some(expected.get()) {
        // Memory expected another amount: nothing is kept (the transaction
        // rolls back) and the register reloads.
        return Err(CajaError::StateMoved);
    }
    let closed = ClosedSession {
        id: session.id,
        cash_expected: expected,
        cash_count: count,
        cash_difference: difference,
        closed_at: by.at,
    };
    audit::record(
        conn,
        &by.actor,
        Action::SessionClosed,
        session.id,
        Some(session),
        Some(&closed),
    )?;
    Ok(closed)
}

/// A session as its page shows it, open or closed.
#[derive(Debug, Clone)]
pub struct SessionSummary {
    pub id: i32,
    pub register_id: i32,
    pub caja: String,
    pub status: SessionStatus,
    pub opened_at: DateTime<Utc>,
    pub opened_by: Option<i32>,
    pub opened_by_name: String,
    pub closed_at: Option<DateTime<Utc>>,
    pub closed_by_name: Option<String>,
    pub initial_cash: Pesos,
    pub payment_totals: BTreeMap<String, i64>,
    /// Tips per method (not revenue; the cash ones are in the drawer).
    pub tip_totals: BTreeMap<String, i64>,
    pub ticket_count: i32,
    pub cash_sales: Pesos,
    pub cash_in: Pesos,
    pub cash_out: Pesos,
    pub cash_expected: Option<Pesos>,
    pub cash_count: Option<Pesos>,
    pub cash_difference: Option<Pesos>,
    pub primary_count: i32,
    pub backup_count: i32,
    /// The caja counts blind: its cashier sees no expected cash until closing.
    pub blind_count: bool,
}

/// A session's row with its caja and who opened and closed it, as its page
/// reads them.
#[derive(Queryable)]
struct SummaryRow {
    id: i32,
    register_id: i32,
    status: SessionStatus,
    opened_at: DateTime<Utc>,
    opened_by: Option<i32>,
    closed_at: Option<DateTime<Utc>>,
    initial_cash: i64,
    payment_totals: serde_json::Value,
    tip_totals: serde_json::Value,
    ticket_count: i32,
    cash_sales: i64,
    cash_in: i64,
    cash_out: i64,
    cash_expected: Option<i64>,
    cash_count: Option<i64>,
    cash_difference: Option<i64>,
    primary_count: i32,
    backup_count: i32,
    caja: String,
    blind_count: bool,
    opened_by_name: Option<String>,
    closed_by_name: Option<String>,
}

impl SessionSummary {
    /// The tips paid in cash: in the drawer, though not revenue.
    pub fn cash_tips(&self) -> Pesos {
        of_method(&self.tip_totals, PaymentMethod::Efectivo)
    }

    /// All tips, over every method.
    pub fn tips(&self) -> Pesos {
        Pesos::new(self.tip_totals.values().sum()).unwrap_or_default()
    }

    /// The cash expected in the drawer: as stored at closing, or, while
    /// open, fondo inicial + cash sales + cash tips + ingresos − retiros.
    pub fn expected_cash(&self) -> Pesos {
        self.cash_expected.unwrap_or_else(|| {
            self.initial_cash
                .checked_add(self.cash_sales)
                .and_then(|sum| sum.checked_add(self.cash_tips()))
                .and_then(|sum| sum.checked_add(self.cash_in))
                .and_then(|sum| sum.checked_sub(self.cash_out))
                .unwrap_or_default()
        })
    }
}

pub fn session_summary(conn: &mut PgConnection, id: i32) -> QueryResult<SessionSummary> {
    let (opener, closer) = diesel::alias!(users as opener, users as closer);
    let row: SummaryRow = register_sessions::table
        .inner_join(pos_registers::table)
        .left_join(opener.on(register_sessions::opened_by.eq(opener.field(users::id).nullable())))
        .left_join(closer.on(register_sessions::closed_by.eq(closer.field(users::id).nullable())))
        .filter(register_sessions::id.eq(id))
        .select((
            register_sessions::id,
            register_sessions::register_id,
            register_sessions::status,
            register_sessions::opened_at,
            register_sessions::opened_by,
            register_sessions::closed_at,
            register_sessions::initial_cash,
            register_sessions::payment_totals,
            register_sessions::tip_totals,
            register_sessions::ticket_count,
            register_sessions::cash_sales,
            register_sessions::cash_in,
            register_sessions::cash_out,
            register_sessions::cash_expected,
            register_sessions::cash_count,
            register_sessions::cash_difference,
            register_sessions::payment_provider_used_primary_count,
            register_sessions::payment_provider_used_backup_count,
            pos_registers::name,
            pos_registers::blind_count,
            opener.field(users::name).nullable(),
            closer.field(users::name).nullable(),
        ))
        .first(conn)?;
    let pesos = |field: &str, value: i64| stored_pesos(row.id, field, value);
    let payment_totals = stored_totals(row.id, "payment_totals", &row.payment_totals)?;
    let tip_totals = stored_totals(row.id, "tip_totals", &row.tip_totals)?;
    Ok(SessionSummary {
        id: row.id,
        register_id: row.register_id,
        status: row.status,
        opened_at: row.opened_at,
        opened_by: row.opened_by,
        closed_at: row.closed_at,
        initial_cash: pesos("initial_cash", row.initial_cash)?,
        payment_totals,
        tip_totals,
        ticket_count: row.ticket_count,
        cash_sales: pesos("cash_sales", row.cash_sales)?,
        cash_in: pesos("cash_in", row.cash_in)?,
        cash_out: pesos("cash_out", row.cash_out)?,
        cash_expected: row
            .cash_expected
            .map(|v| pesos("cash_expected", v))
            .transpose()?,
        cash_count: row.cash_count.map(|v| pesos("cash_count", v)).transpose()?,
        cash_difference: row
            .cash_difference
            .map(|v| pesos("cash_difference", v))
            .transpose()?,
        primary_count: row.primary_count,
        backup_count: row.backup_count,
        opened_by_name: row.opened_by_name.clone().unwrap_or_else(|| "?".into()),
        closed_by_name: row.closed_by_name.clone(),
        caja: row.caja.clone(),
        blind_count: row.blind_count,
    })
}
