//! Flagged sales: sales a POS took while it could not reach the hub and
//! that can no longer be recorded as made (their session closed meanwhile,
//! the caja went into maintenance, ...). The POS hands them to the hub,
//! which keeps them for a supervisor to settle; nothing taken is dropped.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::CajaError;
use super::sale::{InvalidSale, Pricing, SaleRequest, ValidSale};
use super::store;
use crate::audit::{self, Action, Actor};
use crate::auth::user::{Role, User};
use crate::cajas::CajaId;
use crate::catalog::Catalog;
use crate::db::schema::{flagged_sales, pos_registers, register_sessions, users};

/// The longest reason a POS may give, and a supervisor's resolution.
pub const MAX_TEXT: usize = 300;

/// A flagged sale as the POS sends it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlagRequest {
    /// The sale as it was made (it carries its idempotency key and session).
    pub sale: SaleRequest,
    /// Why the hub could not record it (the message the POS was given).
    pub reason: String,
    /// When the cashier made the sale.
    pub made_at: DateTime<Utc>,
}

/// A sale a POS took while it could not reach the hub, as it hands it
/// over (over HTTP: the sale must reach the hub even when the caja's live
/// socket is no longer this cashier's). The hub, not the POS, says why it
/// could not be recorded.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OfflineSale {
    pub sale: SaleRequest,
    /// When the cashier made the sale.
    pub made_at: DateTime<Utc>,
}

impl OfflineSale {
    /// The sale to record and, should it be refused, the flag to keep (its
    /// reason left for the hub to give).
    pub fn validate(
        &self,
        now: DateTime<Utc>,
        catalog: &Catalog,
    ) -> Result<(ValidSale, ValidFlag), InvalidSale> {
        let request = FlagRequest {
            sale: self.sale.clone(),
            reason: "-".into(),
            made_at: self.made_at,
        };
        request.validated(now, catalog)
    }
}

/// Why a sale taken offline (in `session`) is kept for a supervisor
/// instead of recorded, as a supervisor reads it.
pub fn offline_reason(session: Option<i32>, refusal: &CajaError) -> String {
    match (refusal, session) {
        (CajaError::NoOpenSession | CajaError::SessionChanged, Some(session)) => format!(
            "Venta hecha sin conexión: la sesión #{session} se cerró antes de que llegara al servidor."
        ),
        _ => format!(
            "Venta hecha sin conexión que no pudo registrarse: {}",
            refusal.message()
        ),
    }
}

/// Why a sale taken offline at `caja` cannot be recorded as the catalog
/// stands now (a product archived, sold out, moved off the caja, or
/// priced otherwise since), as a supervisor reads it; None when it can.
pub fn off_catalog(sale: &ValidSale, catalog: &Catalog, caja: CajaId) -> Option<String> {
    sale.lines.iter().find_map(|line| {
        let product = line.product?;
        catalog
            .price(caja, product, Some(line.unit_price))
            .err()
            .map(|refusal| {
                format!(
                    "Venta hecha sin conexión que el catálogo de ahora no permite: {refusal} \
                     (vendido a {} c/u).",
                    line.unit_price
                )
            })
    })
}

#[derive(Debug, Clone)]
pub struct ValidFlag {
    pub key: Uuid,
    pub session_id: Option<i32>,
    pub total: i64,
    pub sale: serde_json::Value,
    pub reason: String,
    pub made_at: DateTime<Utc>,
}

fn invalid(field: &str, message: &str) -> InvalidSale {
    InvalidSale {
        field: field.into(),
        message: message.into(),
    }
}

/// A reason or a resolution: required, at most [`MAX_TEXT`] characters,
/// on several lines if need be.
pub fn text(field: &str, value: &str) -> Result<String, InvalidSale> {
    crate::text::note(value, MAX_TEXT).map_err(|err| invalid(field, &err.to_string()))
}

impl FlagRequest {
    /// The sale must be one that could have been recorded (so a supervisor
    /// can record it by hand); the reason and time are required.
    /// Its lines are taken at the price they were sold at.
    pub fn validate(
        &self,
        now: DateTime<Utc>,
        catalog: &Catalog,
    ) -> Result<ValidFlag, InvalidSale> {
        self.validated(now, catalog).map(|(_, flag)| flag)
    }

    /// The flag, and the sale it carries as checked on the way.
    fn validated(
        &self,
        now: DateTime<Utc>,
        catalog: &Catalog,
    ) -> Result<(ValidSale, ValidFlag), InvalidSale> {
        let pricing = Pricing::AsSold { catalog };
        let sale = self.sale.validate(pricing).map_err(|err| InvalidSale {
            field: format!("sale.{}", err.field),
            message: err.message,
        })?;
        let reason = text("reason", &self.reason)?;
        if self.made_at > now + chrono::Duration::minutes(5) {
            return Err(invalid("made_at", "no puede estar en el futuro"));
        }
        let json = serde_json::json!({
            "key": sale.key,
            "total": sale.total.get(),
            "session_id": sale.session_id,
            "payments": self.sale.payments.iter().map(|p| serde_json::json!({
                "method": p.method, "amount": p.amount, "tendered": p.tendered, "provider": p.provider,
                "tip": p.tip,
            })).collect::<Vec<_>>(),
            "lines": sale.lines.iter().map(|l| serde_json::json!({
                "product_id": l.product, "name": l.name, "unit_price": l.unit_price,
                "quantity": l.quantity,
            })).collect::<Vec<_>>(),
        });
        let flag = ValidFlag {
            key: sale.key,
            session_id: sale.session_id,
            total: sale.total.get(),
            sale: json,
            reason,
            made_at: self.made_at,
        };
        Ok((sale, flag))
    }
}

/// What the hub answers a flagged sale.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FlagAck {
    pub flagged_id: i64,
    /// True when this sale had been flagged already.
    pub replayed: bool,
}

/// Stores the flagged sale once. A sale whose key was recorded after all is
/// refused: it is not missing.
/// A cashier flags only the sales of their own sessions; a supervisor any.
pub fn insert(
    conn: &mut PgConnection,
    register: CajaId,
    flag: &ValidFlag,
    user: &User,
) -> Result<FlagAck, CajaError> {
    let (actor, by) = (&user.actor(), user.id.0);
    let must_own = !user.role.includes(Role::Supervisor);
    {
        if store::sale_by_key(conn, flag.key)?.is_some() {
            return Err(CajaError::AlreadyRecorded);
        }
        // A cashier flags only the sales of their own sessions of this caja.
        if must_own {
            let owner = match flag.session_id {
                Some(session) => register_sessions::table
                    .find(session)
                    .filter(register_sessions::register_id.eq(register))
                    .select(register_sessions::opened_by)
                    .first::<Option<i32>>(conn)
                    .optional()?
                    .flatten(),
                None => None,
            };
            if owner != Some(by) {
                return Err(CajaError::NotYourSession);
            }
        }
        if let Some(id) = flagged_sales::table
            .filter(flagged_sales::idempotency_key.eq(flag.key))
            .select(flagged_sales::id)
            .first::<i64>(conn)
            .optional()?
        {
            return Ok(FlagAck {
                flagged_id: id,
                replayed: true,
            });
        }
        let id: i64 = diesel::insert_into(flagged_sales::table)
            .values((
                flagged_sales::register_id.eq(register),
                flagged_sales::session_id.eq(flag.session_id),
                flagged_sales::idempotency_key.eq(flag.key),
                flagged_sales::sale.eq(&flag.sale),
                flagged_sales::total.eq(flag.total),
                flagged_sales::reason.eq(&flag.reason),
                flagged_sales::made_at.eq(flag.made_at),
                flagged_sales::flagged_by.eq(by),
            ))
            .returning(flagged_sales::id)
            .get_result(conn)?;
        audit::record(
            conn,
            actor,
            Action::SaleFlagged,
            id,
            None::<&()>,
            Some(&flag.sale),
        )?;
        Ok(FlagAck {
            flagged_id: id,
            replayed: false,
        })
    }
}

/// Settles a flagged sale of `register` with the supervisor's note.
pub fn resolve(
    conn: &mut PgConnection,
    actor: &Actor,
    register: CajaId,
    id: i64,
    resolution: &str,
    by: i32,
) -> Result<(), CajaError> {
    {
        let updated = diesel::update(
            flagged_sales::table
                .find(id)
                .filter(flagged_sales::register_id.eq(register))
                .filter(flagged_sales::resolved_at.is_null()),
        )
        .set((
            flagged_sales::resolved_at.eq(diesel::dsl::now),
            flagged_sales::resolved_by.eq(by),
            flagged_sales::resolution.eq(resolution),
        ))
        .execute(conn)?;
        if updated != 1 {
            return Err(CajaError::UnknownFlaggedSale);
        }
        audit::record(
            conn,
            actor,
            Action::FlaggedSaleResolved,
            id,
            None::<&()>,
            Some(&serde_json::json!({ "resolution": resolution })),
        )?;
        Ok(())
    }
}

/// How many of the caja's flagged sales wait for a supervisor.
pub fn pending_count(conn: &mut PgConnection, register: CajaId) -> QueryResult<i64> {
    flagged_sales::table
        .filter(flagged_sales::register_id.eq(register))
        .filter(flagged_sales::resolved_at.is_null())
        .count()
        .get_result(conn)
}

/// A flagged sale as the supervisors' page lists it.
#[derive(Debug, Clone, Queryable)]
pub struct PendingFlag {
    pub id: i64,
    pub register_id: i32,
    pub caja: String,
    pub session_id: Option<i32>,
    pub total: i64,
    pub sale: serde_json::Value,
    pub reason: String,
    pub made_at: DateTime<Utc>,
    pub flagged_by: String,
    pub flagged_at: DateTime<Utc>,
}

impl PendingFlag {
    /// "Efectivo + Débito (GETNET)": how it was paid.
    pub fn payments(&self) -> String {
        self.sale["payments"]
            .as_array()
            .map(|payments| {
                payments
                    .iter()
                    .map(|p| {
                        let method = p["method"]
                            .as_str()
                            .and_then(|m| m.parse::<crate::payments::method::PaymentMethod>().ok())
                            .map_or_else(|| "?".to_owned(), |m| m.label().to_owned());
                        match p["provider"].as_str() {
                            Some(provider) => format!("{method} ({provider})"),
                            None => method,
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(" + ")
            })
            .unwrap_or_default()
    }
}

/// Every flagged sale still waiting, oldest first.
pub fn pending(conn: &mut PgConnection) -> QueryResult<Vec<PendingFlag>> {
    flagged_sales::table
        .inner_join(pos_registers::table)
        .inner_join(users::table.on(users::id.eq(flagged_sales::flagged_by)))
        .left_join(register_sessions::table)
        .filter(flagged_sales::resolved_at.is_null())
        .order(flagged_sales::made_at)
        .select((
            flagged_sales::id,
            flagged_sales::register_id,
            pos_registers::name,
            flagged_sales::session_id,
            flagged_sales::total,
            flagged_sales::sale,
            flagged_sales::reason,
            flagged_sales::made_at,
            users::name,
            flagged_sales::flagged_at,
        ))
        .load(conn)
}

/// The caja of a flagged sale, if it exists.
pub fn register_of(conn: &mut PgConnection, id: i64) -> QueryResult<Option<CajaId>> {
    flagged_sales::table
        .find(id)
        .select(flagged_sales::register_id)
        .first::<i32>(conn)
        .optional()
        .map(|found| found.map(CajaId))
}
