use diesel::RunQueryDsl;

use crate::helpers::{TestApp, location};

#[actix_web::test]
async fn healthz_answers_ok() {
    let app = TestApp::spawn().await;
    let response = app.get("/healthz").await;
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ok");
}

#[actix_web::test]
async fn readyz_is_ready_on_a_migrated_database() {
    let app = TestApp::spawn().await;
    let response = app.get("/readyz").await;
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ready");
}

#[actix_web::test]
async fn readyz_is_503_with_a_pending_migration() {
    let app = TestApp::spawn().await;
    diesel::sql_query("DELETE FROM __diesel_schema_migrations")
        .execute(&mut app.conn())
        .unwrap();
    let response = app.get("/readyz").await;
    assert_eq!(response.status(), 503);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["reason"], "migraciones pendientes");
}

#[actix_web::test]
async fn readyz_and_pages_are_503_when_the_database_is_gone() {
    let app = TestApp::spawn_as_admin().await;
    let mut admin = diesel::PgConnection::establish(&crate::helpers::admin_url()).unwrap();
    diesel::sql_query(format!("DROP DATABASE \"{}\" WITH (FORCE)", app.db.name))
        .execute(&mut admin)
        .unwrap();
    let response = app.get("/readyz").await;
    assert_eq!(response.status(), 503);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["reason"], "base de datos no disponible");

    let page = app.get("/login").await;
    assert_eq!(page.status(), 503);
    assert!(
        page.text()
            .await
            .unwrap()
            .contains("La base de datos no responde")
    );
    // Still alive.
    assert_eq!(app.get("/healthz").await.status(), 200);
}

use diesel::Connection;

#[actix_web::test]
async fn static_assets_are_served_and_unknown_ones_are_404() {
    let app = TestApp::spawn().await;
    let css = app.get("/assets/app.css").await;
    assert_eq!(css.status(), 200);
    assert!(
        css.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
    assert!(css.text().await.unwrap().contains(".field-error"));
    assert_eq!(app.get("/assets/nope.js").await.status(), 404);
}

#[actix_web::test]
async fn list_without_slash_redirects_to_the_list() {
    let app = TestApp::spawn().await;
    let bare = app.get("/admin/cajas").await;
    assert_eq!(bare.status(), 308);
    assert_eq!(location(&bare), "/admin/cajas/");
}

/// HEAD answers as GET, without the body: what load balancers and uptime
/// checkers send (it was a 404 on every route).
#[actix_web::test]
async fn head_answers_every_get_route_without_a_body() {
    let app = TestApp::spawn_as_admin().await;
    for (path, status) in [
        ("/healthz", 200),
        ("/readyz", 200),
        ("/login", 200),
        ("/admin/cajas/", 200),
        ("/assets/app.css", 200),
        ("/no-existe", 404),
    ] {
        let response = app.client.head(app.url(path)).send().await.unwrap();
        assert_eq!(response.status().as_u16(), status, "HEAD {path}");
        assert!(
            response.bytes().await.unwrap().is_empty(),
            "HEAD {path} has no body"
        );
    }
    // A route that only changes things is no GET route.
    let response = app.client.head(app.url("/logout")).send().await.unwrap();
    assert_ne!(response.status().as_u16(), 200);
}

/// Through a proxy (the venue's nginx adds X-Forwarded-For) `/readyz`
/// says ready or not and nothing else; the details are for the machine
/// itself (`cajahub check`), asking directly.
#[actix_web::test]
async fn readyz_tells_a_proxied_client_only_its_status() {
    let app = TestApp::spawn().await;
    let proxied = |path: &str| {
        app.client
            .get(app.url(path))
            .header("X-Forwarded-For", "203.0.113.9")
            .send()
    };
    let outside = proxied("/readyz").await.unwrap();
    assert_eq!(outside.status(), 200);
    let body: serde_json::Value = outside.json().await.unwrap();
    assert_eq!(body, serde_json::json!({ "status": "ready" }));
    let direct: serde_json::Value = app.get("/readyz").await.json().await.unwrap();
    assert!(direct["errors_logged"].is_u64(), "{direct}");
    assert!(direct["database"].is_string(), "{direct}");

    diesel::sql_query("DELETE FROM __diesel_schema_migrations")
        .execute(&mut app.conn())
        .unwrap();
    let outside = proxied("/readyz").await.unwrap();
    assert_eq!(outside.status(), 503);
    let body: serde_json::Value = outside.json().await.unwrap();
    assert_eq!(body, serde_json::json!({ "status": "unavailable" }));
}

/// While the database does not answer, the hub says so at once instead of
/// waiting seconds per request for a connection: a balancer whose probe
/// gives up after 2 s gets its 503, not a timeout, and a logged-in screen
/// still reads its caja from memory.
#[actix_web::test]
async fn with_the_database_gone_answers_come_at_once_and_memory_still_serves() {
    let app = TestApp::spawn_as_admin().await;
    crate::cajas::create_cajas(&app, 1).await;
    assert_eq!(app.get("/api/cajas/1").await.status(), 200);
    let mut admin = diesel::PgConnection::establish(&crate::helpers::admin_url()).unwrap();
    diesel::sql_query(format!("DROP DATABASE \"{}\" WITH (FORCE)", app.db.name))
        .execute(&mut admin)
        .unwrap();
    // The first request finds the outage out (the pool's own attempt).
    assert_eq!(app.get("/readyz").await.status(), 503);

    let within = |path: &str| {
        app.client
            .get(app.url(path))
            .timeout(std::time::Duration::from_secs(2))
            .send()
    };
    for _ in 0..3 {
        let probe = within("/readyz").await.expect("an answer, not a timeout");
        assert_eq!(probe.status(), 503);
    }
    let caja = within("/api/cajas/1")
        .await
        .expect("an answer, not a timeout");
    assert_eq!(caja.status(), 200, "served from memory");
    let body: serde_json::Value = caja.json().await.unwrap();
    assert_eq!(body["register"]["caja"]["id"], 1, "{body}");
    let page = within("/admin/cajas/")
        .await
        .expect("an answer, not a timeout");
    assert_eq!(
        page.status(),
        503,
        "a page that reads the database says it cannot"
    );
}
