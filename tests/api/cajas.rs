//! The admin pages for cajas: the runbook's PASO 5.1 and 6.1, every
//! validation error, duplicate codes under concurrency, stale edits, archiving.

use diesel::prelude::*;
use diesel::sql_types::{Integer, Text};

use crate::helpers::{TestApp, location, without_tags};

/// PASO 6.1: "TEST GETNET+KLAP", TEST-01, HUMANA, GETNET, KLAP, fallback on, 60 s, 2 phones.
pub fn paso_6_1_fields() -> Vec<(&'static str, &'static str)> {
    vec![
        ("name", "TEST GETNET+KLAP"),
        ("code", "TEST-01"),
        ("register_type", "HUMANA"),
        ("operational_status", "ACTIVE"),
        ("payment_provider_primary", "GETNET"),
        ("payment_provider_backup", "KLAP"),
        ("fallback_enabled", "on"),
        ("fallback_max_seconds", "60"),
        ("fallback_backup_phones", "2"),
    ]
}

/// Cajas "Caja 1" … "Caja n" (codes C-01 …), saved by the admin's form.
pub async fn create_cajas(app: &TestApp, n: usize) {
    for n in 1..=n {
        let (name, code) = (format!("Caja {n}"), format!("C-{n:02}"));
        let mut fields = paso_6_1_fields();
        fields.retain(|(k, _)| *k != "name" && *k != "code");
        fields.extend([("name", name.as_str()), ("code", code.as_str())]);
        assert_eq!(
            app.post_form("/admin/cajas/crear", &fields).await.status(),
            303
        );
    }
}

fn with(
    fields: &[(&'static str, &'static str)],
    changes: &[(&'static str, &'static str)],
) -> Vec<(&'static str, &'static str)> {
    let mut out: Vec<_> = fields
        .iter()
        .filter(|(k, _)| !changes.iter().any(|(c, _)| c == k))
        .copied()
        .collect();
    out.extend(changes.iter().filter(|(_, v)| *v != "<absent>").copied());
    out
}

/// The message shown beside `field`, if any.
fn field_error(html: &str, field: &str) -> Option<String> {
    let marker = format!("id=\"{field}-error\">");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find("</p>")? + start;
    Some(html[start..end].to_string())
}

fn count_cajas(app: &TestApp) -> i64 {
    app.count("SELECT count(*) AS n FROM pos_registers")
}

#[derive(QueryableByName, Debug)]
struct Row {
    #[diesel(sql_type = Integer)]
    id: i32,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    payment_provider_primary: String,
    #[diesel(sql_type = diesel::sql_types::Nullable<Text>)]
    payment_provider_backup: Option<String>,
    #[diesel(sql_type = Text)]
    fallback_policy: String,
    #[diesel(sql_type = Integer)]
    version: i32,
}

fn row(app: &TestApp, code: &str) -> Row {
    diesel::sql_query(
        "SELECT id, name, payment_provider_primary, payment_provider_backup,
                fallback_policy::text AS fallback_policy, version
         FROM pos_registers WHERE code = $1",
    )
    .bind::<Text, _>(code)
    .get_result(&mut app.conn())
    .unwrap()
}

async fn create(app: &TestApp, fields: &[(&str, &str)]) -> reqwest::Response {
    app.post_form("/admin/cajas/crear", fields).await
}

/// Creates PASO 6.1's caja and returns its id.
async fn create_paso_6_1(app: &TestApp) -> i32 {
    let response = create(app, &paso_6_1_fields()).await;
    assert_eq!(response.status(), 303);
    row(app, "TEST-01").id
}

#[actix_web::test]
async fn paso_6_1_saves_and_shows_in_the_list_and_the_edit_form() {
    let app = TestApp::spawn_as_admin().await;
    let form = app.get("/admin/cajas/crear").await;
    assert_eq!(form.status(), 200);
    assert!(without_tags(&form.text().await.unwrap()).contains("💳 Pagos (Low Friction)"));

    let response = create(&app, &paso_6_1_fields()).await;
    assert_eq!(response.status(), 303);
    let saved = row(&app, "TEST-01");
    assert_eq!(
        location(&response),
        format!("/admin/cajas/?aviso=creada&caja={}", saved.id)
    );
    assert_eq!(saved.name, "TEST GETNET+KLAP");
    assert_eq!(saved.payment_provider_primary, "GETNET");
    assert_eq!(saved.payment_provider_backup.as_deref(), Some("KLAP"));
    assert_eq!(
        saved.fallback_policy,
        r#"{"enabled": true, "max_seconds": 60, "backup_phones": 2}"#
    );

    let list = app.get(location(&response)).await.text().await.unwrap();
    assert!(list.contains("Caja «TEST GETNET+KLAP» creada."));
    let row_html = &list[list
        .find(&format!("data-caja-id=\"{}\"", saved.id))
        .unwrap()..];
    let row_html = &row_html[..row_html.find("</tr>").unwrap()];
    for cell in [
        "TEST GETNET+KLAP",
        "TEST-01",
        "HUMANA",
        "GETNET",
        "KLAP",
        "Activa",
        "Sí · 60 s · 2 celulares",
    ] {
        assert!(
            row_html.contains(cell),
            "{cell} missing from the list row: {row_html}"
        );
    }

    let edit = app.get(&format!("/admin/cajas/{}/editar", saved.id)).await;
    assert_eq!(edit.status(), 200);
    let edit = edit.text().await.unwrap();
    assert!(without_tags(&edit).contains("💳 Pagos (Low Friction)"));
    for kept in [
        r#"name="name" value="TEST GETNET+KLAP""#,
        r#"name="code" value="TEST-01""#,
        r#"name="fallback_max_seconds" value="60""#,
        r#"name="fallback_backup_phones" value="2""#,
        r#"name="fallback_enabled" checked"#,
        r#"name="version" value="1""#,
    ] {
        assert!(edit.contains(kept), "edit form lacks {kept}");
    }
    let primary = &edit[edit.find(r#"name="payment_provider_primary""#).unwrap()..];
    assert!(primary[..primary.find("</select>").unwrap()].contains(r#"value="GETNET" selected"#));
    let backup = &edit[edit.find(r#"name="payment_provider_backup""#).unwrap()..];
    assert!(backup[..backup.find("</select>").unwrap()].contains(r#"value="KLAP" selected"#));
}

/// PASO 5.1 gives a name, a type and the providers, and no code: one is made.
#[actix_web::test]
async fn paso_5_1_creates_a_caja_without_a_code() {
    let app = TestApp::spawn_as_admin().await;
    let fields = [
        ("name", "TEST MVP1"),
        ("register_type", "HUMANA"),
        ("payment_provider_primary", "GETNET"),
        ("payment_provider_backup", "KLAP"),
        ("operational_status", "ACTIVE"),
        ("fallback_max_seconds", "60"),
        ("fallback_backup_phones", "0"),
    ];
    assert_eq!(create(&app, &fields).await.status(), 303);
    assert_eq!(create(&app, &fields).await.status(), 303);
    assert_eq!(row(&app, "TEST-MVP1").name, "TEST MVP1");
    assert_eq!(row(&app, "TEST-MVP1-2").name, "TEST MVP1");
    let list = app.get("/admin/cajas/").await.text().await.unwrap();
    assert!(list.contains("TEST-MVP1-2"));
}

/// A field, the changes to PASO 6.1's form that make it invalid, and a part
/// of the message expected beside it.
type InvalidCase = (&'static str, Vec<(&'static str, String)>, &'static str);

#[actix_web::test]
async fn every_invalid_field_is_explained_beside_it_and_nothing_is_saved() {
    let app = TestApp::spawn_as_admin().await;
    let long_name = "N".repeat(101);
    let cases: Vec<InvalidCase> = vec![
        ("name", vec![("name", "   ".into())], "obligatorio"),
        (
            "name",
            vec![("name", long_name.clone())],
            "Máximo 100 caracteres",
        ),
        ("code", vec![("code", "TEST 01".into())], "sin espacios"),
        ("code", vec![("code", "CAJA/1".into())], "solo letras"),
        (
            "code",
            vec![("code", "A".repeat(21))],
            "Máximo 20 caracteres",
        ),
        (
            "register_type",
            vec![("register_type", "CAJERO".into())],
            "Valor no válido",
        ),
        (
            "register_type",
            vec![("register_type", "".into())],
            "obligatorio",
        ),
        (
            "payment_provider_primary",
            vec![("payment_provider_primary", "VISA".into())],
            "Valor no válido",
        ),
        (
            "payment_provider_backup",
            vec![("payment_provider_backup", "GETNET".into())],
            "distinto del principal",
        ),
        (
            "payment_provider_backup",
            vec![("payment_provider_backup", "MACH".into())],
            "Valor no válido",
        ),
        (
            "operational_status",
            vec![("operational_status", "CERRADA".into())],
            "Valor no válido",
        ),
        (
            "fallback_max_seconds",
            vec![("fallback_max_seconds", "4".into())],
            "entre 5 y 600",
        ),
        (
            "fallback_max_seconds",
            vec![("fallback_max_seconds", "601".into())],
            "entre 5 y 600",
        ),
        (
            "fallback_max_seconds",
            vec![("fallback_max_seconds", "sesenta".into())],
            "entre 5 y 600",
        ),
        (
            "fallback_max_seconds",
            vec![("fallback_max_seconds", "".into())],
            "obligatorio",
        ),
        (
            "fallback_backup_phones",
            vec![("fallback_backup_phones", "21".into())],
            "entre 0 y 20",
        ),
        (
            "fallback_backup_phones",
            vec![("fallback_backup_phones", "-1".into())],
            "entre 0 y 20",
        ),
        (
            "fallback_enabled",
            vec![("payment_provider_backup", "".into())],
            "elige un proveedor de respaldo",
        ),
        (
            "fallback_enabled",
            vec![("fallback_enabled", "quizás".into())],
            "Valor no válido",
        ),
    ];
    for (field, changes, message) in cases {
        let mut fields: Vec<(&str, String)> = paso_6_1_fields()
            .into_iter()
            .filter(|(k, _)| !changes.iter().any(|(c, _)| c == k))
            .map(|(k, v)| (k, v.to_string()))
            .collect();
        fields.extend(changes.iter().cloned());
        let response = app
            .client
            .post(app.url("/admin/cajas/crear"))
            .form(&app.with_csrf(&fields))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 422, "{field} with {changes:?}");
        let html = response.text().await.unwrap();
        let shown = field_error(&html, field)
            .unwrap_or_else(|| panic!("no error beside {field} for {changes:?}"));
        assert!(
            shown.contains(message),
            "{field}: {shown:?} lacks {message:?}"
        );
        // The admin's input comes back as typed (HTML-escaped).
        for (name, value) in &changes {
            if matches!(
                *name,
                "name" | "code" | "fallback_max_seconds" | "fallback_backup_phones"
            ) {
                assert!(
                    html.contains(&format!("name=\"{name}\" value=\"{value}\"")),
                    "{name}={value:?} not kept"
                );
            }
        }
        assert!(
            html.contains(r#"name="fallback_enabled" checked"#)
                || changes.iter().any(|(k, _)| *k == "fallback_enabled")
        );
    }
    assert_eq!(count_cajas(&app), 0, "nothing saved");
}

#[actix_web::test]
async fn missing_fields_are_reported_not_rejected_wholesale() {
    let app = TestApp::spawn_as_admin().await;
    let response = create(&app, &[("name", "Solo nombre")]).await;
    assert_eq!(response.status(), 422);
    let html = response.text().await.unwrap();
    for field in [
        "register_type",
        "payment_provider_primary",
        "operational_status",
        "fallback_max_seconds",
        "fallback_backup_phones",
    ] {
        assert!(field_error(&html, field).is_some(), "{field}");
    }
    assert!(html.contains(r#"value="Solo nombre""#));
    assert_eq!(count_cajas(&app), 0);
}

#[actix_web::test]
async fn an_unreadable_form_gets_a_400_page() {
    let app = TestApp::spawn_as_admin().await;
    let response = app
        .client
        .post(app.url("/admin/cajas/crear"))
        .header("content-type", "application/json")
        .body(r#"{"name":"x"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("El formulario no se pudo leer")
    );
    let huge = "x".repeat(64 * 1024);
    let response = create(&app, &[("name", huge.as_str())]).await;
    assert_eq!(response.status(), 400);
    assert_eq!(count_cajas(&app), 0);
}

#[actix_web::test]
async fn names_are_escaped_in_pages() {
    let app = TestApp::spawn_as_admin().await;
    let fields = with(&paso_6_1_fields(), &[("name", "<script>alert(1)</script>")]);
    assert_eq!(create(&app, &fields).await.status(), 303);
    let list = app.get("/admin/cajas/").await.text().await.unwrap();
    assert!(!list.contains("<script>alert(1)"));
    assert!(
        list.contains("&#60;script&#62;alert(1)&#60;/script&#62;")
            || list.contains("&lt;script&gt;")
    );
}

#[actix_web::test]
async fn a_duplicate_code_is_a_field_error() {
    let app = TestApp::spawn_as_admin().await;
    create_paso_6_1(&app).await;
    let again = create(
        &app,
        &with(&paso_6_1_fields(), &[("name", "Otra"), ("code", "test-01")]),
    )
    .await;
    assert_eq!(again.status(), 422);
    let html = again.text().await.unwrap();
    assert_eq!(
        field_error(&html, "code").as_deref(),
        Some("Ya existe una caja con el código TEST-01; elige otro.")
    );
    assert!(html.contains(r#"name="name" value="Otra""#));
    assert_eq!(count_cajas(&app), 1);
}

/// Sends every form at once, each on its own task, and returns the
/// statuses and bodies in order.
async fn post_all_at_once(
    app: &TestApp,
    path: &str,
    forms: Vec<Vec<(&str, &str)>>,
) -> Vec<(u16, String)> {
    let handles: Vec<_> = forms
        .into_iter()
        .map(|fields| {
            let body = app.with_csrf(&fields);
            let request = app.client.post(app.url(path)).form(&body);
            actix_web::rt::spawn(async move {
                let response = request.send().await.unwrap();
                (response.status().as_u16(), response.text().await.unwrap())
            })
        })
        .collect();
    let mut out = Vec::new();
    for handle in handles {
        out.push(handle.await.unwrap());
    }
    out
}

/// Two admins create the same code at the same moment: the database
/// decides, and the losers get the field error, never a 500.
#[actix_web::test]
async fn concurrent_creates_of_one_code_yield_one_caja() {
    let app = TestApp::spawn_as_admin().await;
    let forms = (0..12).map(|_| paso_6_1_fields()).collect();
    let responses = post_all_at_once(&app, "/admin/cajas/crear", forms).await;
    for (status, html) in &responses {
        match status {
            303 => {}
            422 => assert!(field_error(html, "code").unwrap().contains("Ya existe")),
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!(responses.iter().filter(|(s, _)| *s == 303).count(), 1);
    assert_eq!(count_cajas(&app), 1);
}

#[actix_web::test]
async fn an_edit_is_saved_and_bumps_the_version() {
    let app = TestApp::spawn_as_admin().await;
    let id = create_paso_6_1(&app).await;
    let fields = with(
        &paso_6_1_fields(),
        &[
            ("payment_provider_primary", "KLAP"),
            ("payment_provider_backup", "GETNET"),
            ("version", "1"),
        ],
    );
    let response = app
        .post_form(&format!("/admin/cajas/{id}/editar"), &fields)
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(
        location(&response),
        format!("/admin/cajas/?aviso=guardada&caja={id}")
    );
    let saved = row(&app, "TEST-01");
    assert_eq!(saved.payment_provider_primary, "KLAP");
    assert_eq!(saved.payment_provider_backup.as_deref(), Some("GETNET"));
    assert_eq!(saved.version, 2);
    let list = app.get(location(&response)).await.text().await.unwrap();
    assert!(list.contains("Cambios de «TEST GETNET+KLAP» guardados."));

    // Backup removed and fallback off: stored as no backup.
    let fields = with(
        &paso_6_1_fields(),
        &[
            ("payment_provider_backup", ""),
            ("fallback_enabled", "<absent>"),
            ("version", "2"),
        ],
    );
    assert_eq!(
        app.post_form(&format!("/admin/cajas/{id}/editar"), &fields)
            .await
            .status(),
        303
    );
    assert_eq!(row(&app, "TEST-01").payment_provider_backup, None);

    // Created without a backup: no backup either (not the column's default).
    let fields = with(
        &paso_6_1_fields(),
        &[
            ("code", "SOLO-01"),
            ("payment_provider_backup", ""),
            ("fallback_enabled", "<absent>"),
        ],
    );
    assert_eq!(
        app.post_form("/admin/cajas/crear", &fields).await.status(),
        303
    );
    assert_eq!(row(&app, "SOLO-01").payment_provider_backup, None);
}

#[actix_web::test]
async fn an_invalid_edit_keeps_the_input_and_changes_nothing() {
    let app = TestApp::spawn_as_admin().await;
    let id = create_paso_6_1(&app).await;
    let fields = with(
        &paso_6_1_fields(),
        &[
            ("fallback_max_seconds", "900"),
            ("name", "Nuevo nombre"),
            ("version", "1"),
        ],
    );
    let response = app
        .post_form(&format!("/admin/cajas/{id}/editar"), &fields)
        .await;
    assert_eq!(response.status(), 422);
    let html = response.text().await.unwrap();
    assert!(field_error(&html, "fallback_max_seconds").is_some());
    assert!(html.contains(r#"name="name" value="Nuevo nombre""#));
    assert_eq!(row(&app, "TEST-01").name, "TEST GETNET+KLAP");

    let no_version = with(&paso_6_1_fields(), &[("name", "Sin versión")]);
    let response = app
        .post_form(&format!("/admin/cajas/{id}/editar"), &no_version)
        .await;
    assert_eq!(response.status(), 422);
    assert!(field_error(&response.text().await.unwrap(), "version").is_some());
    assert_eq!(row(&app, "TEST-01").version, 1);
}

#[actix_web::test]
async fn an_edit_to_a_taken_code_is_a_field_error() {
    let app = TestApp::spawn_as_admin().await;
    create_paso_6_1(&app).await;
    assert_eq!(
        create(&app, &with(&paso_6_1_fields(), &[("code", "BARRA-2")]))
            .await
            .status(),
        303
    );
    let id = row(&app, "BARRA-2").id;
    let fields = with(&paso_6_1_fields(), &[("code", "TEST-01"), ("version", "1")]);
    let response = app
        .post_form(&format!("/admin/cajas/{id}/editar"), &fields)
        .await;
    assert_eq!(response.status(), 422);
    assert!(
        field_error(&response.text().await.unwrap(), "code")
            .unwrap()
            .contains("Ya existe")
    );
    assert_eq!(row(&app, "BARRA-2").version, 1);
}

/// Two admins edit the same caja: the later save must not silently
/// overwrite the earlier one.
#[actix_web::test]
async fn a_stale_edit_is_refused_with_the_current_values() {
    let app = TestApp::spawn_as_admin().await;
    let id = create_paso_6_1(&app).await;
    let path = format!("/admin/cajas/{id}/editar");
    let first = with(
        &paso_6_1_fields(),
        &[("name", "Cambio de Ana"), ("version", "1")],
    );
    let second = with(
        &paso_6_1_fields(),
        &[("name", "Cambio de Luis"), ("version", "1")],
    );
    assert_eq!(app.post_form(&path, &first).await.status(), 303);
    let refused = app.post_form(&path, &second).await;
    assert_eq!(refused.status(), 409);
    let html = refused.text().await.unwrap();
    assert!(html.contains("Otra persona guardó cambios en esta caja"));
    assert!(
        html.contains(r#"name="name" value="Cambio de Luis""#),
        "Luis's input is kept"
    );
    assert!(
        html.contains("<dd>Cambio de Ana</dd>"),
        "the current values are shown"
    );
    assert!(
        html.contains(r#"name="version" value="2""#),
        "saving again is based on the current version"
    );
    assert_eq!(row(&app, "TEST-01").name, "Cambio de Ana");

    // Luis decides to save over it, knowingly.
    let again = with(
        &paso_6_1_fields(),
        &[("name", "Cambio de Luis"), ("version", "2")],
    );
    assert_eq!(app.post_form(&path, &again).await.status(), 303);
    assert_eq!(row(&app, "TEST-01").name, "Cambio de Luis");
}

#[actix_web::test]
async fn concurrent_edits_from_one_version_save_exactly_once() {
    let app = TestApp::spawn_as_admin().await;
    let id = create_paso_6_1(&app).await;
    let path = format!("/admin/cajas/{id}/editar");
    let names: Vec<String> = (0..8).map(|i| format!("Admin {i}")).collect();
    let forms = names
        .iter()
        .map(|name| {
            with(&paso_6_1_fields(), &[("version", "1")])
                .into_iter()
                .filter(|(k, _)| *k != "name")
                .chain([("name", name.as_str())])
                .collect()
        })
        .collect();
    let statuses: Vec<u16> = post_all_at_once(&app, &path, forms)
        .await
        .into_iter()
        .map(|(s, _)| s)
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 303).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        7,
        "{statuses:?}"
    );
    assert_eq!(row(&app, "TEST-01").version, 2);
}

#[actix_web::test]
async fn unknown_cajas_are_404_pages() {
    let app = TestApp::spawn_as_admin().await;
    for path in [
        "/admin/cajas/999/editar",
        "/admin/cajas/abc/editar",
        "/admin/cajas/999/archivar",
        "/admin/cajas/99999999999/editar",
    ] {
        let response = app.get(path).await;
        assert_eq!(response.status(), 404, "{path}");
        assert!(response.text().await.unwrap().contains("No existe la caja"));
    }
    let fields = with(&paso_6_1_fields(), &[("version", "1")]);
    assert_eq!(
        app.post_form("/admin/cajas/999/editar", &fields)
            .await
            .status(),
        404
    );
    assert_eq!(
        app.post_form("/admin/cajas/999/archivar", &[("version", "1")])
            .await
            .status(),
        404
    );
    assert_eq!(
        app.post_form("/admin/cajas/999/restaurar", &[])
            .await
            .status(),
        404
    );
}

#[actix_web::test]
async fn archiving_keeps_the_caja_apart_and_restoring_brings_it_back() {
    let app = TestApp::spawn_as_admin().await;
    let id = create_paso_6_1(&app).await;
    let confirm = app.get(&format!("/admin/cajas/{id}/archivar")).await;
    assert_eq!(confirm.status(), 200);
    assert!(
        confirm
            .text()
            .await
            .unwrap()
            .contains(r#"name="version" value="1""#)
    );

    let archived = app
        .post_form(&format!("/admin/cajas/{id}/archivar"), &[("version", "1")])
        .await;
    assert_eq!(archived.status(), 303);
    let list = app.get(location(&archived)).await.text().await.unwrap();
    assert!(list.contains("Caja «TEST GETNET+KLAP» archivada."));
    let archived_section = &list[list
        .find("id=\"cajas-archivadas\"")
        .expect("archived section")..];
    assert!(archived_section.contains("TEST-01"));
    assert!(
        !list.contains("id=\"cajas-activas\""),
        "no working caja left"
    );

    // An archived caja is not edited.
    let edit = app.get(&format!("/admin/cajas/{id}/editar")).await;
    assert_eq!(edit.status(), 409);
    assert!(edit.text().await.unwrap().contains("está archivada"));
    let fields = with(&paso_6_1_fields(), &[("version", "2")]);
    assert_eq!(
        app.post_form(&format!("/admin/cajas/{id}/editar"), &fields)
            .await
            .status(),
        409
    );

    let restored = app
        .post_form(&format!("/admin/cajas/{id}/restaurar"), &[])
        .await;
    assert_eq!(restored.status(), 303);
    let list = app.get(location(&restored)).await.text().await.unwrap();
    assert!(list.contains("Caja «TEST GETNET+KLAP» restaurada."));
    assert!(list.contains("id=\"cajas-activas\"") && !list.contains("id=\"cajas-archivadas\""));
    assert_eq!(row(&app, "TEST-01").version, 3);
}

#[actix_web::test]
async fn a_caja_with_an_open_session_is_not_archived() {
    let app = TestApp::spawn_as_admin().await;
    let id = create_paso_6_1(&app).await;
    diesel::sql_query(
        "INSERT INTO register_sessions (register_id, initial_cash) VALUES ($1, 50000)",
    )
    .bind::<Integer, _>(id)
    .execute(&mut app.conn())
    .unwrap();
    let response = app
        .post_form(&format!("/admin/cajas/{id}/archivar"), &[("version", "1")])
        .await;
    assert_eq!(response.status(), 409);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("tiene una sesión abierta")
    );
    assert_eq!(row(&app, "TEST-01").version, 1);

    let stale = app
        .post_form(&format!("/admin/cajas/{id}/archivar"), &[("version", "7")])
        .await;
    assert_eq!(stale.status(), 409);
    assert!(
        stale
            .text()
            .await
            .unwrap()
            .contains("Otra persona cambió esta caja")
    );

    let missing = app
        .post_form(&format!("/admin/cajas/{id}/archivar"), &[])
        .await;
    assert_eq!(missing.status(), 400);
}

/// The database refuses what the form would refuse, should anything write
/// to it directly.
#[actix_web::test]
async fn the_database_enforces_the_rules_too() {
    let app = TestApp::spawn_as_admin().await;
    create_paso_6_1(&app).await;
    let mut conn = app.conn();
    let refused = [
        "INSERT INTO pos_registers (name, code) VALUES ('x', 'TEST-01')",
        "INSERT INTO pos_registers (name, code) VALUES ('x', 'bad code')",
        "INSERT INTO pos_registers (name, code) VALUES ('   ', 'OK-1')",
        "INSERT INTO pos_registers (name, code, register_type) VALUES ('x', 'OK-2', 'ROBOT')",
        "INSERT INTO pos_registers (name, code, payment_provider_primary) VALUES ('x', 'OK-3', 'VISA')",
        "INSERT INTO pos_registers (name, code, payment_provider_backup) VALUES ('x', 'OK-4', 'GETNET')",
        "INSERT INTO pos_registers (name, code, operational_status) VALUES ('x', 'OK-5', 'OPEN')",
        r#"INSERT INTO pos_registers (name, code, fallback_policy) VALUES ('x', 'OK-6', '{"enabled": true, "max_seconds": 700, "backup_phones": 1}')"#,
        r#"INSERT INTO pos_registers (name, code, fallback_policy) VALUES ('x', 'OK-7', '{"enabled": true}')"#,
        r#"INSERT INTO pos_registers (name, code, payment_provider_backup, fallback_policy) VALUES ('x', 'OK-8', NULL, '{"enabled": true, "max_seconds": 60, "backup_phones": 1}')"#,
        "INSERT INTO register_sessions (register_id, initial_cash) VALUES (1, -1)",
        "INSERT INTO register_sessions (register_id, status) VALUES (1, 'PAUSED')",
        "INSERT INTO register_sessions (register_id, ticket_count) VALUES (1, -3)",
    ];
    for sql in refused {
        assert!(
            diesel::sql_query(sql).execute(&mut conn).is_err(),
            "accepted: {sql}"
        );
    }
    assert_eq!(count_cajas(&app), 1);
}

/// A caja with a session open is not offered for archiving: the list says
/// why instead of a link, and its confirmation page says so before the
/// click, its button disabled.
#[actix_web::test]
async fn archiving_is_not_offered_while_a_session_is_open() {
    let app = TestApp::spawn_as_admin().await;
    let (caja, cashier) = crate::registers::venue(&app).await;
    assert_eq!(
        crate::registers::open_session(&app, &cashier, caja, "0")
            .await
            .status(),
        303
    );
    let list = app.get("/admin/cajas/").await.text().await.unwrap();
    assert!(list.contains("Archivar: cierra antes su sesión"), "{list}");
    assert!(
        !list.contains(&format!("/admin/cajas/{caja}/archivar")),
        "{list}"
    );
    let form = app
        .get(&format!("/admin/cajas/{caja}/archivar"))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        form.contains("id=\"archive-error\"")
            && form.contains("ciérrala antes de archivar")
            && form.contains("class=\"danger\" disabled"),
        "{form}"
    );
}
