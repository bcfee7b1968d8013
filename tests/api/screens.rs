//! Live screens over real WebSockets: snapshot then ordered events, checks
//! before the upgrade, commands answered after the commit, the cashier's
//! screen told at once when a supervisor closes the caja, closed sockets for
//! disabled users and over-large frames.

use std::time::Duration;

use actix_ws::Item;
use awc::ws::{Frame, Message};
use cajahub::auth::user::Role;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};

use crate::cajas::{create_cajas, paso_6_1_fields};
use crate::helpers::{TestApp, Visitor};
use crate::payments::{resolve, start};
use crate::registers::{key, post_json, sell};

pub(crate) type Socket = actix_codec::Framed<awc::BoxedSocket, awc::ws::Codec>;

pub(crate) async fn connect(
    app: &TestApp,
    path: &str,
    cookie: Option<&str>,
    origin: Option<&str>,
) -> Result<Socket, u16> {
    let mut request = awc::Client::new().ws(app.ws_url(path));
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    if let Some(origin) = origin {
        request = request.origin(origin);
    }
    match request.connect().await {
        Ok((_, socket)) => Ok(socket),
        Err(awc::error::WsClientError::InvalidResponseStatus(status)) => Err(status.as_u16()),
        Err(other) => panic!("websocket failed: {other}"),
    }
}

/// A screen of the hub as a logged-in browser opens it (its own origin),
/// with its first message read.
pub(crate) async fn open_screen(app: &TestApp, path: &str, cookie: &str) -> (Socket, Value) {
    let mut socket = connect(app, path, Some(cookie), Some(&app.address))
        .await
        .unwrap_or_else(|status| panic!("{path} refused: {status}"));
    let first = next_json(&mut socket).await.expect("a first message");
    (socket, first)
}

/// A text message the hub sent in fragments (a large snapshot), joined.
#[derive(Default)]
pub(crate) struct Joined(Vec<u8>);

impl Joined {
    /// Takes a fragment; the whole message once its last fragment came.
    pub(crate) fn take(&mut self, item: Item) -> Option<Vec<u8>> {
        match item {
            Item::FirstText(part) | Item::Continue(part) => {
                self.0.extend_from_slice(&part);
                None
            }
            Item::Last(part) => {
                self.0.extend_from_slice(&part);
                Some(std::mem::take(&mut self.0))
            }
            Item::FirstBinary(_) => panic!("the hub sends text only"),
        }
    }
}

/// The next JSON message, skipping pings; `None` when the socket closed.
pub(crate) async fn next_json(socket: &mut Socket) -> Option<Value> {
    let mut joined = Joined::default();
    loop {
        let frame = actix_web::rt::time::timeout(Duration::from_secs(15), socket.next())
            .await
            .expect("a message in time");
        match frame {
            Some(Ok(Frame::Text(text))) => return Some(serde_json::from_slice(&text).unwrap()),
            Some(Ok(Frame::Continuation(item))) => {
                if let Some(text) = joined.take(item) {
                    return Some(serde_json::from_slice(&text).unwrap());
                }
            }
            Some(Ok(Frame::Ping(bytes))) => {
                let _ = socket.send(Message::Pong(bytes)).await;
            }
            Some(Ok(Frame::Pong(_))) => {}
            Some(Ok(Frame::Close(_))) | None | Some(Err(_)) => return None,
            Some(Ok(other)) => panic!("unexpected frame {other:?}"),
        }
    }
}

/// Sends a command and returns its ack and the event of its commit, which
/// may come in either order.
pub(crate) async fn ack_and_event(socket: &mut Socket, command: &Value) -> (Value, Value) {
    socket
        .send(Message::Text(command.to_string().into()))
        .await
        .unwrap();
    let (mut ack, mut event) = (None, None);
    for _ in 0..2 {
        let message = next_json(socket).await.unwrap();
        match message["type"].as_str() {
            Some("ack") => ack = Some(message),
            Some("event") => event = Some(message),
            other => panic!("unexpected {other:?}: {message}"),
        }
    }
    (ack.expect("an ack"), event.expect("an event"))
}

/// The PASO 6.1 caja, created by the app's admin, in an open jornada.
pub(crate) async fn caja_in_open_jornada(app: &TestApp) {
    assert_eq!(
        app.post_form("/admin/cajas/crear", &paso_6_1_fields())
            .await
            .status(),
        303
    );
    assert_eq!(
        app.post_form("/admin/jornadas/abrir", &[]).await.status(),
        303
    );
}

pub(crate) async fn venue(app: &TestApp) -> Visitor {
    caja_in_open_jornada(app).await;
    let cashier = app.visitor("cajero1", Role::Cajero).await;
    assert_eq!(
        cashier
            .post(
                app,
                "/caja/session/open",
                &[("register_id", "1"), ("initial_cash", "0")]
            )
            .await
            .status(),
        303
    );
    cashier
}

/// Applies `event` to `register` as a screen does (docs/screens.md):
/// its fields replace the register's, but for a sale, which goes first in
/// the last sales, and those keep the newest 8.
fn apply(register: &mut Value, event: &Value) {
    for (field, value) in event["changed"].as_object().unwrap() {
        if field == "recent_sale" {
            let recent = register["recent_sales"].as_array_mut().unwrap();
            recent.insert(0, value.clone());
            recent.truncate(8);
        } else {
            register[field] = value.clone();
        }
    }
}

pub(crate) fn sale(total: i64) -> Value {
    json!({"key": uuid::Uuid::new_v4().to_string(), "total": total, "payments": [{"method": "EFECTIVO", "amount": total}]})
}

#[actix_web::test]
async fn the_floor_gets_a_snapshot_then_every_event_in_order() {
    let app = TestApp::spawn_as_admin().await;
    let cashier = venue(&app).await;
    let cookie = app.session_cookie("supervisora", Role::Supervisor).await;
    let mut floor = connect(&app, "/ws/piso", Some(&cookie), Some(&app.address))
        .await
        .expect("upgrade");
    let snapshot = next_json(&mut floor).await.unwrap();
    assert_eq!(snapshot["type"], "snapshot");
    assert_eq!(snapshot["v"], 3);
    let registers = snapshot["registers"].as_array().unwrap();
    assert_eq!(registers.len(), 1);
    let start = registers[0]["seq"].as_i64().unwrap();
    assert_eq!(registers[0]["session"]["ticket_count"], 0);

    for n in 1..=3 {
        let response = cashier
            .client
            .post(app.url("/api/cajas/1/sales"))
            .json(&sale(1_000 * n))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
    }
    // Each event carries what changed; applied in order, they leave the
    // register as a fresh snapshot has it.
    let mut applied = registers[0].clone();
    for n in 1..=3 {
        let event = next_json(&mut floor).await.unwrap();
        assert_eq!(event["type"], "event");
        assert_eq!(event["register_id"], 1);
        assert_eq!(event["seq"], start + n);
        assert_eq!(event["change"], "sale_recorded");
        assert_eq!(event["changed"]["session"]["ticket_count"], n);
        apply(&mut applied, &event);
    }
    // An admin edit reaches the floor too.
    let mut edit = paso_6_1_fields();
    edit.retain(|(k, _)| *k != "name");
    edit.extend([("name", "Barra Norte"), ("version", "1")]);
    assert_eq!(
        app.post_form("/admin/cajas/1/editar", &edit).await.status(),
        303
    );
    let event = next_json(&mut floor).await.unwrap();
    assert_eq!(
        (event["change"].as_str(), event["seq"].as_i64()),
        (Some("config_changed"), Some(start + 4))
    );
    assert_eq!(event["changed"]["caja"]["name"], "Barra Norte");
    apply(&mut applied, &event);
    let (_, fresh) = open_screen(&app, "/ws/piso", &cookie).await;
    assert_eq!(applied, fresh["registers"][0]);
    // A change of the caja carries all of the register (but the screens'
    // health and POS, which are not changes of it).
    let mut whole = fresh["registers"][0].clone();
    for not_a_change in ["health", "pos"] {
        whole.as_object_mut().unwrap().remove(not_a_change);
    }
    assert_eq!(event["changed"], whole);
}

/// A sale's event carries the sale alone; a screen that puts it first and
/// keeps the newest 8 (docs/screens.md), and replaces the other
/// fields an event carries, lands where a fresh snapshot is, past the 8th
/// sale and across a void (which sends the whole list again).
#[actix_web::test]
async fn a_sale_comes_alone_and_applied_the_caja_screen_lands_on_a_fresh_snapshot() {
    let app = TestApp::spawn_as_admin().await;
    let cashier = venue(&app).await;
    let supervisor = app.visitor("supervisora", Role::Supervisor).await;
    let cookie = app.session_cookie("supervisora", Role::Supervisor).await;
    let (mut caja, snapshot) = open_screen(&app, "/ws/caja/1", &cookie).await;
    let mut applied = snapshot["registers"][0].clone();
    let mut sold = Vec::new();
    for n in 1..=10 {
        let (status, ack) = sell(&app, &cashier, 1, &sale(1_000 * n)).await;
        assert_eq!(status, 201, "{ack}");
        sold.push(ack["sale_id"].as_i64().unwrap());
        let event = next_json(&mut caja).await.unwrap();
        assert_eq!(event["change"], "sale_recorded");
        assert_eq!(event["changed"].get("recent_sales"), None, "{event}");
        assert_eq!(event["changed"]["recent_sale"]["id"], sold[n as usize - 1]);
        assert_eq!(event["changed"]["recent_sale"]["total_charged"], 1_000 * n);
        apply(&mut applied, &event);
    }
    let void = format!("/api/cajas/1/sales/{}/void", sold[6]);
    let body = json!({"key": key(), "reason": "error de digitación"});
    let (status, answer) = post_json(&app, &supervisor, &void, &body).await;
    assert_eq!(status, 200, "{answer}");
    let voided = next_json(&mut caja).await.unwrap();
    assert_eq!(voided["change"], "sale_voided");
    assert_eq!(voided["changed"]["recent_sales"][3]["voided"], true);
    apply(&mut applied, &voided);

    let (_, fresh) = open_screen(&app, "/ws/caja/1", &cookie).await;
    assert_eq!(applied, fresh["registers"][0]);
    let newest: Vec<i64> = sold.iter().rev().take(8).copied().collect();
    let shown: Vec<i64> = applied["recent_sales"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_i64().unwrap())
        .collect();
    assert_eq!(shown, newest);
}

#[actix_web::test]
async fn sockets_are_refused_before_the_upgrade() {
    let app = TestApp::spawn_as_admin().await;
    venue(&app).await;
    let origin = app.address.clone();
    let cashier = app.session_cookie("cajero2", Role::Cajero).await;
    let supervisor = app.session_cookie("supervisora", Role::Supervisor).await;
    assert_eq!(
        connect(&app, "/ws/piso", None, Some(&origin)).await.err(),
        Some(401),
        "no session"
    );
    assert_eq!(
        connect(&app, "/ws/piso", Some(&cashier), Some(&origin))
            .await
            .err(),
        Some(403),
        "cashier on the floor"
    );
    assert_eq!(
        connect(
            &app,
            "/ws/piso",
            Some(&supervisor),
            Some("http://evil.example")
        )
        .await
        .err(),
        Some(403),
        "foreign origin"
    );
    assert_eq!(
        connect(&app, "/ws/piso", Some(&supervisor), None)
            .await
            .err(),
        Some(403),
        "no origin"
    );
    assert_eq!(
        connect(&app, "/ws/caja/1", Some(&cashier), Some(&origin))
            .await
            .err(),
        Some(403),
        "another cashier's caja"
    );
    assert_eq!(
        connect(&app, "/ws/caja/99", Some(&supervisor), Some(&origin))
            .await
            .err(),
        Some(404)
    );
    assert!(
        connect(&app, "/ws/caja/1", Some(&supervisor), Some(&origin))
            .await
            .is_ok()
    );
}

#[actix_web::test]
async fn the_pos_screen_sells_and_learns_at_once_that_its_caja_was_closed() {
    let app = TestApp::spawn_as_admin().await;
    let _ = venue(&app).await;
    let cookie = app.session_cookie("cajero1", Role::Cajero).await;
    let mut pos = connect(&app, "/ws/caja/1", Some(&cookie), Some(&app.address))
        .await
        .expect("upgrade");
    let snapshot = next_json(&mut pos).await.unwrap();
    let start = snapshot["registers"][0]["seq"].as_i64().unwrap();

    let command = json!({"type": "sale", "id": "c-1", "sale": sale(2_345)});
    let (ack, event) = ack_and_event(&mut pos, &command).await;
    assert_eq!(
        (
            ack["id"].as_str(),
            ack["seq"].as_i64(),
            ack["total_charged"].as_i64()
        ),
        (Some("c-1"), Some(start + 1), Some(2_340))
    );
    assert_eq!(event["seq"], start + 1);

    // The same key again: the original answer, no second sale.
    pos.send(Message::Text(command.to_string().into()))
        .await
        .unwrap();
    let replay = next_json(&mut pos).await.unwrap();
    assert_eq!(
        (replay["type"].as_str(), replay["replayed"].as_bool()),
        (Some("ack"), Some(true))
    );

    for (bad, code) in [
        ("{not json".to_string(), "invalid_json"),
        (json!({"type": "bailar"}).to_string(), "unknown_type"),
        (
            json!({"type": "sale", "id": 7, "sale": {"key": "x", "total": 1, "payments": []}})
                .to_string(),
            "invalid_sale",
        ),
        (json!({"id": 8}).to_string(), "invalid_message"),
    ] {
        pos.send(Message::Text(bad.into())).await.unwrap();
        let answer = next_json(&mut pos).await.unwrap();
        assert_eq!(
            (answer["type"].as_str(), answer["code"].as_str()),
            (Some("error"), Some(code))
        );
    }

    // A supervisor closes the session: the cashier's screen is told at once.
    supervisor_closes_caja_1(&app, "2340").await;
    let closed = next_json(&mut pos).await.unwrap();
    assert_eq!(closed["change"], "session_closed");
    assert_eq!(closed["changed"]["session"], Value::Null);
    assert_eq!(app.count("SELECT count(*) AS n FROM sales"), 1);
}

#[actix_web::test]
async fn a_disabled_users_socket_is_closed() {
    let app = TestApp::spawn_as_admin().await;
    venue(&app).await;
    let cookie = app.session_cookie("supervisora", Role::Supervisor).await;
    let mut floor = connect(&app, "/ws/piso", Some(&cookie), Some(&app.address))
        .await
        .expect("upgrade");
    assert_eq!(next_json(&mut floor).await.unwrap()["type"], "snapshot");
    cajahub::auth::user::disable(
        &mut app.conn(),
        &cajahub::audit::Actor::command_line(),
        "supervisora",
    )
    .unwrap();
    assert!(
        next_json(&mut floor).await.is_none(),
        "closed within a heartbeat or two"
    );
}

#[actix_web::test]
async fn an_over_large_frame_closes_the_connection_and_the_others_carry_on() {
    let app = TestApp::spawn_as_admin().await;
    let cashier = venue(&app).await;
    let cookie = app.session_cookie("supervisora", Role::Supervisor).await;
    let mut big = connect(&app, "/ws/piso", Some(&cookie), Some(&app.address))
        .await
        .unwrap();
    let mut other = connect(&app, "/ws/piso", Some(&cookie), Some(&app.address))
        .await
        .unwrap();
    next_json(&mut big).await.unwrap();
    next_json(&mut other).await.unwrap();
    let huge = "x".repeat(cajahub::screens::MAX_FRAME_BYTES + 1);
    big.send(Message::Text(huge.into())).await.unwrap();
    assert!(next_json(&mut big).await.is_none(), "closed");
    let response = cashier
        .client
        .post(app.url("/api/cajas/1/sales"))
        .json(&sale(500))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(
        next_json(&mut other).await.unwrap()["change"],
        "sale_recorded"
    );
}

/// A supervisor closes caja 1's session with `cash_count` counted.
pub(crate) async fn supervisor_closes_caja_1(app: &TestApp, cash_count: &str) {
    let supervisor = app.visitor("supervisora", Role::Supervisor).await;
    let closed = supervisor
        .post(
            app,
            "/caja/session/close",
            &[("register_id", "1"), ("cash_count", cash_count)],
        )
        .await;
    assert_eq!(closed.status(), 303);
}

/// The hub restarted, a supervisor's cookie on it, and caja 1 as its screen shows it.
async fn restarted(app: TestApp) -> (TestApp, String, Value) {
    let app = app.restart().await;
    let cookie = app.session_cookie("supervisora", Role::Supervisor).await;
    let register = caja_1_snapshot(&app, &cookie).await;
    (app, cookie, register)
}

/// Caja 1 in the snapshot its screen gets: its last sales, the provider in
/// use, the last closing and the jornada so far.
async fn caja_1_snapshot(app: &TestApp, cookie: &str) -> Value {
    let (_, snapshot) = open_screen(app, "/ws/caja/1", cookie).await;
    snapshot["registers"][0].clone()
}

/// A register without the lists the floor leaves out, and with only the
/// card attempts nobody knows the end of.
fn as_the_floor_sees(register: &Value) -> Value {
    let mut floor = register.clone();
    let fields = floor.as_object_mut().expect("a register is an object");
    assert!(fields.remove("recent_sales").is_some());
    assert!(fields.remove("recent_movements").is_some());
    let attempts = fields["card_attempts"]
        .as_array_mut()
        .expect("card attempts");
    attempts
        .retain(|a| ["PENDING", "TIMED_OUT", "UNKNOWN"].contains(&a["status"].as_str().unwrap()));
    floor
}

#[actix_web::test]
async fn the_floor_gets_each_register_without_its_last_sales_movements_and_ended_card_charges() {
    let app = TestApp::spawn_as_admin().await;
    let cashier = venue(&app).await;
    let cookie = app.session_cookie("supervisora", Role::Supervisor).await;
    for total in [1_000, 2_500] {
        assert_eq!(sell(&app, &cashier, 1, &sale(total)).await.0, 201);
    }
    // A charge that ended (not charged) and one still waiting for its terminal.
    let (status, ended) = start(&app, &cashier, 1, &key(), 3_000, json!({})).await;
    assert_eq!(status, 201, "{ended}");
    let ended = ended["attempt"]["id"].as_i64().unwrap();
    let (status, body) = resolve(&app, &cashier, 1, ended, json!({"outcome": "not_charged"})).await;
    assert_eq!(status, 200, "{body}");
    let (status, waiting) = start(&app, &cashier, 1, &key(), 3_000, json!({})).await;
    assert_eq!(status, 201, "{waiting}");
    let waiting = waiting["attempt"]["id"].as_i64().unwrap();
    let (mut caja, caja_snapshot) = open_screen(&app, "/ws/caja/1", &cookie).await;
    let (mut floor, floor_snapshot) = open_screen(&app, "/ws/piso", &cookie).await;
    let register = &caja_snapshot["registers"][0];
    assert_eq!(register["recent_sales"].as_array().map(Vec::len), Some(2));
    assert_eq!(register["card_attempts"].as_array().map(Vec::len), Some(2));
    assert_eq!(floor_snapshot["registers"][0], as_the_floor_sees(register));
    assert_eq!(floor_snapshot["registers"][0]["session"]["ticket_count"], 2);
    let on_the_floor = &floor_snapshot["registers"][0]["card_attempts"];
    assert_eq!(
        on_the_floor.as_array().map(Vec::len),
        Some(1),
        "{on_the_floor}"
    );
    assert_eq!(on_the_floor[0]["id"], waiting);

    // A sale: the caja's screen gets the ticket and the totals, the floor
    // the totals; neither gets what the sale did not change.
    assert_eq!(sell(&app, &cashier, 1, &sale(4_000)).await.0, 201);
    let on_caja = next_json(&mut caja).await.unwrap();
    let on_floor = next_json(&mut floor).await.unwrap();
    assert_eq!(on_caja["change"], "sale_recorded");
    let fields = |event: &Value| {
        let mut keys: Vec<String> = event["changed"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        keys.sort();
        keys
    };
    assert_eq!(fields(&on_caja), ["recent_sale", "seq", "session"]);
    assert_eq!(on_caja["changed"]["recent_sale"]["total_charged"], 4_000);
    assert_eq!(
        on_floor,
        json!({"type": "event", "v": 3, "register_id": 1, "seq": on_caja["seq"],
               "change": "sale_recorded",
               "changed": {"session": on_caja["changed"]["session"], "seq": on_caja["seq"]}})
    );
    assert_eq!(
        on_floor["changed"]["session"]["payment_totals"]["EFECTIVO"],
        7_500
    );
}

#[actix_web::test]
async fn a_snapshot_larger_than_a_fragment_goes_in_fragments_that_join_to_all_of_it() {
    let app = TestApp::spawn_as_admin().await;
    const CAJAS: usize = 12;
    create_cajas(&app, CAJAS).await;
    let cookie = app.session_cookie("supervisora", Role::Supervisor).await;
    let mut floor = connect(&app, "/ws/piso", Some(&cookie), Some(&app.address))
        .await
        .expect("upgrade");
    // Read frame by frame: the snapshot's fragments, each within 7 KiB.
    let mut joined = Joined::default();
    let mut fragments = Vec::new();
    let snapshot = loop {
        let frame = actix_web::rt::time::timeout(Duration::from_secs(15), floor.next())
            .await
            .expect("a frame in time");
        match frame {
            Some(Ok(Frame::Continuation(item))) => {
                fragments.push(match &item {
                    Item::FirstText(part) | Item::Continue(part) | Item::Last(part) => part.len(),
                    Item::FirstBinary(_) => panic!("text only"),
                });
                if let Some(whole) = joined.take(item) {
                    break serde_json::from_slice::<Value>(&whole).unwrap();
                }
            }
            Some(Ok(Frame::Ping(_))) => {}
            other => panic!("a fragment of the snapshot, not {other:?}"),
        }
    };
    assert!(fragments.len() >= 2, "{fragments:?}");
    assert!(
        fragments.iter().all(|len| *len <= 7 * 1024),
        "{fragments:?}"
    );
    assert_eq!(snapshot["type"], "snapshot");
    assert_eq!(snapshot["registers"].as_array().map(Vec::len), Some(CAJAS));

    // Small messages still go whole: an edit's event is one text frame.
    let mut fields = paso_6_1_fields();
    fields.retain(|(k, _)| *k != "name" && *k != "code");
    fields.extend([
        ("name", "Caja 1 renombrada"),
        ("code", "C-01"),
        ("version", "1"),
    ]);
    assert_eq!(
        app.post_form("/admin/cajas/1/editar", &fields)
            .await
            .status(),
        303
    );
    let event = loop {
        match actix_web::rt::time::timeout(Duration::from_secs(15), floor.next())
            .await
            .expect("the event in time")
        {
            Some(Ok(Frame::Text(text))) => break serde_json::from_slice::<Value>(&text).unwrap(),
            Some(Ok(Frame::Ping(_))) => {}
            other => panic!("the event whole, not {other:?}"),
        }
    };
    assert_eq!(event["changed"]["caja"]["name"], "Caja 1 renombrada");
}

#[actix_web::test]
async fn snapshots_carry_the_last_sales_the_provider_in_use_and_the_last_closing() {
    let app = TestApp::spawn_as_admin().await;
    let cashier = venue(&app).await;
    let cookie = app.session_cookie("supervisora", Role::Supervisor).await;
    let session = app.count("SELECT id::bigint AS n FROM register_sessions") as i32;
    let card = |total: i64, provider: &str| {
        json!({"key": uuid::Uuid::new_v4().to_string(), "total": total, "session_id": session,
               "payments": [{"method": "DEBITO", "amount": total, "provider": provider, "authorization_code": "123456"}]})
    };
    for body in [sale(1_000), card(2_000, "GETNET"), card(3_000, "KLAP")] {
        let response = cashier
            .client
            .post(app.url("/api/cajas/1/sales"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
    }
    let register = caja_1_snapshot(&app, &cookie).await;
    let recent = register["recent_sales"].as_array().unwrap();
    assert_eq!(
        recent
            .iter()
            .map(|s| (
                s["total_charged"].as_i64().unwrap(),
                s["provider"].as_str(),
                s["used_backup"].as_bool().unwrap()
            ))
            .collect::<Vec<_>>(),
        vec![
            (3_000, Some("KLAP"), true),
            (2_000, Some("GETNET"), false),
            (1_000, None, false)
        ],
        "newest first"
    );
    assert_eq!(
        (
            register["provider"]["provider"].as_str(),
            register["provider"]["backup"].as_bool()
        ),
        (Some("GETNET"), Some(false)),
        "one customer paying on the backup does not move the caja to it"
    );

    // The same after a restart: loaded from the database.
    let (app, cookie, reloaded) = restarted(app).await;
    assert_eq!(reloaded["recent_sales"], register["recent_sales"]);
    assert_eq!(reloaded["provider"], register["provider"]);

    // Closed short by 500: the last closing says so and the jornada keeps the totals.
    supervisor_closes_caja_1(&app, "500").await;
    let closed = caja_1_snapshot(&app, &cookie).await;
    assert_eq!(closed["session"], Value::Null);
    assert_eq!(closed["recent_sales"], json!([]));
    assert_eq!(closed["last_closing"]["cash_difference"], -500);
    assert_eq!(closed["jornada"]["ticket_count"], 3);
    assert_eq!(
        closed["jornada"]["payment_totals"],
        json!({"DEBITO": 5_000, "EFECTIVO": 1_000})
    );
    let (app, _, reloaded) = restarted(app).await;
    assert_eq!(reloaded["last_closing"], closed["last_closing"]);
    assert_eq!(reloaded["jornada"], closed["jornada"]);

    // A sale queued in the closed session is refused even once a new one opens.
    let cashier = app.visitor("cajero1", Role::Cajero).await;
    assert_eq!(
        cashier
            .post(
                &app,
                "/caja/session/open",
                &[("register_id", "1"), ("initial_cash", "0")]
            )
            .await
            .status(),
        303
    );
    let response = cashier
        .client
        .post(app.url("/api/cajas/1/sales"))
        .json(&card(4_000, "GETNET"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 409);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "session_changed");
    assert_eq!(app.count("SELECT count(*) AS n FROM sales"), 3);
}

#[actix_web::test]
async fn a_screen_that_reconnects_or_asks_gets_a_fresh_snapshot_and_no_event_twice() {
    let app = TestApp::spawn_as_admin().await;
    let cashier = venue(&app).await;
    let cookie = app.session_cookie("supervisora", Role::Supervisor).await;
    let record = |total: i64| {
        let request = cashier
            .client
            .post(app.url("/api/cajas/1/sales"))
            .json(&sale(total));
        async move { assert_eq!(request.send().await.unwrap().status(), 201) }
    };
    let mut pos = connect(&app, "/ws/caja/1", Some(&cookie), Some(&app.address))
        .await
        .unwrap();
    let start = next_json(&mut pos).await.unwrap()["registers"][0]["seq"]
        .as_i64()
        .unwrap();
    record(1_000).await;
    assert_eq!(next_json(&mut pos).await.unwrap()["seq"], start + 1);

    // Away while two sales happen; back, the snapshot has them.
    drop(pos);
    record(2_000).await;
    record(3_000).await;
    let mut pos = connect(&app, "/ws/caja/1", Some(&cookie), Some(&app.address))
        .await
        .unwrap();
    let snapshot = next_json(&mut pos).await.unwrap();
    assert_eq!(
        (
            snapshot["reason"].as_str(),
            snapshot["registers"][0]["seq"].as_i64()
        ),
        (Some("connect"), Some(start + 3))
    );
    assert_eq!(snapshot["registers"][0]["session"]["ticket_count"], 3);

    // Asked for: a snapshot again, then the next event follows it.
    pos.send(Message::Text(json!({"type": "resync"}).to_string().into()))
        .await
        .unwrap();
    let resync = next_json(&mut pos).await.unwrap();
    assert_eq!(
        (
            resync["type"].as_str(),
            resync["reason"].as_str(),
            resync["registers"][0]["seq"].as_i64()
        ),
        (Some("snapshot"), Some("resync"), Some(start + 3))
    );
    record(4_000).await;
    let event = next_json(&mut pos).await.unwrap();
    assert_eq!(
        (event["type"].as_str(), event["seq"].as_i64()),
        (Some("event"), Some(start + 4))
    );
}

#[actix_web::test]
async fn sales_that_cannot_be_recorded_are_flagged_once_and_settled_by_a_supervisor() {
    let app = TestApp::spawn_as_admin().await;
    let _ = venue(&app).await;
    let cookie = app.session_cookie("cajero1", Role::Cajero).await;
    let mut pos = connect(&app, "/ws/caja/1", Some(&cookie), Some(&app.address))
        .await
        .unwrap();
    let start = next_json(&mut pos).await.unwrap()["registers"][0]["seq"]
        .as_i64()
        .unwrap();
    let session = app.count("SELECT id::bigint AS n FROM register_sessions") as i32;
    let mut offline = sale(7_000);
    offline["session_id"] = json!(session);
    let flag = |id: &str, body: Value| json!({"type": "flag", "id": id, "flag": body});
    let good = json!({"sale": offline, "reason": "La sesión se cerró.", "made_at": "2026-11-28T03:00:00Z"});

    // Bad input is named.
    for (body, field) in [
        (
            json!({"sale": offline, "reason": "  ", "made_at": "2026-11-28T03:00:00Z"}),
            "reason",
        ),
        (
            json!({"sale": offline, "reason": "x", "made_at": "2999-01-01T00:00:00Z"}),
            "made_at",
        ),
        (
            json!({"sale": {"key": "nope", "total": 1, "payments": []}, "reason": "x", "made_at": "2026-11-28T03:00:00Z"}),
            "sale.key",
        ),
    ] {
        pos.send(Message::Text(flag("f-0", body).to_string().into()))
            .await
            .unwrap();
        let answer = next_json(&mut pos).await.unwrap();
        assert_eq!(
            (answer["code"].as_str(), answer["field"].as_str()),
            (Some("invalid_flag"), Some(field))
        );
    }

    // Flagged: acknowledged after the commit, published, counted.
    let (ack, event) = ack_and_event(&mut pos, &flag("f-1", good.clone())).await;
    assert_eq!(
        (ack["id"].as_str(), ack["replayed"].as_bool()),
        (Some("f-1"), Some(false))
    );
    assert_eq!(
        (
            event["change"].as_str(),
            event["seq"].as_i64(),
            event["changed"]["flagged_pending"].as_i64()
        ),
        (Some("sale_flagged"), Some(start + 1), Some(1))
    );
    // Sent again (a reconnect): the same answer, nothing new.
    pos.send(Message::Text(flag("f-2", good).to_string().into()))
        .await
        .unwrap();
    let again = next_json(&mut pos).await.unwrap();
    assert_eq!(
        (again["type"].as_str(), again["replayed"].as_bool()),
        (Some("ack"), Some(true))
    );
    assert_eq!(app.count("SELECT count(*) AS n FROM flagged_sales"), 1);
    assert_eq!(
        app.count("SELECT count(*) AS n FROM audit_log WHERE action = 'venta.marcada'"),
        1
    );

    // A sale that was recorded after all is not missing.
    let recorded = sale(1_000);
    pos.send(Message::Text(
        json!({"type": "sale", "id": "s-1", "sale": recorded})
            .to_string()
            .into(),
    ))
    .await
    .unwrap();
    for _ in 0..2 {
        next_json(&mut pos).await.unwrap();
    }
    let body = json!({"sale": recorded, "reason": "x", "made_at": "2026-11-28T03:00:00Z"});
    pos.send(Message::Text(flag("f-3", body).to_string().into()))
        .await
        .unwrap();
    assert_eq!(
        next_json(&mut pos).await.unwrap()["code"],
        "already_recorded"
    );

    // Another cashier's session cannot be flagged from this caja's screen.
    let mut foreign = sale(2_000);
    foreign["session_id"] = json!(999);
    let body = json!({"sale": foreign, "reason": "x", "made_at": "2026-11-28T03:00:00Z"});
    pos.send(Message::Text(flag("f-4", body).to_string().into()))
        .await
        .unwrap();
    assert_eq!(
        next_json(&mut pos).await.unwrap()["code"],
        "not_your_session"
    );

    // The supervisors' page: only for them, a resolution required, then settled.
    let cashier = app.visitor("cajero1", Role::Cajero).await;
    assert_eq!(
        cashier.get(&app, "/admin/ventas-marcadas").await.status(),
        403
    );
    let supervisor = app.visitor("supervisora", Role::Supervisor).await;
    let empty = supervisor
        .post(
            &app,
            "/admin/ventas-marcadas/1/resolver",
            &[("resolution", " ")],
        )
        .await;
    assert_eq!(empty.status(), 422);
    assert!(
        empty
            .text()
            .await
            .unwrap()
            .contains("La resolución no puede estar en blanco.")
    );
    assert_eq!(
        supervisor
            .post(
                &app,
                "/admin/ventas-marcadas/99/resolver",
                &[("resolution", "x")]
            )
            .await
            .status(),
        404
    );
    assert_eq!(
        supervisor
            .post(
                &app,
                "/admin/ventas-marcadas/1/resolver",
                &[("resolution", "Devuelto al cliente")]
            )
            .await
            .status(),
        303
    );
    let settled = next_json(&mut pos).await.unwrap();
    assert_eq!(
        (
            settled["change"].as_str(),
            settled["changed"]["flagged_pending"].as_i64()
        ),
        (Some("flagged_resolved"), Some(0))
    );
    assert_eq!(
        supervisor
            .post(
                &app,
                "/admin/ventas-marcadas/1/resolver",
                &[("resolution", "otra vez")]
            )
            .await
            .status(),
        404,
        "settled once"
    );
    let page = supervisor
        .get(&app, "/admin/ventas-marcadas")
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("No hay ventas marcadas por revisar."));
}

/// The floor hears when a caja's POS connects, what it reports holding, and
/// when it leaves; a supervisor watching the caja is no POS.
#[actix_web::test]
async fn the_floor_sees_a_pos_come_report_and_go() {
    let app = TestApp::spawn_as_admin().await;
    let _cashier = venue(&app).await;
    let floor_cookie = app.session_cookie("supervisora", Role::Supervisor).await;
    let (mut floor, first) = open_screen(&app, "/ws/piso", &floor_cookie).await;
    assert_eq!(first["registers"][0]["pos"]["online"], false, "{first}");
    let pos_of = |m: &Value| (m["type"] == "pos").then(|| m["pos"].clone());

    let (watching, _) = open_screen(&app, "/ws/caja/1", &floor_cookie).await;
    let cookie = app.session_cookie("cajero1", Role::Cajero).await;
    let (mut pos, _) = open_screen(&app, "/ws/caja/1", &cookie).await;
    let mut seen = Vec::new();
    while seen.is_empty() {
        let message = next_json(&mut floor).await.expect("the floor stays open");
        seen.extend(pos_of(&message));
    }
    assert_eq!(
        seen[0]["online"], true,
        "the cashier's POS, not the supervisor's screen"
    );
    assert!(seen[0]["since"].is_string());

    pos.send(Message::Text(r#"{"type":"outbox","pending":3}"#.into()))
        .await
        .unwrap();
    pos.send(Message::Text(r#"{"type":"outbox","pending":-1}"#.into()))
        .await
        .unwrap();
    let refused = loop {
        let message = next_json(&mut pos).await.unwrap();
        if message["type"] == "error" {
            break message;
        }
    };
    assert_eq!(
        (refused["code"].as_str(), refused["field"].as_str()),
        (Some("invalid_message"), Some("pending")),
        "{refused}"
    );
    let reported = loop {
        let message = next_json(&mut floor).await.unwrap();
        if let Some(pos) = pos_of(&message) {
            break pos;
        }
    };
    assert_eq!(reported["pending"], 3);

    drop(watching);
    drop(pos);
    let gone = loop {
        let message = next_json(&mut floor).await.unwrap();
        if let Some(pos) = pos_of(&message) {
            break pos;
        }
    };
    assert_eq!(gone["online"], false, "{gone}");
    let snapshot = app.get("/api/cajas/1").await;
    assert_eq!(snapshot.status(), 200);
}

/// An account change made anywhere (here, by `cajahub user disable` in
/// another process) reaches the user's open screens at once, pushed by
/// PostgreSQL: no heartbeat is waited for.
#[actix_web::test]
async fn a_user_disabled_from_the_command_line_loses_their_screen_at_once() {
    let app = TestApp::spawn_with(crate::helpers::TestDb::migrated(), |settings| {
        // The heartbeat would take minutes: only the push can close it.
        settings.screen_timeout = Duration::from_secs(600);
    })
    .await;
    app.log_in_as("admin", Role::Admin).await;
    let cookie = app.session_cookie("supervisora", Role::Supervisor).await;
    let mut floor = connect(&app, "/ws/piso", Some(&cookie), Some(&app.address))
        .await
        .expect("upgrade");
    assert_eq!(next_json(&mut floor).await.unwrap()["type"], "snapshot");
    let disabled =
        crate::cli::cajahub(&["user", "disable", "--name", "supervisora"], &app.db.url());
    assert!(
        disabled.status.success(),
        "{}",
        String::from_utf8_lossy(&disabled.stderr)
    );
    // The socket ends (next_json waits 15 s at most, far under the heartbeat).
    while next_json(&mut floor).await.is_some() {}
    // Another user's screen is left alone.
    let other = app.session_cookie("jefe", Role::Supervisor).await;
    let mut still = connect(&app, "/ws/piso", Some(&other), Some(&app.address))
        .await
        .expect("upgrade");
    assert_eq!(next_json(&mut still).await.unwrap()["type"], "snapshot");
}

/// Idle screens ask the database nothing: many heartbeats of 20 connected
/// floor screens commit (almost) no transaction in the hub's database.
#[actix_web::test]
async fn idle_screens_cause_no_database_queries() {
    let app = TestApp::spawn_with(crate::helpers::TestDb::migrated(), |settings| {
        // A heartbeat every 100 ms: 20 screens × 20 heartbeats in the window.
        settings.screen_timeout = Duration::from_millis(400);
        // Twenty screens of one login.
        settings.screens_per_login = 20;
    })
    .await;
    app.log_in_as("admin", Role::Admin).await;
    caja_in_open_jornada(&app).await;
    let cookie = app.session_cookie("supervisora", Role::Supervisor).await;
    let mut screens = Vec::new();
    for _ in 0..20 {
        let mut socket = connect(&app, "/ws/piso", Some(&cookie), Some(&app.address))
            .await
            .expect("upgrade");
        assert_eq!(next_json(&mut socket).await.unwrap()["type"], "snapshot");
        screens.push(socket);
    }
    let transactions = |app: &TestApp| {
        app.count(&format!(
            "SELECT (xact_commit + xact_rollback)::bigint AS n FROM pg_stat_database WHERE datname = '{}'",
            app.db.name
        ))
    };
    // Each count is a new connection, so a fresh statistics snapshot. A
    // busy backend reports its transactions about once a second: 2 s of
    // polling heartbeats would show hundreds.
    let before = transactions(&app);
    // Two seconds of heartbeats, answered (pongs are read as they come).
    let window = std::time::Instant::now();
    while window.elapsed() < Duration::from_secs(2) {
        for socket in &mut screens {
            if let Ok(Some(Ok(Frame::Ping(bytes)))) =
                actix_web::rt::time::timeout(Duration::from_millis(5), socket.next()).await
            {
                let _ = socket.send(Message::Pong(bytes)).await;
            }
        }
    }
    let after = transactions(&app);
    // The two counting queries themselves, and a little slack for the stats' own lag.
    assert!(
        after - before <= 10,
        "{} transactions in 2 s with 20 idle screens",
        after - before
    );
    drop(screens);
}

/// Floor screens that greet the floor at one state get one snapshot, made
/// once and shared; a screen that greets after a change gets the new state.
#[actix_web::test]
async fn floor_screens_at_one_state_share_a_snapshot_and_a_change_makes_a_new_one() {
    let app = TestApp::spawn_as_admin().await;
    let cashier = venue(&app).await;
    let cookie = app.session_cookie("supervisora", Role::Supervisor).await;
    let (_first, greeted) = open_screen(&app, "/ws/piso", &cookie).await;
    let (_second, same) = open_screen(&app, "/ws/piso", &cookie).await;
    assert_eq!(greeted["type"], "snapshot");
    assert_eq!(greeted, same, "one state, one snapshot");

    let (status, ack) = crate::registers::sell(&app, &cashier, 1, &sale(1_500)).await;
    assert_eq!(status, 201, "{ack}");
    let (_third, after) = open_screen(&app, "/ws/piso", &cookie).await;
    let seq = |snapshot: &Value| snapshot["registers"][0]["seq"].clone();
    assert_eq!(seq(&after), ack["seq"], "the new state: {after}");
    assert_eq!(after["registers"][0]["session"]["ticket_count"], 1);
    assert_ne!(seq(&after), seq(&greeted));
}

/// The close frame a refused screen gets first: its code and reason.
async fn closed_with(socket: &mut Socket) -> Option<(u16, String)> {
    loop {
        let frame = actix_web::rt::time::timeout(Duration::from_secs(15), socket.next())
            .await
            .expect("a frame in time");
        match frame {
            Some(Ok(Frame::Close(reason))) => {
                return reason.map(|r| (u16::from(r.code), r.description.unwrap_or_default()));
            }
            Some(Ok(Frame::Ping(_) | Frame::Pong(_))) => {}
            Some(Ok(Frame::Text(_) | Frame::Continuation(_))) => return None,
            other => panic!("unexpected {other:?}"),
        }
    }
}

/// One login may hold a few screens and one person a few more over all
/// their logins; one more is closed at once with 4429 and a reason, and
/// a place freed is a place taken again.
#[actix_web::test]
async fn one_login_and_one_person_hold_a_bounded_number_of_screens() {
    let app = TestApp::spawn_with(crate::helpers::TestDb::migrated(), |settings| {
        settings.screens_per_login = 3;
        settings.screens_per_user = 5;
    })
    .await;
    app.log_in_as("admin", Role::Admin).await;
    venue(&app).await;
    let first = app.session_cookie("supervisora", Role::Supervisor).await;
    let second = app.session_cookie("supervisora", Role::Supervisor).await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(open_screen(&app, "/ws/piso", &first).await.0);
    }
    let mut refused = connect(&app, "/ws/piso", Some(&first), Some(&app.address))
        .await
        .expect("upgraded, then closed");
    let (code, reason) = closed_with(&mut refused).await.expect("a close frame");
    assert_eq!(code, 4429);
    assert!(reason.contains("demasiadas pantallas"), "{reason}");
    // The same person on another device: two more, then the person's cap.
    for _ in 0..2 {
        held.push(open_screen(&app, "/ws/piso", &second).await.0);
    }
    let mut refused = connect(&app, "/ws/piso", Some(&second), Some(&app.address))
        .await
        .expect("upgraded, then closed");
    assert_eq!(closed_with(&mut refused).await.map(|c| c.0), Some(4429));
    // Somebody else is not affected.
    let other = app.session_cookie("otra", Role::Supervisor).await;
    let (_other, first_message) = open_screen(&app, "/ws/piso", &other).await;
    assert_eq!(first_message["type"], "snapshot");
    // Closing one frees its place, once the hub has seen it end.
    let screens = &app.state.screens;
    assert_eq!(screens.floors(), 6);
    let mut gone = held.remove(0);
    gone.send(Message::Close(None)).await.unwrap();
    while let Some(Ok(_)) = gone.next().await {}
    let freed = actix_web::rt::time::timeout(Duration::from_secs(10), async {
        while screens.floors() != 5 {
            actix_web::rt::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert!(freed.is_ok(), "the closed screen is let go");
    let (_again, message) = open_screen(&app, "/ws/piso", &first).await;
    assert_eq!(message["type"], "snapshot", "a freed place is taken again");
}
