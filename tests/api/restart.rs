//! A restart during service (runbook PASO 4): SIGTERM to the running hub,
//! the new binary started on the same address, while POS clients sell over
//! HTTP and over their sockets and a floor dashboard watches. Nothing is
//! lost or written twice, the screens catch up by themselves, and the time
//! the POS could not sell is measured.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::rt::time::sleep;
use awc::ws::{Frame, Message};
use cajahub::auth::user::Role;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};

use crate::helpers::{HubProcess, TestApp};
use crate::screens::{Joined, Socket, sale, venue};

/// The sales a client had acknowledged: key → (sale id, when).
pub(crate) type Acks = Arc<Mutex<HashMap<String, (i64, Instant)>>>;

/// A socket to `url`, or `None` while the hub is away.
async fn open(url: &str, cookie: &str, origin: &str) -> Option<Socket> {
    let request = awc::Client::new()
        .ws(url)
        .header("cookie", cookie)
        .origin(origin);
    match actix_web::rt::time::timeout(Duration::from_secs(5), request.connect()).await {
        Ok(Ok((_, socket))) => Some(socket),
        _ => None,
    }
}

/// The next text frame as JSON; `None` when the socket ended.
async fn next(socket: &mut Socket) -> Option<Value> {
    let mut joined = Joined::default();
    loop {
        let frame = actix_web::rt::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .ok()??;
        match frame {
            Ok(Frame::Text(text)) => return serde_json::from_slice(&text).ok(),
            Ok(Frame::Continuation(item)) => {
                if let Some(text) = joined.take(item) {
                    return serde_json::from_slice(&text).ok();
                }
            }
            Ok(Frame::Ping(bytes)) => {
                let _ = socket.send(Message::Pong(bytes)).await;
            }
            Ok(Frame::Close(_)) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

/// A POS selling over HTTP: each sale retried with its key until acknowledged.
pub(crate) async fn http_pos(address: String, cookie: String, acks: Acks, n: usize) {
    let client = reqwest::Client::new();
    for i in 0..n {
        let body = sale(100 + i as i64);
        let key = body["key"].as_str().unwrap().to_owned();
        loop {
            let sent = client
                .post(format!("{address}/api/cajas/1/sales"))
                .header("cookie", &cookie)
                .header("origin", &address)
                .json(&body)
                .timeout(Duration::from_secs(10))
                .send()
                .await;
            // 201, or 200: the same key's sale, recorded by a hub whose
            // answer was lost (a replay is an acknowledgement too).
            if let Ok(response) = sent
                && matches!(response.status().as_u16(), 200 | 201)
                && let Ok(ack) = response.json::<Value>().await
            {
                acks.lock()
                    .unwrap()
                    .insert(key, (ack["sale_id"].as_i64().unwrap(), Instant::now()));
                break;
            }
            // Away (refused, 503): the POS tries again with the same key.
            sleep(Duration::from_millis(50)).await;
        }
    }
}

/// A POS selling over its socket; on a close it reconnects and resends the
/// sale it had no ack for, with the same key.
pub(crate) async fn socket_pos(address: String, cookie: String, acks: Acks, n: usize) {
    let url = format!("{}/ws/caja/1", address.replacen("http://", "ws://", 1));
    let mut socket = None;
    for i in 0..n {
        let body = sale(200 + i as i64);
        let key = body["key"].as_str().unwrap().to_owned();
        let command = json!({"type": "sale", "id": format!("c-{i}"), "sale": body}).to_string();
        'sent: loop {
            if socket.is_none() {
                socket = open(&url, &cookie, &address).await;
                if socket.is_none() {
                    sleep(Duration::from_millis(50)).await;
                    continue;
                }
            }
            let live = socket.as_mut().unwrap();
            if live
                .send(Message::Text(command.clone().into()))
                .await
                .is_err()
            {
                socket = None;
                continue;
            }
            while let Some(message) = next(live).await {
                if message["type"] == "ack" && message["id"] == format!("c-{i}") {
                    acks.lock().unwrap().insert(
                        key.clone(),
                        (message["sale_id"].as_i64().unwrap(), Instant::now()),
                    );
                    break 'sent;
                }
                if message["type"] == "error" && message["id"] == format!("c-{i}") {
                    sleep(Duration::from_millis(50)).await;
                    continue 'sent;
                }
            }
            socket = None;
        }
    }
}

/// What a floor dashboard has seen: (caja 1's seq, its tickets, reconnections).
pub(crate) type Seen = Arc<Mutex<(i64, i64, u32)>>;

/// A floor dashboard at `address`: follows every event and, after a close,
/// reconnects by itself resuming from the last seq it has.
pub(crate) fn follow_the_floor(
    address: String,
    cookie: String,
) -> (actix_web::rt::task::JoinHandle<()>, Seen) {
    let floor_url = format!("{}/ws/piso", address.replacen("http://", "ws://", 1));
    let seen: Seen = Arc::default();
    let floor_seen = seen.clone();
    let floor = actix_web::rt::spawn(async move {
        loop {
            let (seq, _, _) = *floor_seen.lock().unwrap();
            let path = if seq > 0 {
                format!("{floor_url}?last_seq=1:{seq}")
            } else {
                floor_url.clone()
            };
            let Some(mut socket) = open(&path, &cookie, &address).await else {
                sleep(Duration::from_millis(50)).await;
                continue;
            };
            while let Some(message) = next(&mut socket).await {
                let register = match message["type"].as_str() {
                    Some("snapshot") => message["registers"][0].clone(),
                    Some("event") => message["changed"].clone(),
                    _ => continue,
                };
                let mut seen = floor_seen.lock().unwrap();
                seen.0 = register["seq"].as_i64().unwrap_or(seen.0);
                seen.1 = register["session"]["ticket_count"]
                    .as_i64()
                    .unwrap_or(seen.1);
            }
            floor_seen.lock().unwrap().2 += 1;
        }
    });
    (floor, seen)
}

/// Waits for the floor to show `tickets`; it shows them, and it was cut
/// by `cut_by` and came back by itself.
pub(crate) async fn floor_caught_up(seen: &Seen, tickets: i64, cut_by: &str) {
    for _ in 0..200 {
        if seen.lock().unwrap().1 == tickets {
            break;
        }
        sleep(Duration::from_millis(50)).await;
    }
    let (_, shown, reconnects) = *seen.lock().unwrap();
    assert_eq!(shown, tickets, "the floor caught up");
    assert!(
        reconnects >= 1,
        "the floor was cut by {cut_by} and came back"
    );
}

#[actix_web::test]
async fn a_restart_under_sales_loses_and_doubles_nothing_and_the_screens_catch_up() {
    let app = TestApp::spawn_as_admin().await;
    let _cashier = venue(&app).await;
    let cashier = app.session_cookie("cajero1", Role::Cajero).await;
    let supervisor = app.session_cookie("supervisora", Role::Supervisor).await;
    let stopped = app.stop().await;
    let (address, url) = (stopped.address().to_owned(), stopped.database_url());
    let old = HubProcess::start(&address, &url).await;

    let (floor, seen) = follow_the_floor(address.clone(), supervisor.clone());

    let acks: Acks = Arc::default();
    const EACH: usize = 60;
    let http = actix_web::rt::spawn(http_pos(
        address.clone(),
        cashier.clone(),
        acks.clone(),
        EACH,
    ));
    let ws = actix_web::rt::spawn(socket_pos(
        address.clone(),
        cashier.clone(),
        acks.clone(),
        EACH,
    ));

    // Mid-stream: the restart, as `systemctl restart cajahub` does it.
    while acks.lock().unwrap().len() < 20 {
        sleep(Duration::from_millis(20)).await;
    }
    let stopping = Instant::now();
    assert!(old.terminate(), "the old hub stops cleanly on SIGTERM");
    let stopped_in = stopping.elapsed();
    let _new = HubProcess::start(&address, &url).await;
    let restarted = stopping.elapsed();
    let (http, ws) = (http.await, ws.await);
    assert!(http.is_ok() && ws.is_ok(), "both POS finished");

    // Every acknowledged sale is there once, and nothing else is.
    let acks = acks.lock().unwrap().clone();
    assert_eq!(acks.len(), 2 * EACH);
    let mut conn = <diesel::PgConnection as diesel::Connection>::establish(&url).unwrap();
    #[derive(diesel::QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Text)]
        key: String,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        id: i64,
    }
    let rows: Vec<Row> = diesel::RunQueryDsl::load(
        diesel::sql_query("SELECT idempotency_key::text AS key, id FROM sales"),
        &mut conn,
    )
    .unwrap();
    let stored: HashMap<String, i64> = rows.into_iter().map(|r| (r.key, r.id)).collect();
    assert_eq!(stored.len(), acks.len(), "no sale lost, none doubled");
    for (key, (id, _)) in &acks {
        assert_eq!(
            stored.get(key),
            Some(id),
            "the acknowledged sale {key} is the stored one"
        );
    }

    // The longest the POS went without an acknowledgement: the restart.
    let mut times: Vec<Instant> = acks.values().map(|(_, at)| *at).collect();
    times.sort();
    let gap = times.windows(2).map(|w| w[1] - w[0]).max().unwrap();
    eprintln!(
        "restart: the old hub stopped {stopped_in:?} after SIGTERM, the new one answered at {restarted:?}; longest wait for a sale {gap:?}"
    );
    assert!(
        gap < Duration::from_secs(10),
        "the POS could not sell for {gap:?}"
    );

    // The floor reconnected by itself and shows what PostgreSQL has.
    let tickets = stored.len() as i64;
    floor_caught_up(&seen, tickets, "the restart").await;
    floor.abort();
}
