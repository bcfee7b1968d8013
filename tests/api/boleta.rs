//! Boleta electrónica: the venue as the issuer of its boletas, set by an
//! admin on /admin/boleta, every field checked and named, audited, and
//! refused by the database itself when switched on without its emisor.

use diesel::RunQueryDsl;

use cajahub::auth::user::Role;

use crate::helpers::{TestApp, count};
use crate::registers::{cash_sale, key, sell};
use crate::tips::field_error;

const COMPLETE: [(&str, &str); 8] = [
    ("enabled", "on"),
    ("emisor_rut", "76.086.428-5"),
    ("razon_social", "Discoteca Bimba SpA"),
    ("giro", "Discoteca, bar y eventos"),
    ("direccion", "Av. Providencia 1234"),
    ("comuna", "Providencia"),
    ("modelo", "voucher"),
    ("provider", "simulado"),
];

/// `COMPLETE` with `field` set to `value` (or left out when `None`).
fn with(field: &str, value: Option<&'static str>) -> Vec<(&'static str, &'static str)> {
    let mut fields: Vec<_> = COMPLETE
        .iter()
        .copied()
        .filter(|(f, _)| *f != field)
        .collect();
    if let Some(value) = value {
        let name = COMPLETE
            .iter()
            .map(|(f, _)| *f)
            .chain(["provider_url"])
            .find(|f| *f == field)
            .unwrap_or("provider_url");
        fields.push((name, value));
    }
    fields
}

fn enabled(app: &TestApp) -> i64 {
    app.count("SELECT count(*) AS n FROM boleta_settings WHERE enabled")
}

#[actix_web::test]
async fn an_admin_names_the_emisor_and_switches_issuing_on() {
    let app = TestApp::spawn_as_admin().await;
    let page = app.get("/admin/boleta").await.text().await.unwrap();
    assert!(page.contains("<h1>Boleta electrónica</h1>"), "{page}");
    assert!(page.contains(r#"value="voucher" checked"#), "{page}");
    assert!(
        !page.contains(r#"name="enabled" value="on" checked"#),
        "off at first"
    );

    // Each bad field named, nothing saved.
    for (field, value, says) in [
        ("emisor_rut", Some("76.086.428-4"), "para ese número es 5"),
        ("emisor_rut", Some("76086428"), "dígito verificador"),
        ("emisor_rut", None, "Obligatorio para emitir boletas."),
        ("giro", None, "Obligatorio para emitir boletas."),
        ("comuna", Some("Providencia y Ñuñoa y más"), "hasta 20"),
        ("razon_social", Some("Bimba\u{202E}SpA"), "control"),
        ("modelo", Some("a veces"), "Elige uno"),
        ("provider", Some("fax"), "Elige uno"),
        ("provider_url", Some("ftp://dte.example"), "http"),
    ] {
        let response = app.post_form("/admin/boleta", &with(field, value)).await;
        assert_eq!(response.status(), 422, "{field} {value:?}");
        let html = response.text().await.unwrap();
        let error = field_error(&html, field).unwrap_or_default();
        assert!(error.contains(says), "{field} {value:?}: {error:?}");
        // What was typed stays on the form.
        if let Some(value) = value.filter(|_| field != "modelo" && field != "provider") {
            assert!(
                html.contains(&format!(r#"value="{value}""#)) || value.contains('\u{202E}'),
                "{field}"
            );
        }
    }
    // An HTTP provider needs its address.
    let http = [with("provider", Some("http")), vec![]].concat();
    let html = app
        .post_form("/admin/boleta", &http)
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(
        field_error(&html, "provider_url").as_deref(),
        Some("Obligatorio para emitir boletas.")
    );
    assert_eq!(enabled(&app), 0);
    assert_eq!(
        app.count("SELECT count(*) AS n FROM audit_log WHERE action = 'boleta.ajustes'"),
        0
    );

    // Complete: saved as the SII writes it, audited before and after.
    let saved = app.post_form("/admin/boleta", &COMPLETE).await;
    assert_eq!(saved.status(), 303);
    assert_eq!(
        app.count(
            "SELECT count(*) AS n FROM boleta_settings WHERE enabled \
             AND emisor_rut = '76086428-5' AND comuna = 'Providencia' AND modelo = 'voucher'"
        ),
        1
    );
    assert_eq!(
        app.count(
            "SELECT count(*) AS n FROM audit_log WHERE action = 'boleta.ajustes' \
             AND NOT (before->>'enabled')::boolean AND (after->>'enabled')::boolean \
             AND after->>'emisor_rut' = '76086428-5'"
        ),
        1
    );
    let page = app
        .get("/admin/boleta?aviso=guardado")
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("Ajustes de boleta guardados."), "{page}");
    assert!(
        page.contains(r#"value="76.086.428-5""#),
        "shown as people read it"
    );
    // The same again changes nothing and audits nothing.
    assert_eq!(
        app.post_form("/admin/boleta", &COMPLETE).await.status(),
        303
    );
    assert_eq!(
        app.count("SELECT count(*) AS n FROM audit_log WHERE action = 'boleta.ajustes'"),
        1
    );
    // Every card sale a boleta, through a provider's API.
    let boleta = [
        with("modelo", Some("boleta")),
        vec![("provider_url", "https://api.dte.example/v1")],
    ]
    .concat();
    let boleta: Vec<_> = boleta
        .into_iter()
        .filter(|(f, _)| *f != "provider")
        .chain([("provider", "http")])
        .collect();
    assert_eq!(app.post_form("/admin/boleta", &boleta).await.status(), 303);
    assert_eq!(
        app.count(
            "SELECT count(*) AS n FROM boleta_settings WHERE modelo = 'boleta' \
             AND provider = 'http' AND provider_url = 'https://api.dte.example/v1'"
        ),
        1
    );

    // The database itself refuses issuing with no emisor, whoever writes.
    let refused =
        diesel::sql_query("UPDATE boleta_settings SET giro = NULL").execute(&mut app.conn());
    assert!(
        refused
            .unwrap_err()
            .to_string()
            .contains("boleta_settings_complete")
    );
    // Switched off, the emisor may stay half-written.
    let off: Vec<_> = with("giro", None)
        .into_iter()
        .filter(|(f, _)| *f != "enabled")
        .collect();
    assert_eq!(app.post_form("/admin/boleta", &off).await.status(), 303);
    assert_eq!(enabled(&app), 0);

    // Only an admin.
    let supervisor = app.visitor("supervisora", Role::Supervisor).await;
    assert_eq!(supervisor.get(&app, "/admin/boleta").await.status(), 403);
    assert_eq!(
        supervisor
            .post(&app, "/admin/boleta", &COMPLETE)
            .await
            .status(),
        403
    );
    assert_eq!(enabled(&app), 0);
}

/// Until `sql` (a count, as `n`) reads `wanted`; bounded.
async fn until_count(app: &TestApp, sql: &str, wanted: i64) {
    for _ in 0..500 {
        if app.count(sql) == wanted {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("{sql}: still {} after 10 s, not {wanted}", app.count(sql));
}

type Venue = (
    TestApp,
    std::sync::Arc<cajahub::clock::ManualClock>,
    i32,
    crate::helpers::Visitor,
);

/// A venue issuing boletas under `modelo` with the simulated provider, on
/// a manual clock, with a caja open for `cajero1`.
async fn issuing_venue(modelo: &'static str) -> Venue {
    issuing_venue_with_metrics(modelo).await.0
}

/// [`issuing_venue`], and where its /metrics are served.
async fn issuing_venue_with_metrics(modelo: &'static str) -> (Venue, String) {
    let (clock, manual) = cajahub::clock::Clock::manual();
    let spec = cajahub::cajas::terminal::TerminalConfig::parse_simulation(
        "GETNET=approve,KLAP=approve,latency=0",
    )
    .unwrap();
    let metrics = crate::helpers::free_address();
    let bind = metrics.trim_start_matches("http://").parse().unwrap();
    let app = TestApp::spawn_with(crate::helpers::TestDb::migrated(), |settings| {
        settings.clock = clock;
        settings.simulate_terminals = Some(spec);
        settings.metrics_bind = Some(bind);
    })
    .await;
    app.log_in_as("admin", Role::Admin).await;
    assert_eq!(
        app.post_form("/admin/boleta", &with("modelo", Some(modelo)))
            .await
            .status(),
        303
    );
    let (caja, cashier) = crate::payments::caja_with_session(&app, "BARRA-1", "cajero1", &[]).await;
    ((app, manual, caja, cashier), metrics)
}

fn typed_card(total: i64) -> serde_json::Value {
    serde_json::json!({"key": key(), "total": total, "payments": [
        {"method": "DEBITO", "amount": total, "provider": "GETNET", "authorization_code": "A1B2C3"}]})
}

/// Under the voucher model a sale's boleta documents what was not paid
/// by card, written with the sale in its one statement; the outbox sends
/// each once under the sale's key, and the provider's folio comes back.
#[actix_web::test]
async fn each_sale_that_needs_a_boleta_writes_its_document_and_it_is_issued_once() {
    let (app, _clock, caja, cashier) = issuing_venue("voucher").await;
    let cash = cash_sale(4_500);
    let transfer = serde_json::json!({"key": key(), "total": 11_900, "payments": [
        {"method": "TRANSFERENCIA", "amount": 11_900}]});
    let mixed = serde_json::json!({"key": key(), "total": 5_000, "payments": [
        {"method": "EFECTIVO", "amount": 2_000},
        {"method": "CREDITO", "amount": 3_000, "provider": "GETNET", "authorization_code": "Z9Y8X7"}]});
    let card = typed_card(7_000);
    for body in [&cash, &transfer, &mixed, &card] {
        let (status, answer) = sell(&app, &cashier, caja, body).await;
        assert_eq!(status, 201, "{answer}");
    }
    // A refused sale writes no document.
    let (status, _) = sell(
        &app,
        &cashier,
        caja,
        &serde_json::json!({"key": key(), "total": 100,
        "payments": [{"method": "EFECTIVO", "amount": 90}]}),
    )
    .await;
    assert_eq!(status, 422);
    // Each document beside its sale, under its key, for its part.
    let documented = |body: &serde_json::Value| {
        app.count(&format!(
            "SELECT COALESCE(sum(d.total), -1)::bigint AS n FROM tax_documents d \
             JOIN sales s ON s.id = d.sale_id \
             WHERE s.idempotency_key = '{}' AND d.idempotency_key = s.idempotency_key AND d.kind = 39",
            body["key"].as_str().unwrap()
        ))
    };
    assert_eq!(documented(&cash), 4_500);
    assert_eq!(documented(&transfer), 11_900);
    assert_eq!(documented(&mixed), 2_000, "the card's part has its voucher");
    assert_eq!(documented(&card), -1, "the voucher is its boleta");
    assert_eq!(app.count("SELECT count(*) AS n FROM tax_documents"), 3);

    // The outbox was told: all three issued, each once, folios in order.
    until_count(
        &app,
        "SELECT count(*) AS n FROM tax_documents WHERE status = 'ACEPTADA'",
        3,
    )
    .await;
    let issued = app.state.outbox.simulated().issued();
    assert_eq!(issued.len(), 3);
    assert!(issued.values().all(|i| i.sends == 1), "{issued:?}");
    assert_eq!(
        app.count(
            "SELECT count(DISTINCT folio) AS n FROM tax_documents WHERE folio BETWEEN 1 AND 3"
        ),
        3
    );
    assert_eq!(
        app.count("SELECT count(*) AS n FROM tax_documents WHERE link LIKE 'https://%' AND decided_at IS NOT NULL AND attempts = 1"),
        3
    );

    // Issuing switched off: the next sale gets no document.
    let off: Vec<_> = COMPLETE
        .iter()
        .copied()
        .filter(|(f, _)| *f != "enabled")
        .collect();
    assert_eq!(app.post_form("/admin/boleta", &off).await.status(), 303);
    assert_eq!(sell(&app, &cashier, caja, &cash_sale(1_000)).await.0, 201);
    assert_eq!(app.count("SELECT count(*) AS n FROM tax_documents"), 3);
}

/// Every card sale gets a boleta under the "always a boleta" model.
#[actix_web::test]
async fn under_the_boleta_model_a_card_sale_gets_one_too() {
    let (app, _clock, caja, cashier) = issuing_venue("boleta").await;
    let card = typed_card(7_000);
    assert_eq!(sell(&app, &cashier, caja, &card).await.0, 201);
    until_count(
        &app,
        "SELECT count(*) AS n FROM tax_documents WHERE total = 7000 AND status = 'ACEPTADA'",
        1,
    )
    .await;
}

/// A provider that is down, then answers but the answer is lost on the
/// way: sales are acknowledged all along, each document is tried again
/// later, and in the end every one is issued exactly once.
#[actix_web::test]
async fn an_outage_never_refuses_a_sale_and_every_boleta_is_issued_once_after_it() {
    let ((app, clock, caja, cashier), metrics) = issuing_venue_with_metrics("voucher").await;
    let provider = app.state.outbox.simulated().clone();
    provider.set_down(true);
    let mut keys = Vec::new();
    for total in [1_000, 2_000, 3_000, 4_000, 5_000] {
        let body = cash_sale(total);
        let (status, answer) = sell(&app, &cashier, caja, &body).await;
        assert_eq!(status, 201, "{answer}");
        keys.push(body["key"].as_str().unwrap().to_owned());
    }
    // The first document finds the provider down: the outbox rests, and
    // the sales made meanwhile cost it nothing (their documents wait).
    let attempts = "SELECT COALESCE(sum(attempts), 0)::bigint AS n FROM tax_documents \
                    WHERE status = 'PENDIENTE' AND (attempts = 0 OR last_error LIKE '%sin servicio%')";
    until_count(
        &app,
        "SELECT count(*) AS n FROM tax_documents WHERE attempts = 1",
        1,
    )
    .await;
    assert_eq!(app.count(attempts), 1);
    // Tried again once the wait is over, not before.
    clock.advance(std::time::Duration::from_secs(1));
    assert_eq!(app.count(attempts), 1);
    clock.advance(std::time::Duration::from_secs(1));
    until_count(&app, attempts, 2).await;
    assert_eq!(
        app.count("SELECT count(*) AS n FROM tax_documents WHERE status = 'PENDIENTE'"),
        5
    );
    // /metrics says so: five waiting, the oldest for two seconds.
    let scraped = crate::metrics::scrape(&metrics).await;
    assert_eq!(
        crate::metrics::get(&scraped, "cajahub_boletas{state=\"pending\"}"),
        5.0
    );
    assert_eq!(
        crate::metrics::get(&scraped, "cajahub_boletas{state=\"rejected\"}"),
        0.0
    );
    assert_eq!(
        crate::metrics::get(&scraped, "cajahub_boletas_oldest_pending_seconds"),
        2.0
    );

    // Back, but the first two answers are lost after it issued them: each
    // loss rests the outbox again, and each is sent again after.
    provider.set_down(false);
    provider.lose_answers(2);
    let accepted = "SELECT count(*) AS n FROM tax_documents WHERE status = 'ACEPTADA'";
    let looked = "SELECT COALESCE(sum(attempts), 0)::bigint AS n FROM tax_documents";
    for _ in 0..10 {
        if app.count(accepted) == 5 {
            break;
        }
        // Each look after the wait sends at least one document.
        let before = app.count(looked);
        clock.advance(cajahub::boleta::outbox::LONGEST_WAIT);
        for _ in 0..100 {
            if app.count(looked) > before {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
    until_count(&app, accepted, 5).await;
    let issued = provider.issued();
    assert_eq!(issued.len(), 5, "each issued once");
    assert_eq!(
        issued.values().filter(|i| i.sends == 2).count(),
        2,
        "{issued:?}"
    );
    for key in &keys {
        assert!(issued.contains_key(&key.parse().unwrap()), "{key}");
    }
    // Each keeps the folio it was issued with.
    for (key, issued) in &issued {
        let cajahub::boleta::provider::Answer::Accepted { folio, .. } = &issued.answer else {
            panic!("{issued:?}");
        };
        assert_eq!(
            app.count(&format!(
                "SELECT folio AS n FROM tax_documents WHERE idempotency_key = '{key}'"
            )),
            *folio
        );
    }
    assert_eq!(
        app.count("SELECT count(DISTINCT folio) AS n FROM tax_documents"),
        5
    );
    let scraped = crate::metrics::scrape(&metrics).await;
    assert_eq!(
        crate::metrics::get(&scraped, "cajahub_boletas{state=\"pending\"}"),
        0.0
    );
    assert_eq!(
        crate::metrics::get(&scraped, "cajahub_boletas_oldest_pending_seconds"),
        0.0
    );
}

/// Voiding a sale whose boleta was issued issues a nota de crédito that
/// names the boleta's folio, under the void's key; a sale with no boleta
/// gets none; one whose boleta the SII rejected has nothing to undo.
#[actix_web::test]
async fn a_void_issues_a_nota_de_credito_naming_the_boleta() {
    let (app, _clock, caja, cashier) = issuing_venue("voucher").await;
    let provider = app.state.outbox.simulated().clone();
    provider.reject_total(6_000);
    let supervisor = app.visitor("supervisora", Role::Supervisor).await;
    let mut sold = Vec::new();
    for body in [cash_sale(4_500), typed_card(7_000), cash_sale(6_000)] {
        let (status, ack) = sell(&app, &cashier, caja, &body).await;
        assert_eq!(status, 201, "{ack}");
        sold.push(ack["sale_id"].as_i64().unwrap());
    }
    until_count(
        &app,
        "SELECT count(*) AS n FROM tax_documents WHERE status IN ('ACEPTADA', 'RECHAZADA')",
        2,
    )
    .await;
    assert_eq!(
        app.count("SELECT count(*) AS n FROM tax_documents WHERE status = 'RECHAZADA' AND reason LIKE '%rechazado%' AND total = 6000"),
        1
    );
    let mut voids = Vec::new();
    for sale in &sold {
        let void_key = key();
        let (status, answer) = crate::registers::post_json(
            &app,
            &supervisor,
            &format!("/api/cajas/{caja}/sales/{sale}/void"),
            &serde_json::json!({"key": void_key, "reason": "cliente arrepentido"}),
        )
        .await;
        assert_eq!(status, 200, "{answer}");
        voids.push(void_key);
    }
    // The cash sale's boleta is undone by a nota de crédito naming it.
    until_count(
        &app,
        &format!(
            "SELECT count(*) AS n FROM tax_documents nc JOIN tax_documents b ON b.id = nc.refers_to \
             WHERE nc.kind = 61 AND nc.status = 'ACEPTADA' AND nc.total = 4500 \
             AND b.sale_id = {} AND nc.sale_id = b.sale_id AND nc.idempotency_key = '{}'",
            sold[0], voids[0]
        ),
        1,
    )
    .await;
    // The card sale had none; the rejected one's is not sent.
    until_count(
        &app,
        "SELECT count(*) AS n FROM tax_documents WHERE kind = 61 AND status = 'RECHAZADA' \
         AND reason LIKE '%no hay documento que anular%' AND total = 6000",
        1,
    )
    .await;
    assert_eq!(
        app.count("SELECT count(*) AS n FROM tax_documents WHERE kind = 61"),
        2
    );
    let issued = provider.issued();
    assert!(issued.contains_key(&voids[0].parse().unwrap()));
    assert!(
        !issued.contains_key(&voids[2].parse().unwrap()),
        "never sent"
    );
    assert_eq!(
        issued.len(),
        3,
        "two boletas (one rejected) and one nota de crédito"
    );
    // The jornada's report squares them by type and status.
    let jornada = app.count("SELECT max(id)::bigint AS n FROM jornadas");
    let page = supervisor
        .get(&app, &format!("/admin/jornadas/{jornada}"))
        .await;
    let text = crate::catalog::spaced(&page.text().await.unwrap());
    for wanted in [
        "Boleta electrónica Aceptada 1 $4.500",
        "Boleta electrónica Rechazada 1 $6.000",
        "Nota de crédito Aceptada 1 $4.500",
        "Nota de crédito Rechazada 1 $6.000",
    ] {
        assert!(text.contains(wanted), "{wanted}: {text}");
    }
    let Some(browser) = crate::browser::Browser::start().await else {
        return;
    };
    browser.log_in(&app, "supervisora").await;
    browser
        .goto(&app, &format!("/admin/jornadas/{jornada}#boletas-jornada"))
        .await;
    for (name, width, height) in [
        ("phone", 390, 844),
        ("tablet", 800, 1280),
        ("desktop", 1366, 768),
    ] {
        crate::fit::resize(&browser, width, height).await;
        let (by, out) = crate::fit::overflow(&browser).await;
        assert_eq!(by, 0, "{name}: fits sideways; sticking out: {out}");
    }
    browser
        .script("document.getElementById('boletas-jornada').scrollIntoView()")
        .await;
    browser.screenshots("jornada-boletas").await;
    browser.close().await;
}

/// The customer's copy: while the boleta is being issued the ticket says
/// so; reprinted once it is, it carries the emisor, the folio, the net and
/// the IVA and where to verify it, and fits the 80 mm roll. A card sale
/// under the voucher model says its voucher is its boleta.
#[actix_web::test]
async fn the_ticket_carries_the_boleta_or_says_it_is_on_its_way() {
    let (app, clock, caja, cashier) = issuing_venue("voucher").await;
    let provider = app.state.outbox.simulated().clone();
    provider.set_down(true);
    let (status, ack) = sell(&app, &cashier, caja, &cash_sale(4_500)).await;
    assert_eq!(status, 201, "{ack}");
    let sale = ack["sale_id"].as_i64().unwrap();
    let session = app.count("SELECT max(id)::bigint AS n FROM register_sessions");
    let ticket = format!("/caja/session/{session}/ventas/{sale}/ticket");
    until_count(
        &app,
        "SELECT count(*) AS n FROM tax_documents WHERE attempts = 1",
        1,
    )
    .await;
    let text = crate::catalog::spaced(&cashier.get(&app, &ticket).await.text().await.unwrap());
    assert!(
        text.contains("Discoteca Bimba SpA RUT 76.086.428-5"),
        "{text}"
    );
    assert!(
        text.contains(
            "En trámite ante el SII por $4.500: su folio aparece al reimprimir este ticket."
        ),
        "{text}"
    );

    provider.set_down(false);
    clock.advance(std::time::Duration::from_secs(2));
    until_count(
        &app,
        "SELECT count(*) AS n FROM tax_documents WHERE status = 'ACEPTADA'",
        1,
    )
    .await;
    let text = crate::catalog::spaced(&cashier.get(&app, &ticket).await.text().await.unwrap());
    for wanted in [
        "Boleta electrónica N.º 1",
        "Neto $3.782 IVA 19 % $718 Total $4.500",
        "Verifique el documento en https://dte.simulado.invalid/boleta/",
    ] {
        assert!(text.contains(wanted), "{wanted}: {text}");
    }
    assert!(!text.contains("comprobante del terminal"), "{text}");
    // The link as a QR code, an SVG the page's policy allows.
    let html = cashier.get(&app, &ticket).await.text().await.unwrap();
    assert!(
        html.contains(r#"<img class="receipt-qr" src="data:image/svg+xml;base64,"#),
        "{html}"
    );

    let card = serde_json::json!({"key": key(), "total": 7_000, "payments": [
        {"method": "DEBITO", "amount": 7_000, "provider": "GETNET", "authorization_code": "A1B2C3",
         "terminal_reference": "OP 4471"}]});
    let (status, ack) = sell(&app, &cashier, caja, &card).await;
    assert_eq!(status, 201, "{ack}");
    let card_ticket = format!("/caja/session/{session}/ventas/{}/ticket", ack["sale_id"]);
    let text = crate::catalog::spaced(&cashier.get(&app, &card_ticket).await.text().await.unwrap());
    assert!(
        text.contains(
            "Pago con tarjeta: el comprobante del terminal es válido como boleta. Ref. OP 4471."
        ),
        "{text}"
    );
    assert!(!text.contains("Boleta electrónica N.º"), "{text}");

    let Some(browser) = crate::browser::Browser::start().await else {
        return;
    };
    browser.log_in(&app, "cajero1").await;
    browser.goto(&app, &ticket).await;
    browser.screenshots("ticket-boleta").await;
    browser.emulate_print(302).await;
    let (by, out) = crate::fit::overflow(&browser).await;
    assert_eq!(by, 0, "the ticket fits the roll; sticking out: {out}");
    // The QR code drew (an image the browser could decode).
    assert_eq!(
        browser
            .script("const qr = document.querySelector('.receipt-qr'); return qr.complete && qr.naturalWidth > 0")
            .await,
        serde_json::json!(true)
    );
    browser.screenshot("ticket-boleta-80mm").await;
    browser.emulate_screen().await;
    browser.goto(&app, &card_ticket).await;
    browser.emulate_print(302).await;
    browser.screenshot("ticket-voucher-80mm").await;
    browser.close().await;
}

/// A supervisor sees what waits for the provider and what the SII
/// rejected, and sends a rejected boleta again once its cause is
/// corrected: a new document under a new key, audited. An accepted one is
/// never sent again, and a cashier sees none of it.
#[actix_web::test]
async fn a_supervisor_watches_the_boletas_and_sends_a_rejected_one_again() {
    let (app, _clock, caja, cashier) = issuing_venue("voucher").await;
    let provider = app.state.outbox.simulated().clone();
    provider.reject_total(6_000);
    for total in [6_000, 4_500] {
        assert_eq!(sell(&app, &cashier, caja, &cash_sale(total)).await.0, 201);
    }
    until_count(
        &app,
        "SELECT count(*) AS n FROM tax_documents WHERE status <> 'PENDIENTE'",
        2,
    )
    .await;
    provider.set_down(true);
    assert_eq!(sell(&app, &cashier, caja, &cash_sale(3_000)).await.0, 201);
    until_count(
        &app,
        "SELECT count(*) AS n FROM tax_documents WHERE attempts = 1 AND status = 'PENDIENTE'",
        1,
    )
    .await;

    let supervisor = app.visitor("supervisora", Role::Supervisor).await;
    let page = supervisor.get(&app, "/admin/boletas").await;
    assert_eq!(page.status(), 200);
    let text = crate::catalog::spaced(&page.text().await.unwrap());
    for wanted in [
        "Por enviar o en trámite 1",
        "La más antigua espera menos de 1 min",
        "Rechazadas por revisar 1",
        "Aceptadas 1",
        "monto 6000 rechazado (rechazo simulado)",
        "el proveedor no está disponible: sin servicio (simulado)",
    ] {
        assert!(text.contains(wanted), "{wanted}: {text}");
    }
    let rejected = app.count("SELECT id AS n FROM tax_documents WHERE status = 'RECHAZADA'");
    let accepted = app.count("SELECT id AS n FROM tax_documents WHERE status = 'ACEPTADA'");
    let html = supervisor
        .get(&app, "/admin/boletas?estado=RECHAZADA")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        html.contains(&format!("/admin/boletas/{rejected}/reenviar")),
        "{html}"
    );
    assert!(!html.contains(&format!("documento-{accepted}")), "filtered");
    assert_eq!(
        supervisor
            .get(&app, "/admin/boletas?estado=OTRO")
            .await
            .status(),
        400
    );

    let Some(browser) = crate::browser::Browser::start().await else {
        return;
    };
    browser.log_in(&app, "supervisora").await;
    browser.goto(&app, "/admin/boletas").await;
    for (name, width, height) in [
        ("phone", 390, 844),
        ("tablet", 800, 1280),
        ("desktop", 1366, 768),
    ] {
        crate::fit::resize(&browser, width, height).await;
        let (by, out) = crate::fit::overflow(&browser).await;
        assert_eq!(by, 0, "{name}: fits sideways; sticking out: {out}");
    }
    browser.screenshots("boletas").await;

    // Not an accepted one; not by a cashier.
    let resend = |id: i64| format!("/admin/boletas/{id}/reenviar");
    assert_eq!(
        supervisor.post(&app, &resend(accepted), &[]).await.status(),
        409
    );
    assert_eq!(
        cashier.post(&app, &resend(rejected), &[]).await.status(),
        403
    );
    assert_eq!(supervisor.get(&app, "/admin/boletas").await.status(), 200);
    assert_eq!(cashier.get(&app, "/admin/boletas").await.status(), 403);

    // Corrected, sent again under a new key, and issued.
    let old_key = app
        .state
        .outbox
        .simulated()
        .issued()
        .into_iter()
        .find(|(_, i)| i.total == 6_000)
        .map(|(key, _)| key)
        .unwrap();
    provider.stop_rejecting();
    provider.set_down(false);
    assert_eq!(
        supervisor.post(&app, &resend(rejected), &[]).await.status(),
        303
    );
    until_count(
        &app,
        &format!("SELECT count(*) AS n FROM tax_documents WHERE id = {rejected} AND status = 'ACEPTADA' AND folio IS NOT NULL AND idempotency_key <> '{old_key}'"),
        1,
    )
    .await;
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM audit_log WHERE action = 'boleta.reenviada' AND entity_id = '{rejected}' \
             AND before->>'idempotency_key' = '{old_key}' AND before->>'status' = 'RECHAZADA' \
             AND after->>'status' = 'PENDIENTE' AND actor_name = 'supervisora'"
        )),
        1
    );
    assert_eq!(
        supervisor.post(&app, &resend(rejected), &[]).await.status(),
        409,
        "accepted now"
    );
    browser.goto(&app, "/admin/boletas?aviso=reenviada").await;
    browser.screenshots("boletas-reenviada").await;
    browser.close().await;
}

/// The floor hears the boletas' outbox when it changes: what waits for the
/// provider and since when, and a rejected boleta as an alert with a link
/// to see to it; nothing while they flow.
#[actix_web::test]
async fn the_floor_hears_of_boletas_waiting_and_rejected() {
    let (app, clock, caja, cashier) = issuing_venue("voucher").await;
    let provider = app.state.outbox.simulated().clone();
    assert_eq!(sell(&app, &cashier, caja, &cash_sale(1_000)).await.0, 201);
    until_count(
        &app,
        "SELECT count(*) AS n FROM tax_documents WHERE status = 'ACEPTADA'",
        1,
    )
    .await;
    let cookie = app.session_cookie("observadora", Role::Supervisor).await;
    let (mut floor, greeting) = crate::screens::open_screen(&app, "/ws/piso", &cookie).await;
    assert_eq!(greeting["type"], "snapshot");
    // The venue issues boletas: the floor hears the outbox with its greeting.
    let first = crate::screens::next_json(&mut floor)
        .await
        .expect("a message");
    assert_eq!(first["type"], "boletas", "{first}");
    assert_eq!(first["boletas"]["pending"], 0, "{first}");

    provider.set_down(true);
    assert_eq!(sell(&app, &cashier, caja, &cash_sale(2_500)).await.0, 201);
    let mut heard = serde_json::Value::Null;
    while heard["type"] != "boletas" {
        heard = crate::screens::next_json(&mut floor)
            .await
            .expect("a message");
    }
    assert_eq!(heard["boletas"]["pending"], 1, "{heard}");
    assert_eq!(heard["boletas"]["rejected"], 0, "{heard}");
    assert!(heard["boletas"]["oldest_pending"].is_string(), "{heard}");

    let Some(browser) = crate::live_pages::supervisor_on_the_floor(&app).await else {
        return;
    };
    browser
        .wait_true("document.querySelector('[data-bind=boletas]').hidden")
        .await;
    // The outbox at a glance: one waiting, nothing to see to yet.
    browser
        .wait_text_contains(
            "[data-bind=boletas-status]",
            "1 por enviar (la más antigua hace menos de 1 min) · 0 rechazada(s) por revisar",
        )
        .await;
    provider.reject_total(3_000);
    provider.set_down(false);
    assert_eq!(sell(&app, &cashier, caja, &cash_sale(3_000)).await.0, 201);
    // Once the outbox has rested from the outage.
    clock.advance(std::time::Duration::from_secs(2));
    browser
        .wait_text(
            "[data-bind=boletas-alert]",
            "1 boleta(s) rechazada(s): revisar y reenviar",
        )
        .await;
    assert_eq!(
        browser
            .script("return document.querySelector('[data-bind=boletas] a').getAttribute('href')")
            .await,
        serde_json::json!("/admin/boletas")
    );
    browser
        .wait_text_contains("[data-bind=boletas-status]", "1 rechazada(s) por revisar")
        .await;
    browser.screenshots("piso-boletas").await;
    browser.close().await;
}

/// A DTE provider's HTTP API, faked: "emitir = encolar", with the answers
/// a test scripts for the next documents it is sent.
mod fake_provider {
    use std::collections::{HashMap, VecDeque};
    use std::sync::{Arc, Mutex};

    use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
    use serde_json::{Value, json};

    /// What the next POST gets instead of its document's state.
    #[derive(Debug, Clone, Copy)]
    pub enum Scripted {
        TooMany,
        Fails,
        /// Issues it, but answers what does not read.
        Garbage,
        /// Issues it, but answers another document's state.
        OtherKey,
        /// Queues it: the SII's answer comes on a later GET.
        Queues,
    }

    #[derive(Default)]
    pub struct State {
        /// Every POST answers 503.
        pub down: bool,
        pub script: VecDeque<Scripted>,
        /// Issued documents by key: folio, and the body sent.
        pub issued: HashMap<String, (i64, Value)>,
        pub queued: Vec<String>,
        /// Keys issued whose answer was lost (garbled, or another's).
        pub garbled: Vec<String>,
        /// Keys sent again after they were issued, and how often.
        pub resent: HashMap<String, u32>,
        /// Every request: method, key, whether it carried the API key.
        pub requests: Vec<(String, String, bool)>,
    }

    pub type Shared = Arc<Mutex<State>>;

    fn accepted(key: &str, folio: i64) -> Value {
        json!({"idempotency_key": key, "estado": "ACEPTADO", "folio": folio,
               "url": format!("https://dte.example/v/{folio}")})
    }

    async fn post(
        req: HttpRequest,
        body: web::Json<Value>,
        state: web::Data<Shared>,
    ) -> HttpResponse {
        let key = req
            .headers()
            .get("Idempotency-Key")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let authorized = req
            .headers()
            .get("Authorization")
            .and_then(|v| v.to_str().ok())
            == Some("Bearer secreto-dte");
        let mut state = state.lock().unwrap();
        state
            .requests
            .push(("POST".into(), key.clone(), authorized));
        if !authorized {
            return HttpResponse::Unauthorized().finish();
        }
        if state.down {
            return HttpResponse::ServiceUnavailable().finish();
        }
        if let Some((folio, _)) = state.issued.get(&key) {
            let folio = *folio;
            *state.resent.entry(key.clone()).or_default() += 1;
            return HttpResponse::Ok().json(accepted(&key, folio));
        }
        let folio = 1000 + state.issued.len() as i64;
        match state.script.pop_front() {
            Some(Scripted::TooMany) => HttpResponse::TooManyRequests().finish(),
            Some(Scripted::Fails) => HttpResponse::InternalServerError().body("upstream"),
            Some(Scripted::Garbage) => {
                state.issued.insert(key.clone(), (folio, body.into_inner()));
                state.garbled.push(key.clone());
                HttpResponse::Ok().body("<html>gateway</html>")
            }
            Some(Scripted::OtherKey) => {
                state.issued.insert(key.clone(), (folio, body.into_inner()));
                state.garbled.push(key.clone());
                HttpResponse::Ok().json(accepted(&uuid::Uuid::new_v4().to_string(), 1))
            }
            Some(Scripted::Queues) => {
                state.issued.insert(key.clone(), (folio, body.into_inner()));
                state.queued.push(key.clone());
                HttpResponse::Accepted().json(
                    json!({"idempotency_key": key, "estado": "EN_PROCESO", "track_id": format!("T-{folio}")}),
                )
            }
            None => {
                state.issued.insert(key.clone(), (folio, body.into_inner()));
                HttpResponse::Created().json(accepted(&key, folio))
            }
        }
    }

    async fn get(
        req: HttpRequest,
        key: web::Path<String>,
        state: web::Data<Shared>,
    ) -> HttpResponse {
        let authorized = req
            .headers()
            .get("Authorization")
            .and_then(|v| v.to_str().ok())
            == Some("Bearer secreto-dte");
        let mut state = state.lock().unwrap();
        state.requests.push(("GET".into(), key.clone(), authorized));
        match state.issued.get(key.as_str()) {
            Some((folio, _)) => HttpResponse::Ok().json(accepted(&key, *folio)),
            None => HttpResponse::NotFound().finish(),
        }
    }

    /// Serves on a free port; its address and its state.
    pub fn start() -> (String, Shared) {
        let state: Shared = Arc::default();
        let shared = state.clone();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(web::Data::new(shared.clone()))
                .route("/v1/documentos", web::post().to(post))
                .route("/v1/documentos/{key}", web::get().to(get))
        })
        .workers(1)
        .bind(("127.0.0.1", 0))
        .expect("a free port");
        let address = format!("http://{}/v1", server.addrs()[0]);
        actix_web::rt::spawn(server.run());
        (address, state)
    }
}

/// A venue issuing boletas through the fake provider's API at `base`, on
/// a manual clock, with the API key (and `configure`'s settings) and a
/// caja open for `cajero1`.
async fn http_venue(base: &str, configure: impl FnOnce(&mut cajahub::config::Settings)) -> Venue {
    let (clock, manual) = cajahub::clock::Clock::manual();
    let app = TestApp::spawn_with(crate::helpers::TestDb::migrated(), |settings| {
        settings.clock = clock;
        settings.dte_api_key = Some("secreto-dte".into());
        configure(settings);
    })
    .await;
    app.log_in_as("admin", Role::Admin).await;
    let mut http: Vec<(&str, &str)> = with("provider", Some("http"));
    http.push(("provider_url", base));
    assert_eq!(app.post_form("/admin/boleta", &http).await.status(), 303);
    let (caja, cashier) = crate::payments::caja_with_session(&app, "BARRA-1", "cajero1", &[]).await;
    (app, manual, caja, cashier)
}

/// Through a provider's HTTP API: its 429 and 5xx answers, an answer that
/// does not read and one about another document are all sent again later;
/// a queued document is asked about until the SII decides; every document
/// is issued exactly once, under its key, with the API key, and its
/// amounts add up.
#[actix_web::test]
async fn through_a_providers_http_api_every_boleta_is_issued_once() {
    use fake_provider::Scripted;
    let (base, provider) = fake_provider::start();
    provider.lock().unwrap().script.extend([
        Scripted::TooMany,
        Scripted::Fails,
        Scripted::Garbage,
        Scripted::OtherKey,
        Scripted::Queues,
    ]);
    let (app, manual, caja, cashier) = http_venue(&base, |_| {}).await;
    let totals = [1_000, 2_000, 3_000, 4_000, 5_000, 11_900];
    for total in totals {
        let (status, answer) = sell(&app, &cashier, caja, &cash_sale(total)).await;
        assert_eq!(status, 201, "{answer}");
    }
    let accepted = "SELECT count(*) AS n FROM tax_documents WHERE status = 'ACEPTADA'";
    for _ in 0..20 {
        if app.count(accepted) == 6 {
            break;
        }
        manual.advance(cajahub::boleta::outbox::LONGEST_WAIT);
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    until_count(&app, accepted, 6).await;

    let state = provider.lock().unwrap();
    assert!(state.script.is_empty(), "every scripted answer was given");
    assert_eq!(state.garbled.len(), 2);
    for key in &state.garbled {
        assert!(
            state.resent.get(key).copied().unwrap_or(0) >= 1,
            "{key} sent again"
        );
    }
    assert_eq!(state.issued.len(), 6, "each issued once");
    assert!(
        state.requests.iter().all(|(_, _, authorized)| *authorized),
        "the API key on every request"
    );
    assert!(
        state.requests.iter().any(|(method, _, _)| method == "GET"),
        "the queued one asked about"
    );
    for (key, (folio, body)) in &state.issued {
        assert_eq!(
            app.count(&format!(
                "SELECT folio AS n FROM tax_documents WHERE idempotency_key = '{key}'"
            )),
            *folio
        );
        assert_eq!(body["emisor"]["rut"], "76086428-5", "{body}");
        assert_eq!(body["tipo_dte"], 39, "{body}");
        let (neto, iva, total) = (
            body["neto"].as_i64().unwrap(),
            body["iva"].as_i64().unwrap(),
            body["total"].as_i64().unwrap(),
        );
        assert_eq!(neto + iva, total, "{body}");
        assert!(totals.contains(&total));
        let lines: i64 = body["lines"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["total"].as_i64().unwrap())
            .sum();
        assert_eq!(lines, total, "{body}");
    }
    assert_eq!(
        app.count(
            "SELECT count(*) AS n FROM tax_documents WHERE total = 11900 AND folio IS NOT NULL"
        ),
        1
    );
}

/// Documents pending when the hub is killed (kill -9) are all issued once
/// its next process starts, even one the provider issued while its answer
/// was lost on the way: the key makes the second send harmless.
#[actix_web::test]
async fn a_killed_hub_leaves_its_boletas_pending_and_the_next_issues_each_once() {
    use fake_provider::Scripted;
    let (base, provider) = fake_provider::start();
    provider.lock().unwrap().down = true;
    // Its own process from here, on the system's clock.
    let (app, _clock, caja, cashier) = http_venue(&base, |_| {}).await;
    let stopped = app.stop().await;
    let (address, url) = (stopped.address().to_owned(), stopped.database_url());
    let env = [("CAJAHUB_DTE_API_KEY", "secreto-dte")];
    let hub = crate::helpers::HubProcess::start_with(&address, &url, &env, None).await;
    let mut conn = <diesel::PgConnection as diesel::Connection>::establish(&url).unwrap();
    for total in [1_000, 2_000, 3_000, 4_000, 5_000] {
        let response = cashier
            .client
            .post(format!("{address}/api/cajas/{caja}/sales"))
            .json(&cash_sale(total))
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            201,
            "acknowledged while the provider is down"
        );
    }
    // Tried and failed (the outbox rests, the others wait); then the
    // provider is back, and the first document sent is issued but its
    // answer does not read.
    let tried =
        "SELECT count(*) AS n FROM tax_documents WHERE attempts >= 1 AND status = 'PENDIENTE'";
    for _ in 0..300 {
        if count(&mut conn, tried) >= 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(count(&mut conn, tried) >= 1);
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) AS n FROM tax_documents WHERE status = 'PENDIENTE'"
        ),
        5
    );
    {
        let mut state = provider.lock().unwrap();
        state.script.push_back(Scripted::Garbage);
        state.down = false;
    }
    for _ in 0..1000 {
        if !provider.lock().unwrap().issued.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    hub.kill();
    let issued_before = provider.lock().unwrap().issued.len();
    assert!(issued_before >= 1);

    let _hub = crate::helpers::HubProcess::start_with(&address, &url, &env, None).await;
    let accepted = "SELECT count(*) AS n FROM tax_documents WHERE status = 'ACEPTADA'";
    for _ in 0..600 {
        if count(&mut conn, accepted) == 5 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(
        count(&mut conn, accepted),
        5,
        "all issued after the restart"
    );
    let state = provider.lock().unwrap();
    assert_eq!(state.issued.len(), 5, "each once");
    for (key, (folio, _)) in &state.issued {
        assert_eq!(
            count(
                &mut conn,
                &format!("SELECT folio AS n FROM tax_documents WHERE idempotency_key = '{key}'")
            ),
            *folio
        );
    }
    assert_eq!(state.garbled.len(), 1);
    assert!(
        state.resent.get(&state.garbled[0]).copied().unwrap_or(0) >= 1,
        "the document whose answer was lost was sent again by the next process, and issued once"
    );
}

/// The provider's webhook decides a queued document, with the shared
/// secret only; a wrong or missing secret, a body that does not read and
/// an unknown key are refused, and a decided document stays decided.
#[actix_web::test]
async fn the_providers_webhook_decides_a_queued_boleta_with_its_secret_only() {
    use fake_provider::Scripted;
    let (base, provider) = fake_provider::start();
    provider
        .lock()
        .unwrap()
        .script
        .extend([Scripted::Queues, Scripted::Queues]);
    let (app, _clock, caja, cashier) = http_venue(&base, |settings| {
        settings.dte_webhook_secret = Some("aviso-compartido".into());
    })
    .await;
    for total in [4_500, 6_000] {
        assert_eq!(sell(&app, &cashier, caja, &cash_sale(total)).await.0, 201);
    }
    until_count(
        &app,
        "SELECT count(*) AS n FROM tax_documents WHERE status = 'ENVIADA' AND track_id LIKE 'T-%'",
        2,
    )
    .await;
    let key_of = |total: i64| {
        let mut conn = app.conn();
        #[derive(diesel::QueryableByName)]
        struct Key {
            #[diesel(sql_type = diesel::sql_types::Text)]
            key: String,
        }
        diesel::sql_query(format!(
            "SELECT idempotency_key::text AS key FROM tax_documents WHERE total = {total}"
        ))
        .get_result::<Key>(&mut conn)
        .unwrap()
        .key
    };
    let (accepted_key, rejected_key) = (key_of(4_500), key_of(6_000));
    let client = reqwest::Client::new();
    let tell = |secret: Option<&'static str>, body: String| {
        let mut request = client
            .post(app.url("/api/boletas/estado"))
            .header("Content-Type", "application/json")
            .body(body);
        if let Some(secret) = secret {
            request = request.header("X-Webhook-Secret", secret);
        }
        request.send()
    };
    let accepted = serde_json::json!({"idempotency_key": accepted_key, "estado": "ACEPTADO",
        "folio": 777, "url": "https://dte.example/v/777"})
    .to_string();
    for secret in [None, Some("otro"), Some("")] {
        assert_eq!(
            tell(secret, accepted.clone()).await.unwrap().status(),
            401,
            "{secret:?}"
        );
    }
    assert_eq!(
        app.count("SELECT count(*) AS n FROM tax_documents WHERE status = 'ENVIADA'"),
        2
    );
    let garbled = tell(Some("aviso-compartido"), "{\"estado\": 7}".into())
        .await
        .unwrap();
    assert_eq!(garbled.status(), 400);
    let other = serde_json::json!({"idempotency_key": uuid::Uuid::new_v4(), "estado": "ACEPTADO",
        "folio": 1, "url": "https://x.cl"});
    assert_eq!(
        tell(Some("aviso-compartido"), other.to_string())
            .await
            .unwrap()
            .status(),
        404
    );

    let answer = tell(Some("aviso-compartido"), accepted.clone())
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(
        answer.json::<serde_json::Value>().await.unwrap()["applied"],
        true
    );
    let rejected = serde_json::json!({"idempotency_key": rejected_key, "estado": "RECHAZADO",
        "motivo": "giro del emisor no corresponde"})
    .to_string();
    assert_eq!(
        tell(Some("aviso-compartido"), rejected)
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM tax_documents WHERE idempotency_key = '{accepted_key}' \
             AND status = 'ACEPTADA' AND folio = 777 AND link = 'https://dte.example/v/777'"
        )),
        1
    );
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM tax_documents WHERE idempotency_key = '{rejected_key}' \
             AND status = 'RECHAZADA' AND reason = 'giro del emisor no corresponde'"
        )),
        1
    );
    // Told again, or told otherwise: it stays as decided.
    let again = serde_json::json!({"idempotency_key": accepted_key, "estado": "RECHAZADO", "motivo": "tarde"});
    let answer = tell(Some("aviso-compartido"), again.to_string())
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let body: serde_json::Value = answer.json().await.unwrap();
    assert_eq!(
        (body["applied"].clone(), body["status"].clone()),
        (serde_json::json!(false), serde_json::json!("ACEPTADA"))
    );
    assert_eq!(
        app.count(
            "SELECT count(*) AS n FROM tax_documents WHERE status = 'ACEPTADA' AND folio = 777"
        ),
        1
    );
}

/// Creates product `name` at `price` in `category`, exempt of IVA or not.
async fn taxed_product(app: &TestApp, category: i32, name: &str, price: &str, exempt: bool) -> i32 {
    let category = category.to_string();
    let mut fields = vec![
        ("category_id", category.as_str()),
        ("name", name),
        ("price", price),
        ("offered", "todas"),
    ];
    if exempt {
        fields.push(("exempt", "si"));
    }
    let response = app.post_form("/admin/productos/crear", &fields).await;
    assert_eq!(response.status(), 303, "product {name} created");
    app.count(&format!(
        "SELECT id::bigint AS n FROM products WHERE name = '{name}' AND exempt = {exempt}"
    )) as i32
}

/// A product exempt of IVA: a sale all exempt gets a boleta exenta (DTE
/// 41, no net, no IVA), one with some exempt lines a boleta stating its
/// exempt part apart with those lines marked, a part documented under the
/// voucher model the same share of it; folios run per type, a void of a
/// boleta exenta is undone by a nota de crédito naming it, and the ticket
/// shows what is exempt. Kept as sold: a product marked exempt later
/// changes no document already written.
#[actix_web::test]
async fn exempt_products_get_a_boleta_exenta_or_an_exempt_part() {
    use cajahub::boleta::document::{self, DteKind, Emisor};

    let (app, clock, caja, cashier) = issuing_venue("voucher").await;
    let provider = app.state.outbox.simulated().clone();
    provider.set_down(true);
    let entradas = crate::catalog::category(&app, "Entradas").await;
    // A bad value of the box is named.
    let refused = app
        .post_form(
            "/admin/productos/crear",
            &[
                ("category_id", entradas.to_string().as_str()),
                ("name", "Entrada"),
                ("price", "8000"),
                ("offered", "todas"),
                ("exempt", "quizas"),
            ],
        )
        .await;
    assert_eq!(refused.status(), 422);
    let html = refused.text().await.unwrap();
    assert!(
        field_error(&html, "exempt").is_some_and(|e| e.contains("exento")),
        "{html}"
    );
    let show = taxed_product(&app, entradas, "Entrada show", "8000", true).await;
    let piscola = taxed_product(&app, entradas, "Piscola", "4500", false).await;
    let list = app.get("/admin/productos/").await.text().await.unwrap();
    assert!(
        crate::catalog::spaced(&list).contains("Entrada show Exento $8.000"),
        "{list}"
    );
    let csv = app
        .get("/admin/productos/exportar")
        .await
        .text()
        .await
        .unwrap();
    assert!(csv.contains(";exento\r\n"), "{csv}");
    assert!(
        csv.contains("Entradas;Entrada show;Entrada show;8000;#37474f;0;todas;si"),
        "{csv}"
    );

    let line = |product: i32, quantity: i64| serde_json::json!({"product_id": product, "quantity": quantity});
    let all_exempt = crate::catalog::ticket(16_000, serde_json::json!([line(show, 2)]));
    let mixed =
        crate::catalog::ticket(12_500, serde_json::json!([line(piscola, 1), line(show, 1)]));
    let mut part_by_card =
        crate::catalog::ticket(12_500, serde_json::json!([line(show, 1), line(piscola, 1)]));
    part_by_card["payments"] = serde_json::json!([
        {"method": "EFECTIVO", "amount": 2_500},
        {"method": "CREDITO", "amount": 10_000, "provider": "GETNET", "authorization_code": "Z9Y8X7"}]);
    let none_exempt = crate::catalog::ticket(4_500, serde_json::json!([line(piscola, 1)]));
    let mut sold = Vec::new();
    for body in [&all_exempt, &mixed, &part_by_card, &none_exempt] {
        let (status, ack) = sell(&app, &cashier, caja, body).await;
        assert_eq!(status, 201, "{ack}");
        sold.push(ack["sale_id"].as_i64().unwrap());
    }
    // Both marked otherwise now: no document already written changes
    // (the audit keeps each edit).
    for (id, name, price, exempt) in [
        (show, "Entrada show", "8000", None),
        (piscola, "Piscola", "4500", Some("si")),
    ] {
        let edit = app
            .get(&format!("/admin/productos/{id}/editar"))
            .await
            .text()
            .await
            .unwrap();
        let version = edit
            .split(r#"name="version" value=""#)
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap()
            .to_owned();
        let category = entradas.to_string();
        let mut fields = vec![
            ("category_id", category.as_str()),
            ("name", name),
            ("price", price),
            ("offered", "todas"),
            ("version", version.as_str()),
        ];
        fields.extend(exempt.map(|v| ("exempt", v)));
        let saved = app
            .post_form(&format!("/admin/productos/{id}/editar"), &fields)
            .await;
        assert_eq!(saved.status(), 303);
    }
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM products WHERE (id = {show} AND NOT exempt) OR (id = {piscola} AND exempt)"
        )),
        2
    );
    assert_eq!(
        app.count("SELECT count(*) AS n FROM audit_log WHERE action = 'producto.editado' AND (after->>'exempt')::boolean <> (before->>'exempt')::boolean"),
        2
    );

    // The documents as the provider is sent them.
    let emisor = Emisor {
        rut: "76086428-5".into(),
        razon_social: "Discoteca Bimba SpA".into(),
        giro: "Discoteca, bar y eventos".into(),
        direccion: "Av. Providencia 1234".into(),
        comuna: "Providencia".into(),
    };
    let due = document::due(
        &mut app.db.connect(),
        &emisor,
        chrono::Utc::now() + chrono::Duration::days(1),
        10,
    )
    .unwrap();
    assert_eq!(due.len(), 4, "{due:?}");
    let summary: Vec<_> = due
        .iter()
        .map(|d| {
            let exempt_lines: Vec<bool> = d.lines.iter().map(|l| l.exento).collect();
            (d.kind, d.total, d.neto, d.iva, d.exento, exempt_lines)
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (DteKind::BoletaExenta, 16_000, 0, 0, 16_000, vec![true]),
            (
                DteKind::Boleta,
                12_500,
                3_782,
                718,
                8_000,
                vec![false, true]
            ),
            // $2.500 of $12.500 documented, $8.000 of it exempt: $1.600.
            (DteKind::Boleta, 2_500, 756, 144, 1_600, vec![false, true]),
            (DteKind::Boleta, 4_500, 3_782, 718, 0, vec![false]),
        ]
    );
    assert_eq!(due[2].lines[0].name, "Consumo");
    assert_eq!(due[2].lines[1].name, "Consumo exento");
    assert_eq!(serde_json::to_value(&due[0]).unwrap()["tipo_dte"], 41);
    // The database holds the rule for whoever writes.
    let wrong = diesel::sql_query(format!(
        "UPDATE tax_documents SET exempt = 100 WHERE sale_id = {}",
        sold[0]
    ))
    .execute(&mut app.db.connect());
    assert!(
        wrong.is_err_and(|e| e.to_string().contains("tax_documents_exenta_is_all_exempt")),
        "a boleta exenta is all exempt"
    );

    provider.set_down(false);
    clock.advance(std::time::Duration::from_secs(2));
    until_count(
        &app,
        "SELECT count(*) AS n FROM tax_documents WHERE status = 'ACEPTADA'",
        4,
    )
    .await;
    // Folios run per type, as the SII authorizes them.
    assert_eq!(
        app.count(&format!(
            "SELECT folio AS n FROM tax_documents WHERE sale_id = {} AND kind = 41",
            sold[0]
        )),
        1
    );
    assert_eq!(
        app.count("SELECT count(DISTINCT folio) AS n FROM tax_documents WHERE kind = 39 AND folio BETWEEN 1 AND 3"),
        3
    );

    // The customer's copies.
    let session = app.count("SELECT max(id)::bigint AS n FROM register_sessions");
    let ticket = |sale: i64| format!("/caja/session/{session}/ventas/{sale}/ticket");
    let text =
        crate::catalog::spaced(&crate::catalog::read(&app, &cashier, &ticket(sold[0])).await);
    assert!(
        text.contains("Boleta exenta electrónica N.º 1 Exento $16.000 Total $16.000"),
        "{text}"
    );
    assert!(!text.contains("IVA"), "{text}");
    let text =
        crate::catalog::spaced(&crate::catalog::read(&app, &cashier, &ticket(sold[1])).await);
    assert!(
        text.contains("Neto $3.782 IVA 19 % $718 Exento $8.000 Total $12.500"),
        "{text}"
    );

    // Voided, the boleta exenta is undone by a nota de crédito naming it.
    let supervisor = app.visitor("supervisora", Role::Supervisor).await;
    let void_key = key();
    let (status, answer) = crate::registers::post_json(
        &app,
        &supervisor,
        &format!("/api/cajas/{caja}/sales/{}/void", sold[0]),
        &serde_json::json!({"key": void_key, "reason": "función suspendida"}),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    until_count(
        &app,
        &format!(
            "SELECT count(*) AS n FROM tax_documents nc JOIN tax_documents b ON b.id = nc.refers_to \
             WHERE nc.kind = 61 AND nc.status = 'ACEPTADA' AND b.kind = 41 AND nc.exempt = 16000 \
             AND nc.idempotency_key = '{void_key}'"
        ),
        1,
    )
    .await;
    // The jornada's report squares them by type.
    let jornada = app.count("SELECT max(id)::bigint AS n FROM jornadas");
    let page = supervisor
        .get(&app, &format!("/admin/jornadas/{jornada}"))
        .await;
    let text = crate::catalog::spaced(&page.text().await.unwrap());
    assert!(
        text.contains("Boleta exenta electrónica Aceptada 1 $16.000"),
        "{text}"
    );

    let Some(browser) = crate::browser::Browser::start().await else {
        return;
    };
    browser.log_in(&app, "cajero1").await;
    browser.goto(&app, &ticket(sold[1])).await;
    browser.screenshots("ticket-boleta-exento").await;
    browser.emulate_print(302).await;
    let (by, out) = crate::fit::overflow(&browser).await;
    assert_eq!(by, 0, "the ticket fits the roll; sticking out: {out}");
    browser.screenshot("ticket-boleta-exento-80mm").await;
    browser.close().await;
    let Some(admin) = crate::browser::Browser::start().await else {
        return;
    };
    admin.log_in(&app, "admin").await;
    admin
        .goto(&app, &format!("/admin/productos/{piscola}/editar"))
        .await;
    admin.screenshots("producto-exento").await;
    admin.goto(&app, "/admin/productos/").await;
    admin.screenshots("productos-exento").await;
    admin.close().await;
}
