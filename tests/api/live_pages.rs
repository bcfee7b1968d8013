//! The live pages in headless Chromium: the POS page and the floor
//! dashboard, kept live over WebSockets, and the POS's outbox across a hub
//! that goes away.

use cajahub::auth::user::Role;
use serde_json::Value;

use crate::browser::Browser;
use crate::cajas::paso_6_1_fields;
use crate::helpers::{HubProcess, TestApp};
use crate::screens::{caja_in_open_jornada, supervisor_closes_caja_1};

const OUTBOX: &str = "return JSON.parse(localStorage.getItem('cajahub.pos.1.outbox') || '[]')";

/// A caja (PASO 6.1) in an open jornada, and a cashier's browser on its POS
/// page after opening the session through the page.
async fn cashier_on_the_pos(app: &TestApp) -> Option<Browser> {
    caja_in_open_jornada(app).await;
    app.create_user("cajero1", Role::Cajero);
    let cashier = Browser::start().await?;
    cashier.log_in(app, "cajero1").await;
    cashier.goto(app, "/caja/session/open").await;
    cashier.choose("#register_id", "1").await;
    cashier.fill("#initial_cash", "50.000").await;
    cashier.click("button[type=submit].primary").await;
    cashier
        .wait_text("[data-bind=connection]", "En línea")
        .await;
    Some(cashier)
}

/// Types an amount on the POS, picks the method and charges.
async fn sell(pos: &Browser, amount: &str, method: &str) {
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
    app.create_user("supervisora", Role::Supervisor);
    let Some(floor) = Browser::start().await else {
        return;
    };
    floor.log_in(&app, "supervisora").await;
    floor.goto(&app, "/admin/piso").await;
    floor.wait_text("[data-bind=connection]", "En línea").await;
    let tile = "[data-caja='1']";
    floor
        .wait_text(&format!("{tile} [data-field=status]"), "Abierta")
        .await;
    floor
        .wait_text(&format!("{tile} [data-field=cashier]"), "cajero1")
        .await;

    // A card sale, typed on the keyboard, on the provider the hub advises.
    pos.wait_text(
        "[data-bind=provider-advice]",
        "Usa GETNET. GETNET es el proveedor principal; si no responde en 60 s, usa KLAP.",
    )
    .await;
    sell(&pos, "12345", "DEBITO").await;
    pos.wait_text("[data-bind=sale-result]", "Venta registrada: $12.345")
        .await;
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
    pos.wait_text(
        "[data-bind=sale-result]",
        "Venta registrada: $1.000 · vuelto $1.000",
    )
    .await;
    floor
        .wait_text(&format!("{tile} [data-field=total]"), "$13.345")
        .await;
    let recent = pos.text("[data-bind=recent]").await;
    assert!(recent.contains("$1.000 · Efectivo"), "{recent}");
    assert!(recent.contains("$12.345 · Débito · GETNET"), "{recent}");

    // A sale the cashier reports on the backup switches both screens.
    pos.fill("#amount", "5000").await;
    pos.click("input[name=method][value=CREDITO]").await;
    pos.click("input[name=provider][value=KLAP]").await;
    pos.click("button.charge").await;
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
        "Usa KLAP. KLAP es el proveedor principal; si no responde en 60 s, usa GETNET.",
    )
    .await;
    pos.click("input[name=method][value=DEBITO]").await;
    let providers = pos.text("[data-bind=providers]").await;
    assert!(
        providers.contains("KLAP (principal)") && providers.contains("GETNET (respaldo)"),
        "{providers}"
    );
    assert_eq!(
        pos.script("return window.notReloaded === true").await,
        Value::Bool(true)
    );

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
    assert_eq!(app.count("SELECT count(*) AS n FROM sales"), 3);
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
    // Flagged on the device, then handed to the hub for a supervisor.
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
            "La sesión se cerró antes de que la venta llegara al servidor."
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

/// A caja whose row another transaction holds: the POS keeps the sale and
/// says the caja does not answer, the floor marks its tile "Sin respuesta";
/// once the lock goes the sale goes in by itself and both screens recover.
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
    app.create_user("supervisora", Role::Supervisor);
    let Some(floor) = Browser::start().await else {
        return;
    };
    floor.log_in(&app, "supervisora").await;
    floor.goto(&app, "/admin/piso").await;
    floor.wait_text("[data-bind=connection]", "En línea").await;
    let tile = "[data-caja='1']";
    floor
        .wait_text(&format!("{tile} [data-field=status]"), "Abierta")
        .await;

    let mut lock = app.conn();
    lock.batch_execute("BEGIN; SELECT 1 FROM pos_registers WHERE id = 1 FOR UPDATE;")
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
