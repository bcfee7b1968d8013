//! `cajahub restore FILE`: into a new database first, then swapped in.
//!
//! Restoring over a live schema (`pg_restore -c`, the seed's PASO 7) fails
//! once the migrations have added tables that reference the old ones and
//! changed column types; restoring beside it and renaming cannot: the
//! restored database is exactly the dump, and the one it replaces is kept.
//! What a database is beyond its contents (its owner, its `ALTER DATABASE
//! … SET` settings, its grants, its comment) is carried over from the one
//! it replaces, so the old app's role finds its database as it left it.

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

    let properties = if exists {
        Some(Properties::of(&mut admin, &database)?)
    } else {
        None
    };
    may_restore(&mut admin, &database, exists, properties.as_ref())?;
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
    let failure = failure.or_else(|| {
        let properties = properties.as_ref()?;
        properties.apply(&mut admin, &staging).err().map(|err| {
            format!("could not give the restored database its owner and settings: {err}")
        })
    });
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

/// The rights a restore needs, checked before anything is done, each named
/// with how to get it: making a database, and (over an existing one)
/// renaming it aside and handing the new one to its owner.
fn may_restore(
    admin: &mut diesel::PgConnection,
    database: &str,
    exists: bool,
    properties: Option<&Properties>,
) -> Result<(), BackupError> {
    #[derive(diesel::QueryableByName)]
    struct Rights {
        #[diesel(sql_type = Text)]
        name: String,
        #[diesel(sql_type = diesel::sql_types::Bool)]
        superuser: bool,
        #[diesel(sql_type = diesel::sql_types::Bool)]
        createdb: bool,
    }
    let rights: Rights = diesel::sql_query(
        "SELECT current_user::text AS name, rolsuper AS superuser, rolcreatedb AS createdb
           FROM pg_roles WHERE rolname = current_user",
    )
    .get_result(admin)
    .map_err(|err| BackupError::Query(err.to_string()))?;
    if rights.superuser {
        return Ok(());
    }
    let as_superuser = "or run the restore as PostgreSQL's superuser (sudo -u postgres env DATABASE_URL=postgres:///… cajahub restore …)";
    if !rights.createdb {
        return Err(BackupError::MissingRight(format!(
            "the role {} may not create databases: it needs CREATEDB (ALTER ROLE {} CREATEDB;), {as_superuser}",
            rights.name,
            quoted(&rights.name)
        )));
    }
    if let (true, Some(properties)) = (exists, properties) {
        let member = count(
            admin,
            "SELECT count(*) AS n FROM pg_roles WHERE rolname = $1 AND pg_has_role(current_user, oid, 'MEMBER')",
            &properties.owner,
        )? > 0;
        if !member {
            return Err(BackupError::MissingRight(format!(
                "{database} belongs to {owner}, and the role {name} can neither rename it aside nor hand the restored one to {owner}: \
                 it needs to be a member of {owner} (GRANT {owner_q} TO {name_q};), {as_superuser}",
                owner = properties.owner,
                name = rights.name,
                owner_q = quoted(&properties.owner),
                name_q = quoted(&rights.name),
            )));
        }
    }
    Ok(())
}

/// What a database is beyond its contents, as `ALTER DATABASE`, `GRANT`
/// and `COMMENT` give it again to another database.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Properties {
    owner: String,
    /// `ALTER DATABASE … SET` (`None`) and `ALTER ROLE … IN DATABASE … SET`.
    settings: Vec<(Option<String>, String, String)>,
    /// `None` when the database has PostgreSQL's default privileges.
    grants: Option<Vec<Grant>>,
    comment: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, diesel::QueryableByName)]
struct Grant {
    /// Empty for PUBLIC.
    #[diesel(sql_type = Text)]
    grantee: String,
    #[diesel(sql_type = Text)]
    privilege: String,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    grantable: bool,
}

impl Properties {
    fn of(conn: &mut diesel::PgConnection, database: &str) -> Result<Self, BackupError> {
        use diesel::sql_types::{Bool, Nullable};
        #[derive(diesel::QueryableByName)]
        struct Row {
            #[diesel(sql_type = Text)]
            owner: String,
            #[diesel(sql_type = Nullable<Text>)]
            comment: Option<String>,
            #[diesel(sql_type = Bool)]
            default_grants: bool,
        }
        #[derive(diesel::QueryableByName)]
        struct Setting {
            #[diesel(sql_type = Nullable<Text>)]
            role: Option<String>,
            #[diesel(sql_type = Text)]
            setting: String,
        }
        let query = |err: diesel::result::Error| BackupError::Query(err.to_string());
        let row: Row = diesel::sql_query(
            "SELECT pg_get_userbyid(datdba)::text AS owner,
                    shobj_description(oid, 'pg_database') AS comment,
                    datacl IS NULL AS default_grants
               FROM pg_database WHERE datname = $1",
        )
        .bind::<Text, _>(database)
        .get_result(conn)
        .map_err(query)?;
        let settings = diesel::sql_query(
            "SELECT r.rolname::text AS role, unnest(s.setconfig) AS setting
               FROM pg_db_role_setting s
               JOIN pg_database d ON d.oid = s.setdatabase
               LEFT JOIN pg_roles r ON r.oid = s.setrole
              WHERE d.datname = $1
              ORDER BY 1 NULLS FIRST, 2",
        )
        .bind::<Text, _>(database)
        .load::<Setting>(conn)
        .map_err(query)?
        .into_iter()
        .filter_map(|s| {
            let (name, value) = s.setting.split_once('=')?;
            Some((s.role, name.to_owned(), value.to_owned()))
        })
        .collect();
        let grants = if row.default_grants {
            None
        } else {
            Some(
                diesel::sql_query(
                    "SELECT coalesce(pg_get_userbyid(NULLIF(a.grantee, 0))::text, '') AS grantee,
                            a.privilege_type::text AS privilege, a.is_grantable AS grantable
                       FROM pg_database d, aclexplode(d.datacl) a
                      WHERE d.datname = $1 ORDER BY 1, 2",
                )
                .bind::<Text, _>(database)
                .load::<Grant>(conn)
                .map_err(query)?,
            )
        };
        Ok(Self {
            owner: row.owner,
            settings,
            grants,
            comment: row.comment,
        })
    }

    /// Gives `database` these properties.
    fn apply(&self, conn: &mut diesel::PgConnection, database: &str) -> Result<(), BackupError> {
        let target = quoted(database);
        execute(
            conn,
            &format!("ALTER DATABASE {target} OWNER TO {}", quoted(&self.owner)),
        )?;
        for (role, name, value) in &self.settings {
            let set = format!("SET {} TO {}", quoted(name), literal(value));
            match role {
                None => execute(conn, &format!("ALTER DATABASE {target} {set}"))?,
                Some(role) => execute(
                    conn,
                    &format!("ALTER ROLE {} IN DATABASE {target} {set}", quoted(role)),
                )?,
            }
        }
        if let Some(grants) = &self.grants {
            execute(
                conn,
                &format!("REVOKE ALL ON DATABASE {target} FROM PUBLIC"),
            )?;
            execute(
                conn,
                &format!(
                    "REVOKE ALL ON DATABASE {target} FROM {}",
                    quoted(&self.owner)
                ),
            )?;
            for grant in grants {
                let grantee = match grant.grantee.as_str() {
                    "" => "PUBLIC".to_owned(),
                    role => quoted(role),
                };
                let option = if grant.grantable {
                    " WITH GRANT OPTION"
                } else {
                    ""
                };
                execute(
                    conn,
                    &format!(
                        "GRANT {} ON DATABASE {target} TO {grantee}{option}",
                        grant.privilege
                    ),
                )?;
            }
        }
        if let Some(comment) = &self.comment {
            execute(
                conn,
                &format!("COMMENT ON DATABASE {target} IS {}", literal(comment)),
            )?;
        }
        Ok(())
    }
}

/// A string as an SQL literal.
fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
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
