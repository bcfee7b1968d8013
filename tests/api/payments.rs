//! The payment stack over its API and the POS socket, on a clock the test
//! moves: card attempts from pending to their outcome on simulated
//! terminals, the fallback to the backup after a timeout or a failure (and
//! never twice charged), a declined card that is no fallback, the policy
//! off and no backup, recovery by cool-down, by an approved payment and by
//! a supervisor, a venue-wide outage that moves every POS, a restart that
//! leaves an attempt unknown, and the counts equal to SQL sums.

use std::sync::Arc;
use std::time::Duration;

use cajahub::auth::user::Role;
use cajahub::clock::{Clock, ManualClock};
use serde_json::{Value, json};

use crate::cajas::paso_6_1_fields;
use crate::helpers::{TestApp, TestDb, Visitor};
use crate::registers::{assert_counters_match_rows, cash_sale, key, open_session, post_json, sell};
use crate::screens::{Socket, next_json, open_screen};

/// A hub on a manual clock whose terminals are simulated as `simulation`.
pub(crate) async fn hub(simulation: &str) -> (TestApp, Arc<ManualClock>) {
    let (clock, manual) = Clock::manual();
    let spec = cajahub::cajas::terminal::TerminalConfig::parse_simulation(simulation).unwrap();
    let app = TestApp::spawn_with(TestDb::migrated(), |settings| {
        settings.clock = clock;
        settings.simulate_terminals = Some(spec);
    })
    .await;
    app.log_in_as("admin", Role::Admin).await;
    (app, manual)
}

/// A caja (PASO 6.1's, with `changes`) with an open session for `cashier`.
pub(crate) async fn caja_with_session(
    app: &TestApp,
    code: &str,
    cashier: &str,
    changes: &[(&'static str, &'static str)],
) -> (i32, Visitor) {
    let mut fields = paso_6_1_fields();
    fields
        .retain(|(name, _)| *name != "code" && !changes.iter().any(|(changed, _)| changed == name));
    fields.push(("code", code));
    fields.extend(changes.iter().copied());
    assert_eq!(
        app.post_form("/admin/cajas/crear", &fields).await.status(),
        303
    );
    if app.count("SELECT count(*) AS n FROM jornadas WHERE status = 'OPEN'") == 0 {
        assert_eq!(
            app.post_form("/admin/jornadas/abrir", &[]).await.status(),
            303
        );
    }
    let id = app.count(&format!(
        "SELECT id::bigint AS n FROM pos_registers WHERE code = '{code}'"
    )) as i32;
    let visitor = app.visitor(cashier, Role::Cajero).await;
    assert_eq!(open_session(app, &visitor, id, "0").await.status(), 303);
    (id, visitor)
}

pub(crate) async fn start(
    app: &TestApp,
    who: &Visitor,
    caja: i32,
    sale_key: &str,
    amount: i64,
    extra: Value,
) -> (u16, Value) {
    let mut body =
        json!({"key": key(), "sale_key": sale_key, "amount": amount, "method": "DEBITO"});
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    post_json(app, who, &format!("/api/cajas/{caja}/card-attempts"), &body).await
}

pub(crate) async fn resolve(
    app: &TestApp,
    who: &Visitor,
    caja: i32,
    attempt: i64,
    body: Value,
) -> (u16, Value) {
    post_json(
        app,
        who,
        &format!("/api/cajas/{caja}/card-attempts/{attempt}/resolve"),
        &body,
    )
    .await
}

/// The caja's snapshot (as its cashier sees it).
pub(crate) async fn register(app: &TestApp, who: &Visitor, caja: i32) -> Value {
    let snapshot: Value = who
        .get(app, &format!("/api/cajas/{caja}"))
        .await
        .json()
        .await
        .unwrap();
    snapshot["register"].clone()
}

pub(crate) fn attempt_in(register: &Value, id: i64) -> Value {
    register["card_attempts"]
        .as_array()
        .and_then(|all| all.iter().find(|a| a["id"] == id).cloned())
        .unwrap_or(Value::Null)
}

/// Reads `screen` until an event about caja `caja` satisfies `wanted`
/// (bounded: a screen that keeps pinging but never says it fails the test).
pub(crate) async fn event_where(
    screen: &mut Socket,
    caja: i32,
    wanted: impl Fn(&Value) -> bool,
) -> Value {
    let mut seen = Vec::new();
    let found = actix_web::rt::time::timeout(Duration::from_secs(20), async {
        loop {
            let message = next_json(screen).await.expect("the screen stays open");
            if message["type"] == "event" && message["register_id"] == caja && wanted(&message) {
                return message;
            }
            seen.push(format!(
                "{} {} {}",
                message["type"], message["register_id"], message["change"]
            ));
        }
    })
    .await;
    found.unwrap_or_else(|_| panic!("no such event about caja {caja}; saw {seen:?}"))
}

/// A card sale paid by `attempt`.
pub(crate) fn card_sale(sale_key: &str, amount: i64, attempt: i64) -> Value {
    json!({"key": sale_key, "total": amount, "payments": [{"method": "DEBITO", "amount": amount, "attempt_id": attempt}]})
}

/// Approved card payments counted per provider slot equal the session's counters.
pub(crate) fn assert_card_counts_match_attempts(app: &TestApp, session: i64) {
    for (column, backup) in [
        ("payment_provider_used_primary_count", "false"),
        ("payment_provider_used_backup_count", "true"),
    ] {
        assert_eq!(
            app.count(&format!("SELECT {column}::bigint AS n FROM register_sessions WHERE id = {session}")),
            app.count(&format!(
                "SELECT count(*) AS n FROM card_attempts a JOIN sales s ON s.id = a.sale_id
                 WHERE a.session_id = {session} AND a.status = 'APPROVED' AND s.voided_at IS NULL AND a.used_backup = {backup}"
            )),
            "{column}"
        );
    }
    assert_eq!(
        // The terminal charged each payment with its tip.
        app.count(&format!("SELECT (COALESCE((payment_totals->>'DEBITO')::bigint, 0) + COALESCE((tip_totals->>'DEBITO')::bigint, 0)) AS n FROM register_sessions WHERE id = {session}")),
        app.count(&format!(
            "SELECT COALESCE(sum(a.amount), 0)::bigint AS n FROM card_attempts a JOIN sales s ON s.id = a.sale_id
             WHERE a.session_id = {session} AND a.method = 'DEBITO' AND s.voided_at IS NULL"
        ))
    );
}

#[actix_web::test]
async fn a_hanging_primary_times_out_and_the_same_sale_completes_on_the_backup_once() {
    let (app, clock) = hub("GETNET=hang,KLAP=approve,latency=1500").await;
    let (caja, cashier) = caja_with_session(&app, "BARRA-1", "cajero1", &[]).await;
    let cookie = app.session_cookie("cajero1", Role::Cajero).await;
    let (mut pos, _) = open_screen(&app, &format!("/ws/caja/{caja}"), &cookie).await;
    let sale = key();

    let (status, started) = start(&app, &cashier, caja, &sale, 12_345, json!({})).await;
    assert_eq!(status, 201, "{started}");
    let primary = started["attempt"].clone();
    assert_eq!(
        (
            primary["provider"].as_str(),
            primary["status"].as_str(),
            primary["used_backup"].as_bool()
        ),
        (Some("GETNET"), Some("PENDING"), Some(false))
    );
    let id = primary["id"].as_i64().unwrap();
    // While GETNET is pending the same sale cannot start on KLAP.
    let (status, body) = start(
        &app,
        &cashier,
        caja,
        &sale,
        12_345,
        json!({"provider": "KLAP"}),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("card_result_unknown")),
        "{body}"
    );

    clock.advance(Duration::from_secs(60));
    let timed_out = event_where(&mut pos, caja, |e| {
        attempt_in(&e["changed"], id)["status"] == "TIMED_OUT"
    })
    .await;
    let advice = &timed_out["changed"]["provider"];
    assert_eq!(
        (advice["provider"].as_str(), advice["backup"].as_bool()),
        (Some("KLAP"), Some(true)),
        "{advice}"
    );
    assert!(
        advice["reason"]
            .as_str()
            .unwrap()
            .contains("celular de respaldo (2 celulares)"),
        "{advice}"
    );
    // Still unknown: no second charge until the cashier looks at the terminal.
    let (status, body) = start(&app, &cashier, caja, &sale, 12_345, json!({})).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("card_result_unknown")),
        "{body}"
    );
    let (status, body) = resolve(
        &app,
        &cashier,
        caja,
        id,
        json!({"outcome": "not_charged", "note": "el terminal dice error"}),
    )
    .await;
    assert_eq!(
        (status, body["attempt"]["status"].as_str()),
        (200, Some("CANCELLED")),
        "{body}"
    );

    let (status, started) = start(&app, &cashier, caja, &sale, 12_345, json!({})).await;
    assert_eq!(status, 201, "{started}");
    let backup = started["attempt"].clone();
    assert_eq!(
        (
            backup["provider"].as_str(),
            backup["used_backup"].as_bool(),
            backup["fallback_from"].as_i64()
        ),
        (Some("KLAP"), Some(true), Some(id)),
        "the same sale, on the backup, linked to the first attempt"
    );
    let backup_id = backup["id"].as_i64().unwrap();
    clock.advance(Duration::from_millis(1_500));
    let approved = event_where(&mut pos, caja, |e| {
        attempt_in(&e["changed"], backup_id)["status"] == "APPROVED"
    })
    .await;
    assert!(attempt_in(&approved["changed"], backup_id)["authorization_code"].is_string());
    // A sale already approved may not be charged again.
    let (status, body) = start(&app, &cashier, caja, &sale, 12_345, json!({})).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("sale_already_paid")),
        "{body}"
    );

    let (status, ack) = sell(&app, &cashier, caja, &card_sale(&sale, 12_345, backup_id)).await;
    assert_eq!(status, 201, "{ack}");
    let (status, again) = sell(&app, &cashier, caja, &card_sale(&sale, 12_345, backup_id)).await;
    assert_eq!((status, again["replayed"].as_bool()), (200, Some(true)));
    let session = app.count("SELECT id::bigint AS n FROM register_sessions WHERE status = 'OPEN'");
    assert_counters_match_rows(&app, session);
    assert_card_counts_match_attempts(&app, session);
    assert_eq!(
        app.count("SELECT payment_provider_used_backup_count::bigint AS n FROM register_sessions"),
        1
    );
    assert_eq!(
        app.count("SELECT payment_provider_used_primary_count::bigint AS n FROM register_sessions"),
        0
    );
    assert_eq!(
        app.count(&format!(
            "SELECT card_attempt_id AS n FROM sale_payments WHERE sale_id = {}",
            ack["sale_id"]
        )),
        backup_id
    );
    // Reconciliation: KLAP approved one, GETNET none and one cancelled.
    let lines = {
        let mut conn = app.conn();
        cajahub::payments::reconcile::of_session(&mut conn, session as i32)
            .unwrap()
            .lines
    };
    let klap = lines.iter().find(|l| l.provider == "KLAP").unwrap();
    assert_eq!(
        (klap.approved_count, klap.approved_amount, klap.fallbacks),
        (1, 12_345, 1)
    );
    assert!(
        klap.fallback_max_seconds.unwrap() >= 60.0,
        "fell back after the minute"
    );
    let getnet = lines.iter().find(|l| l.provider == "GETNET").unwrap();
    assert_eq!((getnet.approved_count, getnet.cancelled), (0, 1));
    assert_eq!(
        app.count("SELECT count(*) AS n FROM audit_log WHERE action = 'tarjeta.resuelta'"),
        1
    );

    // The session's page and its jornada's show the same lines.
    let page = cashier
        .get(&app, &format!("/caja/session/{session}"))
        .await
        .text()
        .await
        .unwrap();
    let klap_row = row_of(&page, "KLAP");
    assert!(
        klap_row.contains("data-field=\"approved\">1</td>") && klap_row.contains("$12.345"),
        "{klap_row}"
    );
    assert!(
        klap_row.contains("data-field=\"fallbacks\">1</td>"),
        "{klap_row}"
    );
    let jornada = app.count("SELECT id::bigint AS n FROM jornadas");
    let page = app
        .get(&format!("/admin/jornadas/{jornada}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(row_of(&page, "KLAP").contains("$12.345"), "{page}");
    assert!(
        page.contains(&format!("<a href=\"/caja/session/{session}\">")),
        "the jornada lists its sessions"
    );
    assert_eq!(app.get("/admin/jornadas/999").await.status(), 404);
    assert_eq!(app.get("/admin/jornadas/x").await.status(), 404);
}

/// The reconciliation tables' rows for `provider`, one after the other.
pub(crate) fn row_of(page: &str, provider: &str) -> String {
    let marker = format!("<tr data-provider=\"{provider}\">");
    let rows: Vec<&str> = page
        .match_indices(&marker)
        .map(|(start, _)| {
            let end = page[start..]
                .find("</tr>")
                .map_or(page.len(), |end| start + end);
            &page[start..end]
        })
        .collect();
    assert!(!rows.is_empty(), "no {provider} row in {page}");
    rows.concat()
}

#[actix_web::test]
async fn a_failed_primary_falls_back_at_once_and_a_declined_card_does_not() {
    let (app, clock) = hub("GETNET=fail,KLAP=decline,latency=1000").await;
    let (caja, cashier) = caja_with_session(&app, "BARRA-1", "cajero1", &[]).await;
    let sale = key();
    let (_, started) = start(&app, &cashier, caja, &sale, 5_000, json!({})).await;
    let id = started["attempt"]["id"].as_i64().unwrap();
    clock.advance(Duration::from_secs(1));
    let failed = wait_for_status(&app, caja, id, "FAILED").await;
    assert!(
        failed["detail"]
            .as_str()
            .unwrap()
            .contains("no pudo comunicarse")
    );
    // Failed is a known result: the backup starts at once for the same sale.
    let (status, started) = start(&app, &cashier, caja, &sale, 5_000, json!({})).await;
    assert_eq!(
        (status, started["attempt"]["provider"].as_str()),
        (201, Some("KLAP")),
        "{started}"
    );
    let backup = started["attempt"]["id"].as_i64().unwrap();
    clock.advance(Duration::from_secs(1));
    wait_for_status(&app, caja, backup, "DECLINED").await;
    // The card was declined on KLAP: the customer's problem, KLAP stays fine.
    let advice = register(&app, &cashier, caja).await["provider"].clone();
    let klap = advice["health"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["provider"] == "KLAP")
        .unwrap()
        .clone();
    assert_eq!(klap["status"], "OK", "{advice}");
    let getnet = advice["health"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["provider"] == "GETNET")
        .unwrap()
        .clone();
    assert_eq!(getnet["status"], "DEGRADED", "{advice}");
    assert_eq!(
        app.count("SELECT count(*) AS n FROM provider_outages"),
        0,
        "one caja is no venue outage"
    );
}

/// Waits, on the caja's screen opened now by a supervisor, until its
/// attempt `id` has `status`: the screen's first snapshot shows where it
/// stands, its events every move after (the terminal's answer is on its
/// way). The caja's screen, not the floor: the floor keeps only the
/// attempts whose end nobody knows.
pub(crate) async fn wait_for_status(app: &TestApp, caja: i32, id: i64, status: &str) -> Value {
    let cookie = app.session_cookie("observadora", Role::Supervisor).await;
    let (mut screen, snapshot) = open_screen(app, &format!("/ws/caja/{caja}"), &cookie).await;
    let now = attempt_in(&snapshot["registers"][0], id);
    if now["status"] == status {
        return now;
    }
    let event = event_where(&mut screen, caja, |e| {
        attempt_in(&e["changed"], id)["status"] == status
    })
    .await;
    attempt_in(&event["changed"], id)
}

#[actix_web::test]
async fn with_the_policy_off_or_no_backup_the_cashier_is_told_to_take_cash() {
    let (app, clock) = hub("GETNET=fail,KLAP=approve,latency=10").await;
    let (off, first) =
        caja_with_session(&app, "SIN-POLITICA", "cajero1", &[("fallback_enabled", "")]).await;
    let (alone, second) = caja_with_session(
        &app,
        "SIN-RESPALDO",
        "cajero2",
        &[("payment_provider_backup", ""), ("fallback_enabled", "")],
    )
    .await;
    for (caja, who) in [(off, &first), (alone, &second)] {
        let sale = key();
        let (_, started) = start(&app, who, caja, &sale, 1_000, json!({})).await;
        let id = started["attempt"]["id"].as_i64().unwrap();
        clock.advance(Duration::from_millis(10));
        wait_for_status(&app, caja, id, "FAILED").await;
        let advice = register(&app, who, caja).await["provider"].clone();
        assert_eq!(advice["backup"], false, "{advice}");
        assert!(
            advice["reason"]
                .as_str()
                .unwrap()
                .contains("cobra en efectivo u otro medio"),
            "{advice}"
        );
    }
    for (who, caja, status, code) in [
        (&first, off, 409, "fallback_disabled"),
        (&second, alone, 422, "provider_not_configured"),
    ] {
        let (got, body) = start(&app, who, caja, &key(), 1_000, json!({"provider": "KLAP"})).await;
        assert_eq!((got, body["code"].as_str()), (status, Some(code)), "{body}");
    }
}

#[actix_web::test]
async fn a_caja_on_its_backup_recovers_by_cool_down_and_by_an_approved_primary() {
    let (app, clock) = hub("GETNET=fail,KLAP=approve,latency=10").await;
    let (caja, cashier) = caja_with_session(&app, "BARRA-1", "cajero1", &[]).await;
    let cookie = app.session_cookie("supervisora", Role::Supervisor).await;
    // The caja's screen, as a supervisor watches it: it keeps the ended
    // attempts the floor leaves out.
    let (mut screen, _) = open_screen(&app, &format!("/ws/caja/{caja}"), &cookie).await;
    let (_, started) = start(&app, &cashier, caja, &key(), 1_000, json!({})).await;
    let id = started["attempt"]["id"].as_i64().unwrap();
    clock.advance(Duration::from_millis(10));
    event_where(&mut screen, caja, |e| {
        e["changed"]["provider"]["backup"] == true
    })
    .await;
    // Five minutes without a new failure: back to GETNET by itself.
    clock.advance(Duration::from_secs(300));
    let back = event_where(&mut screen, caja, |e| e["change"] == "provider_changed").await;
    assert_eq!(back["changed"]["provider"]["provider"], "GETNET", "{back}");
    assert!(
        back["changed"].get("card_attempts").is_none(),
        "only the advice changed: {back}"
    );
    assert_eq!(
        attempt_in(&register(&app, &cashier, caja).await, id)["status"],
        "FAILED"
    );

    // Fails again; then a payment approved on GETNET (by hand) ends it at once.
    let (_, started) = start(&app, &cashier, caja, &key(), 2_000, json!({})).await;
    let failed = started["attempt"]["id"].as_i64().unwrap();
    clock.advance(Duration::from_millis(10));
    event_where(&mut screen, caja, |e| {
        attempt_in(&e["changed"], failed)["status"] == "FAILED"
    })
    .await;
    let sale = key();
    let manual = json!({"key": sale, "total": 3_000, "payments": [{"method": "CREDITO", "amount": 3_000, "provider": "GETNET", "authorization_code": "A1B2C3"}]});
    assert_eq!(sell(&app, &cashier, caja, &manual).await.0, 201);
    let advice = register(&app, &cashier, caja).await["provider"].clone();
    assert_eq!(
        (advice["provider"].as_str(), advice["backup"].as_bool()),
        (Some("GETNET"), Some(false)),
        "{advice}"
    );
    assert_eq!(app.count("SELECT count(*) AS n FROM card_attempts WHERE status = 'APPROVED' AND authorization_code = 'A1B2C3'"), 1);
}

#[actix_web::test]
async fn when_the_primary_fails_on_three_cajas_every_pos_moves_to_the_backup() {
    let (app, clock) = hub("GETNET=fail,KLAP=approve,latency=10").await;
    let mut cajas = Vec::new();
    for n in 1..=4 {
        cajas
            .push(caja_with_session(&app, &format!("BARRA-{n}"), &format!("cajero{n}"), &[]).await);
    }
    // The fourth caja's POS has not failed at all; it follows the venue.
    let cookie = app.session_cookie("cajero4", Role::Cajero).await;
    let quiet = cajas[3].0;
    let (mut pos, first) = open_screen(&app, &format!("/ws/caja/{quiet}"), &cookie).await;
    assert_eq!(first["registers"][0]["provider"]["provider"], "GETNET");
    for (caja, who) in &cajas[..3] {
        let (_, started) = start(&app, who, *caja, &key(), 1_000, json!({})).await;
        let id = started["attempt"]["id"].as_i64().unwrap();
        clock.advance(Duration::from_millis(10));
        wait_for_status(&app, *caja, id, "FAILED").await;
    }
    let moved = event_where(&mut pos, quiet, |e| e["change"] == "provider_changed").await;
    let advice = &moved["changed"]["provider"];
    assert_eq!(
        (advice["provider"].as_str(), advice["backup"].as_bool()),
        (Some("KLAP"), Some(true)),
        "{advice}"
    );
    let getnet = advice["health"][0].clone();
    assert_eq!(
        (getnet["status"].as_str(), getnet["provider"].as_str()),
        (Some("DOWN"), Some("GETNET"))
    );
    assert!(
        getnet["reason"]
            .as_str()
            .unwrap()
            .contains("falló en 3 cajas"),
        "{getnet}"
    );
    assert_eq!(app.count("SELECT count(*) AS n FROM provider_outages WHERE ended_at IS NULL AND provider = 'GETNET'"), 1);

    // A supervisor says GETNET is back (audited): every POS moves back.
    let supervisor = app.visitor("supervisora", Role::Supervisor).await;
    let watcher = app.session_cookie("supervisora", Role::Supervisor).await;
    let mut failed_screens = Vec::new();
    for (caja, _) in &cajas[..3] {
        let (screen, _) = open_screen(&app, &format!("/ws/caja/{caja}"), &watcher).await;
        failed_screens.push((*caja, screen));
    }
    let (status, _) = post_json(
        &app,
        &cajas[0].1,
        "/api/proveedores/GETNET/operativo",
        &json!({"reason": "x"}),
    )
    .await;
    assert_eq!(status, 403, "cashiers may not");
    let (status, body) = post_json(
        &app,
        &supervisor,
        "/api/proveedores/GETNET/operativo",
        &json!({"reason": "técnico confirmó"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let back = event_where(&mut pos, quiet, |e| e["change"] == "provider_changed").await;
    assert_eq!(back["changed"]["provider"]["provider"], "GETNET");
    // As the dialog says: every caja, also those whose own charges failed.
    for (caja, mut screen) in failed_screens {
        let back = event_where(&mut screen, caja, |e| e["change"] == "provider_changed").await;
        let advice = back["changed"]["provider"].clone();
        assert_eq!(
            (
                advice["provider"].as_str(),
                advice["health"][0]["status"].as_str()
            ),
            (Some("GETNET"), Some("OK")),
            "{advice}"
        );
    }
    assert_eq!(
        app.count("SELECT count(*) AS n FROM audit_log WHERE action = 'proveedor.operativo'"),
        1
    );
    let (status, body) = post_json(
        &app,
        &supervisor,
        "/api/proveedores/GETNET/operativo",
        &json!({"reason": "otra vez"}),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("provider_not_down"))
    );
    // And declares it down by hand: the venue follows again.
    let (status, _) = post_json(
        &app,
        &supervisor,
        "/api/proveedores/GETNET/caido",
        &json!({"reason": "sin señal"}),
    )
    .await;
    assert_eq!(status, 200);
    let down = event_where(&mut pos, quiet, |e| e["change"] == "provider_changed").await;
    assert_eq!(down["changed"]["provider"]["provider"], "KLAP");
    let providers: Value = supervisor
        .get(&app, "/api/proveedores")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(providers["outages"][0]["provider"], "GETNET");
    // Cool-down: five quiet minutes end the outage by themselves.
    clock.advance(Duration::from_secs(300));
    let ended = event_where(&mut pos, quiet, |e| e["change"] == "provider_changed").await;
    assert_eq!(ended["changed"]["provider"]["provider"], "GETNET");
    assert_eq!(
        app.count("SELECT count(*) AS n FROM provider_outages WHERE ended_at IS NULL"),
        0
    );
}

#[actix_web::test]
async fn a_restart_leaves_a_pending_attempt_unknown_and_it_is_resolved_and_counted_once() {
    let (app, _clock) = hub("GETNET=hang,KLAP=approve,latency=10").await;
    let (caja, cashier) = caja_with_session(&app, "BARRA-1", "cajero1", &[]).await;
    let sale = key();
    let (_, started) = start(&app, &cashier, caja, &sale, 7_000, json!({})).await;
    let id = started["attempt"]["id"].as_i64().unwrap();
    let app = app.restart().await;
    let unknown = wait_for_status(&app, caja, id, "UNKNOWN").await;
    assert!(
        unknown["detail"]
            .as_str()
            .unwrap()
            .contains("verifica en el terminal")
    );
    // Closing waits for it, and says which.
    let closed = cashier
        .post(
            &app,
            "/caja/session/close",
            &[("register_id", &caja.to_string()), ("cash_count", "0")],
        )
        .await;
    assert_eq!(closed.status(), 409);
    assert!(
        closed
            .text()
            .await
            .unwrap()
            .contains(&format!("#{id} GETNET $7.000"))
    );
    let page = cashier
        .get(&app, &format!("/caja/session/close?caja={caja}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("id=\"cobros-por-resolver\""),
        "the close page lists what blocks it"
    );
    assert!(
        page.contains(&format!(
            "#{id} GETNET $7.000 (desconocido: verificar en el terminal)"
        )),
        "{page}"
    );
    assert!(row_of(&page, "GETNET").contains("data-field=\"unanswered\">1</td>"));
    // The terminal did charge it: approved by hand, with a key; the retry is the same answer.
    let body = json!({"key": key(), "outcome": "approved", "authorization_code": "778899"});
    let (status, first) = resolve(&app, &cashier, caja, id, body.clone()).await;
    assert_eq!(
        (status, first["attempt"]["status"].as_str()),
        (200, Some("APPROVED")),
        "{first}"
    );
    let (status, again) = resolve(&app, &cashier, caja, id, body).await;
    assert_eq!((status, &again), (200, &first), "resolved once");
    let (status, body) = resolve(&app, &cashier, caja, id, json!({"outcome": "not_charged"})).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("attempt_already_resolved"))
    );
    assert_eq!(
        sell(&app, &cashier, caja, &card_sale(&sale, 7_000, id))
            .await
            .0,
        201
    );
    let session = app.count("SELECT id::bigint AS n FROM register_sessions WHERE status = 'OPEN'");
    assert_card_counts_match_attempts(&app, session);
    assert_eq!(
        app.count("SELECT ticket_count::bigint AS n FROM register_sessions"),
        1
    );
    assert_eq!(
        app.count("SELECT count(*) AS n FROM audit_log WHERE action = 'tarjeta.resuelta'"),
        1
    );
    let closed = cashier
        .post(
            &app,
            "/caja/session/close",
            &[("register_id", &caja.to_string()), ("cash_count", "0")],
        )
        .await;
    assert_eq!(closed.status(), 303, "nothing left to resolve");
}

#[actix_web::test]
async fn bad_card_input_is_refused_clearly_and_nothing_is_charged_twice() {
    let (app, clock) = hub("GETNET=approve,KLAP=approve,latency=10").await;
    let (caja, cashier) = caja_with_session(&app, "BARRA-1", "cajero1", &[]).await;
    let (other, someone) = caja_with_session(&app, "BARRA-2", "cajero2", &[]).await;
    let sale = key();
    let (_, started) = start(&app, &cashier, caja, &sale, 4_000, json!({})).await;
    let id = started["attempt"]["id"].as_i64().unwrap();
    // Starting it again with its key: the same attempt.
    let replay_key = started["attempt"]["attempt_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, replay) = post_json(
        &app,
        &cashier,
        &format!("/api/cajas/{caja}/card-attempts"),
        &json!({"key": replay_key, "sale_key": sale, "amount": 4_000, "method": "DEBITO"}),
    )
    .await;
    assert_eq!((status, replay["attempt"]["id"].as_i64()), (201, Some(id)));
    for (body, code, field) in [
        (
            json!({"key": key(), "sale_key": key(), "amount": 1.5, "method": "DEBITO"}),
            "invalid_card_payment",
            Some("amount"),
        ),
        (
            json!({"key": key(), "sale_key": key(), "amount": 100, "method": "EFECTIVO"}),
            "invalid_card_payment",
            Some("method"),
        ),
        (
            json!({"key": key(), "sale_key": "x", "amount": 100, "method": "DEBITO"}),
            "invalid_card_payment",
            Some("sale_key"),
        ),
        (
            json!({"key": key(), "sale_key": key(), "amount": 100, "method": "DEBITO", "provider": "VISA"}),
            "invalid_card_payment",
            Some("provider"),
        ),
        (
            json!({"key": key(), "sale_key": sale, "amount": 4_001, "method": "DEBITO"}),
            "invalid_card_payment",
            Some("amount"),
        ),
    ] {
        let (status, answer) = post_json(
            &app,
            &cashier,
            &format!("/api/cajas/{caja}/card-attempts"),
            &body,
        )
        .await;
        assert_eq!(
            (status, answer["code"].as_str(), answer["field"].as_str()),
            (422, Some(code), field),
            "{body}: {answer}"
        );
    }
    clock.advance(Duration::from_millis(10));
    wait_for_status(&app, caja, id, "APPROVED").await;
    for (attempt, body, status, code) in [
        (
            999,
            json!({"outcome": "not_charged"}),
            404,
            "unknown_attempt",
        ),
        (
            id,
            json!({"outcome": "approved"}),
            422,
            "invalid_card_payment",
        ),
        (
            id,
            json!({"outcome": "approved", "authorization_code": "12"}),
            422,
            "invalid_card_payment",
        ),
        (
            id,
            json!({"outcome": "approved", "authorization_code": "123456"}),
            409,
            "attempt_already_resolved",
        ),
        (id, json!({"outcome": "maybe"}), 422, "invalid_card_payment"),
    ] {
        let (got, answer) = resolve(&app, &cashier, caja, attempt, body.clone()).await;
        assert_eq!(
            (got, answer["code"].as_str()),
            (status, Some(code)),
            "{body}: {answer}"
        );
    }
    // Another caja's attempt is not this caja's; another cashier may not touch it.
    let (status, answer) =
        resolve(&app, &someone, other, id, json!({"outcome": "not_charged"})).await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (404, Some("unknown_attempt"))
    );
    // Selling with it: the amount must match, the sale must be its own.
    for (body, field) in [
        (card_sale(&sale, 3_000, id), "payments[0].attempt_id"),
        (card_sale(&key(), 4_000, id), "payments[0].attempt_id"),
    ] {
        let (status, answer) = sell(&app, &cashier, caja, &body).await;
        assert_eq!(
            (status, answer["field"].as_str()),
            (422, Some(field)),
            "{answer}"
        );
    }
    // Part cash, part card: the card part is the approval's amount.
    let mixed = json!({"key": sale, "total": 5_500, "payments": [
        {"method": "EFECTIVO", "amount": 1_500},
        {"method": "DEBITO", "amount": 4_000, "attempt_id": id},
    ]});
    assert_eq!(sell(&app, &cashier, caja, &mixed).await.0, 201);
    let session = app.count("SELECT id::bigint AS n FROM register_sessions WHERE register_id = 1");
    assert_counters_match_rows(&app, session);
    assert_card_counts_match_attempts(&app, session);
    assert_eq!(
        app.count(&format!(
            "SELECT cash_sales AS n FROM register_sessions WHERE id = {session}"
        )),
        1_500
    );
    let second = json!({"key": key(), "total": 4_000, "payments": [{"method": "DEBITO", "amount": 4_000, "attempt_id": id}]});
    let (status, answer) = sell(&app, &cashier, caja, &second).await;
    assert_eq!(
        (status, answer["field"].as_str()),
        (422, Some("payments[0].attempt_id")),
        "an approval pays one sale: {answer}"
    );
    assert_eq!(app.count("SELECT count(*) AS n FROM sales"), 1);
    // A supervisor overrides a primary whose result is not known yet
    // (audited): the backup starts for the same sale, marked as overridden.
    let hanging = key();
    let supervisor = app.visitor("supervisora", Role::Supervisor).await;
    let (_, started) = start(&app, &cashier, caja, &hanging, 900, json!({})).await;
    let pending = started["attempt"]["id"].as_i64().unwrap();
    for (who, provider, code) in [
        (&cashier, "KLAP", "card_result_unknown"), // only a supervisor overrides
        (&supervisor, "GETNET", "card_attempt_in_progress"),
    ] {
        let body = json!({"provider": provider, "override": true});
        let (status, body) = start(&app, who, caja, &hanging, 900, body).await;
        assert_eq!((status, body["code"].as_str()), (409, Some(code)), "{body}");
    }
    assert_eq!(
        app.count(
            "SELECT count(*) AS n FROM audit_log WHERE action = 'tarjeta.respaldo_autorizado'"
        ),
        0
    );
    let (status, body) = start(
        &app,
        &supervisor,
        caja,
        &hanging,
        900,
        json!({"provider": "KLAP", "override": true}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        (
            body["attempt"]["fallback_from"].as_i64(),
            body["attempt"]["used_backup"].as_bool()
        ),
        (Some(pending), Some(true))
    );
    assert!(body["attempt"]["overridden_by"].is_number(), "{body}");
    assert_eq!(
        app.count(
            "SELECT count(*) AS n FROM audit_log WHERE action = 'tarjeta.respaldo_autorizado'"
        ),
        1
    );
    assert_eq!(
        app.count("SELECT count(*) AS n FROM sales"),
        1,
        "nothing counted without a sale"
    );
}

/// One customer paying on the backup (the cashier's choice, no failure)
/// does not move the caja to its backup; after the admin swaps the
/// providers, the advice names the new primary as the primary.
#[actix_web::test]
async fn a_payment_on_the_backup_or_a_swap_does_not_put_the_caja_on_its_backup() {
    let (app, _clock) = hub("GETNET=approve,KLAP=approve,latency=10").await;
    let (caja, cashier) = caja_with_session(&app, "BARRA-1", "cajero1", &[]).await;
    let on_klap = json!({"key": key(), "total": 3_000, "payments": [{"method": "CREDITO", "amount": 3_000, "provider": "KLAP", "authorization_code": "K1L2A3"}]});
    assert_eq!(sell(&app, &cashier, caja, &on_klap).await.0, 201);
    let advice = register(&app, &cashier, caja).await["provider"].clone();
    assert_eq!(
        (advice["provider"].as_str(), advice["backup"].as_bool()),
        (Some("GETNET"), Some(false)),
        "{advice}"
    );
    let version = app.count(&format!(
        "SELECT version::bigint AS n FROM pos_registers WHERE id = {caja}"
    ));
    let mut edit: Vec<(&str, String)> = crate::cajas::paso_6_1_fields()
        .into_iter()
        .filter(|(k, _)| !k.starts_with("payment_provider") && *k != "code")
        .map(|(k, v)| (k, v.to_owned()))
        .collect();
    edit.extend([
        ("code", "BARRA-1".to_owned()),
        ("payment_provider_primary", "KLAP".to_owned()),
        ("payment_provider_backup", "GETNET".to_owned()),
        ("version", version.to_string()),
    ]);
    let fields: Vec<(&str, &str)> = edit.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let saved = app
        .post_form(&format!("/admin/cajas/{caja}/editar"), &fields)
        .await;
    assert_eq!(saved.status(), 303);
    let advice = register(&app, &cashier, caja).await["provider"].clone();
    assert_eq!(
        (advice["provider"].as_str(), advice["backup"].as_bool()),
        (Some("KLAP"), Some(false)),
        "{advice}"
    );
}

/// Reads `screen` until the event of `seq` about caja `caja`, keeping each
/// event by its `seq`.
async fn events_upto(
    screen: &mut Socket,
    caja: i32,
    seq: i64,
    into: &mut std::collections::BTreeMap<i64, Value>,
) {
    while !into.contains_key(&seq) {
        let event = event_where(screen, caja, |_| true).await;
        into.insert(event["seq"].as_i64().unwrap(), event);
    }
}

/// An event replayed from the log to a screen that comes back is the event
/// it was sent live, on the caja's screens and on the floor, with card
/// attempts the floor shows (one nobody knows the end of, an approved
/// charge nothing settled) and one it leaves out (a failed one): the live
/// frames are serialized from the change itself, the replayed ones from
/// the payload stored in the log.
#[actix_web::test]
async fn an_event_replayed_from_the_log_is_the_event_sent_live() {
    let (app, clock) = hub("GETNET=fail,KLAP=approve,latency=10").await;
    let (caja, cashier) = caja_with_session(&app, "BARRA-1", "cajero1", &[]).await;
    let cookie = app.session_cookie("supervisora", Role::Supervisor).await;
    let (mut pos, first) = open_screen(&app, &format!("/ws/caja/{caja}"), &cookie).await;
    let (mut floor, _) = open_screen(&app, "/ws/piso", &cookie).await;
    let at = first["registers"][0]["seq"].as_i64().unwrap();

    let sale = key();
    let (_, failing) = start(&app, &cashier, caja, &sale, 4_000, json!({})).await;
    let failing = failing["attempt"]["id"].as_i64().unwrap();
    clock.advance(Duration::from_millis(10));
    wait_for_status(&app, caja, failing, "FAILED").await;
    let (status, approving) = start(
        &app,
        &cashier,
        caja,
        &sale,
        4_000,
        json!({"provider": "KLAP"}),
    )
    .await;
    assert_eq!(status, 201, "{approving}");
    let approving = approving["attempt"]["id"].as_i64().unwrap();
    clock.advance(Duration::from_millis(10));
    wait_for_status(&app, caja, approving, "APPROVED").await;
    let (status, ack) = sell(&app, &cashier, caja, &cash_sale(2_500)).await;
    assert_eq!(status, 201, "{ack}");
    let last = ack["seq"].as_i64().unwrap();
    assert!(last >= at + 5, "attempts started and settled, and a sale");

    let (mut live_pos, mut live_floor) = (Default::default(), Default::default());
    events_upto(&mut pos, caja, last, &mut live_pos).await;
    events_upto(&mut floor, caja, last, &mut live_floor).await;
    let floor_attempts: Vec<Value> = live_floor
        .values()
        .filter_map(|event| event["changed"]["card_attempts"].as_array().cloned())
        .flatten()
        .collect();
    assert!(
        floor_attempts.iter().any(|a| a["id"] == approving)
            && !floor_attempts
                .iter()
                .any(|a| a["id"] == failing && a["status"] == "FAILED"),
        "the floor is shown its alerts only: {floor_attempts:?}"
    );
    for (path, live) in [
        (format!("/ws/caja/{caja}?last_seq={at}"), &live_pos),
        (format!("/ws/piso?last_seq={caja}:{at}"), &live_floor),
    ] {
        let (mut again, first) = open_screen(&app, &path, &cookie).await;
        let mut replayed = vec![first];
        while replayed.last().unwrap()["type"] != "resumed" {
            replayed.push(next_json(&mut again).await.expect("the replay"));
        }
        let replayed: std::collections::BTreeMap<i64, Value> = replayed
            .into_iter()
            .filter(|message| message["type"] == "event")
            .map(|event| (event["seq"].as_i64().unwrap(), event))
            .collect();
        let live: std::collections::BTreeMap<i64, Value> = live
            .iter()
            .filter(|(seq, _)| **seq > at)
            .map(|(seq, event)| (*seq, event.clone()))
            .collect();
        assert_eq!(replayed.len() as i64, last - at, "{path}");
        assert_eq!(replayed, live, "{path}");
    }
}
