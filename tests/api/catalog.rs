//! The catalog and tickets with lines: an admin builds the menu on its
//! pages (every mistake named, nothing half-written, prices versioned),
//! and a sale carries its lines, priced by the catalog, adding up to its
//! total in the database itself.

use cajahub::auth::user::Role;
use futures_util::SinkExt;
use serde_json::{Value, json};

use crate::helpers::{TestApp, Visitor, without_tags};
use crate::registers::{key, open_session, post_json, sell, venue};
use crate::screens::{Socket, next_json, open_screen};

/// Creates category `name`; returns its id.
pub(crate) async fn category(app: &TestApp, name: &str) -> i32 {
    let response = app
        .post_form("/admin/categorias", &[("name", name), ("sort_order", "")])
        .await;
    assert_eq!(response.status(), 303, "category {name} created");
    app.count(&format!(
        "SELECT id::bigint AS n FROM product_categories WHERE name = '{name}' AND archived_at IS NULL"
    )) as i32
}

/// Creates product `name` at `price` in `category`, on every caja or only
/// on `only`; returns its id.
pub(crate) async fn product(
    app: &TestApp,
    category: i32,
    name: &str,
    price: &str,
    only: Option<i32>,
) -> i32 {
    let category = category.to_string();
    let only_box = only.map(|caja| format!("caja_{caja}"));
    let mut fields = vec![
        ("category_id", category.as_str()),
        ("name", name),
        ("price", price),
        ("colour", "#1e88e5"),
        ("offered", if only.is_some() { "algunas" } else { "todas" }),
    ];
    if let Some(only_box) = &only_box {
        fields.push((only_box.as_str(), "on"));
    }
    let response = app.post_form("/admin/productos/crear", &fields).await;
    assert_eq!(response.status(), 303, "product {name} created");
    app.count(&format!(
        "SELECT id::bigint AS n FROM products WHERE name = '{name}' AND archived_at IS NULL"
    )) as i32
}

fn product_fields<'a>(category: &'a str, name: &'a str, price: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("category_id", category),
        ("name", name),
        ("price", price),
        ("offered", "todas"),
    ]
}

/// The error the page shows under `field`, if any.
fn field_error(html: &str, field: &str) -> Option<String> {
    let marker = format!("id=\"{field}-error\">");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('<')?;
    Some(html[start..start + end].to_owned())
}

#[actix_web::test]
async fn an_admin_builds_the_catalog_and_every_mistake_is_named() {
    let app = TestApp::spawn_as_admin().await;
    let empty = app.get("/admin/productos/").await.text().await.unwrap();
    assert!(
        without_tags(&empty).contains("Crea la primera categoría"),
        "an empty catalog says where to start"
    );
    let tragos = category(&app, "Tragos").await;
    // A category's name is taken once.
    let again = app
        .post_form("/admin/categorias", &[("name", "tragos")])
        .await;
    assert_eq!(again.status(), 422);
    assert!(
        field_error(&again.text().await.unwrap(), "name").is_some_and(|e| e.contains("ya hay"))
    );

    let tragos_id = tragos.to_string();
    for (price, why) in [
        ("0", "zero"),
        ("-5", "negative"),
        ("1.5", "decimal"),
        ("", "empty"),
    ] {
        let response = app
            .post_form(
                "/admin/productos/crear",
                &product_fields(&tragos_id, "Piscola", price),
            )
            .await;
        assert_eq!(response.status(), 422, "a {why} price is refused");
        let html = response.text().await.unwrap();
        assert!(
            field_error(&html, "price").is_some(),
            "the {why} price is named"
        );
    }
    let bad_colour = app
        .post_form(
            "/admin/productos/crear",
            &[
                ("category_id", tragos_id.as_str()),
                ("name", "Piscola"),
                ("price", "4500"),
                ("colour", "rojo"),
            ],
        )
        .await;
    assert_eq!(bad_colour.status(), 422);
    assert!(field_error(&bad_colour.text().await.unwrap(), "colour").is_some());
    let no_caja = app
        .post_form(
            "/admin/productos/crear",
            &[
                ("category_id", tragos_id.as_str()),
                ("name", "Piscola"),
                ("price", "4500"),
                ("offered", "algunas"),
            ],
        )
        .await;
    assert_eq!(no_caja.status(), 422);
    assert!(field_error(&no_caja.text().await.unwrap(), "cajas").is_some());
    assert_eq!(
        app.count("SELECT count(*) AS n FROM products"),
        0,
        "nothing half-written"
    );

    let piscola = product(&app, tragos, "Piscola", "$4.500", None).await;
    let duplicate = app
        .post_form(
            "/admin/productos/crear",
            &product_fields(&tragos_id, "PISCOLA", "5000"),
        )
        .await;
    assert_eq!(
        duplicate.status(),
        422,
        "a name is taken once in its category"
    );
    assert!(field_error(&duplicate.text().await.unwrap(), "name").is_some());
    let list = app.get("/admin/productos/").await.text().await.unwrap();
    assert!(
        without_tags(&list).contains("$4.500"),
        "{}",
        without_tags(&list)
    );

    // An edit changes the price for what comes; the old one is kept.
    let edit = app
        .get(&format!("/admin/productos/{piscola}/editar"))
        .await
        .text()
        .await
        .unwrap();
    assert!(edit.contains("name=\"version\" value=\"1\""));
    let mut fields = product_fields(&tragos_id, "Piscola", "5000");
    fields.push(("version", "1"));
    let saved = app
        .post_form(&format!("/admin/productos/{piscola}/editar"), &fields)
        .await;
    assert_eq!(saved.status(), 303);
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM product_prices WHERE product_id = {piscola}"
        )),
        2,
        "each price from when it was set"
    );
    // A second edit from the same version is not written over the first.
    let mut stale = product_fields(&tragos_id, "Piscola", "6000");
    stale.push(("version", "1"));
    let refused = app
        .post_form(&format!("/admin/productos/{piscola}/editar"), &stale)
        .await;
    assert_eq!(refused.status(), 409);
    assert!(without_tags(&refused.text().await.unwrap()).contains("NO se guardaron"));
    assert_eq!(
        app.count(&format!(
            "SELECT price AS n FROM products WHERE id = {piscola}"
        )),
        5_000
    );

    // A category with products on sale is not archived.
    let in_use = app
        .post_form(&format!("/admin/categorias/{tragos}/archivar"), &[])
        .await;
    assert_eq!(in_use.status(), 409);
    // Archived, then restored.
    let archived = app
        .post_form(&format!("/admin/productos/{piscola}/archivar"), &[])
        .await;
    assert_eq!(archived.status(), 303);
    let list = app.get("/admin/productos/").await.text().await.unwrap();
    assert!(list.contains("productos-archivados"));
    assert_eq!(
        app.post_form(&format!("/admin/productos/{piscola}/restaurar"), &[])
            .await
            .status(),
        303
    );
    let audited = app.count(
        "SELECT count(*) AS n FROM audit_log WHERE entity = 'producto' \
         AND action IN ('producto.creado', 'producto.editado', 'producto.archivado', 'producto.restaurado')",
    );
    assert_eq!(audited, 4, "every change audited");

    // Only admins.
    let cashier = app.visitor("cajero1", Role::Cajero).await;
    assert_eq!(cashier.get(&app, "/admin/productos/").await.status(), 403);
    assert_eq!(
        cashier
            .post(&app, "/admin/categorias", &[("name", "Otra")])
            .await
            .status(),
        403
    );
}

/// Sales and their lines: (sales, lines) counted.
fn rows(app: &TestApp) -> (i64, i64) {
    (
        app.count("SELECT count(*) AS n FROM sales"),
        app.count("SELECT count(*) AS n FROM sale_lines"),
    )
}

pub(crate) fn ticket(total: i64, lines: Value) -> Value {
    json!({
        "key": key(),
        "total": total,
        "payments": [{"method": "EFECTIVO", "amount": total}],
        "lines": lines,
    })
}

pub(crate) async fn ready(app: &TestApp) -> (i32, Visitor) {
    let (caja, cashier) = venue(app).await;
    assert_eq!(open_session(app, &cashier, caja, "0").await.status(), 303);
    (caja, cashier)
}

#[actix_web::test]
async fn a_ticket_is_one_sale_whose_lines_are_priced_by_the_catalog() {
    let app = TestApp::spawn_as_admin().await;
    let (caja, cashier) = ready(&app).await;
    let tragos = category(&app, "Tragos").await;
    let piscola = product(&app, tragos, "Piscola", "4500", None).await;
    let cerveza = product(&app, tragos, "Cerveza", "3000", None).await;
    let mut fields = crate::cajas::paso_6_1_fields();
    fields.retain(|(name, _)| *name != "code");
    fields.push(("code", "ENTRADA-1"));
    assert_eq!(
        app.post_form("/admin/cajas/crear", &fields).await.status(),
        303
    );
    let entrada =
        app.count("SELECT id::bigint AS n FROM pos_registers WHERE code = 'ENTRADA-1'") as i32;
    let elsewhere = product(&app, tragos, "Espumante", "9000", Some(entrada)).await;

    let (status, ack) = sell(
        &app,
        &cashier,
        caja,
        &ticket(
            15_000,
            json!([
                {"product_id": piscola, "quantity": 2, "unit_price": 4500},
                {"product_id": cerveza},
                {"amount": 3000},
            ]),
        ),
    )
    .await;
    assert_eq!(status, 201, "{ack}");
    let sale = ack["sale_id"].as_i64().unwrap();
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM sale_lines WHERE sale_id = {sale}"
        )),
        3
    );
    // Independent of the hub: the lines as stored add up to the sale.
    assert_eq!(
        app.count(&format!(
            "SELECT (s.total - sum(l.line_total))::bigint AS n FROM sales s \
             JOIN sale_lines l ON l.sale_id = s.id WHERE s.id = {sale} GROUP BY s.total"
        )),
        0
    );
    assert_eq!(
        app.count(&format!(
            "SELECT unit_price AS n FROM sale_lines WHERE sale_id = {sale} AND name = 'Piscola' AND quantity = 2"
        )),
        4_500
    );

    // A sale keeps the price it was sold at.
    let tragos_id = tragos.to_string();
    let mut fields = product_fields(&tragos_id, "Piscola", "5000");
    fields.push(("version", "1"));
    assert_eq!(
        app.post_form(&format!("/admin/productos/{piscola}/editar"), &fields)
            .await
            .status(),
        303
    );
    assert_eq!(
        app.count(&format!(
            "SELECT unit_price AS n FROM sale_lines WHERE sale_id = {sale} AND product_id = {piscola}"
        )),
        4_500
    );

    let before = rows(&app);
    let refusals = [
        (
            ticket(4_500, json!([{"product_id": piscola, "unit_price": 4500}])),
            "lines[0].product_id",
            "cambió",
        ),
        (
            ticket(
                4_000,
                json!([{"product_id": cerveza}, {"product_id": cerveza}]),
            ),
            "lines",
            "suman",
        ),
        (
            ticket(3_000, json!([{"product_id": cerveza, "quantity": 0}])),
            "lines[0].quantity",
            "",
        ),
        (
            ticket(3_000, json!([{"product_id": cerveza, "quantity": -1}])),
            "lines[0].quantity",
            "",
        ),
        (
            ticket(
                3_000_000,
                json!([{"product_id": cerveza, "quantity": 1000}]),
            ),
            "lines[0].quantity",
            "",
        ),
        (
            ticket(9_000, json!([{"product_id": elsewhere}])),
            "lines[0].product_id",
            "",
        ),
        (
            ticket(9_000, json!([{"product_id": 999_999}])),
            "lines[0].product_id",
            "no existe",
        ),
        (
            ticket(9_000, json!([{"product_id": cerveza, "amount": 6000}])),
            "lines[0].amount",
            "",
        ),
        (ticket(9_000, json!([])), "lines", ""),
        (
            ticket(9_000, json!([{"product_id": "uno"}])),
            "lines[0].product_id",
            "",
        ),
    ];
    for (body, field, says) in refusals {
        let (status, answer) = sell(&app, &cashier, caja, &body).await;
        assert_eq!(status, 422, "{body} → {answer}");
        assert_eq!(answer["field"], field, "{body} → {answer}");
        assert!(
            answer["message"].as_str().unwrap_or("").contains(says),
            "{answer}"
        );
    }
    // An archived product: named.
    assert_eq!(
        app.post_form(&format!("/admin/productos/{cerveza}/archivar"), &[])
            .await
            .status(),
        303
    );
    let (status, answer) = sell(
        &app,
        &cashier,
        caja,
        &ticket(3_000, json!([{"product_id": cerveza}])),
    )
    .await;
    assert_eq!(status, 422);
    assert!(
        answer["message"].as_str().unwrap().contains("Cerveza"),
        "{answer}"
    );
    assert_eq!(rows(&app), before, "nothing written by a refused ticket");

    // A retry of the ticket is the same sale; the same key with other
    // lines is another sale, refused.
    let body = ticket(5_000, json!([{"product_id": piscola}]));
    let (first, _) = sell(&app, &cashier, caja, &body).await;
    let (again, answer) = sell(&app, &cashier, caja, &body).await;
    assert_eq!((first, again), (201, 200), "{answer}");
    let mut other = body.clone();
    other["lines"] = json!([{"amount": 5000}]);
    let (reused, answer) = sell(&app, &cashier, caja, &other).await;
    assert_eq!(reused, 422);
    assert_eq!(answer["code"], "idempotency_key_reused", "{answer}");
}

#[actix_web::test]
async fn the_database_refuses_lines_that_do_not_add_up_whoever_writes() {
    let app = TestApp::spawn_as_admin().await;
    let (caja, cashier) = ready(&app).await;
    let (status, ack) = sell(&app, &cashier, caja, &crate::registers::cash_sale(2_000)).await;
    assert_eq!(status, 201);
    let sale = ack["sale_id"].as_i64().unwrap();
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM sale_lines WHERE sale_id = {sale} AND product_id IS NULL \
             AND name = 'Monto libre' AND unit_price = 2000 AND quantity = 1"
        )),
        1,
        "an amount is one free-amount line"
    );
    let refused = |sql: &str| {
        use diesel::connection::SimpleConnection;
        let err = app.conn().batch_execute(sql).unwrap_err().to_string();
        assert!(err.contains("sale"), "{sql}: {err}");
    };
    refused(&format!(
        "INSERT INTO sale_lines (sale_id, line_no, name, unit_price, quantity) VALUES ({sale}, 2, 'x', 1, 1)"
    ));
    refused(&format!(
        "UPDATE sale_lines SET quantity = 2 WHERE sale_id = {sale}"
    ));
    refused(&format!("DELETE FROM sale_lines WHERE sale_id = {sale}"));
    refused(&format!("UPDATE sales SET total = 3000 WHERE id = {sale}"));
    refused(&format!(
        "UPDATE sales SET line_quantities = '{{2}}', line_prices = '{{1000}}' WHERE id = {sale}"
    ));
    // A sale whose lines do not add up to its total, written by hand.
    let by_hand = |prices: &str| {
        format!(
            "INSERT INTO sales (register_id, session_id, idempotency_key, request_hash, total, total_charged, \
             seq, created_by, line_products, line_names, line_prices, line_quantities) \
             SELECT register_id, session_id, gen_random_uuid(), 'h', 3000, 3000, seq + 1, created_by, \
             '{{NULL,NULL}}', '{{a,b}}', '{prices}', '{{1,1}}' FROM sales WHERE id = {sale}"
        )
    };
    let err = {
        use diesel::connection::SimpleConnection;
        app.conn()
            .batch_execute(&by_hand("{1000,1000}"))
            .unwrap_err()
            .to_string()
    };
    assert!(err.contains("sale_lines_add_up"), "{err}");
    refused(&by_hand("{1000,0}"));
    refused(&format!(
        "INSERT INTO sales (register_id, session_id, idempotency_key, request_hash, total, total_charged, seq, created_by) \
         SELECT register_id, session_id, gen_random_uuid(), 'h', 1000, 1000, seq, created_by FROM sales WHERE id = {sale}"
    ));
    assert_eq!(rows(&app), (1, 1));
}

#[actix_web::test]
async fn a_sale_taken_offline_off_the_catalog_is_kept_for_a_supervisor() {
    let app = TestApp::spawn_as_admin().await;
    let (caja, cashier) = ready(&app).await;
    let tragos = category(&app, "Tragos").await;
    let piscola = product(&app, tragos, "Piscola", "4500", None).await;
    // Sold offline at the old price, handed over after a price change.
    let tragos_id = tragos.to_string();
    let mut fields = product_fields(&tragos_id, "Piscola", "5000");
    fields.push(("version", "1"));
    assert_eq!(
        app.post_form(&format!("/admin/productos/{piscola}/editar"), &fields)
            .await
            .status(),
        303
    );
    let session = app.count("SELECT id::bigint AS n FROM register_sessions WHERE status = 'OPEN'");
    let offline = |total: i64, lines: Value| {
        let mut sale = ticket(total, lines);
        sale["session_id"] = json!(session);
        sale
    };
    let sale = offline(
        9_000,
        json!([{"product_id": piscola, "quantity": 2, "unit_price": 4500}]),
    );
    let body = json!({"sale": sale, "made_at": "2026-12-05T03:10:00Z"});
    let (status, answer) = post_json(
        &app,
        &cashier,
        &format!("/api/cajas/{caja}/offline-sales"),
        &body,
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["outcome"], "flagged", "{answer}");
    let reason = app.count(
        "SELECT count(*) AS n FROM flagged_sales WHERE reason LIKE '%Piscola%' \
         AND sale->'lines'->0->>'unit_price' = '4500'",
    );
    assert_eq!(reason, 1, "kept with its lines, the product named");
    // At the catalog's price it is recorded as made.
    let sale = offline(5_000, json!([{"product_id": piscola, "unit_price": 5000}]));
    let body = json!({"sale": sale, "made_at": "2026-12-05T03:12:00Z"});
    let (status, answer) = post_json(
        &app,
        &cashier,
        &format!("/api/cajas/{caja}/offline-sales"),
        &body,
    )
    .await;
    assert_eq!(
        (status, answer["outcome"].as_str()),
        (201, Some("recorded")),
        "{answer}"
    );
    // Without the price it was sold at, the POS is told which field.
    let sale = offline(5_000, json!([{"product_id": piscola}]));
    let body = json!({"sale": sale, "made_at": "2026-12-05T03:13:00Z"});
    let (status, answer) = post_json(
        &app,
        &cashier,
        &format!("/api/cajas/{caja}/offline-sales"),
        &body,
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(answer["field"], "sale.lines[0].unit_price");
}

/// The next message of `kind` on `socket`, skipping others.
async fn next_of(socket: &mut Socket, kind: &str) -> Value {
    loop {
        let message = next_json(socket).await.expect("the socket stays open");
        if message["type"] == kind {
            return message;
        }
    }
}

fn key_of(catalog: &Value, product: i32) -> &Value {
    catalog["products"]
        .as_array()
        .and_then(|keys| keys.iter().find(|k| k["id"] == product))
        .unwrap_or_else(|| panic!("product {product} in {catalog}"))
}

/// A supervisor marks a product "agotado" on a tablet: both POS screens
/// hear it within a second and grey its key, the floor is not sent keys,
/// and a sale of it from a POS that had not heard yet is refused by name.
#[actix_web::test]
async fn agotado_reaches_every_pos_at_once_and_a_sale_of_it_is_refused() {
    let app = TestApp::spawn_as_admin().await;
    app.allow_many_sessions_per_person();
    let (barra, _) = ready(&app).await;
    let (terraza, _) = crate::payments::caja_with_session(&app, "TERRAZA-1", "cajero2", &[]).await;
    let tragos = category(&app, "Tragos").await;
    let piscola = product(&app, tragos, "Piscola", "4500", None).await;
    let only_terraza = product(&app, tragos, "Michelada", "5000", Some(terraza)).await;

    let one = app.session_cookie("cajero1", Role::Cajero).await;
    let two = app.session_cookie("cajero2", Role::Cajero).await;
    let (mut pos_barra, greeting) = open_screen(&app, &format!("/ws/caja/{barra}"), &one).await;
    let (mut pos_terraza, _) = open_screen(&app, &format!("/ws/caja/{terraza}"), &two).await;
    let supervisor = app.session_cookie("supervisora", Role::Supervisor).await;
    let (mut floor, floor_greeting) = open_screen(&app, "/ws/piso", &supervisor).await;
    // Each POS is greeted with its own caja's keys; the floor with none.
    assert_eq!(greeting["type"], "snapshot");
    let keys = greeting["catalog"]["products"].as_array().unwrap();
    assert_eq!(keys.len(), 1, "Barra sells Piscola only: {greeting}");
    assert_eq!(key_of(&greeting["catalog"], piscola)["sold_out"], false);
    assert!(floor_greeting.get("catalog").is_none());

    let tablet = app.visitor("supervisora", Role::Supervisor).await;
    let page = tablet
        .get(&app, "/admin/agotados")
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains(&format!("producto-{piscola}")));
    let marked = std::time::Instant::now();
    let response = tablet
        .post(
            &app,
            &format!("/admin/agotados/{piscola}"),
            &[("estado", "agotado")],
        )
        .await;
    assert_eq!(response.status(), 303);
    let heard_barra = next_of(&mut pos_barra, "catalog").await;
    let heard_terraza = next_of(&mut pos_terraza, "catalog").await;
    let within = marked.elapsed();
    assert!(
        within < std::time::Duration::from_secs(1),
        "heard in {within:?}"
    );
    assert_eq!(key_of(&heard_barra["catalog"], piscola)["sold_out"], true);
    assert_eq!(key_of(&heard_terraza["catalog"], piscola)["sold_out"], true);
    assert_eq!(
        key_of(&heard_terraza["catalog"], only_terraza)["sold_out"],
        false
    );
    println!("agotado heard by two POS screens {within:?} after the supervisor's click");

    // A POS that had not heard sends it anyway: refused, by name.
    let sale = json!({"type": "sale", "id": 1, "sale": ticket(4_500, json!([{"product_id": piscola, "unit_price": 4500}]))});
    pos_barra
        .send(awc::ws::Message::Text(sale.to_string().into()))
        .await
        .unwrap();
    let refused = next_of(&mut pos_barra, "error").await;
    assert_eq!(refused["field"], "lines[0].product_id", "{refused}");
    assert!(
        refused["message"].as_str().unwrap().contains("Piscola"),
        "{refused}"
    );
    assert!(
        refused["message"].as_str().unwrap().contains("agotado"),
        "{refused}"
    );
    assert_eq!(app.count("SELECT count(*) AS n FROM sales"), 0);

    // Back in stock: heard again, and sold.
    let response = tablet
        .post(
            &app,
            &format!("/admin/agotados/{piscola}"),
            &[("estado", "disponible")],
        )
        .await;
    assert_eq!(response.status(), 303);
    let heard = next_of(&mut pos_barra, "catalog").await;
    assert_eq!(key_of(&heard["catalog"], piscola)["sold_out"], false);
    let sale = json!({"type": "sale", "id": 2, "sale": ticket(4_500, json!([{"product_id": piscola, "unit_price": 4500}]))});
    pos_barra
        .send(awc::ws::Message::Text(sale.to_string().into()))
        .await
        .unwrap();
    let ack = next_of(&mut pos_barra, "ack").await;
    assert!(ack["sale_id"].as_i64().is_some(), "{ack}");
    // The floor heard the sale, and no keys.
    let event = next_json(&mut floor).await.unwrap();
    assert_eq!(event["type"], "event", "{event}");
    assert_eq!(
        app.count("SELECT count(*) AS n FROM audit_log WHERE action IN ('producto.agotado', 'producto.disponible')"),
        2
    );
    // A cashier may not mark stock.
    let cashier = app.visitor("cajero3", Role::Cajero).await;
    assert_eq!(
        cashier
            .post(
                &app,
                &format!("/admin/agotados/{piscola}"),
                &[("estado", "agotado")]
            )
            .await
            .status(),
        403
    );
}

/// The menu from a spreadsheet: every bad row named and nothing written,
/// then the whole file in one go; what is exported imports back unchanged.
#[actix_web::test]
async fn a_menu_is_imported_from_a_spreadsheet_whole_or_not_at_all() {
    let app = TestApp::spawn_as_admin().await;
    let mut fields = crate::cajas::paso_6_1_fields();
    fields.retain(|(name, _)| *name != "code");
    fields.push(("code", "BARRA-1"));
    assert_eq!(
        app.post_form("/admin/cajas/crear", &fields).await.status(),
        303
    );
    let tragos = category(&app, "Tragos").await;
    let piscola = product(&app, tragos, "Piscola", "4500", None).await;
    let counts = |app: &TestApp| {
        (
            app.count("SELECT count(*) AS n FROM products"),
            app.count("SELECT count(*) AS n FROM product_categories"),
            app.count("SELECT count(*) AS n FROM product_prices"),
        )
    };
    let before = counts(&app);
    let header = "categoria;nombre;nombre_tecla;precio;color;orden;cajas\r\n";
    let bad = format!(
        "\u{FEFF}{header}Tragos;Piscola;;5000;;;todas\r\n\
         Cervezas;Cerveza;;1,5;;;todas\r\n\
         Cervezas;Schop;;3000;;;todas\r\n\
         Tragos;Mojito;;5500;;;todas;extra\r\n"
    );
    let response = app
        .post_form("/admin/productos/importar", &[("csv", bad.as_str())])
        .await;
    assert_eq!(response.status(), 422);
    let page = without_tags(&response.text().await.unwrap());
    assert!(page.contains("No se importó nada"), "{page}");
    assert!(page.contains("fila 3: precio"), "{page}");
    assert!(page.contains("fila 5: trae 8 columnas"), "{page}");
    assert_eq!(counts(&app), before, "nothing half-imported");
    let unknown_caja = format!("{header}Cervezas;Schop;;3000;;;BARRA-1,PATIO-9\r\n");
    let response = app
        .post_form(
            "/admin/productos/importar",
            &[("csv", unknown_caja.as_str())],
        )
        .await;
    assert_eq!(response.status(), 422);
    assert!(
        without_tags(&response.text().await.unwrap())
            .contains("fila 2: cajas: no hay caja con el código PATIO-9")
    );
    assert_eq!(counts(&app), before);

    let good = format!(
        "\u{FEFF}{header}Tragos;Piscola;;5000;#1e88e5;1;todas\r\n\
         Cervezas;Schop;Schop 500;3000;;;barra-1\r\n\
         Cervezas;\"Cerveza; sin alcohol\";;2500;;;todas\r\n"
    );
    let response = app
        .post_form("/admin/productos/importar", &[("csv", good.as_str())])
        .await;
    assert_eq!(response.status(), 303);
    let list = app
        .get(crate::helpers::location(&response))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        without_tags(&list).contains("2 nuevos, 1 cambiados, 0 sin cambios; 1 categoría nueva"),
        "{}",
        without_tags(&list)
    );
    assert_eq!(
        app.count(&format!(
            "SELECT price AS n FROM products WHERE id = {piscola}"
        )),
        5_000
    );
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM product_prices WHERE product_id = {piscola}"
        )),
        2,
        "the price before the import is kept"
    );
    assert_eq!(
        app.count(
            "SELECT count(*) AS n FROM products p JOIN product_cajas c ON c.product_id = p.id \
             JOIN pos_registers r ON r.id = c.register_id WHERE p.name = 'Schop' AND r.code = 'BARRA-1' AND NOT p.every_caja"
        ),
        1
    );

    // What is exported imports back as it is.
    let export = app.get("/admin/productos/exportar").await;
    assert_eq!(export.status(), 200);
    assert!(
        export.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("productos.csv")
    );
    let csv = export.text().await.unwrap();
    assert!(csv.starts_with('\u{FEFF}'));
    assert!(csv.contains("\"Cerveza; sin alcohol\""), "{csv}");
    assert!(
        csv.contains("Cervezas;Schop;Schop 500;3000;#37474f;0;BARRA-1"),
        "{csv}"
    );
    let response = app
        .post_form("/admin/productos/importar", &[("csv", csv.as_str())])
        .await;
    assert_eq!(response.status(), 303);
    assert!(crate::helpers::location(&response).contains("nuevos=0&cambiados=0&iguales=3"));
}

/// A page's text with a space where each tag was, spaces collapsed: the
/// cells of a row read "Piscola Tragos 3 $13.500".
pub(crate) fn spaced(html: &str) -> String {
    let mut text = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                text.push(' ');
            }
            _ if !in_tag => text.push(c),
            _ => {}
        }
    }
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The page or file at `path`, as `who` reads it.
pub(crate) async fn read(app: &TestApp, who: &Visitor, path: &str) -> String {
    who.get(app, path).await.text().await.unwrap()
}

/// What was sold, by product: on the session's page and closing CSV, the
/// jornada's page and its CSV by hour and caja, each figure checked
/// against SQL of its own over the lines; and a sale's ticket reprinted.
#[actix_web::test]
async fn reports_say_what_was_sold_and_a_ticket_is_reprinted() {
    let app = TestApp::spawn_as_admin().await;
    let (caja, cashier) = ready(&app).await;
    let tragos = category(&app, "Tragos").await;
    let cervezas = category(&app, "Cervezas").await;
    let piscola = product(&app, tragos, "Piscola", "4500", None).await;
    let cerveza = product(&app, cervezas, "Cerveza", "3000", None).await;
    let sales = [
        (
            json!([{"product_id": piscola, "quantity": 2}, {"product_id": cerveza}]),
            12_000,
        ),
        (json!([{"product_id": cerveza, "quantity": 3}]), 9_000),
        (json!([{"product_id": piscola}, {"amount": 1005}]), 5_505),
    ];
    let mut ids = Vec::new();
    for (lines, total) in sales {
        let mut body = ticket(total, lines);
        body["payments"] = json!([{"method": "EFECTIVO", "amount": total, "tendered": 20000}]);
        let (status, ack) = sell(&app, &cashier, caja, &body).await;
        assert_eq!(status, 201, "{ack}");
        ids.push(ack["sale_id"].as_i64().unwrap());
    }
    // A voided sale sells nothing.
    let (status, ack) = sell(
        &app,
        &cashier,
        caja,
        &ticket(4_500, json!([{"product_id": piscola}])),
    )
    .await;
    assert_eq!(status, 201);
    let voided = ack["sale_id"].as_i64().unwrap();
    let supervisor = app.visitor("supervisora", Role::Supervisor).await;
    let session = app.count("SELECT id::bigint AS n FROM register_sessions WHERE status = 'OPEN'");
    let response = supervisor
        .post(
            &app,
            &format!("/caja/session/{session}/ventas/{voided}/anular"),
            &[("reason", "error")],
        )
        .await;
    assert_eq!(response.status(), 303);

    // Independent: the lines of the sales that stand.
    let sold = |product: i32| {
        app.count(&format!(
            "SELECT COALESCE(sum(l.quantity), 0)::bigint AS n FROM sale_lines l JOIN sales s ON s.id = l.sale_id \
             WHERE s.voided_at IS NULL AND l.product_id = {product}"
        ))
    };
    assert_eq!((sold(piscola), sold(cerveza)), (3, 4));

    let page = read(&app, &supervisor, &format!("/caja/session/{session}")).await;
    let text = spaced(&page);
    assert!(text.contains("Productos vendidos"), "{text}");
    assert!(text.contains("Piscola Tragos 3 $13.500"), "{text}");
    assert!(text.contains("Cerveza Cervezas 4 $12.000"), "{text}");
    assert!(text.contains("Monto libre Sin producto 1 $1.005"), "{text}");
    let csv = read(
        &app,
        &supervisor,
        &format!("/caja/session/{session}/cierre.csv"),
    )
    .await;
    assert!(csv.contains("productos;Piscola;Tragos;3;13500"), "{csv}");
    assert!(csv.contains("productos;Cerveza;Cervezas;4;12000"), "{csv}");

    let jornada = app.count("SELECT id::bigint AS n FROM jornadas");
    let page = read(&app, &supervisor, &format!("/admin/jornadas/{jornada}")).await;
    let text = spaced(&page);
    assert!(text.contains("Productos más vendidos"), "{text}");
    assert!(text.contains("Piscola Tragos 3 $13.500"), "{text}");
    assert!(text.contains("Tragos 3 $13.500"), "{text}");
    assert!(text.contains("Cervezas 4 $12.000"), "{text}");
    let csv = read(
        &app,
        &supervisor,
        &format!("/admin/jornadas/{jornada}/productos.csv"),
    )
    .await;
    let expected_total = app.count(
        "SELECT sum(l.line_total)::bigint AS n FROM sale_lines l JOIN sales s ON s.id = l.sale_id WHERE s.voided_at IS NULL",
    );
    assert_eq!(expected_total, 13_500 + 12_000 + 1_005);
    assert!(csv.contains("TEST-01") || csv.contains(";"), "{csv}");
    assert!(
        csv.trim_end()
            .ends_with(&format!("TOTAL;;;;8;{expected_total}")),
        "{csv}"
    );

    // The ticket of the first sale, reprinted.
    let receipt = supervisor
        .get(
            &app,
            &format!("/caja/session/{session}/ventas/{}/ticket", ids[0]),
        )
        .await;
    assert_eq!(receipt.status(), 200);
    let text = spaced(&receipt.text().await.unwrap());
    assert!(text.contains("2 Piscola $4.500 c/u $9.000"), "{text}");
    assert!(text.contains("1 Cerveza $3.000"), "{text}");
    assert!(text.contains("Total $12.000"), "{text}");
    assert!(text.contains("Recibido $20.000"), "{text}");
    assert!(text.contains("Vuelto $8.000"), "{text}");
    // Cash rounding shows: $5.505 is charged $5.500 in cash.
    let text = spaced(
        &supervisor
            .get(
                &app,
                &format!("/caja/session/{session}/ventas/{}/ticket", ids[2]),
            )
            .await
            .text()
            .await
            .unwrap(),
    );
    assert!(
        text.contains("Redondeo del efectivo -$5 Total cobrado $5.500"),
        "{text}"
    );
    let text = spaced(
        &supervisor
            .get(
                &app,
                &format!("/caja/session/{session}/ventas/{voided}/ticket"),
            )
            .await
            .text()
            .await
            .unwrap(),
    );
    assert!(text.contains("VENTA ANULADA"), "{text}");
    // The cashier's own session: theirs to reprint; another cashier's: not found.
    assert_eq!(
        cashier
            .get(
                &app,
                &format!("/caja/session/{session}/ventas/{}/ticket", ids[0])
            )
            .await
            .status(),
        200
    );
    let other = app.visitor("cajero9", Role::Cajero).await;
    assert_eq!(
        other
            .get(
                &app,
                &format!("/caja/session/{session}/ventas/{}/ticket", ids[0])
            )
            .await
            .status(),
        404
    );
    assert_eq!(
        supervisor
            .get(
                &app,
                &format!("/caja/session/{session}/ventas/999999/ticket")
            )
            .await
            .status(),
        404
    );
}
