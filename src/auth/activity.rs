//! When each login was last used, kept in memory and written to
//! `logins.last_seen_at` in the background, a batch at a time, never on a
//! request's path: a client that keeps its first cookie (an API POS, a
//! script) costs no statement per request, and a request never waits for
//! another of its login. The idle limit is decided from what the hub saw
//! (the cookie's time, or later), and after a restart from the row.

use std::time::Duration;

use chrono::{DateTime, Utc};
use dashmap::DashMap;
use diesel::prelude::*;
use diesel::sql_types::{Array, Timestamptz, Uuid as SqlUuid};
use uuid::Uuid;

use crate::db::{self, DbError, PgPool};

/// How often the logins seen are written (and so how stale the admin's
/// list of open logins may be).
pub const WRITE_EVERY: Duration = Duration::from_secs(60);

/// The logins seen, and those not yet written.
#[derive(Debug, Default)]
pub struct Activity {
    /// Login → when it was last used (ms since the epoch, the hub's clock).
    seen: DashMap<Uuid, i64>,
    /// The same, for the logins used since the last write.
    unwritten: DashMap<Uuid, i64>,
}

impl Activity {
    /// Login `login` was used at `at` (ms).
    pub fn seen(&self, login: Uuid, at: i64) {
        let mut latest = self.seen.entry(login).or_insert(at);
        *latest = (*latest).max(at);
        self.unwritten.insert(login, *latest);
    }

    /// When login `login` was last used, as this hub saw it.
    pub fn last_seen(&self, login: Uuid) -> Option<i64> {
        self.seen.get(&login).map(|at| *at)
    }

    /// Forgets a login that ended.
    pub fn forget(&self, login: Uuid) {
        self.seen.remove(&login);
        self.unwritten.remove(&login);
    }

    /// Writes every login used since the last write, in one statement, and
    /// forgets those unused for longer than `keep` (their sessions are over
    /// whatever happens); how many were written.
    pub async fn write(&self, pool: &PgPool, now: i64, keep: Duration) -> Result<usize, DbError> {
        let oldest = now - keep.as_millis() as i64;
        self.seen.retain(|_, at| *at >= oldest);
        let batch: Vec<(Uuid, i64)> = self
            .unwritten
            .iter()
            .map(|entry| (*entry.key(), *entry.value()))
            .collect();
        if batch.is_empty() {
            return Ok(0);
        }
        let (ids, times): (Vec<Uuid>, Vec<DateTime<Utc>>) = batch
            .iter()
            .map(|(id, at)| {
                (
                    *id,
                    DateTime::from_timestamp_millis(*at).unwrap_or_default(),
                )
            })
            .unzip();
        let written = db::run(pool, move |conn| {
            diesel::sql_query(
                "UPDATE logins SET last_seen_at = seen.at \
                 FROM unnest($1, $2) AS seen(id, at) \
                 WHERE logins.id = seen.id AND logins.last_seen_at < seen.at",
            )
            .bind::<Array<SqlUuid>, _>(ids)
            .bind::<Array<Timestamptz>, _>(times)
            .execute(conn)
        })
        .await?
        .map_err(DbError::Query)?;
        // Unless used again meanwhile, they are written now.
        for (id, at) in batch {
            self.unwritten.remove_if(&id, |_, latest| *latest == at);
        }
        Ok(written)
    }

    /// Writes what was seen every [`WRITE_EVERY`], until the hub stops.
    pub async fn keep_writing(
        self: std::sync::Arc<Self>,
        pool: PgPool,
        clock: crate::clock::Clock,
        keep: Duration,
    ) {
        loop {
            tokio::time::sleep(WRITE_EVERY).await;
            let now = clock.now().timestamp_millis();
            if let Err(err) = self.write(&pool, now, keep).await {
                // Kept in memory: written with the next batch.
                tracing::warn!(error = %err, "could not write when logins were last used");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_latest_use_is_kept_and_an_ended_login_forgotten() {
        let activity = Activity::default();
        let login = Uuid::from_u128(1);
        activity.seen(login, 2_000);
        activity.seen(login, 1_000);
        assert_eq!(activity.last_seen(login), Some(2_000), "never back in time");
        assert_eq!(activity.unwritten.get(&login).map(|at| *at), Some(2_000));
        activity.forget(login);
        assert_eq!(activity.last_seen(login), None);
        assert!(activity.unwritten.is_empty());
    }
}
