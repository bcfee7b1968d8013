//! Many idle screens, from outside: `--screens` floor dashboards of a
//! `--cajas` venue open at once against the hub's own binary (the storm
//! after a restart or a network blip), stay connected answering the hub's
//! heartbeats, while one POS sells over HTTP at `--rate` sales/s; then they
//! all close. It reports how long the storm took to be served, the hub's
//! RSS before, with the screens and after they closed, the database
//! transactions the idle screens caused, the sale acknowledgement latency
//! with the screens connected, and whether every screen got every sale.
//!
//! `--hub` names a binary; given more than once, the runs alternate.
//!
//! cargo build --release --bin cajahub --example screens-load
//! target/release/examples/screens-load --hub target/release/cajahub
//!     [--screens 10000] [--cajas 30] [--idle-seconds 10] [--rate 20]
//!     [--seconds 10] [--runs 1] [--database-url URL]

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use actix_web::rt::time::sleep;
use actix_ws::Item;
use awc::ws::{Frame, Message};
use diesel::{Connection, PgConnection, QueryableByName, RunQueryDsl};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::watch;

#[path = "common.rs"]
mod common;
#[path = "hub.rs"]
mod hub;
use common::{Venue, median, number, parse_flags, percentile, session_cookie};
use hub::Hub;

struct Options {
    hubs: Vec<String>,
    screens: usize,
    cajas: usize,
    idle: Duration,
    rate: u32,
    seconds: u64,
    runs: usize,
    admin_url: String,
}

fn options() -> Options {
    let mut options = Options {
        hubs: Vec::new(),
        screens: 10_000,
        cajas: 30,
        idle: Duration::from_secs(10),
        rate: 20,
        seconds: 10,
        runs: 1,
        admin_url: common::DEFAULT_ADMIN_URL.into(),
    };
    parse_flags(include_str!("screens.rs"), |flag, value| {
        match flag {
            "--hub" => options.hubs.push(value.into()),
            "--screens" => options.screens = number(flag, value),
            "--cajas" => options.cajas = number(flag, value),
            "--idle-seconds" => options.idle = Duration::from_secs(number(flag, value) as u64),
            "--rate" => options.rate = number(flag, value) as u32,
            "--seconds" => options.seconds = number(flag, value) as u64,
            "--runs" => options.runs = number(flag, value),
            "--database-url" => options.admin_url = value.into(),
            _ => return false,
        }
        true
    });
    hub::named_or_beside(&mut options.hubs);
    options
}

/// How late a backend may report its transactions to `pg_stat_database`
/// (PostgreSQL's `PGSTAT_IDLE_INTERVAL`), and a little more.
const STATS_SETTLE: Duration = Duration::from_secs(11);

/// What every screen shares with the run.
#[derive(Default)]
struct Tally {
    /// Screens past their first snapshot.
    greeted: Cell<usize>,
    /// When the last of them got it.
    last_greeted: Cell<Option<Instant>>,
    /// Events received by all screens together, and their bytes.
    events: Cell<usize>,
    event_bytes: Cell<usize>,
    /// Screens the hub closed or that failed.
    lost: Cell<usize>,
    /// Screens still open.
    open: Cell<usize>,
}

/// One floor screen: its snapshot, then every event, answering pings,
/// until `close` says so.
async fn screen(
    base: Rc<str>,
    cookie: Rc<str>,
    client: awc::Client,
    tally: Rc<Tally>,
    mut close: watch::Receiver<bool>,
) {
    let request = client
        .ws(base.replacen("http://", "ws://", 1) + "/ws/piso")
        .origin(&*base)
        .header("cookie", &*cookie);
    let Ok((_, mut socket)) = request.connect().await else {
        tally.lost.set(tally.lost.get() + 1);
        return;
    };
    tally.open.set(tally.open.get() + 1);
    let mut greeted = false;
    loop {
        let frame = tokio::select! {
            _ = close.changed() => {
                let _ = socket.send(Message::Close(None)).await;
                break;
            }
            frame = socket.next() => frame,
        };
        match frame {
            // The snapshot: whole, or its last fragment.
            Some(Ok(Frame::Text(_) | Frame::Continuation(Item::Last(_)))) if !greeted => {
                greeted = true;
                tally.greeted.set(tally.greeted.get() + 1);
                tally.last_greeted.set(Some(Instant::now()));
            }
            Some(Ok(Frame::Text(text))) => {
                tally.events.set(tally.events.get() + 1);
                tally.event_bytes.set(tally.event_bytes.get() + text.len());
            }
            Some(Ok(Frame::Ping(bytes))) => {
                let _ = socket.send(Message::Pong(bytes)).await;
            }
            Some(Ok(_)) => {}
            Some(Err(_)) | None => {
                tally.lost.set(tally.lost.get() + 1);
                break;
            }
        }
    }
    tally.open.set(tally.open.get() - 1);
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// Transactions committed in the venue's database so far.
fn commits(conn: &mut PgConnection) -> i64 {
    diesel::sql_query(
        "SELECT xact_commit AS n FROM pg_stat_database WHERE datname = current_database()",
    )
    .get_result::<Count>(conn)
    .expect("pg_stat_database")
    .n
}

/// Sells `rate` sales a second for `seconds` over the cajas, open loop;
/// returns how long each took to be acknowledged.
async fn sell(base: &str, cookie: &str, rate: u32, seconds: u64, cajas: usize) -> Vec<Duration> {
    let http = reqwest::Client::new();
    let every = Duration::from_secs(1) / rate;
    let first = Instant::now();
    let until = first + Duration::from_secs(seconds);
    let mut pending = Vec::new();
    let mut n = 0u32;
    loop {
        let at = first + every * n;
        if at >= until {
            break;
        }
        tokio::time::sleep_until(at.into()).await;
        let caja = n as usize % cajas + 1;
        let body = serde_json::json!({
            "key": uuid::Uuid::new_v4().to_string(), "total": 1000,
            "payments": [{"method": "EFECTIVO", "amount": 1000}],
        });
        let request = http
            .post(format!("{base}/api/cajas/{caja}/sales"))
            .header("cookie", cookie)
            .json(&body);
        pending.push(tokio::spawn(async move {
            let sent = Instant::now();
            let response = request.send().await.expect("the hub answers");
            assert_eq!(response.status(), 201, "a sale refused");
            sent.elapsed()
        }));
        n += 1;
    }
    let mut acks = Vec::with_capacity(pending.len());
    for sale in pending {
        acks.push(sale.await.expect("a sale"));
    }
    acks
}

struct Measure {
    rss_start: f64,
    storm: Duration,
    rss_screens: f64,
    idle_commits: i64,
    ack_p50: f64,
    ack_p99: f64,
    sales: usize,
    delivered: f64,
    /// The mean size of an event's frame.
    event_bytes: f64,
    lost: usize,
    rss_after: f64,
}

async fn run(options: &Options, binary: &str) -> Measure {
    let venue = Venue::create(&options.admin_url, options.cajas, Some(binary));
    let (hub, base) = Hub::start(binary, &venue.url).await;
    let cookie = session_cookie(&base).await;
    let mib = |hub: &Hub| hub.rss_kib() as f64 / 1024.0;
    let rss_start = mib(&hub);

    // The storm: every screen at once.
    let client = awc::Client::builder()
        .connector(awc::Connector::new().limit(0))
        .timeout(Duration::from_secs(60))
        .finish();
    let (base_rc, cookie_rc): (Rc<str>, Rc<str>) = (base.as_str().into(), cookie.as_str().into());
    let tally = Rc::new(Tally::default());
    let (close, closing) = watch::channel(false);
    let started = Instant::now();
    let screens: Vec<_> = (0..options.screens)
        .map(|_| {
            actix_web::rt::spawn(screen(
                base_rc.clone(),
                cookie_rc.clone(),
                client.clone(),
                tally.clone(),
                closing.clone(),
            ))
        })
        .collect();
    while tally.greeted.get() + tally.lost.get() < options.screens
        && started.elapsed() < Duration::from_secs(120)
    {
        sleep(Duration::from_millis(20)).await;
    }
    let storm = tally
        .last_greeted
        .get()
        .map_or(Duration::MAX, |at| at - started);

    // Idle: only heartbeats. PostgreSQL's backends report what they
    // committed up to 10 s late: the count starts once the storm's is in.
    let mut conn = PgConnection::establish(&venue.url).expect("the venue");
    sleep(STATS_SETTLE).await;
    let before = commits(&mut conn);
    sleep(options.idle).await;
    // (The generator's first reading may be among them.)
    let idle_commits = commits(&mut conn) - before;
    let rss_screens = mib(&hub);

    // A POS sells over HTTP, open loop, while the screens watch; on a
    // thread of its own, so its acks are not read behind the screens' frames.
    let (rate, seconds, cajas) = (options.rate, options.seconds, options.cajas);
    let (sale_base, sale_cookie) = (base.clone(), cookie.clone());
    let mut acks = actix_web::rt::task::spawn_blocking(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("the POS's runtime")
            .block_on(sell(&sale_base, &sale_cookie, rate, seconds, cajas))
    })
    .await
    .expect("the POS");
    acks.sort();
    let sales = acks.len();
    // Every screen's events (a second to arrive).
    let expected = sales * options.screens;
    let waiting = Instant::now();
    while tally.events.get() < expected && waiting.elapsed() < Duration::from_secs(10) {
        sleep(Duration::from_millis(20)).await;
    }
    let delivered = tally.events.get() as f64 / expected.max(1) as f64;

    close.send_replace(true);
    for screen in screens {
        let _ = screen.await;
    }
    // What the hub gives back once they are gone (it looks for a wave of
    // closed screens every 10 s).
    sleep(Duration::from_secs(15)).await;
    let rss_after = mib(&hub);
    drop(hub);
    drop(conn);
    venue.drop_database();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    Measure {
        rss_start,
        storm,
        rss_screens,
        idle_commits,
        ack_p50: ms(percentile(&acks, 0.50)),
        ack_p99: ms(percentile(&acks, 0.99)),
        sales,
        delivered,
        event_bytes: tally.event_bytes.get() as f64 / tally.events.get().max(1) as f64,
        lost: tally.lost.get(),
        rss_after,
    }
}

#[actix_web::main]
async fn main() {
    let options = options();
    println!(
        "{} floor screens of a {}-caja venue, idle {} s, then {} sales/s for {} s",
        options.screens,
        options.cajas,
        options.idle.as_secs(),
        options.rate,
        options.seconds
    );
    println!(
        "| build | storm served | RSS start | RSS with screens | per screen | idle commits | ack p50 | ack p99 | sales | delivered | bytes per event | lost | RSS after close |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut json = Vec::new();
    let mut medians: std::collections::BTreeMap<&str, Vec<[f64; 3]>> = Default::default();
    for _ in 0..options.runs {
        for hub in &options.hubs {
            let m = run(&options, hub).await;
            medians
                .entry(hub)
                .or_default()
                .push([m.storm.as_secs_f64(), m.rss_screens, m.ack_p99]);
            let per_screen = (m.rss_screens - m.rss_start) * 1024.0 / options.screens as f64;
            println!(
                "| {hub} | {:.2} s | {:.0} MiB | {:.0} MiB | {:.1} KiB | {} | {:.1} ms | {:.1} ms | {} | {:.1} % | {:.0} B | {} | {:.0} MiB |",
                m.storm.as_secs_f64(),
                m.rss_start,
                m.rss_screens,
                per_screen,
                m.idle_commits,
                m.ack_p50,
                m.ack_p99,
                m.sales,
                m.delivered * 100.0,
                m.event_bytes,
                m.lost,
                m.rss_after
            );
            json.push(serde_json::json!({
                "hub": hub, "screens": options.screens, "storm_s": m.storm.as_secs_f64(),
                "rss_start_mib": m.rss_start, "rss_screens_mib": m.rss_screens,
                "rss_after_mib": m.rss_after, "idle_commits": m.idle_commits,
                "ack_p50_ms": m.ack_p50, "ack_p99_ms": m.ack_p99, "sales": m.sales,
                "delivered": m.delivered, "event_bytes": m.event_bytes, "lost": m.lost,
            }));
        }
    }
    for (hub, runs) in medians {
        let of = |i: usize| median(runs.iter().map(|r| r[i]).collect());
        println!(
            "{hub}, medians of {} runs: storm served in {:.2} s, RSS with the screens {:.0} MiB, ack p99 {:.1} ms",
            runs.len(),
            of(0),
            of(1),
            of(2)
        );
    }
    println!("{}", serde_json::Value::Array(json));
}
