//! Refused closings, kept and counted. A count refused for being off by
//! more than the caja allows tells the cashier the expected cash lies
//! elsewhere, so repeated tries would find it (a blind count guessed, one
//! refusal at a time). Every refusal is audited, and after
//! [`MAX_REFUSED`] of one session within [`WINDOW`], only a supervisor may
//! close it.

use std::sync::{Arc, LazyLock};

use dashmap::DashMap;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

use crate::audit::{self, Action};
use crate::auth::user::User;
use crate::cajas::CajaId;
use crate::db::{self, DbError, PgPool};
use crate::money::Pesos;

/// Refused closings of one session a cashier may make before a supervisor
/// must close it.
pub const MAX_REFUSED: i64 = 3;
/// Over how long they are counted.
pub const WINDOW: &str = "15 minutes";

/// Closings by cashiers of one caja, one at a time in this hub: parallel
/// tries cannot slip past the count between its check and its audit.
static CLOSING: LazyLock<DashMap<CajaId, Arc<tokio::sync::Mutex<()>>>> =
    LazyLock::new(DashMap::new);

/// Held while a cashier's closing of `caja` is checked, tried and audited.
pub async fn one_at_a_time(caja: CajaId) -> tokio::sync::OwnedMutexGuard<()> {
    let lock = CLOSING.entry(caja).or_default().clone();
    lock.lock_owned().await
}

/// Refused closings of `session` within the window.
pub async fn recent(pool: &PgPool, session: i32) -> Result<i64, DbError> {
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    db::run(pool, move |conn| {
        diesel::sql_query(format!(
            "SELECT count(*) AS n FROM audit_log WHERE action = $1 AND entity_id = $2 \
             AND at > now() - interval '{WINDOW}'"
        ))
        .bind::<Text, _>(Action::SessionCloseRefused.as_str())
        .bind::<Text, _>(session.to_string())
        .get_result::<Count>(conn)
        .map(|count| count.n)
    })
    .await?
    .map_err(DbError::Query)
}

/// Audits a refused closing of `session` by `by`: what was counted and why
/// it was refused (the code the cashier was answered).
pub async fn record(
    pool: &PgPool,
    by: &User,
    session: i32,
    count: Pesos,
    why: &'static str,
) -> Result<(), DbError> {
    let actor = by.actor();
    db::run(pool, move |conn| {
        audit::record(
            conn,
            &actor,
            Action::SessionCloseRefused,
            session,
            None::<&()>,
            Some(&serde_json::json!({ "cash_count": count.get(), "refused": why })),
        )
    })
    .await?
    .map_err(DbError::Query)
}
