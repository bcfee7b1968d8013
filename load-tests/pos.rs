//! The club night from outside: the hub's own binary, and in this process
//! `--cajas` POS screens (WebSocket clients) each selling once every
//! `--every-ms` on an open loop (a slow hub shows as latency, not as fewer
//! sales), plus `--dashboards` floor screens. Each sale is timed from the
//! frame sent to its ack (after the commit). At the end every acknowledged
//! sale is looked up in the database: a mismatch fails the run.
//!
//! `--hub` names the binary; given twice (before and after a change), the
//! runs alternate between them, so both meet the same machine.
//!
//! `--ramp RATE` climbs instead: levels of RATE sales/s over all the POS,
//! then half as much again each level (each level `--runs` runs on a fresh
//! venue, medians), until the ack p99 passes 50 ms or the hub falls behind
//! the offered rate; it reports the most durable sales/s kept under 50 ms.
//! A POS may send 20 commands a second: `--cajas` bounds the climb (18 each).
//!
//! cargo build --release --bin cajahub --example pos-load
//! target/release/examples/pos-load --hub target/release/cajahub [--hub OTHER]
//!     [--cajas 30] [--every-ms 3000] [--seconds 20] [--dashboards 5] [--runs 3]
//!     [--ramp 100] [--database-url URL]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::rt::time::{sleep, sleep_until, timeout};
use awc::ws::{Frame, Message};
use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection, QueryableByName, RunQueryDsl};
use futures_util::{SinkExt, StreamExt};

#[path = "common.rs"]
mod common;
#[path = "hub.rs"]
mod hub;
use common::{Venue, median, number, parse_flags, percentile, session_cookie};
use hub::Hub;

#[derive(Clone)]
struct Options {
    hubs: Vec<String>,
    cajas: usize,
    /// The first level of a ramp, in sales/s over all the POS.
    ramp: Option<usize>,
    every: Duration,
    seconds: u64,
    dashboards: usize,
    runs: usize,
    admin_url: String,
}

fn options() -> Options {
    let mut options = Options {
        hubs: Vec::new(),
        cajas: 30,
        ramp: None,
        every: Duration::from_millis(3000),
        seconds: 20,
        dashboards: 5,
        runs: 3,
        admin_url: common::DEFAULT_ADMIN_URL.into(),
    };
    parse_flags(include_str!("pos.rs"), |flag, value| {
        match flag {
            "--hub" => options.hubs.push(value.into()),
            "--cajas" => options.cajas = number(flag, value),
            "--ramp" => options.ramp = Some(number(flag, value)),
            "--every-ms" => options.every = Duration::from_millis(number(flag, value) as u64),
            "--seconds" => options.seconds = number(flag, value) as u64,
            "--dashboards" => options.dashboards = number(flag, value),
            "--runs" => options.runs = number(flag, value),
            "--database-url" => options.admin_url = value.into(),
            _ => return false,
        }
        true
    });
    hub::named_or_beside(&mut options.hubs);
    options
}

type Socket = actix_codec::Framed<awc::BoxedSocket, awc::ws::Codec>;

async fn open(base: &str, path: &str, cookie: &str) -> Socket {
    let (_, socket) = awc::Client::new()
        .ws(base.replacen("http://", "ws://", 1) + path)
        // A venue of many cajas has a snapshot over awc's 64 KiB default.
        .max_frame_size(1 << 20)
        .origin(base)
        .header("cookie", cookie)
        .connect()
        .await
        .unwrap_or_else(|err| panic!("{path}: {err}"));
    socket
}

/// What one run measured.
struct Measure {
    acks: Vec<Duration>,
    sales_per_second: f64,
    rss_mib: f64,
}

/// The sale keys a POS had acknowledged, and the time each took.
type Acked = Arc<Mutex<Vec<(String, Duration)>>>;

/// One POS: sells on schedule and reads its acks (and its caja's events).
async fn pos(
    base: String,
    cookie: String,
    caja: usize,
    first: Instant,
    every: Duration,
    until: Instant,
    acked: Acked,
) {
    let socket = open(&base, &format!("/ws/caja/{caja}"), &cookie).await;
    let (mut sink, mut stream) = socket.split();
    let sent: Arc<Mutex<HashMap<String, (String, Instant)>>> = Arc::default();
    let pending = sent.clone();
    let reader_acked = acked.clone();
    let reader = actix_web::rt::spawn(async move {
        while let Some(Ok(frame)) = stream.next().await {
            let Frame::Text(text) = frame else { continue };
            let at = Instant::now();
            let message: serde_json::Value = serde_json::from_slice(&text).unwrap_or_default();
            if message["type"] == "ack" {
                let id = message["id"].as_str().unwrap_or_default().to_owned();
                if let Some((key, when)) = pending.lock().unwrap().remove(&id) {
                    reader_acked.lock().unwrap().push((key, at - when));
                }
            } else if message["type"] == "error" {
                panic!("the hub refused a sale: {message}");
            }
        }
    });
    let mut n = 0;
    loop {
        let at = first + every * n;
        if at >= until {
            break;
        }
        sleep_until(at.into()).await;
        let key = uuid::Uuid::new_v4().to_string();
        let id = format!("c{caja}-{n}");
        let sale = serde_json::json!({
            "type": "sale", "id": id,
            "sale": {"key": key, "total": 1000 + n as i64, "payments": [{"method": "EFECTIVO", "amount": 1000 + n as i64}]},
        });
        sent.lock().unwrap().insert(id, (key, Instant::now()));
        sink.send(Message::Text(sale.to_string().into()))
            .await
            .expect("send");
        n += 1;
    }
    // The last acks (10 s at most), then goodbye.
    let waiting = Instant::now();
    while !sent.lock().unwrap().is_empty() && waiting.elapsed() < Duration::from_secs(10) {
        sleep(Duration::from_millis(10)).await;
    }
    reader.abort();
    let _ = sink.send(Message::Close(None)).await;
}

/// A floor screen reading every event until the run ends.
async fn dashboard(base: String, cookie: String, until: Instant) -> usize {
    let mut socket = open(&base, "/ws/piso", &cookie).await;
    let mut events = 0;
    while let Ok(Some(Ok(frame))) = timeout(
        until.saturating_duration_since(Instant::now()) + Duration::from_secs(2),
        socket.next(),
    )
    .await
    {
        match frame {
            Frame::Text(_) => events += 1,
            Frame::Ping(bytes) => {
                let _ = socket.send(Message::Pong(bytes)).await;
            }
            _ => {}
        }
        if Instant::now() >= until + Duration::from_secs(1) {
            break;
        }
    }
    events
}

#[derive(QueryableByName)]
struct Key {
    #[diesel(sql_type = diesel::sql_types::Text)]
    key: String,
}

async fn run(options: &Options, binary: &str) -> Measure {
    let venue = Venue::create(&options.admin_url, options.cajas, Some(binary));
    let (hub, base) = Hub::start(binary, &venue.url).await;
    let cookie = session_cookie(&base).await;
    let start = Instant::now() + Duration::from_millis(500);
    let until = start + Duration::from_secs(options.seconds);
    let acked: Acked = Arc::default();
    let floors: Vec<_> = (0..options.dashboards)
        .map(|_| actix_web::rt::spawn(dashboard(base.clone(), cookie.clone(), until)))
        .collect();
    let cajas: Vec<_> = (1..=options.cajas)
        .map(|caja| {
            // Spread over the interval, as real cashiers are.
            let first = start + options.every * caja as u32 / options.cajas as u32;
            actix_web::rt::spawn(pos(
                base.clone(),
                cookie.clone(),
                caja,
                first,
                options.every,
                until,
                acked.clone(),
            ))
        })
        .collect();
    for caja in cajas {
        caja.await.expect("a POS");
    }
    let rss_mib = hub.rss_kib() as f64 / 1024.0;
    for floor in floors {
        assert!(
            floor.await.expect("a dashboard") > 0,
            "a dashboard saw events"
        );
    }
    drop(hub);

    let acked = acked.lock().unwrap().clone();
    let mut conn = PgConnection::establish(&venue.url).expect("the venue");
    let stored: Vec<Key> = diesel::sql_query("SELECT idempotency_key::text AS key FROM sales")
        .load(&mut conn)
        .expect("sales");
    let stored: std::collections::HashSet<String> = stored.into_iter().map(|k| k.key).collect();
    assert_eq!(
        stored.len(),
        acked.len(),
        "every acknowledged sale stored, nothing else"
    );
    for (key, _) in &acked {
        assert!(stored.contains(key), "acknowledged sale {key} is missing");
    }
    conn.batch_execute("SELECT 1").ok();
    drop(conn);
    venue.drop_database();
    let mut acks: Vec<Duration> = acked.into_iter().map(|(_, took)| took).collect();
    acks.sort();
    Measure {
        sales_per_second: acks.len() as f64 / options.seconds as f64,
        acks,
        rss_mib,
    }
}

/// One run's figures, as reported.
#[derive(Clone, Copy)]
struct Figures {
    p50: f64,
    p99: f64,
    p999: f64,
    rate: f64,
    rss: f64,
}

impl Figures {
    fn of(m: &Measure) -> Self {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        Self {
            p50: ms(percentile(&m.acks, 0.50)),
            p99: ms(percentile(&m.acks, 0.99)),
            p999: ms(percentile(&m.acks, 0.999)),
            rate: m.sales_per_second,
            rss: m.rss_mib,
        }
    }

    /// Each figure's median over `runs`.
    fn median_of(runs: &[Figures]) -> Self {
        let of = |f: fn(&Figures) -> f64| median(runs.iter().map(f).collect());
        Self {
            p50: of(|r| r.p50),
            p99: of(|r| r.p99),
            p999: of(|r| r.p999),
            rate: of(|r| r.rate),
            rss: of(|r| r.rss),
        }
    }

    fn line(&self, hub: &str) -> String {
        format!(
            "{hub}: ack p50 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms; {:.1} sales/s; hub RSS {:.1} MiB",
            self.p50, self.p99, self.p999, self.rate, self.rss
        )
    }
}

/// The ack p99 a level of the ramp must keep.
const RAMP_P99_MS: f64 = 50.0;
/// The fastest a POS sells in a ramp: under the hub's limit of 20
/// commands a second per socket, with room for a second's edges.
const POS_SALES_PER_SECOND: f64 = 18.0;

/// Climbs from `options.ramp` sales/s by half again each level.
async fn ramp(options: &Options, hub: &str, from: usize) -> serde_json::Value {
    let mut offered = from as f64;
    let mut kept = None;
    let mut levels = Vec::new();
    while offered / options.cajas as f64 <= POS_SALES_PER_SECOND {
        let level = Options {
            every: Duration::from_secs_f64(options.cajas as f64 / offered),
            ..options.clone()
        };
        let mut runs = Vec::new();
        for _ in 0..options.runs {
            runs.push(Figures::of(&run(&level, hub).await));
        }
        let m = Figures::median_of(&runs);
        println!(
            "{}",
            m.line(&format!("{hub} at {offered:.0} sales/s offered"))
        );
        levels.push(
            serde_json::json!({"offered": offered, "sales_per_second": m.rate,
            "ack_p50_ms": m.p50, "ack_p99_ms": m.p99, "ack_p999_ms": m.p999}),
        );
        if m.p99 > RAMP_P99_MS || m.rate < offered * 0.95 {
            break;
        }
        kept = Some(m.rate);
        offered *= 1.5;
    }
    match kept {
        Some(rate) => {
            println!("{hub}: {rate:.0} durable sales/s with the ack p99 under {RAMP_P99_MS} ms")
        }
        None => println!("{hub}: no level kept the ack p99 under {RAMP_P99_MS} ms"),
    }
    serde_json::json!({"hub": hub, "max_sales_per_second_p99_under_50ms": kept, "levels": levels})
}

#[actix_web::main]
async fn main() {
    let options = options();
    if let Some(from) = options.ramp {
        println!(
            "ramp from {from} sales/s over {} POS sockets, {} dashboards, {} s per level, medians of {} runs",
            options.cajas, options.dashboards, options.seconds, options.runs
        );
        let mut json = Vec::new();
        for hub in &options.hubs {
            json.push(ramp(&options, hub, from).await);
        }
        println!("{}", serde_json::Value::Array(json));
        return;
    }
    println!(
        "{} POS sockets, one sale every {} ms each, {} dashboards, {} s per run, {} runs per hub",
        options.cajas,
        options.every.as_millis(),
        options.dashboards,
        options.seconds,
        options.runs
    );
    let mut figures: HashMap<&str, Vec<Figures>> = HashMap::new();
    for _ in 0..options.runs {
        for hub in &options.hubs {
            let run = Figures::of(&run(&options, hub).await);
            println!("{}", run.line(hub));
            figures.entry(hub).or_default().push(run);
        }
    }
    println!("medians of {} runs:", options.runs);
    let mut json = Vec::new();
    for hub in &options.hubs {
        let m = Figures::median_of(&figures[hub.as_str()]);
        println!("{}", m.line(hub));
        json.push(
            serde_json::json!({"hub": hub, "ack_p50_ms": m.p50, "ack_p99_ms": m.p99,
            "ack_p999_ms": m.p999, "sales_per_second": m.rate, "rss_mib": m.rss}),
        );
    }
    println!("{}", serde_json::Value::Array(json));
}
