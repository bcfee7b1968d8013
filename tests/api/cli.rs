//! The binary's command line.

use std::process::Command;

use crate::helpers::TestDb;

fn cajahub(args: &[&str], database_url: &str) -> std::process::Output {
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
