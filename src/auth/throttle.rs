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

    fn since(&self) -> DateTime<Utc> {
        Utc::now() - chrono::Duration::from_std(self.window).unwrap_or(chrono::Duration::MAX)
    }
}

/// When the account or the address may try again, if locked now.
pub fn locked_until(
    conn: &mut PgConnection,
    limits: &LoginLimits,
    account: &str,
    address: &str,
) -> QueryResult<Option<DateTime<Utc>>> {
    let since = limits.since();
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

pub fn record_failure(
    conn: &mut PgConnection,
    limits: &LoginLimits,
    account: &str,
    address: &str,
) -> QueryResult<()> {
    diesel::insert_into(login_failures::table)
        .values((
            login_failures::account.eq(account),
            login_failures::address.eq(address),
        ))
        .execute(conn)?;
    // Old rows of this account or address are of no use any more.
    diesel::delete(
        login_failures::table
            .filter(
                login_failures::account
                    .eq(account)
                    .or(login_failures::address.eq(address)),
            )
            .filter(login_failures::at.lt(limits.since())),
    )
    .execute(conn)?;
    Ok(())
}

/// A successful login clears the account's failures.
pub fn forget_account(conn: &mut PgConnection, account: &str) -> QueryResult<()> {
    diesel::delete(login_failures::table.filter(login_failures::account.eq(account)))
        .execute(conn)?;
    Ok(())
}

/// "15 minutos", "40 segundos": how long until `until`, for the message.
pub fn wait_message(until: DateTime<Utc>) -> String {
    let seconds = (until - Utc::now()).num_seconds().max(1);
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
