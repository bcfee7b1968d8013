//! Load generator for the hot path: sales recorded through the register
//! actors over HTTP, against a throwaway database on a real PostgreSQL.
//!
//! It measures two shapes of the same load (the same number of sales, the
//! same number of requests in flight): all on one caja, and spread over
//! many. One caja's sales are committed one after another by its actor;
//! different cajas commit in parallel, so the ratio of the two throughputs
//! shows how far the hub scales across registers on this machine.
//!
//! cargo run --release --example sales-load -- [--sales N] [--cajas N]
//!     [--in-flight N] [--runs N] [--database-url URL]

use std::time::{Duration, Instant};

use cajahub::audit::Actor;
use cajahub::auth::password::Password;
use cajahub::auth::user::{self, Role, UserName};
use cajahub::config::Settings;
use cajahub::startup::Application;
use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};

struct Options {
    sales: usize,
    cajas: usize,
    in_flight: usize,
    runs: usize,
    admin_url: String,
}

fn options() -> Options {
    let mut options = Options {
        sales: 2_000,
        cajas: 10,
        in_flight: 16,
        runs: 5,
        admin_url: "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable".into(),
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    for pair in args.chunks(2) {
        let value = pair.get(1).cloned().unwrap_or_default();
        let number = || {
            value
                .parse::<usize>()
                .unwrap_or_else(|_| panic!("{} needs a number", pair[0]))
        };
        match pair[0].as_str() {
            "--sales" => options.sales = number(),
            "--cajas" => options.cajas = number(),
            "--in-flight" => options.in_flight = number(),
            "--runs" => options.runs = number(),
            "--database-url" => options.admin_url = value,
            other => panic!("unknown option {other}"),
        }
    }
    options
}

fn with_database(admin_url: &str, database: &str) -> String {
    let (server, rest) = admin_url.rsplit_once('/').expect("a database URL");
    let query = rest.find('?').map_or("", |at| &rest[at..]);
    format!("{server}/{database}{query}")
}

/// A venue with `cajas` cajas, each with an open session in an open jornada.
fn prepare(url: &str, cajas: usize) {
    let mut conn = PgConnection::establish(url).expect("connect");
    cajahub::db::migrations::run_pending(&mut conn).expect("migrate");
    let password = Password::parse("carga-de-prueba".into()).unwrap();
    let admin = user::create(
        &mut conn,
        &Actor::command_line(),
        &UserName::parse("carga").unwrap(),
        Role::Admin,
        &password,
    )
    .expect("user");
    let mut sql = format!("INSERT INTO jornadas (opened_by) VALUES ({});", admin.id);
    for i in 0..cajas {
        sql.push_str(&format!(
            "INSERT INTO pos_registers (name, code) VALUES ('Carga {i}', 'CARGA-{i}');
             INSERT INTO register_sessions (register_id, jornada_id, opened_by, initial_cash)
                 SELECT id, (SELECT id FROM jornadas), {}, 0 FROM pos_registers WHERE code = 'CARGA-{i}';",
            admin.id
        ));
    }
    conn.batch_execute(&sql).expect("seed");
}

async fn logged_in_client(base: &str) -> reqwest::Client {
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(64)
        .build()
        .unwrap();
    let page = client
        .get(format!("{base}/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let marker = r#"name="csrf_token" value=""#;
    let start = page.find(marker).unwrap() + marker.len();
    let token = &page[start..start + page[start..].find('"').unwrap()];
    let response = client
        .post(format!("{base}/login"))
        .form(&[
            ("csrf_token", token),
            ("name", "carga"),
            ("secret", "carga-de-prueba"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303, "logged in");
    client
}

struct Outcome {
    elapsed: Duration,
    latencies: Vec<Duration>,
}

/// `sales` sales spread round-robin over the first `cajas` cajas, with
/// `in_flight` requests outstanding at any time.
async fn run(
    client: &reqwest::Client,
    base: &str,
    cajas: usize,
    sales: usize,
    in_flight: usize,
) -> Outcome {
    let started = Instant::now();
    let per_worker = sales / in_flight;
    let mut workers = Vec::new();
    for worker in 0..in_flight {
        let client = client.clone();
        let base = base.to_owned();
        workers.push(actix_web::rt::spawn(async move {
            let mut latencies = Vec::with_capacity(per_worker);
            for n in 0..per_worker {
                let caja = (worker * per_worker + n) % cajas + 1;
                let body = serde_json::json!({
                    "key": uuid::Uuid::new_v4().to_string(),
                    "total": 4_990,
                    "payments": [{"method": "EFECTIVO", "amount": 4_990, "tendered": 5_000}],
                });
                let sent = Instant::now();
                let response = client
                    .post(format!("{base}/api/cajas/{caja}/sales"))
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), 201, "sale recorded");
                latencies.push(sent.elapsed());
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for worker in workers {
        latencies.extend(worker.await.unwrap());
    }
    Outcome {
        elapsed: started.elapsed(),
        latencies,
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values[values.len() / 2]
}

#[actix_web::main]
async fn main() {
    let options = options();
    let database = format!("cajahub_load_{}", std::process::id());
    let mut admin = PgConnection::establish(&options.admin_url).expect("PostgreSQL answers");
    admin
        .batch_execute(&format!("CREATE DATABASE \"{database}\""))
        .expect("create database");
    let url = with_database(&options.admin_url, &database);
    prepare(&url, options.cajas);

    let mut settings = Settings::for_database(&url);
    settings.pool_size = 16;
    settings.log_level = "error".into();
    let app = Application::build(&settings, &url)
        .await
        .expect("hub starts");
    let base = format!("http://{}", app.address());
    let handle = app.handle();
    actix_web::rt::spawn(app.run_until_stopped());
    let client = logged_in_client(&base).await;

    // Warm up connections and caches.
    run(
        &client,
        &base,
        options.cajas,
        options.in_flight * 10,
        options.in_flight,
    )
    .await;

    println!(
        "{} sales per run, {} in flight, {} runs, cajas: 1 vs {}",
        options.sales, options.in_flight, options.runs, options.cajas
    );
    let mut rows = Vec::new();
    for cajas in [1, options.cajas] {
        let (mut throughput, mut p50, mut p99) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..options.runs {
            let mut outcome = run(&client, &base, cajas, options.sales, options.in_flight).await;
            outcome.latencies.sort();
            throughput.push(outcome.latencies.len() as f64 / outcome.elapsed.as_secs_f64());
            p50.push(percentile(&outcome.latencies, 0.50).as_secs_f64() * 1e3);
            p99.push(percentile(&outcome.latencies, 0.99).as_secs_f64() * 1e3);
        }
        let row = (cajas, median(throughput), median(p50), median(p99));
        println!(
            "cajas {:>3}: {:>7.0} sales/s, p50 {:>6.2} ms, p99 {:>6.2} ms (medians of {} runs)",
            row.0, row.1, row.2, row.3, options.runs
        );
        rows.push(row);
    }
    println!(
        "throughput ratio, {} cajas / 1 caja: {:.2}",
        options.cajas,
        rows[1].1 / rows[0].1
    );

    handle.stop().await;
    drop(client);
    admin
        .batch_execute(&format!(
            "DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE)"
        ))
        .expect("drop database");
}
