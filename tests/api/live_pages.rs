//! The live pages in headless Chromium: the POS page and the floor
//! dashboard, kept live over WebSockets, and the POS's outbox across a hub
//! that goes away.

use cajahub::auth::user::Role;
use serde_json::Value;

use crate::browser::Browser;
use crate::cajas::paso_6_1_fields;
use crate::helpers::{HubProcess, TestApp};
use crate::screens::{caja_in_open_jornada, supervisor_closes_caja_1};

/// The banner of a hub whose card terminals are simulated.
const DEMO_BANNER: &str =
    "/^DEMO\\W+terminales de tarjeta simulados/.test(document.getElementById('demo')?.innerText)";
const OUTBOX: &str = "return JSON.parse(localStorage.getItem('cajahub.pos.1.outbox') || '[]')";

/// A caja (PASO 6.1) in an open jornada, and a cashier's browser on its POS
/// page after opening the session through the page.
pub(crate) async fn cashier_on_the_pos(app: &TestApp) -> Option<Browser> {
    caja_in_open_jornada(app).await;
    app.create_user("cajero1", Role::Cajero);
    let cashier = Browser::start().await?;
    cashier.log_in(app, "cajero1").await;
    cashier.goto(app, "/caja/session/open").await;
    cashier.choose("#register_id", "1").await;
    cashier.fill("#initial_cash", "50000").await;
    // The float reads as pesos as it is typed.
    assert_eq!(cashier.value("#initial_cash").await, "$50.000");
    cashier.click("button[type=submit].primary").await;
    cashier
        .wait_text("[data-bind=connection]", "En línea")
        .await;
    Some(cashier)
}

/// A supervisor's browser on the floor, caja 1's tile showing its session.
pub(crate) async fn supervisor_on_the_floor(app: &TestApp) -> Option<Browser> {
    app.create_user("supervisora", Role::Supervisor);
    let floor = Browser::start().await?;
    floor.log_in(app, "supervisora").await;
    floor.goto(app, "/admin/piso").await;
    floor.wait_text("[data-bind=connection]", "En línea").await;
    floor
        .wait_text("[data-caja='1'] [data-field=status]", "Abierta")
        .await;
    Some(floor)
}

/// Cajero1's POS in a browser whose every byte goes through a link that can
/// die like Wi-Fi (their session already open), online.
pub(crate) async fn pos_through_a_link(app: &TestApp) -> Option<(crate::link::LinkProxy, Browser)> {
    let link = crate::link::LinkProxy::start(&app.url("")).await;
    let pos = Browser::start().await?;
    pos.goto_url(&link.url("/login?next=/caja/pos")).await;
    pos.fill("#name", "cajero1").await;
    pos.fill("#secret", crate::helpers::PASSWORD).await;
    pos.click("button[type=submit].primary").await;
    pos.wait_text("[data-bind=connection]", "En línea").await;
    Some((link, pos))
}

/// The link dies; the POS says so and keeps `sales` (amount, method) on
/// the device.
pub(crate) async fn sell_while_cut(
    link: &crate::link::LinkProxy,
    pos: &Browser,
    sales: &[(&str, &str)],
) {
    link.cut();
    pos.wait_text_prefix("[data-bind=connection]", "Sin conexión")
        .await;
    for (amount, method) in sales {
        sell(pos, amount, method).await;
    }
    pos.wait_text(
        "[data-bind=queue]",
        &format!(
            "{} venta(s) esperando conexión (guardadas en este equipo).",
            sales.len()
        ),
    )
    .await;
}

/// Types an amount on the POS, picks the method and charges.
pub(crate) async fn sell(pos: &Browser, amount: &str, method: &str) {
    pos.fill("#amount", amount).await;
    pos.click(&format!("input[name=method][value={method}]"))
        .await;
    pos.click("button.charge").await;
}

#[actix_web::test]
async fn a_sale_on_the_pos_shows_on_the_dashboard_and_admin_edits_reach_the_open_pos() {
    let app = TestApp::spawn_as_admin().await;
    let Some(pos) = cashier_on_the_pos(&app).await else {
        return;
    };
    let Some(floor) = supervisor_on_the_floor(&app).await else {
        return;
    };
    let tile = "[data-caja='1']";
    floor
        .wait_text(&format!("{tile} [data-field=cashier]"), "cajero1")
        .await;

    // A card sale, by keyboard, on the provider the hub advises: the
    // terminal is run by hand, the cashier confirms its code.
    pos.wait_text(
        "[data-bind=provider-advice]",
        "Usa GETNET. GETNET es el proveedor principal; si no responde en 60 s, cobra con KLAP en el celular de respaldo.",
    )
    .await;
    sell(&pos, "12345", "DEBITO").await;
    pos.wait_text("[data-bind=card-title]", "Esperando pago en GETNET…")
        .await;
    pos.wait_text_contains("[data-bind=card-countdown]", "¿se cobró? y luego KLAP")
        .await;
    pos.press("a").await;
    pos.fill("#code-input", "12").await;
    pos.press("\u{E007}").await; // Enter
    pos.wait_text_prefix("[data-error=code]", "El código tiene de 4 a 12")
        .await;
    pos.fill("#code-input", "a1b2c3\u{E007}").await;
    pos.wait_text("[data-bind=sale-result]", "Venta registrada: $12.345")
        .await;
    assert_eq!(
        app.count("SELECT count(*) AS n FROM card_attempts WHERE status = 'APPROVED' AND authorization_code = 'A1B2C3' AND sale_id IS NOT NULL"),
        1
    );
    floor
        .wait_text(&format!("{tile} [data-field=total]"), "$12.345")
        .await;
    floor
        .wait_text(&format!("{tile} [data-field=tickets]"), "1")
        .await;
    floor
        .wait_text("[data-field=jornada-total]", "$12.345")
        .await;
    floor
        .wait_text("[data-field=jornada-DEBITO]", "$12.345")
        .await;

    // Cash with the keypad: rounded by law, change given.
    for key in ["1", "0", "0", "5"] {
        pos.click(&format!(".keypad button[data-key='{key}']"))
            .await;
    }
    assert_eq!(pos.value("#amount").await, "$1.005");
    pos.click("input[name=method][value=EFECTIVO]").await;
    pos.fill("#tendered", "2000").await;
    pos.wait_text(
        "[data-bind=charge-hint]",
        "Se cobran $1.000 (redondeo del efectivo). Vuelto: $1.000.",
    )
    .await;
    pos.click("button.charge").await;
    pos.wait_text("[data-bind=sale-result]", "Venta registrada: $1.000")
        .await;
    assert_eq!(pos.text("[data-bind=sale-change]").await, "VUELTO $1.000");
    floor
        .wait_text(&format!("{tile} [data-field=total]"), "$13.345")
        .await;
    let recent = pos.text("[data-bind=recent]").await;
    assert!(recent.contains("$1.000 · Efectivo"), "{recent}");
    assert!(recent.contains("$12.345 · Débito · GETNET"), "{recent}");

    // The same code typed again for GETNET this jornada: the sale goes
    // through and the cashier is told to check the voucher.
    sell(&pos, "2000", "DEBITO").await;
    pos.wait_text("[data-bind=card-title]", "Esperando pago en GETNET…")
        .await;
    pos.wait_text_contains("[data-bind=card-countdown]", "¿se cobró? y luego KLAP")
        .await;
    pos.press("a").await;
    pos.fill("#code-input", "a1b2c3\u{E007}").await;
    pos.wait_text_contains(
        "[data-bind=sale-result]",
        "El código A1B2C3 de GETNET ya se usó esta jornada en el cobro #1",
    )
    .await;
    assert!(
        pos.text("[data-bind=sale-result]")
            .await
            .starts_with("Venta registrada: $2.000")
    );
    pos.screenshots("pos-codigo-repetido").await;

    // The terminal fails: the same sale goes on on the backup at once.
    sell(&pos, "5000", "CREDITO").await;
    pos.wait_text("[data-bind=card-title]", "Esperando pago en GETNET…")
        .await;
    pos.click("[data-bind=card-actions] button[data-key=F]")
        .await;
    pos.wait_text(
        "[data-bind=card-title]",
        "Cobra con KLAP en el celular de respaldo (2 celulares)",
    )
    .await;
    pos.click("[data-bind=card-actions] button[data-key=A]")
        .await;
    pos.fill("#code-input", "778899\u{E007}").await;
    pos.wait_text("[data-bind=sale-result]", "Venta registrada: $5.000")
        .await;
    floor
        .wait_text(&format!("{tile} [data-field=provider]"), "KLAP (respaldo)")
        .await;
    let alerts = floor.text(&format!("{tile} [data-field=alerts]")).await;
    assert!(alerts.starts_with("En respaldo: KLAP"), "{alerts}");
    floor.screenshot("piso-en-vivo").await;

    // The admin swaps the providers: the open POS shows it without a reload.
    pos.script("window.notReloaded = true").await;
    let mut edit = paso_6_1_fields();
    edit.retain(|(k, _)| !k.starts_with("payment_provider"));
    edit.extend([
        ("payment_provider_primary", "KLAP"),
        ("payment_provider_backup", "GETNET"),
        ("version", "1"),
    ]);
    assert_eq!(
        app.post_form("/admin/cajas/1/editar", &edit).await.status(),
        303
    );
    pos.wait_text(
        "[data-bind=provider-advice]",
        "Usa KLAP. KLAP es el proveedor principal; si no responde en 60 s, cobra con GETNET en el celular de respaldo.",
    )
    .await;
    assert_eq!(
        pos.script("return window.notReloaded === true").await,
        Value::Bool(true)
    );
    // The sale made on KLAP as the backup does not make KLAP, now the
    // primary, "respaldo" on the floor.
    floor
        .wait_text(&format!("{tile} [data-field=provider]"), "KLAP (principal)")
        .await;
    let alerts = floor.text(&format!("{tile} [data-field=alerts]")).await;
    assert!(!alerts.contains("En respaldo"), "{alerts}");

    // Maintenance: the POS says so and takes no sale.
    edit.retain(|(k, _)| *k != "operational_status" && *k != "version");
    edit.extend([("operational_status", "MAINTENANCE"), ("version", "2")]);
    assert_eq!(
        app.post_form("/admin/cajas/1/editar", &edit).await.status(),
        303
    );
    pos.wait_text(
        "[data-bind=banner]",
        "Caja en mantención: no se pueden registrar ventas.",
    )
    .await;
    assert_eq!(
        pos.script("return document.querySelector('button.charge').disabled")
            .await,
        Value::Bool(true)
    );
    floor
        .wait_text(&format!("{tile} [data-field=status]"), "En mantención")
        .await;
    pos.screenshot("pos-mantencion").await;
    assert_eq!(app.count("SELECT count(*) AS n FROM sales"), 4);
    pos.close().await;
    floor.close().await;
}

#[actix_web::test]
async fn the_pos_keeps_selling_while_the_hub_is_away_and_catches_up() {
    let app = TestApp::spawn_as_admin().await;
    let Some(pos) = cashier_on_the_pos(&app).await else {
        return;
    };
    sell(&pos, "5000", "EFECTIVO").await;
    pos.wait_text("[data-bind=sale-result]", "Venta registrada: $5.000")
        .await;

    // The hub goes away: the page says so and keeps taking sales.
    let stopped = app.stop().await;
    pos.wait_text_prefix("[data-bind=connection]", "Sin conexión")
        .await;
    sell(&pos, "3000", "TRANSFERENCIA").await;
    pos.wait_text(
        "[data-bind=queue]",
        "1 venta(s) esperando conexión (guardadas en este equipo).",
    )
    .await;
    assert_eq!(pos.script(OUTBOX).await.as_array().unwrap().len(), 1);
    // The page is closed with the sale still waiting; only storage keeps it.
    pos.client.goto("about:blank").await.unwrap();

    // The hub comes back; the page, opened again, sends it and shows the right totals.
    let app = stopped.start().await;
    pos.goto(&app, "/caja/pos").await;
    pos.wait_text("[data-bind=connection]", "En línea").await;
    pos.wait_text("[data-bind=totals] dd:nth-of-type(1)", "$8.000")
        .await;
    pos.wait_text("[data-bind=totals] dd:nth-of-type(2)", "2")
        .await;
    // The event may come before the ack that empties the outbox.
    pos.wait_text("[data-bind=queue]", "").await;
    assert_eq!(pos.script(OUTBOX).await, Value::Array(vec![]));
    assert_eq!(app.count("SELECT count(*) AS n FROM sales"), 2);

    // Away again; this time a supervisor closes the session before the
    // queued sale can go: it is kept and flagged, never dropped.
    let stopped = app.stop().await;
    pos.wait_text_prefix("[data-bind=connection]", "Sin conexión")
        .await;
    sell(&pos, "7000", "TRANSFERENCIA").await;
    pos.wait_text(
        "[data-bind=queue]",
        "1 venta(s) esperando conexión (guardadas en este equipo).",
    )
    .await;
    pos.client.goto("about:blank").await.unwrap();
    let app = stopped.start().await;
    supervisor_closes_caja_1(&app, "55000").await;
    let supervisor = app.visitor("supervisora", Role::Supervisor).await;
    // The cashier opens a new session; the old sale is not sold into it.
    pos.goto(&app, "/caja/session/open").await;
    pos.choose("#register_id", "1").await;
    pos.fill("#initial_cash", "0").await;
    pos.click("button[type=submit].primary").await;
    pos.wait_text("[data-bind=connection]", "En línea").await;
    // Handed to the hub for a supervisor (by the page the cashier lands
    // on, or by the new session's POS: the same words either way).
    pos.wait_text(
        "[data-bind=flagged-pending]",
        "1 venta(s) de esta caja esperan a un supervisor.",
    )
    .await;
    // Off the device once the hub acknowledged it.
    pos.wait_text("[data-bind=flagged-list]", "").await;
    assert_eq!(pos.script(OUTBOX).await, Value::Array(vec![]));
    assert_eq!(app.count("SELECT count(*) AS n FROM sales"), 2);
    let (total, reason): (i64, String) = {
        use cajahub::db::schema::flagged_sales::dsl::*;
        use diesel::prelude::*;
        flagged_sales
            .select((total, reason))
            .first(&mut app.conn())
            .unwrap()
    };
    assert_eq!(
        (total, reason.as_str()),
        (
            7_000,
            "Venta hecha sin conexión: la sesión #1 se cerró antes de que llegara al servidor."
        )
    );
    pos.screenshot("pos-venta-marcada").await;

    // A supervisor settles it; the POS learns at once.
    let page = supervisor
        .get(&app, "/admin/ventas-marcadas")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("$7.000") && page.contains("Transferencia"),
        "{page}"
    );
    assert_eq!(
        supervisor
            .post(
                &app,
                "/admin/ventas-marcadas/1/resolver",
                &[("resolution", "Registrada a mano en la sesión 2")]
            )
            .await
            .status(),
        303
    );
    pos.wait_text("[data-bind=flagged-pending]", "").await;
    assert_eq!(
        app.count("SELECT count(*) AS n FROM flagged_sales WHERE resolved_at IS NOT NULL"),
        1
    );
    pos.close().await;
}

#[actix_web::test]
async fn a_killed_hub_comes_back_and_the_pos_reconnects_with_the_right_totals() {
    let app = TestApp::spawn_as_admin().await;
    let Some(pos) = cashier_on_the_pos(&app).await else {
        return;
    };
    sell(&pos, "5000", "EFECTIVO").await;
    pos.wait_text("[data-bind=sale-result]", "Venta registrada: $5.000")
        .await;

    // The same hub, now as its own process on the same address.
    let stopped = app.stop().await;
    let (address, url) = (stopped.address().to_owned(), stopped.database_url());
    let hub = HubProcess::start(&address, &url).await;
    pos.wait_text("[data-bind=connection]", "En línea").await;
    sell(&pos, "3000", "TRANSFERENCIA").await;
    pos.wait_text("[data-bind=sale-result]", "Venta registrada: $3.000")
        .await;

    // Killed outright: the POS notices and keeps the next sale.
    hub.kill();
    pos.wait_text_prefix("[data-bind=connection]", "Sin conexión")
        .await;
    sell(&pos, "2000", "TRANSFERENCIA").await;
    pos.wait_text(
        "[data-bind=queue]",
        "1 venta(s) esperando conexión (guardadas en este equipo).",
    )
    .await;

    // Back: the POS reconnects by itself, sends it, and shows what PostgreSQL has.
    let _hub = HubProcess::start(&address, &url).await;
    pos.wait_text("[data-bind=connection]", "En línea").await;
    pos.wait_text("[data-bind=totals] dd:nth-of-type(1)", "$10.000")
        .await;
    pos.wait_text("[data-bind=totals] dd:nth-of-type(2)", "3")
        .await;
    pos.wait_text("[data-bind=queue]", "").await;
    let stored = {
        use diesel::prelude::*;
        let mut conn = PgConnection::establish(&url).unwrap();
        diesel::sql_query("SELECT count(*) AS n, sum(total)::bigint AS total FROM sales")
            .get_result::<Totals>(&mut conn)
            .unwrap()
    };
    assert_eq!((stored.n, stored.total), (3, 10_000));
    pos.close().await;
}

#[derive(diesel::QueryableByName)]
struct Totals {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    total: i64,
}

#[actix_web::test]
async fn a_pos_whose_login_expired_sends_the_cashier_to_log_in_and_back() {
    let app = TestApp::spawn_with(crate::helpers::TestDb::migrated(), |settings| {
        settings.session_idle = std::time::Duration::from_secs(4);
    })
    .await;
    app.log_in_as("admin", Role::Admin).await;
    let Some(pos) = cashier_on_the_pos(&app).await else {
        return;
    };
    // Idle past the limit while the socket is open, then the hub restarts:
    // the socket can no longer be opened with that login.
    actix_web::rt::time::sleep(std::time::Duration::from_secs(5)).await;
    let _app = app.restart().await;
    pos.wait_text("main h1", "Ingresar").await;
    pos.fill("#name", "cajero1").await;
    pos.fill("#secret", crate::helpers::PASSWORD).await;
    pos.click("button[type=submit].primary").await;
    pos.wait_text("[data-bind=connection]", "En línea").await;
    let url = pos.client.current_url().await.unwrap();
    assert_eq!(
        (url.path(), url.query()),
        ("/caja/pos", Some("caja=1")),
        "back where the cashier was"
    );
    pos.close().await;
}

/// A caja whose open session another transaction holds: the POS keeps the
/// sale and says the caja does not answer, the floor marks its tile "Sin
/// respuesta"; once the lock goes the sale goes in by itself and both
/// screens recover.
#[actix_web::test]
async fn a_stuck_caja_is_marked_on_the_floor_and_the_pos_keeps_its_sale() {
    use diesel::connection::SimpleConnection;

    let app = TestApp::spawn_with(crate::helpers::TestDb::migrated(), |settings| {
        settings.lock_timeout = std::time::Duration::from_millis(200);
    })
    .await;
    app.log_in_as("admin", Role::Admin).await;
    let Some(pos) = cashier_on_the_pos(&app).await else {
        return;
    };
    let Some(floor) = supervisor_on_the_floor(&app).await else {
        return;
    };
    let tile = "[data-caja='1']";

    let mut lock = app.conn();
    lock.batch_execute(
        "BEGIN; SELECT 1 FROM register_sessions WHERE register_id = 1 AND status = 'OPEN' FOR UPDATE;",
    )
    .unwrap();
    sell(&pos, "4500", "EFECTIVO").await;
    floor
        .wait_text(&format!("{tile} [data-field=status]"), "Sin respuesta")
        .await;
    let alerts = floor.text(&format!("{tile} [data-field=alerts]")).await;
    assert!(
        alerts.contains("la base de datos no respondió a tiempo"),
        "{alerts}"
    );
    pos.wait_text_prefix("[data-bind=banner]", "La caja no responde desde las")
        .await;
    assert_eq!(
        pos.script(OUTBOX).await.as_array().map(Vec::len),
        Some(1),
        "kept on the device"
    );
    floor.screenshots("floor-caja-sin-respuesta").await;
    pos.screenshots("pos-caja-sin-respuesta").await;

    lock.batch_execute("ROLLBACK").unwrap();
    floor
        .wait_text(&format!("{tile} [data-field=total]"), "$4.500")
        .await;
    floor
        .wait_text(&format!("{tile} [data-field=status]"), "Abierta")
        .await;
    pos.wait_text("[data-bind=sale-result]", "Venta registrada: $4.500")
        .await;
    let banner: Value = pos
        .script("return document.querySelector('[data-bind=banner]').hidden")
        .await;
    assert_eq!(banner, Value::Bool(true), "the notice is gone");
    assert_eq!(app.count("SELECT count(*) AS n FROM sales"), 1, "sold once");
}

/// The whole card flow in Chromium, on simulated terminals and a clock the
/// test moves: GETNET hangs past the caja's 60 s, the page survives a
/// reload, the cashier says the terminal did not charge, the same sale
/// completes on KLAP's backup phone, and the floor shows the fallback.
/// Then a supervisor declares GETNET down and up from the floor, and
/// authorizes the backup for a sale whose GETNET result nobody knows.
#[actix_web::test]
async fn a_hanging_getnet_sale_completes_on_klap_and_the_floor_shows_the_fallback() {
    use std::time::Duration;

    let (clock, manual) = cajahub::clock::Clock::manual();
    let app = TestApp::spawn_with(crate::helpers::TestDb::migrated(), |settings| {
        settings.clock = clock;
        settings.simulate_terminals = Some(
            cajahub::cajas::terminal::TerminalConfig::parse_simulation(
                "GETNET=hang,KLAP=approve,latency=1500",
            )
            .unwrap(),
        );
    })
    .await;
    app.log_in_as("admin", Role::Admin).await;
    let Some(pos) = cashier_on_the_pos(&app).await else {
        return;
    };
    let Some(floor) = supervisor_on_the_floor(&app).await else {
        return;
    };
    let tile = "[data-caja='1']";
    floor
        .wait_text("[data-provider=GETNET] [data-field=status]", "Operativo")
        .await;
    // Simulated terminals: every screen says the charges are not real.
    for page in [&pos, &floor] {
        page.wait_true(DEMO_BANNER).await;
    }
    floor.screenshots("piso-demo").await;
    // The caja's form too, where its own terminal mode may say "Manual".
    let form = app.get("/admin/cajas/1/editar").await.text().await.unwrap();
    assert!(form.contains(r#"id="demo""#), "{form}");

    sell(&pos, "12345", "DEBITO").await;
    pos.wait_text("[data-bind=card-title]", "Esperando pago en GETNET…")
        .await;
    pos.wait_text_contains("[data-bind=card-countdown]", "¿se cobró? y luego KLAP")
        .await;
    pos.screenshots("pos-tarjeta-esperando").await;
    // A reload while the terminal works: the sale is still being charged.
    pos.goto(&app, "/caja/pos").await;
    pos.wait_text("[data-bind=connection]", "En línea").await;
    pos.wait_text("[data-bind=card-title]", "Esperando pago en GETNET…")
        .await;

    manual.advance(Duration::from_secs(60));
    pos.wait_text("[data-bind=card-title]", "GETNET no respondió: ¿se cobró?")
        .await;
    floor
        .wait_text_prefix(
            &format!("{tile} [data-field=attempts]"),
            "#1 · GETNET · $12.345 · sin respuesta",
        )
        .await;
    pos.screenshots("pos-tarjeta-sin-respuesta").await;
    // The cashier looks at the terminal: nothing charged. KLAP at once.
    pos.press("n").await;
    pos.wait_text(
        "[data-bind=card-title]",
        "Cobra con KLAP en el celular de respaldo (2 celulares)",
    )
    .await;
    floor
        .wait_text(&format!("{tile} [data-field=provider]"), "KLAP (respaldo)")
        .await;
    floor
        .wait_text_prefix(
            &format!("{tile} [data-field=health-GETNET]"),
            "Con fallas desde las",
        )
        .await;
    floor
        .wait_text(
            "[data-provider=GETNET] [data-field=status]",
            "Con fallas en 1 caja(s)",
        )
        .await;
    pos.screenshots("pos-tarjeta-respaldo").await;

    manual.advance(Duration::from_millis(1_500));
    pos.wait_text("[data-bind=sale-result]", "Venta registrada: $12.345")
        .await;
    floor
        .wait_text(&format!("{tile} [data-field=total]"), "$12.345")
        .await;
    let alerts = floor.text(&format!("{tile} [data-field=alerts]")).await;
    assert!(
        alerts.starts_with("En respaldo: KLAP desde las"),
        "{alerts}"
    );
    assert_eq!(
        app.count(
            "SELECT count(*) AS n FROM sale_payments p JOIN card_attempts a ON a.id = p.card_attempt_id
             WHERE a.provider = 'KLAP' AND a.used_backup AND a.fallback_from = 1 AND a.status = 'APPROVED'"
        ),
        1
    );
    assert_eq!(
        app.count("SELECT payment_provider_used_backup_count::bigint AS n FROM register_sessions"),
        1
    );
    assert_eq!(
        pos.script("return localStorage.getItem('cajahub.pos.1.card')")
            .await,
        Value::Null,
        "nothing left in the card flow"
    );

    // The supervisor declares GETNET down for the venue, and then back.
    floor.click("[data-provider=GETNET] button").await;
    floor.click("#action-dialog button[value=confirm]").await;
    floor
        .wait_text(
            "[data-bind=action-error]",
            "Escribe el motivo: queda en la auditoría.",
        )
        .await;
    floor.fill("#action-reason", "GETNET avisó una caída").await;
    floor.click("#action-dialog button[value=confirm]").await;
    floor
        .wait_text_prefix(
            "[data-bind=venue-alert]",
            "GETNET caído en el local desde las",
        )
        .await;
    floor.screenshots("piso-proveedor-caido").await;
    pos.wait_text_prefix("[data-bind=provider-advice]", "Usa KLAP (respaldo)")
        .await;
    floor.click("[data-provider=GETNET] button").await;
    floor.fill("#action-reason", "volvió").await;
    floor.click("#action-dialog button[value=confirm]").await;
    // Back for every caja, as the dialog says: also the one whose own
    // charge failed a moment ago.
    floor
        .wait_text("[data-provider=GETNET] [data-field=status]", "Operativo")
        .await;
    pos.wait_text_prefix("[data-bind=provider-advice]", "Usa GETNET.")
        .await;
    assert_eq!(
        app.count("SELECT count(*) AS n FROM audit_log WHERE action IN ('proveedor.caido', 'proveedor.operativo')"),
        2
    );

    // GETNET again. It hangs; the supervisor, unable to
    // know, authorizes KLAP from the floor; and settles GETNET's attempt.
    manual.advance(Duration::from_secs(300));
    pos.wait_text_prefix("[data-bind=provider-advice]", "Usa GETNET.")
        .await;
    sell(&pos, "2000", "CREDITO").await;
    pos.wait_text("[data-bind=card-title]", "Esperando pago en GETNET…")
        .await;
    manual.advance(Duration::from_secs(60));
    pos.wait_text("[data-bind=card-title]", "GETNET no respondió: ¿se cobró?")
        .await;
    let attempt = format!("{tile} [data-field=attempts] li");
    floor
        .wait_text_prefix(&attempt, "#3 · GETNET · $2.000 · sin respuesta")
        .await;
    floor
        .script("document.querySelector(\"[data-caja='1']\").scrollIntoView()")
        .await;
    floor.screenshot("piso-cobro-por-resolver").await;
    floor
        .click(&format!("{attempt} button:nth-of-type(3)"))
        .await;
    floor.click("#action-dialog button[value=confirm]").await;
    pos.wait_text(
        "[data-bind=card-title]",
        "Cobra con KLAP en el celular de respaldo (2 celulares)",
    )
    .await;
    manual.advance(Duration::from_millis(1_500));
    pos.wait_text("[data-bind=sale-result]", "Venta registrada: $2.000")
        .await;
    assert_eq!(
        app.count(
            "SELECT count(*) AS n FROM audit_log WHERE action = 'tarjeta.respaldo_autorizado'"
        ),
        1
    );
    // GETNET's attempt is still to settle: the close page says so.
    pos.goto(&app, "/caja/session/close?caja=1").await;
    let blocking = pos.text("#cobros-por-resolver").await;
    assert!(
        blocking.contains("#3 GETNET $2.000 (sin respuesta: verificar en el terminal)"),
        "{blocking}"
    );
    pos.screenshots("cerrar-con-cobros-por-resolver").await;
    pos.goto(&app, "/caja/pos").await;
    pos.wait_text("[data-bind=connection]", "En línea").await;
    // The floor settles it, audited.
    floor
        .wait_text_prefix(&attempt, "#3 · GETNET · $2.000 · sin respuesta")
        .await;
    floor
        .click(&format!("{attempt} button:nth-of-type(2)"))
        .await;
    floor
        .fill("#action-reason", "el terminal no muestra el cobro")
        .await;
    floor.click("#action-dialog button[value=confirm]").await;
    floor
        .wait_text(&format!("{tile} [data-field=total]"), "$14.345")
        .await;
    // Nothing left to resolve.
    floor
        .wait_true("document.querySelector(\"[data-caja='1'] [data-field=attempts]\") === null")
        .await;
    assert_eq!(
        app.count("SELECT count(*) AS n FROM card_attempts WHERE id = 3 AND status = 'CANCELLED' AND resolved_by IS NOT NULL"),
        1
    );
    assert_eq!(app.count("SELECT count(*) AS n FROM sales"), 2);
    // The session's and the jornada's reconciliation, as a supervisor reads them.
    floor.goto(&app, "/caja/session/1").await;
    let klap = floor.text("#conciliacion tr[data-provider=KLAP]").await;
    assert!(klap.starts_with("KLAP 2 $14.345"), "{klap}");
    floor.screenshots("sesion-conciliacion").await;
    floor.goto(&app, "/admin/jornadas/1").await;
    let getnet = floor.text("#conciliacion tr[data-provider=GETNET]").await;
    assert!(getnet.starts_with("GETNET 0 $0"), "{getnet}");
    floor.screenshots("jornada-conciliacion").await;
    pos.close().await;
    floor.close().await;
}

/// A cashier sells on a dead Wi-Fi; a supervisor closes that caja; the
/// link comes back. The hub refuses the caja's socket to that cashier now,
/// so the POS hands its sales over by HTTP: kept for a supervisor in the
/// session they were taken in, on the floor and the flagged list, and the
/// POS says so and stops selling there.
#[actix_web::test]
async fn offline_sales_of_a_session_closed_meanwhile_reach_the_supervisor() {
    let app = TestApp::spawn_as_admin().await;
    let Some(opened) = cashier_on_the_pos(&app).await else {
        return;
    };
    opened.close().await;
    let Some(floor) = supervisor_on_the_floor(&app).await else {
        return;
    };
    let Some((link, pos)) = pos_through_a_link(&app).await else {
        return;
    };

    sell_while_cut(&link, &pos, &[("3000", "EFECTIVO"), ("4000", "EFECTIVO")]).await;
    supervisor_closes_caja_1(&app, "50000").await;

    link.restore();
    pos.wait_text_contains(
        "[data-bind=sale-result]",
        "2 entregada(s) al supervisor para revisión",
    )
    .await;
    pos.wait_text_prefix("[data-bind=banner]", "La sesión de esta caja terminó")
        .await;
    assert_eq!(pos.script(OUTBOX).await, Value::Array(vec![]));
    assert_eq!(
        pos.script("return document.querySelector('button.charge').disabled")
            .await,
        Value::Bool(true),
        "no more sales on a page whose session is gone"
    );
    assert_eq!(
        app.count(
            "SELECT count(*) AS n FROM flagged_sales WHERE session_id = 1 AND register_id = 1 \
             AND resolved_at IS NULL AND total IN (3000, 4000)"
        ),
        2
    );
    assert_eq!(app.count("SELECT count(*) AS n FROM sales"), 0);
    floor
        .wait_text_contains("[data-caja='1'] [data-field=alerts]", "2 venta")
        .await;
    pos.screenshots("pos-sesion-cerrada-ventas-entregadas")
        .await;
    floor.screenshots("piso-ventas-marcadas").await;
    pos.close().await;
    floor.close().await;
}

/// The cashier's login ends (a PIN change) while the phone is offline with
/// a sale: when the link is back the POS sends them to log in, and once in
/// the sale goes into its still-open session.
#[actix_web::test]
async fn an_offline_sale_survives_the_login_ending_meanwhile() {
    let app = TestApp::spawn_as_admin().await;
    let Some(opened) = cashier_on_the_pos(&app).await else {
        return;
    };
    opened.close().await;
    let Some((link, pos)) = pos_through_a_link(&app).await else {
        return;
    };

    sell_while_cut(&link, &pos, &[("6000", "EFECTIVO")]).await;
    let new_pin = cajahub::auth::password::Password::parse("otra-clave-123".into()).unwrap();
    cajahub::auth::user::set_password(
        &mut app.conn(),
        &cajahub::audit::Actor::command_line(),
        "cajero1",
        &new_pin,
    )
    .unwrap();
    link.restore();
    pos.wait_text("main h1", "Ingresar").await;
    pos.fill("#name", "cajero1").await;
    pos.fill("#secret", "otra-clave-123").await;
    pos.click("button[type=submit].primary").await;
    pos.wait_text("[data-bind=connection]", "En línea").await;
    pos.wait_text("[data-bind=queue]", "").await;
    assert_eq!(
        app.count("SELECT count(*) AS n FROM sales WHERE session_id = 1 AND total = 6000"),
        1
    );
    assert_eq!(pos.script(OUTBOX).await, Value::Array(vec![]));
    pos.close().await;
}

/// Everything at once while the phone is offline with a sale: the session
/// closed, the caja archived, the cashier's login ended. Back online the
/// POS sends the cashier to log in; with no session to go back to, the page
/// they land on hands the stored sale over, kept for a supervisor in the
/// session it was taken in, and says so.
#[actix_web::test]
async fn an_offline_sale_of_an_archived_caja_is_handed_over_after_logging_in_again() {
    let app = TestApp::spawn_as_admin().await;
    let Some(opened) = cashier_on_the_pos(&app).await else {
        return;
    };
    opened.close().await;
    let Some((link, pos)) = pos_through_a_link(&app).await else {
        return;
    };

    sell_while_cut(&link, &pos, &[("8000", "TRANSFERENCIA")]).await;
    supervisor_closes_caja_1(&app, "50000").await;
    let archived = app
        .post_form("/admin/cajas/1/archivar", &[("version", "1")])
        .await;
    assert_eq!(archived.status(), 303);
    cajahub::auth::user::set_password(
        &mut app.conn(),
        &cajahub::audit::Actor::command_line(),
        "cajero1",
        &cajahub::auth::password::Password::parse("otra-clave-123".into()).unwrap(),
    )
    .unwrap();

    link.restore();
    pos.wait_text("main h1", "Ingresar").await;
    pos.fill("#name", "cajero1").await;
    pos.fill("#secret", "otra-clave-123").await;
    pos.click("button[type=submit].primary").await;
    pos.wait_text_contains(
        "#device-outbox",
        "Ventas hechas sin conexión: 1 entregada(s) al supervisor",
    )
    .await;
    assert_eq!(pos.script(OUTBOX).await, Value::Array(vec![]));
    assert_eq!(
        app.count(
            "SELECT count(*) AS n FROM flagged_sales WHERE session_id = 1 AND register_id = 1 \
             AND total = 8000 AND reason LIKE '%archivada%'"
        ),
        1
    );
    pos.screenshots("ventas-sin-conexion-entregadas").await;
    let supervisor = app.visitor("supervisora", Role::Supervisor).await;
    let page = supervisor
        .get(&app, "/admin/ventas-marcadas")
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("$8.000"), "{page}");
    pos.close().await;
}

/// The cashier's login ends while the POS is open (a PIN change): the hub
/// closes its socket and the page goes to the login, not a dead screen
/// with Cobrar still enabled; once in again, it is back on the POS.
#[actix_web::test]
async fn a_pos_whose_login_ends_goes_to_the_login_and_back() {
    let app = TestApp::spawn_as_admin().await;
    let Some(pos) = cashier_on_the_pos(&app).await else {
        return;
    };
    cajahub::auth::user::set_password(
        &mut app.conn(),
        &cajahub::audit::Actor::command_line(),
        "cajero1",
        &cajahub::auth::password::Password::parse("otra-clave-123".into()).unwrap(),
    )
    .unwrap();
    pos.wait_text("main h1", "Ingresar").await;
    pos.fill("#name", "cajero1").await;
    pos.fill("#secret", "otra-clave-123").await;
    pos.click("button[type=submit].primary").await;
    pos.wait_text("[data-bind=connection]", "En línea").await;
    let url = pos.client.current_url().await.unwrap();
    assert_eq!(url.path(), "/caja/pos");
    pos.close().await;
}

/// $45.000 typed with an extra "000": refused on the POS before it leaves
/// the phone, naming the venue's largest sale; a large amount within it
/// asks for a confirmation showing the amount big, "Corregir" records
/// nothing, "Sí, cobrar" records it, and the floor marks it.
#[actix_web::test]
async fn a_large_amount_is_confirmed_and_an_absurd_one_refused() {
    let app = TestApp::spawn_as_admin().await;
    let Some(pos) = cashier_on_the_pos(&app).await else {
        return;
    };
    let Some(floor) = supervisor_on_the_floor(&app).await else {
        return;
    };
    pos.fill("#amount", "45.000.000").await;
    pos.press("\u{E007}").await;
    pos.wait_text_contains(
        "#amount-error",
        "El máximo por venta en este local es $5.000.000",
    )
    .await;
    assert_eq!(
        pos.script("return document.getElementById('confirm-dialog').open")
            .await,
        Value::Bool(false)
    );

    sell(&pos, "600.000", "EFECTIVO").await;
    pos.wait_text("[data-bind=confirm-amount]", "$600.000")
        .await;
    pos.screenshots("pos-confirmar-monto-alto").await;
    pos.click("#confirm-dialog button[value=cancel]").await;
    pos.wait_true(
        "!document.getElementById('confirm-dialog').open && document.activeElement.id === 'amount'",
    )
    .await;
    assert_eq!(app.count("SELECT count(*) AS n FROM sales"), 0);

    pos.click("button.charge").await;
    pos.wait_text("[data-bind=confirm-yes]", "Sí, cobrar $600.000")
        .await;
    pos.click("#confirm-dialog button[value=confirm]").await;
    pos.wait_text("[data-bind=sale-result]", "Venta registrada: $600.000")
        .await;
    assert_eq!(
        app.count("SELECT count(*) AS n FROM sales WHERE total = 600000"),
        1
    );
    floor
        .wait_text_contains(
            "[data-caja='1'] [data-field=alerts]",
            "Venta inusualmente alta: $600.000",
        )
        .await;
    floor.screenshots("piso-venta-alta").await;
    pos.close().await;
    floor.close().await;
}

/// The floor with two cajas, the second with a faltante: its tile comes
/// first, so no alert sits below the fold. The hub goes away: the floor
/// dims its numbers and says since when they are old; back, it is live.
#[actix_web::test]
async fn the_floor_puts_alerts_first_and_dims_what_it_no_longer_hears() {
    let app = TestApp::spawn_as_admin().await;
    caja_in_open_jornada(&app).await;
    crate::cajas::create_cajas(&app, 1).await;
    let cashier = app.visitor("cajero2", Role::Cajero).await;
    let opened = crate::registers::open_session(&app, &cashier, 2, "0").await;
    assert_eq!(opened.status(), 303);
    let sale = crate::registers::cash_sale(1_000);
    assert_eq!(
        crate::registers::sell(&app, &cashier, 2, &sale).await.0,
        201
    );
    let closed = cashier
        .post(
            &app,
            "/caja/session/close",
            &[("register_id", "2"), ("cash_count", "0")],
        )
        .await;
    assert_eq!(closed.status(), 303);
    app.create_user("supervisora", Role::Supervisor);
    let Some(floor) = Browser::start().await else {
        return;
    };
    floor.log_in(&app, "supervisora").await;
    floor.goto(&app, "/admin/piso").await;
    floor.wait_text("[data-bind=connection]", "En línea").await;
    floor
        .wait_true("document.querySelector('.tiles .tile')?.dataset.caja === '2'")
        .await;
    let first = floor.text(".tiles .tile [data-field=alerts]").await;
    assert!(first.starts_with("Cerró con faltante de $1.000"), "{first}");

    let stopped = app.stop().await;
    floor
        .wait_text_prefix(
            "[data-bind=stale]",
            "Sin conexión con el servidor desde las",
        )
        .await;
    assert_eq!(
        floor
            .script("return document.getElementById('floor').dataset.stale")
            .await,
        Value::String("yes".into())
    );
    floor.screenshots("piso-sin-servidor").await;
    let _app = stopped.start().await;
    floor.wait_text("[data-bind=connection]", "En línea").await;
    assert_eq!(
        floor
            .script("return document.getElementById('floor').dataset.stale")
            .await,
        Value::String("no".into())
    );
    floor.close().await;
}

/// Cash with change in three touches: the amount's digits aside, one
/// touch on the bill handed over charges the sale and shows the change.
#[actix_web::test]
async fn a_cash_sale_is_charged_with_one_touch_on_the_bill_handed_over() {
    let app = TestApp::spawn_as_admin().await;
    let Some(pos) = cashier_on_the_pos(&app).await else {
        return;
    };
    pos.fill("#amount", "3.500").await;
    pos.wait_text_prefix("[data-bind=quick-tender]", "Exacto $3.500")
        .await;
    assert_eq!(
        pos.script("return [...document.querySelectorAll('[data-bind=quick-tender] button')].map(b => b.textContent)")
            .await,
        serde_json::json!(["Exacto $3.500", "$4.000", "$5.000", "$10.000"])
    );
    pos.screenshots("pos-efectivo-rapido").await;
    pos.click("[data-bind=quick-tender] button[data-tender='5000']")
        .await;
    pos.wait_text("[data-bind=sale-result]", "Venta registrada: $3.500")
        .await;
    pos.wait_text("[data-bind=sale-change]", "VUELTO $1.500")
        .await;
    // The next sale's method chosen: the last change gives way.
    pos.click("input[name=method][value=DEBITO]").await;
    pos.wait_true("document.querySelector('[data-bind=sale-change]').hidden")
        .await;
    pos.click("input[name=method][value=EFECTIVO]").await;
    assert_eq!(
        app.count(
            "SELECT count(*) AS n FROM sale_payments WHERE tendered = 5000 AND change_given = 1500"
        ),
        1
    );
    // Exacto: no change.
    pos.fill("#amount", "2.000").await;
    pos.click("[data-bind=quick-tender] button[data-tender='2000']")
        .await;
    pos.wait_text("[data-bind=sale-result]", "Venta registrada: $2.000")
        .await;
    assert_eq!(app.count("SELECT count(*) AS n FROM sales"), 2);
    pos.close().await;
}

/// A cashier logging in lands on the POS: of their open session, or the
/// form that opens one; and on a desktop the amount is two Tabs from what
/// was received (the touch keypad is not in the way).
#[actix_web::test]
async fn a_cashier_lands_on_the_pos_and_tabs_straight_to_the_cash_received() {
    let app = TestApp::spawn_as_admin().await;
    caja_in_open_jornada(&app).await;
    app.create_user("cajero1", Role::Cajero);
    let Some(pos) = Browser::start().await else {
        return;
    };
    pos.log_in(&app, "cajero1").await;
    let url = pos.client.current_url().await.unwrap();
    assert_eq!(url.path(), "/caja/session/open", "no session yet: the form");
    pos.choose("#register_id", "1").await;
    pos.fill("#initial_cash", "0").await;
    pos.click("button[type=submit].primary").await;
    pos.wait_text("[data-bind=connection]", "En línea").await;
    let logout = pos
        .script("document.querySelector('form.logout').submit(); return true")
        .await;
    assert_eq!(logout, Value::Bool(true));
    pos.wait_text("main h1", "Ingresar").await;
    pos.fill("#name", "cajero1").await;
    pos.fill("#secret", crate::helpers::PASSWORD).await;
    pos.click("button[type=submit].primary").await;
    pos.wait_text("[data-bind=connection]", "En línea").await;
    assert_eq!(pos.client.current_url().await.unwrap().path(), "/caja/pos");

    pos.script("document.getElementById('amount').focus()")
        .await;
    pos.press("\u{E004}").await;
    pos.press("\u{E004}").await;
    assert_eq!(
        pos.script("return document.activeElement.id").await,
        Value::String("tendered".into())
    );
    pos.close().await;
}

/// Once a cashier opened a session on a browser, that browser is a caja's
/// device: its login offers the venue's cashiers with a PIN to pick (no
/// name typed), and "Escribe tu usuario" still lets anyone else in. Any
/// other browser, or one whose device cookie this hub did not sign, lists
/// no names.
#[actix_web::test]
async fn a_cajas_device_offers_its_cashiers_to_pick_at_login() {
    let app = TestApp::spawn_as_admin().await;
    let Some(pos) = cashier_on_the_pos(&app).await else {
        return;
    };
    let pin = cajahub::auth::password::Pin::parse("2468".into()).unwrap();
    cajahub::auth::user::set_pin(
        &mut app.conn(),
        &cajahub::audit::Actor::command_line(),
        "cajero1",
        Some(&pin),
    )
    .unwrap();
    // The PIN change ended the login: the POS goes to the login page.
    pos.wait_text("main h1", "Ingresar").await;
    assert_eq!(
        pos.script("return document.getElementById('name').tagName")
            .await,
        Value::String("SELECT".into())
    );
    pos.screenshots("login-caja-elegir-cajero").await;
    pos.choose("#name", "cajero1").await;
    pos.fill("#secret", "2468").await;
    pos.click("button[type=submit].primary").await;
    pos.wait_text("[data-bind=connection]", "En línea").await;

    // Elsewhere: a name to type, never a list of names.
    let page = app
        .anonymous()
        .get(&app, "/login")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains(r#"<input id="name""#) && !page.contains("cajero1"),
        "{page}"
    );
    let forged = reqwest::Client::new()
        .get(app.url("/login"))
        .header("cookie", "cajahub_caja_device=1")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!forged.contains("cajero1"), "{forged}");
    pos.close().await;
}
