//! The write path under faults injected for real: a proxy that cuts the
//! hub's database connection right before or right after a COMMIT, a row
//! locked by another transaction, a COMMIT whose answer is held back, an
//! actor stopped by force. After each, the database, the actors' memory
//! and the screens must agree: `seq` unique and gapless, every session's
//! counters equal to the sums of its rows, every committed change seen once.

use std::sync::Arc;
use std::time::Duration;

use cajahub::auth::user::Role;
use cajahub::cajas::CajaId;
use cajahub::clock::{Clock, ManualClock};
use diesel::connection::SimpleConnection;
use futures_util::future::join_all;
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestDb, Visitor, location};
use crate::payments::caja_with_session;
use crate::proxy::{Fault, PgProxy};
use crate::registers::{
    assert_counters_match_rows, cash_sale, key, open_session, post_json, refuse_payments_of_666,
    sell, venue,
};
use crate::screens::{Socket, ack_and_event, connect, next_json, open_screen};

/// A hub whose database connections pass through a fault proxy, on a
/// clock the test moves (so no probe or timeout fires by itself).
pub async fn hub_behind_proxy(
    configure: impl FnOnce(&mut cajahub::config::Settings),
) -> (TestApp, PgProxy, Arc<ManualClock>) {
    let proxy = PgProxy::start();
    let db = TestDb::migrated();
    let url = proxy.url(&db.name);
    let (clock, manual) = Clock::manual();
    let app = TestApp::spawn_through(db, url, |settings| {
        settings.clock = clock;
        configure(settings);
    })
    .await;
    app.log_in_as("admin", Role::Admin).await;
    (app, proxy, manual)
}

/// A floor dashboard, past its first snapshot; returns the caja's seq in it.
pub async fn floor(app: &TestApp, caja: i32) -> (Socket, i64) {
    let cookie = app.session_cookie("supervisora", Role::Supervisor).await;
    let mut socket = connect(app, "/ws/piso", Some(&cookie), Some(&app.address))
        .await
        .expect("upgrade");
    let snapshot = next_json(&mut socket).await.unwrap();
    assert_eq!(snapshot["type"], "snapshot");
    let seq = registers_of(&snapshot)
        .find(|r| r["caja"]["id"] == caja)
        .map_or(0, |r| r["seq"].as_i64().unwrap());
    (socket, seq)
}

fn registers_of(snapshot: &Value) -> impl Iterator<Item = &Value> {
    snapshot["registers"].as_array().into_iter().flatten()
}

/// Reads the floor until caja `caja`'s event `upto` arrived; returns the
/// seqs of that caja's events in the order they came. A resync snapshot
/// counts as having everything it holds.
pub async fn seqs_until(socket: &mut Socket, caja: i32, upto: i64) -> Vec<i64> {
    let mut seen = Vec::new();
    loop {
        let message = next_json(socket).await.expect("the floor stays open");
        match message["type"].as_str() {
            Some("event") if message["register_id"] == caja => {
                let seq = message["seq"].as_i64().unwrap();
                seen.push(seq);
                if seq >= upto {
                    return seen;
                }
            }
            Some("snapshot") => {
                let seq = registers_of(&message)
                    .find(|r| r["caja"]["id"] == caja)
                    .and_then(|r| r["seq"].as_i64())
                    .unwrap();
                seen.push(-seq); // marks a resync to the assertion
                if seq >= upto {
                    return seen;
                }
            }
            _ => {}
        }
    }
}

/// The caja's seq, as the database and the event log hold it: one event
/// per seq from 1, none missing, none twice.
pub fn assert_log_is_whole(app: &TestApp, caja: i32) -> i64 {
    let seq = app.count(&format!(
        "SELECT event_seq AS n FROM register_seqs WHERE register_id = {caja}"
    ));
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM register_events WHERE register_id = {caja}"
        )),
        seq,
        "one event per seq"
    );
    assert_eq!(
        app.count(&format!(
            "SELECT COALESCE(max(seq), 0) AS n FROM register_events WHERE register_id = {caja}"
        )),
        seq
    );
    assert_eq!(
        app.count(&format!(
            "SELECT count(DISTINCT seq) AS n FROM sales WHERE register_id = {caja}"
        )),
        app.count(&format!(
            "SELECT count(*) AS n FROM sales WHERE register_id = {caja}"
        )),
        "no two sales share a seq"
    );
    seq
}

/// The caja's snapshot (what its actor holds) equals the database.
pub async fn assert_memory_is_the_database(app: &TestApp, who: &Visitor, caja: i32) {
    let snapshot: Value = who
        .get(app, &format!("/api/cajas/{caja}"))
        .await
        .json()
        .await
        .unwrap();
    let register = &snapshot["register"];
    assert_eq!(
        register["seq"].as_i64(),
        Some(app.count(&format!(
            "SELECT event_seq AS n FROM register_seqs WHERE register_id = {caja}"
        )))
    );
    let open = app.count(&format!(
        "SELECT COALESCE(max(id), 0)::bigint AS n FROM register_sessions WHERE register_id = {caja} AND status = 'OPEN'"
    ));
    if open == 0 {
        assert!(register["session"].is_null(), "{register}");
        return;
    }
    let session = &register["session"];
    assert_eq!(session["id"].as_i64(), Some(open));
    for (field, column) in [
        ("ticket_count", "ticket_count::bigint"),
        ("cash_sales", "cash_sales"),
        ("cash_in", "cash_in"),
        ("cash_out", "cash_out"),
    ] {
        assert_eq!(
            session[field].as_i64(),
            Some(app.count(&format!(
                "SELECT {column} AS n FROM register_sessions WHERE id = {open}"
            ))),
            "{field}"
        );
    }
    assert_counters_match_rows(app, open);
}

#[derive(Debug, Clone, Copy)]
enum Faulted {
    Sale,
    Open,
    Close,
    Void,
    Movement,
}

/// The cut `fault` on `command`: the hub notices the lost connection and
/// runs the command once more on a fresh one, where its key and its guard
/// tell whether the first try was kept, so the client is answered right
/// (done now, or found done) without retrying; its own retry with the same
/// key gets the same answer; three more sales go on, and everything
/// agrees, also after a restart.
async fn a_cut_connection(fault: Fault, command: Faulted) {
    let (app, proxy, _clock) = hub_behind_proxy(|_| {}).await;
    let (caja, cashier) = venue(&app).await;
    let supervisor = app.visitor("supervisora", Role::Supervisor).await;
    let (mut screen, mut expected_from) = floor(&app, caja).await;
    if !matches!(command, Faulted::Open) {
        assert_eq!(
            open_session(&app, &cashier, caja, "10000").await.status(),
            303
        );
    }
    let mut last = None;
    if !matches!(command, Faulted::Open) {
        for total in [1_000, 2_000, 3_000] {
            let (status, ack) = sell(&app, &cashier, caja, &cash_sale(total)).await;
            assert_eq!(status, 201, "{ack}");
            last = Some(ack);
        }
    }
    let session_of = |app: &TestApp| {
        app.count(&format!(
            "SELECT COALESCE(max(id), 0)::bigint AS n FROM register_sessions WHERE register_id = {caja}"
        ))
    };

    let trigger = proxy.arm(fault, "register_events");
    match command {
        Faulted::Sale => {
            let sale = cash_sale(5_000);
            // The hub tries once more on a fresh connection: the sale's
            // key tells whether the first try was kept.
            let (status, ack) = sell(&app, &cashier, caja, &sale).await;
            trigger.fired().await;
            let kept = fault == Fault::CutAfterCommit;
            assert_eq!(
                (status, ack["replayed"].as_bool()),
                if kept {
                    (200, Some(true))
                } else {
                    (201, Some(false))
                },
                "{ack}"
            );
            let seq = last.as_ref().unwrap()["seq"].as_i64().unwrap() + 1;
            assert_eq!(ack["seq"], seq);
            // The POS's own retry gets the same answer.
            let (status, again) = sell(&app, &cashier, caja, &sale).await;
            assert_eq!(
                (status, &again["sale_id"]),
                (200, &ack["sale_id"]),
                "{again}"
            );
            assert_eq!(
                app.count(&format!(
                    "SELECT count(*) AS n FROM sales WHERE idempotency_key = '{}'",
                    sale["key"].as_str().unwrap()
                )),
                1,
                "the sale is recorded once"
            );
        }
        Faulted::Open => {
            let form = [
                ("register_id", caja.to_string()),
                ("initial_cash", "10000".to_owned()),
                ("key", key()),
            ];
            let fields: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let response = cashier.post(&app, "/caja/session/open", &fields).await;
            trigger.fired().await;
            assert_eq!(response.status(), 303, "opened, or found opened");
            let response = cashier.post(&app, "/caja/session/open", &fields).await;
            assert_eq!(response.status(), 303, "the retry finds it opened");
            assert_eq!(location(&response), format!("/caja/pos?caja={caja}"));
            assert_eq!(
                app.count("SELECT count(*) AS n FROM register_sessions"),
                1,
                "one session"
            );
        }
        Faulted::Close => {
            let session = session_of(&app);
            let form = [
                ("register_id", caja.to_string()),
                ("session_id", session.to_string()),
                ("key", key()),
                ("cash_count", "16000".to_owned()),
            ];
            let fields: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let response = cashier.post(&app, "/caja/session/close", &fields).await;
            trigger.fired().await;
            assert_eq!(response.status(), 303, "closed, or found closed");
            let response = cashier.post(&app, "/caja/session/close", &fields).await;
            assert_eq!(response.status(), 303, "the retry finds it closed");
            assert_eq!(location(&response), format!("/caja/session/{session}"));
            assert_eq!(
                app.count(&format!(
                    "SELECT cash_difference AS n FROM register_sessions WHERE id = {session}"
                )),
                0,
                "closed once, with its count"
            );
            assert_eq!(
                app.count("SELECT count(*) AS n FROM audit_log WHERE action = 'sesion.cerrada'"),
                1
            );
            assert_eq!(open_session(&app, &cashier, caja, "0").await.status(), 303);
        }
        Faulted::Void => {
            let sale_id = last.as_ref().unwrap()["sale_id"].as_i64().unwrap();
            let path = format!("/api/cajas/{caja}/sales/{sale_id}/void");
            let body = json!({"key": key(), "reason": "cobrada dos veces"});
            let (status, answer) = post_json(&app, &supervisor, &path, &body).await;
            trigger.fired().await;
            assert_eq!(status, 200, "{answer}");
            let (status, again) = post_json(&app, &supervisor, &path, &body).await;
            assert_eq!((status, again), (200, answer));
            assert_eq!(
                app.count("SELECT count(*) AS n FROM sales WHERE voided_at IS NOT NULL"),
                1
            );
            assert_eq!(
                app.count("SELECT count(*) AS n FROM audit_log WHERE action = 'venta.anulada'"),
                1
            );
        }
        Faulted::Movement => {
            let path = format!("/api/cajas/{caja}/cash-movements");
            let body =
                json!({"key": key(), "kind": "RETIRO", "amount": 4_000, "reason": "a caja fuerte"});
            let (status, answer) = post_json(&app, &cashier, &path, &body).await;
            trigger.fired().await;
            assert_eq!(
                (status, answer["expected_cash"].as_i64()),
                (201, Some(12_000)),
                "{answer}"
            );
            let (status, again) = post_json(&app, &cashier, &path, &body).await;
            assert_eq!(
                again["movement_id"], answer["movement_id"],
                "{status} {again}"
            );
            assert_eq!(
                app.count("SELECT count(*) AS n FROM cash_movements"),
                1,
                "dropped once"
            );
        }
    }
    for total in [4_000, 5_500, 6_990] {
        let (status, ack) = sell(&app, &cashier, caja, &cash_sale(total)).await;
        assert_eq!(status, 201, "{ack}");
    }

    let seq = assert_log_is_whole(&app, caja);
    for session in 1..=session_of(&app) {
        // A serial number taken by a rolled-back insert has no row.
        if app.count(&format!(
            "SELECT count(*) AS n FROM register_sessions WHERE id = {session}"
        )) == 1
        {
            assert_counters_match_rows(&app, session);
        }
    }
    assert_memory_is_the_database(&app, &cashier, caja).await;
    let seen = seqs_until(&mut screen, caja, seq).await;
    let wanted: Vec<i64> = (expected_from + 1..=seq).collect();
    assert_eq!(
        seen, wanted,
        "the floor saw every committed change once, in order"
    );
    expected_from = seq;

    let app = app.restart().await;
    assert_memory_is_the_database(&app, &cashier, caja).await;
    assert_eq!(assert_log_is_whole(&app, caja), expected_from);
}

macro_rules! cut_tests {
    ($($name:ident: $fault:expr, $command:expr;)*) => {$(
        #[actix_web::test]
        async fn $name() {
            a_cut_connection($fault, $command).await;
        }
    )*};
}

cut_tests! {
    a_sale_whose_commit_answer_is_lost_is_replayed_once: Fault::CutAfterCommit, Faulted::Sale;
    a_sale_cut_before_its_commit_is_made_on_retry: Fault::CutBeforeCommit, Faulted::Sale;
    a_session_open_whose_commit_answer_is_lost_opens_once: Fault::CutAfterCommit, Faulted::Open;
    a_session_open_cut_before_its_commit_opens_on_retry: Fault::CutBeforeCommit, Faulted::Open;
    a_close_whose_commit_answer_is_lost_closes_once: Fault::CutAfterCommit, Faulted::Close;
    a_close_cut_before_its_commit_closes_on_retry: Fault::CutBeforeCommit, Faulted::Close;
    a_void_whose_commit_answer_is_lost_voids_once: Fault::CutAfterCommit, Faulted::Void;
    a_void_cut_before_its_commit_voids_on_retry: Fault::CutBeforeCommit, Faulted::Void;
    a_cash_drop_whose_commit_answer_is_lost_is_recorded_once: Fault::CutAfterCommit, Faulted::Movement;
    a_cash_drop_cut_before_its_commit_is_recorded_on_retry: Fault::CutBeforeCommit, Faulted::Movement;
}

/// A lost COMMIT answer with the database still out of reach for the hub's
/// own second try: the client is told the database failed; with no retry
/// and no other command, the register still finds the sale (it probes the
/// database on its clock) and the screens hear of it.
#[actix_web::test]
async fn a_lost_commit_reaches_the_screens_without_a_retry() {
    let (app, proxy, clock) = hub_behind_proxy(|_| {}).await;
    let (caja, cashier) = venue(&app).await;
    assert_eq!(open_session(&app, &cashier, caja, "0").await.status(), 303);
    let (mut screen, from) = floor(&app, caja).await;
    let trigger = proxy.arm(Fault::CutAfterCommit, "register_events");
    // The second try starts by reloading the caja: its connection is cut too.
    let second = proxy.arm(Fault::CutBeforeCommit, "pos_registers");
    let (status, body) = sell(&app, &cashier, caja, &cash_sale(2_500)).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (503, Some("database_unavailable")),
        "{body}"
    );
    trigger.fired().await;
    second.fired().await;
    clock.advance(Duration::from_secs(1));
    let seq = assert_log_is_whole(&app, caja);
    assert_eq!(seqs_until(&mut screen, caja, seq).await, vec![from + 1]);
    assert_memory_is_the_database(&app, &cashier, caja).await;
}

/// A caja whose open session another transaction holds (a psql session
/// left open mid-change): its sale fails within the lock timeout with a
/// clear error, other cajas sell, a new floor gets its snapshot at once
/// with the caja marked, /readyz names it; all recover once the lock goes.
#[actix_web::test]
async fn a_locked_caja_answers_in_time_and_stops_nothing_else() {
    let (app, _proxy, clock) = hub_behind_proxy(|settings| {
        settings.lock_timeout = Duration::from_millis(200);
        settings.statement_timeout = Duration::from_secs(2);
    })
    .await;
    let (caja, cashier) = venue(&app).await;
    assert_eq!(open_session(&app, &cashier, caja, "0").await.status(), 303);
    let (second, cashier2) = caja_with_session(&app, "BARRA-2", "cajero2", &[]).await;
    let supervisor = app.visitor("supervisora", Role::Supervisor).await;

    let mut lock = app.conn();
    lock.batch_execute(&format!(
        "BEGIN; SELECT 1 FROM register_sessions WHERE register_id = {caja} AND status = 'OPEN' FOR UPDATE;"
    ))
    .unwrap();

    let started = std::time::Instant::now();
    let sale = cash_sale(1_000);
    let (status, body) = sell(&app, &cashier, caja, &sale).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (503, Some("database_timeout")),
        "{body}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "answered within the lock timeout"
    );
    let (status, _) = sell(&app, &cashier2, second, &cash_sale(2_000)).await;
    assert_eq!(status, 201, "the other caja sells");

    let snapshot: Value = supervisor
        .get(&app, &format!("/api/cajas/{caja}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        snapshot["register"]["health"]["status"], "stuck",
        "{snapshot}"
    );
    let cookie = app.session_cookie("supervisora", Role::Supervisor).await;
    let mut fresh = connect(&app, "/ws/piso", Some(&cookie), Some(&app.address))
        .await
        .unwrap();
    let first = next_json(&mut fresh).await.unwrap();
    let tile = registers_of(&first)
        .find(|r| r["caja"]["id"] == caja)
        .unwrap();
    assert_eq!(tile["health"]["status"], "stuck");
    assert!(
        tile["health"]["reason"]
            .as_str()
            .unwrap()
            .contains("a tiempo"),
        "{tile}"
    );
    let ready: Value = app.get("/readyz").await.json().await.unwrap();
    assert_eq!(
        ready["status"], "ready",
        "one stuck caja does not take the hub out"
    );
    assert_eq!(ready["stuck_cajas"][0]["id"], caja, "{ready}");

    // The probe runs while the lock is held: a sale still could not be
    // written, so the caja stays marked from its first failure (it does
    // not blink healthy between the POS's tries).
    let since = snapshot["register"]["health"]["since"].clone();
    clock.advance(Duration::from_secs(1));
    let (status, body) = sell(&app, &cashier, caja, &sale).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (503, Some("database_timeout")),
        "{body}"
    );
    let health = &supervisor
        .get(&app, &format!("/api/cajas/{caja}"))
        .await
        .json::<Value>()
        .await
        .unwrap()["register"]["health"];
    assert_eq!(
        (&health["status"], &health["since"]),
        (&Value::from("stuck"), &since),
        "{health}"
    );

    // The lock goes: the caja's probe (on the clock) finds it free.
    lock.batch_execute("ROLLBACK").unwrap();
    clock.advance(Duration::from_secs(1));
    loop {
        let message = next_json(&mut fresh).await.unwrap();
        if message["type"] == "health" && message["register_id"] == caja {
            assert_eq!(message["health"]["status"], "ok");
            break;
        }
    }
    let (status, ack) = sell(&app, &cashier, caja, &sale).await;
    assert_eq!(
        (status, ack["replayed"].as_bool()),
        (201, Some(false)),
        "{ack}"
    );
    let ready: Value = app.get("/readyz").await.json().await.unwrap();
    assert!(
        ready
            .get("stuck_cajas")
            .is_none_or(|s| s.as_array().unwrap().is_empty()),
        "{ready}"
    );
    assert_log_is_whole(&app, caja);
    assert_memory_is_the_database(&app, &cashier, caja).await;
}

/// A COMMIT whose answer never comes: the request is answered
/// `register_busy` once the register timeout passes on the clock, the
/// watchdog marks the caja, and when the answer finally arrives the sale
/// is in memory and on the screens.
#[actix_web::test]
async fn a_write_that_hangs_is_bounded_and_marked() {
    let (app, proxy, clock) = hub_behind_proxy(|settings| {
        settings.register_timeout = Duration::from_secs(8);
    })
    .await;
    let (caja, cashier) = venue(&app).await;
    assert_eq!(open_session(&app, &cashier, caja, "0").await.status(), 303);
    let (mut screen, from) = floor(&app, caja).await;
    let trigger = proxy.arm(Fault::HoldCommitAnswer, "register_events");
    let sale = cash_sale(3_000);
    let request = sell(&app, &cashier, caja, &sale);
    let clock_moves = async {
        trigger.fired().await;
        clock.advance(Duration::from_secs(9));
    };
    let ((status, body), ()) = tokio::join!(request, clock_moves);
    assert_eq!(
        (status, body["code"].as_str()),
        (503, Some("register_busy")),
        "{body}"
    );
    loop {
        let message = next_json(&mut screen).await.unwrap();
        if message["type"] == "health" && message["register_id"] == caja {
            assert_eq!(message["health"]["status"], "stuck", "{message}");
            break;
        }
    }
    let ready: Value = app.get("/readyz").await.json().await.unwrap();
    assert_eq!(ready["stuck_cajas"][0]["id"], caja, "{ready}");

    trigger.release();
    let seq = from + 1;
    let mut saw_event = false;
    while !saw_event {
        let message = next_json(&mut screen).await.unwrap();
        saw_event = message["type"] == "event" && message["seq"] == seq;
    }
    let (status, ack) = sell(&app, &cashier, caja, &sale).await;
    assert_eq!(
        (status, ack["replayed"].as_bool(), ack["seq"].as_i64()),
        (200, Some(true), Some(seq))
    );
    assert_memory_is_the_database(&app, &cashier, caja).await;
}

/// Each caja writes on a thread of its own and waits for the database
/// there: while one caja's commit has no answer, another caja sells, and
/// the first is answered once its commit is.
#[actix_web::test]
async fn a_caja_waiting_for_the_database_holds_no_other_caja() {
    another_caja_sells_while_a_commit_is_held(|_| {}).await;
}

/// Holds a caja's COMMIT answer on a hub set by `configure`, sells on a
/// second caja meanwhile (it must answer before the hold is let go), then
/// checks both cajas' logs and memory.
pub async fn another_caja_sells_while_a_commit_is_held(
    configure: impl FnOnce(&mut cajahub::config::Settings),
) {
    let (app, proxy, _clock) = hub_behind_proxy(configure).await;
    let (caja, cashier) = venue(&app).await;
    assert_eq!(open_session(&app, &cashier, caja, "0").await.status(), 303);
    let (second, cashier2) = caja_with_session(&app, "BARRA-2", "cajero2", &[]).await;
    let held = proxy.arm(Fault::HoldCommitAnswer, "register_events");
    let sale = cash_sale(1_000);
    let waiting = sell(&app, &cashier, caja, &sale);
    let meanwhile = async {
        held.fired().await;
        // A bound for a failure to show as one, not a wait for something.
        let other = tokio::time::timeout(
            Duration::from_secs(10),
            sell(&app, &cashier2, second, &cash_sale(2_000)),
        )
        .await
        .expect("the other caja answers while the first waits");
        held.release();
        other
    };
    let ((status, ack), (other_status, other_ack)) = tokio::join!(waiting, meanwhile);
    assert_eq!(other_status, 201, "the other caja sells: {other_ack}");
    assert_eq!(status, 201, "{ack}");
    for (caja, cashier) in [(caja, &cashier), (second, &cashier2)] {
        assert_log_is_whole(&app, caja);
        assert_memory_is_the_database(&app, cashier, caja).await;
    }
}

/// A screen that reconnects with the last seq it saw gets what it missed
/// from the event log, in order and once; one that cannot be told it all
/// gets a snapshot.
#[actix_web::test]
async fn a_reconnecting_screen_gets_what_it_missed() {
    let app = TestApp::spawn_as_admin().await;
    let (caja, cashier) = venue(&app).await;
    assert_eq!(open_session(&app, &cashier, caja, "0").await.status(), 303);
    let cookie = app.session_cookie("supervisora", Role::Supervisor).await;
    let seq_now = || {
        app.count(&format!(
            "SELECT event_seq AS n FROM register_seqs WHERE register_id = {caja}"
        ))
    };
    for path in [
        format!("/ws/caja/{caja}?last_seq="),
        format!("/ws/piso?last_seq={caja}:"),
    ] {
        let at = seq_now();
        for total in [100, 200, 300] {
            assert_eq!(sell(&app, &cashier, caja, &cash_sale(total)).await.0, 201);
        }
        let path = format!("{path}{at}");
        let mut socket = connect(&app, &path, Some(&cookie), Some(&app.address))
            .await
            .unwrap();
        let mut seqs = Vec::new();
        loop {
            let message = next_json(&mut socket).await.unwrap();
            match message["type"].as_str() {
                Some("event") => seqs.push(message["seq"].as_i64().unwrap()),
                Some("resumed") => {
                    assert_eq!(message["replayed"], 3);
                    break;
                }
                other => panic!("{path}: unexpected {other:?}: {message}"),
            }
        }
        assert_eq!(seqs, vec![at + 1, at + 2, at + 3], "{path}");
        // And it carries on live.
        let (_, ack) = sell(&app, &cashier, caja, &cash_sale(400)).await;
        let next = loop {
            let message = next_json(&mut socket).await.unwrap();
            if message["type"] == "event" {
                break message;
            }
        };
        assert_eq!(next["seq"], ack["seq"]);
    }
    // Ahead of the hub, following other cajas, or not a seq: a snapshot.
    let seq = seq_now();
    for path in [
        format!("/ws/caja/{caja}?last_seq={}", seq + 5),
        format!("/ws/piso?last_seq={caja}:{seq},999:1"),
        "/ws/piso?last_seq=garbage".to_owned(),
        format!("/ws/caja/{caja}?last_seq=-1"),
    ] {
        let mut socket = connect(&app, &path, Some(&cookie), Some(&app.address))
            .await
            .unwrap();
        let message = next_json(&mut socket).await.unwrap();
        assert_eq!(message["type"], "snapshot", "{path}: {message}");
    }
}

/// The log replays at most 500 events, and only when it holds them all.
#[actix_web::test]
async fn the_log_replays_only_what_it_wholly_holds_and_not_too_much() {
    use cajahub::registers::event_log::{self, MAX_REPLAY};
    let app = TestApp::spawn_as_admin().await;
    let (caja, _) = venue(&app).await;
    let mut conn = app.conn();
    conn.batch_execute(&format!(
        "INSERT INTO register_events (register_id, seq, change, payload)
         SELECT {caja}, g, 'sale_recorded', jsonb_build_object('seq', g) FROM generate_series(2, 700) g;
         DELETE FROM register_events WHERE register_id = {caja} AND seq = 650;"
    ))
    .unwrap();
    let id = cajahub::cajas::CajaId(caja);
    let replay = |conn: &mut diesel::PgConnection, after, upto| {
        event_log::between(conn, id, after, upto, false).unwrap()
    };
    let events = replay(&mut conn, 100, 100 + MAX_REPLAY).expect("500 are replayed");
    assert_eq!(events.len() as i64, MAX_REPLAY);
    assert!(
        events
            .iter()
            .zip(101..)
            .all(|(event, seq)| event.seq == seq),
        "in order"
    );
    assert!(
        replay(&mut conn, 99, 100 + MAX_REPLAY).is_none(),
        "501 are too many"
    );
    assert!(
        replay(&mut conn, 640, 660).is_none(),
        "a hole: a snapshot instead"
    );
    assert_eq!(replay(&mut conn, 5, 5).map(|e| e.len()), Some(0));
    assert!(
        replay(&mut conn, 9, 5).is_none(),
        "behind the screen: a snapshot"
    );
}

/// Replayed to a blind-count cashier, an event hides the cash when the
/// caja counted blind after it: a change of the caja says so itself, and
/// what came before it is hidden too (the whole caja it carries replaces
/// it on the screen).
#[actix_web::test]
async fn a_replay_hides_the_cash_where_the_caja_counted_blind() {
    use cajahub::registers::event_log;
    let app = TestApp::spawn_as_admin().await;
    let (caja, _) = venue(&app).await;
    let mut conn = app.conn();
    let session = r#"'session', jsonb_build_object('id', 1, 'cash_sales', 500)"#;
    conn.batch_execute(&format!(
        "INSERT INTO register_events (register_id, seq, change, payload) VALUES
         ({caja}, 2, 'sale_recorded', jsonb_build_object({session}, 'seq', 2)),
         ({caja}, 3, 'config_changed', jsonb_build_object('caja', jsonb_build_object('blind_count', false), {session}, 'seq', 3)),
         ({caja}, 4, 'sale_recorded', jsonb_build_object({session}, 'seq', 4)),
         ({caja}, 5, 'config_changed', jsonb_build_object('caja', jsonb_build_object('blind_count', true), {session}, 'seq', 5)),
         ({caja}, 6, 'sale_recorded', jsonb_build_object({session}, 'seq', 6));"
    ))
    .unwrap();
    let id = cajahub::cajas::CajaId(caja);
    let hidden = |conn: &mut diesel::PgConnection, upto, blind_now| {
        event_log::between(conn, id, 1, upto, blind_now)
            .unwrap()
            .expect("the log holds them")
            .iter()
            .map(|event| event.blind_json.is_some())
            .collect::<Vec<_>>()
    };
    assert_eq!(hidden(&mut conn, 4, false), [true, false, false]);
    assert_eq!(hidden(&mut conn, 6, true), [true, false, true, true, true]);
    let events = event_log::between(&mut conn, id, 1, 2, true)
        .unwrap()
        .unwrap();
    let blind = events[0].blind_json.as_deref().unwrap();
    assert!(!blind.contains("cash_sales"), "{blind}");
    assert!(events[0].json.contains("cash_sales"));
}

/// Two admins restoring one caja at once start one actor; an actor
/// stopped by force is started again from the database and its screens
/// are told what changed meanwhile.
#[actix_web::test]
async fn the_registry_keeps_one_actor_per_caja_and_restarts_a_stopped_one() {
    let app = TestApp::spawn_as_admin().await;
    let (caja, cashier) = venue(&app).await;
    let version = app.count(&format!(
        "SELECT version::bigint AS n FROM pos_registers WHERE id = {caja}"
    ));
    let archive = app
        .post_form(
            &format!("/admin/cajas/{caja}/archivar"),
            &[("version", &version.to_string())],
        )
        .await;
    assert_eq!(archive.status(), 303);
    let id = cajahub::cajas::CajaId(caja);
    assert!(app.state.registers.get(id).is_none(), "archived: no actor");
    let path = format!("/admin/cajas/{caja}/restaurar");
    let restores = (0..4).map(|_| app.post_form(&path, &[]));
    for response in futures_util::future::join_all(restores).await {
        assert_eq!(response.status(), 303);
    }
    assert_eq!(app.state.registers.ids(), vec![id], "one actor");
    assert_eq!(
        app.count(&format!("SELECT count(*) AS n FROM register_events WHERE register_id = {caja} AND change = 'restored'")),
        1,
        "restored once"
    );
    assert_eq!(open_session(&app, &cashier, caja, "0").await.status(), 303);
    let cookie = app.session_cookie("supervisora", Role::Supervisor).await;
    let mut screen = connect(
        &app,
        &format!("/ws/caja/{caja}"),
        Some(&cookie),
        Some(&app.address),
    )
    .await
    .unwrap();
    let snapshot = next_json(&mut screen).await.unwrap();
    let at = snapshot["registers"][0]["seq"].as_i64().unwrap();

    // Another writer moves the caja on behind the actor's back, then the
    // actor dies: the new one loads it and the screen hears of it.
    let first = app.state.registers.get(id).unwrap();
    app.conn()
        .batch_execute(&format!(
            "UPDATE pos_registers SET name = 'Barra renombrada' WHERE id = {caja};
             UPDATE register_seqs SET event_seq = event_seq + 1 WHERE register_id = {caja};
             INSERT INTO register_events (register_id, seq, change, payload)
             SELECT {caja}, event_seq, 'config_changed', '{{\"caja\": {{\"id\": {caja}}}}}'::jsonb FROM register_seqs WHERE register_id = {caja};"
        ))
        .unwrap();
    app.state.registers.halt(id);
    let event = loop {
        let message = next_json(&mut screen)
            .await
            .expect("the screen stays connected");
        if message["type"] == "event" {
            break message;
        }
    };
    assert_eq!(event["seq"], at + 1);
    assert_eq!(event["change"], "config_changed");
    // What a screen hears is never ahead of what a reader gets.
    let state = app.state.registers.snapshot(id).unwrap();
    assert_eq!(
        (state.seq, state.caja.name.as_str()),
        (at + 1, "Barra renombrada"),
        "the restarted actor's state is readable before its events go out"
    );
    let restarted = app.state.registers.get(id).unwrap();
    assert!(
        !first.connected() && restarted.connected(),
        "a new actor runs"
    );
    let api: Value = cashier
        .get(&app, &format!("/api/cajas/{caja}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        api["register"]["caja"]["name"], "Barra renombrada",
        "reloaded from the database"
    );
    let (status, ack) = sell(&app, &cashier, caja, &cash_sale(700)).await;
    assert_eq!((status, ack["seq"].as_i64()), (201, Some(at + 2)));
    assert_log_is_whole(&app, caja);
}

/// Sells the first of `sales` on `caja` and holds its commit's answer; once
/// it is being written, sells the others at once, which wait in the caja's
/// mailbox (all of them, before the answer is let go). Returns the answers
/// in the order of `sales`.
async fn sell_behind_a_held_write(
    app: &TestApp,
    proxy: &PgProxy,
    cashier: &Visitor,
    caja: i32,
    sales: &[Value],
) -> Vec<(u16, Value)> {
    let held = proxy.arm(Fault::HoldCommitAnswer, "register_events");
    let mut asked = app.state.registers.asked(CajaId(caja)).unwrap();
    let (first, waiting) = sales.split_first().expect("a sale to hold");
    let behind = async {
        // Only once the first is being written: else the caja could take
        // several of them into its first write.
        held.fired().await;
        let control = async {
            asked.wait_for(|n| *n == sales.len()).await.unwrap();
            held.release();
        };
        let selling = join_all(waiting.iter().map(|sale| sell(app, cashier, caja, sale)));
        let ((), answers) = futures_util::join!(control, selling);
        answers
    };
    let (first, behind) = futures_util::join!(sell(app, cashier, caja, first), behind);
    std::iter::once(first).chain(behind).collect()
}

/// How many transactions wrote caja `caja`'s sale events.
fn sale_transactions(app: &TestApp, caja: i32) -> i64 {
    app.count(&format!(
        "SELECT count(DISTINCT xmin::text)::bigint AS n FROM register_events \
         WHERE register_id = {caja} AND change = 'sale_recorded'"
    ))
}

/// Sales that arrive while the caja's write is in progress are committed
/// together in the next transaction (group commit), each answered after
/// that one commit; the log, the counters, memory and the screens agree as
/// they do for sales one by one.
#[actix_web::test]
async fn sales_waiting_behind_a_write_are_committed_together() {
    let (app, proxy, _clock) = hub_behind_proxy(|_| {}).await;
    let (caja, cashier) = venue(&app).await;
    assert_eq!(open_session(&app, &cashier, caja, "0").await.status(), 303);
    let (mut screen, from) = floor(&app, caja).await;
    let sales: Vec<Value> = (1..=10).map(|i| cash_sale(i * 1_000)).collect();

    let answers = sell_behind_a_held_write(&app, &proxy, &cashier, caja, &sales).await;
    let mut seqs = Vec::new();
    for (status, ack) in &answers {
        assert_eq!(
            (*status, ack["replayed"].as_bool()),
            (201, Some(false)),
            "{ack}"
        );
        seqs.push(ack["seq"].as_i64().unwrap());
    }
    seqs.sort();
    let seq = assert_log_is_whole(&app, caja);
    assert_eq!(seqs, (from + 1..=seq).collect::<Vec<_>>(), "one seq each");
    assert_eq!(
        sale_transactions(&app, caja),
        2,
        "the first sale alone, the nine that waited in one transaction"
    );
    assert_counters_match_rows(
        &app,
        app.count("SELECT id::bigint AS n FROM register_sessions"),
    );
    assert_memory_is_the_database(&app, &cashier, caja).await;
    assert_eq!(
        seqs_until(&mut screen, caja, seq).await,
        (from + 1..=seq).collect::<Vec<_>>(),
        "the floor saw every sale once, in order"
    );
}

/// A command refused inside a batch (a reused key; a row the database
/// itself refuses) gets its own answer, a retry inside it gets the original
/// one, and every other command of the batch is committed: the batch rolls
/// back and its commands run one at a time.
#[actix_web::test]
async fn a_refused_command_in_a_batch_answers_alone_and_the_others_commit() {
    let (app, proxy, _clock) = hub_behind_proxy(|_| {}).await;
    let (caja, cashier) = venue(&app).await;
    assert_eq!(open_session(&app, &cashier, caja, "0").await.status(), 303);
    let taken = cash_sale(1_000);
    let (status, first) = sell(&app, &cashier, caja, &taken).await;
    assert_eq!(status, 201, "{first}");
    let (mut screen, from) = floor(&app, caja).await;
    let mut reused = cash_sale(2_000);
    reused["key"] = taken["key"].clone();
    let mut sales: Vec<Value> = (1..=5).map(|i| cash_sale(i * 100)).collect();
    sales.insert(2, reused);
    sales.insert(4, taken.clone());
    // The database refuses this one's payment (its own failure, not the caja's).
    refuse_payments_of_666(&app);
    sales.insert(6, cash_sale(666));

    let answers = sell_behind_a_held_write(&app, &proxy, &cashier, caja, &sales).await;
    for (i, (status, body)) in answers.iter().enumerate() {
        match i {
            2 => assert_eq!(
                (*status, body["code"].as_str()),
                (422, Some("idempotency_key_reused")),
                "{body}"
            ),
            4 => assert_eq!(
                (*status, body["replayed"].as_bool(), &body["sale_id"]),
                (200, Some(true), &first["sale_id"]),
                "{body}"
            ),
            6 => assert_eq!(
                (*status, body["code"].as_str()),
                (500, Some("internal")),
                "{body}"
            ),
            _ => assert_eq!(*status, 201, "{body}"),
        }
    }
    let seq = assert_log_is_whole(&app, caja);
    assert_eq!(seq, from + 5, "five new sales");
    assert_eq!(app.count("SELECT count(*) AS n FROM sales"), 6);
    assert_counters_match_rows(
        &app,
        app.count("SELECT id::bigint AS n FROM register_sessions"),
    );
    assert_memory_is_the_database(&app, &cashier, caja).await;
    assert_eq!(
        seqs_until(&mut screen, caja, seq).await,
        (from + 1..=seq).collect::<Vec<_>>()
    );
}

/// The hot path costs the database one round trip per sale, over HTTP and
/// over a POS socket: no test of the connection at checkout, the login
/// known in memory, and the sale with its lines, payments, counters, `seq`
/// and event written by one statement kept prepared, outside a transaction.
#[actix_web::test]
async fn a_sale_is_one_round_trip_to_the_database() {
    // One connection for the caja's writes: the statement is prepared on it
    // once, by the first sale (a second connection would prepare it again,
    // a round trip of its own the first time it is used).
    let (app, proxy, _clock) = hub_behind_proxy(|settings| settings.pool_size = 1).await;
    let (caja, cashier) = venue(&app).await;
    assert_eq!(open_session(&app, &cashier, caja, "0").await.status(), 303);
    // The first sale reads the login and prepares the statement.
    assert_eq!(sell(&app, &cashier, caja, &cash_sale(500)).await.0, 201);
    let before = proxy.round_trips();
    for total in 1..=20 {
        let (status, ack) = sell(&app, &cashier, caja, &cash_sale(total * 100)).await;
        assert_eq!(status, 201, "{ack}");
    }
    assert_eq!(
        proxy.round_trips() - before,
        20,
        "HTTP: one round trip a sale"
    );
    // A ticket of three lines: its lines go in the same statement.
    let tragos = crate::catalog::category(&app, "Tragos").await;
    let piscola = crate::catalog::product(&app, tragos, "Piscola", "4500", None).await;
    let cerveza = crate::catalog::product(&app, tragos, "Cerveza", "3000", None).await;
    let before = proxy.round_trips();
    for _ in 0..5 {
        let ticket = json!({
            "key": crate::registers::key(),
            "total": 13_000,
            "payments": [{"method": "EFECTIVO", "amount": 13_000}],
            "lines": [
                {"product_id": piscola, "quantity": 2, "unit_price": 4500},
                {"product_id": cerveza},
                {"amount": 1000},
            ],
        });
        let (status, ack) = sell(&app, &cashier, caja, &ticket).await;
        assert_eq!(status, 201, "{ack}");
    }
    assert_eq!(
        proxy.round_trips() - before,
        5,
        "HTTP: one round trip a ticket of three lines"
    );

    let cookie = app.session_cookie("cajero1", Role::Cajero).await;
    let (mut pos, greeting) = open_screen(&app, &format!("/ws/caja/{caja}"), &cookie).await;
    assert_eq!(greeting["type"], "snapshot");
    let first = json!({"type": "sale", "id": 0, "sale": cash_sale(100)});
    ack_and_event(&mut pos, &first).await;
    let before = proxy.round_trips();
    // (Fewer than the socket's rate limit lets through at once.)
    for i in 1..=10 {
        let command = json!({"type": "sale", "id": i, "sale": cash_sale(i * 100)});
        let (ack, event) = ack_and_event(&mut pos, &command).await;
        assert_eq!(
            (ack["type"].as_str(), &event["seq"]),
            (Some("ack"), &ack["seq"])
        );
    }
    assert_eq!(
        proxy.round_trips() - before,
        10,
        "socket: one round trip a sale"
    );
    assert_log_is_whole(&app, caja);
    assert_counters_match_rows(
        &app,
        app.count("SELECT id::bigint AS n FROM register_sessions"),
    );
}

/// A caja whose rows cannot be loaded holds nothing the others need: its
/// restart retries in the background while an admin creates a caja (it
/// hung on the registry's lock) and the other cajas sell; `/readyz` names
/// it and why; once its row reads again, its actor is back.
#[actix_web::test]
async fn a_caja_that_cannot_load_holds_no_one_else() {
    let app = TestApp::spawn_as_admin().await;
    let (broken, _) = caja_with_session(&app, "ROTA-1", "cajero1", &[]).await;
    app.execute(&format!(
        "UPDATE pos_registers SET terminal = '{{\"mode\": \"bogus\"}}' WHERE id = {broken}"
    ));
    let id = CajaId(broken);
    let before = app.state.registers.get(id).unwrap();
    app.state.registers.halt(id);
    let ready = |app: &TestApp| {
        let client = app.client.clone();
        let url = app.url("/readyz");
        async move {
            client
                .get(url)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    let mut named = Value::Null;
    for _ in 0..200 {
        let body = ready(&app).await;
        if let Some(stuck) = body["stuck_cajas"].as_array().and_then(|s| s.first()) {
            named = stuck.clone();
            break;
        }
        actix_web::rt::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(named["id"], broken, "{named}");
    assert!(
        named["health"]["reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("no se pueden leer los datos de la caja")),
        "{named}"
    );

    // The registry answers meanwhile: a new caja is created and sells.
    let created = actix_web::rt::time::timeout(
        Duration::from_secs(10),
        caja_with_session(&app, "SANA-1", "cajero2", &[]),
    )
    .await;
    let (healthy, cashier) = created.expect("creating a caja does not wait on a broken one");
    let (status, _) = sell(&app, &cashier, healthy, &cash_sale(1_500)).await;
    assert_eq!(status, 201);

    // Repaired: the background retry loads it and the caja is back.
    app.execute(&format!(
        "UPDATE pos_registers SET terminal = '{{\"mode\": \"manual\"}}' WHERE id = {broken}"
    ));
    let mut back = false;
    for _ in 0..800 {
        let restarted = app
            .state
            .registers
            .get(id)
            .is_some_and(|now| now != before && now.connected());
        if restarted && ready(&app).await["stuck_cajas"].is_null() {
            back = true;
            break;
        }
        actix_web::rt::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(back, "the caja's actor is back and no longer named");
}

/// A session whose stored totals do not read (written around the database's
/// own rule, which now refuses it): the caja's sales looped on
/// `register_reloaded` forever with no line naming the row. Now the caja
/// stops with an ERROR naming table, row and field, `/readyz` says so, the
/// other cajas sell, and once the row is repaired the caja sells again.
#[actix_web::test]
async fn a_row_that_does_not_read_is_named_not_looped_on() {
    let app = TestApp::spawn_as_admin().await;
    let (bad, cashier) = caja_with_session(&app, "ROTA-1", "cajero1", &[]).await;
    let (good, other) = caja_with_session(&app, "SANA-1", "cajero2", &[]).await;
    assert_eq!(sell(&app, &cashier, bad, &cash_sale(1_000)).await.0, 201);
    let session = app.count(&format!(
        "SELECT id::bigint AS n FROM register_sessions WHERE register_id = {bad}"
    ));
    let malformed = format!(
        "UPDATE register_sessions SET payment_totals = '{{\"EFECTIVO\": \"mil\"}}' WHERE id = {session}"
    );
    let refused = app.conn().batch_execute(&malformed);
    assert!(
        refused
            .as_ref()
            .is_err_and(|err| err.to_string().contains("payment_totals_shape")),
        "the database refuses it: {refused:?}"
    );
    app.execute("ALTER DOMAIN payment_totals DROP CONSTRAINT payment_totals_shape");
    app.execute(&malformed);

    let (status, body) = sell(&app, &cashier, bad, &cash_sale(2_000)).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (503, Some("caja_unreadable")),
        "{body}"
    );
    let mut named = Value::Null;
    for _ in 0..300 {
        let body: Value = app.get("/readyz").await.json().await.unwrap();
        // First the failed write, then the caja stopped and named.
        if let Some(stuck) = body["stuck_cajas"].as_array().and_then(|s| s.first()) {
            named = stuck.clone();
            if named["health"]["reason"]
                .as_str()
                .is_some_and(|r| r.contains("register_sessions #"))
            {
                break;
            }
        }
        actix_web::rt::time::sleep(Duration::from_millis(10)).await;
    }
    let reason = named["health"]["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains(&format!("register_sessions #{session}: payment_totals")),
        "{named}"
    );
    assert_eq!(sell(&app, &other, good, &cash_sale(1_500)).await.0, 201);

    app.execute(&format!(
        "UPDATE register_sessions SET payment_totals = '{{\"EFECTIVO\": 1000}}' WHERE id = {session}"
    ));
    let mut sold = 0;
    for _ in 0..800 {
        sold = sell(&app, &cashier, bad, &cash_sale(2_000)).await.0;
        if sold == 201 {
            break;
        }
        actix_web::rt::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(sold, 201, "repaired: the caja sells again");
    assert_counters_match_rows(&app, session);
}

/// An admin's edit (a change with no key) and a sale written together,
/// whose COMMIT's answer is lost: the hub reloads and finds from the
/// caja's `seq` that both were kept, so the edit is answered as saved (it
/// was re-run from the reload and refused as based on an old version) and
/// the sale as made, each once.
#[actix_web::test]
async fn a_kept_change_without_a_key_is_answered_as_saved_after_a_lost_commit() {
    let (app, proxy, _clock) = hub_behind_proxy(|_| {}).await;
    let (caja, cashier) = venue(&app).await;
    assert_eq!(open_session(&app, &cashier, caja, "0").await.status(), 303);
    let version = app.count(&format!(
        "SELECT version::bigint AS n FROM pos_registers WHERE id = {caja}"
    ));
    let held = proxy.arm(Fault::HoldCommitAnswer, "register_events");
    let lost = proxy.arm(Fault::CutAfterCommit, "register_events");
    let first_sale = cash_sale(1_000);
    let first = sell(&app, &cashier, caja, &first_sale);
    let sale = cash_sale(2_000);
    let version = version.to_string();
    let mut fields = crate::cajas::paso_6_1_fields();
    fields.retain(|(name, _)| *name != "name");
    fields.extend([("name", "Barra renombrada"), ("version", version.as_str())]);
    let path = format!("/admin/cajas/{caja}/editar");
    let together = async {
        held.fired().await;
        // The edit and the sale wait behind the held write, so they are
        // written together once it is answered.
        let edit = app.post_form(&path, &fields);
        let second = sell(&app, &cashier, caja, &sale);
        let queued = async {
            let mut asked = app.state.registers.asked(CajaId(caja)).unwrap();
            asked.wait_for(|n| *n >= 3).await.unwrap();
            held.release();
        };
        let (edit, second, ()) = tokio::join!(edit, second, queued);
        (edit, second)
    };
    let ((status, _), (edit, (second_status, second_ack))) = tokio::join!(first, together);
    lost.fired().await;
    assert_eq!(status, 201);
    assert_eq!(edit.status(), 303, "the edit was saved, and is answered so");
    assert_eq!(second_status, 201, "{second_ack}");
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM pos_registers WHERE id = {caja} AND name = 'Barra renombrada'"
        )),
        1
    );
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM sales WHERE idempotency_key = '{}'",
            sale["key"].as_str().unwrap()
        )),
        1
    );
    assert_log_is_whole(&app, caja);
    assert_memory_is_the_database(&app, &cashier, caja).await;
}

/// The same with the edit written alone: its own COMMIT's answer is lost,
/// and the hub, finding the caja's `seq` reached the edit's, answers it as
/// saved rather than running it again (where its version would refuse it).
#[actix_web::test]
async fn a_lone_change_without_a_key_is_answered_as_saved_after_a_lost_commit() {
    let (app, proxy, _clock) = hub_behind_proxy(|_| {}).await;
    let (caja, _cashier) = venue(&app).await;
    let version = app
        .count(&format!(
            "SELECT version::bigint AS n FROM pos_registers WHERE id = {caja}"
        ))
        .to_string();
    let mut fields = crate::cajas::paso_6_1_fields();
    fields.retain(|(name, _)| *name != "name");
    fields.extend([("name", "Barra renombrada"), ("version", version.as_str())]);
    let lost = proxy.arm(Fault::CutAfterCommit, "register_events");
    let edit = app
        .post_form(&format!("/admin/cajas/{caja}/editar"), &fields)
        .await;
    lost.fired().await;
    assert_eq!(edit.status(), 303, "the edit was saved, and is answered so");
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM pos_registers WHERE id = {caja} AND name = 'Barra renombrada'"
        )),
        1
    );
    assert_log_is_whole(&app, caja);
}

/// A caja whose rows do not read when the hub starts has no actor, so no
/// tile: the floor names it (and why) above the others, which sell.
#[actix_web::test]
async fn a_caja_that_cannot_load_at_start_is_named_on_the_floor() {
    let app = TestApp::spawn_as_admin().await;
    let (broken, _) = caja_with_session(&app, "ROTA-1", "cajero1", &[]).await;
    app.execute(&format!(
        "UPDATE pos_registers SET terminal = '{{\"mode\": \"bogus\"}}' WHERE id = {broken}"
    ));
    let app = app.restart().await;
    let supervisor = app.visitor("supervisora", Role::Supervisor).await;
    let page = supervisor
        .get(&app, "/admin/piso")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("id=\"cajas-sin-cargar\"")
            && page.contains("TEST GETNET+KLAP no se pudo cargar")
            && page.contains("no se pueden leer los datos de la caja"),
        "{page}"
    );
}

/// A client that keeps its first cookie (an API POS, a script, wrk) costs
/// the database the sale's one round trip however old the cookie: when its
/// login was last used is kept in memory and written in the background,
/// and the idle limit is decided from what the hub saw, not the cookie.
#[actix_web::test]
async fn a_client_that_keeps_its_first_cookie_costs_one_round_trip_a_sale() {
    let (app, proxy, clock) = hub_behind_proxy(|settings| settings.pool_size = 1).await;
    let (caja, cashier) = venue(&app).await;
    assert_eq!(open_session(&app, &cashier, caja, "0").await.status(), 303);
    let cookie = app.session_cookie("cajero1", Role::Cajero).await;
    let client = reqwest::Client::new();
    let sell_with_first_cookie = |total: i64| {
        client
            .post(app.url(&format!("/api/cajas/{caja}/sales")))
            .header("cookie", &cookie)
            .header("origin", &app.address)
            .json(&cash_sale(total))
            .send()
    };
    assert_eq!(sell_with_first_cookie(500).await.unwrap().status(), 201);
    // Well past the minute after which a login's use used to be written
    // on the request's path.
    clock.advance(Duration::from_secs(5 * 60));
    let before = proxy.round_trips();
    for total in 1..=20 {
        let response = sell_with_first_cookie(total * 100).await.unwrap();
        assert_eq!(response.status(), 201);
    }
    assert_eq!(
        proxy.round_trips() - before,
        20,
        "one round trip a sale with a five-minute-old cookie"
    );

    // Used every hour for three hours (the idle limit is two): still in,
    // though the cookie it sends says it was last used three hours ago.
    for _ in 0..3 {
        clock.advance(Duration::from_secs(3600));
        assert_eq!(sell_with_first_cookie(100).await.unwrap().status(), 201);
    }
    // Written in the background, never on a request: the row says so once
    // the batch is written (the hub writes it every minute and at a stop).
    let activity = app.state.activity.clone();
    let pool = app.state.pool.get_ref().clone();
    let now = clock.now().timestamp_millis();
    let written = activity.write(&pool, now, Duration::from_secs(7200)).await;
    assert!(written.is_ok_and(|rows| rows >= 1));
    let login_seen = app.count(
        "SELECT round(extract(epoch FROM max(last_seen_at)) * 1000)::bigint AS n FROM logins l \
         JOIN users u ON u.id = l.user_id WHERE u.name = 'cajero1' AND l.ended_at IS NULL",
    );
    assert_eq!(login_seen, now, "the hub's time, to the millisecond");
    // Idle for longer than the limit: out.
    clock.advance(Duration::from_secs(2 * 3600 + 60));
    assert_eq!(sell_with_first_cookie(100).await.unwrap().status(), 401);
}
