//! One actor per register: jornadas, sessions opened and closed (the
//! runbook's PASO 6.2, checked with its own SQL), sales with idempotency
//! keys, races, and a restart that loses nothing.

use cajahub::auth::user::Role;
use diesel::RunQueryDsl;
use diesel::sql_types::{BigInt, Integer, Nullable, Text, Timestamptz};
use serde_json::{Value, json};

use crate::cajas::paso_6_1_fields;
use crate::helpers::{TestApp, Visitor, location};

/// PASO 6.2, step 6, word for word.
const PASO_6_2_OPENED: &str = "SELECT id, register_id, status, initial_cash, opened_at
FROM register_sessions
ORDER BY opened_at DESC
LIMIT 1;";

/// PASO 6.2, step 10, word for word.
const PASO_6_2_CLOSED: &str =
    "SELECT id, status, cash_count, payment_totals, ticket_count, cash_difference
FROM register_sessions
ORDER BY closed_at DESC
LIMIT 1;";

#[derive(diesel::QueryableByName, Debug)]
struct Opened {
    #[diesel(sql_type = Integer)]
    id: i32,
    #[diesel(sql_type = Integer)]
    register_id: i32,
    #[diesel(sql_type = Text)]
    status: String,
    #[diesel(sql_type = BigInt)]
    initial_cash: i64,
    #[diesel(sql_type = Timestamptz)]
    opened_at: chrono::DateTime<chrono::Utc>,
}

#[derive(diesel::QueryableByName, Debug)]
struct Closed {
    #[diesel(sql_type = Integer)]
    id: i32,
    #[diesel(sql_type = Text)]
    status: String,
    #[diesel(sql_type = Nullable<BigInt>)]
    cash_count: Option<i64>,
    #[diesel(sql_type = diesel::sql_types::Jsonb)]
    payment_totals: Value,
    #[diesel(sql_type = Integer)]
    ticket_count: i32,
    #[diesel(sql_type = Nullable<BigInt>)]
    cash_difference: Option<i64>,
}

/// A venue ready to sell: caja TEST-01 (PASO 6.1), an open jornada, and
/// a cashier. Returns the caja's id and the cashier's browser.
pub(crate) async fn venue(app: &TestApp) -> (i32, Visitor) {
    assert_eq!(
        app.post_form("/admin/cajas/crear", &paso_6_1_fields())
            .await
            .status(),
        303
    );
    let id = app.count("SELECT id::bigint AS n FROM pos_registers WHERE code = 'TEST-01'") as i32;
    let supervisor = app.visitor("supervisora", Role::Supervisor).await;
    assert_eq!(
        supervisor
            .post(app, "/admin/jornadas/abrir", &[])
            .await
            .status(),
        303
    );
    let cashier = app.visitor("cajero1", Role::Cajero).await;
    (id, cashier)
}

pub(crate) async fn open_session(
    app: &TestApp,
    who: &Visitor,
    caja: i32,
    float: &str,
) -> reqwest::Response {
    who.post(
        app,
        "/caja/session/open",
        &[("register_id", &caja.to_string()), ("initial_cash", float)],
    )
    .await
}

pub(crate) async fn sell(app: &TestApp, who: &Visitor, caja: i32, body: &Value) -> (u16, Value) {
    let response = who
        .client
        .post(app.url(&format!("/api/cajas/{caja}/sales")))
        .json(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

pub(crate) fn key() -> String {
    uuid::Uuid::new_v4().to_string()
}

pub(crate) fn cash_sale(total: i64) -> Value {
    json!({"key": key(), "total": total, "payments": [{"method": "EFECTIVO", "amount": total}]})
}

#[actix_web::test]
async fn paso_6_2_open_sell_and_close_checked_with_the_runbook_sql() {
    let app = TestApp::spawn_as_admin().await;
    let (caja, cashier) = venue(&app).await;

    let form = cashier
        .get(&app, "/caja/session/open")
        .await
        .text()
        .await
        .unwrap();
    assert!(form.contains("TEST-01"), "the caja is offered");
    let opened = open_session(&app, &cashier, caja, "50000").await;
    assert_eq!(opened.status(), 303);
    assert_eq!(location(&opened), format!("/caja/pos?caja={caja}"));

    let row: Opened = diesel::sql_query(PASO_6_2_OPENED)
        .get_result(&mut app.conn())
        .unwrap();
    assert_eq!(
        (row.register_id, row.status.as_str(), row.initial_cash),
        (caja, "OPEN", 50_000)
    );
    let session_url = format!("/caja/session/{}", row.id);
    assert!(chrono::Utc::now() - row.opened_at < chrono::Duration::minutes(1));

    // Cash rounded by law with change; a debit on the primary (GETNET); a credit on the backup (KLAP).
    let (status, ack) = sell(
        &app,
        &cashier,
        caja,
        &json!({"key": key(), "total": 12_345, "payments": [{"method": "EFECTIVO", "amount": 12_345, "tendered": 20_000}]}),
    )
    .await;
    assert_eq!(status, 201, "{ack}");
    assert_eq!(
        (
            ack["total"].as_i64(),
            ack["total_charged"].as_i64(),
            ack["change"].as_i64()
        ),
        (Some(12_345), Some(12_340), Some(7_660))
    );
    let (status, _) = sell(&app, &cashier, caja, &json!({"key": key(), "total": 10_000, "payments": [{"method": "DEBITO", "amount": 10_000, "provider": "GETNET", "authorization_code": "123456"}]})).await;
    assert_eq!(status, 201);
    let (status, _) = sell(&app, &cashier, caja, &json!({"key": key(), "total": 5_000, "payments": [{"method": "CREDITO", "amount": 5_000, "provider": "KLAP", "authorization_code": "123456"}]})).await;
    assert_eq!(status, 201);

    let close_page = cashier
        .get(&app, "/caja/session/close")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        close_page.contains(r#"id="esperado">$62.340<"#),
        "float + cash kept: {close_page}"
    );
    assert!(close_page.contains(r#"id="tickets">3<"#));

    // Counted by denomination: 3 × $20.000 + 2 × $1.000 = $62.000.
    let closed = cashier
        .post(
            &app,
            "/caja/session/close",
            &[
                ("register_id", &caja.to_string()),
                ("d20000", "3"),
                ("d1000", "2"),
            ],
        )
        .await;
    assert_eq!(closed.status(), 303);
    assert_eq!(location(&closed), session_url);

    let row: Closed = diesel::sql_query(PASO_6_2_CLOSED)
        .get_result(&mut app.conn())
        .unwrap();
    assert_eq!(row.status, "CLOSED");
    assert_eq!(row.cash_count, Some(62_000));
    assert_eq!(
        row.payment_totals,
        json!({"EFECTIVO": 12_340, "DEBITO": 10_000, "CREDITO": 5_000})
    );
    assert_eq!(row.ticket_count, 3);
    assert_eq!(row.cash_difference, Some(-340));
    assert_eq!(app.count(&format!("SELECT payment_provider_used_primary_count::bigint AS n FROM register_sessions WHERE id = {}", row.id)), 1);
    assert_eq!(app.count(&format!("SELECT payment_provider_used_backup_count::bigint AS n FROM register_sessions WHERE id = {}", row.id)), 1);

    let page = cashier.get(&app, &session_url).await.text().await.unwrap();
    assert!(
        page.contains(r#"id="diferencia">faltante $340<"#)
            && page.contains(r#"id="contado">$62.000<"#)
    );
    assert_eq!(app.count("SELECT count(*) AS n FROM audit_log WHERE action IN ('sesion.abierta', 'sesion.cerrada')"), 2);

    // Closing twice: nothing to close.
    let again = cashier
        .post(
            &app,
            "/caja/session/close",
            &[("register_id", &caja.to_string()), ("cash_count", "1")],
        )
        .await;
    assert_eq!(again.status(), 409);
}

#[actix_web::test]
async fn sessions_need_a_jornada_and_a_jornada_waits_for_its_sessions() {
    let app = TestApp::spawn_as_admin().await;
    assert_eq!(
        app.post_form("/admin/cajas/crear", &paso_6_1_fields())
            .await
            .status(),
        303
    );
    let cashier = app.visitor("cajero1", Role::Cajero).await;
    let refused = open_session(&app, &cashier, 1, "50000").await;
    assert_eq!(refused.status(), 409);
    assert!(
        refused
            .text()
            .await
            .unwrap()
            .contains("No hay una jornada abierta")
    );
    assert_eq!(app.count("SELECT count(*) AS n FROM register_sessions"), 0);

    let supervisor = app.visitor("supervisora", Role::Supervisor).await;
    assert_eq!(
        supervisor
            .post(&app, "/admin/jornadas/abrir", &[])
            .await
            .status(),
        303
    );
    assert_eq!(
        supervisor
            .post(&app, "/admin/jornadas/abrir", &[])
            .await
            .status(),
        409,
        "one at a time"
    );
    assert_eq!(
        open_session(&app, &cashier, 1, "50.000").await.status(),
        303
    );

    let jornada = app.count("SELECT id::bigint AS n FROM jornadas WHERE status = 'OPEN'");
    let blocked = supervisor
        .post(&app, &format!("/admin/jornadas/{jornada}/cerrar"), &[])
        .await;
    assert_eq!(blocked.status(), 409);
    let page = blocked.text().await.unwrap();
    assert!(
        page.contains("TEST GETNET+KLAP — abierta por cajero1"),
        "{page}"
    );

    // A supervisor closes the cashier's session (handover), then the jornada.
    let closed = supervisor
        .post(
            &app,
            "/caja/session/close",
            &[("register_id", "1"), ("cash_count", "$50.000")],
        )
        .await;
    assert_eq!(closed.status(), 303);
    assert_eq!(
        supervisor
            .post(&app, &format!("/admin/jornadas/{jornada}/cerrar"), &[])
            .await
            .status(),
        303
    );
    assert_eq!(
        app.count("SELECT count(*) AS n FROM jornadas WHERE status = 'OPEN'"),
        0
    );
    // The cashier cannot open the jornada.
    assert_eq!(
        cashier
            .post(&app, "/admin/jornadas/abrir", &[])
            .await
            .status(),
        403
    );
}

#[actix_web::test]
async fn bad_opening_and_closing_input_is_explained() {
    let app = TestApp::spawn_as_admin().await;
    let (caja, cashier) = venue(&app).await;
    for (float, message) in [
        ("-5", "pesos"),
        ("", "pesos"),
        ("abc", "pesos"),
        ("99999999999999", "pesos"),
    ] {
        let response = open_session(&app, &cashier, caja, float).await;
        assert_eq!(response.status(), 422, "{float}");
        assert!(
            response
                .text()
                .await
                .unwrap()
                .contains("initial_cash-error"),
            "{float} {message}"
        );
    }
    let response = cashier
        .post(
            &app,
            "/caja/session/open",
            &[("register_id", "x"), ("initial_cash", "1000")],
        )
        .await;
    assert_eq!(response.status(), 422);
    assert_eq!(app.count("SELECT count(*) AS n FROM register_sessions"), 0);
    assert_eq!(
        open_session(&app, &cashier, caja, "1000").await.status(),
        303
    );
    assert_eq!(
        open_session(&app, &cashier, caja, "1000").await.status(),
        409,
        "already open"
    );

    for fields in [
        vec![("cash_count", "-1")],
        vec![("cash_count", "")],
        vec![("d20000", "-2")],
        vec![("d500", "dos")],
        vec![("cash_count", "5000"), ("d1000", "4")],
    ] {
        let mut body = vec![("register_id", "1")];
        body.extend(fields.iter().copied());
        let response = cashier.post(&app, "/caja/session/close", &body).await;
        assert_eq!(response.status(), 422, "{fields:?}");
    }
    assert_eq!(
        app.count("SELECT count(*) AS n FROM register_sessions WHERE status = 'OPEN'"),
        1
    );
}

#[actix_web::test]
async fn sales_are_refused_with_a_specific_error_and_nothing_written() {
    let app = TestApp::spawn_as_admin().await;
    let (caja, cashier) = venue(&app).await;
    let (status, body) = sell(&app, &cashier, caja, &cash_sale(1_000)).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("no_open_session"))
    );
    assert_eq!(open_session(&app, &cashier, caja, "0").await.status(), 303);

    let cases = [
        (
            json!({"key": "x", "total": 100, "payments": [{"method": "EFECTIVO", "amount": 100}]}),
            "key",
        ),
        (
            json!({"key": key(), "total": 0, "payments": [{"method": "EFECTIVO", "amount": 0}]}),
            "total",
        ),
        (
            json!({"key": key(), "total": -100, "payments": [{"method": "EFECTIVO", "amount": -100}]}),
            "total",
        ),
        (
            json!({"key": key(), "total": 2_000_000_000_000_i64, "payments": [{"method": "EFECTIVO", "amount": 1}]}),
            "total",
        ),
        (
            json!({"key": key(), "total": 100, "payments": [{"method": "EFECTIVO", "amount": 60}]}),
            "payments",
        ),
        (
            json!({"key": key(), "total": 100, "payments": [{"method": "BITCOIN", "amount": 100}]}),
            "payments[0].method",
        ),
        (
            json!({"key": key(), "total": 100, "payments": [{"method": "DEBITO", "amount": 100}]}),
            "payments[0].attempt_id",
        ),
        (
            json!({"key": key(), "total": 100, "payments": [{"method": "DEBITO", "amount": 100, "authorization_code": "123456"}]}),
            "payments[0].provider",
        ),
        (
            json!({"key": key(), "total": 100, "payments": [{"method": "DEBITO", "amount": 100, "attempt_id": 99}]}),
            "payments[0].attempt_id",
        ),
    ];
    for (body, field) in cases {
        let (status, answer) = sell(&app, &cashier, caja, &body).await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(answer["field"].as_str(), Some(field), "{answer}");
        assert_eq!(answer["type"], "error");
    }
    let malformed = cashier
        .client
        .post(app.url(&format!("/api/cajas/{caja}/sales")))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), 400);
    assert_eq!(
        malformed.json::<Value>().await.unwrap()["code"],
        "invalid_json"
    );
    let (status, body) = sell(&app, &cashier, 999, &cash_sale(100)).await;
    assert_eq!((status, body["code"].as_str()), (404, Some("unknown_caja")));

    // A provider the caja does not use.
    let mut edit = paso_6_1_fields();
    edit.retain(|(k, _)| !matches!(*k, "payment_provider_backup" | "fallback_enabled"));
    edit.extend([("payment_provider_backup", ""), ("version", "1")]);
    assert_eq!(
        app.post_form(&format!("/admin/cajas/{caja}/editar"), &edit)
            .await
            .status(),
        303
    );
    let (status, body) = sell(&app, &cashier, caja, &json!({"key": key(), "total": 100, "payments": [{"method": "DEBITO", "amount": 100, "provider": "KLAP", "authorization_code": "123456"}]})).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("provider_not_configured"))
    );

    // Another cashier's session; nobody logged in.
    let other = app.visitor("cajero2", Role::Cajero).await;
    let (status, body) = sell(&app, &other, caja, &cash_sale(100)).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("not_your_session"))
    );
    let (status, body) = sell(&app, &app.anonymous(), caja, &cash_sale(100)).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("not_logged_in"))
    );

    // A caja in maintenance refuses to sell: the admin's edit reached the actor.
    let mut edit = paso_6_1_fields();
    edit.retain(|(k, _)| *k != "operational_status");
    edit.extend([("operational_status", "MAINTENANCE"), ("version", "2")]);
    assert_eq!(
        app.post_form(&format!("/admin/cajas/{caja}/editar"), &edit)
            .await
            .status(),
        303
    );
    let (status, body) = sell(&app, &cashier, caja, &cash_sale(100)).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("caja_not_active"))
    );

    assert_eq!(
        app.count("SELECT count(*) AS n FROM sales"),
        0,
        "nothing written"
    );
    assert_eq!(
        app.count("SELECT ticket_count::bigint AS n FROM register_sessions"),
        0
    );
}

#[actix_web::test]
async fn a_retried_sale_is_recorded_once_and_a_reused_key_is_refused() {
    let app = TestApp::spawn_as_admin().await;
    let (caja, cashier) = venue(&app).await;
    assert_eq!(open_session(&app, &cashier, caja, "0").await.status(), 303);
    let sale = cash_sale(4_990);
    let (first, ack) = sell(&app, &cashier, caja, &sale).await;
    assert_eq!(first, 201);
    let (again, replay) = sell(&app, &cashier, caja, &sale).await;
    assert_eq!(again, 200);
    assert_eq!(replay["sale_id"], ack["sale_id"]);
    assert_eq!(replay["seq"], ack["seq"]);
    assert_eq!(replay["replayed"], true);

    let mut other = sale.clone();
    other["total"] = json!(5_000);
    other["payments"][0]["amount"] = json!(5_000);
    let (status, body) = sell(&app, &cashier, caja, &other).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("idempotency_key_reused"))
    );

    // Ten retries at once: one sale.
    let burst = cash_sale(1_000);
    let handles: Vec<_> = (0..10)
        .map(|_| {
            let request = cashier
                .client
                .post(app.url(&format!("/api/cajas/{caja}/sales")))
                .json(&burst);
            actix_web::rt::spawn(async move {
                let response = request.send().await.unwrap();
                (
                    response.status().as_u16(),
                    response.json::<Value>().await.unwrap(),
                )
            })
        })
        .collect();
    let mut answers = Vec::new();
    for handle in handles {
        answers.push(handle.await.unwrap());
    }
    assert_eq!(answers.iter().filter(|(s, _)| *s == 201).count(), 1);
    assert!(
        answers
            .iter()
            .all(|(_, body)| body["sale_id"] == answers[0].1["sale_id"])
    );
    assert_eq!(app.count("SELECT count(*) AS n FROM sales"), 2);
    assert_eq!(
        app.count("SELECT ticket_count::bigint AS n FROM register_sessions"),
        2
    );
}

#[actix_web::test]
async fn twenty_concurrent_opens_of_one_caja_yield_one_session() {
    let app = TestApp::spawn_as_admin().await;
    let (caja, cashier) = venue(&app).await;
    let handles: Vec<_> = (0..20)
        .map(|_| {
            let body = vec![
                ("register_id".to_string(), caja.to_string()),
                ("initial_cash".to_string(), "10000".to_string()),
                ("csrf_token".to_string(), cashier.csrf.clone()),
            ];
            let request = cashier
                .client
                .post(app.url("/caja/session/open"))
                .form(&body);
            actix_web::rt::spawn(async move { request.send().await.unwrap().status().as_u16() })
        })
        .collect();
    let mut statuses = Vec::new();
    for handle in handles {
        statuses.push(handle.await.unwrap());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 303).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        19,
        "{statuses:?}"
    );
    assert_eq!(
        app.count("SELECT count(*) AS n FROM register_sessions WHERE status = 'OPEN'"),
        1
    );
}

/// 20 cajas × 200 sales at once, a third of them retried with the same key
/// (both copies in flight together): no duplicate, exact totals, and each
/// register's seq without a gap.
#[actix_web::test]
async fn concurrent_sales_on_twenty_cajas_with_retries_are_exact() {
    const CAJAS: usize = 20;
    const SALES: usize = 200;
    const WORKERS_PER_CAJA: usize = 4;
    let app = TestApp::spawn_with(crate::helpers::TestDb::migrated(), |s| s.pool_size = 16).await;
    app.log_in_as("admin", Role::Admin).await;
    app.allow_many_sessions_per_person();
    let supervisor = app.visitor("supervisora", Role::Supervisor).await;
    assert_eq!(
        supervisor
            .post(&app, "/admin/jornadas/abrir", &[])
            .await
            .status(),
        303
    );
    let mut cajas = Vec::new();
    for i in 0..CAJAS {
        let code = format!("C-{i}");
        let mut fields = paso_6_1_fields();
        fields.retain(|(k, _)| *k != "code");
        fields.push(("code", &code));
        assert_eq!(
            app.post_form("/admin/cajas/crear", &fields).await.status(),
            303
        );
        let id = app.count(&format!(
            "SELECT id::bigint AS n FROM pos_registers WHERE code = '{code}'"
        )) as i32;
        assert_eq!(open_session(&app, &supervisor, id, "0").await.status(), 303);
        cajas.push(id);
    }
    let mut workers = Vec::new();
    for &caja in &cajas {
        for worker in 0..WORKERS_PER_CAJA {
            let client = supervisor.client.clone();
            let url = app.url(&format!("/api/cajas/{caja}/sales"));
            workers.push(actix_web::rt::spawn(async move {
                let mut statuses = Vec::new();
                for n in (worker..SALES).step_by(WORKERS_PER_CAJA) {
                    let sale = cash_sale(1_000 + n as i64 * 10);
                    let send = || client.post(&url).json(&sale).send();
                    if n % 3 == 0 {
                        let (a, b) = futures_join(send(), send()).await;
                        statuses.push(a.unwrap().status().as_u16());
                        statuses.push(b.unwrap().status().as_u16());
                    } else {
                        statuses.push(send().await.unwrap().status().as_u16());
                    }
                }
                statuses
            }));
        }
    }
    for worker in workers {
        for status in worker.await.unwrap() {
            assert!(status == 201 || status == 200, "{status}");
        }
    }
    let expected_total: i64 = (0..SALES as i64).map(|n| 1_000 + n * 10).sum();
    assert_eq!(
        app.count("SELECT count(*) AS n FROM sales"),
        (CAJAS * SALES) as i64,
        "no duplicate"
    );
    for &caja in &cajas {
        let q = |sql: &str| app.count(&sql.replace("{c}", &caja.to_string()));
        assert_eq!(
            q("SELECT count(*) AS n FROM sales WHERE register_id = {c}"),
            SALES as i64
        );
        assert_eq!(
            q("SELECT ticket_count::bigint AS n FROM register_sessions WHERE register_id = {c}"),
            SALES as i64
        );
        assert_eq!(
            q("SELECT cash_sales AS n FROM register_sessions WHERE register_id = {c}"),
            expected_total
        );
        assert_eq!(
            q("SELECT sum(total)::bigint AS n FROM sales WHERE register_id = {c}"),
            expected_total
        );
        assert_eq!(
            q("SELECT count(DISTINCT seq) AS n FROM sales WHERE register_id = {c}"),
            SALES as i64
        );
        assert_eq!(
            q("SELECT (max(seq) - min(seq) + 1) AS n FROM sales WHERE register_id = {c}"),
            SALES as i64
        );
        assert_eq!(
            q("SELECT event_seq AS n FROM register_seqs WHERE register_id = {c}"),
            q("SELECT max(seq) AS n FROM sales WHERE register_id = {c}")
        );
    }
}

/// Both futures polled together, so both requests are in flight at once.
async fn futures_join<A: std::future::Future, B: std::future::Future>(
    a: A,
    b: B,
) -> (A::Output, B::Output) {
    tokio::join!(a, b)
}

/// Stop the hub mid-jornada and start it again: the open session and every
/// acknowledged sale are there, and totals and seq carry on.
#[actix_web::test]
async fn a_restart_continues_where_the_last_acknowledged_change_left_off() {
    let app = TestApp::spawn_as_admin().await;
    let (caja, _) = venue(&app).await;
    let cashier_name = "cajero1";
    let cashier = app.visitor(cashier_name, Role::Cajero).await;
    assert_eq!(
        open_session(&app, &cashier, caja, "20000").await.status(),
        303
    );
    let mut last_seq = 0;
    for total in [1_000, 2_500, 990] {
        let (status, ack) = sell(&app, &cashier, caja, &cash_sale(total)).await;
        assert_eq!(status, 201);
        last_seq = ack["seq"].as_i64().unwrap();
    }
    let app = app.restart().await;
    let snapshot: Value = cashier
        .get(&app, &format!("/api/cajas/{caja}"))
        .await
        .json()
        .await
        .unwrap();
    let register = &snapshot["register"];
    assert_eq!(register["seq"], last_seq);
    assert_eq!(register["session"]["ticket_count"], 3);
    assert_eq!(register["session"]["cash_sales"], 1_000 + 2_500 + 990);
    assert_eq!(register["session"]["initial_cash"], 20_000);
    let (status, ack) = sell(&app, &cashier, caja, &cash_sale(500)).await;
    assert_eq!(status, 201);
    assert_eq!(ack["seq"], last_seq + 1);
    assert_eq!(
        app.count("SELECT ticket_count::bigint AS n FROM register_sessions"),
        4
    );
}

/// The session's counters equal the sums over its rows (voided sales out).
pub(crate) fn assert_counters_match_rows(app: &TestApp, session: i64) {
    let row = |sql: &str| app.count(&sql.replace("{s}", &session.to_string()));
    for method in ["EFECTIVO", "DEBITO", "CREDITO", "TRANSFERENCIA"] {
        let stored = row(&format!(
            "SELECT COALESCE((payment_totals->>'{method}')::bigint, 0) AS n FROM register_sessions WHERE id = {{s}}"
        ));
        let summed = row(&format!(
            "SELECT COALESCE(sum(p.amount_charged), 0)::bigint AS n FROM sale_payments p JOIN sales s ON s.id = p.sale_id
             WHERE s.session_id = {{s}} AND s.voided_at IS NULL AND p.method = '{method}'"
        ));
        assert_eq!(stored, summed, "{method}");
        let tips = row(&format!(
            "SELECT COALESCE((tip_totals->>'{method}')::bigint, 0) AS n FROM register_sessions WHERE id = {{s}}"
        ));
        let summed = row(&format!(
            "SELECT COALESCE(sum(p.tip), 0)::bigint AS n FROM sale_payments p JOIN sales s ON s.id = p.sale_id
             WHERE s.session_id = {{s}} AND s.voided_at IS NULL AND p.method = '{method}'"
        ));
        assert_eq!(tips, summed, "tips by {method}");
    }
    assert_eq!(
        row("SELECT ticket_count::bigint AS n FROM register_sessions WHERE id = {s}"),
        row("SELECT count(*) AS n FROM sales WHERE session_id = {s} AND voided_at IS NULL")
    );
    assert_eq!(
        row("SELECT cash_sales AS n FROM register_sessions WHERE id = {s}"),
        row("SELECT COALESCE(sum(p.amount_charged), 0)::bigint AS n FROM sale_payments p JOIN sales s ON s.id = p.sale_id
             WHERE s.session_id = {s} AND s.voided_at IS NULL AND p.method = 'EFECTIVO'")
    );
    assert_eq!(
        row(
            "SELECT payment_provider_used_backup_count::bigint AS n FROM register_sessions WHERE id = {s}"
        ),
        row(
            "SELECT count(*) AS n FROM sale_payments p JOIN sales s ON s.id = p.sale_id
             WHERE s.session_id = {s} AND s.voided_at IS NULL AND p.used_backup"
        )
    );
    assert_eq!(
        row("SELECT payment_provider_used_primary_count::bigint AS n FROM register_sessions WHERE id = {s}"),
        row("SELECT count(*) AS n FROM sale_payments p JOIN sales s ON s.id = p.sale_id
             WHERE s.session_id = {s} AND s.voided_at IS NULL AND p.provider IS NOT NULL AND NOT p.used_backup")
    );
    assert_eq!(
        row("SELECT cash_in AS n FROM register_sessions WHERE id = {s}"),
        row(
            "SELECT COALESCE(sum(amount), 0)::bigint AS n FROM cash_movements WHERE session_id = {s} AND kind = 'INGRESO'"
        )
    );
    assert_eq!(
        row("SELECT cash_out AS n FROM register_sessions WHERE id = {s}"),
        row(
            "SELECT COALESCE(sum(amount), 0)::bigint AS n FROM cash_movements WHERE session_id = {s} AND kind = 'RETIRO'"
        )
    );
}

pub(crate) async fn post_json(
    app: &TestApp,
    who: &Visitor,
    path: &str,
    body: &Value,
) -> (u16, Value) {
    let response = who
        .client
        .post(app.url(path))
        .json(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// A supervisor signs a void on the cashier's device with their PIN: a
/// wrong or missing PIN voids nothing; guessing locks the PIN (not the
/// supervisor's login); the void is the supervisor's, and the audit says on
/// whose device it was signed.
#[actix_web::test]
async fn a_void_signed_with_a_supervisors_pin_on_the_cashiers_device() {
    let app = TestApp::spawn_as_admin().await;
    let (caja, cashier) = venue(&app).await;
    assert_eq!(open_session(&app, &cashier, caja, "0").await.status(), 303);
    let (_, sale) = sell(&app, &cashier, caja, &json!({"key": key(), "total": 3_000, "payments": [{"method": "EFECTIVO", "amount": 3_000}]})).await;
    let url = format!("/api/cajas/{caja}/sales/{}/void", sale["sale_id"]);
    app.create_user("supervisora", Role::Supervisor);
    app.create_user("cajero2", Role::Cajero);
    let pin = cajahub::auth::password::Pin::parse("2580".into()).unwrap();
    for who in ["supervisora", "cajero2"] {
        cajahub::auth::user::set_pin(
            &mut app.conn(),
            &cajahub::audit::Actor::command_line(),
            who,
            Some(&pin),
        )
        .unwrap();
    }
    let void = |supervisor: &str, pin: &str| json!({"key": key(), "reason": "cliente se arrepintió", "supervisor": supervisor, "pin": pin});

    for (body, status, code, field) in [
        (void("supervisora", "12a4"), 422, "invalid", "pin"),
        (void("supervisora", ""), 422, "invalid", "pin"),
        (
            void("supervisora\u{0}", "2580"),
            422,
            "invalid",
            "supervisor",
        ),
        (void("supervisora", "1111"), 403, "signature_refused", "pin"),
        (void("nadie", "2580"), 403, "signature_refused", "pin"),
        // Another cashier's PIN signs nothing.
        (void("cajero2", "2580"), 403, "signature_refused", "pin"),
    ] {
        let (got, answer) = post_json(&app, &cashier, &url, &body).await;
        assert_eq!(
            (got, answer["code"].as_str(), answer["field"].as_str()),
            (status, Some(code), Some(field)),
            "{body} → {answer}"
        );
    }
    assert_eq!(
        app.count("SELECT count(*) AS n FROM sales WHERE voided_at IS NOT NULL"),
        0
    );

    let (status, answer) = post_json(&app, &cashier, &url, &void("Supervisora", "2580")).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        app.count("SELECT count(*) AS n FROM sales s JOIN users u ON u.id = s.voided_by WHERE u.name = 'supervisora'"),
        1
    );
    assert_eq!(
        app.count("SELECT count(*) AS n FROM audit_log WHERE action = 'venta.anulada' AND actor_name = 'supervisora' AND after->>'signed_with_pin_on_device_of' = 'cajero1'"),
        1
    );

    // Guessing: five wrong PINs lock the PIN, and only the PIN.
    let (_, other) = sell(&app, &cashier, caja, &json!({"key": key(), "total": 1_000, "payments": [{"method": "EFECTIVO", "amount": 1_000}]})).await;
    let url = format!("/api/cajas/{caja}/sales/{}/void", other["sale_id"]);
    for guess in 0..5 {
        let (status, _) = post_json(
            &app,
            &cashier,
            &url,
            &void("supervisora", &format!("90{guess:02}")),
        )
        .await;
        assert_eq!(status, 403);
    }
    let (status, answer) = post_json(&app, &cashier, &url, &void("supervisora", "2580")).await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (429, Some("signature_locked")),
        "{answer}"
    );
    let login = app
        .log_in(
            &crate::helpers::new_client(),
            "supervisora",
            crate::helpers::PASSWORD,
        )
        .await;
    assert_eq!(login.status(), 303, "the supervisor still logs in");
}

#[actix_web::test]
async fn a_supervisor_voids_a_sale_and_the_totals_are_reversed() {
    let app = TestApp::spawn_as_admin().await;
    let (caja, cashier) = venue(&app).await;
    assert_eq!(
        open_session(&app, &cashier, caja, "10000").await.status(),
        303
    );
    let session = app.count("SELECT id::bigint AS n FROM register_sessions WHERE status = 'OPEN'");
    let (_, cash) = sell(&app, &cashier, caja, &cash_sale(3_333)).await;
    let (_, card) = sell(&app, &cashier, caja, &json!({"key": key(), "total": 7_000, "payments": [{"method": "CREDITO", "amount": 7_000, "provider": "KLAP", "authorization_code": "123456"}]})).await;
    let (_, kept) = sell(&app, &cashier, caja, &json!({"key": key(), "total": 2_000, "payments": [{"method": "DEBITO", "amount": 2_000, "provider": "GETNET", "authorization_code": "123456"}]})).await;
    assert!(kept["sale_id"].is_i64());
    assert_counters_match_rows(&app, session);

    let supervisor = app.visitor("supervisora", Role::Supervisor).await;
    let void = |sale: &Value| format!("/api/cajas/{caja}/sales/{}/void", sale["sale_id"]);
    let (status, body) = post_json(
        &app,
        &cashier,
        &void(&cash),
        &json!({"key": key(), "reason": "error de digitación"}),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("supervisor_only"))
    );
    let (status, body) = post_json(
        &app,
        &supervisor,
        &void(&cash),
        &json!({"key": key(), "reason": "  "}),
    )
    .await;
    assert_eq!((status, body["field"].as_str()), (422, Some("reason")));
    let (status, body) = post_json(
        &app,
        &supervisor,
        &void(&cash),
        &json!({"reason": "sin clave"}),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str(), body["field"].as_str()),
        (422, Some("invalid"), Some("key")),
        "the key is required"
    );
    let (status, body) = post_json(
        &app,
        &supervisor,
        &void(&cash),
        &json!({"key": "no-uuid", "reason": "x"}),
    )
    .await;
    assert_eq!((status, body["field"].as_str()), (422, Some("key")));
    let first = json!({"key": key(), "reason": "cliente se arrepintió"});
    let (status, voided) = post_json(&app, &supervisor, &void(&cash), &first).await;
    assert_eq!(status, 200);
    // The answer was lost: the same request again is the same void, once.
    let (status, again) = post_json(&app, &supervisor, &void(&cash), &first).await;
    assert_eq!(
        (status, &again),
        (200, &voided),
        "a retry gets the original answer"
    );
    let reused = json!({"key": first["key"], "reason": "otro motivo"});
    let (status, body) = post_json(&app, &supervisor, &void(&cash), &reused).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("idempotency_key_reused"))
    );
    let (status, body) = post_json(
        &app,
        &supervisor,
        &void(&cash),
        &json!({"key": key(), "reason": "otra vez"}),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("already_voided"))
    );
    let (status, _) = post_json(
        &app,
        &supervisor,
        &void(&card),
        &json!({"key": key(), "reason": "cobro duplicado"}),
    )
    .await;
    assert_eq!(status, 200);
    let (status, body) = post_json(
        &app,
        &supervisor,
        &format!("/api/cajas/{caja}/sales/999999/void"),
        &json!({"key": key(), "reason": "x"}),
    )
    .await;
    assert_eq!((status, body["code"].as_str()), (404, Some("unknown_sale")));

    assert_counters_match_rows(&app, session);
    assert_eq!(
        app.count(&format!(
            "SELECT ticket_count::bigint AS n FROM register_sessions WHERE id = {session}"
        )),
        1
    );
    assert_eq!(
        app.count(&format!(
            "SELECT cash_sales AS n FROM register_sessions WHERE id = {session}"
        )),
        0
    );
    assert_eq!(app.count(&format!("SELECT payment_provider_used_backup_count::bigint AS n FROM register_sessions WHERE id = {session}")), 0);
    // The voided sales stay, marked with who and why.
    assert_eq!(app.count("SELECT count(*) AS n FROM sales"), 3);
    assert_eq!(app.count("SELECT count(*) AS n FROM sales s JOIN users u ON u.id = s.voided_by WHERE u.name = 'supervisora' AND s.void_reason = 'cliente se arrepintió'"), 1);
    assert_eq!(
        app.count("SELECT count(*) AS n FROM audit_log WHERE action = 'venta.anulada'"),
        2
    );
}

#[actix_web::test]
async fn cash_movements_change_the_expected_cash_never_the_sales() {
    let app = TestApp::spawn_as_admin().await;
    let (caja, cashier) = venue(&app).await;
    assert_eq!(
        open_session(&app, &cashier, caja, "20000").await.status(),
        303
    );
    let session = app.count("SELECT id::bigint AS n FROM register_sessions WHERE status = 'OPEN'");
    sell(&app, &cashier, caja, &cash_sale(15_000)).await;
    let path = format!("/api/cajas/{caja}/cash-movements");
    let ingreso = json!({"key": key(), "kind": "INGRESO", "amount": 5_000, "reason": "sencillo"});
    let (status, ack) = post_json(&app, &cashier, &path, &ingreso).await;
    assert_eq!((status, ack["expected_cash"].as_i64()), (201, Some(40_000)));
    // Sent again (the answer was lost): recorded once, the same answer.
    let (status, again) = post_json(&app, &cashier, &path, &ingreso).await;
    assert_eq!((status, &again), (201, &ack));
    let reused =
        json!({"key": ingreso["key"], "kind": "INGRESO", "amount": 6_000, "reason": "sencillo"});
    let (status, body) = post_json(&app, &cashier, &path, &reused).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("idempotency_key_reused"))
    );
    let (status, ack) = post_json(
        &app,
        &cashier,
        &path,
        &json!({"key": key(), "kind": "RETIRO", "amount": 30_000, "reason": "a caja fuerte"}),
    )
    .await;
    assert_eq!((status, ack["expected_cash"].as_i64()), (201, Some(10_000)));
    let (status, body) = post_json(
        &app,
        &cashier,
        &path,
        &json!({"key": key(), "kind": "RETIRO", "amount": 10_001, "reason": "demasiado"}),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("not_enough_cash"))
    );
    for (body, field) in [
        (
            json!({"key": key(), "kind": "PRESTAMO", "amount": 1, "reason": "x"}),
            "kind",
        ),
        (
            json!({"key": key(), "kind": "RETIRO", "amount": 0, "reason": "x"}),
            "amount",
        ),
        (
            json!({"key": key(), "kind": "RETIRO", "amount": -5, "reason": "x"}),
            "amount",
        ),
        (
            json!({"key": key(), "kind": "RETIRO", "amount": 5, "reason": ""}),
            "reason",
        ),
        (
            json!({"key": "", "kind": "RETIRO", "amount": 5, "reason": "x"}),
            "key",
        ),
    ] {
        let (status, answer) = post_json(&app, &cashier, &path, &body).await;
        assert_eq!(
            (status, answer["field"].as_str()),
            (422, Some(field)),
            "{body}"
        );
    }
    assert_counters_match_rows(&app, session);
    assert_eq!(app.count("SELECT count(*) AS n FROM cash_movements"), 2);
    assert_eq!(
        app.count("SELECT count(*) AS n FROM audit_log WHERE action = 'efectivo.movimiento'"),
        2
    );
    assert_eq!(
        app.count(&format!(
            "SELECT ticket_count::bigint AS n FROM register_sessions WHERE id = {session}"
        )),
        1
    );
    let page = cashier
        .get(&app, "/caja/session/close")
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains(r#"id="esperado">$10.000<"#), "{page}");
}

#[actix_web::test]
async fn a_difference_beyond_the_limit_needs_a_supervisor_and_a_blind_count_hides_the_expected_cash()
 {
    let app = TestApp::spawn_as_admin().await;
    let mut fields = paso_6_1_fields();
    fields.extend([("blind_count", "on"), ("max_cash_difference", "1.000")]);
    assert_eq!(
        app.post_form("/admin/cajas/crear", &fields).await.status(),
        303
    );
    let supervisor = app.visitor("supervisora", Role::Supervisor).await;
    assert_eq!(
        supervisor
            .post(&app, "/admin/jornadas/abrir", &[])
            .await
            .status(),
        303
    );
    let cashier = app.visitor("cajero1", Role::Cajero).await;
    assert_eq!(open_session(&app, &cashier, 1, "50000").await.status(), 303);

    assert_eq!(sell(&app, &cashier, 1, &cash_sale(3_000)).await.0, 201);
    let blind = cashier
        .get(&app, "/caja/session/close")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        blind.contains("conteo-ciego") && !blind.contains("$53.000") && !blind.contains("$3.000"),
        "the cashier does not see it"
    );
    let seen = supervisor
        .get(&app, "/caja/session/close?caja=1")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        seen.contains(r#"id="esperado">$53.000<"#),
        "the supervisor does"
    );

    let within = cashier
        .post(
            &app,
            "/caja/session/close",
            &[("register_id", "1"), ("cash_count", "48000")],
        )
        .await;
    assert_eq!(within.status(), 409);
    let refusal = within.text().await.unwrap();
    assert!(refusal.contains("recuenta el efectivo"), "{refusal}");
    assert!(
        !refusal.contains("-$5.000") && !refusal.contains("$53.000"),
        "a blind count never tells the cashier the difference or the expected cash"
    );
    assert_eq!(
        app.count("SELECT count(*) AS n FROM register_sessions WHERE status = 'OPEN'"),
        1
    );

    let approved = supervisor
        .post(
            &app,
            "/caja/session/close",
            &[("register_id", "1"), ("cash_count", "48000")],
        )
        .await;
    assert_eq!(approved.status(), 303);
    assert_eq!(
        app.count("SELECT count(*) AS n FROM register_sessions s JOIN users u ON u.id = s.difference_approved_by WHERE u.name = 'supervisora' AND s.cash_difference = -5000"),
        1
    );
    // Once counted and closed, the cashier sees the cuadratura.
    let page = cashier
        .get(&app, location(&approved))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains(r#"id="diferencia">faltante $5.000<"#));
}

/// Makes the database refuse any payment of $666 (a failure of that one
/// sale's statement, after its own row went in, not of the caja).
pub fn refuse_payments_of_666(app: &TestApp) {
    diesel::connection::SimpleConnection::batch_execute(
        &mut app.conn(),
        "CREATE FUNCTION refuse_666() RETURNS trigger AS $$ BEGIN
             IF 666 = ANY (NEW.payment_amounts) THEN RAISE EXCEPTION 'disk on fire'; END IF;
             RETURN NULL; END $$ LANGUAGE plpgsql;
         CREATE TRIGGER refuse_666 AFTER INSERT ON sales FOR EACH ROW EXECUTE FUNCTION refuse_666();",
    )
    .unwrap();
}

/// A failed write answers an error, changes nothing in memory or in the
/// database, and the next sale goes on with the next seq.
#[actix_web::test]
async fn a_database_error_during_a_sale_leaves_everything_consistent() {
    let app = TestApp::spawn_as_admin().await;
    let (caja, cashier) = venue(&app).await;
    assert_eq!(open_session(&app, &cashier, caja, "0").await.status(), 303);
    let (_, first) = sell(&app, &cashier, caja, &cash_sale(1_000)).await;
    // The statement fails after the sale's own row went in.
    refuse_payments_of_666(&app);
    let (status, body) = sell(&app, &cashier, caja, &cash_sale(666)).await;
    assert_eq!((status, body["code"].as_str()), (500, Some("internal")));
    let snapshot: Value = cashier
        .get(&app, &format!("/api/cajas/{caja}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        snapshot["register"]["session"]["ticket_count"], 1,
        "memory unchanged"
    );
    assert_eq!(snapshot["register"]["seq"], first["seq"]);
    assert_eq!(
        app.count("SELECT count(*) AS n FROM sales"),
        1,
        "nothing half-written"
    );

    // Every connection of the pool killed: the next sale still goes through.
    diesel::sql_query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")
        .execute(&mut app.conn())
        .unwrap();
    let (status, next) = sell(&app, &cashier, caja, &cash_sale(2_000)).await;
    assert_eq!(status, 201, "{next}");
    assert_eq!(
        next["seq"],
        first["seq"].as_i64().unwrap() + 1,
        "no seq lost to the failure"
    );
    assert_counters_match_rows(
        &app,
        app.count("SELECT id::bigint AS n FROM register_sessions"),
    );
}

/// An extra "000": a sale above the venue's largest is refused naming the
/// total and writes nothing; one above the amount to confirm is recorded
/// and marked on the floor (and after a restart) until it is voided.
#[actix_web::test]
async fn a_typo_of_three_zeros_is_refused_and_a_large_sale_is_marked() {
    let app = TestApp::spawn_as_admin().await;
    let (caja, cashier) = venue(&app).await;
    assert_eq!(open_session(&app, &cashier, caja, "0").await.status(), 303);
    let (status, answer) = sell(&app, &cashier, caja, &cash_sale(45_000_000)).await;
    assert_eq!(
        (status, answer["code"].as_str(), answer["field"].as_str()),
        (422, Some("sale_over_limit"), Some("total")),
        "{answer}"
    );
    assert!(
        answer["message"].as_str().unwrap().contains("$5.000.000"),
        "{answer}"
    );
    assert_eq!(app.count("SELECT count(*) AS n FROM sales"), 0);
    assert_eq!(
        app.count("SELECT ticket_count::bigint AS n FROM register_sessions"),
        0
    );

    let (status, large) = sell(&app, &cashier, caja, &cash_sale(600_000)).await;
    assert_eq!(status, 201, "{large}");
    let (status, _) = sell(&app, &cashier, caja, &cash_sale(45_000)).await;
    assert_eq!(status, 201);
    let supervisor = app.visitor("supervisora", Role::Supervisor).await;
    let large_sales = |app: &TestApp, who: &Visitor| {
        let (app, who) = (app.url(&format!("/api/cajas/{caja}")), who.client.clone());
        async move {
            let snapshot: Value = who.get(app).send().await.unwrap().json().await.unwrap();
            snapshot["register"]["large_sales"].clone()
        }
    };
    let listed = large_sales(&app, &supervisor).await;
    assert_eq!(
        (
            listed[0]["id"].clone(),
            listed[0]["total_charged"].clone(),
            listed.as_array().map(Vec::len)
        ),
        (large["sale_id"].clone(), json!(600_000), Some(1)),
        "{listed}"
    );
    let app = app.restart().await;
    let supervisor = app.visitor("supervisora", Role::Supervisor).await;
    assert_eq!(
        large_sales(&app, &supervisor).await,
        listed,
        "reloaded as it was"
    );
    let path = format!("/api/cajas/{caja}/sales/{}/void", large["sale_id"]);
    let (status, answer) = post_json(
        &app,
        &supervisor,
        &path,
        &json!({"key": key(), "reason": "un 000 de más"}),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(large_sales(&app, &supervisor).await, json!([]));
}

/// One open session per person by default, kept by the database: a second
/// caja is refused with the caja already open named, two cajas opening for
/// the same cashier at once open one, and a row written behind the hub's
/// back is refused too. An admin may allow several (audited), and bad
/// input on the settings form names its field.
#[actix_web::test]
async fn one_open_session_per_person_unless_the_venue_allows_more() {
    let app = TestApp::spawn_as_admin().await;
    let (first, cashier) = venue(&app).await;
    crate::cajas::create_cajas(&app, 2).await;
    let second = app.count("SELECT id::bigint AS n FROM pos_registers WHERE code = 'C-01'") as i32;
    let third = app.count("SELECT id::bigint AS n FROM pos_registers WHERE code = 'C-02'") as i32;
    let open_sessions = |app: &TestApp| {
        app.count(
            "SELECT count(*) AS n FROM register_sessions s JOIN users u ON u.id = s.opened_by \
             WHERE u.name = 'cajero1' AND s.status = 'OPEN'",
        )
    };

    assert_eq!(open_session(&app, &cashier, first, "0").await.status(), 303);
    let refused = open_session(&app, &cashier, second, "0").await;
    assert_eq!(refused.status(), 409);
    let page = refused.text().await.unwrap();
    assert!(
        page.contains("Ya tienes una sesión abierta en TEST GETNET+KLAP"),
        "{page}"
    );
    assert_eq!(open_sessions(&app), 1);
    // Behind the hub's back, the database itself refuses.
    let mut conn = app.conn();
    let direct = diesel::sql_query(format!(
        "INSERT INTO register_sessions (register_id, status, initial_cash, opened_by) \
         SELECT {second}, 'OPEN', 0, id FROM users WHERE name = 'cajero1'"
    ))
    .execute(&mut conn);
    assert!(
        matches!(
            &direct,
            Err(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                info
            )) if info.constraint_name() == Some("one_open_session_per_cashier")
        ),
        "{direct:?}"
    );

    // Two cajas opening for the same person at once: one opens.
    let supervisor = app.visitor("supervisora", Role::Supervisor).await;
    for round in 0..5 {
        assert_eq!(
            supervisor
                .post(
                    &app,
                    "/caja/session/close",
                    &[("register_id", &first.to_string()), ("cash_count", "0")],
                )
                .await
                .status(),
            303,
            "round {round}"
        );
        assert_eq!(open_sessions(&app), 0);
        let (a, b) = tokio::join!(
            open_session(&app, &cashier, first, "0"),
            open_session(&app, &cashier, second, "0")
        );
        let mut statuses = [a.status().as_u16(), b.status().as_u16()];
        statuses.sort_unstable();
        assert_eq!(statuses, [303, 409], "round {round}");
        assert_eq!(open_sessions(&app), 1, "round {round}");
        // Whichever won, the first caja holds the session for the next round.
        if app.count(&format!(
            "SELECT count(*) AS n FROM register_sessions WHERE register_id = {second} AND status = 'OPEN'"
        )) == 1
        {
            assert_eq!(
                supervisor
                    .post(
                        &app,
                        "/caja/session/close",
                        &[("register_id", &second.to_string()), ("cash_count", "0")],
                    )
                    .await
                    .status(),
                303
            );
            assert_eq!(open_session(&app, &cashier, first, "0").await.status(), 303);
        }
    }

    // The settings page: a value it does not offer names the field.
    let page = app.get("/admin/local").await.text().await.unwrap();
    assert!(page.contains(r#"value="one" checked"#), "{page}");
    let bad = app
        .post_form("/admin/local", &[("sessions_per_person", "dos")])
        .await;
    assert_eq!(bad.status(), 422);
    assert!(
        bad.text()
            .await
            .unwrap()
            .contains("sessions_per_person-error")
    );
    assert_eq!(cashier.get(&app, "/admin/local").await.status(), 403);
    let saved = app
        .post_form("/admin/local", &[("sessions_per_person", "many")])
        .await;
    assert_eq!(saved.status(), 303);
    assert_eq!(
        app.count(
            "SELECT count(*) AS n FROM audit_log WHERE action = 'local.ajustes' \
             AND before->>'sessions_per_person' = 'one' AND after->>'sessions_per_person' = 'many'"
        ),
        1
    );
    assert!(
        app.get("/admin/local?aviso=guardado")
            .await
            .text()
            .await
            .unwrap()
            .contains("Ajustes guardados.")
    );
    assert_eq!(
        open_session(&app, &cashier, second, "0").await.status(),
        303
    );
    assert_eq!(open_session(&app, &cashier, third, "0").await.status(), 303);
    assert_eq!(open_sessions(&app), 3);
    // Back to one: the sessions open stay open, the next one is refused.
    assert_eq!(
        app.post_form("/admin/local", &[("sessions_per_person", "one")])
            .await
            .status(),
        303
    );
    assert_eq!(open_sessions(&app), 3);
    assert_eq!(
        app.count("SELECT count(*) AS n FROM audit_log WHERE action = 'local.ajustes'"),
        2
    );
}
