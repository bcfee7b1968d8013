//! The audit trail: written with its change, never without it, never
//! rewritten, and listed with filters on /admin/auditoria.

use diesel::RunQueryDsl;
use diesel::sql_types::{Nullable, Text};

use crate::cajas::paso_6_1_fields;
use crate::helpers::TestApp;

#[derive(diesel::QueryableByName, Debug)]
struct Entry {
    #[diesel(sql_type = Text)]
    actor_name: String,
    #[diesel(sql_type = Text)]
    action: String,
    #[diesel(sql_type = Nullable<Text>)]
    entity_id: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    before: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    after: Option<String>,
}

fn entries(app: &TestApp, entity: &str) -> Vec<Entry> {
    diesel::sql_query(
        "SELECT actor_name, action, entity_id, before::text AS before, after::text AS after
         FROM audit_log WHERE entity = $1 ORDER BY id",
    )
    .bind::<Text, _>(entity)
    .load(&mut app.conn())
    .unwrap()
}

#[actix_web::test]
async fn every_caja_change_is_audited_with_before_and_after() {
    let app = TestApp::spawn_as_admin().await;
    assert_eq!(
        app.post_form("/admin/cajas/crear", &paso_6_1_fields())
            .await
            .status(),
        303
    );
    let id = app.count("SELECT max(id)::bigint AS n FROM pos_registers");
    let mut edit = paso_6_1_fields();
    edit.retain(|(k, _)| *k != "name");
    edit.extend([("name", "Barra Norte"), ("version", "1")]);
    assert_eq!(
        app.post_form(&format!("/admin/cajas/{id}/editar"), &edit)
            .await
            .status(),
        303
    );
    assert_eq!(
        app.post_form(&format!("/admin/cajas/{id}/archivar"), &[("version", "2")])
            .await
            .status(),
        303
    );
    assert_eq!(
        app.post_form(&format!("/admin/cajas/{id}/restaurar"), &[])
            .await
            .status(),
        303
    );

    let log = entries(&app, "caja");
    let actions: Vec<_> = log.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "caja.creada",
            "caja.editada",
            "caja.archivada",
            "caja.restaurada"
        ]
    );
    assert!(log.iter().all(|e| e.actor_name == "admin"));
    assert!(
        log.iter()
            .all(|e| e.entity_id.as_deref() == Some(id.to_string().as_str()))
    );
    assert!(log[0].before.is_none());
    assert!(
        log[0]
            .after
            .as_deref()
            .unwrap()
            .contains(r#""code": "TEST-01""#)
    );
    assert!(
        log[1]
            .before
            .as_deref()
            .unwrap()
            .contains(r#""name": "TEST GETNET+KLAP""#)
    );
    assert!(
        log[1]
            .after
            .as_deref()
            .unwrap()
            .contains(r#""name": "Barra Norte""#)
    );
    // The page says what changed, field by field, about the caja by name.
    let page = app
        .get("/admin/auditoria?que=caja.editada")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains(&format!("caja «Barra Norte» (#{id})")),
        "{page}"
    );
    assert!(
        page.contains("<strong>name</strong>: TEST GETNET+KLAP → Barra Norte"),
        "{page}"
    );
    assert!(
        !page.contains("<strong>code</strong>"),
        "only what changed: {page}"
    );
}

#[actix_web::test]
async fn a_refused_change_writes_no_audit_row() {
    let app = TestApp::spawn_as_admin().await;
    assert_eq!(
        app.post_form("/admin/cajas/crear", &paso_6_1_fields())
            .await
            .status(),
        303
    );
    // A duplicate code reaches the database and is refused there.
    let mut duplicate = paso_6_1_fields();
    duplicate.retain(|(k, _)| *k != "name");
    duplicate.push(("name", "Otra"));
    assert_eq!(
        app.post_form("/admin/cajas/crear", &duplicate)
            .await
            .status(),
        422
    );
    // A stale edit is refused inside its transaction.
    let mut stale = paso_6_1_fields();
    stale.push(("version", "7"));
    assert_eq!(
        app.post_form("/admin/cajas/1/editar", &stale)
            .await
            .status(),
        409
    );
    assert_eq!(entries(&app, "caja").len(), 1);
}

#[actix_web::test]
async fn user_changes_are_audited_without_secrets() {
    let app = TestApp::spawn().await;
    app.create_user("ana", cajahub::auth::user::Role::Cajero);
    let pin = cajahub::auth::password::Pin::parse("1234".into()).unwrap();
    cajahub::auth::user::set_pin(
        &mut app.conn(),
        &cajahub::audit::Actor::command_line(),
        "ana",
        Some(&pin),
    )
    .unwrap();
    cajahub::auth::user::disable(
        &mut app.conn(),
        &cajahub::audit::Actor::command_line(),
        "ana",
    )
    .unwrap();
    let log = entries(&app, "usuario");
    let actions: Vec<_> = log.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        ["usuario.creado", "usuario.pin", "usuario.deshabilitado"]
    );
    assert!(log[0].actor_name.starts_with("consola ("));
    for entry in &log {
        for json in [&entry.before, &entry.after].into_iter().flatten() {
            assert!(!json.contains("argon2") && !json.contains("1234"), "{json}");
        }
    }
    assert!(
        log[1]
            .after
            .as_deref()
            .unwrap()
            .contains(r#""has_pin": true"#)
    );
    assert!(
        log[2]
            .after
            .as_deref()
            .unwrap()
            .contains(r#""disabled": true"#)
    );
}

#[actix_web::test]
async fn the_audit_log_is_append_only() {
    let app = TestApp::spawn_as_admin().await;
    assert_eq!(
        app.post_form("/admin/cajas/crear", &paso_6_1_fields())
            .await
            .status(),
        303
    );
    let mut conn = app.conn();
    for sql in [
        "UPDATE audit_log SET actor_name = 'otro'",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
    ] {
        let err = diesel::sql_query(sql).execute(&mut conn).unwrap_err();
        assert!(err.to_string().contains("append-only"), "{sql}: {err}");
    }
    assert_eq!(
        app.count("SELECT count(*) AS n FROM audit_log WHERE entity = 'caja'"),
        1
    );
}

#[actix_web::test]
async fn the_audit_page_filters_by_who_what_and_date() {
    let app = TestApp::spawn_as_admin().await;
    assert_eq!(
        app.post_form("/admin/cajas/crear", &paso_6_1_fields())
            .await
            .status(),
        303
    );
    let mut edit = paso_6_1_fields();
    edit.push(("version", "1"));
    assert_eq!(
        app.post_form("/admin/cajas/1/editar", &edit).await.status(),
        303
    );

    let rows = |html: &str| html.matches("data-audit-id=").count();
    let page = app.get("/admin/auditoria").await.text().await.unwrap();
    assert_eq!(rows(&page), 3, "admin created + caja created + edited");
    let page = app
        .get("/admin/auditoria?que=caja.editada")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(rows(&page), 1);
    assert!(page.contains("caja.editada"));
    let page = app
        .get("/admin/auditoria?quien=ADM")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(rows(&page), 2, "by the admin, case-insensitive");
    let page = app
        .get("/admin/auditoria?quien=50%25")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(rows(&page), 0, "% is matched literally");
    let today = app
        .count("SELECT to_char(now() AT TIME ZONE 'America/Santiago', 'YYYYMMDD')::bigint AS n")
        .to_string();
    let today = format!("{}-{}-{}", &today[..4], &today[4..6], &today[6..]);
    let page = app
        .get(&format!("/admin/auditoria?desde={today}&hasta={today}"))
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(rows(&page), 3);
    let page = app
        .get("/admin/auditoria?hasta=2020-01-01")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(rows(&page), 0);
    assert!(page.contains("No hay registros"));

    let bad = app
        .get("/admin/auditoria?desde=ayer&que=caja.borrada")
        .await;
    assert_eq!(bad.status(), 422);
    let bad = bad.text().await.unwrap();
    assert!(bad.contains(r#"id="desde-error">Fecha no válida"#));
    assert!(bad.contains(r#"id="que-error">Acción desconocida"#));
    assert!(bad.contains(r#"value="ayer""#), "the input is kept");
}
