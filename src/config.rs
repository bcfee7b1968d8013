//! Runtime configuration, read from command-line flags and the environment.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::cajas::terminal::TerminalConfig;
use crate::clock::Clock;
use crate::money::Pesos;
use crate::registers::sale::SaleLimits;

/// Everything the hub needs to know at start. Every flag has an environment
/// variable of the same meaning, so a service file needs no arguments.
#[derive(clap::Args, Debug, Clone)]
pub struct Settings {
    /// Address the HTTP server listens on.
    #[arg(
        long,
        env = "CAJAHUB_BIND",
        default_value = "127.0.0.1:8080",
        global = true
    )]
    pub bind: SocketAddr,

    /// PostgreSQL connection URL. Without one the hub uses a local PostgreSQL
    /// at 127.0.0.1:5432, or a private cluster under the data directory.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true, global = true)]
    pub database_url: Option<String>,

    /// Maximum number of pooled database connections for requests (the
    /// cajas' writes have a pool as large of their own).
    #[arg(long, env = "CAJAHUB_POOL_SIZE", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..=200), global = true)]
    pub pool_size: u32,

    /// Where a private PostgreSQL cluster lives (`<dir>/pg`) when no
    /// `DATABASE_URL` is set. Without it, only `cargo run`/`cargo test` in
    /// the checkout fall back to one (in the checkout's `var/`); elsewhere a
    /// missing `DATABASE_URL` is an error.
    #[arg(long, env = "CAJAHUB_DATA_DIR", global = true)]
    pub data_dir: Option<PathBuf>,

    /// Key that signs and encrypts session cookies: base64 of at least 64
    /// bytes. Without it the hub makes one on first run and keeps it in the
    /// database, so restarts do not log anybody out.
    #[arg(
        long,
        env = "CAJAHUB_SESSION_KEY",
        hide_env_values = true,
        global = true
    )]
    pub session_key: Option<String>,

    /// Mark session cookies `Secure` (set it when the hub is served over HTTPS).
    #[arg(long, env = "CAJAHUB_SECURE_COOKIES", global = true)]
    pub secure_cookies: bool,

    /// A session unused for this long ends (e.g. `30m`, `2h`).
    #[arg(long, env = "CAJAHUB_SESSION_IDLE", default_value = "2h",
          value_parser = humantime::parse_duration, global = true)]
    pub session_idle: Duration,

    /// A session ends this long after login, however much it is used.
    #[arg(long, env = "CAJAHUB_SESSION_MAX", default_value = "14h",
          value_parser = humantime::parse_duration, global = true)]
    pub session_max: Duration,

    /// Failed logins are counted over this window, and a lockout lasts as long.
    #[arg(long, env = "CAJAHUB_LOGIN_LOCKOUT", default_value = "15m",
          value_parser = humantime::parse_duration, global = true)]
    pub login_lockout: Duration,

    /// A live screen silent for this long is closed (it is pinged four
    /// times as often).
    #[arg(long, env = "CAJAHUB_SCREEN_TIMEOUT", default_value = "20s",
          value_parser = humantime::parse_duration, global = true)]
    pub screen_timeout: Duration,

    /// A live screen whose connection takes no frame for this long (it
    /// stopped reading) is dropped.
    #[arg(long, env = "CAJAHUB_SCREEN_SEND_TIMEOUT", default_value = "10s",
          value_parser = humantime::parse_duration, global = true)]
    pub screen_send_timeout: Duration,

    /// Live screens one login may hold open at once (a browser's tabs);
    /// one more is closed with code 4429.
    #[arg(long, env = "CAJAHUB_SCREENS_PER_LOGIN", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000), global = true)]
    pub screens_per_login: u32,

    /// Live screens one person may hold open at once over all their logins
    /// (devices); one more is closed with code 4429.
    #[arg(long, env = "CAJAHUB_SCREENS_PER_USER", default_value_t = 30,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000), global = true)]
    pub screens_per_user: u32,

    /// A floor dashboard is sent what changed at most once per this
    /// interval while the venue is busy (a change after a quiet interval
    /// goes at once); `0s` sends every change as it comes. Past 2,000
    /// dashboards the hub lengthens it (see `registers::floor_feed`).
    #[arg(long, env = "CAJAHUB_FLOOR_INTERVAL", default_value = "200ms",
          value_parser = parse_floor_interval, global = true)]
    pub floor_interval: Duration,

    /// The longest one database statement may run (PostgreSQL's
    /// `statement_timeout` on the hub's connections).
    #[arg(long, env = "CAJAHUB_STATEMENT_TIMEOUT", default_value = "5s",
          value_parser = parse_timeout, global = true)]
    pub statement_timeout: Duration,

    /// The longest a statement waits for a row another transaction holds
    /// (PostgreSQL's `lock_timeout`).
    #[arg(long, env = "CAJAHUB_LOCK_TIMEOUT", default_value = "2s",
          value_parser = parse_timeout, global = true)]
    pub lock_timeout: Duration,

    /// The longest a request waits for a caja's answer (then `register_busy`),
    /// and a write may last before the caja counts as not answering.
    #[arg(long, env = "CAJAHUB_REGISTER_TIMEOUT", default_value = "8s",
          value_parser = parse_timeout, global = true)]
    pub register_timeout: Duration,

    /// A provider declared out for the whole venue when its payments fail
    /// on this many cajas ...
    #[arg(long, env = "CAJAHUB_OUTAGE_CAJAS", default_value_t = 3,
          value_parser = clap::value_parser!(u32).range(1..=100), global = true)]
    pub outage_cajas: u32,

    /// ... within this window.
    #[arg(long, env = "CAJAHUB_OUTAGE_WINDOW", default_value = "5m",
          value_parser = parse_timeout, global = true)]
    pub outage_window: Duration,

    /// How long a provider's failure (at a caja, or the venue's outage)
    /// keeps the cajas on their backup without a new failure.
    #[arg(long, env = "CAJAHUB_PROVIDER_COOLDOWN", default_value = "5m",
          value_parser = parse_timeout, global = true)]
    pub provider_cooldown: Duration,

    /// A sale above this amount asks the cashier to confirm it on the POS
    /// (pesos: `500000` or `500.000`).
    #[arg(long, env = "CAJAHUB_SALE_CONFIRM_ABOVE", default_value = "500.000",
          value_parser = parse_pesos, global = true)]
    pub sale_confirm_above: Pesos,

    /// The largest sale the venue takes; above it a sale is refused as a
    /// typo (pesos).
    #[arg(long, env = "CAJAHUB_SALE_MAX", default_value = "5.000.000",
          value_parser = parse_pesos, global = true)]
    pub sale_max: Pesos,

    /// Simulate every caja's card terminal, e.g. `GETNET=hang,KLAP=approve`
    /// (behaviors: approve, decline, fail, hang, random; `latency=1500` ms),
    /// over what each caja says: for demos and load tests.
    #[arg(long, env = "CAJAHUB_SIMULATE_TERMINALS", value_parser = parse_simulation, global = true)]
    pub simulate_terminals: Option<TerminalConfig>,

    /// Addresses of reverse proxies (nginx) whose `X-Forwarded-For` names
    /// the client, for login throttling and the logins' record; without
    /// one, the peer's address is the client's.
    #[arg(
        long,
        env = "CAJAHUB_TRUSTED_PROXY",
        value_delimiter = ',',
        global = true
    )]
    pub trusted_proxy: Vec<std::net::IpAddr>,

    /// Address `/metrics` (Prometheus) is served on, apart from the hub's
    /// pages: keep it private (loopback, or the monitoring network).
    #[arg(long, env = "CAJAHUB_METRICS_BIND", global = true)]
    pub metrics_bind: Option<SocketAddr>,

    /// The DTE provider's API key (its HTTP API, `/admin/boleta`): sent as
    /// a bearer token, never shown nor logged.
    #[arg(
        long,
        env = "CAJAHUB_DTE_API_KEY",
        hide_env_values = true,
        global = true
    )]
    pub dte_api_key: Option<String>,

    /// The secret the DTE provider's webhook carries (`X-Webhook-Secret`
    /// on `POST /api/boletas/estado`); without it the webhook is off.
    #[arg(
        long,
        env = "CAJAHUB_DTE_WEBHOOK_SECRET",
        hide_env_values = true,
        global = true
    )]
    pub dte_webhook_secret: Option<String>,

    /// Log filter, e.g. `info` or `cajahub=debug,actix_web=info`.
    #[arg(long, env = "CAJAHUB_LOG", default_value = "info", global = true)]
    pub log_level: String,

    /// Log as JSON lines (for a log collector) instead of human-readable text.
    #[arg(long, env = "CAJAHUB_LOG_JSON", global = true)]
    pub log_json: bool,

    /// Take part in active/standby failover with the other hubs on this
    /// database: serve only while holding its lease, wait as a standby
    /// otherwise (`/readyz` 503) and take over when the active goes.
    #[arg(long, env = "CAJAHUB_FAILOVER", global = true)]
    pub failover: bool,

    /// How long the active hub may go without renewing its lease before a
    /// standby takes over (a hub whose process died is taken over from at
    /// once: its lock goes with its connection).
    #[arg(long, env = "CAJAHUB_FAILOVER_LEASE", default_value = "3s",
          value_parser = parse_lease, global = true)]
    pub failover_lease: Duration,

    /// The lease this hub holds, once active (set at start, never typed).
    #[arg(skip)]
    pub fence: Option<crate::db::fence::Fence>,

    /// A socket already listening on `bind`: the standby's, kept when it
    /// takes over, so the port is never let go of in between.
    #[arg(skip)]
    pub listener: Option<std::sync::Arc<std::net::TcpListener>>,

    /// The hub's time; tests move it by hand.
    #[arg(skip)]
    pub clock: Clock,
}

/// Whole pesos as a person writes them (`500000`, `500.000`), above zero.
fn parse_pesos(raw: &str) -> Result<Pesos, String> {
    crate::money::parse_typed(raw)
        .and_then(|value| Pesos::positive(value).ok())
        .ok_or_else(|| "must be whole pesos above zero, e.g. 500000 or 500.000".to_owned())
}

fn parse_simulation(raw: &str) -> Result<TerminalConfig, String> {
    TerminalConfig::parse_simulation(raw)
}

/// A duration (`200ms`, `5m`) within `range`; `bounds` says which.
fn parse_duration_within(
    raw: &str,
    range: std::ops::RangeInclusive<Duration>,
    bounds: &str,
) -> Result<Duration, String> {
    let duration = humantime::parse_duration(raw).map_err(|err| err.to_string())?;
    if !range.contains(&duration) {
        return Err(format!("must be {bounds}"));
    }
    Ok(duration)
}

/// A timeout: a duration from 1 ms to 10 minutes.
fn parse_timeout(raw: &str) -> Result<Duration, String> {
    let range = Duration::from_millis(1)..=Duration::from_secs(600);
    parse_duration_within(raw, range, "between 1ms and 10m")
}

/// A failover lease: long enough to renew three times over a slow
/// database, short enough that a paused hub is taken over from quickly.
fn parse_lease(raw: &str) -> Result<Duration, String> {
    parse_duration_within(
        raw,
        Duration::from_millis(300)..=Duration::from_secs(60),
        "between 300ms and 60s",
    )
}

/// The floor's frame interval: up to 2 s (a dashboard a person reads).
fn parse_floor_interval(raw: &str) -> Result<Duration, String> {
    parse_duration_within(raw, Duration::ZERO..=Duration::from_secs(2), "at most 2s")
}

impl Settings {
    pub fn auth_policy(&self) -> crate::auth::AuthPolicy {
        crate::auth::AuthPolicy {
            idle: self.session_idle,
            absolute: self.session_max,
            limits: crate::auth::throttle::LoginLimits::new(self.login_lockout),
            trusted_proxies: self.trusted_proxy.clone(),
        }
    }

    pub fn outage_rules(&self) -> crate::payments::venue::OutageRules {
        crate::payments::venue::OutageRules {
            cajas: self.outage_cajas as usize,
            window: self.outage_window,
            cooldown: self.provider_cooldown,
        }
    }

    /// The venue's bounds on one sale, when they make sense together.
    pub fn sale_limits(&self) -> Result<SaleLimits, String> {
        SaleLimits::new(self.sale_confirm_above, self.sale_max)
    }

    pub fn db_limits(&self) -> crate::db::DbLimits {
        crate::db::DbLimits {
            statement_timeout: self.statement_timeout,
            lock_timeout: self.lock_timeout,
            fence: self.fence,
        }
    }

    pub fn screen_caps(&self) -> crate::screens::ScreenCaps {
        crate::screens::ScreenCaps {
            per_login: self.screens_per_login as usize,
            per_user: self.screens_per_user as usize,
        }
    }

    pub fn screen_timeouts(&self) -> crate::screens::Timeouts {
        crate::screens::Timeouts {
            silence: self.screen_timeout,
            send: self.screen_send_timeout,
        }
    }

    /// The settings as the start line logs them: everything but the
    /// secrets (the database password, the session key).
    pub fn describe(&self) -> String {
        let database = match &self.database_url {
            Some(url) => match url::Url::parse(url) {
                Ok(mut url) => {
                    if url.password().is_some() {
                        let _ = url.set_password(Some("***"));
                    }
                    url.to_string()
                }
                Err(_) => "(not a URL)".into(),
            },
            None => match &self.data_dir {
                Some(dir) => format!("(private cluster in {})", dir.display()),
                None => "(private cluster in the checkout's var/)".to_owned(),
            },
        };
        let metrics = self
            .metrics_bind
            .map_or_else(|| "off".to_owned(), |a| a.to_string());
        format!(
            "bind={} database={database} pool_size={} session_key={} secure_cookies={} \
             session_idle={:?} session_max={:?} login_lockout={:?} screen_timeout={:?} \
             screen_send_timeout={:?} screens_per_login={} screens_per_user={} floor_interval={:?} statement_timeout={:?} lock_timeout={:?} register_timeout={:?} \
             outage_cajas={} outage_window={:?} provider_cooldown={:?} sale_confirm_above={} \
             sale_max={} simulate_terminals={} \
             trusted_proxy={:?} metrics_bind={metrics} dte_api_key={} dte_webhook_secret={} failover={} log={} log_json={}",
            self.bind,
            self.pool_size,
            if self.session_key.is_some() {
                "(set)"
            } else {
                "(kept in the database)"
            },
            self.secure_cookies,
            self.session_idle,
            self.session_max,
            self.login_lockout,
            self.screen_timeout,
            self.screen_send_timeout,
            self.screens_per_login,
            self.screens_per_user,
            self.floor_interval,
            self.statement_timeout,
            self.lock_timeout,
            self.register_timeout,
            self.outage_cajas,
            self.outage_window,
            self.provider_cooldown,
            self.sale_confirm_above,
            self.sale_max,
            self.simulate_terminals.is_some(),
            self.trusted_proxy,
            set_or_none(&self.dte_api_key),
            set_or_none(&self.dte_webhook_secret),
            if self.failover {
                format!("on(lease={:?})", self.failover_lease)
            } else {
                "off".to_owned()
            },
            self.log_level,
            self.log_json,
        )
    }

    /// Settings for a hub that owns no port yet and talks to `database_url`;
    /// what tests and tools start from.
    pub fn for_database(database_url: impl Into<String>) -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            database_url: Some(database_url.into()),
            pool_size: 4,
            data_dir: None,
            session_key: None,
            secure_cookies: false,
            session_idle: Duration::from_secs(2 * 3600),
            session_max: Duration::from_secs(14 * 3600),
            login_lockout: Duration::from_secs(15 * 60),
            screen_timeout: Duration::from_secs(20),
            screen_send_timeout: Duration::from_secs(10),
            screens_per_login: 10,
            screens_per_user: 30,
            floor_interval: Duration::from_millis(200),
            statement_timeout: Duration::from_secs(5),
            lock_timeout: Duration::from_secs(2),
            register_timeout: Duration::from_secs(8),
            trusted_proxy: Vec::new(),
            metrics_bind: None,
            dte_api_key: None,
            dte_webhook_secret: None,
            outage_cajas: 3,
            outage_window: Duration::from_secs(300),
            provider_cooldown: Duration::from_secs(300),
            sale_confirm_above: Pesos::positive(500_000).unwrap_or_default(),
            sale_max: Pesos::positive(5_000_000).unwrap_or_default(),
            simulate_terminals: None,
            log_level: "info".into(),
            log_json: false,
            failover: false,
            failover_lease: Duration::from_secs(3),
            fence: None,
            listener: None,
            clock: Clock::System,
        }
    }
}

/// A secret as the start-up line says it: whether it is set, never its value.
fn set_or_none(secret: &Option<String>) -> &'static str {
    if secret.is_some() { "(set)" } else { "(none)" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_outside_their_bounds_are_refused_saying_the_bounds() {
        assert_eq!(parse_timeout("1ms"), Ok(Duration::from_millis(1)));
        assert_eq!(parse_timeout("10m"), Ok(Duration::from_secs(600)));
        for outside in ["0s", "11m"] {
            assert_eq!(
                parse_timeout(outside),
                Err("must be between 1ms and 10m".into())
            );
        }
        assert_eq!(parse_floor_interval("0s"), Ok(Duration::ZERO));
        assert_eq!(parse_floor_interval("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_floor_interval("3s"), Err("must be at most 2s".into()));
        assert!(parse_floor_interval("1.5").is_err(), "a unit is required");
    }
}
