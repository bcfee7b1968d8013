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

use cajahub::config::Settings;
use cajahub::startup::Application;

#[path = "common.rs"]
mod common;
use common::{Venue, median, number, percentile};

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
        admin_url: common::DEFAULT_ADMIN_URL.into(),
    };
    common::parse_flags(include_str!("sales.rs"), |flag, value| {
        match flag {
            "--sales" => options.sales = number(flag, value),
            "--cajas" => options.cajas = number(flag, value),
            "--in-flight" => options.in_flight = number(flag, value),
            "--runs" => options.runs = number(flag, value),
            "--database-url" => options.admin_url = value.into(),
            _ => return false,
        }
        true
    });
    options
}

/// A client that sends the session cookie of a browser logged in as the
/// generators' user.
async fn logged_in_client(base: &str) -> reqwest::Client {
    let cookie = common::session_cookie(base).await;
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::COOKIE,
        cookie.parse().expect("a cookie header"),
    );
    reqwest::Client::builder()
        .default_headers(headers)
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(64)
        .build()
        .unwrap()
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

#[actix_web::main]
async fn main() {
    let options = options();
    let venue = Venue::create(&options.admin_url, options.cajas, None);
    let url = venue.url.clone();
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
    venue.drop_database();
}
