//! Cajas as stored in `pos_registers`, and the queries that read and write them.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use serde::Serialize;

use super::domain::{
    CajaCode, CajaConfig, CajaType, FallbackPolicy, OperationalStatus, PaymentProvider,
};
use crate::audit::{self, Action, Actor};
use crate::cajas::terminal::TerminalConfig;
use crate::db::schema::{pos_registers, register_sessions};
use crate::jornadas::SessionStatus;

crate::id_newtype!(
    /// A caja's id, as stored in `pos_registers.id`.
    CajaId
);

/// Name of the unique index on `pos_registers.code`.
const CODE_UNIQUE_INDEX: &str = "pos_registers_code_key";
/// How many suffixed codes to try when deriving one from a name.
const DERIVED_CODE_ATTEMPTS: u32 = 50;

/// One row of `pos_registers`. Name and code are plain strings here: rows
/// taken over from the previous system may predate today's rules.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Identifiable, Serialize)]
#[diesel(table_name = pos_registers, check_for_backend(diesel::pg::Pg))]
pub struct Caja {
    pub id: CajaId,
    pub name: String,
    pub code: String,
    pub register_type: CajaType,
    pub payment_provider_primary: PaymentProvider,
    pub payment_provider_backup: Option<PaymentProvider>,
    pub operational_status: OperationalStatus,
    pub fallback_policy: FallbackPolicy,
    /// Grows by one on every save; an edit names the version it started from.
    pub version: i32,
    pub archived_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub blind_count: bool,
    pub max_cash_difference: Option<i64>,
    /// How its card terminal is driven.
    pub terminal: TerminalConfig,
}

/// The columns an admin sets, for insert and update.
#[derive(Debug, Insertable, AsChangeset)]
#[diesel(table_name = pos_registers)]
// A caja without a backup or a cash limit stores NULL, never the column's default.
#[diesel(treat_none_as_null = true, treat_none_as_default_value = false)]
struct CajaColumns<'a> {
    name: &'a str,
    code: &'a str,
    register_type: CajaType,
    payment_provider_primary: PaymentProvider,
    payment_provider_backup: Option<PaymentProvider>,
    operational_status: OperationalStatus,
    fallback_policy: FallbackPolicy,
    blind_count: bool,
    max_cash_difference: Option<i64>,
    terminal: &'a TerminalConfig,
}

impl<'a> CajaColumns<'a> {
    fn new(config: &'a CajaConfig, code: &'a CajaCode) -> Self {
        Self {
            name: config.name.as_str(),
            code: code.as_str(),
            register_type: config.register_type,
            payment_provider_primary: config.providers.primary(),
            payment_provider_backup: config.providers.backup(),
            operational_status: config.operational_status,
            fallback_policy: config.fallback_policy,
            blind_count: config.closing.blind_count,
            max_cash_difference: config.closing.max_difference.map(|p| p.get()),
            terminal: &config.terminal,
        }
    }
}

/// Why a save did not happen.
#[derive(Debug, thiserror::Error)]
pub enum SaveError {
    #[error("the code {0} is taken")]
    DuplicateCode(String),
    #[error("the caja changed since version {expected}")]
    Stale { expected: i32, current: Box<Caja> },
    #[error("the caja is archived")]
    Archived,
    #[error("the caja has an open session")]
    OpenSession,
    #[error("no such caja")]
    NotFound,
    #[error(transparent)]
    Db(#[from] DieselError),
    #[error(transparent)]
    Unavailable(#[from] crate::db::DbError),
}

impl Caja {
    /// The names of cajas `ids` (a page naming cajas it has no actor of).
    pub fn names(conn: &mut PgConnection, ids: &[CajaId]) -> QueryResult<Vec<(CajaId, String)>> {
        pos_registers::table
            .filter(pos_registers::id.eq_any(ids))
            .select((pos_registers::id, pos_registers::name))
            .load(conn)
    }

    pub fn is_archived(&self) -> bool {
        self.archived_at.is_some()
    }

    /// Every caja, working ones first, each group by name.
    pub fn list(conn: &mut PgConnection) -> QueryResult<Vec<Caja>> {
        pos_registers::table
            .select(Caja::as_select())
            .order((
                pos_registers::archived_at.is_not_null(),
                pos_registers::name,
                pos_registers::id,
            ))
            .load(conn)
    }

    pub fn find(conn: &mut PgConnection, id: CajaId) -> QueryResult<Caja> {
        pos_registers::table
            .find(id)
            .select(Caja::as_select())
            .first(conn)
    }

    /// Inserts a caja and audits it. The unique index decides between two
    /// admins creating the same code at once; a derived code moves on to
    /// the next suffix (each try in a savepoint).
    pub fn create(
        conn: &mut PgConnection,
        actor: &Actor,
        config: &CajaConfig,
    ) -> Result<Caja, SaveError> {
        let insert = |conn: &mut PgConnection, code: &CajaCode| {
            conn.transaction(|conn| {
                diesel::insert_into(pos_registers::table)
                    .values(CajaColumns::new(config, code))
                    .returning(Caja::as_returning())
                    .get_result(conn)
            })
        };
        conn.transaction(|conn| {
            let caja = match &config.code {
                Some(code) => insert(conn, code).map_err(|err| code_conflict(err, code))?,
                None => {
                    let mut created = None;
                    for attempt in 1..=DERIVED_CODE_ATTEMPTS {
                        match insert(conn, &CajaCode::from_name(&config.name, attempt)) {
                            Err(err) if is_code_conflict(&err) => continue,
                            result => {
                                created = Some(result?);
                                break;
                            }
                        }
                    }
                    created.ok_or_else(|| {
                        SaveError::DuplicateCode(
                            CajaCode::from_name(&config.name, 1).as_str().to_owned(),
                        )
                    })?
                }
            };
            audit::record(
                conn,
                actor,
                Action::CajaCreated,
                caja.id,
                None::<&Caja>,
                Some(&caja),
            )?;
            Ok(caja)
        })
    }

    /// The working caja `id`, locked for a change based on `expected_version`:
    /// an archived caja or an older version is refused.
    fn lock_for_change(
        conn: &mut PgConnection,
        id: CajaId,
        expected_version: i32,
    ) -> Result<Caja, SaveError> {
        let caja = Caja::find_for_update(conn, id)?;
        if caja.is_archived() {
            return Err(SaveError::Archived);
        }
        if caja.version != expected_version {
            return Err(SaveError::Stale {
                expected: expected_version,
                current: Box::new(caja),
            });
        }
        Ok(caja)
    }

    fn find_for_update(conn: &mut PgConnection, id: CajaId) -> Result<Caja, SaveError> {
        pos_registers::table
            .find(id)
            .select(Caja::as_select())
            .for_update()
            .first(conn)
            .optional()?
            .ok_or(SaveError::NotFound)
    }

    /// Saves an admin's edit made on `expected_version`, and audits it with
    /// the values before and after. A save based on an older version is
    /// refused with the current row, never applied over it.
    pub fn update(
        conn: &mut PgConnection,
        actor: &Actor,
        id: CajaId,
        expected_version: i32,
        config: &CajaConfig,
    ) -> Result<Caja, SaveError> {
        let code = match &config.code {
            Some(code) => code.clone(),
            None => CajaCode::from_name(&config.name, 1),
        };
        conn.transaction(|conn| {
            let before = Caja::lock_for_change(conn, id, expected_version)?;
            let after = diesel::update(pos_registers::table.find(id))
                .set((
                    CajaColumns::new(config, &code),
                    pos_registers::version.eq(pos_registers::version + 1),
                    pos_registers::updated_at.eq(diesel::dsl::now),
                ))
                .returning(Caja::as_returning())
                .get_result(conn)
                .map_err(|err| code_conflict(err, &code))?;
            audit::record(
                conn,
                actor,
                Action::CajaEdited,
                id,
                Some(&before),
                Some(&after),
            )?;
            Ok(after)
        })
    }

    /// Archives a caja: it stays with its history but leaves the working
    /// list. Refused while one of its sessions is open.
    pub fn archive(
        conn: &mut PgConnection,
        actor: &Actor,
        id: CajaId,
        expected_version: i32,
    ) -> Result<Caja, SaveError> {
        conn.transaction(|conn| {
            let caja = Caja::lock_for_change(conn, id, expected_version)?;
            let open_session = diesel::select(diesel::dsl::exists(
                register_sessions::table
                    .filter(register_sessions::register_id.eq(id))
                    .filter(register_sessions::status.eq(SessionStatus::Open)),
            ))
            .get_result::<bool>(conn)?;
            if open_session {
                return Err(SaveError::OpenSession);
            }
            let archived = diesel::update(pos_registers::table.find(id))
                .set((
                    pos_registers::archived_at.eq(diesel::dsl::now),
                    pos_registers::version.eq(pos_registers::version + 1),
                    pos_registers::updated_at.eq(diesel::dsl::now),
                ))
                .returning(Caja::as_returning())
                .get_result(conn)?;
            audit::record(
                conn,
                actor,
                Action::CajaArchived,
                id,
                Some(&caja),
                Some(&archived),
            )?;
            Ok(archived)
        })
    }

    /// Brings an archived caja back to the working list, as it was.
    /// Restoring one that is not archived changes nothing.
    pub fn restore(conn: &mut PgConnection, actor: &Actor, id: CajaId) -> Result<Caja, SaveError> {
        conn.transaction(|conn| {
            let before = Caja::find_for_update(conn, id)?;
            if !before.is_archived() {
                return Ok(before);
            }
            let restored = diesel::update(pos_registers::table.find(id))
                .set((
                    pos_registers::archived_at.eq(None::<DateTime<Utc>>),
                    pos_registers::version.eq(pos_registers::version + 1),
                    pos_registers::updated_at.eq(diesel::dsl::now),
                ))
                .returning(Caja::as_returning())
                .get_result(conn)?;
            audit::record(
                conn,
                actor,
                Action::CajaRestored,
                id,
                Some(&before),
                Some(&restored),
            )?;
            Ok(restored)
        })
    }
}

fn is_code_conflict(err: &DieselError) -> bool {
    matches!(
        err,
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info)
            if info.constraint_name() == Some(CODE_UNIQUE_INDEX)
    )
}

fn code_conflict(err: DieselError, code: &CajaCode) -> SaveError {
    if is_code_conflict(&err) {
        SaveError::DuplicateCode(code.as_str().to_owned())
    } else {
        SaveError::Db(err)
    }
}
