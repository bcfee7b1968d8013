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

/// PostgreSQL stops while sales stream in: the hub answers 503 while it is
/// down and carries on by itself when it is back, with no restart of the
/// hub; every acknowledged sale is there.
#[actix_web::test]
async fn the_hub_survives_a_postgresql_restart() {
    use cajahub::auth::user::Role;
    use cajahub::db::local::PrivateCluster;

    if !server_programs_installed() {
        eprintln!("SKIPPED: PostgreSQL's server programs (initdb, pg_ctl) are not installed here");
        return;
    }
    let root = tempfile::tempdir().unwrap();
    std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let dir = root.path().join("pg");
    let mut cluster = PrivateCluster::start(&dir).expect("private cluster");
    let url = cluster.url();
    let app = crate::helpers::TestApp::spawn_with_url(&url).await;
    app.log_in_as("admin", Role::Admin).await;
    assert_eq!(
        app.post_form("/admin/cajas/crear", &crate::cajas::paso_6_1_fields())
            .await
            .status(),
        303
    );
    assert_eq!(
        app.post_form("/admin/jornadas/abrir", &[]).await.status(),
        303
    );
    assert_eq!(
        app.post_form(
            "/caja/session/open",
            &[("register_id", "1"), ("initial_cash", "0")]
        )
        .await
        .status(),
        303
    );

    let sell = |total: i64| {
        let body = serde_json::json!({"key": uuid::Uuid::new_v4().to_string(), "total": total,
            "payments": [{"method": "EFECTIVO", "amount": total}]});
        app.client
            .post(app.url("/api/cajas/1/sales"))
            .json(&body)
            .send()
    };
    let mut acknowledged = Vec::new();
    for total in [1_000, 2_000, 3_000] {
        let response = sell(total).await.unwrap();
        assert_eq!(response.status(), 201);
        acknowledged.push(
            response.json::<serde_json::Value>().await.unwrap()["sale_id"]
                .as_i64()
                .unwrap(),
        );
    }

    cluster.stop().unwrap();
    let down = sell(4_000).await.unwrap();
    assert_eq!(down.status(), 503, "an error while PostgreSQL is down");
    assert_eq!(
        down.json::<serde_json::Value>().await.unwrap()["code"],
        "database_unavailable"
    );
    assert_eq!(app.get("/readyz").await.status(), 503);

    let _cluster = PrivateCluster::start(&dir).expect("restarts on the same port");
    let mut recovered = None;
    for _ in 0..30 {
        let response = sell(5_000).await.unwrap();
        if response.status() == 201 {
            recovered = Some(response.json::<serde_json::Value>().await.unwrap());
            break;
        }
        actix_web::rt::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    let recovered = recovered.expect("sales work again without restarting the hub");
    acknowledged.push(recovered["sale_id"].as_i64().unwrap());
    assert_eq!(app.get("/readyz").await.status(), 200);

    let mut conn = PgConnection::establish(&url).unwrap();
    let stored: Vec<i64> = cajahub::db::schema::sales::table
        .select(cajahub::db::schema::sales::id)
        .order(cajahub::db::schema::sales::id)
        .load(&mut conn)
        .unwrap();
    assert_eq!(
        stored, acknowledged,
        "every acknowledged sale, and only those"
    );
    let tickets: i32 = cajahub::db::schema::register_sessions::table
        .select(cajahub::db::schema::register_sessions::ticket_count)
        .first(&mut conn)
        .unwrap();
    assert_eq!(tickets, 4);
}
