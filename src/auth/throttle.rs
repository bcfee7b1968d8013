//! Login throttling: too many failures for one account name, or from one
//! address, within the window lock further attempts until the window has
//! passed since the last failure. Kept in PostgreSQL, so a restart or a
//! second node does not reset it.

use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::db::schema::login_failures;

#[derive(Debug, Clone, Copy)]
pub struct LoginLimits {
    pub window: Duration,
    pub per_account: i64,
    pub per_address: i64,
}

impl LoginLimits {
    pub fn new(window: Duration) -> Self {
        Self {
            window,
            per_account: 5,
            per_address: 20,
        }
    }

    fn since(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now - chrono::Duration::from_std(self.window).unwrap_or(chrono::Duration::MAX)
    }
}

/// A login attempt admitted to the password check: recorded as being
/// checked until it is known to be a failure ([`failed`]) or not
/// ([`succeeded`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admitted(i64);

/// Why an attempt was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotYet {
    /// Too many failures: locked until then.
    Locked(DateTime<Utc>),
    /// Attempts being checked now could reach the limit if they fail: try
    /// again when they are decided (a right one must not be refused for
    /// attempts that may be right too, nor a wrong one slip past the limit).
    Wait,
}

/// An attempt still being checked after this long was cut short (its
/// process died): it counts as a failure.
const CHECK_ABANDONED: chrono::Duration = chrono::Duration::seconds(60);

/// Admits an attempt of `account` from `address` at `now` (the hub's
/// clock), or says why not. Attempts of one account or one address are
/// decided one at a time (advisory locks), counting the failures and the
/// attempts being checked, so parallel attempts cannot race past the limit.
pub fn admit(
    conn: &mut PgConnection,
    limits: &LoginLimits,
    account: &str,
    address: &str,
    now: DateTime<Utc>,
) -> QueryResult<Result<Admitted, NotYet>> {
    conn.transaction(|conn| {
        for key in [
            format!("login account {account}"),
            format!("login address {address}"),
        ] {
            diesel::select(pg_advisory_xact_lock(hashtext(key))).execute(conn)?;
        }
        if let Some(not_yet) = not_yet(conn, limits, account, address, now)? {
            return Ok(Err(not_yet));
        }
        let id = diesel::insert_into(login_failures::table)
            .values((
                login_failures::account.eq(account),
                login_failures::address.eq(address),
                login_failures::at.eq(now),
                login_failures::checking.eq(true),
            ))
            .returning(login_failures::id)
            .get_result(conn)?;
        // Old rows of this account or address are of no use any more.
        diesel::delete(
            login_failures::table
                .filter(
                    login_failures::account
                        .eq(account)
                        .or(login_failures::address.eq(address)),
                )
                .filter(login_failures::at.lt(limits.since(now))),
        )
        .execute(conn)?;
        Ok(Ok(Admitted(id)))
    })
}

/// How long an attempt waits for the ones in flight before it is told to
/// come back (the password checkers take well under a second each).
const WAIT_AT_MOST: std::time::Duration = std::time::Duration::from_secs(5);
/// How often a waiting attempt looks again.
const LOOK_AGAIN: std::time::Duration = std::time::Duration::from_millis(50);

/// What became of an attempt at the door.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Admitted(Admitted),
    Locked(DateTime<Utc>),
    /// The attempts in flight took too long to decide: come back later.
    Busy,
}

/// [`admit`], waiting while attempts in flight decide the limit.
pub async fn admit_when_decided(
    pool: &crate::db::PgPool,
    limits: LoginLimits,
    account: &str,
    address: &str,
    now: DateTime<Utc>,
) -> Result<Decision, crate::db::DbError> {
    let started = std::time::Instant::now();
    loop {
        let (account, address) = (account.to_owned(), address.to_owned());
        let decided = crate::db::run(pool, move |conn| {
            admit(conn, &limits, &account, &address, now)
        })
        .await?
        .map_err(crate::db::DbError::Query)?;
        match decided {
            Ok(admitted) => return Ok(Decision::Admitted(admitted)),
            Err(NotYet::Locked(until)) => return Ok(Decision::Locked(until)),
            Err(NotYet::Wait) if started.elapsed() < WAIT_AT_MOST => {
                tokio::time::sleep(LOOK_AGAIN).await;
            }
            Err(NotYet::Wait) => return Ok(Decision::Busy),
        }
    }
}

/// The admitted attempt was not checked after all (the checkers were busy):
/// it is neither a failure nor a success.
pub fn withdrawn(conn: &mut PgConnection, attempt: Admitted) -> QueryResult<()> {
    diesel::delete(login_failures::table.find(attempt.0)).execute(conn)?;
    Ok(())
}

/// The admitted attempt was wrong: a failure, from `now`.
pub fn failed(conn: &mut PgConnection, attempt: Admitted, now: DateTime<Utc>) -> QueryResult<()> {
    diesel::update(login_failures::table.find(attempt.0))
        .set((
            login_failures::checking.eq(false),
            login_failures::at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// The admitted attempt was right: it is no failure, and the account's
/// earlier failures are forgotten.
pub fn succeeded(conn: &mut PgConnection, attempt: Admitted, account: &str) -> QueryResult<()> {
    diesel::delete(
        login_failures::table.filter(
            login_failures::id.eq(attempt.0).or(login_failures::account
                .eq(account)
                .and(login_failures::checking.eq(false))),
        ),
    )
    .execute(conn)?;
    Ok(())
}

diesel::define_sql_function!(fn pg_advisory_xact_lock(key: diesel::sql_types::Integer));
diesel::define_sql_function!(fn hashtext(text: diesel::sql_types::Text) -> diesel::sql_types::Integer);

/// Whether the account or the address must wait, or is locked (and until when).
fn not_yet(
    conn: &mut PgConnection,
    limits: &LoginLimits,
    account: &str,
    address: &str,
    now: DateTime<Utc>,
) -> QueryResult<Option<NotYet>> {
    let since = limits.since(now);
    let abandoned = now - CHECK_ABANDONED;
    let window = chrono::Duration::from_std(limits.window).unwrap_or(chrono::Duration::MAX);
    let rows = |conn: &mut PgConnection, by_account: bool| {
        let mut query = login_failures::table
            .filter(login_failures::at.gt(since))
            .select((login_failures::at, login_failures::checking))
            .into_boxed();
        query = if by_account {
            query.filter(login_failures::account.eq(account))
        } else {
            query.filter(login_failures::address.eq(address))
        };
        query.load::<(DateTime<Utc>, bool)>(conn)
    };
    let mut until = None;
    let mut wait = false;
    for (rows, limit) in [
        (rows(conn, true)?, limits.per_account),
        (rows(conn, false)?, limits.per_address),
    ] {
        let is_failure = |(at, checking): &&(DateTime<Utc>, bool)| !checking || *at < abandoned;
        let failures = rows.iter().filter(is_failure).count() as i64;
        let checking = rows.len() as i64 - failures;
        if failures >= limit {
            let last = rows.iter().filter(is_failure).map(|(at, _)| *at).max();
            until = until.max(last.map(|last| last + window));
        } else if failures + checking >= limit {
            wait = true;
        }
    }
    Ok(match (until, wait) {
        (Some(until), _) => Some(NotYet::Locked(until)),
        (None, true) => Some(NotYet::Wait),
        (None, false) => None,
    })
}

/// "15 minutos", "40 segundos": how long `remaining` is, for the message.
pub fn wait_message(remaining: chrono::Duration) -> String {
    let seconds = remaining.num_seconds().max(1);
    if seconds < 60 {
        format!("{seconds} segundos")
    } else {
        let minutes = (seconds + 59) / 60;
        if minutes == 1 {
            "1 minuto".into()
        } else {
            format!("{minutes} minutos")
        }
    }
}
