//! Login throttling: too many failures for one account name, or from one
//! address, within the window lock further attempts until the window has
//! passed since the last failure. Kept in PostgreSQL, so a restart or a
//! second node does not reset it.

use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::dsl::{count_star, max};
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

/// A login attempt admitted to the password check, counted as a failure
/// until it succeeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admitted(i64);

/// Admits an attempt of `account` from `address` at `now` (the hub's
/// clock), or says until when they are locked. The attempt is counted as a failure *before* its password
/// is checked, and attempts of one account or one address are counted one
/// at a time (advisory locks), so parallel attempts cannot race past the
/// limit.
pub fn admit(
    conn: &mut PgConnection,
    limits: &LoginLimits,
    account: &str,
    address: &str,
    now: DateTime<Utc>,
) -> QueryResult<Result<Admitted, DateTime<Utc>>> {
    conn.transaction(|conn| {
        for key in [
            format!("login account {account}"),
            format!("login address {address}"),
        ] {
            diesel::select(pg_advisory_xact_lock(hashtext(key))).execute(conn)?;
        }
        if let Some(until) = locked_until(conn, limits, account, address, now)? {
            return Ok(Err(until));
        }
        let id = diesel::insert_into(login_failures::table)
            .values((
                login_failures::account.eq(account),
                login_failures::address.eq(address),
                login_failures::at.eq(now),
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

/// The admitted attempt was right: it is no failure, and the account's
/// earlier failures are forgotten.
pub fn succeeded(conn: &mut PgConnection, attempt: Admitted, account: &str) -> QueryResult<()> {
    diesel::delete(
        login_failures::table.filter(
            login_failures::id
                .eq(attempt.0)
                .or(login_failures::account.eq(account)),
        ),
    )
    .execute(conn)?;
    Ok(())
}

diesel::define_sql_function!(fn pg_advisory_xact_lock(key: diesel::sql_types::Integer));
diesel::define_sql_function!(fn hashtext(text: diesel::sql_types::Text) -> diesel::sql_types::Integer);

/// When the account or the address may try again, if locked now.
fn locked_until(
    conn: &mut PgConnection,
    limits: &LoginLimits,
    account: &str,
    address: &str,
    now: DateTime<Utc>,
) -> QueryResult<Option<DateTime<Utc>>> {
    let since = limits.since(now);
    let window = chrono::Duration::from_std(limits.window).unwrap_or(chrono::Duration::MAX);
    let by_account: (i64, Option<DateTime<Utc>>) = login_failures::table
        .filter(login_failures::account.eq(account))
        .filter(login_failures::at.gt(since))
        .select((count_star(), max(login_failures::at)))
        .first(conn)?;
    let by_address: (i64, Option<DateTime<Utc>>) = login_failures::table
        .filter(login_failures::address.eq(address))
        .filter(login_failures::at.gt(since))
        .select((count_star(), max(login_failures::at)))
        .first(conn)?;
    let until = [
        (by_account, limits.per_account),
        (by_address, limits.per_address),
    ]
    .into_iter()
    .filter(|((failures, _), limit)| failures >= limit)
    .filter_map(|((_, last), _)| last.map(|last| last + window))
    .max();
    Ok(until)
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
