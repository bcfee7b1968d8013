//! `/admin/cajas/reportes` (PASO 6.3) and its CSV: every figure against an
//! independent SQL query over the sale rows, bad filters named, roles.

use cajahub::auth::user::Role;
use serde_json::{Value, json};

use crate::browser::Browser;
use crate::cajas::paso_6_1_fields;
use crate::helpers::{TestApp, Visitor, without_tags};
use crate::registers::{key, open_session, post_json, sell};

fn card(total: i64, method: &str, provider: &str) -> Value {
    json!({"key": key(), "total": total, "payments": [{"method": method, "amount": total, "provider": provider, "authorization_code": "AB12CD"}]})
}

fn cash(total: i64) -> Value {
    json!({"key": key(), "total": total, "payments": [{"method": "EFECTIVO", "amount": total}]})
}

async fn close(app: &TestApp, who: &Visitor, caja: i32, counted: &str) {
    let response = who
        .post(
            app,
            "/caja/session/close",
            &[("register_id", &caja.to_string()), ("cash_count", counted)],
        )
        .await;
    assert_eq!(response.status(), 303, "closed");
}

/// Two cajas over two jornadas: sales in every method, mixed payments, a
/// sale on the backup, a void, a drop, a faltante and a sobrante, and an
/// open session in the second jornada.
pub async fn a_night(app: &TestApp) -> (i32, i32) {
    let mut second = paso_6_1_fields();
    for (field, value) in second.iter_mut() {
        match *field {
            "name" => *value = "Barra Sur",
            "code" => *value = "SUR-1",
            _ => {}
        }
    }
    for fields in [paso_6_1_fields(), second] {
        assert_eq!(
            app.post_form("/admin/cajas/crear", &fields).await.status(),
            303
        );
    }
    let id = |code: &str| {
        app.count(&format!(
            "SELECT id::bigint AS n FROM pos_registers WHERE code = '{code}'"
        )) as i32
    };
    let (a, b) = (id("TEST-01"), id("SUR-1"));
    let supervisor = app.visitor("supervisora", Role::Supervisor).await;
    assert_eq!(
        supervisor
            .post(app, "/admin/jornadas/abrir", &[])
            .await
            .status(),
        303
    );
    let ana = app.visitor("ana", Role::Cajero).await;
    let beto = app.visitor("beto", Role::Cajero).await;
    assert_eq!(open_session(app, &ana, a, "50000").await.status(), 303);
    assert_eq!(open_session(app, &beto, b, "20000").await.status(), 303);
    for body in [
        cash(12_340),
        card(8_000, "DEBITO", "GETNET"),
        card(5_500, "CREDITO", "KLAP"),
        json!({"key": key(), "total": 10_000, "payments": [{"method": "EFECTIVO", "amount": 4_000}, {"method": "TRANSFERENCIA", "amount": 6_000}]}),
    ] {
        assert_eq!(sell(app, &ana, a, &body).await.0, 201, "{body}");
    }
    let (_, voided) = sell(app, &ana, a, &cash(3_000)).await;
    let (status, _) = post_json(
        app,
        &supervisor,
        &format!("/api/cajas/{a}/sales/{}/void", voided["sale_id"]),
        &json!({"key": key(), "reason": "error"}),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = post_json(
        app,
        &ana,
        &format!("/api/cajas/{a}/cash-movements"),
        &json!({"key": key(), "kind": "RETIRO", "amount": 10_000, "reason": "buzón"}),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(sell(app, &beto, b, &cash(7_000)).await.0, 201);
    // Ana: 50.000 + 12.340 (cash, rounded 12.340) + 4.000 − 10.000 = 56.340; she counts 55.840 (faltante 500).
    close(app, &supervisor, a, "55840").await;
    // Beto: 20.000 + 7.000 = 27.000; he counts 27.100 (sobrante 100).
    close(app, &supervisor, b, "27100").await;
    assert_eq!(
        supervisor
            .post(app, "/admin/jornadas/1/cerrar", &[])
            .await
            .status(),
        303
    );
    assert_eq!(
        supervisor
            .post(app, "/admin/jornadas/abrir", &[])
            .await
            .status(),
        303
    );
    assert_eq!(open_session(app, &ana, a, "30000").await.status(), 303);
    assert_eq!(
        sell(app, &ana, a, &card(2_500, "DEBITO", "GETNET")).await.0,
        201
    );
    (a, b)
}

/// The figure of caja `caja` in jornada `jornada`, from the sale rows.
fn from_rows(app: &TestApp, caja: i32, jornada: i32, what: &str) -> i64 {
    let scope = format!("rs.register_id = {caja} AND rs.jornada_id = {jornada}");
    let sql = match what {
        "tickets" => format!(
            "SELECT count(*) AS n FROM sales s JOIN register_sessions rs ON rs.id = s.session_id WHERE {scope} AND s.voided_at IS NULL"
        ),
        "voids" => format!(
            "SELECT count(*) AS n FROM sales s JOIN register_sessions rs ON rs.id = s.session_id WHERE {scope} AND s.voided_at IS NOT NULL"
        ),
        "difference" => format!(
            "SELECT coalesce(sum(rs.cash_count - (rs.initial_cash + rs.cash_sales + rs.cash_in - rs.cash_out)), 0)::bigint AS n FROM register_sessions rs WHERE {scope} AND rs.status = 'CLOSED'"
        ),
        method => format!(
            "SELECT coalesce(sum(p.amount_charged), 0)::bigint AS n FROM sale_payments p JOIN sales s ON s.id = p.sale_id JOIN register_sessions rs ON rs.id = s.session_id WHERE {scope} AND s.voided_at IS NULL AND p.method = '{method}'"
        ),
    };
    app.count(&sql)
}

fn cell(page: &str, caja: &str, field: &str) -> String {
    let row = page
        .find(&format!("data-caja=\"{caja}\""))
        .unwrap_or_else(|| panic!("row {caja}"));
    let rest = &page[row..];
    let at = rest
        .find(&format!("data-field=\"{field}\""))
        .unwrap_or_else(|| panic!("{field} of {caja}"));
    let start = rest[at..].find('>').unwrap() + at + 1;
    let end = rest[start..].find("</td>").unwrap() + start;
    without_tags(&rest[start..end]).trim().to_owned()
}

fn pesos(n: i64) -> String {
    cajahub::money::Pesos::new(n).unwrap().to_string()
}

#[actix_web::test]
async fn every_figure_equals_sql_over_the_sales_and_the_csv_equals_the_page() {
    let app = TestApp::spawn_as_admin().await;
    let (a, b) = a_night(&app).await;
    let supervisor = app.visitor("supervisora", Role::Supervisor).await;
    let page = supervisor
        .get(&app, "/admin/cajas/reportes?jornada=1")
        .await;
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    let rows = csv_rows(&app, &supervisor, "/admin/cajas/reportes.csv?jornada=1").await;
    let header = &rows[0];
    let column = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .unwrap_or_else(|| panic!("{name}"))
    };
    let csv_row = |code: &str| {
        rows.iter()
            .find(|r| r[1] == code)
            .unwrap_or_else(|| panic!("{code}"))
            .clone()
    };

    for (caja, code) in [(a, "TEST-01"), (b, "SUR-1")] {
        let id = caja.to_string();
        let row = csv_row(code);
        for (field, column_name) in [
            ("EFECTIVO", "efectivo"),
            ("DEBITO", "debito"),
            ("CREDITO", "credito"),
            ("TRANSFERENCIA", "transferencia"),
            ("tickets", "ticket_count"),
            ("voids", "anuladas"),
            ("difference", "diferencias"),
        ] {
            let expected = from_rows(&app, caja, 1, field);
            let column_name = match column_name {
                "ticket_count" => "ventas",
                other => other,
            };
            assert_eq!(
                row[column(column_name)],
                expected.to_string(),
                "{code} {field} in the CSV"
            );
            let shown = cell(&page, &id, field);
            let want = if matches!(field, "tickets" | "voids") {
                expected.to_string()
            } else {
                pesos(expected)
            };
            assert_eq!(shown, want, "{code} {field} on the page");
        }
    }
    // The figures of the night, by hand: cash 12.340 + 4.000 + 7.000; the faltante and the sobrante.
    assert_eq!(cell(&page, "total", "EFECTIVO"), "$23.340");
    assert_eq!(cell(&page, "total", "difference"), "-$400");
    assert_eq!(cell(&page, &a.to_string(), "voids"), "1");
    assert_eq!(
        cell(&page, &a.to_string(), "usage"),
        "1 / 1",
        "GETNET primary, KLAP backup"
    );
    assert!(cell(&page, &a.to_string(), "last-session").contains("ana"));
    let total = rows.iter().find(|r| r[0] == "TOTAL").unwrap();
    assert_eq!(
        total[column("total")],
        (23_340 + 8_000 + 5_500 + 6_000).to_string()
    );
    assert_eq!(total[column("diferencias")], "-400");

    // The open jornada by default: running totals of the open session.
    let current = supervisor
        .get(&app, "/admin/cajas/reportes")
        .await
        .text()
        .await
        .unwrap();
    assert!(current.contains("Jornada #2 (abierta)"));
    assert_eq!(
        cell(&current, &a.to_string(), "DEBITO"),
        pesos(from_rows(&app, a, 2, "DEBITO"))
    );
    assert_eq!(
        cell(&current, &b.to_string(), "total"),
        "$0",
        "a caja not opened this jornada"
    );

    // A date range covering both jornadas adds them up.
    let today = app
        .count("SELECT to_char(now() AT TIME ZONE 'America/Santiago', 'YYYYMMDD')::bigint AS n")
        .to_string();
    let day = format!("{}-{}-{}", &today[..4], &today[4..6], &today[6..]);
    let range = supervisor
        .get(
            &app,
            &format!("/admin/cajas/reportes?desde={day}&hasta={day}"),
        )
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(
        cell(&range, &a.to_string(), "DEBITO"),
        pesos(from_rows(&app, a, 1, "DEBITO") + from_rows(&app, a, 2, "DEBITO"))
    );
}

#[actix_web::test]
async fn bad_filters_are_named_and_the_report_stays_usable() {
    let app = TestApp::spawn_as_admin().await;
    let supervisor = app.visitor("supervisora", Role::Supervisor).await;
    let empty = supervisor.get(&app, "/admin/cajas/reportes").await;
    assert_eq!(empty.status(), 200);
    assert!(
        empty
            .text()
            .await
            .unwrap()
            .contains("Sin jornadas aún: cada caja y su última sesión registrada")
    );
    a_night(&app).await;
    for (query, field, message) in [
        (
            "desde=2026-11-20&hasta=2026-11-01",
            "hasta",
            "La fecha final es anterior a la inicial.",
        ),
        (
            "desde=2026-13-01",
            "desde",
            "Fecha no válida: usa el formato AAAA-MM-DD.",
        ),
        (
            "hasta=ayer",
            "hasta",
            "Fecha no válida: usa el formato AAAA-MM-DD.",
        ),
        (
            "jornada=999",
            "jornada",
            "No existe la jornada #999: se muestra la actual.",
        ),
        ("jornada=uno", "jornada", "Elige una jornada de la lista."),
    ] {
        let response = supervisor
            .get(&app, &format!("/admin/cajas/reportes?{query}"))
            .await;
        assert_eq!(response.status(), 422, "{query}");
        let page = response.text().await.unwrap();
        assert!(
            page.contains(&format!("id=\"{field}-error\">{message}")),
            "{query}"
        );
        assert!(
            page.contains("Jornada #2 (abierta)"),
            "the rest of the report: {query}"
        );
        let csv = supervisor
            .get(&app, &format!("/admin/cajas/reportes.csv?{query}"))
            .await;
        assert_eq!(csv.status(), 400, "{query}");
    }
    let cashier = app.visitor("ana", Role::Cajero).await;
    assert_eq!(
        cashier.get(&app, "/admin/cajas/reportes").await.status(),
        403
    );
    assert_eq!(
        cashier
            .get(&app, "/admin/cajas/reportes.csv")
            .await
            .status(),
        403
    );
}

/// PASO 6.3 as the runbook writes it, in Chromium.
#[actix_web::test]
async fn paso_6_3_in_the_browser() {
    let app = TestApp::spawn_as_admin().await;
    a_night(&app).await;
    let Some(browser) = Browser::start().await else {
        return;
    };
    app.create_user("jefa", Role::Admin);
    browser.log_in(&app, "jefa").await;
    browser.goto(&app, "/admin/cajas/reportes?jornada=1").await;
    let header = browser.text("#reporte-cajas thead").await;
    for shown in [
        "Caja · Providers",
        "Última sesión",
        "Efectivo",
        "Débito",
        "Crédito",
        "Transferencia",
        "Ticket count",
        "Diferencias",
    ] {
        assert!(header.contains(shown), "{shown} in {header}");
    }
    assert_eq!(
        browser
            .text("#reporte-cajas tr[data-caja='1'] [data-field=providers]")
            .await,
        "GETNET / KLAP"
    );
    browser.screenshots("reportes-cajas").await;
    // Every column fits a desktop; on a phone each caja is a card whose
    // figures all show, with their labels.
    let fits = "const t = document.getElementById('reporte-cajas'); \
                return t.getBoundingClientRect().right <= t.parentElement.getBoundingClientRect().right + 1";
    assert_eq!(
        browser.script(fits).await,
        serde_json::json!(true),
        "1366 px"
    );
    browser.client.set_window_size(390, 844).await.unwrap();
    let card = browser
        .script(
            "const row = document.querySelector('#reporte-cajas tr[data-caja=\"1\"]'); \
             return [...row.querySelectorAll('td')].filter(td => td.getBoundingClientRect().right > innerWidth || !td.getClientRects().length).length",
        )
        .await;
    assert_eq!(
        card,
        serde_json::json!(0),
        "every figure of the caja shows at 390 px"
    );
    let label = browser
        .script(
            "const total = document.querySelector('#reporte-cajas tr[data-caja=\"1\"] [data-field=total]'); \
             return [getComputedStyle(total, '::before').content, total.innerText]",
        )
        .await;
    assert_eq!(label, serde_json::json!(["\"Total\"", "$35.840"]));
    browser.close().await;
}

/// The jornada report: the owner's figures, each caja's cuadratura, the
/// fallbacks and the sales per hour, against SQL over the sale rows.
#[actix_web::test]
async fn the_jornada_report_matches_the_sales() {
    let app = TestApp::spawn_as_admin().await;
    let (a, _) = a_night(&app).await;
    let supervisor = app.visitor("supervisora", Role::Supervisor).await;
    let response = supervisor.get(&app, "/admin/jornadas/1").await;
    assert_eq!(response.status(), 200);
    let page = response.text().await.unwrap();
    let sold = "FROM sales s JOIN register_sessions rs ON rs.id = s.session_id WHERE rs.jornada_id = 1 AND s.voided_at IS NULL";
    let total = app.count(&format!("SELECT sum(s.total_charged)::bigint AS n {sold}"));
    let tickets = app.count(&format!("SELECT count(*) AS n {sold}"));
    let card = app.count("SELECT coalesce(sum(p.amount_charged), 0)::bigint AS n FROM sale_payments p JOIN sales s ON s.id = p.sale_id JOIN register_sessions rs ON rs.id = s.session_id WHERE rs.jornada_id = 1 AND s.voided_at IS NULL AND p.method IN ('DEBITO', 'CREDITO')");
    let dd = |field: &str| {
        let at = page
            .find(&format!("<dd data-field=\"{field}\">"))
            .unwrap_or_else(|| panic!("{field}"));
        let rest = &page[at..];
        let start = rest.find('>').unwrap() + 1;
        without_tags(&rest[start..rest.find("</dd>").unwrap()])
            .trim()
            .to_owned()
    };
    assert_eq!(dd("total"), pesos(total));
    assert_eq!(dd("tickets"), tickets.to_string());
    assert_eq!(dd("average"), pesos((total + tickets / 2) / tickets));
    assert!(dd("card").starts_with(&pesos(card)), "{}", dd("card"));
    assert!(page.contains(">faltante $500<"), "ana's faltante");
    assert!(page.contains(">sobrante $100<"), "beto's sobrante");
    assert!(
        page.contains("TEST GETNET+KLAP: 1 pago(s) en KLAP"),
        "the payment on the backup"
    );
    let hours = app.count(&format!("SELECT count(DISTINCT date_trunc('hour', s.created_at AT TIME ZONE 'America/Santiago')) AS n {sold}"));
    assert_eq!(page.matches("<g data-hour=").count() as i64, hours);
    assert!(page.contains(&format!("data-caja=\"{a}\"")));

    let Some(browser) = Browser::start().await else {
        return;
    };
    app.create_user("jefa", Role::Admin);
    browser.log_in(&app, "jefa").await;
    browser.goto(&app, "/admin/jornadas/1").await;
    browser.wait_text_prefix("h1", "Jornada #1").await;
    browser.screenshots("jornada-reporte").await;
    browser.close().await;
}

/// A report with an open session follows the floor: a sale shows on it
/// without a reload.
#[actix_web::test]
async fn an_open_session_updates_the_report_live() {
    let app = TestApp::spawn_as_admin().await;
    let (a, _) = a_night(&app).await;
    let Some(browser) = Browser::start().await else {
        return;
    };
    app.create_user("jefa", Role::Admin);
    browser.log_in(&app, "jefa").await;
    browser.goto(&app, "/admin/cajas/reportes").await;
    let cell = format!("#reporte-cajas tr[data-caja='{a}'] [data-field=DEBITO]");
    browser.wait_text(&cell, "$2.500").await;
    browser.script("window.notReloaded = true").await;
    let ana = app.visitor("ana", Role::Cajero).await;
    assert_eq!(
        sell(&app, &ana, a, &card(1_000, "DEBITO", "GETNET"))
            .await
            .0,
        201
    );
    browser.wait_text(&cell, "$3.500").await;
    assert_eq!(
        browser.script("return window.notReloaded === true").await,
        serde_json::json!(true),
        "updated in place"
    );
    browser.close().await;
}

/// A CSV download parsed into rows (BOM, `;`, CRLF), after checking it is one.
pub(crate) async fn csv_rows(app: &TestApp, who: &Visitor, path: &str) -> Vec<Vec<String>> {
    let response = who.get(app, path).await;
    assert_eq!(response.status(), 200, "{path}");
    assert_eq!(
        response.headers()["content-type"],
        "text/csv; charset=utf-8"
    );
    let text = response.text().await.unwrap();
    assert!(text.starts_with('\u{FEFF}'), "a BOM for spreadsheets");
    text.trim_start_matches('\u{FEFF}')
        .split("\r\n")
        .filter(|l| !l.is_empty())
        .map(|l| l.split(';').map(str::to_owned).collect())
        .collect()
}

/// The closing sheet as CSV: every figure equals the rows it sums, and only
/// who may read the sheet gets it.
#[actix_web::test]
async fn the_closing_sheet_exports_as_csv_equal_to_the_rows() {
    let app = TestApp::spawn_as_admin().await;
    let (a, _) = a_night(&app).await;
    let supervisor = app.visitor("supervisora", Role::Supervisor).await;
    let session = app.count(&format!(
        "SELECT min(id)::bigint AS n FROM register_sessions WHERE register_id = {a}"
    ));
    let rows = csv_rows(
        &app,
        &supervisor,
        &format!("/caja/session/{session}/cierre.csv"),
    )
    .await;
    assert_eq!(
        rows[0],
        ["seccion", "concepto", "detalle", "cantidad", "monto"]
    );
    let amount = |section: &str, what: &str| -> i64 {
        let row = rows
            .iter()
            .find(|r| r[0] == section && r[1] == what)
            .unwrap_or_else(|| panic!("{section} {what}"));
        row[4]
            .parse()
            .unwrap_or_else(|_| panic!("{section} {what}: {row:?}"))
    };
    let of_session = |sql: &str| app.count(&sql.replace("$S", &session.to_string()));
    for method in ["EFECTIVO", "DEBITO", "CREDITO", "TRANSFERENCIA"] {
        assert_eq!(
            amount("ventas", method),
            of_session(&format!(
                "SELECT coalesce(sum(p.amount_charged), 0)::bigint AS n FROM sale_payments p JOIN sales s ON s.id = p.sale_id WHERE s.session_id = $S AND s.voided_at IS NULL AND p.method = '{method}'"
            )),
            "{method}"
        );
    }
    let counted = of_session("SELECT cash_count AS n FROM register_sessions WHERE id = $S");
    let expected = of_session(
        "SELECT (initial_cash + cash_sales + cash_in - cash_out) AS n FROM register_sessions WHERE id = $S",
    );
    assert_eq!(amount("efectivo", "contado"), counted);
    assert_eq!(amount("efectivo", "esperado"), expected);
    assert_eq!(amount("efectivo", "diferencia"), counted - expected);
    assert_eq!(amount("efectivo", "diferencia"), -500, "ana's faltante");
    assert_eq!(
        amount("efectivo", "retiros"),
        of_session(
            "SELECT coalesce(sum(amount), 0)::bigint AS n FROM cash_movements WHERE session_id = $S AND kind = 'RETIRO'"
        )
    );
    let sales: Vec<_> = rows.iter().filter(|r| r[0] == "venta").collect();
    assert_eq!(
        sales.len() as i64,
        of_session("SELECT count(*) AS n FROM sales WHERE session_id = $S")
    );
    let voided: Vec<_> = sales.iter().filter(|r| r[1].ends_with("anulada")).collect();
    assert_eq!(voided.len(), 1);
    assert!(
        voided[0][2].contains("por supervisora: error"),
        "{:?}",
        voided[0]
    );
    let registered: i64 = sales
        .iter()
        .filter(|r| r[1].ends_with("registrada"))
        .map(|r| r[4].parse::<i64>().unwrap())
        .sum();
    assert_eq!(
        registered,
        of_session(
            "SELECT sum(total_charged)::bigint AS n FROM sales WHERE session_id = $S AND voided_at IS NULL"
        )
    );
    let klap = rows
        .iter()
        .find(|r| r[0] == "proveedor" && r[1] == "KLAP" && r[2] == "aprobados")
        .expect("the backup's line");
    assert_eq!((klap[3].as_str(), klap[4].as_str()), ("1", "5500"));

    // Another cashier may not read it: to them it does not exist (404),
    // as a session that does not exist.
    let other = app.visitor("carla", Role::Cajero).await;
    let path = format!("/caja/session/{session}/cierre.csv");
    assert_eq!(other.get(&app, &path).await.status(), 404);
    assert_eq!(
        supervisor
            .get(&app, "/caja/session/999/cierre.csv")
            .await
            .status(),
        404
    );
    assert_eq!(
        supervisor
            .get(&app, "/caja/session/x/cierre.csv")
            .await
            .status(),
        404
    );
}

/// A session opened before midnight belongs to the day it opened, whole;
/// the jornada's hours run on past midnight, quiet hours included, and the
/// hourly CSV equals the chart and the rows.
#[actix_web::test]
async fn a_session_across_midnight_counts_on_the_day_it_opened() {
    let app = TestApp::spawn_as_admin().await;
    let (a, b) = a_night(&app).await;
    let supervisor = app.visitor("supervisora", Role::Supervisor).await;
    let at = |local: &str| format!("(timestamp '{local}' AT TIME ZONE 'America/Santiago')");
    // Ana from 23:30 to 02:10, her sales at 23:40, 00:25, 02:05 (none at 01:00);
    // Beto from 00:15, the next day.
    app.execute(&format!(
        "UPDATE register_sessions SET opened_at = {}, closed_at = {} WHERE register_id = {a} AND jornada_id = 1",
        at("2026-03-14 23:30"),
        at("2026-03-15 02:10")
    ));
    app.execute(&format!(
        "UPDATE sales s SET created_at = CASE (SELECT count(*) FROM sales o WHERE o.session_id = s.session_id AND o.id < s.id) % 3
             WHEN 0 THEN {} WHEN 1 THEN {} ELSE {} END
           FROM register_sessions rs WHERE rs.id = s.session_id AND rs.register_id = {a} AND rs.jornada_id = 1",
        at("2026-03-14 23:40"),
        at("2026-03-15 00:25"),
        at("2026-03-15 02:05")
    ));
    app.execute(&format!(
        "UPDATE register_sessions SET opened_at = {}, closed_at = {} WHERE register_id = {b} AND jornada_id = 1",
        at("2026-03-15 00:15"),
        at("2026-03-15 03:00")
    ));
    app.execute(&format!(
        "UPDATE sales s SET created_at = {} FROM register_sessions rs WHERE rs.id = s.session_id AND rs.register_id = {b} AND rs.jornada_id = 1",
        at("2026-03-15 00:30")
    ));

    let on = |day: &str, caja: i32, method: &str| {
        app.count(&format!(
            "SELECT coalesce(sum(p.amount_charged), 0)::bigint AS n FROM sale_payments p JOIN sales s ON s.id = p.sale_id JOIN register_sessions rs ON rs.id = s.session_id
              WHERE rs.register_id = {caja} AND (rs.opened_at AT TIME ZONE 'America/Santiago')::date = '{day}' AND s.voided_at IS NULL AND p.method = '{method}'"
        ))
    };
    for day in ["2026-03-14", "2026-03-15"] {
        let page = supervisor
            .get(
                &app,
                &format!("/admin/cajas/reportes?desde={day}&hasta={day}"),
            )
            .await
            .text()
            .await
            .unwrap();
        for caja in [a, b] {
            for method in ["EFECTIVO", "DEBITO", "CREDITO", "TRANSFERENCIA"] {
                assert_eq!(
                    cell(&page, &caja.to_string(), method),
                    pesos(on(day, caja, method)),
                    "caja {caja} {method} on {day}"
                );
            }
        }
    }
    assert!(
        on("2026-03-14", a, "EFECTIVO") > 0,
        "ana's night is on the 14th"
    );
    assert_eq!(on("2026-03-15", a, "EFECTIVO"), 0, "and not on the 15th");

    // The jornada's hours: 23:00 to 03:00 of the 15th... ana's and beto's sales, 01:00 quiet.
    let page = supervisor
        .get(&app, "/admin/jornadas/1")
        .await
        .text()
        .await
        .unwrap();
    let labels: Vec<&str> = page
        .match_indices("<g data-hour=\"")
        .map(|(i, m)| &page[i + m.len()..i + m.len() + 5])
        .collect();
    assert_eq!(labels, ["23:00", "00:00", "01:00", "02:00"]);
    let rows = csv_rows(&app, &supervisor, "/admin/jornadas/1/ventas-por-hora.csv").await;
    assert_eq!(rows[0], ["hora", "ventas", "total"]);
    let by_hour = |hour: &str| {
        app.count(&format!(
            "SELECT count(*) AS n FROM sales s JOIN register_sessions rs ON rs.id = s.session_id
              WHERE rs.jornada_id = 1 AND s.voided_at IS NULL
                AND to_char(s.created_at AT TIME ZONE 'America/Santiago', 'DD-MM-YYYY HH24:00') = '{hour}'"
        ))
    };
    let hours: Vec<&str> = rows[1..rows.len() - 1]
        .iter()
        .map(|r| r[0].as_str())
        .collect();
    assert_eq!(
        hours,
        [
            "14-03-2026 23:00",
            "15-03-2026 00:00",
            "15-03-2026 01:00",
            "15-03-2026 02:00"
        ]
    );
    for row in &rows[1..rows.len() - 1] {
        assert_eq!(row[1], by_hour(&row[0]).to_string(), "{row:?}");
    }
    assert_eq!(rows[3][1], "0", "01:00 was quiet");
    let total = rows.last().unwrap();
    assert_eq!(total[0], "TOTAL");
    assert_eq!(
        total[2],
        app.count("SELECT sum(s.total_charged)::bigint AS n FROM sales s JOIN register_sessions rs ON rs.id = s.session_id WHERE rs.jornada_id = 1 AND s.voided_at IS NULL")
            .to_string()
    );
    assert_eq!(
        supervisor
            .get(&app, "/admin/jornadas/99/ventas-por-hora.csv")
            .await
            .status(),
        404
    );
    let cashier = app.visitor("carla", Role::Cajero).await;
    assert_eq!(
        cashier
            .get(&app, "/admin/jornadas/1/ventas-por-hora.csv")
            .await
            .status(),
        403
    );
}

/// The closing sheet on paper: on A4 and on an 80 mm receipt roll, the
/// screen's bar and buttons are gone and nothing runs off the paper's edge.
#[actix_web::test]
async fn the_closing_sheet_fits_a4_and_an_80_mm_roll() {
    let app = TestApp::spawn_as_admin().await;
    let (a, _) = a_night(&app).await;
    let session = app.count(&format!(
        "SELECT min(id)::bigint AS n FROM register_sessions WHERE register_id = {a}"
    ));
    let Some(browser) = Browser::start().await else {
        return;
    };
    app.create_user("jefa", Role::Admin);
    browser.log_in(&app, "jefa").await;
    for path in [
        format!("/caja/session/{session}"),
        "/admin/jornadas/1".to_owned(),
    ] {
        browser.goto(&app, &path).await;
        browser.wait_true("document.querySelector('h1')").await;
        for (paper, width) in [("80mm", 302), ("a4", 718)] {
            if path.starts_with("/admin") && paper == "80mm" {
                continue; // The jornada report is read on A4.
            }
            browser.emulate_print(width).await;
            let state = browser
                .script(
                    "const off = [...document.querySelectorAll('main *')]
                       .filter(e => e.getClientRects().length && e.getBoundingClientRect().right > innerWidth + 1)
                       .map(e => e.tagName + (e.id ? '#' + e.id : '') + '@' + e.getBoundingClientRect().right);
                     const shown = (css) => Boolean(document.querySelector(css)?.getClientRects().length);
                     return {
                       width: innerWidth,
                       off,
                       bar: getComputedStyle(document.querySelector('.topbar')).display,
                       buttons: [...document.querySelectorAll('main button')].filter(b => b.getClientRects().length).length,
                       sales: shown('#ventas'),
                       z: shown('#z-resumen'),
                     };",
                )
                .await;
            if path.starts_with("/caja/session") {
                // The roll gets the Z (counts, no list of sales); A4 the detail.
                let roll = paper == "80mm";
                assert_eq!(
                    (state["sales"].as_bool(), state["z"].as_bool()),
                    (Some(!roll), Some(roll)),
                    "{paper}"
                );
            }
            let name = path.trim_start_matches('/').replace('/', "-");
            browser.screenshot(&format!("print-{paper}-{name}")).await;
            assert_eq!(state["width"], width, "{path} laid out at {paper}");
            assert_eq!(
                state["off"],
                serde_json::json!([]),
                "{path} runs off {paper}"
            );
            assert_eq!(state["bar"], "none", "{path} {paper}");
            assert_eq!(state["buttons"], 0, "{path} {paper}");
        }
        browser.emulate_screen().await;
    }
    browser.close().await;
}

/// A session never counted (still open) does not "cuadra": the jornada's
/// report says it is not counted yet, and only a count makes it cuadrar.
#[actix_web::test]
async fn a_session_still_open_is_not_reported_as_balanced() {
    let app = TestApp::spawn_as_admin().await;
    let (caja, cashier) = crate::registers::venue(&app).await;
    let opened = crate::registers::open_session(&app, &cashier, caja, "0").await;
    assert_eq!(opened.status(), 303);
    let sale = crate::registers::cash_sale(5_000);
    assert_eq!(
        crate::registers::sell(&app, &cashier, caja, &sale).await.0,
        201
    );
    let supervisor = app.visitor("supervisora", Role::Supervisor).await;
    let difference = |page: &str| {
        let start = page
            .find(r#"data-field="difference">"#)
            .expect("the cuadratura cell");
        let cell = &page[start + 24..];
        cell[..cell.find('<').unwrap()].to_owned()
    };
    let page = supervisor
        .get(&app, "/admin/jornadas/1")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(difference(&page), "sin contar: sesión abierta");
    let closed = cashier
        .post(
            &app,
            "/caja/session/close",
            &[("register_id", &caja.to_string()), ("cash_count", "5000")],
        )
        .await;
    assert_eq!(closed.status(), 303);
    let page = supervisor
        .get(&app, "/admin/jornadas/1")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(difference(&page), "cuadra");
}

/// PASO 5.1.4 on a fresh deploy ("Tabla muestra cajas y sesiones"): before
/// any jornada the report still lists every caja with its providers and its
/// last session, and says there is no jornada yet.
#[actix_web::test]
async fn before_any_jornada_the_report_lists_every_caja() {
    let app = TestApp::spawn_as_admin().await;
    crate::cajas::create_cajas(&app, 2).await;
    let page = app.get("/admin/cajas/reportes").await.text().await.unwrap();
    assert!(page.contains(r#"id="reporte-cajas""#), "{page}");
    assert!(page.contains("Sin jornadas aún"), "{page}");
    for caja in ["Caja 1", "Caja 2"] {
        assert!(page.contains(caja), "{caja} in {page}");
    }
    assert!(
        page.contains("GETNET / KLAP") && page.contains("sin sesiones"),
        "{page}"
    );
}
