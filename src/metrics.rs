//! Prometheus metrics, served as text at `/metrics` on an address of their
//! own (`--metrics-bind`): a scraper cannot log in, and the venue's public
//! site (nginx) never proxies that address, so nobody outside reads how
//! busy the cajas are.
//!
//! Counters and histograms live in one process-wide registry, moved where
//! the work happens; gauges of the hub's state (screens, pool) are read at
//! each scrape.

use std::sync::LazyLock;
use std::time::Duration;

use prometheus::{
    Encoder, Gauge, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec,
    Opts, Registry, TextEncoder,
};

/// How a screen is greeted: a snapshot, or the events it missed.
const GREETINGS: [&str; 2] = ["snapshot", "replayed"];
/// Why a screen is dropped (`screens::socket`'s `End::dropped_for`).
pub const DROP_REASONS: [&str; 4] = ["silent", "slow", "fell_behind", "protocol"];
const AUDIENCES: [&str; 2] = ["floor", "pos"];
const POOL_STATES: [&str; 2] = ["idle", "in_use"];
const BOLETA_STATES: [&str; 2] = ["pending", "rejected"];

/// Every metric of the hub.
pub struct Metrics {
    registry: Registry,
    sales: IntCounterVec,
    changes: IntCounterVec,
    commit: Histogram,
    pool_wait: Histogram,
    in_flight: IntGaugeVec,
    greetings: IntCounterVec,
    dropped: IntCounterVec,
    card_attempts: IntCounterVec,
    fallbacks: IntCounterVec,
    screens: IntGaugeVec,
    pool: IntGaugeVec,
    boletas: IntGaugeVec,
    boletas_oldest: IntGauge,
    errors: IntGauge,
    scrapes: IntCounter,
    failover: IntGaugeVec,
    replication_lag: Gauge,
}

static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

/// The hub's metrics.
pub fn metrics() -> &'static Metrics {
    &METRICS
}

/// Buckets from 0.5 ms to 5 s: a commit on a quiet machine takes a
/// millisecond or two, and the statement timeout ends it at 5 s.
const SECONDS: [f64; 14] = [
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0,
];

impl Metrics {
    fn new() -> Self {
        let registry =
            Registry::new_custom(Some("cajahub".into()), None).unwrap_or_else(|_| Registry::new());
        let counter = |name: &str, help: &str, labels: &[&str]| {
            let metric = IntCounterVec::new(Opts::new(name, help), labels)
                .unwrap_or_else(|err| unreachable!("metric {name}: {err}"));
            let _ = registry.register(Box::new(metric.clone()));
            metric
        };
        let gauge = |name: &str, help: &str, labels: &[&str]| {
            let metric = IntGaugeVec::new(Opts::new(name, help), labels)
                .unwrap_or_else(|err| unreachable!("metric {name}: {err}"));
            let _ = registry.register(Box::new(metric.clone()));
            metric
        };
        let histogram = |name: &str, help: &str| {
            let metric =
                Histogram::with_opts(HistogramOpts::new(name, help).buckets(SECONDS.to_vec()))
                    .unwrap_or_else(|err| unreachable!("metric {name}: {err}"));
            let _ = registry.register(Box::new(metric.clone()));
            metric
        };
        let errors = IntGauge::new("log_errors", "ERROR lines logged since the process started")
            .unwrap_or_else(|err| unreachable!("metric log_errors: {err}"));
        let _ = registry.register(Box::new(errors.clone()));
        let scrapes = IntCounter::new("scrapes_total", "Times /metrics was read")
            .unwrap_or_else(|err| unreachable!("metric scrapes_total: {err}"));
        let _ = registry.register(Box::new(scrapes.clone()));
        let boletas_oldest = IntGauge::new(
            "boletas_oldest_pending_seconds",
            "How long the oldest tax document waiting for its provider has waited (0: none waits)",
        )
        .unwrap_or_else(|err| unreachable!("metric boletas_oldest_pending_seconds: {err}"));
        let _ = registry.register(Box::new(boletas_oldest.clone()));
        let replication_lag = Gauge::new(
            "replication_lag_seconds",
            "The furthest standby PostgreSQL's replay lag, as the active hub last read it",
        )
        .unwrap_or_else(|err| unreachable!("metric replication_lag_seconds: {err}"));
        let _ = registry.register(Box::new(replication_lag.clone()));
        let build = gauge(
            "build_info",
            "The running version and the commit it was built from",
            &["version", "commit"],
        );
        build
            .with_label_values(&[env!("CARGO_PKG_VERSION"), crate::GIT_COMMIT])
            .set(1);
        let metrics = Self {
            sales: counter(
                "sales_committed_total",
                "Sales committed, per caja",
                &["caja"],
            ),
            changes: counter(
                "changes_committed_total",
                "Changes committed to the event log, per kind",
                &["change"],
            ),
            commit: histogram(
                "commit_seconds",
                "A caja's write, from its transaction's start to its commit",
            ),
            pool_wait: histogram(
                "db_pool_wait_seconds",
                "Time waited for a database connection from the pool",
            ),
            in_flight: gauge(
                "caja_commands_in_flight",
                "Commands sent to a caja and not yet answered (its mailbox, and the one it runs)",
                &["caja"],
            ),
            greetings: counter(
                "screen_greetings_total",
                "Screens greeted on connecting: with a snapshot, or with the events they missed replayed",
                &["kind"],
            ),
            dropped: counter(
                "screens_dropped_total",
                "Screens the hub closed for their own sake, by reason",
                &["reason"],
            ),
            card_attempts: counter(
                "card_attempts_total",
                "Card attempts by provider and state reached (PENDING is a start)",
                &["provider", "status"],
            ),
            fallbacks: counter(
                "card_fallbacks_total",
                "Card attempts started on a backup after the primary failed, by the backup provider",
                &["provider"],
            ),
            screens: gauge(
                "screens_connected",
                "Live screens connected now",
                &["audience"],
            ),
            pool: gauge(
                "db_pool_connections",
                "The database pool's connections now",
                &["state"],
            ),
            boletas: gauge(
                "boletas",
                "Tax documents waiting for their provider (pending) and rejected ones a supervisor must see to",
                &["state"],
            ),
            boletas_oldest,
            errors,
            scrapes,
            failover: gauge(
                "failover",
                "This hub as the active one (hubs with failover on): its lease's epoch, since when \
                 (Unix time), the standby PostgreSQLs streaming from its database, those a commit \
                 waits for, and whether an acknowledged commit is on two servers (1) or not (0)",
                &["figure"],
            ),
            replication_lag,
            registry,
        };
        metrics.zero_known_series();
        metrics
    }

    /// Every series whose labels this module knows, at zero: a scraper (and
    /// an alert on a rate) sees them from the start. The others are made
    /// at zero by whoever knows their labels: the cajas' when their actors
    /// start ([`Self::caja_started`]), the changes' and the card attempts'
    /// by the registry ([`Self::changes_known`], [`Self::card_labels_known`]).
    fn zero_known_series(&self) {
        for kind in GREETINGS {
            self.greetings.with_label_values(&[kind]);
        }
        for reason in DROP_REASONS {
            self.dropped.with_label_values(&[reason]);
        }
        for audience in AUDIENCES {
            self.screens.with_label_values(&[audience]);
        }
        for state in POOL_STATES {
            self.pool.with_label_values(&[state]);
        }
        for state in BOLETA_STATES {
            self.boletas.with_label_values(&[state]);
        }
    }

    /// Caja `caja`'s series, at zero (its actor started).
    pub fn caja_started(&self, caja: i32) {
        let caja = caja.to_string();
        self.sales.with_label_values(&[&caja]);
        self.in_flight.with_label_values(&[&caja]);
    }

    /// The kinds of change the event log knows, at zero.
    pub fn changes_known<'a>(&self, changes: impl IntoIterator<Item = &'a str>) {
        for change in changes {
            self.changes.with_label_values(&[change]);
        }
    }

    /// The card providers and attempt statuses, every pair at zero.
    pub fn card_labels_known(&self, providers: &[&str], statuses: &[&str]) {
        for provider in providers {
            for status in statuses {
                self.card_attempts.with_label_values(&[provider, status]);
            }
            self.fallbacks.with_label_values(&[provider]);
        }
    }

    /// A change committed on caja `caja` (counted when it is published).
    pub fn committed(&self, caja: i32, change: &str) {
        self.changes.with_label_values(&[change]).inc();
        if change == "sale_recorded" {
            self.sales.with_label_values(&[&caja.to_string()]).inc();
        }
    }

    pub fn commit_took(&self, took: Duration) {
        self.commit.observe(took.as_secs_f64());
    }

    pub fn pool_waited(&self, took: Duration) {
        self.pool_wait.observe(took.as_secs_f64());
    }

    /// Counts a command to caja `caja` as in flight until the guard drops.
    pub fn command_sent(&self, caja: i32) -> InFlight {
        let gauge = self.in_flight.with_label_values(&[&caja.to_string()]);
        gauge.inc();
        InFlight(gauge)
    }

    /// A screen greeted with a snapshot (`replayed` false) or its missed events.
    pub fn greeted(&self, replayed: bool) {
        let [snapshot, replayed_events] = GREETINGS;
        let kind = if replayed { replayed_events } else { snapshot };
        self.greetings.with_label_values(&[kind]).inc();
    }

    pub fn screen_dropped(&self, reason: &'static str) {
        self.dropped.with_label_values(&[reason]).inc();
    }

    /// A card attempt of `provider` committed in `status`; `fell_back`
    /// when it is a new attempt taking over from another provider's.
    pub fn card_attempt(&self, provider: &str, status: &str, fell_back: bool) {
        self.card_attempts
            .with_label_values(&[provider, status])
            .inc();
        if fell_back {
            self.fallbacks.with_label_values(&[provider]).inc();
        }
    }

    /// The lease and replication as the active hub last read them.
    pub fn failover(&self, now: FailoverGauges) {
        for (figure, value) in [
            ("epoch", now.epoch),
            ("active_since_seconds", now.active_since),
            ("replicas", now.replicas),
            ("synchronous_replicas", now.synchronous_replicas),
            ("commits_synchronous", i64::from(now.synchronous)),
        ] {
            self.failover.with_label_values(&[figure]).set(value);
        }
        self.replication_lag.set(now.replication_lag);
    }

    /// The text a scraper reads, with the hub's gauges as they are now.
    pub fn render(&self, now: Gauges) -> String {
        self.scrapes.inc();
        let [floor, pos] = AUDIENCES;
        self.screens
            .with_label_values(&[floor])
            .set(now.floor_screens as i64);
        self.screens
            .with_label_values(&[pos])
            .set(now.pos_screens as i64);
        let pool = now.pool;
        let idle = i64::from(pool.idle_connections);
        let [idle_state, in_use] = POOL_STATES;
        self.pool.with_label_values(&[idle_state]).set(idle);
        self.pool
            .with_label_values(&[in_use])
            .set(i64::from(pool.connections) - idle);
        let [pending, rejected] = BOLETA_STATES;
        self.boletas
            .with_label_values(&[pending])
            .set(now.boletas.pending);
        self.boletas
            .with_label_values(&[rejected])
            .set(now.boletas.rejected);
        self.boletas_oldest.set(now.boletas.oldest_pending_seconds);
        self.errors
            .set(i64::try_from(crate::telemetry::errors_logged()).unwrap_or(i64::MAX));
        let mut text = Vec::new();
        if let Err(err) = TextEncoder::new().encode(&self.registry.gather(), &mut text) {
            tracing::warn!(error = %err, "could not encode the metrics");
        }
        String::from_utf8(text).unwrap_or_default()
    }
}

/// Hears the pools' checkouts: how long each waited for a connection.
#[derive(Debug, Clone, Copy)]
pub struct PoolWaits;

impl diesel::r2d2::HandleEvent for PoolWaits {
    fn handle_checkout(&self, event: diesel::r2d2::event::CheckoutEvent) {
        metrics().pool_waited(event.duration());
    }
}

/// A command in flight to a caja; counted until dropped.
pub struct InFlight(IntGauge);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// The hub's state as a scrape reads it.
pub struct Gauges {
    pub floor_screens: usize,
    pub pos_screens: usize,
    pub pool: diesel::r2d2::State,
    pub boletas: BoletaGauges,
}

/// What the active hub read of its lease and of replication.
#[derive(Debug, Clone, Copy, Default)]
pub struct FailoverGauges {
    pub epoch: i64,
    /// Unix time.
    pub active_since: i64,
    pub replicas: i64,
    pub synchronous_replicas: i64,
    pub synchronous: bool,
    pub replication_lag: f64,
}

/// The boletas' outbox as of its last look.
#[derive(Debug, Clone, Copy, Default)]
pub struct BoletaGauges {
    pub pending: i64,
    pub rejected: i64,
    pub oldest_pending_seconds: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The text a fresh hub's scraper reads before any work.
    fn fresh_text() -> String {
        let metrics = Metrics::new();
        metrics.caja_started(7);
        metrics.changes_known(["sale_recorded", "card_attempt"]);
        metrics.card_labels_known(&["GETNET", "KLAP"], &["PENDING", "APPROVED", "UNKNOWN"]);
        let mut text = Vec::new();
        TextEncoder::new()
            .encode(&metrics.registry.gather(), &mut text)
            .unwrap();
        String::from_utf8(text).unwrap()
    }

    #[test]
    fn every_known_series_is_there_at_zero_before_any_work() {
        let text = fresh_text();
        for series in [
            r#"cajahub_card_attempts_total{provider="KLAP",status="UNKNOWN"} 0"#,
            r#"cajahub_card_attempts_total{provider="GETNET",status="APPROVED"} 0"#,
            r#"cajahub_card_fallbacks_total{provider="KLAP"} 0"#,
            r#"cajahub_screen_greetings_total{kind="replayed"} 0"#,
            r#"cajahub_screens_dropped_total{reason="fell_behind"} 0"#,
            r#"cajahub_screens_connected{audience="pos"} 0"#,
            r#"cajahub_db_pool_connections{state="in_use"} 0"#,
            r#"cajahub_boletas{state="rejected"} 0"#,
            "cajahub_boletas_oldest_pending_seconds 0",
            r#"cajahub_sales_committed_total{caja="7"} 0"#,
            r#"cajahub_caja_commands_in_flight{caja="7"} 0"#,
            r#"cajahub_changes_committed_total{change="card_attempt"} 0"#,
        ] {
            assert!(text.contains(series), "{series} in\n{text}");
        }
    }
}
