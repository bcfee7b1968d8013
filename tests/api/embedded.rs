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

/// Whether `url` reaches its server over a Unix socket (no address).
fn over_a_socket(url: &str) -> bool {
    let mut conn = PgConnection::establish(url).expect("connect");
    diesel::select(diesel::dsl::sql::<diesel::sql_types::Bool>(
        "inet_server_addr() IS NULL",
    ))
    .get_result(&mut conn)
    .unwrap()
}

#[test]
fn with_no_server_answering_a_private_cluster_is_created_used_and_stopped() {
    if !server_programs_installed() {
        crate::helpers::skipped(
            "PostgreSQL's server programs (initdb, pg_ctl) are not installed here",
        );
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
    assert!(
        over_a_socket(&url),
        "the private cluster is reached over its socket: {url}"
    );
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
                crate::helpers::skipped("TEST_DATABASE_URL does not name an IP address and port");
                return;
            }
        }
    };
    let admin = || PgConnection::establish(&crate::helpers::admin_url()).unwrap();
    let had_it = diesel::select(diesel::dsl::sql::<diesel::sql_types::Bool>(
        "EXISTS (SELECT 1 FROM pg_database WHERE datname = 'cajahub')",
    ))
    .get_result::<bool>(&mut admin())
    .unwrap();
    let unused = tempfile::tempdir().unwrap();
    let database = Database::local(server, &unused.path().join("pg")).expect("uses the server");
    // Over the server's socket where it has one the hub may log in on (this
    // machine's: trust); else over TCP without TLS.
    let socket = ["/var/run/postgresql", "/tmp"]
        .into_iter()
        .map(|folder| format!("{folder}/.s.PGSQL.{}", server.port()))
        .find(|socket| std::path::Path::new(socket).exists())
        .map(|socket| socket.rsplit_once('/').unwrap().0.replace('/', "%2F"))
        .map(|host| format!("postgres://postgres@{host}:{}/postgres", server.port()))
        .filter(|url| PgConnection::establish(url).is_ok());
    match (&database, socket) {
        (Database::Url(url), Some(_)) => {
            assert!(over_a_socket(url), "{url}");
            assert!(
                url.ends_with(&format!(":{}/cajahub", server.port())),
                "{url}"
            );
        }
        (Database::Url(url), None) => assert_eq!(
            url,
            &format!("postgres://postgres@{server}/cajahub?sslmode=disable")
        ),
        (other, _) => panic!("expected the local server, got {other:?}"),
    }
    PgConnection::establish(&database.url()).expect("its cajahub database exists");
    assert!(
        !unused.path().join("pg").exists(),
        "no private cluster made"
    );
    if !had_it {
        // Made by this test: not left behind (one a developer uses stays).
        diesel::sql_query("DROP DATABASE cajahub WITH (FORCE)")
            .execute(&mut admin())
            .unwrap();
    }
}

/// PostgreSQL stops while sales stream in: the hub answers 503 while it is
/// down and carries on by itself when it is back, with no restart of the
/// hub; every acknowledged sale is there.
#[actix_web::test]
async fn the_hub_survives_a_postgresql_restart() {
    use cajahub::auth::user::Role;
    use cajahub::db::local::PrivateCluster;

    if !server_programs_installed() {
        crate::helpers::skipped(
            "PostgreSQL's server programs (initdb, pg_ctl) are not installed here",
        );
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

/// PostgreSQL crashes (`pg_ctl stop -m immediate`) in the middle of a burst
/// of sales on three cajas, with commits in flight. Every sale is retried
/// with its key until acknowledged; afterwards each was recorded exactly
/// once, every caja's seq is unique and gapless, every session's counters
/// equal the sums of its rows, and each actor's memory equals the database.
#[actix_web::test]
async fn a_crash_in_the_middle_of_a_burst_loses_and_doubles_nothing() {
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use cajahub::auth::user::Role;
    use cajahub::db::local::PrivateCluster;
    use futures_util::StreamExt;

    if !server_programs_installed() {
        crate::helpers::skipped(
            "PostgreSQL's server programs (initdb, pg_ctl) are not installed here",
        );
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
        app.post_form("/admin/jornadas/abrir", &[]).await.status(),
        303
    );
    const CAJAS: i32 = 6;
    const SALES: usize = 300;
    let mut cashiers = Vec::new();
    for n in 1..=CAJAS {
        let (name, code) = (format!("Barra {n}"), format!("BARRA-{n}"));
        let mut fields = crate::cajas::paso_6_1_fields();
        fields.retain(|(field, _)| !matches!(*field, "name" | "code"));
        fields.extend([("name", name.as_str()), ("code", code.as_str())]);
        assert_eq!(
            app.post_form("/admin/cajas/crear", &fields).await.status(),
            303
        );
        let cashier = app.visitor(&format!("cajero{n}"), Role::Cajero).await;
        let response = cashier
            .post(
                &app,
                "/caja/session/open",
                &[("register_id", &n.to_string()), ("initial_cash", "0")],
            )
            .await;
        assert_eq!(response.status(), 303);
        cashiers.push(cashier);
    }
    let sales: Vec<(i32, serde_json::Value)> = (0..SALES)
        .map(|i| {
            let caja = i as i32 % CAJAS + 1;
            let total = 1_000 + i as i64 * 7;
            let sale = serde_json::json!({"key": uuid::Uuid::new_v4().to_string(), "total": total,
                "payments": [{"method": if i % 2 == 0 { "EFECTIVO" } else { "DEBITO" }, "amount": total,
                              "provider": if i % 2 == 0 { None } else { Some("GETNET") },
                              "authorization_code": if i % 2 == 0 { None } else { Some(format!("{:06}", i)) }}]});
            (caja, sale)
        })
        .collect();
    let send = |caja: i32, sale: &serde_json::Value| {
        cashiers[caja as usize - 1]
            .client
            .post(app.url(&format!("/api/cajas/{caja}/sales")))
            .json(sale)
            .send()
    };

    // The burst, 24 in flight; PostgreSQL crashes after a third is
    // answered and comes back at once, as a supervised service would.
    let answered = AtomicUsize::new(0);
    let crashed = tokio::sync::Notify::new();
    let burst = futures_util::stream::iter(sales.iter())
        .map(|(caja, sale)| async {
            let status = send(*caja, sale)
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0);
            if answered.fetch_add(1, Ordering::SeqCst) + 1 == SALES / 3 {
                crashed.notify_one();
            }
            status
        })
        .buffered(24)
        .collect::<Vec<u16>>();
    let crash = async {
        crashed.notified().await;
        // On a thread of its own: the burst goes on while PostgreSQL is away.
        let (done, restarted) = tokio::sync::oneshot::channel();
        let dir = dir.clone();
        std::thread::spawn(move || {
            cluster.crash().expect("crash");
            let _ = done.send(PrivateCluster::start(&dir).expect("restarts after the crash"));
        });
        restarted.await.expect("the restart thread answers")
    };
    let (statuses, _cluster) = tokio::join!(burst, crash);
    assert!(
        statuses.contains(&201),
        "some sales went in before the crash"
    );
    let failed = statuses.iter().filter(|s| **s != 201).count();
    eprintln!("{failed} of {SALES} sales met the crash and are retried");
    // Every sale retried with its key until the hub acknowledges it.
    let mut acks: HashMap<String, serde_json::Value> = HashMap::new();
    for (caja, sale) in &sales {
        let key = sale["key"].as_str().unwrap().to_owned();
        for attempt in 0.. {
            let response = send(*caja, sale).await.unwrap();
            let status = response.status().as_u16();
            let body: serde_json::Value = response.json().await.unwrap();
            if status == 200 || status == 201 {
                acks.insert(key, body);
                break;
            }
            assert_eq!(status, 503, "{body}");
            assert!(attempt < 100, "the hub recovers by itself");
            // PostgreSQL is still coming up.
            actix_web::rt::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    let mut conn = PgConnection::establish(&url).unwrap();
    let count = |conn: &mut PgConnection, sql: &str| -> i64 {
        diesel::dsl::sql::<diesel::sql_types::BigInt>(sql)
            .get_result(conn)
            .unwrap()
    };
    assert_eq!(
        count(&mut conn, "SELECT count(*) FROM sales"),
        SALES as i64,
        "each sale once"
    );
    for caja in 1..=CAJAS {
        let seq = count(
            &mut conn,
            &format!("SELECT event_seq FROM register_seqs WHERE register_id = {caja}"),
        );
        assert_eq!(
            count(
                &mut conn,
                &format!("SELECT count(*) FROM register_events WHERE register_id = {caja}")
            ),
            seq,
            "caja {caja}: one event per seq"
        );
        assert_eq!(
            count(
                &mut conn,
                &format!("SELECT count(DISTINCT seq) FROM sales WHERE register_id = {caja}")
            ),
            count(
                &mut conn,
                &format!("SELECT count(*) FROM sales WHERE register_id = {caja}")
            ),
        );
        for (column, summed) in [
            ("ticket_count::bigint", "count(*)"),
            (
                "COALESCE((payment_totals->>'EFECTIVO')::bigint, 0)",
                "COALESCE(sum(total) FILTER (WHERE p.method = 'EFECTIVO'), 0)::bigint",
            ),
            (
                "COALESCE((payment_totals->>'DEBITO')::bigint, 0)",
                "COALESCE(sum(p.amount_charged) FILTER (WHERE p.method = 'DEBITO'), 0)::bigint",
            ),
            (
                "payment_provider_used_primary_count::bigint",
                "count(*) FILTER (WHERE p.provider IS NOT NULL)",
            ),
        ] {
            let stored = count(
                &mut conn,
                &format!("SELECT {column} FROM register_sessions WHERE register_id = {caja}"),
            );
            let rows = count(
                &mut conn,
                &format!(
                    "SELECT {summed} FROM sales s JOIN sale_payments p ON p.sale_id = s.id WHERE s.register_id = {caja}"
                ),
            );
            assert_eq!(stored, rows, "caja {caja}: {column}");
        }
        let snapshot: serde_json::Value = app
            .get(&format!("/api/cajas/{caja}"))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(
            snapshot["register"]["seq"].as_i64(),
            Some(seq),
            "caja {caja}: memory is the database"
        );
        assert_eq!(
            snapshot["register"]["session"]["ticket_count"].as_i64(),
            Some(count(
                &mut conn,
                &format!(
                    "SELECT ticket_count::bigint FROM register_sessions WHERE register_id = {caja}"
                )
            ))
        );
    }
    let mut seqs: Vec<(i64, i64)> = acks
        .values()
        .map(|ack| {
            (
                ack["register_id"].as_i64().unwrap(),
                ack["seq"].as_i64().unwrap(),
            )
        })
        .collect();
    seqs.sort();
    seqs.dedup();
    assert_eq!(seqs.len(), SALES, "every acknowledgement names its own seq");
}

/// A folder the private cluster may live in (the cluster runs as the
/// unprivileged 'postgres' user when tests run as root).
fn open_folder() -> Option<tempfile::TempDir> {
    if !server_programs_installed() {
        crate::helpers::skipped(
            "PostgreSQL's server programs (initdb, pg_ctl) are not installed here",
        );
        return None;
    }
    let root = tempfile::tempdir().unwrap();
    std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    Some(root)
}

/// `cajahub user add` (or `backup`) while the hub runs on its private
/// cluster: it uses that cluster and leaves it running for the hub.
#[test]
fn a_second_cajahub_uses_the_running_private_cluster_and_leaves_it_running() {
    let Some(root) = open_folder() else {
        return;
    };
    let dir = root.path().join("pg");
    let hub = Database::local(silent_port(), &dir).expect("the hub's cluster");
    let command = Database::local(silent_port(), &dir).expect("the command's");
    assert!(matches!(command, Database::Private(_)));
    assert_eq!(command.url(), hub.url(), "the same cluster, the same port");
    PgConnection::establish(&command.url()).expect("the command connects");
    drop(command);
    PgConnection::establish(&hub.url()).expect("still running for the hub");
    let url = hub.url();
    drop(hub);
    assert!(
        PgConnection::establish(&url).is_err(),
        "stopped with its owner"
    );
}

/// Debian's PostgreSQL asks for a password on TCP: without one, the hub
/// runs on a private cluster instead of stopping.
#[test]
fn a_server_that_asks_for_a_password_is_left_for_a_private_cluster() {
    let Some(root) = open_folder() else {
        return;
    };
    // A server like Debian's: scram-sha-256 on 127.0.0.1.
    let debian = Database::local(silent_port(), &root.path().join("debian")).unwrap();
    let Database::Private(cluster) = &debian else {
        panic!("a cluster to play Debian's");
    };
    let mut conn = PgConnection::establish(&debian.url()).unwrap();
    diesel::sql_query("ALTER ROLE postgres PASSWORD 'secreta'")
        .execute(&mut conn)
        .unwrap();
    // (Debian's socket asks for `peer`; this one's stays open to the test.)
    std::fs::write(
        cluster.data_dir().join("pg_hba.conf"),
        "local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n",
    )
    .unwrap();
    diesel::sql_query("SELECT pg_reload_conf()")
        .execute(&mut conn)
        .unwrap();
    drop(conn);
    let server = cluster.address();
    let refused = PgConnection::establish(&format!("postgres://postgres@{server}/postgres"))
        .map(|_| ())
        .unwrap_err();
    assert!(refused.to_string().contains("password"), "{refused}");

    let own = root.path().join("own");
    let database = Database::local(server, &own).expect("falls back, does not stop");
    assert!(matches!(database, Database::Private(_)), "{database:?}");
    assert_ne!(database.url(), debian.url());
    PgConnection::establish(&database.url()).expect("its own cluster answers");
    drop(database);
    drop(debian);
}

/// A data folder PostgreSQL's user cannot reach (a clone under /root, mode
/// 700): one line that says so and how to fix it.
#[test]
fn a_data_folder_postgres_cannot_reach_is_explained() {
    if !nix::unistd::Uid::effective().is_root() {
        crate::helpers::skipped("only root hands the cluster to the 'postgres' user");
        return;
    }
    if !server_programs_installed() {
        crate::helpers::skipped(
            "PostgreSQL's server programs (initdb, pg_ctl) are not installed here",
        );
        return;
    }
    let closed = tempfile::tempdir().unwrap();
    std::fs::set_permissions(closed.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let dir = closed.path().join("checkout").join("data").join("pg");
    let err = Database::local(silent_port(), &dir)
        .unwrap_err()
        .to_string();
    assert!(err.contains("cannot enter"), "{err}");
    assert!(err.contains(&closed.path().display().to_string()), "{err}");
    assert!(err.contains("--data-dir"), "{err}");
    assert!(!err.contains("initdb"), "{err}");
}

/// The hub's connections to a PostgreSQL on this machine: how many, and
/// how many of them over TLS (read from the server's own view).
fn connections_and_tls(url: &str) -> (i64, i64) {
    #[derive(QueryableByName)]
    struct Seen {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        all: i64,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        tls: i64,
    }
    let mut conn = PgConnection::establish(url).unwrap();
    let seen: Seen = diesel::sql_query(
        "SELECT count(*) AS all, count(*) FILTER (WHERE s.ssl) AS tls \
         FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) \
         WHERE a.datname = current_database() AND a.pid <> pg_backend_pid() \
           AND a.backend_type = 'client backend'",
    )
    .get_result(&mut conn)
    .unwrap();
    (seen.all, seen.tls)
}

/// An operator's `DATABASE_URL` naming this machine without an `sslmode`
/// (as the runbook's does) is reached without TLS, which costs a
/// twentieth of the hub's processor and protects nothing on the loopback;
/// a URL that asks for TLS gets it.
#[actix_web::test]
async fn a_database_on_this_machine_is_reached_without_tls_unless_the_url_asks() {
    let app = crate::helpers::TestApp::spawn().await;
    let stopped = app.stop().await;
    let url = stopped.database_url();
    let mut conn = PgConnection::establish(&url).unwrap();
    #[derive(QueryableByName)]
    struct Setting {
        #[diesel(sql_type = diesel::sql_types::Text)]
        ssl: String,
    }
    let offered = diesel::sql_query("SELECT current_setting('ssl') AS ssl")
        .get_result::<Setting>(&mut conn)
        .unwrap()
        .ssl
        == "on";
    drop(conn);
    for (written, tls_expected) in [
        (url.replace("?sslmode=disable", ""), false),
        (url.replace("sslmode=disable", "sslmode=prefer"), offered),
    ] {
        assert_ne!(written, url, "the test's URL names its sslmode");
        let address = crate::helpers::free_address();
        let hub = crate::helpers::HubProcess::start(&address, &written).await;
        let (all, tls) = connections_and_tls(&url);
        assert!(all > 0, "the hub holds connections");
        assert_eq!(
            tls,
            if tls_expected { all } else { 0 },
            "{written}: {tls} of {all} over TLS"
        );
        assert!(hub.terminate());
        // Its server processes end a moment after it: the next hub's are
        // counted alone.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while connections_and_tls(&url).0 > 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "the hub's connections ended"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
    if !offered {
        crate::helpers::skipped("this PostgreSQL offers no TLS: only the plain half was checked");
    }
}
