//! PostgreSQL that survives its machine (docs/architecture.md rule 23):
//! two clusters with synchronous streaming replication, the hub on a
//! multi-host URL (`target_session_attrs=read-write`). The primary dies
//! while sales run and the standby is promoted: the hub finds the new
//! primary by itself, and no acknowledged sale is missing from it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use diesel::{Connection, PgConnection};

use crate::failover::{burst, check_history, venue};
use crate::helpers::{HubProcess, count, free_address};

/// A PostgreSQL cluster of this test's own, run as `postgres` when the
/// test runs as root.
struct Cluster {
    bin: PathBuf,
    data: PathBuf,
    port: u16,
    running: bool,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn as_postgres(command: &mut Command) -> &mut Command {
    use std::os::unix::process::CommandExt;
    if nix::unistd::Uid::effective().is_root() {
        let user = nix::unistd::User::from_name("postgres")
            .unwrap()
            .expect("the postgres user");
        command.uid(user.uid.as_raw()).gid(user.gid.as_raw());
    }
    command
}

fn run(command: &mut Command) {
    let output = as_postgres(command).output().unwrap();
    assert!(
        output.status.success(),
        "{command:?}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

impl Cluster {
    fn url(&self, database: &str) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{}/{database}?sslmode=disable",
            self.port
        )
    }

    fn configure(&self, settings: &str) {
        let conf = self.data.join("postgresql.auto.conf");
        let mut text = std::fs::read_to_string(&conf).unwrap_or_default();
        text.push_str(settings);
        std::fs::write(&conf, text).unwrap();
    }

    fn start(&mut self) {
        let log = self.data.with_extension("log");
        run(Command::new(self.bin.join("pg_ctl"))
            .arg("start")
            .arg("--pgdata")
            .arg(&self.data)
            .arg("--wait")
            .arg("--log")
            .arg(&log));
        self.running = true;
    }

    /// As the machine dying would: no shutdown checkpoint, nothing flushed.
    fn crash(&mut self) {
        self.running = false;
        run(Command::new(self.bin.join("pg_ctl"))
            .args(["stop", "--mode=immediate", "--wait", "--pgdata"])
            .arg(&self.data));
    }

    fn promote(&self) {
        run(Command::new(self.bin.join("pg_ctl"))
            .args(["promote", "--wait", "--pgdata"])
            .arg(&self.data));
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.running {
            let _ = as_postgres(
                Command::new(self.bin.join("pg_ctl"))
                    .args(["stop", "--mode=immediate", "--pgdata"])
                    .arg(&self.data),
            )
            .output();
        }
    }
}

/// A primary and its synchronous standby (`standby1`) under `dir`.
fn pair(bin: &Path, dir: &Path) -> (Cluster, Cluster) {
    let mut primary = Cluster {
        bin: bin.to_owned(),
        data: dir.join("primary"),
        port: free_port(),
        running: false,
    };
    run(Command::new(bin.join("initdb"))
        .arg("--pgdata")
        .arg(&primary.data)
        .args([
            "--username=postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-instructions",
        ]));
    primary.configure(&format!(
        "port = {}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = ''\n\
         wal_level = replica\nmax_wal_senders = 4\nsynchronous_commit = on\n\
         synchronous_standby_names = 'standby1'\n",
        primary.port
    ));
    primary.start();
    let mut standby = Cluster {
        bin: bin.to_owned(),
        data: dir.join("standby"),
        port: free_port(),
        running: false,
    };
    run(Command::new(bin.join("pg_basebackup"))
        .arg("--pgdata")
        .arg(&standby.data)
        .arg(format!(
            "--dbname=host=127.0.0.1 port={} user=postgres application_name=standby1",
            primary.port
        ))
        .args([
            "--write-recovery-conf",
            "--checkpoint=fast",
            "--wal-method=stream",
        ]));
    // Promoted, it runs alone until a new standby is attached: it must not
    // wait for one (the copied setting names itself), or every commit hangs.
    standby.configure(&format!(
        "port = {}\nsynchronous_standby_names = ''\n",
        standby.port
    ));
    standby.start();
    (primary, standby)
}

fn program_folder() -> Option<PathBuf> {
    cajahub::db::local::program_folders()
        .into_iter()
        .find(|dir| {
            ["initdb", "pg_ctl", "pg_basebackup", "pg_dump", "pg_restore"]
                .iter()
                .all(|p| dir.join(p).is_file())
        })
}

/// Two clusters, synchronous replication; the primary crashes while 8 POS
/// sell and the standby is promoted: the hub on both hosts reconnects by
/// itself, every acknowledged sale is on the new primary once, counters
/// equal SQL, the caja's sequence is gapless; the time without service is
/// measured.
#[actix_web::test]
async fn the_hub_follows_a_promoted_standby_and_no_acknowledged_sale_is_missing() {
    let Some(bin) = program_folder() else {
        assert!(
            std::env::var_os("CAJAHUB_REQUIRE_TOOLS").is_none(),
            "PostgreSQL's server programs are required but missing"
        );
        crate::helpers::skipped("needs PostgreSQL's server programs (initdb, pg_basebackup)");
        return;
    };
    let dir = tempfile::Builder::new()
        .prefix("cajahub-replication-")
        .tempdir_in("/tmp")
        .unwrap();
    if nix::unistd::Uid::effective().is_root() {
        let user = nix::unistd::User::from_name("postgres").unwrap().unwrap();
        nix::unistd::chown(dir.path(), Some(user.uid), Some(user.gid)).unwrap();
    }
    let (primary, standby) = pair(&bin, dir.path());

    // The venue, copied onto the primary.
    let (stopped, caja, cashier) = venue().await;
    let dump = dir.path().join("venue.dump");
    run(Command::new(bin.join("pg_dump"))
        .args(["--format=custom", "--no-owner", "--file"])
        .arg(&dump)
        .arg(stopped.database_url()));
    run(Command::new(bin.join("psql"))
        .arg(primary.url("postgres"))
        .args(["-c", "CREATE DATABASE cajahub"]));
    run(Command::new(bin.join("pg_restore"))
        .args(["--no-owner", "--exit-on-error", "--dbname"])
        .arg(primary.url("cajahub"))
        .arg(&dump));
    let both = format!(
        "postgres://postgres@127.0.0.1:{},127.0.0.1:{}/cajahub?target_session_attrs=read-write&sslmode=disable&connect_timeout=2",
        primary.port, standby.port
    );
    let address = free_address();
    let _hub = HubProcess::start(&address, &both).await;
    let mut on_primary = PgConnection::establish(&primary.url("cajahub")).unwrap();
    assert_eq!(
        count(
            &mut on_primary,
            "SELECT count(*) AS n FROM pg_stat_replication WHERE application_name = 'standby1' AND sync_state = 'sync'"
        ),
        1,
        "the standby is synchronous"
    );
    let checked = crate::cli::cajahub(&["check"], &both);
    let said = String::from_utf8_lossy(&checked.stdout).to_string();
    assert!(
        said.contains("✅ Replicación de PostgreSQL: 1 standby, 1 síncrono(s)")
            && said.contains("cada venta confirmada está en dos servidores"),
        "{said}"
    );

    let standby_url = standby.url("cajahub");
    // The crash and the promotion while a round of sales is in flight.
    let (burst, clusters) = burst(
        &cashier,
        std::slice::from_ref(&address),
        caja,
        10,
        move || {
            let mut primary = primary;
            primary.crash();
            let down = Instant::now();
            standby.promote();
            ((primary, standby), down)
        },
    )
    .await;
    let without_service = burst.without_service();
    println!(
        "replication: from the primary's crash to the first sale acknowledged on the promoted standby: {without_service:?}"
    );
    assert!(
        without_service < Duration::from_secs(15),
        "{without_service:?}"
    );
    let acknowledged = burst.acknowledged;
    let mut on_new_primary = PgConnection::establish(&standby_url).unwrap();
    check_history(&mut on_new_primary, caja, &acknowledged);
    drop(clusters);
    drop(stopped);
}
