//! Load generator for the live screens: how fast a committed sale reaches
//! every floor dashboard, and whether clients that stop reading slow the
//! others down.
//!
//! Each run records the same sales (spread over the cajas, a fixed number in
//! flight) while healthy dashboards read every event; delivery latency is
//! from sending the sale to a dashboard holding its event. It runs the load
//! twice: with only healthy dashboards, and with stuck clients added (bare
//! TCP sockets with a small receive buffer that never read after the
//! handshake). The ratio of the two shows what stuck clients cost the others.
//!
//! cargo run --release --example fanout-load -- [--sales N] [--cajas N]
//!     [--dashboards N] [--stuck N] [--in-flight N] [--runs N] [--database-url URL]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use actix_ws::Item;
use awc::ws::Frame;
use cajahub::config::Settings;
use cajahub::startup::Application;
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpSocket, TcpStream};

#[path = "common.rs"]
mod common;
use common::{Venue, median, number, percentile, session_cookie};

struct Options {
    sales: usize,
    cajas: usize,
    dashboards: usize,
    stuck: usize,
    in_flight: usize,
    runs: usize,
    admin_url: String,
}

fn options() -> Options {
    let mut options = Options {
        sales: 1_000,
        cajas: 10,
        dashboards: 20,
        stuck: 10,
        in_flight: 16,
        runs: 5,
        admin_url: common::DEFAULT_ADMIN_URL.into(),
    };
    common::parse_flags(include_str!("fanout.rs"), |flag, value| {
        match flag {
            "--sales" => options.sales = number(flag, value),
            "--cajas" => options.cajas = number(flag, value),
            "--dashboards" => options.dashboards = number(flag, value),
            "--stuck" => options.stuck = number(flag, value),
            "--in-flight" => options.in_flight = number(flag, value),
            "--runs" => options.runs = number(flag, value),
            "--database-url" => options.admin_url = value.into(),
            _ => return false,
        }
        true
    });
    options
}

type Arrivals = Vec<((i64, i64), Instant)>;

/// A dashboard that reads until it has seen `wanted` events.
async fn dashboard(
    base: &str,
    cookie: &str,
    wanted: usize,
) -> actix_web::rt::task::JoinHandle<Arrivals> {
    let url = base.replacen("http://", "ws://", 1) + "/ws/piso";
    let (_, mut socket) = awc::Client::new()
        .ws(url)
        .origin(base)
        .header("cookie", cookie)
        .connect()
        .await
        .expect("dashboard connects");
    // The snapshot: whole, or its last fragment.
    while !matches!(
        socket.next().await,
        Some(Ok(Frame::Text(_) | Frame::Continuation(Item::Last(_))))
    ) {}
    actix_web::rt::spawn(async move {
        let mut seen = Vec::with_capacity(wanted);
        while seen.len() < wanted {
            match socket.next().await {
                Some(Ok(Frame::Text(text))) => {
                    let at = Instant::now();
                    let event: serde_json::Value = serde_json::from_slice(&text).unwrap();
                    assert_eq!(
                        event["type"], "event",
                        "a healthy dashboard needs no resync"
                    );
                    let key = (
                        event["register_id"].as_i64().unwrap(),
                        event["seq"].as_i64().unwrap(),
                    );
                    seen.push((key, at));
                }
                Some(Ok(Frame::Ping(bytes))) => {
                    let _ = socket.send(awc::ws::Message::Pong(bytes)).await;
                }
                Some(Ok(_)) => {}
                other => panic!("a healthy dashboard lost its socket: {other:?}"),
            }
        }
        seen
    })
}

/// A client that completes the handshake and never reads again.
async fn stuck_client(address: SocketAddr, base: &str, cookie: &str) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stream = socket.connect(address).await.unwrap();
    let request = format!(
        "GET /ws/piso HTTP/1.1\r\nHost: {address}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         Origin: {base}\r\nCookie: {cookie}\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).await.unwrap();
    assert!(line.starts_with("HTTP/1.1 101"), "upgraded: {line}");
    reader.into_inner()
}

/// Sends `sales` sales round-robin over the cajas; returns when each was sent, by (caja, seq).
async fn sell(
    base: &str,
    cookie: &str,
    cajas: usize,
    sales: usize,
    in_flight: usize,
) -> HashMap<(i64, i64), Instant> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .unwrap();
    let per_worker = sales / in_flight;
    let mut workers = Vec::new();
    for worker in 0..in_flight {
        let (client, base, cookie) = (client.clone(), base.to_owned(), cookie.to_owned());
        workers.push(actix_web::rt::spawn(async move {
            let mut sent = Vec::with_capacity(per_worker);
            for n in 0..per_worker {
                let caja = (worker * per_worker + n) % cajas + 1;
                let body = serde_json::json!({
                    "key": uuid::Uuid::new_v4().to_string(),
                    "total": 4_990,
                    "payments": [{"method": "EFECTIVO", "amount": 4_990}],
                });
                let at = Instant::now();
                let response = client
                    .post(format!("{base}/api/cajas/{caja}/sales"))
                    .header("cookie", &cookie)
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), 201, "sale recorded");
                let ack: serde_json::Value = response.json().await.unwrap();
                sent.push(((caja as i64, ack["seq"].as_i64().unwrap()), at));
            }
            sent
        }));
    }
    let mut sent = HashMap::new();
    for worker in workers {
        sent.extend(worker.await.unwrap());
    }
    sent
}

struct Measure {
    p50_ms: f64,
    p99_ms: f64,
    dropped: usize,
}

async fn run(
    options: &Options,
    base: &str,
    address: SocketAddr,
    cookie: &str,
    stuck: usize,
    app: &cajahub::startup::HubHandle,
) -> Measure {
    let sales = options.sales / options.in_flight * options.in_flight;
    let mut stuck_clients = Vec::new();
    for _ in 0..stuck {
        stuck_clients.push(stuck_client(address, base, cookie).await);
    }
    let mut dashboards = Vec::new();
    for _ in 0..options.dashboards {
        dashboards.push(dashboard(base, cookie, sales).await);
    }
    let sent = sell(base, cookie, options.cajas, sales, options.in_flight).await;
    let mut latencies = Vec::with_capacity(sales * options.dashboards);
    for dashboard in dashboards {
        for (key, at) in dashboard.await.unwrap() {
            latencies.push(at.saturating_duration_since(sent[&key]));
        }
    }
    latencies.sort();
    // The healthy dashboards are gone; a stuck client still counted after
    // the send timeout was never noticed.
    actix_web::rt::time::sleep(Duration::from_secs(3)).await;
    let still = app.screens().floors();
    drop(stuck_clients);
    Measure {
        p50_ms: percentile(&latencies, 0.50).as_secs_f64() * 1e3,
        p99_ms: percentile(&latencies, 0.99).as_secs_f64() * 1e3,
        dropped: stuck.saturating_sub(still),
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
    settings.screen_send_timeout = Duration::from_secs(2);
    let app = Application::build(&settings, &url)
        .await
        .expect("hub starts");
    let address = app.address();
    let base = format!("http://{address}");
    let handle = app.handle();
    actix_web::rt::spawn(app.run_until_stopped());
    let cookie = session_cookie(&base).await;

    // Warm up.
    run(&options, &base, address, &cookie, 0, &handle).await;
    println!(
        "{} sales per run over {} cajas, {} in flight, {} healthy dashboards, {} runs; stuck clients: 0 vs {}",
        options.sales,
        options.cajas,
        options.in_flight,
        options.dashboards,
        options.runs,
        options.stuck
    );
    let mut rows = Vec::new();
    for stuck in [0, options.stuck] {
        let (mut p50, mut p99, mut dropped) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..options.runs {
            let measure = run(&options, &base, address, &cookie, stuck, &handle).await;
            p50.push(measure.p50_ms);
            p99.push(measure.p99_ms);
            dropped.push(measure.dropped as f64);
            // The stuck clients of this run were just closed on our side.
            actix_web::rt::time::sleep(Duration::from_secs(1)).await;
        }
        let row = (stuck, median(p50), median(p99), median(dropped));
        println!(
            "stuck {:>3}: delivery p50 {:>7.2} ms, p99 {:>7.2} ms; stuck clients dropped during the run: {} (medians of {} runs)",
            row.0, row.1, row.2, row.3, options.runs
        );
        rows.push(row);
    }
    println!(
        "delivery ratio, with / without stuck clients: p50 {:.2}, p99 {:.2}",
        rows[1].1 / rows[0].1,
        rows[1].2 / rows[0].2
    );

    handle.stop().await;
    venue.drop_database();
}
