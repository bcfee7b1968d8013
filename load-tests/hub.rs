//! The hub's own binary, started for a load run (the load generators that
//! stand outside the hub, as its users do).

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use actix_web::rt::time::sleep;

/// The binaries named with `--hub`, or else the `cajahub` built beside the
/// running load generator.
pub fn named_or_beside(named: &mut Vec<String>) {
    if named.is_empty() {
        let beside = std::env::current_exe()
            .ok()
            .and_then(|exe| Some(exe.parent()?.parent()?.join("cajahub")))
            .expect("the hub's binary: --hub PATH");
        named.push(beside.display().to_string());
    }
}

/// A port nobody listens on now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A process this program started, killed when dropped.
pub struct Spawned(pub Child);

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The hub's binary on a free port of a fresh venue; killed when dropped.
pub struct Hub(Spawned);

impl Hub {
    pub async fn start(binary: &str, database_url: &str) -> (Self, String) {
        Self::start_under(&[], binary, database_url).await
    }

    /// Started by `wrapper` (`valgrind --tool=callgrind …`), when given:
    /// it is given a minute to answer.
    pub async fn start_under(
        wrapper: &[String],
        binary: &str,
        database_url: &str,
    ) -> (Self, String) {
        let port = free_port();
        let mut command = match wrapper.split_first() {
            Some((program, args)) => {
                let mut command = Command::new(program);
                command.args(args).arg(binary);
                command
            }
            None => Command::new(binary),
        };
        // Owned at once, so a hub that never answers is still killed.
        let hub = Self(Spawned(
            command
                .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
                .env("DATABASE_URL", database_url)
                .env("CAJAHUB_LOG", "error")
                .env("CAJAHUB_POOL_SIZE", "16")
                // Thousands of screens from one login: a simulation, not a person.
                .env("CAJAHUB_SCREENS_PER_LOGIN", "10000")
                .env("CAJAHUB_SCREENS_PER_USER", "10000")
                .stdout(Stdio::null())
                .spawn()
                .unwrap_or_else(|err| panic!("{binary}: {err}")),
        ));
        let base = format!("http://127.0.0.1:{port}");
        let tries = if wrapper.is_empty() { 200 } else { 1200 };
        for _ in 0..tries {
            if let Ok(response) = reqwest::get(format!("{base}/healthz")).await
                && response.status() == 200
            {
                return (hub, base);
            }
            sleep(Duration::from_millis(50)).await;
        }
        panic!("{binary} did not start");
    }

    pub fn rss_kib(&self) -> u64 {
        rss_kib_of(self.0.0.id())
    }

    /// Stops it as systemd does (SIGTERM) and waits for it to end
    /// (`sale-instructions`: callgrind writes its counts at the exit).
    #[allow(dead_code)]
    pub fn terminate(mut self) {
        let pid = nix::unistd::Pid::from_raw(self.0.0.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let _ = self.0.0.wait();
    }
}

/// The resident memory of process `pid`, in KiB (0 once it is gone).
pub fn rss_kib_of(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}
