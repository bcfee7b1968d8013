//! `cajahub restore FILE`: into a new database first, then swapped in.
//!
//! Restoring over a live schema (`pg_restore -c`, the seed's PASO 7) fails
//! once the migrations have added tables that reference the old ones and
//! changed column types; restoring beside it and renaming cannot: the
//! restored database is exactly the dump, and the one it replaces is kept.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use diesel::RunQueryDsl;
use diesel::sql_types::{BigInt, Text};

use super::tools::{self, Target};
use super::{BackupError, list, stderr_of};
use crate::db::migrations;

/// How many times (100 ms apart) open connections are counted before the
/// database is called in use: ones closing as the restore starts are let go.
const CLOSING_POLLS: u32 = 30;
/// PostgreSQL's longest identifier.
const MAX_NAME: usize = 63;

#[derive(Debug, Clone, Default)]
pub struct RestoreOptions {
    /// Restore into this database of the same server instead of the URL's.
    pub into: Option<String>,
    /// Restore over a database that has tables (it is kept, renamed).
    pub replace: bool,
    /// Ask nothing.
    pub yes: bool,
    pub pg_bin: Option<PathBuf>,
}

/// What a restore did.
#[derive(Debug)]
pub struct Restored {
    pub database: String,
    /// The database that was there before, kept under this name.
    pub kept_as: Option<String>,
    /// Migrations applied after the restore (a dump of cajahub), or `None`
    /// for a dump from before cajahub, left exactly as it was.
    pub migrated: Option<Vec<String>>,
}

/// Restores `file` into the database of `url` (created if missing).
/// `confirm` is asked, with what is about to happen, unless `options.yes`.
pub fn restore(
    url: &str,
    file: &Path,
    options: &RestoreOptions,
    confirm: impl FnOnce(&str) -> bool,
) -> Result<Restored, BackupError> {
    let mut target = Target::parse(url)?;
    if let Some(name) = &options.into {
        let name = name.trim();
        if name.is_empty() || name.len() > MAX_NAME || name.chars().any(char::is_control) {
            return Err(BackupError::BadUrl(format!(
                "--into must be a database name of 1 to {MAX_NAME} characters"
            )));
        }
        target = target.with_database(name);
    }
    let database = target.database();
    let maintenance = target.with_database("postgres");
    let mut admin = maintenance.connect()?;
    let major = tools::server_major(&mut admin)?;
    let pg_restore = tools::program("pg_restore", major, options.pg_bin.as_deref())?;
    let contents = list(&pg_restore, file)?;
    let is_cajahub = contents
        .iter()
        .any(|entry| entry.contains("TABLE public __diesel_schema_migrations "));

    let exists = count(
        &mut admin,
        "SELECT count(*) AS n FROM pg_database WHERE datname = $1",
        &database,
    )? > 0;
    let tables = if exists { tables_in(&target)? } else { 0 };
    if tables > 0 && !options.replace {
        return Err(BackupError::HasData { database, tables });
    }
    let stamp = chrono::Local::now().format("%Y%m%d_%H%M%S").to_string();
    let kept_as = (tables > 0).then(|| name_with(&database, &format!("_antes_{stamp}")));
    if !options.yes {
        let plan = match &kept_as {
            Some(kept) => format!(
                "Restore {} into {database}, which has {tables} table(s): it will be kept as {kept}.",
                file.display()
            ),
            None => format!("Restore {} into {database}.", file.display()),
        };
        if !confirm(&plan) {
            return Err(BackupError::NotConfirmed);
        }
    }
    if exists {
        // A client that just disconnected lingers a moment in pg_stat_activity.
        let mut connections = 0;
        for _ in 0..CLOSING_POLLS {
            connections = count(
                &mut admin,
                "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
                &database,
            )?;
            if connections == 0 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        if connections > 0 {
            return Err(BackupError::InUse {
                database,
                connections,
            });
        }
    }

    let staging = name_with(&database, &format!("_restaurando_{stamp}"));
    execute(&mut admin, &format!("CREATE DATABASE {}", quoted(&staging)))?;
    let output = target
        .with_database(&staging)
        .run(
            &pg_restore,
            &[
                OsStr::new("--exit-on-error"),
                OsStr::new("--single-transaction"),
                file.as_os_str(),
            ],
        )
        .map_err(|err| err.to_string());
    let failure = match output {
        Ok(output) if output.status.success() => None,
        Ok(output) => Some(stderr_of(&output)),
        Err(err) => Some(err),
    };
    if let Some(detail) = failure {
        let _ = execute(&mut admin, &format!("DROP DATABASE {}", quoted(&staging)));
        return Err(BackupError::Restore(detail));
    }

    // The swap: the old database aside (kept, or dropped when it had no
    // tables), the restored one under the real name.
    let swapped = (|| {
        if exists {
            match &kept_as {
                Some(kept) => execute(
                    &mut admin,
                    &format!(
                        "ALTER DATABASE {} RENAME TO {}",
                        quoted(&database),
                        quoted(kept)
                    ),
                )?,
                None => execute(&mut admin, &format!("DROP DATABASE {}", quoted(&database)))?,
            }
        }
        execute(
            &mut admin,
            &format!(
                "ALTER DATABASE {} RENAME TO {}",
                quoted(&staging),
                quoted(&database)
            ),
        )
    })();
    if let Err(err) = swapped {
        let _ = execute(&mut admin, &format!("DROP DATABASE {}", quoted(&staging)));
        return Err(BackupError::Restore(err.to_string()));
    }

    let migrated = if is_cajahub {
        let mut conn = target.connect()?;
        let applied = migrations::run_pending(&mut conn)
            .map_err(|err| BackupError::Migrate(err.to_string()))?;
        Some(applied)
    } else {
        None
    };
    Ok(Restored {
        database,
        kept_as,
        migrated,
    })
}

/// User tables in the database (anything outside PostgreSQL's own schemas).
fn tables_in(target: &Target) -> Result<i64, BackupError> {
    diesel::sql_query(
        "SELECT count(*) AS n FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace
          WHERE c.relkind IN ('r', 'p') AND s.nspname NOT IN ('pg_catalog', 'information_schema')
            AND s.nspname NOT LIKE 'pg_toast%'",
    )
    .get_result::<Count>(&mut target.connect()?)
    .map(|c| c.n)
    .map_err(|err| BackupError::Query(err.to_string()))
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

fn count(conn: &mut diesel::PgConnection, sql: &str, bind: &str) -> Result<i64, BackupError> {
    diesel::sql_query(sql)
        .bind::<Text, _>(bind)
        .get_result::<Count>(conn)
        .map(|c| c.n)
        .map_err(|err| BackupError::Query(err.to_string()))
}

fn execute(conn: &mut diesel::PgConnection, sql: &str) -> Result<(), BackupError> {
    diesel::sql_query(sql)
        .execute(conn)
        .map(|_| ())
        .map_err(|err| BackupError::Query(err.to_string()))
}

fn quoted(identifier: &str) -> String {
    format!("\"{}\"", identifier.replace('"', "\"\""))
}

/// `base` + `suffix`, cut so the whole fits PostgreSQL's identifier limit.
fn name_with(base: &str, suffix: &str) -> String {
    let room = MAX_NAME.saturating_sub(suffix.len());
    let mut cut = base.len().min(room);
    while !base.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}{suffix}", &base[..cut])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn side_names_fit_postgresql_identifiers() {
        assert_eq!(
            name_with("bimba_db", "_antes_20260101_000000"),
            "bimba_db_antes_20260101_000000"
        );
        let long = "x".repeat(60);
        assert_eq!(name_with(&long, "_antes_20260101_000000").len(), MAX_NAME);
        assert_eq!(quoted("a\"b"), "\"a\"\"b\"");
    }
}
