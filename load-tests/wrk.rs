//! The durable sale at the machine's limit, measured from outside: `wrk`
//! posting sales (`POST /api/cajas/{id}/sales`, unique keys, spread over
//! `--cajas`) to the hub's own binary at each level of `--connections`, and
//! in the same run `pgbench` running the hub's sale statement at the same
//! concurrency on the same PostgreSQL: the database's own ceiling for that
//! sale (`--pgbench own`: one client per caja, each selling on its own,
//! at most as many at once as the hub's cajas write: the ceiling without
//! the row locks random cajas wait on, which the hub's cajas never do).
//! Every run has a fresh venue; after each hub run the database is
//! checked (every acknowledged sale is there, every session's counters
//! equal the sums of its rows, every caja's event log is whole): a mismatch
//! fails the run.
//!
//! `--hub` names a binary; given more than once (the commit before a change
//! and after it), the runs alternate between them, so all meet the same
//! machine. Figures are medians of `--runs`.
//!
//! cargo build --release --bin cajahub --example wrk-load
//! target/release/examples/wrk-load --hub /tmp/cajahub-before --hub target/release/cajahub
//!     [--connections 1,4,16,64] [--seconds 20] [--runs 3] [--cajas 10]
//!     [--database-url URL] [--pgbench no|own] [--plot FILE.svg] [--cookie-age SECONDS]
//!     [--lines N]   (after a --hub: that hub sells tickets of N products, from a
//!                    catalog seeded for it, with a 10 % tip, instead of amounts)
//!     [--boletas on|down] (after a --hub: its venue issues a boleta for every
//!                    sale, through the simulated provider, or through a provider
//!                    whose address refuses every connection: an outage)
//! target/release/examples/wrk-load --replot medians.json --plot FILE.svg

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use diesel::{Connection, PgConnection, QueryableByName, RunQueryDsl};

#[path = "common.rs"]
mod common;
#[path = "hub.rs"]
mod hub;
use common::{Venue, median, number, parse_flags, percentile, session_cookie};
use hub::Hub;

struct Options {
    hubs: Vec<String>,
    /// The lines of each hub's sales (0: an amount), by its place in `hubs`.
    lines: Vec<usize>,
    /// Whether each hub's venue issues boletas ("on"), to a provider that
    /// is down ("down"), or none ("").
    boletas: Vec<String>,
    connections: Vec<usize>,
    seconds: u64,
    runs: usize,
    cajas: usize,
    admin_url: String,
    pgbench: Pgbench,
    /// Where to draw latency against load (SVG).
    plot: Option<String>,
    /// Draw `plot` from the JSON a run printed, and run nothing.
    replot: Option<String>,
    /// How old the one cookie wrk sends is when the run starts: a client
    /// that keeps its first cookie (an API POS, a script) for longer than
    /// a minute once cost the hub a write per request.
    cookie_age: Duration,
}

/// How pgbench runs the hub's statement beside the hubs.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Pgbench {
    No,
    /// As many clients as the hub has connections, each sale on a random
    /// caja: two clients on one caja wait on its rows' locks.
    RandomCajas,
    /// One client per caja (at most `--cajas`), each on its own: the
    /// order the hub's cajas write in, without lock waits.
    OwnCaja,
}

impl Pgbench {
    fn column(self) -> &'static str {
        match self {
            Pgbench::OwnCaja => "pgbench, a caja each",
            _ => "pgbench",
        }
    }
}

fn options() -> Options {
    let mut options = Options {
        hubs: Vec::new(),
        lines: Vec::new(),
        boletas: Vec::new(),
        connections: vec![1, 4, 16, 64],
        seconds: 20,
        runs: 3,
        cajas: 10,
        admin_url: common::DEFAULT_ADMIN_URL.into(),
        pgbench: Pgbench::RandomCajas,
        plot: None,
        replot: None,
        cookie_age: Duration::ZERO,
    };
    parse_flags(include_str!("wrk.rs"), |flag, value| {
        match flag {
            "--hub" => {
                options.hubs.push(value.into());
                options.lines.push(0);
                options.boletas.push(String::new());
            }
            "--lines" => match options.lines.last_mut() {
                Some(lines) => *lines = number(flag, value),
                None => panic!("--lines follows the --hub it is for"),
            },
            "--boletas" => match options.boletas.last_mut() {
                Some(boletas) if matches!(value, "on" | "down") => *boletas = value.into(),
                Some(_) => panic!("--boletas on or --boletas down"),
                None => panic!("--boletas follows the --hub it is for"),
            },
            "--connections" => {
                options.connections = value.split(',').map(|c| number(flag, c)).collect();
            }
            "--seconds" => options.seconds = number(flag, value) as u64,
            "--runs" => options.runs = number(flag, value),
            "--cajas" => options.cajas = number(flag, value),
            "--database-url" => options.admin_url = value.into(),
            "--pgbench" => {
                options.pgbench = match value {
                    "no" => Pgbench::No,
                    "own" => Pgbench::OwnCaja,
                    _ => Pgbench::RandomCajas,
                }
            }
            "--plot" => options.plot = Some(value.into()),
            "--replot" => options.replot = Some(value.into()),
            "--cookie-age" => options.cookie_age = Duration::from_secs(number(flag, value) as u64),
            _ => return false,
        }
        true
    });
    hub::named_or_beside(&mut options.hubs);
    options.lines.resize(options.hubs.len(), 0);
    options.boletas.resize(options.hubs.len(), String::new());
    options
}

impl Options {
    /// Each hub with the lines of its sales and whether its venue issues
    /// boletas, and the column it is shown in.
    fn builds(&self) -> Vec<(String, (usize, String), String)> {
        self.hubs
            .iter()
            .zip(self.lines.iter().zip(&self.boletas))
            .map(|(hub, (&lines, boletas))| {
                let mut column = match lines {
                    0 => hub.clone(),
                    n => format!("{hub} ({n} lines + tip)"),
                };
                match boletas.as_str() {
                    "on" => column.push_str(" (boletas)"),
                    "down" => column.push_str(" (boletas, provider down)"),
                    _ => {}
                }
                (hub.clone(), (lines, boletas.clone()), column)
            })
            .collect()
    }
}

/// What one run at one level measured.
#[derive(Clone, Copy, Default)]
struct Level {
    rate: f64,
    p50_ms: f64,
    p99_ms: f64,
}

impl Level {
    fn median_of(runs: &[Level]) -> Level {
        let of = |f: fn(&Level) -> f64| median(runs.iter().map(f).collect());
        Level {
            rate: of(|l| l.rate),
            p50_ms: of(|l| l.p50_ms),
            p99_ms: of(|l| l.p99_ms),
        }
    }

    fn cell(&self) -> String {
        format!("{:.0} ({:.1} / {:.1})", self.rate, self.p50_ms, self.p99_ms)
    }
}

/// Each `wrk` thread sells with keys of its own (thread number, counter),
/// round-robin over the cajas: amounts, or with `lines` a ticket of the
/// products [`seed_products`] made, one of each.
fn wrk_script(cajas: usize, cookie: &str, lines: usize) -> String {
    let sale = if lines == 0 {
        r#"local total = 1000 + (counter % 50) * 10
  local body = string.format('{"key":"%s","total":%d,"payments":[{"method":"EFECTIVO","amount":%d}]}', key, total, total)"#
            .to_owned()
    } else {
        // A bar's ticket: the drinks, and the customary 10 % tip.
        let total = (1..=lines).map(|n| n * 1000).sum::<usize>();
        let tip = total / 10;
        let ticket: Vec<String> = (1..=lines)
            .map(|n| format!(r#"{{"product_id":{n}}}"#))
            .collect();
        format!(
            r#"local body = string.format('{{"key":"%s","total":{total},"payments":[{{"method":"EFECTIVO","amount":{total},"tip":{tip}}}],"lines":[{}]}}', key)"#,
            ticket.join(",")
        )
    };
    format!(
        r#"local threads = 0
function setup(thread)
  thread:set("id", threads)
  threads = threads + 1
end
local counter = 0
request = function()
  counter = counter + 1
  local caja = (counter + id) % {cajas} + 1
  local key = string.format("%08x-0000-4000-8000-%012x", id, counter)
  {sale}
  return wrk.format("POST", "/api/cajas/" .. caja .. "/sales",
    {{["Content-Type"] = "application/json", ["Cookie"] = "{cookie}"}}, body)
end
"#
    )
}

/// A figure of wrk's output: `1.23ms`, `456.00us`, `1.02s`.
fn wrk_millis(text: &str) -> f64 {
    let (number, scale) = if let Some(n) = text.strip_suffix("us") {
        (n, 0.001)
    } else if let Some(n) = text.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1000.0)
    } else {
        (text, 1.0)
    };
    number.parse::<f64>().expect("a wrk latency") * scale
}

struct WrkRun {
    level: Level,
    /// Requests answered 2xx (every sale acknowledged).
    acknowledged: i64,
}

fn run_wrk(base: &str, script: &Path, connections: usize, seconds: u64) -> WrkRun {
    let output = Command::new("wrk")
        .args([
            "-t",
            &connections.min(2).to_string(),
            "-c",
            &connections.to_string(),
            "-d",
            &format!("{seconds}s"),
            "--latency",
            "-s",
        ])
        .arg(script)
        .arg(base)
        .output()
        .expect("wrk (apt-get install wrk)");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "wrk failed: {text}");
    let field = |prefix: &str| {
        text.lines()
            .map(str::trim)
            .find_map(|line| line.strip_prefix(prefix))
            .map(|rest| {
                rest.split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_owned()
            })
    };
    let requests: i64 = text
        .lines()
        .find(|line| line.contains(" requests in "))
        .and_then(|line| line.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .expect("wrk's request count");
    let failed: i64 = field("Non-2xx or 3xx responses:").map_or(0, |n| n.parse().unwrap_or(0));
    let errors = field("Socket errors:");
    assert!(
        failed == 0 && errors.is_none(),
        "refused or failed requests: {text}"
    );
    WrkRun {
        level: Level {
            rate: field("Requests/sec:")
                .and_then(|n| n.parse().ok())
                .expect("wrk's rate"),
            p50_ms: wrk_millis(&field("50%").expect("wrk --latency")),
            p99_ms: wrk_millis(&field("99%").expect("wrk --latency")),
        },
        acknowledged: requests - failed,
    }
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

fn count(conn: &mut PgConnection, sql: &str) -> i64 {
    diesel::sql_query(sql)
        .get_result::<Count>(conn)
        .unwrap_or_else(|err| panic!("{sql}: {err}"))
        .n
}

/// Every acknowledged sale is stored (a sale wrk had in flight when it
/// stopped may be stored unacknowledged), each session's counters are the
/// sums of its rows, each caja's log holds one event per `seq` from 1.
fn check_database(url: &str, acknowledged: i64, connections: usize) {
    let mut conn = PgConnection::establish(url).expect("connect");
    let sales = count(&mut conn, "SELECT count(*) AS n FROM sales");
    assert!(
        (acknowledged..=acknowledged + connections as i64).contains(&sales),
        "{acknowledged} sales acknowledged, {sales} stored"
    );
    let wrong = count(
        &mut conn,
        "SELECT count(*) AS n FROM register_sessions s WHERE
           s.ticket_count <> (SELECT count(*) FROM sales x WHERE x.session_id = s.id)
           OR s.cash_sales <> (SELECT COALESCE(sum(p.amount_charged), 0) FROM sale_payments p
                               JOIN sales x ON x.id = p.sale_id WHERE x.session_id = s.id)
           OR COALESCE((s.payment_totals->>'EFECTIVO')::bigint, 0) <> s.cash_sales",
    );
    assert_eq!(wrong, 0, "sessions whose counters are not their rows");
    // (Read from the log alone: the builds compared keep the caja's number
    // in different tables.)
    let broken = count(
        &mut conn,
        "SELECT count(*) AS n FROM (SELECT count(*) AS events, max(seq) AS last
           FROM register_events GROUP BY register_id) log WHERE events <> last",
    );
    assert_eq!(broken, 0, "cajas whose event log has a gap");
}

#[derive(QueryableByName)]
struct Payload {
    #[diesel(sql_type = diesel::sql_types::Text)]
    payload: String,
}

/// A real event of the run, for pgbench to write the same bytes.
fn last_payload(url: &str) -> String {
    let mut conn = PgConnection::establish(url).expect("connect");
    diesel::sql_query(
        "SELECT payload::text AS payload FROM register_events ORDER BY seq DESC LIMIT 1",
    )
    .get_result::<Payload>(&mut conn)
    .expect("an event")
    .payload
}

/// Products 1 to `count` in one category, product `n` at `n` × $1.000,
/// before the hub starts (it reads its catalog then).
fn seed_products(url: &str, count: usize) {
    use diesel::connection::SimpleConnection;
    let mut conn = PgConnection::establish(url).expect("connect");
    conn.batch_execute(&format!(
        "INSERT INTO product_categories (name) VALUES ('Tragos');
         INSERT INTO products (category_id, name, short_name, price, colour)
         SELECT 1, 'Producto ' || n, 'P' || n, n * 1000, '#37474f' FROM generate_series(1, {count}) n;"
    ))
    .expect("seed the catalog");
}

/// The venue issues a boleta for every sale, through the simulated
/// provider or (`down`) an HTTP provider whose address refuses every
/// connection, from before the hub starts (it reads the setting then).
fn issue_boletas(url: &str, down: bool) {
    use diesel::connection::SimpleConnection;
    let provider = if down {
        "provider = 'http', provider_url = 'http://127.0.0.1:9/v1'"
    } else {
        "provider = 'simulado'"
    };
    let mut conn = PgConnection::establish(url).expect("connect");
    conn.batch_execute(&format!(
        "UPDATE boleta_settings SET enabled = true, emisor_rut = '76086428-5',
            razon_social = 'Carga SpA', giro = 'Bar', direccion = 'Calle 1', comuna = 'Santiago',
            modelo = 'boleta', {provider}"
    ))
    .expect("issue boletas");
}

/// How many documents were written and how many the provider accepted.
fn boletas_issued(url: &str) -> String {
    #[derive(QueryableByName)]
    struct Issued {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        written: i64,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        accepted: i64,
    }
    let mut conn = PgConnection::establish(url).expect("connect");
    let issued: Issued = diesel::sql_query(
        "SELECT count(*) AS written, count(*) FILTER (WHERE status = 'ACEPTADA') AS accepted
           FROM tax_documents",
    )
    .get_result(&mut conn)
    .expect("count the boletas");
    format!("{} written, {} accepted", issued.written, issued.accepted)
}

async fn hub_run(
    options: &Options,
    (binary, (lines, boletas)): (&str, (usize, String)),
    connections: usize,
    dir: &Path,
) -> (Level, String) {
    let venue = Venue::create(&options.admin_url, options.cajas, Some(binary));
    if lines > 0 {
        seed_products(&venue.url, lines);
    }
    if !boletas.is_empty() {
        issue_boletas(&venue.url, boletas == "down");
    }
    let (hub, base) = Hub::start(binary, &venue.url).await;
    let script = dir.join("sales.lua");
    let cookie = session_cookie(&base).await;
    if !options.cookie_age.is_zero() {
        println!(
            "  letting the cookie age {} s",
            options.cookie_age.as_secs()
        );
        actix_web::rt::time::sleep(options.cookie_age).await;
    }
    std::fs::write(&script, wrk_script(options.cajas, &cookie, lines))
        .expect("write the wrk script");
    let run = run_wrk(&base, &script, connections, options.seconds);
    println!(
        "  hub RSS after the run: {:.1} MiB",
        hub.rss_kib() as f64 / 1024.0
    );
    if !boletas.is_empty() {
        // Given a moment to send what is left, then counted.
        actix_web::rt::time::sleep(Duration::from_secs(2)).await;
        println!("  boletas: {}", boletas_issued(&venue.url));
    }
    drop(hub);
    check_database(&venue.url, run.acknowledged, connections);
    let payload = last_payload(&venue.url);
    println!("  an event's payload: {} bytes", payload.len());
    venue.drop_database();
    (run.level, payload)
}

/// The hub's sale statement (`registers/record.rs`) for pgbench: the
/// same guard, rows (its one line and one payment in the sale's row),
/// counters, seq and event, its guard values read in the statement
/// instead of bound from memory, on a random caja.
fn pgbench_script(cajas: usize, payload: &str, mode: Pgbench) -> String {
    // Where the sale's id goes: a hub before protocol v3 stored the whole
    // list of last sales, a later one the sale alone.
    let sale_id = if payload.contains("\"recent_sale\":") {
        "recent_sale,id"
    } else {
        "recent_sales,0,id"
    };
    let payload = payload.replace('\'', "''");
    let caja = match mode {
        Pgbench::OwnCaja => ":client_id + 1".to_owned(),
        _ => format!("random(1, {cajas})"),
    };
    format!(
        r#"\set caja_id {caja}
WITH guard AS (
    SELECT s.id, r.event_seq + 1 AS seq FROM register_sessions s JOIN register_seqs r ON r.register_id = s.register_id
    WHERE r.register_id = :caja_id AND s.status = 'OPEN'
    FOR UPDATE OF s, r
), sale AS (
    INSERT INTO sales (register_id, session_id, idempotency_key, request_hash, total, total_charged, seq, created_by, created_at,
                       line_products, line_names, line_prices, line_quantities,
                       payment_methods, payment_amounts, payment_charged, payment_tendered, payment_change_given,
                       payment_providers, payment_used_backup, payment_card_attempts, payment_tips)
    SELECT :caja_id, id, gen_random_uuid(), 'EFECTIVO:1000', 1000, 1000, seq, 1, now(),
           '{{NULL}}', '{{Monto libre}}', '{{1000}}', '{{1}}',
           '{{EFECTIVO}}', '{{1000}}', '{{1000}}', '{{NULL}}', '{{0}}', '{{NULL}}', '{{f}}', '{{NULL}}', '{{0}}' FROM guard
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING id, seq
), counted AS (
    UPDATE register_sessions SET ticket_count = ticket_count + 1, cash_sales = cash_sales + 1000,
        payment_totals = jsonb_build_object('EFECTIVO', cash_sales + 1000)
    WHERE id = (SELECT id FROM guard) AND EXISTS (SELECT 1 FROM sale)
), moved AS (
    UPDATE register_seqs SET event_seq = (SELECT seq FROM sale) WHERE register_id = :caja_id AND EXISTS (SELECT 1 FROM sale)
), logged AS (
    INSERT INTO register_events (register_id, seq, change, payload)
    SELECT :caja_id, sale.seq, 'sale_recorded', jsonb_set('{payload}'::jsonb, '{{{sale_id}}}', to_jsonb(sale.id)) FROM sale
)
SELECT EXISTS (SELECT 1 FROM guard) AS guarded, (SELECT id FROM sale) AS sale_id;
"#
    )
}

fn pgbench_run(options: &Options, connections: usize, payload: &str, dir: &Path) -> Level {
    let venue = Venue::create(&options.admin_url, options.cajas, None);
    let script = dir.join("sale.sql");
    std::fs::write(
        &script,
        pgbench_script(options.cajas, payload, options.pgbench),
    )
    .expect("write the pgbench script");
    let logs = dir.join("pgbench");
    let _ = std::fs::remove_dir_all(&logs);
    std::fs::create_dir_all(&logs).expect("a folder for pgbench's logs");
    let clients = match options.pgbench {
        Pgbench::OwnCaja => connections.min(options.cajas),
        _ => connections,
    };
    let output = Command::new("pgbench")
        .current_dir(&logs)
        .args([
            "-n",
            "-c",
            &clients.to_string(),
            "-j",
            &clients.min(2).to_string(),
            "-T",
            &options.seconds.to_string(),
            "-l",
            // The hub keeps its sale statement prepared.
            "-M",
            "prepared",
            "-f",
        ])
        .arg(&script)
        .arg(&venue.url)
        .output()
        .expect("pgbench (apt-get install postgresql-contrib or postgresql-client)");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "pgbench failed: {text}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let rate = text
        .lines()
        .find_map(|line| line.strip_prefix("tps = "))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .expect("pgbench's tps");
    // Per-transaction logs: the third column is its latency in µs.
    let mut latencies: Vec<Duration> = std::fs::read_dir(&logs)
        .expect("pgbench's logs")
        .flatten()
        .flat_map(|entry| {
            std::fs::read_to_string(entry.path())
                .unwrap_or_default()
                .lines()
                .filter_map(|line| line.split_whitespace().nth(2)?.parse::<u64>().ok())
                .collect::<Vec<_>>()
        })
        .map(Duration::from_micros)
        .collect();
    latencies.sort();
    let ms = |p: f64| percentile(&latencies, p).as_secs_f64() * 1000.0;
    let level = Level {
        rate,
        p50_ms: ms(0.50),
        p99_ms: ms(0.99),
    };
    venue.drop_database();
    level
}

/// The medians a run printed as JSON, drawn again.
fn replot(json: &str, path: &str) {
    let rows: Vec<serde_json::Value> = serde_json::from_str(json).expect("wrk-load's JSON");
    let mut series: Vec<(String, Vec<(usize, Level)>)> = Vec::new();
    for row in rows {
        let build = row["build"].as_str().expect("build").to_owned();
        let level = Level {
            rate: row["sales_per_second"].as_f64().expect("sales_per_second"),
            p50_ms: row["p50_ms"].as_f64().expect("p50_ms"),
            p99_ms: row["p99_ms"].as_f64().expect("p99_ms"),
        };
        let connections = row["connections"].as_u64().expect("connections") as usize;
        match series.iter_mut().find(|(name, _)| *name == build) {
            Some((_, levels)) => levels.push((connections, level)),
            None => series.push((build, vec![(connections, level)])),
        }
    }
    std::fs::write(path, plot(&series)).expect("write the plot");
}

#[actix_web::main]
async fn main() {
    let options = options();
    if let (Some(json), Some(path)) = (&options.replot, &options.plot) {
        replot(
            &std::fs::read_to_string(json).expect("the JSON to plot"),
            path,
        );
        return;
    }
    let dir: PathBuf = std::env::temp_dir().join(format!("wrk-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a work folder");
    println!(
        "{} cajas, {} s per level, {} runs, connections {:?}; sales/s (p50 / p99 ms)",
        options.cajas, options.seconds, options.runs, options.connections
    );
    let mut figures: BTreeMap<(usize, String), Vec<Level>> = BTreeMap::new();
    let mut payload = None;
    for run in 1..=options.runs {
        for &connections in &options.connections {
            for (binary, sales, column) in options.builds() {
                let (level, last) = hub_run(&options, (&binary, sales), connections, &dir).await;
                println!(
                    "run {run}, {connections} connections, {column}: {}",
                    level.cell()
                );
                figures
                    .entry((connections, column))
                    .or_default()
                    .push(level);
                payload = Some(last);
            }
            if options.pgbench != Pgbench::No
                && let Some(payload) = &payload
            {
                let level = pgbench_run(&options, connections, payload, &dir);
                println!(
                    "run {run}, {connections} connections, {}: {}",
                    options.pgbench.column(),
                    level.cell()
                );
                figures
                    .entry((connections, options.pgbench.column().into()))
                    .or_default()
                    .push(level);
            }
            // Let the database settle between levels (checkpoint, autovacuum).
            std::thread::sleep(Duration::from_secs(1));
        }
    }
    let mut columns: Vec<String> = options
        .builds()
        .into_iter()
        .map(|(_, _, column)| column)
        .collect();
    if options.pgbench != Pgbench::No {
        columns.push(options.pgbench.column().into());
    }
    println!("\nmedians of {} runs:\n", options.runs);
    println!("| connections | {} |", columns.join(" | "));
    println!("|---:|{}", "---|".repeat(columns.len()));
    let mut json = Vec::new();
    for &connections in &options.connections {
        let cells: Vec<String> = columns
            .iter()
            .map(|column| {
                let level = Level::median_of(&figures[&(connections, column.clone())]);
                json.push(serde_json::json!({
                    "connections": connections, "build": column, "sales_per_second": level.rate,
                    "p50_ms": level.p50_ms, "p99_ms": level.p99_ms,
                }));
                level.cell()
            })
            .collect();
        println!("| {connections} | {} |", cells.join(" | "));
    }
    println!("\n{}", serde_json::Value::Array(json));
    if let Some(path) = &options.plot {
        let medians: Vec<(String, Vec<(usize, Level)>)> = columns
            .iter()
            .map(|column| {
                let levels = options
                    .connections
                    .iter()
                    .map(|&c| (c, Level::median_of(&figures[&(c, column.clone())])))
                    .collect();
                (column.clone(), levels)
            })
            .collect();
        std::fs::write(path, plot(&medians)).expect("write the plot");
        println!("plot: {path}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Latency (p50 dashed, p99 solid, log scale) against durable sales/s, one
/// line per build through its connection levels, as an SVG.
fn plot(series: &[(String, Vec<(usize, Level)>)]) -> String {
    const COLORS: [&str; 5] = ["#9e9e9e", "#f39c12", "#1f77b4", "#2ca02c", "#d62728"];
    let (width, height, left, bottom, top, right) = (820.0, 480.0, 70.0, 50.0, 20.0, 200.0);
    let (plot_w, plot_h) = (width - left - right, height - top - bottom);
    let levels = series
        .iter()
        .flat_map(|(_, levels)| levels.iter().map(|(_, l)| l));
    let max_rate = levels.clone().map(|l| l.rate).fold(0.0, f64::max) * 1.1;
    let (min_ms, max_ms) = (0.5f64, levels.map(|l| l.p99_ms).fold(1.0, f64::max) * 1.5);
    let x = |rate: f64| left + rate / max_rate * plot_w;
    let y = |ms: f64| {
        top + plot_h - (ms.max(min_ms).ln() - min_ms.ln()) / (max_ms.ln() - min_ms.ln()) * plot_h
    };
    let mut svg = format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<line x1="{left}" y1="{0}" x2="{1}" y2="{0}" stroke="black"/>
<line x1="{left}" y1="{top}" x2="{left}" y2="{0}" stroke="black"/>
<text x="{2}" y="{3}" text-anchor="middle">durable sales/s (wrk from outside; pgbench: the hub's statement)</text>
<text transform="translate(16 {4}) rotate(-90)" text-anchor="middle">latency, ms (p99 solid, p50 dashed; log scale)</text>
"##,
        top + plot_h,
        left + plot_w,
        left + plot_w / 2.0,
        height - 12.0,
        top + plot_h / 2.0,
    );
    let step = if max_rate > 2000.0 { 500.0 } else { 250.0 };
    let mut tick = 0.0;
    while tick <= max_rate {
        svg += &format!(
            "<line x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\" stroke=\"#eee\"/><text x=\"{0}\" y=\"{3}\" text-anchor=\"middle\">{tick}</text>\n",
            x(tick),
            top,
            top + plot_h,
            top + plot_h + 16.0
        );
        tick += step;
    }
    for ms in [1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0] {
        if ms <= max_ms {
            svg += &format!(
                "<line x1=\"{left}\" y1=\"{0}\" x2=\"{1}\" y2=\"{0}\" stroke=\"#eee\"/><text x=\"{2}\" y=\"{3}\" text-anchor=\"end\">{ms}</text>\n",
                y(ms),
                left + plot_w,
                left - 6.0,
                y(ms) + 4.0
            );
        }
    }
    for (i, (name, levels)) in series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        for (dash, pick) in [
            ("", (|l: &Level| l.p99_ms) as fn(&Level) -> f64),
            ("4 3", |l: &Level| l.p50_ms),
        ] {
            let points: Vec<String> = levels
                .iter()
                .map(|(_, l)| format!("{:.1},{:.1}", x(l.rate), y(pick(l))))
                .collect();
            svg += &format!(
                "<polyline points=\"{}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"2\" stroke-dasharray=\"{dash}\"/>\n",
                points.join(" ")
            );
        }
        for (connections, l) in levels {
            svg += &format!(
                "<circle cx=\"{0:.1}\" cy=\"{1:.1}\" r=\"3\" fill=\"{color}\"/><text x=\"{2:.1}\" y=\"{3:.1}\" fill=\"{color}\">{connections}</text>\n",
                x(l.rate),
                y(l.p99_ms),
                x(l.rate) + 5.0,
                y(l.p99_ms) - 5.0
            );
        }
        let label = name.rsplit('/').next().unwrap_or(name);
        let ly = top + 20.0 + 20.0 * i as f64;
        svg += &format!(
            "<line x1=\"{0}\" y1=\"{ly}\" x2=\"{1}\" y2=\"{ly}\" stroke=\"{color}\" stroke-width=\"3\"/><text x=\"{2}\" y=\"{3}\">{label}</text>\n",
            left + plot_w + 15.0,
            left + plot_w + 40.0,
            left + plot_w + 46.0,
            ly + 4.0
        );
    }
    svg += &format!(
        "<text x=\"{}\" y=\"{}\" font-size=\"11\">numbers: connections</text>\n</svg>\n",
        left + plot_w + 15.0,
        top + 20.0 + 20.0 * series.len() as f64 + 10.0
    );
    svg
}
