//! The binary's command line.

use std::process::Command;

use diesel::RunQueryDsl;

use crate::helpers::TestDb;

/// `cajahub ARGS` on `database_url`, as an operator runs it.
pub(crate) fn cajahub(args: &[&str], database_url: &str) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_cajahub"))
        .args(args)
        .env("DATABASE_URL", database_url)
        .env("CAJAHUB_LOG", "warn")
        .output()
        .expect("run cajahub")
}

#[test]
fn migrate_applies_then_reports_nothing_pending() {
    let db = TestDb::empty();
    let first = cajahub(&["migrate"], &db.url());
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let stdout = String::from_utf8_lossy(&first.stdout);
    assert!(
        stdout.contains("Applied migration 2025-01-15-000000_bimba_cajas_mvp1_paymentstack"),
        "{stdout}"
    );

    let second = cajahub(&["migrate"], &db.url());
    assert!(second.status.success());
    assert!(String::from_utf8_lossy(&second.stdout).contains("No pending migrations"));
}

#[test]
fn an_unreachable_database_is_a_clear_error() {
    let output = cajahub(&["migrate"], "postgres://postgres@127.0.0.1:1/nothing");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("could not connect to PostgreSQL"),
        "{stderr}"
    );
}

#[test]
fn flags_are_validated() {
    let output = cajahub(&["--pool-size", "0", "migrate"], "postgres://unused");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("--pool-size"));
    let output = cajahub(&["--bind", "not-an-address"], "postgres://unused");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("--bind"));
}

#[test]
fn serve_starts_answers_and_stops_on_sigterm() {
    let db = TestDb::migrated();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_cajahub"))
        .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
        .env("DATABASE_URL", db.url())
        .env("CAJAHUB_LOG", "warn")
        .spawn()
        .unwrap();
    let mut up = false;
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            up = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(up, "the hub listens");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "graceful exit: {status}");
}

fn cajahub_with_input(args: &[&str], database_url: &str, input: &str) -> std::process::Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_cajahub"))
        .args(args)
        .env("DATABASE_URL", database_url)
        .env("CAJAHUB_LOG", "trace")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run cajahub");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn text(output: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn users_are_managed_from_the_command_line() {
    let db = TestDb::migrated();
    let url = db.url();
    let added = cajahub_with_input(
        &["user", "add", "--name", "admin", "--role", "admin"],
        &url,
        "s3creta-larga\n",
    );
    assert!(added.status.success(), "{}", text(&added));
    assert!(text(&added).contains("User admin created with role ADMIN"));

    let again = cajahub_with_input(
        &["user", "add", "--name", "ADMIN", "--role", "CAJERO"],
        &url,
        "otra-clave-1\n",
    );
    assert!(!again.status.success());
    assert!(text(&again).contains("already exists"));

    let short = cajahub_with_input(
        &["user", "add", "--name", "ana", "--role", "CAJERO"],
        &url,
        "corta\n",
    );
    assert!(!short.status.success());
    assert!(text(&short).contains("entre 8 y 128"));

    let bad_role = cajahub_with_input(
        &["user", "add", "--name", "ana", "--role", "JEFE"],
        &url,
        "",
    );
    assert!(!bad_role.status.success());
    assert!(text(&bad_role).contains("ADMIN, SUPERVISOR or CAJERO"));

    assert!(
        cajahub_with_input(
            &["user", "add", "--name", "ana", "--role", "cajero"],
            &url,
            "clave-de-ana\n"
        )
        .status
        .success()
    );
    let pin = cajahub_with_input(&["user", "set-pin", "--name", "ana"], &url, "24681357\n");
    assert!(pin.status.success(), "{}", text(&pin));
    // An admin's PIN signs voids on a cashier's device (it logs nobody in).
    let admin_pin = cajahub_with_input(&["user", "set-pin", "--name", "admin"], &url, "24681357\n");
    assert!(admin_pin.status.success(), "{}", text(&admin_pin));
    let bad_pin = cajahub_with_input(&["user", "set-pin", "--name", "admin"], &url, "24a8\n");
    assert!(!bad_pin.status.success());

    let disabled = cajahub_with_input(&["user", "disable", "--name", "ana"], &url, "");
    assert!(disabled.status.success());
    let list = cajahub_with_input(&["user", "list"], &url, "");
    let listed = String::from_utf8_lossy(&list.stdout).to_string();
    assert!(
        listed.contains("admin") && listed.contains("ADMIN") && listed.contains("enabled"),
        "{listed}"
    );
    assert!(
        listed
            .lines()
            .any(|l| l.starts_with("ana") && l.contains("disabled") && l.contains("PIN")),
        "{listed}"
    );

    let missing = cajahub_with_input(&["user", "disable", "--name", "nadie"], &url, "");
    assert!(!missing.status.success());
    assert!(text(&missing).contains("no user named nadie"));

    let changed = cajahub_with_input(
        &["user", "set-password", "--name", "admin"],
        &url,
        "nueva-clave-99\n",
    );
    assert!(changed.status.success());
    // No secret reached the output, even at trace level.
    for output in [&added, &again, &short, &pin, &admin_pin, &changed] {
        let all = text(output);
        for secret in [
            "s3creta-larga",
            "otra-clave-1",
            "corta",
            "24681357",
            "nueva-clave-99",
        ] {
            assert!(!printed(&all, secret), "{secret} printed:\n{all}");
        }
    }
}

/// Whether `secret` appears in `output`. A PIN is digits, and trace lines
/// carry timestamps and ids made of digits too, so a PIN counts as printed
/// only as a number of its own, not inside a longer one.
fn printed(output: &str, secret: &str) -> bool {
    if secret.bytes().all(|b| b.is_ascii_digit()) {
        output
            .split(|c: char| !c.is_ascii_digit())
            .any(|number| number == secret)
    } else {
        output.contains(secret)
    }
}

#[test]
fn a_pin_counts_as_printed_only_as_a_number_of_its_own() {
    // A trace line's timestamp held the old test PIN inside its fraction.
    let line = "2026-12-07T09:15:39.524680Z TRACE cajahub: pid=1";
    assert!(line.contains("2468"));
    assert!(!printed(line, "2468"));
    assert!(printed("pin=2468 set", "2468"));
    assert!(printed("la clave s3creta-larga", "s3creta-larga"));
}

/// Logins at trace level: the passwords typed never reach the log.
#[actix_web::test]
async fn passwords_never_reach_the_log() {
    let db = TestDb::migrated();
    let url = db.url();
    assert!(
        cajahub_with_input(
            &["user", "add", "--name", "admin", "--role", "ADMIN"],
            &url,
            "clave-secreta-1\n"
        )
        .status
        .success()
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let log = tempfile::NamedTempFile::new().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_cajahub"))
        .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
        .env("DATABASE_URL", &url)
        .env("CAJAHUB_LOG", "trace")
        .stdout(log.reopen().unwrap())
        .stderr(log.reopen().unwrap())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let client = crate::helpers::new_client();
    let mut page = None;
    for _ in 0..100 {
        if let Ok(response) = client.get(format!("{base}/login")).send().await {
            page = Some(response.text().await.unwrap());
            break;
        }
        actix_web::rt::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let token = crate::helpers::csrf_in(&page.expect("the hub answers")).unwrap();
    for secret in ["clave-equivocada-7", "clave-secreta-1"] {
        let response = client
            .post(format!("{base}/login"))
            .form(&[
                ("csrf_token", token.as_str()),
                ("name", "admin"),
                ("secret", secret),
            ])
            .send()
            .await
            .unwrap();
        assert!(matches!(response.status().as_u16(), 303 | 401));
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    child.wait().unwrap();
    let logged = std::fs::read_to_string(log.path()).unwrap();
    assert!(
        logged.contains("logged in"),
        "the log was captured: {logged}"
    );
    assert!(logged.contains("login refused"));
    assert!(!logged.contains("clave-equivocada-7") && !logged.contains("clave-secreta-1"));
}

/// `cajahub check`: the runbook's checks pass on a good deployment and fail
/// with the line that names what is wrong on a broken one.
#[actix_web::test]
async fn check_passes_on_a_good_deployment_and_names_what_is_broken() {
    let db = TestDb::migrated();
    let address = crate::helpers::free_address();
    let hub = crate::helpers::HubProcess::start(&address, &db.url()).await;
    let good = cajahub(&["check", "--url", &address], &db.url());
    let said = String::from_utf8_lossy(&good.stdout).to_string();
    assert!(
        good.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&good.stderr)
    );
    for line in [
        "✅ Migraciones aplicadas",
        "✅ PASO 3: columnas nuevas en pos_registers: 5 de 5",
        "✅ PASO 3: columnas nuevas en register_sessions: 6 de 6",
        "✅ Tablas pos_registers y register_sessions (pg_tables)",
        "✅ Hub activo: un solo hub (sin CAJAHUB_FAILOVER)",
        "✅ Replicación de PostgreSQL: sin standby: cada venta confirmada está en un solo servidor",
        "✅ Logs sin errores desde el arranque",
        "✅ El hub usa esta misma base de datos",
        "✅ PASO 5: /admin/cajas/reportes: 303 al login",
        "✅ PASO 5: /login: 200",
    ] {
        assert!(said.contains(line), "{line} in\n{said}");
    }
    assert!(!said.contains('❌'), "{said}");

    // Checked against another database than the hub's: said, and failed.
    let other = TestDb::migrated();
    let elsewhere = cajahub(&["check", "--url", &address], &other.url());
    let said = String::from_utf8_lossy(&elsewhere.stdout).to_string();
    assert!(!elsewhere.status.success(), "{said}");
    assert!(
        said.contains("❌ El hub usa esta misma base de datos: el hub que responde ahí trabaja sobre otra base de datos"),
        "{said}"
    );

    // The hub down: that line fails, and the command.
    drop(hub);
    let down = cajahub(&["check", "--url", &address], &db.url());
    let said = String::from_utf8_lossy(&down.stdout).to_string();
    assert!(!down.status.success());
    assert!(
        said.contains(&format!("❌ El hub responde en {address}")),
        "{said}"
    );
    assert!(
        said.contains("✅ Migraciones aplicadas"),
        "the database still checked: {said}"
    );

    // A column missing: PASO 3's line names it.
    diesel::sql_query("ALTER TABLE pos_registers DROP COLUMN fallback_policy")
        .execute(&mut db.connect())
        .unwrap();
    let broken = cajahub(&["check"], &db.url());
    let said = String::from_utf8_lossy(&broken.stdout).to_string();
    assert!(!broken.status.success());
    assert!(
        said.contains("❌ PASO 3: columnas nuevas en pos_registers: faltan fallback_policy"),
        "{said}"
    );
    assert!(String::from_utf8_lossy(&broken.stderr).contains("1 check(s) failed"));
}

/// A `DATABASE_URL` that names no database: every command refuses it, with
/// the fix, instead of working on the server's maintenance database.
#[test]
fn a_url_without_a_database_is_refused_by_every_command() {
    let server = crate::helpers::url_for("");
    let bare = server
        .split('?')
        .next()
        .unwrap_or(&server)
        .trim_end_matches('/');
    for args in [
        &["migrate"][..],
        &["check"][..],
        &["user", "list"][..],
        &["serve"][..],
    ] {
        let output = cajahub(args, bare);
        assert!(!output.status.success(), "{args:?} succeeded on {bare}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("names no database"), "{args:?}: {stderr}");
    }
}

/// Under systemd (stderr is the journal) each log line carries its syslog
/// priority, so the runbook's `journalctl -p err` finds the errors; on a
/// terminal or a pipe it does not.
#[test]
fn log_lines_carry_their_priority_for_the_journal() {
    let unreachable = "postgres://postgres@127.0.0.1:1/nothing";
    let run = |journal: bool| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_cajahub"));
        command
            .arg("migrate")
            .env("DATABASE_URL", unreachable)
            .env("CAJAHUB_LOG", "info")
            .env_remove("JOURNAL_STREAM");
        if journal {
            command.env("JOURNAL_STREAM", "8:12345");
        }
        String::from_utf8_lossy(&command.output().expect("run cajahub").stderr).into_owned()
    };
    let journal = run(true);
    assert!(
        journal
            .lines()
            .any(|line| line.starts_with("<3>") && line.contains("ERROR")),
        "{journal}"
    );
    assert!(!run(false).contains("<3>"));
}

/// A hub left simulating its card terminals approves cards never charged:
/// it says DEMO on its start line, its pages and `/readyz`, and `cajahub
/// check` fails it unless told this is a demo.
#[actix_web::test]
async fn simulated_terminals_are_named_everywhere_and_fail_the_check_outside_a_demo() {
    let db = TestDb::migrated();
    let address = crate::helpers::free_address();
    let log = tempfile::NamedTempFile::new().unwrap();
    let simulated = [("CAJAHUB_SIMULATE_TERMINALS", "GETNET=approve,KLAP=approve")];
    let hub =
        crate::helpers::HubProcess::start_with(&address, &db.url(), &simulated, Some(log.path()))
            .await;
    let ready: serde_json::Value = reqwest::get(format!("{address}/readyz"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["terminals_simulated"], true, "{ready}");
    let start = std::fs::read_to_string(log.path()).unwrap();
    assert!(
        start.contains("DEMO: every caja's card terminal is simulated"),
        "{start}"
    );

    let check = |extra: &[&str]| {
        let mut args = vec!["check", "--url", address.as_str()];
        args.extend(extra);
        cajahub(&args, &db.url())
    };
    let outside = check(&[]);
    let said = String::from_utf8_lossy(&outside.stdout).to_string();
    assert!(!outside.status.success(), "{said}");
    assert!(
        said.contains("❌ Terminales de tarjeta reales: el hub simula los terminales"),
        "{said}"
    );
    let demo = check(&["--demo"]);
    let said = String::from_utf8_lossy(&demo.stdout).to_string();
    assert!(demo.status.success(), "{said}");
    assert!(said.contains("✅ Terminales de tarjeta: DEMO"), "{said}");
    // The check's own environment asking for it fails too.
    let mut command = Command::new(env!("CARGO_BIN_EXE_cajahub"));
    let own = command
        .args(["check"])
        .env("DATABASE_URL", db.url())
        .env("CAJAHUB_LOG", "warn")
        .env("CAJAHUB_SIMULATE_TERMINALS", "GETNET=approve")
        .output()
        .unwrap();
    assert!(!own.status.success());
    assert!(
        String::from_utf8_lossy(&own.stdout).contains("la configuración pide --simulate-terminals")
    );
    drop(hub);
}

/// A shell that forgot `DATABASE_URL` outside the checkout (a server, the
/// binary installed as a service): every command refuses, names the env
/// file to load, and leaves no database behind in the current folder.
#[test]
fn a_missing_database_url_outside_the_checkout_names_the_env_file() {
    let elsewhere = tempfile::tempdir().unwrap();
    for args in [
        &["migrate"][..],
        &["check"][..],
        &["user", "list"][..],
        &["backup"][..],
        &["serve"][..],
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_cajahub"))
            .args(args)
            .current_dir(elsewhere.path())
            .env_remove("DATABASE_URL")
            .env_remove("CAJAHUB_DATA_DIR")
            .env_remove("CARGO_MANIFEST_DIR")
            .env("CAJAHUB_LOG", "warn")
            .output()
            .expect("run cajahub");
        assert!(
            !output.status.success(),
            "{args:?} succeeded with no database"
        );
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("DATABASE_URL is not set"),
            "{args:?}: {stderr}"
        );
        assert!(
            stderr.contains("/etc/cajahub/cajahub.env"),
            "{args:?}: {stderr}"
        );
        assert!(stderr.contains("--data-dir"), "{args:?}: {stderr}");
    }
    let left: Vec<_> = std::fs::read_dir(elsewhere.path()).unwrap().collect();
    assert!(
        left.is_empty(),
        "nothing made in the current folder: {left:?}"
    );
}

/// Each command says first which database it works on, without the password.
#[test]
fn every_command_names_its_database_first() {
    let db = TestDb::migrated();
    let url = db.url();
    let name = url
        .rsplit('/')
        .next()
        .and_then(|rest| rest.split('?').next())
        .unwrap()
        .to_owned();
    for args in [&["migrate"][..], &["check"][..], &["user", "list"][..]] {
        let output = cajahub(args, &url);
        let stdout = String::from_utf8_lossy(&output.stdout);
        let first = stdout.lines().next().unwrap_or_default();
        assert!(first.starts_with("Base de datos: "), "{args:?}: {stdout}");
        assert!(first.ends_with(&format!("/{name}")), "{args:?}: {first}");
        assert!(!first.contains('@'), "no user or password: {first}");
    }
}
