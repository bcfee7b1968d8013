//! `cajahub backup` and `cajahub restore` (the runbook's PASO 1 and PASO 7),
//! run as an operator runs them: the binary against a real PostgreSQL.

use std::path::Path;
use std::process::Output;

use cajahub::auth::user::Role;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

use crate::cli::cajahub;
use crate::helpers::{TestApp, TestDb, admin_url, url_for};

pub(crate) fn says(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// `cajahub backup` into `dir`; the file it names.
pub(crate) fn back_up(url: &str, dir: &Path) -> std::path::PathBuf {
    let output = cajahub(&["backup", "--dir", dir.to_str().unwrap()], url);
    assert!(output.status.success(), "{}", says(&output));
    let files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(files.len(), 1, "one file, no partial left: {files:?}");
    let file = files[0].clone();
    let name = file.file_name().unwrap().to_str().unwrap().to_owned();
    assert!(
        name.starts_with("backup_cajahub_") && name.ends_with(".dump") && name.len() == 35,
        "backup_cajahub_YYYYmmdd_HHMMSS.dump: {name}"
    );
    let said = says(&output);
    assert!(said.contains(file.to_str().unwrap()), "{said}");
    assert!(
        said.contains(" kB)") || said.contains(" MB)"),
        "its size: {said}"
    );
    file
}

#[derive(QueryableByName, Debug, PartialEq, Eq, Clone)]
pub(crate) struct Column {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    column_name: String,
    #[diesel(sql_type = Text)]
    data_type: String,
    #[diesel(sql_type = Text)]
    is_nullable: String,
    #[diesel(sql_type = Text)]
    column_default: String,
}

#[derive(QueryableByName)]
struct Rows {
    #[diesel(sql_type = Text)]
    digest: String,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// A database as a comparison sees it: every column of every table, and
/// each table's rows (count and digest of their text, in order).
pub(crate) fn picture(url: &str) -> (Vec<Column>, Vec<(String, i64, String)>) {
    let mut conn = PgConnection::establish(url).unwrap();
    let columns: Vec<Column> = diesel::sql_query(
        "SELECT table_name::text, column_name::text, data_type::text, is_nullable::text,
                coalesce(column_default, '')::text AS column_default
           FROM information_schema.columns WHERE table_schema = 'public'
          ORDER BY table_name, column_name",
    )
    .load(&mut conn)
    .unwrap();
    let mut tables: Vec<String> = columns.iter().map(|c| c.table_name.clone()).collect();
    tables.dedup();
    let rows = tables
        .into_iter()
        .map(|table| {
            let rows: Rows = diesel::sql_query(format!(
                "SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) AS digest, count(*) AS n FROM \"{table}\" t"
            ))
            .get_result(&mut conn)
            .unwrap();
            (table, rows.n, rows.digest)
        })
        .collect();
    (columns, rows)
}

/// Databases whose name starts with `prefix` (what a restore may leave).
fn databases_like(prefix: &str) -> Vec<String> {
    #[derive(QueryableByName)]
    struct Name {
        #[diesel(sql_type = Text)]
        datname: String,
    }
    let mut conn = PgConnection::establish(&admin_url()).unwrap();
    diesel::sql_query(
        "SELECT datname::text FROM pg_database WHERE starts_with(datname, $1) ORDER BY 1",
    )
    .bind::<Text, _>(prefix)
    .load::<Name>(&mut conn)
    .unwrap()
    .into_iter()
    .map(|n| n.datname)
    .collect()
}

fn drop_database(name: &str) {
    let mut conn = PgConnection::establish(&admin_url()).unwrap();
    diesel::sql_query(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .execute(&mut conn)
        .unwrap();
}

/// Drops the databases a test made beside its own, even when it fails.
pub(crate) struct Leftovers(pub(crate) String);

impl Drop for Leftovers {
    fn drop(&mut self) {
        for name in databases_like(&self.0) {
            drop_database(&name);
        }
    }
}

#[actix_web::test]
async fn a_backup_restored_into_a_new_database_has_the_same_rows() {
    let app = TestApp::spawn_as_admin().await;
    crate::reports::a_night(&app).await;
    app.log_in_as("cajera", Role::Cajero).await;
    let dir = tempfile::tempdir().unwrap();
    let file = back_up(&app.db.url(), dir.path());
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "a backup is its owner's alone: {mode:o}");
    }

    let copy = format!("{}_copia", app.db.name);
    let _leftovers = Leftovers(copy.clone());
    // Into another database of the same server, named on the command line.
    let output = cajahub(
        &["restore", "--yes", "--into", &copy, file.to_str().unwrap()],
        &app.db.url(),
    );
    assert!(output.status.success(), "{}", says(&output));
    assert!(
        says(&output).contains("Its schema is up to date."),
        "{}",
        says(&output)
    );
    let (original, restored) = (picture(&app.db.url()), picture(&url_for(&copy)));
    assert!(
        original.1.iter().any(|(t, n, _)| t == "sales" && *n > 0),
        "sales to compare"
    );
    assert_eq!(restored.0, original.0, "the same columns");
    assert_eq!(restored.1, original.1, "the same rows, table by table");
    assert_eq!(
        databases_like(&copy),
        vec![copy.clone()],
        "no staging database left"
    );
}

/// PASO 7 on a real upgrade: the legacy database is backed up, migrated and
/// used, then restored: it is the legacy database again, exactly.
#[test]
fn the_rollback_brings_the_database_from_before_the_upgrade_back_exactly() {
    let db = TestDb::pre_mvp1();
    let _leftovers = Leftovers(format!("{}_", db.name));
    let before = picture(&db.url());
    let dir = tempfile::tempdir().unwrap();
    let file = back_up(&db.url(), dir.path());

    let migrate = cajahub(&["migrate"], &db.url());
    assert!(migrate.status.success(), "{}", says(&migrate));
    db.connect()
        .batch_execute(
            "INSERT INTO pos_registers (name, code, updated_at) VALUES ('Nueva', 'NUEVA-1', now());
             UPDATE register_sessions SET initial_cash = 1 WHERE id = 1;",
        )
        .unwrap();
    let upgraded = picture(&db.url());
    assert_ne!(upgraded, before);

    // Not over a database with tables unless told; nothing changes.
    let refused = cajahub(&["restore", "--yes", file.to_str().unwrap()], &db.url());
    assert!(!refused.status.success());
    assert!(says(&refused).contains("already has"), "{}", says(&refused));
    assert!(says(&refused).contains("--replace"), "{}", says(&refused));
    assert_eq!(picture(&db.url()), upgraded, "nothing changed");

    let restored = cajahub(
        &["restore", "--replace", "--yes", file.to_str().unwrap()],
        &db.url(),
    );
    assert!(restored.status.success(), "{}", says(&restored));
    let said = says(&restored);
    assert!(said.contains("from before cajahub"), "{said}");
    assert_eq!(
        picture(&db.url()),
        before,
        "the legacy tables, columns and values"
    );
    // The upgraded database is kept aside, whole, and nothing else is left.
    let kept = databases_like(&format!("{}_antes_", db.name));
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert!(said.contains(&kept[0]), "{said}");
    assert_eq!(picture(&url_for(&kept[0])), upgraded);
    assert!(databases_like(&format!("{}_restaurando_", db.name)).is_empty());
}

#[test]
fn bad_backups_and_targets_are_refused_and_nothing_is_overwritten() {
    let db = TestDb::migrated();
    let _leftovers = Leftovers(format!("{}_", db.name));
    db.connect()
        .batch_execute("INSERT INTO pos_registers (name, code) VALUES ('Barra', 'B-1')")
        .unwrap();
    let before = picture(&db.url());
    let dir = tempfile::tempdir().unwrap();
    let good = back_up(&db.url(), dir.path());
    let target = format!("{}_destino", db.name);
    let target_url = url_for(&target);

    // A file that is not a dump, and a dump cut in half.
    let text = dir.path().join("notas.txt");
    std::fs::write(&text, "no es un respaldo").unwrap();
    let cut = dir.path().join("cortado.dump");
    let bytes = std::fs::read(&good).unwrap();
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    for file in [&text, &cut] {
        let output = cajahub(&["restore", "--yes", file.to_str().unwrap()], &target_url);
        assert!(!output.status.success(), "{}", file.display());
        let said = says(&output);
        assert!(
            said.contains("is not a backup pg_restore can read")
                || said.contains("the restore failed and nothing was changed"),
            "{said}"
        );
        assert!(databases_like(&target).is_empty(), "nothing made: {said}");
    }

    // Without a terminal and without --yes: asked, not confirmed.
    let output = cajahub(&["restore", good.to_str().unwrap()], &target_url);
    assert!(!output.status.success());
    assert!(says(&output).contains("add --yes"), "{}", says(&output));
    assert!(databases_like(&target).is_empty());

    // A database in use is not swapped out from under its users.
    let output = cajahub(&["restore", "--yes", good.to_str().unwrap()], &target_url);
    assert!(output.status.success(), "{}", says(&output));
    let _user = PgConnection::establish(&target_url).unwrap();
    let output = cajahub(
        &["restore", "--yes", "--replace", good.to_str().unwrap()],
        &target_url,
    );
    assert!(!output.status.success());
    assert!(
        says(&output).contains("connection(s) are open to"),
        "{}",
        says(&output)
    );

    // PostgreSQL's programs missing, or a URL that is not one.
    let output = cajahub(
        &[
            "backup",
            "--dir",
            dir.path().to_str().unwrap(),
            "--pg-bin",
            "/nonexistent",
        ],
        &db.url(),
    );
    assert!(!output.status.success());
    assert!(
        says(&output).contains("pg_dump is not installed"),
        "{}",
        says(&output)
    );
    assert!(
        says(&output).contains("apt-get install postgresql-client-"),
        "{}",
        says(&output)
    );
    // A pg_dump older than the server cannot dump it: named, with the package.
    let old_bin = tempfile::tempdir().unwrap();
    for program in ["pg_dump", "pg_restore"] {
        let path = old_bin.path().join(program);
        std::fs::write(
            &path,
            format!("#!/bin/sh\necho '{program} (PostgreSQL) 9.6.24'\n"),
        )
        .unwrap();
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
    }
    let folder = dir.path().to_str().unwrap();
    let old = old_bin.path().to_str().unwrap();
    let output = cajahub(&["backup", "--dir", folder, "--pg-bin", old], &db.url());
    assert!(!output.status.success());
    let said = says(&output);
    assert!(said.contains("is version 9 and the server is"), "{said}");
    assert!(said.contains("install postgresql-client-"), "{said}");
    let output = cajahub(
        &["backup", "--dir", dir.path().to_str().unwrap()],
        "mysql://x/y",
    );
    assert!(!output.status.success());
    assert!(says(&output).contains("postgres://"), "{}", says(&output));

    // A login without the right to read the tables: pg_dump's refusal, no file.
    let role = format!("{}_lector", db.name);
    let mut conn = db.connect();
    diesel::sql_query(format!("CREATE ROLE \"{role}\" LOGIN"))
        .execute(&mut conn)
        .unwrap();
    let no_rights = db.url().replacen("postgres@", &format!("{role}@"), 1);
    let empty = tempfile::tempdir().unwrap();
    let output = cajahub(
        &["backup", "--dir", empty.path().to_str().unwrap()],
        &no_rights,
    );
    diesel::sql_query(format!("DROP ROLE \"{role}\""))
        .execute(&mut conn)
        .unwrap();
    assert!(!output.status.success());
    assert!(
        says(&output).contains("permission denied"),
        "{}",
        says(&output)
    );
    assert_eq!(
        std::fs::read_dir(empty.path()).unwrap().count(),
        0,
        "no file left"
    );

    assert_eq!(
        picture(&db.url()),
        before,
        "the source untouched throughout"
    );
}

/// A role that may not create databases is told which right it lacks, and
/// nothing is changed.
#[test]
fn a_restore_without_the_right_to_create_databases_names_it() {
    let db = TestDb::pre_mvp1();
    let _leftovers = Leftovers(format!("{}_", db.name));
    let dir = tempfile::tempdir().unwrap();
    let file = back_up(&db.url(), dir.path());
    let service = format!("{}_servicio", db.name);
    let _roles = Roles {
        databases: db.name.clone(),
        roles: vec![service.clone()],
    };
    let mut admin = PgConnection::establish(&admin_url()).unwrap();
    admin
        .batch_execute(&format!(
            r#"CREATE ROLE "{service}" LOGIN; GRANT ALL ON DATABASE "{name}" TO "{service}";"#,
            name = db.name
        ))
        .unwrap();
    let before = picture(&db.url());
    let as_service = url_for(&db.name).replacen("postgres@", &format!("{service}@"), 1);
    let refused = cajahub(
        &["restore", "--replace", "--yes", file.to_str().unwrap()],
        &as_service,
    );
    assert!(!refused.status.success());
    let said = says(&refused);
    assert!(said.contains("CREATEDB"), "{said}");
    assert!(
        said.contains(&format!("ALTER ROLE \"{service}\" CREATEDB")),
        "{said}"
    );
    assert!(said.contains("nothing was changed"), "{said}");
    assert_eq!(picture(&db.url()), before);
}

/// Drops the roles a test made (cluster-wide), even when it fails: after
/// the databases named from `databases` on (the test's own and the ones a
/// restore left), where the roles may own tables.
pub(crate) struct Roles {
    pub(crate) databases: String,
    pub(crate) roles: Vec<String>,
}

impl Drop for Roles {
    fn drop(&mut self) {
        for name in databases_like(&self.databases) {
            drop_database(&name);
        }
        let mut conn = PgConnection::establish(&admin_url()).unwrap();
        for role in &self.roles {
            let _ = conn.batch_execute(&format!(
                r#"DO $$ BEGIN
                     IF EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') THEN
                       EXECUTE format('DROP OWNED BY %I', '{role}');
                       EXECUTE format('DROP ROLE %I', '{role}');
                     END IF;
                   END $$;"#
            ));
        }
    }
}
