//! Fan-out under load and under bad clients: many dashboards each get every
//! event exactly once and in order, while clients that stop reading or read
//! too slowly are dropped without holding anyone else up.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use awc::ws::{Frame, Message};
use cajahub::auth::user::Role;
use futures_util::{SinkExt, StreamExt, future::join_all, stream};
use serde::Deserialize;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpSocket, TcpStream};

use crate::cajas::create_cajas;
use crate::helpers::{TestApp, TestDb, Visitor, hub_side};
use crate::screens::{Socket, connect, next_json, sale, venue};

/// A WebSocket client on a bare TCP socket with a tiny receive buffer, as a
/// phone on a failing network would be: it reads only when told to.
pub(crate) struct RawScreen {
    stream: BufReader<TcpStream>,
}

/// A frame as the raw client sees it: its opcode and payload.
struct RawFrame {
    opcode: u8,
    payload: Vec<u8>,
}

const OPCODE_CLOSE: u8 = 0x8;

impl RawScreen {
    /// Opens a screen at `path` of the hub at `origin` (its `http://` address).
    pub(crate) async fn open(origin: &str, path: &str, cookie: &str) -> Self {
        let host = origin.trim_start_matches("http://");
        let address: SocketAddr = host.parse().unwrap();
        let socket = TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        let mut stream = socket.connect(address).await.unwrap();
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
             Origin: {origin}\r\nCookie: {cookie}\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut stream = BufReader::new(stream);
        let mut line = String::new();
        stream.read_line(&mut line).await.unwrap();
        assert!(line.starts_with("HTTP/1.1 101"), "upgraded: {line}");
        while line != "\r\n" {
            line.clear();
            stream.read_line(&mut line).await.unwrap();
        }
        Self { stream }
    }

    /// The client's own port: the hub's side of the connection has it as
    /// its remote port.
    pub(crate) fn port(&self) -> u16 {
        self.stream.get_ref().local_addr().unwrap().port()
    }

    /// The next frame; `None` once the hub closed the connection.
    async fn next_frame(&mut self) -> Option<RawFrame> {
        let mut head = [0u8; 2];
        self.stream.read_exact(&mut head).await.ok()?;
        let len = match head[1] & 0x7f {
            126 => u64::from(self.stream.read_u16().await.ok()?),
            127 => self.stream.read_u64().await.ok()?,
            short => u64::from(short),
        };
        let mut payload = vec![0; usize::try_from(len).ok()?];
        self.stream.read_exact(&mut payload).await.ok()?;
        Some(RawFrame {
            opcode: head[0] & 0x0f,
            payload,
        })
    }

    /// Reads every frame left until the hub closes the connection, and
    /// returns the close code if a close frame came.
    async fn drain(&mut self, within: Duration) -> Option<u16> {
        actix_web::rt::time::timeout(within, async {
            let mut code = None;
            while let Some(frame) = self.next_frame().await {
                if frame.opcode == OPCODE_CLOSE && frame.payload.len() >= 2 {
                    code = Some(u16::from_be_bytes([frame.payload[0], frame.payload[1]]));
                }
            }
            code
        })
        .await
        .expect("the hub closed the connection")
    }
}

/// The part of an event the fan-out checks read.
#[derive(Deserialize)]
struct EventHead {
    #[serde(rename = "type")]
    kind: String,
    register_id: Option<i32>,
    seq: Option<i64>,
}

/// Reads messages until `wanted` events arrived; returns (register, seq) in arrival order.
async fn collect_events(mut socket: Socket, wanted: usize) -> Vec<(i32, i64)> {
    let mut seen = Vec::with_capacity(wanted);
    while seen.len() < wanted {
        let frame = actix_web::rt::time::timeout(Duration::from_secs(60), socket.next())
            .await
            .expect("an event in time");
        match frame {
            Some(Ok(Frame::Text(text))) => {
                let head: EventHead = serde_json::from_slice(&text).unwrap();
                assert_eq!(head.kind, "event", "only events, no resync, were needed");
                seen.push((head.register_id.unwrap(), head.seq.unwrap()));
            }
            Some(Ok(Frame::Ping(bytes))) => socket.send(Message::Pong(bytes)).await.unwrap(),
            Some(Ok(Frame::Pong(_))) => {}
            other => panic!(
                "dashboard lost its socket after {} events: {other:?}",
                seen.len()
            ),
        }
    }
    seen
}

/// A floor dashboard's snapshot (each register's seq) and its socket.
async fn floor_from_now(app: &TestApp, cookie: &str) -> (HashMap<i32, i64>, Socket) {
    let mut floor = connect(app, "/ws/piso", Some(cookie), Some(&app.address))
        .await
        .expect("upgrade");
    let snapshot = next_json(&mut floor).await.unwrap();
    assert_eq!(snapshot["type"], "snapshot");
    let seqs = snapshot["registers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|register| {
            let id = register["caja"]["id"].as_i64().unwrap() as i32;
            (id, register["seq"].as_i64().unwrap())
        })
        .collect();
    (seqs, floor)
}

async fn record_sales(cashier: &Visitor, app: &TestApp, register: i32, count: usize) {
    let url = app.url(&format!("/api/cajas/{register}/sales"));
    let statuses: Vec<u16> = stream::iter(0..count)
        .map(|n| {
            let request = cashier.client.post(&url).json(&sale(1_000 + n as i64));
            async move { request.send().await.unwrap().status().as_u16() }
        })
        .buffer_unordered(5)
        .collect()
        .await;
    assert!(statuses.iter().all(|s| *s == 201), "{statuses:?}");
}

#[actix_web::test]
async fn a_thousand_sales_on_ten_cajas_reach_fifty_dashboards_and_ten_joining_midway_each_event_once()
 {
    const CAJAS: i32 = 10;
    const SALES_PER_CAJA: usize = 100;
    const DASHBOARDS: usize = 50;
    const LATE_DASHBOARDS: usize = 10;
    // Sixty dashboards of one login: a simulation, not a person.
    let app = TestApp::spawn_with(crate::helpers::TestDb::migrated(), |settings| {
        settings.screens_per_login = 100;
        settings.screens_per_user = 100;
    })
    .await;
    app.log_in_as("admin", Role::Admin).await;
    create_cajas(&app, CAJAS as usize).await;
    assert_eq!(
        app.post_form("/admin/jornadas/abrir", &[]).await.status(),
        303
    );
    let mut cashiers = Vec::new();
    for n in 1..=CAJAS {
        let cashier = app.visitor(&format!("cajero{n}"), Role::Cajero).await;
        let register = n.to_string();
        let opened = cashier
            .post(
                &app,
                "/caja/session/open",
                &[("register_id", register.as_str()), ("initial_cash", "0")],
            )
            .await;
        assert_eq!(opened.status(), 303);
        cashiers.push((n, cashier));
    }

    let cookie = app.session_cookie("supervisora", Role::Supervisor).await;
    let total = CAJAS as usize * SALES_PER_CAJA;
    let mut start = HashMap::new();
    let mut readers = Vec::new();
    for _ in 0..DASHBOARDS {
        let (snapshot, floor) = floor_from_now(&app, &cookie).await;
        for (id, seq) in &snapshot {
            assert_eq!(*start.entry(*id).or_insert(*seq), *seq, "one state for all");
        }
        readers.push((snapshot, actix_web::rt::spawn(collect_events(floor, total))));
    }
    assert_eq!(start.len(), CAJAS as usize);

    // Half the sales; then the other half while more dashboards join.
    let half = SALES_PER_CAJA / 2;
    join_all(
        cashiers
            .iter()
            .map(|(register, cashier)| record_sales(cashier, &app, *register, half)),
    )
    .await;
    let selling =
        join_all(cashiers.iter().map(|(register, cashier)| {
            record_sales(cashier, &app, *register, SALES_PER_CAJA - half)
        }));
    let joining = async {
        let mut late = Vec::new();
        for _ in 0..LATE_DASHBOARDS {
            let (snapshot, floor) = floor_from_now(&app, &cookie).await;
            let after = (snapshot.values().sum::<i64>() - start.values().sum::<i64>()) as usize;
            late.push((
                snapshot,
                actix_web::rt::spawn(collect_events(floor, total - after)),
            ));
        }
        late
    };
    let ((), late) = futures_util::join!(
        async {
            selling.await;
        },
        joining
    );
    readers.extend(late);

    for (snapshot, reader) in readers {
        let expected: BTreeMap<i32, Vec<i64>> = snapshot
            .iter()
            .map(|(id, seq)| (*id, (seq + 1..=start[id] + SALES_PER_CAJA as i64).collect()))
            .filter(|(_, seqs): &(i32, Vec<i64>)| !seqs.is_empty())
            .collect();
        let mut per_register: BTreeMap<i32, Vec<i64>> = BTreeMap::new();
        for (register, seq) in reader.await.unwrap() {
            per_register.entry(register).or_default().push(seq);
        }
        assert_eq!(
            per_register, expected,
            "each event after the dashboard's snapshot exactly once, in order, no gap"
        );
    }
    assert_eq!(
        app.count("SELECT count(*) AS n FROM sales"),
        CAJAS as i64 * SALES_PER_CAJA as i64
    );
}

#[actix_web::test]
async fn screens_that_stop_reading_or_read_slowly_are_dropped_and_the_others_get_every_event() {
    let app = TestApp::spawn_with(TestDb::migrated(), |settings| {
        settings.screen_send_timeout = Duration::from_secs(1);
        // Long enough that only the send timeout or the queue can drop them.
        settings.screen_timeout = Duration::from_secs(300);
    })
    .await;
    app.log_in_as("admin", Role::Admin).await;
    let cashier = venue(&app).await;
    let cookie = app.session_cookie("supervisora", Role::Supervisor).await;
    let mut floor = connect(&app, "/ws/piso", Some(&cookie), Some(&app.address))
        .await
        .unwrap();
    let mut pos = connect(&app, "/ws/caja/1", Some(&cookie), Some(&app.address))
        .await
        .unwrap();
    let start = next_json(&mut floor).await.unwrap()["registers"][0]["seq"]
        .as_i64()
        .unwrap();
    next_json(&mut pos).await.unwrap();

    // One never reads again; one reads a frame every 50 ms.
    let mut stuck = RawScreen::open(&app.address, "/ws/piso", &cookie).await;
    let mut slow = RawScreen::open(&app.address, "/ws/caja/1", &cookie).await;
    let hurry = Arc::new(AtomicBool::new(false));
    let slow_hurries = hurry.clone();
    let slow_reader = actix_web::rt::spawn(async move {
        let mut frames = 0;
        while let Some(frame) = slow.next_frame().await {
            if frame.opcode == OPCODE_CLOSE {
                return (
                    frames,
                    Some(u16::from_be_bytes([frame.payload[0], frame.payload[1]])),
                );
            }
            frames += 1;
            if !slow_hurries.load(Ordering::Relaxed) {
                actix_web::rt::time::sleep(Duration::from_millis(50)).await;
            }
        }
        (frames, None)
    });
    let screens = &app.state.screens;
    assert_eq!((screens.floors(), screens.registers()), (2, 2));

    let mut seq = start;
    while (screens.floors(), screens.registers()) != (1, 1) {
        assert!(seq - start < 3_000, "the bad screens were never dropped");
        record_sales(&cashier, &app, 1, 50).await;
        for _ in 0..50 {
            seq += 1;
            for healthy in [&mut floor, &mut pos] {
                let event = next_json(healthy).await.expect("healthy screens stay");
                assert_eq!(
                    (event["type"].as_str(), event["seq"].as_i64()),
                    (Some("event"), Some(seq))
                );
            }
        }
    }
    hurry.store(true, Ordering::Relaxed);
    // The stuck client's connection is closed by the hub, not left hanging.
    stuck.drain(Duration::from_secs(30)).await;
    let (frames, close) = slow_reader.await.unwrap();
    assert!(
        frames < (seq - start) as usize,
        "the slow screen did not get everything: it was dropped"
    );
    assert!(
        matches!(close, None | Some(1013)),
        "told to come back: {close:?}"
    );

    // The healthy ones carry on.
    record_sales(&cashier, &app, 1, 1).await;
    assert_eq!(next_json(&mut floor).await.unwrap()["seq"], seq + 1);
    assert_eq!(next_json(&mut pos).await.unwrap()["seq"], seq + 1);
}

/// Screens that stop reading (phones asleep on bad Wi-Fi) while sales are
/// pushed are dropped, and so are their connections: the hub keeps no
/// descriptor, no established connection and no queued bytes for them.
#[actix_web::test]
async fn screens_that_stop_reading_give_their_connections_back_at_once() {
    const STUCK: usize = 20;
    let app = TestApp::spawn_with(TestDb::migrated(), |settings| {
        settings.screen_send_timeout = Duration::from_secs(1);
        settings.screen_timeout = Duration::from_secs(300);
        settings.screens_per_login = 100;
        settings.screens_per_user = 100;
    })
    .await;
    app.log_in_as("admin", Role::Admin).await;
    let cashier = venue(&app).await;
    let cookie = app.session_cookie("supervisora", Role::Supervisor).await;
    let mut stuck = Vec::with_capacity(STUCK);
    for n in 0..STUCK {
        let path = if n % 2 == 0 { "/ws/caja/1" } else { "/ws/piso" };
        stuck.push(RawScreen::open(&app.address, path, &cookie).await);
    }
    let ports: Vec<u16> = stuck.iter().map(RawScreen::port).collect();
    let hub_port: u16 = app.address.rsplit(':').next().unwrap().parse().unwrap();
    let screens = &app.state.screens;
    assert_eq!(screens.floors() + screens.registers(), STUCK);
    assert_eq!(hub_side(hub_port, &ports).len(), STUCK);

    let mut sold = 0;
    while screens.floors() + screens.registers() > 0 {
        assert!(sold < 3_000, "the stuck screens were never dropped");
        record_sales(&cashier, &app, 1, 50).await;
        sold += 50;
    }
    // Dropped: their connections go too (the kernel may take a moment to
    // forget a reset one; nothing here waits for a timeout).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let held = hub_side(hub_port, &ports);
        if held.is_empty() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "after {sold} sales the hub still holds {} connections of dropped screens \
             ({} established, {} bytes queued)",
            held.len(),
            held.iter().filter(|side| side.state == 1).count(),
            held.iter().map(|side| side.queued).sum::<u64>(),
        );
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
    // The venue's other screens are unaffected.
    let (_, mut floor) = floor_from_now(&app, &cookie).await;
    record_sales(&cashier, &app, 1, 1).await;
    assert_eq!(next_json(&mut floor).await.unwrap()["type"], "event");
    drop(stuck);
}

/// A client whose frame header announces 2 GiB is refused as soon as the
/// header arrives (close 1009), not left waiting for the payload until the
/// silence timeout; other screens carry on.
#[actix_web::test]
async fn a_frame_header_announcing_two_gib_closes_the_screen_at_once() {
    let app = TestApp::spawn_with(TestDb::migrated(), |settings| {
        settings.screen_timeout = Duration::from_secs(120);
    })
    .await;
    app.log_in_as("admin", Role::Admin).await;
    let cashier = venue(&app).await;
    let cookie = app.session_cookie("supervisora", Role::Supervisor).await;
    let mut raw = RawScreen::open(&app.address, "/ws/piso", &cookie).await;
    let snapshot = raw.next_frame().await.expect("the snapshot");
    assert_eq!(snapshot.opcode, 0x1);
    // FIN + text, masked, 64-bit length 2^31, the mask key; no payload follows.
    let mut header = vec![0x81, 0x80 | 127];
    header.extend((2u64 << 30).to_be_bytes());
    header.extend([7, 7, 7, 7]);
    raw.stream.get_mut().write_all(&header).await.unwrap();
    let started = std::time::Instant::now();
    assert_eq!(
        raw.drain(Duration::from_secs(10)).await,
        Some(1009),
        "closed: too big"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "at once, not after the silence timeout"
    );
    let mut healthy = connect(&app, "/ws/piso", Some(&cookie), Some(&app.address))
        .await
        .unwrap();
    next_json(&mut healthy).await.unwrap();
    let response = cashier
        .client
        .post(app.url("/api/cajas/1/sales"))
        .json(&sale(1_000))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let event = next_json(&mut healthy).await.unwrap();
    assert_eq!(event["type"], "event");
}
