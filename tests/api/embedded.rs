//! The embedded default: with nothing answering, the hub makes and runs a
//! private PostgreSQL cluster of its own, and stops it when done.

use std::net::{Ipv4Addr, TcpListener};
use std::os::unix::fs::PermissionsExt;

use cajahub::db::local::{Database, server_programs_installed};
use diesel::prelude::*;

/// A port on which nothing listens.
fn silent_port() -> std::net::SocketAddr {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    listener.local_addr().unwrap()
}

#[test]
fn with_no_server_answering_a_private_cluster_is_created_used_and_stopped() {
    if !server_programs_installed() {
        eprintln!("SKIPPED: PostgreSQL's server programs (initdb, pg_ctl) are not installed here");
        return;
    }
    let root = tempfile::tempdir().unwrap();
    // The cluster runs as the unprivileged 'postgres' user when tests run as root.
    std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let cluster_dir = root.path().join("pg");

    let database = Database::local(silent_port(), &cluster_dir).expect("private cluster starts");
    let Database::Private(cluster) = &database else {
        panic!("expected a private cluster, got {database:?}");
    };
    let data_dir = cluster.data_dir();
    assert!(data_dir.join("PG_VERSION").exists());
    let url = database.url();
    {
        let mut conn = PgConnection::establish(&url).expect("connect to the private cluster");
        let applied = cajahub::db::migrations::run_pending(&mut conn).unwrap();
        assert_eq!(applied.len(), cajahub::db::migrations::count());
        diesel::sql_query("INSERT INTO pos_registers (name, code) VALUES ('Barra', 'BARRA')")
            .execute(&mut conn)
            .unwrap();
    }
    drop(database);
    assert!(
        !data_dir.join("postmaster.pid").exists(),
        "stopped with the hub"
    );
    assert!(PgConnection::establish(&url).is_err());

    // The next start reuses the cluster and its data.
    let database = Database::local(silent_port(), &cluster_dir).expect("restarts");
    let mut conn = PgConnection::establish(&database.url()).unwrap();
    assert!(
        cajahub::db::migrations::run_pending(&mut conn)
            .unwrap()
            .is_empty()
    );
    let codes: Vec<String> = cajahub::db::schema::pos_registers::table
        .select(cajahub::db::schema::pos_registers::code)
        .load(&mut conn)
        .unwrap();
    assert_eq!(codes, ["BARRA"]);
    drop(conn);
    drop(database);
}

#[test]
fn with_a_server_answering_its_cajahub_database_is_used() {
    let server: std::net::SocketAddr = {
        let admin = crate::helpers::admin_url();
        let host_port = admin
            .split('@')
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .unwrap()
            .to_string();
        match host_port.parse() {
            Ok(addr) => addr,
            Err(_) => {
                eprintln!("SKIPPED: TEST_DATABASE_URL does not name an IP address and port");
                return;
            }
        }
    };
    let unused = tempfile::tempdir().unwrap();
    let database = Database::local(server, &unused.path().join("pg")).expect("uses the server");
    match &database {
        Database::Url(url) => assert_eq!(
            url,
            &format!("postgres://postgres@{server}/cajahub?sslmode=disable")
        ),
        other => panic!("expected the local server, got {other:?}"),
    }
    PgConnection::establish(&database.url()).expect("its cajahub database exists");
    assert!(
        !unused.path().join("pg").exists(),
        "no private cluster made"
    );
}
