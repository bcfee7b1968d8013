//! Logins as rows of `logins`: the session cookie names its login, every
//! request checks the login is still open, logging out ends it on the
//! server (a copied cookie stops working), and an admin can see a user's
//! open logins and end any of them.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use super::user::{User, UserId};
use crate::audit::{self, Action, Actor};
use crate::db::schema::{logins, users};

/// How often a login's `last_seen_at` is written (`activity::WRITE_EVERY`):
/// the grace the admin's list of open logins gives it.
pub const SEEN_EVERY: chrono::Duration = chrono::Duration::minutes(1);
/// The longest user agent kept.
const USER_AGENT_CHARS: usize = 200;

/// Why a login ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// The user logged out.
    LoggedOut,
    /// An admin ended it.
    ByAdmin,
    /// Its account changed: disabled, or its password or PIN changed.
    AccountChanged,
}

impl EndReason {
    fn as_str(self) -> &'static str {
        match self {
            EndReason::LoggedOut => "salida",
            EndReason::ByAdmin => "administrador",
            EndReason::AccountChanged => "cuenta",
        }
    }
}

/// Where a login came from.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    pub address: String,
    pub user_agent: String,
}

/// Opens a login for `user`; its id goes in the cookie.
pub fn open(conn: &mut PgConnection, user: UserId, origin: &Origin) -> QueryResult<Uuid> {
    let id = Uuid::new_v4();
    let agent: String = origin
        .user_agent
        .chars()
        .filter(|c| !c.is_control())
        .take(USER_AGENT_CHARS)
        .collect();
    diesel::insert_into(logins::table)
        .values((
            logins::id.eq(id),
            logins::user_id.eq(user),
            logins::address.eq(&origin.address),
            logins::user_agent.eq(agent),
        ))
        .execute(conn)?;
    Ok(id)
}

/// The user of login `id`, if the login is still open.
pub fn user_of(conn: &mut PgConnection, id: Uuid) -> QueryResult<Option<User>> {
    Ok(user_and_last_seen(conn, id)?.map(|(user, _)| user))
}

/// The user of login `id`, if the login is still open, and when the login
/// was last used as its row says (written in the background:
/// `activity::Activity`).
pub fn user_and_last_seen(
    conn: &mut PgConnection,
    id: Uuid,
) -> QueryResult<Option<(User, DateTime<Utc>)>> {
    logins::table
        .inner_join(users::table.on(users::id.eq(logins::user_id)))
        .filter(logins::id.eq(id))
        .filter(logins::ended_at.is_null())
        .select((User::as_select(), logins::last_seen_at))
        .first(conn)
        .optional()
}

/// Ends login `id` (nothing if it ended already); true when it was open.
pub fn end(
    conn: &mut PgConnection,
    id: Uuid,
    reason: EndReason,
    by: Option<UserId>,
) -> QueryResult<bool> {
    let ended = diesel::update(logins::table.find(id).filter(logins::ended_at.is_null()))
        .set((
            logins::ended_at.eq(diesel::dsl::now),
            logins::end_reason.eq(reason.as_str()),
            logins::ended_by.eq(by),
        ))
        .execute(conn)?;
    Ok(ended == 1)
}

/// Ends every open login of `user` (its account changed); how many.
pub fn end_all(conn: &mut PgConnection, user: UserId) -> QueryResult<usize> {
    diesel::update(
        logins::table
            .filter(logins::user_id.eq(user))
            .filter(logins::ended_at.is_null()),
    )
    .set((
        logins::ended_at.eq(diesel::dsl::now),
        logins::end_reason.eq(EndReason::AccountChanged.as_str()),
    ))
    .execute(conn)
}

/// A login as an admin sees it.
#[derive(Debug, Clone, Queryable)]
pub struct OpenLogin {
    pub id: Uuid,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub address: String,
    pub user_agent: String,
}

/// The user's logins that are open and not yet expired by the idle or the
/// absolute limit, newest first.
pub fn open_of(
    conn: &mut PgConnection,
    user: UserId,
    idle: std::time::Duration,
    absolute: std::time::Duration,
) -> QueryResult<Vec<OpenLogin>> {
    let now = Utc::now();
    let limit =
        |d: std::time::Duration| chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX);
    logins::table
        .filter(logins::user_id.eq(user))
        .filter(logins::ended_at.is_null())
        .filter(logins::created_at.gt(now - limit(absolute)))
        // Written once a minute: a minute's grace.
        .filter(logins::last_seen_at.gt(now - limit(idle) - SEEN_EVERY))
        .order(logins::created_at.desc())
        .select((
            logins::id,
            logins::created_at,
            logins::last_seen_at,
            logins::address,
            logins::user_agent,
        ))
        .load(conn)
}

/// An admin ends one of `user`'s logins; audited. False when it was not
/// an open login of that user.
pub fn end_by_admin(
    conn: &mut PgConnection,
    admin: &Actor,
    user: UserId,
    login: Uuid,
) -> QueryResult<bool> {
    conn.transaction(|conn| {
        let owner: Option<i32> = logins::table
            .find(login)
            .filter(logins::ended_at.is_null())
            .select(logins::user_id)
            .first(conn)
            .optional()?;
        if owner != Some(user.0) {
            return Ok(false);
        }
        end(conn, login, EndReason::ByAdmin, admin.id)?;
        audit::record(
            conn,
            admin,
            Action::LoginEnded,
            user,
            None::<&()>,
            Some(&serde_json::json!({ "login": login })),
        )?;
        Ok(true)
    })
}
