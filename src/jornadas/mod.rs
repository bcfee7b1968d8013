//! Jornadas: the venue's business days (a night spans midnight). At most one
//! is open; register sessions open only inside it, and it closes only when
//! none of them is open.

mod pages;
mod status;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use serde::Serialize;

use crate::audit::{self, Action, Actor};
use crate::db::schema::{jornadas, pos_registers, register_sessions, users};

pub use pages::routes;
pub use status::{JornadaStatus, SessionStatus};

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = jornadas, check_for_backend(diesel::pg::Pg))]
pub struct Jornada {
    pub id: i32,
    pub status: JornadaStatus,
    pub opened_at: DateTime<Utc>,
    pub opened_by: i32,
    pub closed_at: Option<DateTime<Utc>>,
    pub closed_by: Option<i32>,
}

impl Jornada {
    pub fn is_open(&self) -> bool {
        self.status.is_open()
    }
}

/// A session still open, named for the person who must close it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnclosedSession {
    pub caja: String,
    pub cashier: String,
}

#[derive(Debug, thiserror::Error)]
pub enum JornadaError {
    #[error("a jornada is already open")]
    AlreadyOpen,
    #[error("the jornada is not open")]
    NotOpen,
    #[error("{} sessions are still open", .0.len())]
    SessionsOpen(Vec<UnclosedSession>),
    #[error(transparent)]
    Db(#[from] DieselError),
}

pub fn current(conn: &mut PgConnection) -> QueryResult<Option<Jornada>> {
    jornadas::table
        .filter(jornadas::status.eq(JornadaStatus::Open))
        .select(Jornada::as_select())
        .first(conn)
        .optional()
}

pub fn recent(conn: &mut PgConnection, limit: i64) -> QueryResult<Vec<(Jornada, String)>> {
    jornadas::table
        .inner_join(users::table.on(users::id.eq(jornadas::opened_by)))
        .select((Jornada::as_select(), users::name))
        .order(jornadas::id.desc())
        .limit(limit)
        .load(conn)
}

/// Opens the jornada; the database's unique index refuses a second one.
pub fn open(conn: &mut PgConnection, actor: &Actor, by: i32) -> Result<Jornada, JornadaError> {
    conn.transaction(|conn| {
        let jornada: Jornada = diesel::insert_into(jornadas::table)
            .values(jornadas::opened_by.eq(by))
            .returning(Jornada::as_returning())
            .get_result(conn)
            .map_err(|err| match err {
                DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
                    JornadaError::AlreadyOpen
                }
                other => other.into(),
            })?;
        audit::record(
            conn,
            actor,
            Action::JornadaOpened,
            jornada.id,
            None::<&()>,
            Some(&jornada),
        )?;
        Ok(jornada)
    })
}

/// The sessions of `jornada_id` still open.
pub fn open_sessions(
    conn: &mut PgConnection,
    jornada_id: i32,
) -> QueryResult<Vec<UnclosedSession>> {
    register_sessions::table
        .inner_join(pos_registers::table)
        .left_join(users::table.on(users::id.nullable().eq(register_sessions::opened_by)))
        .filter(register_sessions::jornada_id.eq(jornada_id))
        .filter(register_sessions::status.eq(SessionStatus::Open))
        .select((pos_registers::name, users::name.nullable()))
        .order(pos_registers::name)
        .load::<(String, Option<String>)>(conn)
        .map(|rows| {
            rows.into_iter()
                .map(|(caja, cashier)| UnclosedSession {
                    caja,
                    cashier: cashier.unwrap_or_else(|| "?".into()),
                })
                .collect()
        })
}

/// One of a jornada's sessions, as its page lists it.
#[derive(Debug, Clone, Queryable)]
pub struct JornadaSession {
    pub id: i32,
    pub caja: String,
    pub cashier: Option<String>,
    pub status: SessionStatus,
    pub opened_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    pub ticket_count: i32,
    pub payment_totals: serde_json::Value,
    pub cash_difference: Option<i64>,
}

impl JornadaSession {
    /// What the session sold, every method together.
    pub fn total(&self) -> crate::money::Pesos {
        let sum = self
            .payment_totals
            .as_object()
            .map(|totals| totals.values().filter_map(serde_json::Value::as_i64).sum())
            .unwrap_or(0);
        crate::money::Pesos::new(sum).unwrap_or_default()
    }

    pub fn difference(&self) -> Option<crate::money::Pesos> {
        self.cash_difference
            .map(|d| crate::money::Pesos::new(d).unwrap_or_default())
    }
}

pub fn find(conn: &mut PgConnection, id: i32) -> QueryResult<Option<(Jornada, String)>> {
    jornadas::table
        .inner_join(users::table.on(users::id.eq(jornadas::opened_by)))
        .filter(jornadas::id.eq(id))
        .select((Jornada::as_select(), users::name))
        .first(conn)
        .optional()
}

/// Every session of jornada `id`, in the order they opened.
pub fn sessions(conn: &mut PgConnection, id: i32) -> QueryResult<Vec<JornadaSession>> {
    register_sessions::table
        .inner_join(pos_registers::table)
        .left_join(users::table.on(users::id.nullable().eq(register_sessions::opened_by)))
        .filter(register_sessions::jornada_id.eq(id))
        .order(register_sessions::id)
        .select((
            register_sessions::id,
            pos_registers::name,
            users::name.nullable(),
            register_sessions::status,
            register_sessions::opened_at,
            register_sessions::closed_at,
            register_sessions::ticket_count,
            register_sessions::payment_totals,
            register_sessions::cash_difference,
        ))
        .load(conn)
}

/// Closes the jornada when no session in it is open. The row lock makes a
/// session opening at the same moment wait, then find the jornada closed.
pub fn close(
    conn: &mut PgConnection,
    actor: &Actor,
    by: i32,
    id: i32,
) -> Result<Jornada, JornadaError> {
    conn.transaction(|conn| {
        let before: Jornada = jornadas::table
            .find(id)
            .select(Jornada::as_select())
            .for_update()
            .first(conn)
            .optional()?
            .filter(Jornada::is_open)
            .ok_or(JornadaError::NotOpen)?;
        let still_open = open_sessions(conn, id)?;
        if !still_open.is_empty() {
            return Err(JornadaError::SessionsOpen(still_open));
        }
        let after: Jornada = diesel::update(jornadas::table.find(id))
            .set((
                jornadas::status.eq(JornadaStatus::Closed),
                jornadas::closed_at.eq(diesel::dsl::now),
                jornadas::closed_by.eq(by),
            ))
            .returning(Jornada::as_returning())
            .get_result(conn)?;
        audit::record(
            conn,
            actor,
            Action::JornadaClosed,
            id,
            Some(&before),
            Some(&after),
        )?;
        Ok(after)
    })
}
