//! A clean exit under load. The hub is stopped with SIGTERM while a POS
//! sells, an admin edits the caja and a hundred floor dashboards follow,
//! over TLS to PostgreSQL (libpq's default, `prefer`): every run must exit
//! 0 with nothing of a corrupted heap in its log, and every acknowledged
//! sale is stored once. Repeated `CAJAHUB_STOP_RUNS` times (3 by default;
//! the closing figures were taken with 50).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use actix_web::rt::time::sleep;
use cajahub::auth::user::Role;

use crate::cajas::paso_6_1_fields;
use crate::fanout::RawScreen;
use crate::helpers::{HubProcess, TestApp, csrf_in, free_address, hub_side};
use crate::screens::{Socket, sale, venue};

/// Floor dashboards open while the hub stops.
const FLOORS: usize = 100;

/// What a log shows when the heap was corrupted or the process crashed.
const CORRUPTION: [&str; 6] = [
    "double free",
    "corruption",
    "free(): invalid",
    "malloc(): ",
    "Segmentation fault",
    "panicked",
];

/// The database URL with libpq's `prefer`: TLS when the server offers it
/// (on this machine the hub would otherwise connect without).
fn with_tls_if_offered(url: &str) -> String {
    url.replace("sslmode=disable", "sslmode=prefer")
}

async fn floor(address: &str, cookie: &str) -> Option<Socket> {
    let url = format!("{}/ws/piso", address.replacen("http://", "ws://", 1));
    let request = awc::Client::new()
        .ws(url)
        .header("cookie", cookie)
        .origin(address);
    match actix_web::rt::time::timeout(Duration::from_secs(10), request.connect()).await {
        Ok(Ok((_, socket))) => Some(socket),
        _ => None,
    }
}

/// Sells until told to stop; counts the acknowledged sales.
async fn sell(address: String, cookie: String, stop: Arc<AtomicBool>, acked: Arc<AtomicUsize>) {
    let client = reqwest::Client::new();
    let mut i = 0;
    while !stop.load(Ordering::Relaxed) {
        i += 1;
        let sent = client
            .post(format!("{address}/api/cajas/1/sales"))
            .header("cookie", &cookie)
            .header("origin", &address)
            .json(&sale(100 + i))
            .timeout(Duration::from_secs(5))
            .send()
            .await;
        match sent {
            Ok(response) if response.status() == 201 => {
                acked.fetch_add(1, Ordering::Relaxed);
            }
            Ok(_) => {}
            Err(_) => return,
        }
    }
}

/// Renames the caja back and forth until told to stop (each edit reaches
/// every screen).
async fn edit(address: String, cookie: String, stop: Arc<AtomicBool>) {
    let client = reqwest::Client::new();
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let Ok(page) = client
            .get(format!("{address}/admin/cajas/1/editar"))
            .header("cookie", &cookie)
            .send()
            .await
        else {
            return;
        };
        let Ok(page) = page.text().await else { return };
        let (Some(token), Some(version)) = (
            csrf_in(&page),
            crate::forms::input_value(&page, "version").map(str::to_owned),
        ) else {
            return;
        };
        let name = format!("Barra {}", n % 2);
        let mut fields = paso_6_1_fields();
        fields.retain(|(field, _)| *field != "name");
        fields.extend([
            ("name", name.as_str()),
            ("version", version.as_str()),
            ("csrf_token", token.as_str()),
        ]);
        let posted = client
            .post(format!("{address}/admin/cajas/1/editar"))
            .header("cookie", &cookie)
            .header("origin", &address)
            .form(&fields)
            .send()
            .await;
        if posted.is_err() {
            return;
        }
    }
}

#[actix_web::test]
async fn a_stop_under_load_exits_cleanly_every_time() {
    let runs: usize = std::env::var("CAJAHUB_STOP_RUNS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(3);
    let app = TestApp::spawn_as_admin().await;
    venue(&app).await;
    let cashier = app.session_cookie("cajero1", Role::Cajero).await;
    let supervisor = app.session_cookie("supervisora", Role::Supervisor).await;
    let admin = app.session_cookie("jefa", Role::Admin).await;
    let stopped = app.stop().await;
    let url = with_tls_if_offered(&stopped.database_url());
    let mut acked_total = 0;
    for run in 0..runs {
        let address = free_address();
        let log = tempfile::NamedTempFile::new().unwrap();
        let settings = [
            ("CAJAHUB_LOG", "info"),
            // A hundred dashboards of one login: a simulation, not a person.
            ("CAJAHUB_SCREENS_PER_LOGIN", "1000"),
            ("CAJAHUB_SCREENS_PER_USER", "1000"),
        ];
        let hub = HubProcess::start_with(&address, &url, &settings, Some(log.path())).await;
        let mut floors = Vec::with_capacity(FLOORS);
        for _ in 0..FLOORS {
            let mut socket = floor(&address, &supervisor)
                .await
                .expect("a floor dashboard");
            let first = crate::screens::next_json(&mut socket).await;
            assert_eq!(first.map(|m| m["type"].clone()), Some("snapshot".into()));
            floors.push(socket);
        }
        let stop = Arc::new(AtomicBool::new(false));
        let acked = Arc::new(AtomicUsize::new(0));
        let seller = actix_web::rt::spawn(sell(
            address.clone(),
            cashier.clone(),
            stop.clone(),
            acked.clone(),
        ));
        let editor = actix_web::rt::spawn(edit(address.clone(), admin.clone(), stop.clone()));
        // Mid-burst: some sales acknowledged, then the stop.
        while acked.load(Ordering::Relaxed) < 20 {
            sleep(Duration::from_millis(10)).await;
        }
        let clean = hub.terminate();
        stop.store(true, Ordering::Relaxed);
        let _ = (seller.await, editor.await);
        drop(floors);
        let said = std::fs::read_to_string(log.path()).unwrap_or_default();
        assert!(clean, "run {run}: the hub did not exit 0:\n{said}");
        assert!(said.contains("cajahub stopped"), "run {run}:\n{said}");
        assert!(
            said.contains("every thread holding a database connection has ended"),
            "run {run}: joined before exiting:\n{said}"
        );
        for sign in CORRUPTION {
            assert!(
                !said.contains(sign),
                "run {run}: {sign:?} in the log:\n{said}"
            );
        }
        acked_total += acked.load(Ordering::Relaxed);
    }
    // Every acknowledged sale is there (a key is stored once by the
    // database's own constraint).
    let app = stopped.start().await;
    let stored = app.count("SELECT count(*) AS n FROM sales");
    assert!(
        stored as usize >= acked_total && acked_total >= 20 * runs,
        "{stored} stored, {acked_total} acknowledged"
    );
}

/// A POS that stopped reading while sales were pushed to it must not hold
/// up a stop, whether the hub had already dropped it (its connection used
/// to stay open, and actix-server waited 30 s for it) or was still waiting
/// for it to take a frame: the hub exits within seconds, and the kernel
/// keeps nothing of the connection (no socket lingering with its queue).
#[actix_web::test]
async fn a_stop_does_not_wait_for_a_screen_that_stopped_reading() {
    let app = TestApp::spawn_as_admin().await;
    venue(&app).await;
    let cashier = app.session_cookie("cajero1", Role::Cajero).await;
    let stopped = app.stop().await;
    let client = reqwest::Client::new();
    let mut sold: i64 = 0;
    for (already_dropped, send_timeout) in [(true, "1s"), (false, "10s")] {
        let address = free_address();
        let log = tempfile::NamedTempFile::new().unwrap();
        let settings = [
            ("CAJAHUB_LOG", "info"),
            ("CAJAHUB_SCREEN_SEND_TIMEOUT", send_timeout),
        ];
        let hub = HubProcess::start_with(
            &address,
            &stopped.database_url(),
            &settings,
            Some(log.path()),
        )
        .await;
        let said = || std::fs::read_to_string(log.path()).unwrap_or_default();
        let stuck = RawScreen::open(&address, "/ws/caja/1", &cashier).await;
        let hub_port: u16 = address.rsplit(':').next().unwrap().parse().unwrap();
        // Until the kernel holds what the hub could not deliver (the
        // client takes nothing more): the connection is really stuck. For
        // the first case, until the hub dropped the screen too (a
        // frame it could not hand over within the send timeout).
        let (mut pushed, mut filled) = (0, false);
        let dropped = || said().contains("screen dropped");
        loop {
            filled = filled
                || hub_side(hub_port, &[stuck.port()])
                    .first()
                    .is_some_and(|side| side.queued >= 32 * 1024);
            if filled && (!already_dropped || dropped()) {
                break;
            }
            assert!(pushed < 3_000, "the screen's connection never filled");
            let sent = client
                .post(format!("{address}/api/cajas/1/sales"))
                .header("cookie", &cashier)
                .header("origin", &address)
                .json(&sale(100 + sold))
                .send()
                .await
                .unwrap();
            assert_eq!(sent.status(), 201);
            (sold, pushed) = (sold + 1, pushed + 1);
        }
        let asked = std::time::Instant::now();
        let clean = hub.terminate();
        let took = asked.elapsed();
        assert!(clean, "the hub did not exit 0:\n{}", said());
        assert!(
            took < Duration::from_secs(5),
            "dropped first: {already_dropped}; the stop took {took:?}:\n{}",
            said()
        );
        assert!(said().contains("cajahub stopped"), "{}", said());
        let held = hub_side(hub_port, &[stuck.port()]);
        assert!(
            held.is_empty(),
            "dropped first: {already_dropped}; the kernel still holds {held:?}"
        );
        drop(stuck);
    }
}
