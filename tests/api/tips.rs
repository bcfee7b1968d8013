//! Tips (propina): paid with a payment, by any method, kept apart from the
//! sale (its total, its lines, the session's sales per method), counted
//! in the cash expected when paid in cash, charged with a card's charge,
//! bounded by the venue, and reported per session, cashier and jornada.

use cajahub::auth::user::Role;
use serde_json::json;

use crate::catalog::{category, product, read, ready, spaced, ticket};
use crate::helpers::TestApp;
use crate::payments::assert_card_counts_match_attempts;
use crate::registers::{assert_counters_match_rows, key, sell};
use crate::screens::{next_json, open_screen};

/// The rows a sale writes, to check a refusal wrote none.
fn written(app: &TestApp) -> (i64, i64, i64) {
    (
        app.count("SELECT count(*) AS n FROM sales"),
        app.count("SELECT count(*) AS n FROM sale_payments"),
        app.count("SELECT count(*) AS n FROM card_attempts"),
    )
}

fn session_figure(app: &TestApp, sql: &str) -> i64 {
    app.count(&format!(
        "SELECT ({sql})::bigint AS n FROM register_sessions ORDER BY id DESC LIMIT 1"
    ))
}

#[actix_web::test]
async fn a_tip_rides_on_its_payment_apart_from_the_sale_and_counts_in_the_drawer() {
    let app = TestApp::spawn_as_admin().await;
    let (caja, cashier) = ready(&app).await;
    let tragos = category(&app, "Tragos").await;
    let piscola = product(&app, tragos, "Piscola", "4500", None).await;

    // Three piscolas and the suggested 10 %, in cash: $20.000 handed over.
    let mut cash = ticket(13_500, json!([{"product_id": piscola, "quantity": 3}]));
    cash["payments"] =
        json!([{"method": "EFECTIVO", "amount": 13500, "tendered": 20000, "tip": 1350}]);
    let (status, ack) = sell(&app, &cashier, caja, &cash).await;
    assert_eq!(status, 201, "{ack}");
    assert_eq!(
        (&ack["total_charged"], &ack["tip"], &ack["change"]),
        (&json!(13_500), &json!(1_350), &json!(5_150))
    );
    // A retry answers the same; the same key with another tip is another sale.
    let (status, again) = sell(&app, &cashier, caja, &cash).await;
    assert_eq!((status, &again["tip"]), (200, &json!(1_350)), "{again}");
    let mut other = cash.clone();
    other["payments"][0]["tip"] = json!(1_000);
    let (status, reused) = sell(&app, &cashier, caja, &other).await;
    assert_eq!(
        (status, &reused["code"]),
        (422, &json!("idempotency_key_reused")),
        "{reused}"
    );

    // A tip typed with the terminal's code: the terminal charged both.
    let card = json!({"key": key(), "total": 9000, "payments": [{"method": "DEBITO", "amount": 9000,
        "tip": 900, "provider": "GETNET", "authorization_code": "A1B2C3"}]});
    let (status, ack) = sell(&app, &cashier, caja, &card).await;
    assert_eq!(status, 201, "{ack}");
    let card_sale = ack["sale_id"].as_i64().unwrap();
    assert_eq!(
        app.count(&format!(
            "SELECT amount AS n FROM card_attempts WHERE sale_id = {card_sale}"
        )),
        9_900
    );

    // Not revenue: the sale, its lines and the sales per method leave it out.
    assert_eq!(
        app.count("SELECT sum(total)::bigint AS n FROM sales"),
        22_500
    );
    assert_eq!(
        app.count("SELECT sum(line_total)::bigint AS n FROM sale_lines"),
        22_500
    );
    assert_eq!(
        session_figure(&app, "(payment_totals->>'EFECTIVO')::bigint"),
        13_500
    );
    assert_eq!(
        session_figure(&app, "(tip_totals->>'EFECTIVO')::bigint"),
        1_350
    );
    assert_eq!(session_figure(&app, "(tip_totals->>'DEBITO')::bigint"), 900);
    let session = session_figure(&app, "id");
    assert_counters_match_rows(&app, session);
    assert_card_counts_match_attempts(&app, session);

    // Each mistake named, nothing written.
    let before = written(&app);
    let refusals = [
        (
            json!([{"method": "EFECTIVO", "amount": 4500, "tip": -10}]),
            "payments[0].tip",
            "negativo",
        ),
        (
            json!([{"method": "EFECTIVO", "amount": 4500, "tip": 455}]),
            "payments[0].tip",
            "múltiplos de $10",
        ),
        (
            json!([{"method": "EFECTIVO", "amount": 4500, "tip": 2260}]),
            "payments[0].tip",
            "50 %",
        ),
        (
            json!([{"method": "EFECTIVO", "amount": 4500, "tip": 450, "tendered": 4500}]),
            "payments[0].tendered",
            "$4.950",
        ),
        (
            json!([{"method": "TRANSFERENCIA", "amount": 4500, "tip": 1.5}]),
            "payments",
            "",
        ),
    ];
    for (payments, field, says) in refusals {
        let body = json!({"key": key(), "total": 4500, "payments": payments});
        let (status, answer) = sell(&app, &cashier, caja, &body).await;
        assert_eq!(status, 422, "{payments}: {answer}");
        assert!(
            answer["field"]
                .as_str()
                .unwrap_or_default()
                .starts_with(field),
            "{payments}: {answer}"
        );
        assert!(
            answer["message"]
                .as_str()
                .unwrap_or_default()
                .contains(says),
            "{payments}: {answer}"
        );
    }
    assert_eq!(written(&app), before);

    // Voided, the card sale takes its tip back with it.
    let supervisor = app.visitor("supervisora", Role::Supervisor).await;
    let response = supervisor
        .post(
            &app,
            &format!("/caja/session/{session}/ventas/{card_sale}/anular"),
            &[
                ("reason", "cliente se arrepintió"),
                ("refund_code", "DEV123"),
            ],
        )
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(session_figure(&app, "(tip_totals->>'DEBITO')::bigint"), 0);
    assert_counters_match_rows(&app, session);

    // The drawer holds the cash tips: the float ($0), the sale, the tip.
    let close_page = read(&app, &cashier, "/caja/session/close").await;
    assert!(
        close_page.contains(r#"id="esperado">$14.850<"#)
            && close_page.contains(r#"id="propinas-efectivo">$1.350<"#),
        "{close_page}"
    );
    let closed = cashier
        .post(
            &app,
            "/caja/session/close",
            &[("register_id", &caja.to_string()), ("cash_count", "14850")],
        )
        .await;
    assert_eq!(closed.status(), 303);
    // Independent of the hub: the expected cash from the rows.
    assert_eq!(
        session_figure(&app, "cash_expected"),
        app.count(
            "SELECT (rs.initial_cash + sum(p.amount_charged + p.tip))::bigint AS n
               FROM register_sessions rs JOIN sales s ON s.session_id = rs.id
               JOIN sale_payments p ON p.sale_id = s.id
              WHERE s.voided_at IS NULL AND p.method = 'EFECTIVO' GROUP BY rs.id"
        )
    );
    assert_eq!(session_figure(&app, "cash_difference"), 0);

    // Reported: the session's page and CSV, the jornada's page, the ticket.
    let page = read(&app, &supervisor, &format!("/caja/session/{session}")).await;
    let text = spaced(&page);
    assert!(text.contains("Propinas (no son venta)"), "{text}");
    assert!(text.contains("Propinas en efectivo"), "{text}");
    assert!(text.contains("+ propina $1.350"), "{text}");
    let csv = read(
        &app,
        &supervisor,
        &format!("/caja/session/{session}/cierre.csv"),
    )
    .await;
    assert!(csv.contains("propinas;EFECTIVO;;;1350"), "{csv}");
    assert!(csv.contains("propinas;DEBITO;;;0"), "{csv}");
    assert!(csv.contains("efectivo;esperado;;;14850"), "{csv}");
    let jornada = app.count("SELECT id::bigint AS n FROM jornadas");
    let page = read(&app, &supervisor, &format!("/admin/jornadas/{jornada}")).await;
    let text = spaced(&page);
    assert!(text.contains("Propinas"), "{text}");
    assert!(
        text.contains("cajero1 1 $1.350 $0 $0 $1.350"),
        "one sale with a tip, in cash; the voided card's is out: {text}"
    );
    let sale = app.count("SELECT min(id) AS n FROM sales");
    let path = format!("/caja/session/{session}/ventas/{sale}/ticket");
    let receipt = read(&app, &supervisor, &path).await;
    let text = spaced(&receipt);
    assert!(text.contains("Total $13.500"), "{text}");
    assert!(text.contains("Propina $1.350"), "{text}");
    assert!(text.contains("Total con propina $14.850"), "{text}");
    assert!(text.contains("Vuelto $5.150"), "{text}");
}

/// An approved charge pays a sale only for what it charged: the payment
/// and its tip together, split as the charge was started (so a charge
/// approved with no sale recorded yet is registered with its tip apart,
/// not as revenue).
#[actix_web::test]
async fn a_card_charge_pays_the_sale_and_its_tip_together() {
    let (app, _clock) = crate::payments::hub("GETNET=approve,KLAP=approve,latency=0").await;
    let (caja, cashier) = crate::payments::caja_with_session(&app, "BARRA-1", "cajero1", &[]).await;
    let sale = key();
    // A tip is a part of the charge, never all of it.
    for (tip, why) in [(11_000, "menor"), (-1, "negativ"), (12_000, "menor")] {
        let (status, refused) =
            crate::payments::start(&app, &cashier, caja, &sale, 11_000, json!({"tip": tip})).await;
        assert_eq!(status, 422, "{refused}");
        assert_eq!(refused["field"], "tip", "{refused}");
        assert!(
            refused["message"]
                .as_str()
                .unwrap_or_default()
                .contains(why),
            "{refused}"
        );
    }
    assert_eq!(written(&app).2, 0);
    let (status, started) =
        crate::payments::start(&app, &cashier, caja, &sale, 11_000, json!({"tip": 1_000})).await;
    assert_eq!(status, 201, "{started}");
    assert_eq!(started["attempt"]["tip"], 1_000, "{started}");
    let attempt = started["attempt"]["id"].as_i64().unwrap();
    crate::payments::wait_for_status(&app, caja, attempt, "APPROVED").await;
    // Every screen that lists the charge knows its tip.
    let register = crate::payments::register(&app, &cashier, caja).await;
    let listed = crate::payments::attempt_in(&register, attempt);
    assert_eq!(listed["tip"], 1_000, "{register}");

    // The whole charge as the sale's amount counts the tip as revenue.
    let body = crate::payments::card_sale(&sale, 11_000, attempt);
    let (status, answer) = sell(&app, &cashier, caja, &body).await;
    assert_eq!(status, 422, "{answer}");
    assert!(
        answer["message"]
            .as_str()
            .unwrap_or_default()
            .contains("propina $1.000"),
        "{answer}"
    );

    // The charge was $11.000: a sale of $11.000 with a $1.000 tip is not it.
    let mut body = crate::payments::card_sale(&sale, 11_000, attempt);
    body["payments"][0]["tip"] = json!(1_000);
    let (status, answer) = sell(&app, &cashier, caja, &body).await;
    assert_eq!(status, 422, "{answer}");
    assert!(
        answer["message"]
            .as_str()
            .unwrap_or_default()
            .contains("$12.000"),
        "{answer}"
    );
    // $10.000 and its $1.000 tip is.
    let mut body = crate::payments::card_sale(&sale, 10_000, attempt);
    body["payments"][0]["tip"] = json!(1_000);
    let (status, answer) = sell(&app, &cashier, caja, &body).await;
    assert_eq!(status, 201, "{answer}");
    assert_eq!(answer["tip"], 1_000);
    let session = session_figure(&app, "id");
    assert_eq!(
        session_figure(&app, "(payment_totals->>'DEBITO')::bigint"),
        10_000
    );
    assert_eq!(
        session_figure(&app, "(tip_totals->>'DEBITO')::bigint"),
        1_000
    );
    assert_card_counts_match_attempts(&app, session);
    assert_counters_match_rows(&app, session);
}

pub(crate) fn field_error(html: &str, field: &str) -> Option<String> {
    let marker = format!(r#"id="{field}-error">"#);
    let start = html.find(&marker)? + marker.len();
    Some(html[start..].split('<').next()?.to_owned())
}

/// The venue says what the POS offers; every POS hears it with the catalog,
/// and the hub refuses what the venue does not take.
#[actix_web::test]
async fn the_venue_sets_the_tip_and_every_pos_hears_it() {
    let app = TestApp::spawn_as_admin().await;
    let (caja, cashier) = ready(&app).await;
    let page = app.get("/admin/local").await.text().await.unwrap();
    assert!(
        page.contains(r#"value="percent" checked"#),
        "10 % by default"
    );
    assert!(page.contains(
        r#"id="tip_percent" name="tip_percent" inputmode="numeric" maxlength="3" value="10""#
    ));

    let form = |mode: &'static str, percent: &'static str, limit: &'static str| {
        vec![
            ("sessions_per_person", "one"),
            ("tip_mode", mode),
            ("tip_percent", percent),
            ("tip_limit_percent", limit),
        ]
    };
    let audited =
        || app.count("SELECT count(*) AS n FROM audit_log WHERE action = 'local.ajustes'");
    let before = audited();
    for (fields, field) in [
        (form("sometimes", "10", "50"), "tip_mode"),
        (form("percent", "0", "50"), "tip_percent"),
        (form("percent", "51", "50"), "tip_percent"),
        (form("percent", "1.5", "50"), "tip_percent"),
        (form("percent", "10", "1001"), "tip_limit_percent"),
        (form("percent", "10", ""), "tip_limit_percent"),
    ] {
        let response = app.post_form("/admin/local", &fields).await;
        assert_eq!(response.status(), 422, "{fields:?}");
        let html = response.text().await.unwrap();
        assert!(field_error(&html, field).is_some(), "{field}: {html}");
    }
    assert_eq!(audited(), before, "nothing saved");

    // A POS open while the venue turns tips off hears it at once.
    let cookie = app.session_cookie("cajero1", Role::Cajero).await;
    let (mut pos, hello) = open_screen(&app, &format!("/ws/caja/{caja}"), &cookie).await;
    assert_eq!(hello["catalog"]["tips"]["mode"], "percent", "{hello}");
    assert_eq!(hello["catalog"]["tips"]["percent"], 10);
    let response = app
        .post_form("/admin/local", &form("off", "10", "50"))
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(audited(), before + 1);
    let pushed = loop {
        let message = next_json(&mut pos).await.expect("the socket stays open");
        if message["type"] == "catalog" {
            break message;
        }
    };
    assert_eq!(pushed["catalog"]["tips"]["mode"], "off", "{pushed}");
    let body = json!({"key": key(), "total": 4500,
        "payments": [{"method": "EFECTIVO", "amount": 4500, "tip": 450}]});
    let (status, answer) = sell(&app, &cashier, caja, &body).await;
    assert_eq!(status, 422, "{answer}");
    assert_eq!(answer["field"], "payments[0].tip");
    assert!(
        answer["message"]
            .as_str()
            .unwrap_or_default()
            .contains("no recibe propina"),
        "{answer}"
    );

    // A sale taken offline before the change keeps the tip the customer
    // paid: recorded as taken.
    let session = app.count("SELECT id::bigint AS n FROM register_sessions WHERE status = 'OPEN'");
    let offline = json!({"sale": {"key": key(), "total": 4500, "session_id": session,
        "payments": [{"method": "EFECTIVO", "amount": 4500, "tip": 450}]},
        "made_at": "2026-12-05T03:10:00Z"});
    let (status, answer) = crate::registers::post_json(
        &app,
        &cashier,
        &format!("/api/cajas/{caja}/offline-sales"),
        &offline,
    )
    .await;
    assert_eq!(
        (status, answer["outcome"].as_str()),
        (201, Some("recorded")),
        "{answer}"
    );
    assert_eq!(
        app.count("SELECT COALESCE(sum(tip), 0)::bigint AS n FROM sale_payments"),
        450
    );
    // Free amounts, up to twice the sale.
    let response = app
        .post_form("/admin/local", &form("free", "10", "200"))
        .await;
    assert_eq!(response.status(), 303);
    let body = json!({"key": key(), "total": 4500,
        "payments": [{"method": "TRANSFERENCIA", "amount": 4500, "tip": 9000}]});
    let (status, answer) = sell(&app, &cashier, caja, &body).await;
    assert_eq!(status, 201, "{answer}");
    let last = |path: &str| {
        app.count(&format!(
            "SELECT ({path})::bigint AS n FROM audit_log WHERE action = 'local.ajustes' ORDER BY id DESC LIMIT 1"
        ))
    };
    assert_eq!(last("after->'tips'->>'limit_percent'"), 200);
    assert_eq!(last("(after->'tips'->>'mode' = 'free')::int"), 1);
    assert_eq!(last("(before->'tips'->>'mode' = 'off')::int"), 1);
    // A page opened before tips were offered leaves them as they are.
    let response = app
        .post_form("/admin/local", &[("sessions_per_person", "many")])
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(last("(after->'tips'->>'mode' = 'free')::int"), 1);
    assert_eq!(last("after->'tips'->>'limit_percent'"), 200);
}
