//! Users and their roles, as stored in `users`, and the changes made to them
//! (each audited in its own transaction).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use serde::Serialize;

use super::password::{self, HashError, Password, Pin};
use crate::audit::{self, Action, Actor};
use crate::db::schema::users;
use crate::text_enum;

text_enum! {
    /// What a user may do. Each role includes the ones below it.
    Role {
        Admin = "ADMIN" => "Administrador",
        Supervisor = "SUPERVISOR" => "Supervisor",
        Cajero = "CAJERO" => "Cajero",
    }
}

impl Role {
    fn rank(self) -> u8 {
        match self {
            Role::Admin => 3,
            Role::Supervisor => 2,
            Role::Cajero => 1,
        }
    }

    /// Whether someone with this role may do what `required` may.
    pub fn includes(self, required: Role) -> bool {
        self.rank() >= required.rank()
    }
}

pub use crate::ids::UserId;

/// A login name: 2 to 60 of A–Z, a–z, digits, `.`, `_`, `-`, starting with
/// a letter or digit. Unique regardless of case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserName(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "El nombre de usuario debe tener de 2 a 60 letras, números, puntos, guiones o guiones bajos, y empezar con letra o número."
)]
pub struct InvalidUserName;

impl UserName {
    pub fn parse(input: &str) -> Result<Self, InvalidUserName> {
        let name = input.trim();
        let mut chars = name.chars();
        let valid = (2..=60).contains(&name.len())
            && chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
            && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        if valid {
            Ok(Self(name.to_owned()))
        } else {
            Err(InvalidUserName)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = users, check_for_backend(diesel::pg::Pg))]
pub struct User {
    pub id: UserId,
    pub name: String,
    pub role: Role,
    pub password_hash: String,
    pub pin_hash: Option<String>,
    pub session_epoch: i32,
    pub disabled_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

// Hashes stay out of logs too.
impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("role", &self.role)
            .field("disabled", &self.disabled_at.is_some())
            .finish_non_exhaustive()
    }
}

/// What the audit trail keeps of a user: never a hash.
#[derive(Serialize)]
struct AuditedUser<'a> {
    name: &'a str,
    role: Role,
    has_pin: bool,
    disabled: bool,
}

impl User {
    fn audited(&self) -> AuditedUser<'_> {
        AuditedUser {
            name: &self.name,
            role: self.role,
            has_pin: self.pin_hash.is_some(),
            disabled: self.disabled_at.is_some(),
        }
    }

    pub fn actor(&self) -> Actor {
        Actor {
            id: Some(self.id),
            name: self.name.clone(),
        }
    }

    pub fn is_disabled(&self) -> bool {
        self.disabled_at.is_some()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("a user named {0} already exists")]
    NameTaken(String),
    #[error("no user named {0}")]
    NotFound(String),
    #[error(transparent)]
    Hash(#[from] HashError),
    #[error(transparent)]
    Db(#[from] DieselError),
}

diesel::define_sql_function!(fn lower(text: diesel::sql_types::Text) -> diesel::sql_types::Text);

/// Users are found by name regardless of case (names are ASCII).
fn named(name: &str) -> diesel::dsl::Eq<lower<users::name>, String> {
    lower(users::name).eq(name.to_ascii_lowercase())
}

pub fn any_exists(conn: &mut PgConnection) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(users::table.select(users::id))).get_result(conn)
}

pub fn find(conn: &mut PgConnection, id: UserId) -> QueryResult<User> {
    users::table.find(id).select(User::as_select()).first(conn)
}

pub fn find_by_name(conn: &mut PgConnection, name: &str) -> QueryResult<Option<User>> {
    users::table
        .filter(named(name))
        .select(User::as_select())
        .first(conn)
        .optional()
}

pub fn list(conn: &mut PgConnection) -> QueryResult<Vec<User>> {
    users::table
        .select(User::as_select())
        .order(users::name)
        .load(conn)
}

/// The cashiers a caja's device offers to pick at login: enabled, with a
/// PIN, by name.
pub fn cashiers_with_pin(conn: &mut PgConnection) -> QueryResult<Vec<String>> {
    users::table
        .filter(users::role.eq(Role::Cajero.as_str()))
        .filter(users::disabled_at.is_null())
        .filter(users::pin_hash.is_not_null())
        .select(users::name)
        .order(users::name)
        .load(conn)
}

/// Who can sign for a cashier on the cashier's device (a void): the
/// enabled supervisors and admins with a PIN, by name.
pub fn signers(conn: &mut PgConnection) -> QueryResult<Vec<String>> {
    users::table
        .filter(users::role.eq_any([Role::Supervisor.as_str(), Role::Admin.as_str()]))
        .filter(users::disabled_at.is_null())
        .filter(users::pin_hash.is_not_null())
        .select(users::name)
        .order(users::name)
        .load(conn)
}

pub fn create(
    conn: &mut PgConnection,
    actor: &Actor,
    name: &UserName,
    role: Role,
    password: &Password,
) -> Result<User, UserError> {
    let hash = password::hash(password.expose())?;
    conn.transaction(|conn| {
        let user: User = diesel::insert_into(users::table)
            .values((
                users::name.eq(name.as_str()),
                users::role.eq(role),
                users::password_hash.eq(&hash),
            ))
            .returning(User::as_returning())
            .get_result(conn)
            .map_err(|err| match err {
                DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
                    UserError::NameTaken(name.as_str().to_owned())
                }
                other => other.into(),
            })?;
        audit::record(
            conn,
            actor,
            Action::UserCreated,
            user.id,
            None::<&()>,
            Some(&user.audited()),
        )?;
        Ok(user)
    })
}

/// Applies `change` to the user named `name`, ends their sessions when
/// `revoke_sessions`, and audits it; all in one transaction.
fn change(
    conn: &mut PgConnection,
    actor: &Actor,
    name: &str,
    action: Action,
    revoke_sessions: bool,
    change: impl FnOnce(&mut PgConnection, UserId) -> QueryResult<usize>,
) -> Result<User, UserError> {
    conn.transaction(|conn| {
        let before = users::table
            .filter(named(name))
            .select(User::as_select())
            .for_update()
            .first(conn)
            .optional()?
            .ok_or_else(|| UserError::NotFound(name.to_owned()))?;
        change(conn, before.id)?;
        if revoke_sessions {
            // In the database too, not only for the cookies: the admin's
            // page lists no login that can no longer be used.
            super::logins::end_all(conn, before.id)?;
        }
        let epoch = if revoke_sessions { 1 } else { 0 };
        let after: User = diesel::update(users::table.find(before.id))
            .set((
                users::session_epoch.eq(users::session_epoch + epoch),
                users::updated_at.eq(diesel::dsl::now),
            ))
            .returning(User::as_returning())
            .get_result(conn)?;
        audit::record(
            conn,
            actor,
            action,
            after.id,
            Some(&before.audited()),
            Some(&after.audited()),
        )?;
        Ok(after)
    })
}

/// Disables a user: they can no longer log in, and their sessions and open
/// sockets end.
pub fn disable(conn: &mut PgConnection, actor: &Actor, name: &str) -> Result<User, UserError> {
    change(conn, actor, name, Action::UserDisabled, true, |conn, id| {
        diesel::update(users::table.find(id).filter(users::disabled_at.is_null()))
            .set(users::disabled_at.eq(diesel::dsl::now))
            .execute(conn)
    })
}

pub fn enable(conn: &mut PgConnection, actor: &Actor, name: &str) -> Result<User, UserError> {
    change(conn, actor, name, Action::UserEnabled, false, |conn, id| {
        diesel::update(users::table.find(id))
            .set(users::disabled_at.eq(None::<DateTime<Utc>>))
            .execute(conn)
    })
}

/// Sets a new password; every session of the user ends.
pub fn set_password(
    conn: &mut PgConnection,
    actor: &Actor,
    name: &str,
    password: &Password,
) -> Result<User, UserError> {
    let hash = password::hash(password.expose())?;
    change(
        conn,
        actor,
        name,
        Action::UserPasswordChanged,
        true,
        |conn, id| {
            diesel::update(users::table.find(id))
                .set(users::password_hash.eq(&hash))
                .execute(conn)
        },
    )
}

/// Sets (or with `None` removes) a user's PIN: a cashier's quick login, a
/// supervisor's signature on a cashier's device (never their login).
pub fn set_pin(
    conn: &mut PgConnection,
    actor: &Actor,
    name: &str,
    pin: Option<&Pin>,
) -> Result<User, UserError> {
    let hash = pin.map(|pin| password::hash(pin.expose())).transpose()?;
    change(
        conn,
        actor,
        name,
        Action::UserPinChanged,
        true,
        |conn, id| {
            diesel::update(users::table.find(id))
                .set(users::pin_hash.eq(&hash))
                .execute(conn)
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_include_the_ones_below() {
        assert!(Role::Admin.includes(Role::Supervisor));
        assert!(Role::Admin.includes(Role::Cajero));
        assert!(Role::Supervisor.includes(Role::Cajero));
        assert!(!Role::Supervisor.includes(Role::Admin));
        assert!(!Role::Cajero.includes(Role::Supervisor));
    }

    #[test]
    fn user_names() {
        assert!(UserName::parse("ana").is_ok());
        assert!(UserName::parse("ana.perez_2").is_ok());
        assert!(UserName::parse("a").is_err());
        assert!(UserName::parse("ana perez").is_err());
        assert!(UserName::parse(".ana").is_err());
        assert!(UserName::parse("añá").is_err());
    }
}
