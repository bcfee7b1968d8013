//! The cut-over night (docs/cutover.md), rehearsed on the previous
//! system's database with its own app role: the old app writes, the backup
//! and the migration run as that role, the old app can no longer write, and
//! the way back gives it its database exactly as it was, owner and settings
//! included.

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::Text;

use crate::backup::{Leftovers, Roles, back_up, picture, says};
use crate::cli::cajahub;
use crate::helpers::{TestDb, admin_url, url_for};

/// What the Flask app wrote when a cashier opened a session.
const FLASK_OPENS_A_SESSION: &str = "INSERT INTO register_sessions
    (register_id, status, initial_cash, opened_at, opened_by)
    VALUES (1, 'open', 20000, now(), 'maria')";

#[derive(QueryableByName)]
struct Said {
    #[diesel(sql_type = Text)]
    said: String,
}

/// The database's owner, grants, comment and settings, as one line.
fn properties(admin: &mut PgConnection, database: &str) -> String {
    diesel::sql_query(
        "SELECT concat_ws(' | ', pg_get_userbyid(d.datdba), d.datacl::text,
                shobj_description(d.oid, 'pg_database'),
                (SELECT string_agg(coalesce(r.rolname, '*') || ':' || array_to_string(s.setconfig, ','), ';' ORDER BY 1)
                   FROM pg_db_role_setting s LEFT JOIN pg_roles r ON r.oid = s.setrole
                  WHERE s.setdatabase = d.oid)) AS said
           FROM pg_database d WHERE d.datname = $1",
    )
    .bind::<Text, _>(database)
    .get_result::<Said>(admin)
    .unwrap()
    .said
}

#[test]
fn the_cutover_night_and_its_way_back() {
    let db = TestDb::pre_mvp1();
    let _leftovers = Leftovers(format!("{}_", db.name));
    let (flask, reader) = (format!("{}_bimba", db.name), format!("{}_lector", db.name));
    let _roles = Roles {
        databases: db.name.clone(),
        roles: vec![flask.clone(), reader.clone()],
    };
    let mut admin = PgConnection::establish(&admin_url()).unwrap();
    admin
        .batch_execute(&format!(
            r#"CREATE ROLE "{flask}" LOGIN;
               CREATE ROLE "{reader}";
               ALTER DATABASE "{name}" OWNER TO "{flask}";
               ALTER DATABASE "{name}" SET TimeZone = 'America/Santiago';
               ALTER ROLE "{reader}" IN DATABASE "{name}" SET search_path = public;
               REVOKE ALL ON DATABASE "{name}" FROM PUBLIC;
               GRANT CONNECT ON DATABASE "{name}" TO "{reader}";
               COMMENT ON DATABASE "{name}" IS 'La caja de Bimba';"#,
            name = db.name
        ))
        .unwrap();
    db.connect()
        .batch_execute(&format!(
            r#"ALTER TABLE pos_registers OWNER TO "{flask}";
               ALTER TABLE register_sessions OWNER TO "{flask}";"#
        ))
        .unwrap();
    let as_flask = url_for(&db.name).replacen("postgres@", &format!("{flask}@"), 1);
    assert_ne!(
        as_flask,
        url_for(&db.name),
        "the app's role, not the superuser"
    );
    {
        let mut app = PgConnection::establish(&as_flask).unwrap();
        app.batch_execute(FLASK_OPENS_A_SESSION)
            .expect("the old app writes to its database");
    }
    let before = picture(&db.url());
    let owned_before = properties(&mut admin, &db.name);
    assert!(owned_before.starts_with(&flask), "{owned_before}");

    // The night: backup and migration as the app's role.
    let dir = tempfile::tempdir().unwrap();
    let file = back_up(&as_flask, dir.path());
    let migrate = cajahub(&["migrate"], &as_flask);
    assert!(migrate.status.success(), "{}", says(&migrate));
    assert!(
        says(&migrate).starts_with("Base de datos: "),
        "names its database first: {}",
        says(&migrate)
    );
    let users = cajahub(&["user", "list"], &as_flask);
    assert!(users.status.success(), "{}", says(&users));
    {
        let mut app = PgConnection::establish(&as_flask).unwrap();
        let refused = app.batch_execute(FLASK_OPENS_A_SESSION).unwrap_err();
        assert!(
            refused
                .to_string()
                .contains("invalid input syntax for type integer"),
            "the old app cannot write to the migrated database: {refused}"
        );
    }

    // The way back, as PostgreSQL's superuser.
    let restored = cajahub(
        &["restore", "--replace", "--yes", file.to_str().unwrap()],
        &db.url(),
    );
    assert!(restored.status.success(), "{}", says(&restored));
    assert_eq!(picture(&db.url()), before, "tables, columns and rows");
    assert_eq!(
        properties(&mut admin, &db.name),
        owned_before,
        "owner, grants, comment and settings"
    );
    let mut app = PgConnection::establish(&as_flask).unwrap();
    app.batch_execute(FLASK_OPENS_A_SESSION)
        .expect("the old app writes again");
    app.batch_execute("CREATE TABLE flask_vuelve (id int); DROP TABLE flask_vuelve;")
        .expect("its role owns schema public again");
    // diesel sets UTC on its own connections; what a session starts with
    // (as the old app's does) is the reset value.
    let zone: Said =
        diesel::sql_query("SELECT reset_val AS said FROM pg_settings WHERE name = 'TimeZone'")
            .get_result(&mut app)
            .unwrap();
    assert_eq!(zone.said, "America/Santiago");
}
