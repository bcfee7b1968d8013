//! What a hostile tester tried, each shown fixed: the blind count hidden on
//! the server, a caja's screen that ends with its session, logins that end
//! on logout, redirects and input that cannot break a header or answer 500,
//! strict money, a login flood that keeps the hub's memory bounded, equal
//! work for every failed login, the trusted proxy, cross-site API calls,
//! log levels, and the id on every refused socket command.

use std::time::Duration;

use awc::ws::Message;
use cajahub::auth::user::Role;
use futures_util::SinkExt;
use serde_json::{Value, json};

use crate::cajas::paso_6_1_fields;
use crate::helpers::{
    HubProcess, PASSWORD, TestApp, TestDb, cookie_of, csrf_in, free_address, location, new_client,
};
use crate::registers::{cash_sale, key, open_session, post_json, sell};
use crate::screens::{connect, next_json};

/// A blind-count caja (with a $1.000 limit) in an open jornada; a cashier
/// with a session on it and a supervisor.
async fn blind_venue(app: &TestApp) -> (crate::helpers::Visitor, crate::helpers::Visitor) {
    let mut fields = paso_6_1_fields();
    fields.extend([("blind_count", "on"), ("max_cash_difference", "1.000")]);
    assert_eq!(
        app.post_form("/admin/cajas/crear", &fields).await.status(),
        303
    );
    let supervisor = app.visitor("supervisora", Role::Supervisor).await;
    assert_eq!(
        supervisor
            .post(app, "/admin/jornadas/abrir", &[])
            .await
            .status(),
        303
    );
    let cashier = app.visitor("cajero1", Role::Cajero).await;
    assert_eq!(open_session(app, &cashier, 1, "50000").await.status(), 303);
    (cashier, supervisor)
}

/// The fields of a register that add up to the expected cash.
fn cash_fields(register: &Value) -> Vec<String> {
    let session = &register["session"];
    let mut found: Vec<String> = ["initial_cash", "cash_sales", "cash_in", "cash_out"]
        .into_iter()
        .filter(|field| session.get(field).is_some())
        .map(str::to_owned)
        .collect();
    if session["payment_totals"].get("EFECTIVO").is_some() {
        found.push("payment_totals.EFECTIVO".into());
    }
    found
}

/// Whether any value in `message` carries one of `figures`: a number or a
/// text holding its digits. A timestamp is no such text (its
/// microseconds may hold any digits, "…40.460006Z").
fn tells_any(message: &Value, figures: &[&str]) -> bool {
    match message {
        Value::Number(n) => {
            let digits = n.to_string();
            figures.iter().any(|figure| digits.contains(figure))
        }
        Value::String(text) => {
            chrono::DateTime::parse_from_rfc3339(text).is_err()
                && figures.iter().any(|figure| text.contains(figure))
        }
        Value::Array(items) => items.iter().any(|item| tells_any(item, figures)),
        Value::Object(fields) => fields.values().any(|value| tells_any(value, figures)),
        Value::Bool(_) | Value::Null => false,
    }
}

#[actix_web::test]
async fn a_blind_count_cashier_never_receives_the_expected_cash_or_what_adds_up_to_it() {
    let app = TestApp::spawn_as_admin().await;
    let (cashier, supervisor) = blind_venue(&app).await;
    assert_eq!(sell(&app, &cashier, 1, &cash_sale(3_000)).await.0, 201);
    let card = json!({"key": key(), "total": 7_000, "payments": [{"method": "DEBITO", "amount": 7_000, "provider": "GETNET", "authorization_code": "123456"}]});
    assert_eq!(sell(&app, &cashier, 1, &card).await.0, 201);

    // The snapshot over HTTP.
    let theirs: Value = cashier
        .get(&app, "/api/cajas/1")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        cash_fields(&theirs["register"]),
        Vec::<String>::new(),
        "{theirs}"
    );
    assert_eq!(
        theirs["register"]["session"]["payment_totals"]["DEBITO"], 7_000,
        "card totals are theirs to see"
    );
    assert_eq!(theirs["register"]["session"]["ticket_count"], 2);
    let full: Value = supervisor
        .get(&app, "/api/cajas/1")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        cash_fields(&full["register"]).len(),
        5,
        "a supervisor sees everything"
    );
    assert_eq!(full["register"]["session"]["cash_sales"], 3_000);

    // The POS socket: snapshot, events, and a replay after a reconnect.
    let cookie = app.session_cookie("cajero1", Role::Cajero).await;
    let mut pos = connect(&app, "/ws/caja/1", Some(&cookie), Some(&app.address))
        .await
        .unwrap();
    let snapshot = next_json(&mut pos).await.unwrap();
    assert_eq!(
        cash_fields(&snapshot["registers"][0]),
        Vec::<String>::new(),
        "{snapshot}"
    );
    let seq = snapshot["registers"][0]["seq"].as_i64().unwrap();
    let movement = json!({"key": key(), "kind": "INGRESO", "amount": 2_000, "reason": "sencillo"});
    let (status, ack) = post_json(&app, &cashier, "/api/cajas/1/cash-movements", &movement).await;
    assert_eq!(status, 201);
    assert!(
        ack.get("expected_cash").is_none(),
        "the ack tells no expected cash: {ack}"
    );
    assert_eq!(sell(&app, &cashier, 1, &cash_sale(1_000)).await.0, 201);
    for _ in 0..2 {
        let event = next_json(&mut pos).await.unwrap();
        assert_eq!(event["type"], "event");
        assert!(
            event["changed"]["session"]["ticket_count"].is_i64(),
            "{event}"
        );
        assert_eq!(
            cash_fields(&event["changed"]),
            Vec::<String>::new(),
            "{event}"
        );
        assert!(!tells_any(&event, &["56000", "6000"]), "{event}");
    }
    let mut resumed = connect(
        &app,
        &format!("/ws/caja/1?last_seq={seq}"),
        Some(&cookie),
        Some(&app.address),
    )
    .await
    .unwrap();
    for _ in 0..2 {
        let event = next_json(&mut resumed).await.unwrap();
        assert_eq!(event["type"], "event");
        assert!(
            event["changed"]["session"]["ticket_count"].is_i64(),
            "{event}"
        );
        assert_eq!(
            cash_fields(&event["changed"]),
            Vec::<String>::new(),
            "replayed: {event}"
        );
    }

    // Refusals do not state the amounts either.
    let too_much = json!({"key": key(), "kind": "RETIRO", "amount": 900_000, "reason": "todo"});
    let (status, body) = post_json(&app, &cashier, "/api/cajas/1/cash-movements", &too_much).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("not_enough_cash"))
    );
    assert!(!body["message"].as_str().unwrap().contains('$'), "{body}");
    let (_, body) = post_json(
        &app,
        &supervisor,
        "/api/cajas/1/cash-movements",
        &json!({"key": key(), "kind": "RETIRO", "amount": 900_000, "reason": "todo"}),
    )
    .await;
    assert!(
        body["message"].as_str().unwrap().contains("$56.000"),
        "a supervisor is told: {body}"
    );

    // The session's page: no cash totals for the cashier while it is open.
    let session = app.count("SELECT id::bigint AS n FROM register_sessions WHERE status = 'OPEN'");
    let page = cashier
        .get(&app, &format!("/caja/session/{session}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("id=\"conteo-ciego\""), "{page}");
    // Nor anything that adds up to it: the float, each sale's amount, the
    // movements' amounts (docs/architecture.md, "A blind count").
    for hidden in [
        "$4.000",
        "$56.000",
        "$50.000",
        "$3.000",
        "$1.000",
        "$2.000",
        "id=\"esperado\"",
        "id=\"fondo\"",
        "Efectivo de ventas",
        "data-label=\"Monto\"",
    ] {
        assert!(!page.contains(hidden), "{hidden} shown: {page}");
    }
    assert!(
        page.contains("id=\"ventas\""),
        "the sales are listed: {page}"
    );
    let page = supervisor
        .get(&app, &format!("/caja/session/{session}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("id=\"esperado\"") && page.contains("$56.000"));
    assert!(page.contains("id=\"fondo\"") && page.contains("data-label=\"Monto\""));
}

async fn close(app: &TestApp, who: &crate::helpers::Visitor, count: &str) -> reqwest::Response {
    who.post(
        app,
        "/caja/session/close",
        &[("register_id", "1"), ("cash_count", count)],
    )
    .await
}

/// Each refused count of a blind closing tells the cashier where the
/// expected cash is not: every refusal is audited, and after three only a
/// supervisor may close the session (the count is not tried again).
#[actix_web::test]
async fn refused_closings_are_audited_and_three_hand_the_closing_to_a_supervisor() {
    let app = TestApp::spawn_as_admin().await;
    let (cashier, supervisor) = blind_venue(&app).await;
    let session = app.count("SELECT id::bigint AS n FROM register_sessions WHERE status = 'OPEN'");
    for guess in ["10000", "90000", "30000"] {
        let refused = close(&app, &cashier, guess).await;
        assert_eq!(refused.status(), 409, "{guess}");
    }
    let refusals = |app: &TestApp| {
        app.count(&format!(
            "SELECT count(*) AS n FROM audit_log WHERE action = 'sesion.cierre_rechazado' \
             AND entity_id = '{session}' AND actor_name = 'cajero1'"
        ))
    };
    assert_eq!(refusals(&app), 3);
    assert_eq!(
        app.count(&format!(
            "SELECT (after->>'cash_count')::bigint AS n FROM audit_log \
             WHERE action = 'sesion.cierre_rechazado' AND entity_id = '{session}' ORDER BY id LIMIT 1"
        )),
        10_000
    );
    // The fourth is not tried, even with the right count; it is audited too.
    let held = close(&app, &cashier, "50000").await;
    assert_eq!(held.status(), 429);
    let page = held.text().await.unwrap();
    assert!(page.contains("pide a un supervisor"), "{page}");
    assert_eq!(refusals(&app), 4);
    assert_eq!(
        app.count("SELECT count(*) AS n FROM register_sessions WHERE status = 'OPEN'"),
        1
    );
    // Parallel tries of a locked closing are all refused and all audited.
    let tries =
        futures_util::future::join_all((0..5).map(|_| close(&app, &cashier, "50000"))).await;
    assert!(tries.iter().all(|r| r.status() == 429));
    assert_eq!(refusals(&app), 9);
    // A supervisor closes it.
    assert_eq!(close(&app, &supervisor, "50000").await.status(), 303);
}

/// c1's POS socket on caja A gets the closing of c1's session and is closed;
/// it never hears of c2's session on the same caja.
#[actix_web::test]
async fn a_cashiers_screen_ends_with_their_session() {
    let app = TestApp::spawn_as_admin().await;
    let (caja, first) = crate::registers::venue(&app).await;
    assert_eq!(open_session(&app, &first, caja, "0").await.status(), 303);
    let cookie = app.session_cookie("cajero1", Role::Cajero).await;
    let mut screen = connect(
        &app,
        &format!("/ws/caja/{caja}"),
        Some(&cookie),
        Some(&app.address),
    )
    .await
    .unwrap();
    assert_eq!(next_json(&mut screen).await.unwrap()["type"], "snapshot");

    let supervisor = app.visitor("supervisora", Role::Supervisor).await;
    let closed = supervisor
        .post(
            &app,
            "/caja/session/close",
            &[("register_id", &caja.to_string()), ("cash_count", "0")],
        )
        .await;
    assert_eq!(closed.status(), 303);
    let second = app.visitor("cajero2", Role::Cajero).await;
    assert_eq!(
        open_session(&app, &second, caja, "1000").await.status(),
        303
    );
    assert_eq!(sell(&app, &second, caja, &cash_sale(4_000)).await.0, 201);

    let closing = next_json(&mut screen).await.expect("the closing");
    assert_eq!(
        (closing["type"].as_str(), closing["change"].as_str()),
        (Some("event"), Some("session_closed"))
    );
    assert!(
        next_json(&mut screen).await.is_none(),
        "then the socket is closed: nothing of cajero2"
    );
}

/// A cookie copied before logging out is worth nothing after; an admin sees
/// a user's open logins and ends one, which also closes its live screens.
#[actix_web::test]
async fn logging_out_ends_the_login_on_the_server_and_admins_can_end_logins() {
    let app = TestApp::spawn_with(TestDb::migrated(), |settings| {
        settings.screen_timeout = Duration::from_millis(400);
    })
    .await;
    app.log_in_as("admin", Role::Admin).await;
    let copied = app.session_cookie("supervisora", Role::Supervisor).await;
    let with_cookie = |path: &str| {
        new_client()
            .get(app.url(path))
            .header("cookie", copied.clone())
            .send()
    };
    assert_eq!(with_cookie("/admin/piso").await.unwrap().status(), 200);
    // The supervisor logs out in their browser (the same cookie).
    // The page's token is kept in the cookie the page comes with.
    let home = with_cookie("/").await.unwrap();
    let current = cookie_of(&home).unwrap_or_else(|| copied.clone());
    let home = home.text().await.unwrap();
    let out = new_client()
        .post(app.url("/logout"))
        .header("cookie", current)
        .form(&[("csrf_token", csrf_in(&home).unwrap())])
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 303);
    let after = with_cookie("/admin/piso").await.unwrap();
    assert_eq!(after.status(), 303, "the copy is logged out too");
    assert!(location(&after).starts_with("/login"));

    // Two logins of a cashier, a phone's and then a tablet's; the admin
    // sees both (newest first) and ends the phone's.
    let phone = app.session_cookie("cajero1", Role::Cajero).await;
    let tablet = app.visitor("cajero1", Role::Cajero).await;
    let user = app.count("SELECT id::bigint AS n FROM users WHERE name = 'cajero1'");
    let page = app
        .get(&format!("/admin/usuarios/{user}"))
        .await
        .text()
        .await
        .unwrap();
    let listed: Vec<&str> = page
        .split("/ingresos/")
        .skip(1)
        .map(|rest| rest.split('/').next().unwrap())
        .collect();
    assert_eq!(listed.len(), 2, "both logins are listed: {page}");
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
    assert_eq!(open_session(&app, &tablet, 1, "0").await.status(), 303);
    let mut screen = connect(&app, "/ws/caja/1", Some(&phone), Some(&app.address))
        .await
        .unwrap();
    next_json(&mut screen).await.unwrap();
    let response = app
        .post_form(
            &format!("/admin/usuarios/{user}/ingresos/{}/cerrar", listed[1]),
            &[],
        )
        .await;
    assert_eq!(response.status(), 303);
    let gone = new_client()
        .get(app.url("/"))
        .header("cookie", phone.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 303, "the ended login is out");
    assert_eq!(
        tablet.get(&app, "/caja/session/close").await.status(),
        200,
        "the other one is not"
    );
    // Its live screen closes at the next account check.
    while next_json(&mut screen).await.is_some() {}
    // Ending it again, or a login of someone else, is a 404.
    let again = app
        .post_form(
            &format!("/admin/usuarios/{user}/ingresos/{}/cerrar", listed[1]),
            &[],
        )
        .await;
    assert_eq!(again.status(), 404);
    assert_eq!(
        app.count("SELECT count(*) AS n FROM audit_log WHERE action = 'usuario.ingreso.cerrado'"),
        1
    );
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM logins WHERE user_id = {user} AND ended_at IS NULL"
        )),
        1
    );
}

/// After login only a same-site path of safe characters is followed.
#[actix_web::test]
async fn redirects_after_login_stay_on_the_hub_whatever_is_smuggled_in() {
    let app = TestApp::spawn().await;
    app.create_user("admin", Role::Admin);
    for (next, expected) in [
        ("/\t/evil.example", "/"),
        ("/%09/evil.example", "/"),
        ("/\r\nX: 1", "/"),
        ("/%0d%0aX:1", "/"),
        ("//evil.example", "/"),
        ("/\\evil.example", "/"),
        ("/admin/cajas/?aviso=creada", "/admin/cajas/?aviso=creada"),
    ] {
        let client = new_client();
        let response = app.log_in_to(&client, "admin", PASSWORD, next).await;
        assert_eq!(response.status(), 303, "{next:?}");
        assert_eq!(location(&response), expected, "{next:?}");
    }
    // The login page asked with a control character in its query: a 400 page.
    let response = app.get("/login?next=/%0d%0aX:1").await;
    assert_eq!(response.status(), 400);
    assert!(response.headers().get("x").is_none(), "no header injected");
}

/// Control characters in any text input get a clear answer, never a 500,
/// and nothing of them is stored.
#[actix_web::test]
async fn control_characters_in_every_form_field_are_refused_clearly() {
    let app = TestApp::spawn_as_admin().await;
    let (caja, cashier) = crate::registers::venue(&app).await;
    let caja_id = caja.to_string();
    let version = app
        .count("SELECT version::bigint AS n FROM pos_registers WHERE id = 1")
        .to_string();
    let mut edit = paso_6_1_fields();
    edit.push(("version", &version));
    let forms: Vec<(String, Vec<(&str, &str)>)> = vec![
        ("/admin/cajas/crear".into(), paso_6_1_fields()),
        (format!("/admin/cajas/{caja}/editar"), edit),
        (
            "/caja/session/open".into(),
            vec![
                ("register_id", &caja_id),
                ("initial_cash", "1000"),
                ("key", ""),
            ],
        ),
        (
            "/caja/session/close".into(),
            vec![
                ("register_id", &caja_id),
                ("cash_count", "0"),
                ("d1000", "1"),
            ],
        ),
        (
            "/admin/ventas-marcadas/1/resolver".into(),
            vec![("resolution", "registrada a mano")],
        ),
        ("/admin/jornadas/abrir".into(), vec![]),
    ];
    for (path, fields) in &forms {
        for (field, _) in fields {
            for bad in [
                "a\u{0}b",
                "a\r\nX: b",
                "a\u{202E}b",
                "a\u{200B}b",
                "a\u{2028}b",
                "\u{FEFF}ab",
            ] {
                let body: Vec<(&str, &str)> = fields
                    .iter()
                    .map(|(name, value)| (*name, if name == field { bad } else { *value }))
                    .collect();
                let response = app.post_form(path, &body).await;
                let status = response.status().as_u16();
                assert!(
                    status < 500,
                    "{path} {field}={bad:?}: {status} {}",
                    response.text().await.unwrap_or_default()
                );
            }
        }
    }
    // Nothing invisible was stored: a name that reads one way on a screen
    // and another in a log, or holds a forged line, is refused.
    assert_eq!(
        app.count(
            "SELECT count(*) AS n FROM pos_registers \
             WHERE name ~ ('[' || chr(10) || chr(8238) || chr(8203) || chr(8232) || chr(65279) || ']')"
        ),
        0
    );
    let mut spoofed = paso_6_1_fields();
    for (name, value) in spoofed.iter_mut() {
        if *name == "name" {
            *value = "Barra\u{202E}2 ajaC";
        }
    }
    let refused = app.post_form("/admin/cajas/crear", &spoofed).await;
    assert_eq!(refused.status(), 422);
    assert!(refused.text().await.unwrap().contains("invisibles"));
    // The login name, with a NUL byte or a tab: a clear message, no 500.
    let response = app.log_in(&new_client(), "a\u{0}b", "x").await;
    assert_eq!(response.status(), 400);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("el campo «name» tiene un carácter no válido")
    );
    let response = app.log_in(&new_client(), "a\tb", "x").await;
    assert_eq!(response.status(), 422);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("caracteres de control")
    );
    // JSON text fields: the field named.
    assert_eq!(open_session(&app, &cashier, caja, "0").await.status(), 303);
    for (path, body, field) in [
        (
            format!("/api/cajas/{caja}/cash-movements"),
            json!({"key": key(), "kind": "RETIRO", "amount": 1, "reason": "a\u{0}b"}),
            "reason",
        ),
        (
            format!("/api/cajas/{caja}/cash-movements"),
            json!({"key": key(), "kind": "RETIRO", "amount": 1, "reason": "a\nb"}),
            "reason",
        ),
        (
            format!("/api/cajas/{caja}/cash-movements"),
            json!({"key": key(), "kind": "RETIRO", "amount": 1, "reason": "a\u{202E}b"}),
            "reason",
        ),
        (
            format!("/api/cajas/{caja}/cash-movements"),
            json!({"key": "a\u{0}", "kind": "RETIRO", "amount": 1, "reason": "x"}),
            "key",
        ),
    ] {
        let (status, answer) = post_json(&app, &cashier, &path, &body).await;
        assert_eq!(
            (status, answer["field"].as_str()),
            (422, Some(field)),
            "{body}: {answer}"
        );
    }
    // A query string with a NUL byte: a 400 page, not a database error.
    assert_eq!(app.get("/admin/auditoria?quien=a%00b").await.status(), 400);
}

/// `$1.500` is fifteen hundred; `1.5` is an error naming its field, never a guess.
#[actix_web::test]
async fn money_in_any_malformed_shape_is_refused_with_its_field() {
    let app = TestApp::spawn_as_admin().await;
    let (caja, cashier) = crate::registers::venue(&app).await;
    let caja_id = caja.to_string();
    for bad in ["1.5", "1,5", "1.50.0", "-0", "+5", "-5", "5e3", "1 000"] {
        let response = cashier
            .post(
                &app,
                "/caja/session/open",
                &[("register_id", &caja_id), ("initial_cash", bad)],
            )
            .await;
        assert_eq!(response.status(), 422, "float {bad:?}");
        assert!(
            response
                .text()
                .await
                .unwrap()
                .contains("initial_cash-error"),
            "{bad}"
        );
    }
    assert_eq!(app.count("SELECT count(*) AS n FROM register_sessions"), 0);
    assert_eq!(
        open_session(&app, &cashier, caja, "$1.500").await.status(),
        303
    );
    assert_eq!(
        app.count("SELECT initial_cash AS n FROM register_sessions"),
        1_500
    );

    for bad in ["1.5", "1,5", "1.50.0", "-0", "+1500"] {
        let response = cashier
            .post(
                &app,
                "/caja/session/close",
                &[("register_id", &caja_id), ("cash_count", bad)],
            )
            .await;
        assert_eq!(response.status(), 422, "count {bad:?}");
        let response = cashier
            .post(
                &app,
                "/caja/session/close",
                &[("register_id", &caja_id), ("d1000", bad)],
            )
            .await;
        assert_eq!(response.status(), 422, "bills {bad:?}");
        assert!(
            response
                .text()
                .await
                .unwrap()
                .contains("denominations-error")
        );
    }
    assert_eq!(
        app.count("SELECT count(*) AS n FROM register_sessions WHERE status = 'CLOSED'"),
        0
    );

    let movement =
        |amount: Value| json!({"key": key(), "kind": "INGRESO", "amount": amount, "reason": "x"});
    for (amount, status) in [
        (json!(1.5), 422),
        (json!("1.500"), 422),
        (json!(-5), 422),
        (json!(1e20), 422),
    ] {
        let (got, body) = post_json(
            &app,
            &cashier,
            &format!("/api/cajas/{caja}/cash-movements"),
            &movement(amount.clone()),
        )
        .await;
        assert_eq!(
            (got, body["field"].as_str()),
            (status, Some("amount")),
            "{amount}: {body}"
        );
    }
    let sale = |total: Value, amount: Value, tendered: Value| json!({"key": key(), "total": total, "payments": [{"method": "EFECTIVO", "amount": amount, "tendered": tendered}]});
    for (body, field) in [
        (sale(json!(1.5), json!(1), json!(null)), "total"),
        (
            sale(json!(1500), json!(1500.0), json!(null)),
            "payments[0].amount",
        ),
        (
            sale(json!(1500), json!(1500), json!("2.000")),
            "payments[0].tendered",
        ),
        (sale(json!(-1500), json!(1500), json!(null)), "total"),
    ] {
        let (status, answer) = sell(&app, &cashier, caja, &body).await;
        assert_eq!(
            (status, answer["code"].as_str(), answer["field"].as_str()),
            (422, Some("invalid_sale"), Some(field)),
            "{body}: {answer}"
        );
    }
    // Over the socket, the same, prefixed by the command's field.
    let cookie = app.session_cookie("cajero1", Role::Cajero).await;
    let mut pos = connect(
        &app,
        &format!("/ws/caja/{caja}"),
        Some(&cookie),
        Some(&app.address),
    )
    .await
    .unwrap();
    next_json(&mut pos).await.unwrap();
    let command =
        json!({"type": "sale", "id": "c-1", "sale": sale(json!(1500), json!(1.5), json!(null))});
    pos.send(Message::Text(command.to_string().into()))
        .await
        .unwrap();
    let answer = next_json(&mut pos).await.unwrap();
    assert_eq!(
        (
            answer["id"].as_str(),
            answer["code"].as_str(),
            answer["field"].as_str()
        ),
        (
            Some("c-1"),
            Some("invalid_sale"),
            Some("sale.payments[0].amount")
        ),
        "{answer}"
    );
    assert_eq!(app.count("SELECT count(*) AS n FROM sales"), 0);
}

/// Every failed login does the same work, whatever the account: two
/// password verifications (an unknown name, an admin, a cashier without a
/// PIN, a cashier with one).
#[actix_web::test]
async fn a_failed_login_costs_the_same_whatever_the_account() {
    use cajahub::auth::password::{LOGIN_VERIFICATIONS, Pin};
    let app = TestApp::spawn().await;
    app.create_user("admin", Role::Admin);
    app.create_user("sin-pin", Role::Cajero);
    app.create_user("con-pin", Role::Cajero);
    cajahub::auth::user::set_pin(
        &mut app.conn(),
        &cajahub::audit::Actor::command_line(),
        "con-pin",
        Some(&Pin::parse("4321".into()).unwrap()),
    )
    .unwrap();
    for name in ["nadie", "admin", "sin-pin", "con-pin"] {
        let before = app.state.password_checks.verifications();
        let response = app.log_in(&new_client(), name, "no-es-la-clave").await;
        assert_eq!(response.status(), 401, "{name}");
        assert_eq!(
            app.state.password_checks.verifications() - before,
            LOGIN_VERIFICATIONS,
            "{name}"
        );
    }
    let before = app.state.password_checks.verifications();
    assert_eq!(
        app.log_in(&new_client(), "con-pin", "4321").await.status(),
        303,
        "the PIN works"
    );
    assert_eq!(
        app.state.password_checks.verifications() - before,
        LOGIN_VERIFICATIONS
    );
}

/// Behind a trusted proxy the client's address is the one it forwarded;
/// from anyone else `X-Forwarded-For` is ignored.
#[actix_web::test]
async fn the_client_address_comes_from_a_trusted_proxy_only() {
    let failures_from = |app: &TestApp, address: &str| {
        app.count(&format!(
            "SELECT count(*) AS n FROM login_failures WHERE address = '{address}'"
        ))
    };
    let fail = |app: &TestApp, forwarded: &'static str| {
        let url = app.url("/login");
        async move {
            let client = new_client();
            let page = client.get(&url).send().await.unwrap();
            let cookie = cookie_of(&page).unwrap();
            let token = csrf_in(&page.text().await.unwrap()).unwrap();
            client
                .post(&url)
                .header("cookie", cookie)
                .header("x-forwarded-for", forwarded)
                .form(&[
                    ("csrf_token", token.as_str()),
                    ("name", "nadie"),
                    ("secret", "x"),
                ])
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    let direct = TestApp::spawn().await;
    assert_eq!(fail(&direct, "203.0.113.7").await, 401);
    assert_eq!(
        failures_from(&direct, "127.0.0.1"),
        1,
        "no proxy trusted: the peer"
    );
    assert_eq!(failures_from(&direct, "203.0.113.7"), 0);

    let proxied = TestApp::spawn_with(TestDb::migrated(), |settings| {
        settings.trusted_proxy = vec!["127.0.0.1".parse().unwrap()];
    })
    .await;
    // A client may send its own header; nginx appends the real address.
    assert_eq!(fail(&proxied, "198.51.100.1, 203.0.113.7").await, 401);
    assert_eq!(
        failures_from(&proxied, "203.0.113.7"),
        1,
        "the address nginx saw"
    );
    assert_eq!(failures_from(&proxied, "127.0.0.1"), 0);
    proxied.create_user("admin", Role::Admin);
    let client = new_client();
    let page = client.get(proxied.url("/login")).send().await.unwrap();
    let cookie = cookie_of(&page).unwrap();
    let token = csrf_in(&page.text().await.unwrap()).unwrap();
    let response = client
        .post(proxied.url("/login"))
        .header("cookie", cookie)
        .header("x-forwarded-for", "203.0.113.9")
        .form(&[
            ("csrf_token", token.as_str()),
            ("name", "admin"),
            ("secret", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(
        proxied.count("SELECT count(*) AS n FROM logins WHERE address = '203.0.113.9'"),
        1
    );
}

/// A change to the JSON API from a page of another site is refused, by
/// `Origin` or by `Sec-Fetch-Site`; so is a body that is not JSON.
#[actix_web::test]
async fn cross_site_api_requests_are_refused() {
    let app = TestApp::spawn_as_admin().await;
    let (caja, cashier) = crate::registers::venue(&app).await;
    assert_eq!(open_session(&app, &cashier, caja, "0").await.status(), 303);
    let path = app.url(&format!("/api/cajas/{caja}/sales"));
    let post = |header: (&'static str, &'static str)| {
        cashier
            .client
            .post(&path)
            .header(header.0, header.1)
            .json(&cash_sale(1_000))
            .send()
    };
    for header in [
        ("origin", "https://evil.example"),
        ("sec-fetch-site", "cross-site"),
        ("sec-fetch-site", "same-site"),
    ] {
        let response = post(header).await.unwrap();
        assert_eq!(response.status(), 403, "{header:?}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["code"], "cross_site");
    }
    let text = cashier
        .client
        .post(&path)
        .header("content-type", "text/plain")
        .body(cash_sale(1_000).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(
        text.status(),
        415,
        "a simple cross-site request cannot be JSON"
    );
    assert_eq!(
        app.count("SELECT count(*) AS n FROM sales"),
        0,
        "nothing sold"
    );
    let own = post(("origin", Box::leak(app.address.clone().into_boxed_str())))
        .await
        .unwrap();
    assert_eq!(own.status(), 201, "the hub's own pages may");
    assert_eq!(
        post(("sec-fetch-site", "same-origin"))
            .await
            .unwrap()
            .status(),
        201
    );
}

/// A socket command refused for its rate carries its id.
#[actix_web::test]
async fn a_rate_limited_command_names_its_id() {
    let app = TestApp::spawn_as_admin().await;
    crate::registers::venue(&app).await;
    let cookie = app.session_cookie("supervisora", Role::Supervisor).await;
    let mut floor = connect(&app, "/ws/piso", Some(&cookie), Some(&app.address))
        .await
        .unwrap();
    next_json(&mut floor).await.unwrap();
    for n in 0..30 {
        let ping = json!({"type": "ping", "id": format!("p-{n}")});
        floor
            .send(Message::Text(ping.to_string().into()))
            .await
            .unwrap();
    }
    let mut limited = Vec::new();
    for _ in 0..30 {
        let answer = next_json(&mut floor).await.unwrap();
        if answer["code"] == "rate_limited" {
            limited.push(answer["id"].as_str().unwrap_or("none").to_owned());
        }
    }
    assert!(!limited.is_empty(), "some were over the rate");
    assert!(limited.iter().all(|id| id.starts_with("p-")), "{limited:?}");
}

/// A flood of parallel logins (wrong passwords, then right ones) from one
/// address: the hub's memory stays bounded, no more than the address's
/// lockout of 20 failures get their password checked, and nothing at
/// all answers 500. Run against the hub's own binary, whose memory is
/// measured alone. The log has no ERROR line for it, and a visit without
/// a login (a redirect) is not logged as an error either.
#[actix_web::test]
async fn a_login_flood_keeps_the_memory_bounded_and_the_lockout_exact() {
    /// The bound on the hub's resident memory under the flood, documented
    /// in docs/api.md: the checkers' 19 MiB each, the rest of the hub, margin.
    const RSS_LIMIT_KIB: u64 = 100 * 1024;
    let db = TestDb::migrated();
    {
        let app_user = cajahub::auth::password::Password::parse(PASSWORD.into()).unwrap();
        cajahub::auth::user::create(
            &mut db.connect(),
            &cajahub::audit::Actor::command_line(),
            &cajahub::auth::user::UserName::parse("admin").unwrap(),
            Role::Admin,
            &app_user,
        )
        .unwrap();
    }
    let address = free_address();
    let log = tempfile::NamedTempFile::new().unwrap();
    let hub = HubProcess::start_with(
        &address,
        &db.url(),
        &[
            ("CAJAHUB_LOG", "info"),
            ("CAJAHUB_LOG_JSON", "true"),
            ("CAJAHUB_TRUSTED_PROXY", "127.0.0.1"),
        ],
        Some(log.path()),
    )
    .await;
    let anonymous = new_client()
        .get(format!("{address}/admin/cajas/"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 303);
    let baseline = hub.rss_kib();

    // Behind a trusted proxy, each attempt says which client it is for.
    let attempt = |name: &'static str, secret: &'static str, forwarded: String| {
        let address = address.clone();
        async move {
            let client = new_client();
            let page = client.get(format!("{address}/login")).send().await.unwrap();
            let cookie = cookie_of(&page).unwrap();
            let token = csrf_in(&page.text().await.unwrap()).unwrap();
            client
                .post(format!("{address}/login"))
                .header("cookie", cookie)
                .header("x-forwarded-for", forwarded)
                .form(&[
                    ("csrf_token", token.as_str()),
                    ("name", name),
                    ("secret", secret),
                ])
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    let names = [
        "uno", "dos", "tres", "cuatro", "cinco", "seis", "siete", "ocho",
    ];
    let flood = (0..80).map(|n| attempt(names[n % names.len()], "no-es", "198.51.100.1".into()));
    let statuses = futures_util::future::join_all(flood).await;
    let checked = statuses.iter().filter(|s| **s == 401).count();
    assert!(
        checked <= 20,
        "at most the address's 20 failures were checked: {statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| matches!(s, 401 | 429 | 503)),
        "{statuses:?}"
    );
    assert!(statuses.contains(&429), "the rest were locked out");
    // Rounds of twenty good logins at once, from other addresses.
    for round in 0..3 {
        let logins =
            (0..20).map(|n| attempt("admin", PASSWORD, format!("203.0.113.{}", round * 20 + n)));
        let round = futures_util::future::join_all(logins).await;
        // An account's attempts count as failures until checked, so at
        // most five of them wait at once; the rest are told to wait.
        assert!(
            round.iter().all(|s| matches!(s, 303 | 429 | 503)),
            "{round:?}"
        );
        assert!(round.contains(&303), "{round:?}");
    }
    let peak = hub.rss_kib();
    eprintln!("hub RSS: {baseline} KiB before the flood, {peak} KiB after it");
    assert!(
        peak < RSS_LIMIT_KIB,
        "the hub holds {peak} KiB after the flood (it started at {baseline} KiB)"
    );
    drop(hub);
    let logged = std::fs::read_to_string(log.path()).unwrap();
    let errors: Vec<&str> = logged
        .lines()
        .filter(|line| line.contains(r#""level":"ERROR""#))
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    assert!(
        logged.contains("request refused") || logged.contains("login locked"),
        "the log speaks of it"
    );
}

/// The admin's users page in Chromium: every user with their open logins;
/// a user's logins, one ended with a click, and that browser is out.
#[actix_web::test]
async fn an_admin_ends_a_login_from_the_users_page() {
    use crate::browser::Browser;
    let app = TestApp::spawn().await;
    app.create_user("admin", Role::Admin);
    app.create_user("cajero1", Role::Cajero);
    let Some(admin) = Browser::start().await else {
        return;
    };
    let Some(cashier) = Browser::start().await else {
        return;
    };
    cashier.log_in(&app, "cajero1").await;
    admin.log_in(&app, "admin").await;
    admin.goto(&app, "/admin/usuarios").await;
    let row = admin.text("#usuarios tbody").await;
    assert!(row.contains("cajero1") && row.contains("Cajero"), "{row}");
    admin.screenshots("usuarios").await;
    admin.click("#usuarios a[href$='/2']").await;
    admin.wait_text_prefix("h1", "cajero1").await;
    let logins = admin.text("#ingresos tbody").await;
    assert!(logins.contains("127.0.0.1"), "{logins}");
    admin.screenshots("usuario-ingresos").await;
    admin.click("#ingresos button.danger").await;
    admin.wait_text("#aviso", "Se cerró el ingreso.").await;
    admin
        .wait_text("#sin-ingresos", "No tiene ingresos abiertos.")
        .await;
    cashier.goto(&app, "/caja/session/open").await;
    cashier.wait_text_prefix("h1", "Ingresar").await;
    admin.close().await;
    cashier.close().await;
}
