//! People and permissions: every route by role, CSRF, logins, lockout,
//! session expiry and revocation, the audit trail, security headers.

use std::time::Duration;

use cajahub::audit::Actor;
use cajahub::auth::password::{Password, Pin};
use cajahub::auth::user::{self, Role};
use cajahub::clock::Clock;
use diesel::RunQueryDsl;

use crate::cajas::paso_6_1_fields;
use crate::helpers::{PASSWORD, TestApp, TestDb, Visitor, location, new_client};

/// A caja made directly in the database, for routes that need one.
fn make_caja(app: &TestApp, code: &str, archived: bool) -> i32 {
    #[derive(diesel::QueryableByName)]
    struct Id {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        id: i32,
    }
    let archived_at = if archived { "now()" } else { "NULL" };
    diesel::sql_query(format!(
        "INSERT INTO pos_registers (name, code, archived_at) VALUES ('Caja {code}', '{code}', {archived_at}) RETURNING id"
    ))
    .get_result::<Id>(&mut app.conn())
    .unwrap()
    .id
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Who {
    Anonymous,
    Cajero,
    Supervisor,
    Admin,
}

impl Who {
    fn role(self) -> Option<Role> {
        match self {
            Who::Anonymous => None,
            Who::Cajero => Some(Role::Cajero),
            Who::Supervisor => Some(Role::Supervisor),
            Who::Admin => Some(Role::Admin),
        }
    }
}

/// Every route, by who asks: allowed ones succeed; the rest are sent to the
/// login page (nobody logged in) or refused with 403 (wrong role), and
/// change nothing.
#[actix_web::test]
async fn every_route_by_role() {
    let app = TestApp::spawn().await;
    let edited = make_caja(&app, "EDIT-1", false);
    let archivable = make_caja(&app, "ARCH-1", false);
    let archived = make_caja(&app, "REST-1", true);
    let edit_fields: Vec<(&str, &str)> = paso_6_1_fields()
        .into_iter()
        .filter(|(k, _)| *k != "code")
        .chain([("code", "EDIT-1"), ("version", "1")])
        .collect();

    for who in [Who::Anonymous, Who::Cajero, Who::Supervisor, Who::Admin] {
        let visitor: Visitor = match who.role() {
            None => app.anonymous(),
            Some(role) => app.visitor(&format!("{who:?}").to_lowercase(), role).await,
        };
        let cajas_before = app.count("SELECT count(*) AS n FROM pos_registers");
        let audit_before = app.count("SELECT count(*) AS n FROM audit_log WHERE entity = 'caja'");
        let versions_before = app.count("SELECT sum(version) AS n FROM pos_registers");

        // (method, path, least role, status when allowed)
        let routes: Vec<(&str, String, Role, u16)> = vec![
            ("GET", "/".into(), Role::Cajero, 200),
            ("GET", "/admin/cajas/".into(), Role::Admin, 200),
            ("GET", "/admin/cajas/crear".into(), Role::Admin, 200),
            ("POST", "/admin/cajas/crear".into(), Role::Admin, 303),
            (
                "GET",
                format!("/admin/cajas/{edited}/editar"),
                Role::Admin,
                200,
            ),
            (
                "POST",
                format!("/admin/cajas/{edited}/editar"),
                Role::Admin,
                303,
            ),
            (
                "GET",
                format!("/admin/cajas/{archivable}/archivar"),
                Role::Admin,
                200,
            ),
            (
                "POST",
                format!("/admin/cajas/{archivable}/archivar"),
                Role::Admin,
                303,
            ),
            (
                "POST",
                format!("/admin/cajas/{archived}/restaurar"),
                Role::Admin,
                303,
            ),
            ("GET", "/admin/auditoria".into(), Role::Admin, 200),
            ("GET", "/admin/piso".into(), Role::Supervisor, 200),
            (
                "GET",
                "/admin/ventas-marcadas".into(),
                Role::Supervisor,
                200,
            ),
            // Without an open session of one's own: off to open one.
            ("GET", "/caja/pos".into(), Role::Cajero, 303),
            ("POST", "/logout".into(), Role::Cajero, 303),
        ];
        for (method, path, least, allowed_status) in routes {
            let response = match (method, path.as_str()) {
                ("GET", _) => visitor.get(&app, &path).await,
                (_, "/admin/cajas/crear") => visitor.post(&app, &path, &paso_6_1_fields()).await,
                (_, p) if p.ends_with("/editar") => visitor.post(&app, &path, &edit_fields).await,
                (_, p) if p.ends_with("/archivar") => {
                    visitor.post(&app, &path, &[("version", "1")]).await
                }
                _ => visitor.post(&app, &path, &[]).await,
            };
            let status = response.status().as_u16();
            match who.role() {
                None => {
                    assert_eq!(status, 303, "{who:?} {method} {path}");
                    let expected = if method == "GET" {
                        format!("/login?next={}", path.replace('?', "%3F"))
                    } else {
                        "/login?next=/".to_string()
                    };
                    assert_eq!(location(&response), expected, "{who:?} {method} {path}");
                }
                Some(role) if role.includes(least) => {
                    assert_eq!(status, allowed_status, "{who:?} {method} {path}");
                }
                Some(_) => {
                    assert_eq!(status, 403, "{who:?} {method} {path}");
                    assert!(response.text().await.unwrap().contains("no permite"));
                }
            }
        }
        if who != Who::Admin {
            assert_eq!(
                app.count("SELECT count(*) AS n FROM pos_registers"),
                cajas_before,
                "{who:?}"
            );
            assert_eq!(
                app.count("SELECT count(*) AS n FROM audit_log WHERE entity = 'caja'"),
                audit_before,
                "{who:?}"
            );
            assert_eq!(
                app.count("SELECT sum(version) AS n FROM pos_registers"),
                versions_before,
                "{who:?}"
            );
        }
    }
    // The admin's changes went through, each audited.
    assert_eq!(
        app.count("SELECT count(*) AS n FROM audit_log WHERE entity = 'caja'"),
        4
    );
}

#[actix_web::test]
async fn a_form_without_the_right_csrf_token_is_refused_and_changes_nothing() {
    let app = TestApp::spawn_as_admin().await;
    for token in [None, Some("forged-token"), Some("")] {
        let mut body: Vec<(&str, &str)> = paso_6_1_fields();
        if let Some(token) = token {
            body.push(("csrf_token", token));
        }
        let response = app
            .client
            .post(app.url("/admin/cajas/crear"))
            .form(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 403, "token {token:?}");
        assert!(
            response
                .text()
                .await
                .unwrap()
                .contains("El formulario expiró")
        );
    }
    assert_eq!(app.count("SELECT count(*) AS n FROM pos_registers"), 0);
    assert_eq!(
        app.count("SELECT count(*) AS n FROM audit_log WHERE entity = 'caja'"),
        0
    );

    // Another session's token is no good either.
    let other = app.visitor("otra", Role::Admin).await;
    let mut body = paso_6_1_fields();
    body.push(("csrf_token", &other.csrf));
    let response = app
        .client
        .post(app.url("/admin/cajas/crear"))
        .form(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);

    // Logging out needs the token too; without it the session goes on.
    let response = app.client.post(app.url("/logout")).send().await.unwrap();
    assert_eq!(response.status(), 403);
    assert_eq!(app.get("/admin/cajas/").await.status(), 200);
    // And the login form itself.
    let response = new_client()
        .post(app.url("/login"))
        .form(&[("name", "admin"), ("secret", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
}

#[actix_web::test]
async fn logins_answer_clearly_without_revealing_who_exists() {
    let app = TestApp::spawn().await;
    let page = app.get("/login").await.text().await.unwrap();
    // The hub runs from this checkout (the tests' binary): the hint is
    // the command that works here, as the log's.
    assert!(
        page.contains("cargo run -- user add --name admin --role ADMIN"),
        "first-run hint: {page}"
    );

    app.create_user("ana", Role::Admin);
    let page = app.get("/login").await.text().await.unwrap();
    assert!(!page.contains("user add"));

    let client = new_client();
    let wrong = app.log_in(&client, "ana", "not-her-password").await;
    assert_eq!(wrong.status(), 401);
    let wrong = wrong.text().await.unwrap();
    assert!(wrong.contains("Usuario o contraseña incorrectos."));
    assert!(
        wrong.contains(r#"name="name" value="ana""#),
        "the name is kept"
    );
    let unknown = app.log_in(&client, "nadie", "whatever-pass").await;
    assert_eq!(unknown.status(), 401);
    assert!(
        unknown
            .text()
            .await
            .unwrap()
            .contains("Usuario o contraseña incorrectos.")
    );

    // Names are matched regardless of case.
    let right = app.log_in(&client, "ANA", PASSWORD).await;
    assert_eq!(right.status(), 303);
    assert_eq!(location(&right), "/");

    // Disabled: said only to whoever knows the password.
    user::disable(&mut app.conn(), &Actor::command_line(), "ana").unwrap();
    let disabled = app.log_in(&new_client(), "ana", PASSWORD).await;
    assert_eq!(disabled.status(), 403);
    assert!(
        disabled
            .text()
            .await
            .unwrap()
            .contains("Tu cuenta está deshabilitada")
    );
    let disabled_wrong = app.log_in(&new_client(), "ana", "bad-password").await;
    assert_eq!(disabled_wrong.status(), 401);
}

#[actix_web::test]
async fn cashiers_log_in_with_their_pin_and_a_supervisors_pin_logs_nobody_in() {
    let app = TestApp::spawn().await;
    app.create_user("caja1", Role::Cajero);
    app.create_user("jefa", Role::Supervisor);
    let pin = Pin::parse("4821".into()).unwrap();
    user::set_pin(&mut app.conn(), &Actor::command_line(), "caja1", Some(&pin)).unwrap();
    user::set_pin(&mut app.conn(), &Actor::command_line(), "jefa", Some(&pin)).unwrap();
    let response = app.log_in(&new_client(), "jefa", "4821").await;
    assert_eq!(
        response.status(),
        401,
        "a supervisor's PIN only signs on a POS"
    );
    let response = app.log_in(&new_client(), "caja1", "4821").await;
    assert_eq!(response.status(), 303);
    let response = app.log_in(&new_client(), "caja1", "4822").await;
    assert_eq!(response.status(), 401);
    let response = app.log_in(&new_client(), "caja1", PASSWORD).await;
    assert_eq!(response.status(), 303, "the password works too");
}

#[actix_web::test]
async fn after_login_the_page_asked_for_comes_back_but_never_another_site() {
    let app = TestApp::spawn().await;
    app.create_user("admin", Role::Admin);
    let client = new_client();
    let asked = client
        .get(app.url("/admin/auditoria?que=caja.creada"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        location(&asked),
        "/login?next=/admin/auditoria%3Fque%3Dcaja.creada"
    );
    let response = app
        .log_in_to(
            &client,
            "admin",
            PASSWORD,
            "/admin/auditoria?que=caja.creada",
        )
        .await;
    assert_eq!(location(&response), "/admin/auditoria?que=caja.creada");
    for evil in [
        "//evil.example/",
        "https://evil.example/",
        "/\\evil.example",
    ] {
        let response = app.log_in_to(&new_client(), "admin", PASSWORD, evil).await;
        assert_eq!(location(&response), "/", "{evil}");
    }
}

#[actix_web::test]
async fn repeated_failures_lock_the_account_then_the_lock_lifts() {
    let (clock, hand) = Clock::manual();
    let app = TestApp::spawn_with(TestDb::migrated(), |s| {
        s.login_lockout = Duration::from_secs(2);
        s.clock = clock;
    })
    .await;
    app.create_user("ana", Role::Admin);
    app.create_user("beto", Role::Admin);
    for _ in 0..5 {
        assert_eq!(
            app.log_in(&new_client(), "ana", "wrong-password")
                .await
                .status(),
            401
        );
    }
    let locked = app.log_in(&new_client(), "ana", PASSWORD).await;
    assert_eq!(locked.status(), 429, "even the right password waits");
    let message = locked.text().await.unwrap();
    assert!(
        message.contains("Demasiados intentos fallidos. Podrás intentar de nuevo en"),
        "{message}"
    );
    assert!(message.contains("segundos"));
    // An unknown name locks the same way: nothing tells it apart.
    for _ in 0..5 {
        app.log_in(&new_client(), "fantasma", "wrong-password")
            .await;
    }
    assert_eq!(
        app.log_in(&new_client(), "fantasma", "x-password")
            .await
            .status(),
        429
    );
    // Other accounts are not locked by ana's failures.
    assert_eq!(
        app.log_in(&new_client(), "beto", PASSWORD).await.status(),
        303
    );

    hand.advance(Duration::from_millis(1900));
    assert_eq!(
        app.log_in(&new_client(), "ana", PASSWORD).await.status(),
        429,
        "not before the window has passed"
    );
    hand.advance(Duration::from_millis(200));
    assert_eq!(
        app.log_in(&new_client(), "ana", PASSWORD).await.status(),
        303
    );
}

#[actix_web::test]
async fn too_many_failures_from_one_address_lock_it() {
    let app = TestApp::spawn_with(TestDb::migrated(), |s| {
        s.login_lockout = Duration::from_secs(60)
    })
    .await;
    app.create_user("beto", Role::Admin);
    for i in 0..20 {
        let response = app
            .log_in(&new_client(), &format!("intruso{i}"), "guess-password")
            .await;
        assert_eq!(response.status(), 401);
    }
    assert_eq!(
        app.log_in(&new_client(), "beto", PASSWORD).await.status(),
        429
    );
}

#[actix_web::test]
async fn an_idle_session_expires_and_login_returns_to_the_page() {
    let (clock, hand) = Clock::manual();
    let app = TestApp::spawn_with(TestDb::migrated(), |s| {
        s.session_idle = Duration::from_secs(2);
        s.clock = clock;
    })
    .await;
    app.log_in_as("admin", Role::Admin).await;
    assert_eq!(app.get("/admin/cajas/").await.status(), 200);
    hand.advance(Duration::from_millis(1200));
    assert_eq!(
        app.get("/admin/cajas/").await.status(),
        200,
        "use keeps it alive"
    );
    hand.advance(Duration::from_millis(1200));
    assert_eq!(
        app.get("/admin/cajas/").await.status(),
        200,
        "use keeps it alive"
    );
    hand.advance(Duration::from_millis(2100));
    let expired = app.get("/admin/cajas/").await;
    assert_eq!(expired.status(), 303);
    assert_eq!(
        location(&expired),
        "/login?next=/admin/cajas/&motivo=expirada"
    );
    let login = app.get(location(&expired)).await.text().await.unwrap();
    assert!(login.contains("Tu sesión expiró"));
    assert!(login.contains(r#"name="next" value="/admin/cajas/""#));
    let back = app
        .log_in_to(&app.client, "admin", PASSWORD, "/admin/cajas/")
        .await;
    assert_eq!(location(&back), "/admin/cajas/");
}

/// A signed-in request is answered without a new session cookie: the hub
/// keeps the login's last use itself, so it neither encrypts a cookie nor
/// sends one per response, and the one made at login lives exactly as long
/// as a session may.
#[actix_web::test]
async fn a_signed_in_request_is_answered_without_a_new_session_cookie() {
    let app = TestApp::spawn().await;
    // A client that keeps the cookie its login got, as an API POS does.
    let cookie = app.session_cookie("admin", Role::Admin).await;
    let client = reqwest::Client::new();
    for _ in 0..2 {
        let page = client
            .get(app.url("/admin/cajas/"))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 200);
        let cookies: Vec<_> = page.headers().get_all("set-cookie").iter().collect();
        assert!(
            !cookies.iter().any(|cookie| cookie
                .to_str()
                .unwrap_or_default()
                .starts_with("cajahub_session=")),
            "{cookies:?}"
        );
    }
}

#[actix_web::test]
async fn a_session_ends_at_its_absolute_limit_however_used() {
    let (clock, hand) = Clock::manual();
    let app = TestApp::spawn_with(TestDb::migrated(), |s| {
        s.session_max = Duration::from_secs(3);
        s.clock = clock;
    })
    .await;
    app.log_in_as("admin", Role::Admin).await;
    for _ in 0..3 {
        assert_eq!(app.get("/admin/cajas/").await.status(), 200);
        hand.advance(Duration::from_millis(900));
    }
    hand.advance(Duration::from_millis(400));
    let response = app.get("/admin/cajas/").await;
    assert_eq!(response.status(), 303);
    assert!(location(&response).ends_with("motivo=expirada"));
}

/// The visitor's next requests, until one is sent to the login page: a
/// change made outside the hub arrives with its notification (tens of
/// milliseconds); two seconds is far more than enough.
pub(crate) async fn refused_soon(
    app: &TestApp,
    who: &crate::helpers::Visitor,
) -> reqwest::Response {
    for _ in 0..100 {
        let response = who.get(app, "/").await;
        if response.status() == 303 {
            return response;
        }
        assert_eq!(response.status(), 200);
        actix_web::rt::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("still let in two seconds after the account changed");
}

#[actix_web::test]
async fn disabling_a_user_or_changing_the_password_ends_their_sessions() {
    let app = TestApp::spawn().await;
    let ana = app.visitor("ana", Role::Admin).await;
    let beto = app.visitor("beto", Role::Admin).await;
    assert_eq!(ana.get(&app, "/admin/cajas/").await.status(), 200);
    // As `cajahub user disable` does it, from outside the hub: the hub hears
    // of it by PostgreSQL's notification.
    user::disable(&mut app.conn(), &Actor::command_line(), "ana").unwrap();
    let response = refused_soon(&app, &ana).await;
    assert!(location(&response).starts_with("/login"));

    let new_password = Password::parse("otra-contraseña-1".into()).unwrap();
    user::set_password(
        &mut app.conn(),
        &Actor::command_line(),
        "beto",
        &new_password,
    )
    .unwrap();
    refused_soon(&app, &beto).await;
    // Ended in the database too: no login of theirs is left open.
    for name in ["ana", "beto"] {
        assert_eq!(
            app.count(&format!(
                "SELECT count(*) AS n FROM logins l JOIN users u ON u.id = l.user_id \
                 WHERE u.name = '{name}' AND (l.ended_at IS NULL OR l.end_reason <> 'cuenta')"
            )),
            0,
            "{name}"
        );
    }
    let ana = app.count("SELECT id::bigint AS n FROM users WHERE name = 'ana'");
    let admin = app.visitor("carla", Role::Admin).await;
    let page = admin
        .get(&app, &format!("/admin/usuarios/{ana}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains(r#"id="sin-ingresos""#), "{page}");
    assert_eq!(
        app.log_in(&new_client(), "beto", "otra-contraseña-1")
            .await
            .status(),
        303
    );
}

#[actix_web::test]
async fn a_tampered_session_cookie_is_no_session() {
    let app = TestApp::spawn().await;
    let cookie = app.session_cookie("admin", Role::Admin).await;
    assert!(cookie.len() > 40);
    // The cookie's attributes, as any session cookie carries them.
    let page = new_client().get(app.url("/login")).send().await.unwrap();
    let header = page
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_lowercase())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        header.contains("httponly")
            && header.contains("samesite=lax")
            && !header.contains("secure;"),
        "{header}"
    );

    let bare = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let send = |cookie: String| {
        bare.get(app.url("/admin/cajas/"))
            .header("cookie", cookie)
            .send()
    };
    assert_eq!(
        send(cookie.clone()).await.unwrap().status(),
        200,
        "the genuine cookie works"
    );
    let mut tampered = cookie.clone().into_bytes();
    let last = tampered.len() - 3;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
    let response = send(String::from_utf8(tampered).unwrap()).await.unwrap();
    assert_eq!(response.status(), 303);
    assert!(location(&response).starts_with("/login"));
}

#[actix_web::test]
async fn every_page_carries_the_security_headers() {
    let app = TestApp::spawn_as_admin().await;
    for path in [
        "/login",
        "/admin/cajas/",
        "/healthz",
        "/assets/app.css",
        "/admin/cajas/999/editar",
    ] {
        let response = app.get(path).await;
        let headers = response.headers();
        let csp = headers["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
            "{path}"
        );
        assert!(!csp.contains("unsafe-inline"));
        assert_eq!(headers["x-frame-options"], "DENY", "{path}");
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(headers["referrer-policy"], "same-origin", "{path}");
    }
    // No template carries an inline script or style the policy would block.
    let views = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("views");
    for entry in walk(&views) {
        let text = std::fs::read_to_string(&entry).unwrap();
        assert!(
            !text.contains("<script>") && !text.contains(" style=") && !text.contains("<style"),
            "{}",
            entry.display()
        );
        assert!(
            !text.contains(" onclick=") && !text.contains(" onsubmit="),
            "{}",
            entry.display()
        );
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .flat_map(|e| {
            if e.path().is_dir() {
                walk(&e.path())
            } else {
                vec![e.path()]
            }
        })
        .collect()
}

/// The register routes by role: pages send strangers to the login page,
/// the JSON API answers them 401; supervisor actions refuse cashiers.
#[actix_web::test]
async fn register_routes_by_role() {
    let app = TestApp::spawn_as_admin().await;
    assert_eq!(
        app.post_form("/admin/cajas/crear", &paso_6_1_fields())
            .await
            .status(),
        303
    );
    let anonymous = app.anonymous();
    let cashier = app.visitor("cajero", Role::Cajero).await;
    let supervisor = app.visitor("supervisora", Role::Supervisor).await;

    for path in [
        "/admin/jornadas",
        "/caja/session/open",
        "/caja/session/close",
        "/caja/session/1",
    ] {
        let response = anonymous.get(&app, path).await;
        assert_eq!(response.status(), 303, "{path}");
        assert!(location(&response).starts_with("/login?next="), "{path}");
    }
    for path in [
        "/api/cajas/1",
        "/api/cajas/1/sales",
        "/api/cajas/1/sales/1/void",
        "/api/cajas/1/cash-movements",
    ] {
        let response = if path == "/api/cajas/1" {
            anonymous.get(&app, path).await
        } else {
            anonymous
                .client
                .post(app.url(path))
                .json(&serde_json::json!({}))
                .send()
                .await
                .unwrap()
        };
        assert_eq!(response.status(), 401, "{path}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["code"], "not_logged_in", "{path}");
    }

    // Jornadas are the supervisors'.
    assert_eq!(cashier.get(&app, "/admin/jornadas").await.status(), 403);
    assert_eq!(
        cashier
            .post(&app, "/admin/jornadas/abrir", &[])
            .await
            .status(),
        403
    );
    assert_eq!(app.count("SELECT count(*) AS n FROM jornadas"), 0);
    assert_eq!(supervisor.get(&app, "/admin/jornadas").await.status(), 200);
    assert_eq!(
        supervisor
            .post(&app, "/admin/jornadas/abrir", &[])
            .await
            .status(),
        303
    );
    let jornada = app.count("SELECT id::bigint AS n FROM jornadas");
    assert_eq!(
        cashier
            .post(&app, &format!("/admin/jornadas/{jornada}/cerrar"), &[])
            .await
            .status(),
        403
    );

    // Sessions: every role opens and closes its own; only supervisors see others'.
    for who in [&cashier, &supervisor] {
        assert_eq!(who.get(&app, "/caja/session/open").await.status(), 200);
        assert_eq!(who.get(&app, "/caja/session/close").await.status(), 200);
    }
    let opened = supervisor
        .post(
            &app,
            "/caja/session/open",
            &[("register_id", "1"), ("initial_cash", "0")],
        )
        .await;
    assert_eq!(opened.status(), 303);
    assert_eq!(location(&opened), "/caja/pos?caja=1");
    assert_eq!(cashier.get(&app, "/caja/pos?caja=1").await.status(), 403);
    assert_eq!(supervisor.get(&app, "/caja/pos?caja=1").await.status(), 200);
    assert_eq!(supervisor.get(&app, "/caja/session/1").await.status(), 200);
    // Someone else's session answers as one that does not exist, so a
    // cashier cannot learn which numbers are taken by trying them.
    let mut answers = Vec::new();
    for page in [
        "/caja/session/1",
        "/caja/session/999",
        "/caja/session/1/cierre.csv",
        "/caja/session/999/cierre.csv",
    ] {
        let response = cashier.get(&app, page).await;
        let status = response.status();
        let body = response.text().await.unwrap();
        answers.push((status, body.replace("/1/", "/N/").replace("/999/", "/N/")));
        assert_eq!(status, 404, "{page}");
    }
    assert_eq!(
        answers[0], answers[1],
        "the same page for mine-not and none"
    );
    assert_eq!(
        answers[2], answers[3],
        "the same sheet for mine-not and none"
    );
    let not_listed = cashier
        .get(&app, "/caja/session/close")
        .await
        .text()
        .await
        .unwrap();
    assert!(not_listed.contains("No tienes sesiones de caja abiertas"));
    // A cashier closing someone else's session is refused, nothing changes.
    let refused = cashier
        .post(
            &app,
            "/caja/session/close",
            &[("register_id", "1"), ("cash_count", "0")],
        )
        .await;
    assert_eq!(refused.status(), 403);
    assert_eq!(
        app.count("SELECT count(*) AS n FROM register_sessions WHERE status = 'OPEN'"),
        1
    );
    // No CSRF token, no session.
    let forged = cashier
        .client
        .post(app.url("/caja/session/open"))
        .form(&[("register_id", "1"), ("initial_cash", "0")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
}

#[actix_web::test]
async fn cookies_are_secure_when_served_over_https() {
    let app = TestApp::spawn_with(TestDb::migrated(), |s| s.secure_cookies = true).await;
    let page = new_client().get(app.url("/login")).send().await.unwrap();
    let cookie = page.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_lowercase();
    assert!(cookie.contains("; secure"), "{cookie}");
}

/// A hub whose connections pass through a proxy that counts their
/// statements, and an admin whose login it has already checked once.
async fn known_login_behind_proxy() -> (TestApp, crate::proxy::PgProxy, Visitor) {
    let proxy = crate::proxy::PgProxy::start();
    let db = crate::helpers::TestDb::migrated();
    let url = proxy.url(&db.name);
    let app = TestApp::spawn_through(db, url, |_| {}).await;
    let ana = app.visitor("ana", Role::Admin).await;
    assert_eq!(ana.get(&app, "/").await.status(), 200);
    (app, proxy, ana)
}

/// A logged-in request asks the database nothing to know who sends it: the
/// login was checked once and is kept until its account changes. Counted
/// at the wire: the hub's connections pass through a proxy that counts the
/// statements executed.
#[actix_web::test]
async fn a_known_login_costs_no_query_per_request() {
    let (app, proxy, ana) = known_login_behind_proxy().await;
    let before = proxy.executed();
    for _ in 0..50 {
        assert_eq!(ana.get(&app, "/").await.status(), 200);
    }
    let executed = proxy.executed() - before;
    // Checking the login each time took two (the pool's test and the read).
    assert_eq!(executed, 0, "{executed} statements for 50 requests");

    // A change heard is a new read, once.
    cajahub::auth::user::set_pin(&mut app.conn(), &Actor::command_line(), "ana", None).unwrap();
    refused_soon(&app, &ana).await;
}

/// Requests of one login that arrive together read it once: the others
/// wait for that read instead of each making their own (a wall of screens
/// of one login reconnecting after a restart).
#[actix_web::test]
async fn requests_of_one_login_arriving_together_read_it_once() {
    let (app, proxy, ana) = known_login_behind_proxy().await;
    // Forgotten, as after a change of her account: it must be read again.
    let id = app.create_user("ana", Role::Admin).id.0;
    app.state.accounts.changed(id);
    let before = proxy.executed();
    let answers = futures_util::future::join_all((0..20).map(|_| ana.get(&app, "/"))).await;
    assert!(answers.iter().all(|answer| answer.status() == 200));
    let executed = proxy.executed() - before;
    // The read and the pool's test of its connection; each request read
    // it before (40).
    assert!(
        executed <= 2,
        "{executed} statements for 20 requests arriving together"
    );
}

/// The README's "From the command line" block, run as written (with this
/// hub's address and the test password): it logs in and reads a caja.
#[actix_web::test]
async fn the_readmes_curl_login_works_as_written() {
    if !std::path::Path::new("/usr/bin/curl").exists() {
        assert!(
            std::env::var_os("CAJAHUB_REQUIRE_TOOLS").is_none(),
            "/usr/bin/curl is required but missing"
        );
        crate::helpers::skipped("needs curl");
        return;
    }
    let app = TestApp::spawn_as_admin().await;
    crate::cajas::create_cajas(&app, 1).await;
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let block = readme
        .split("```sh\nhub=")
        .nth(1)
        .and_then(|rest| rest.split("\n```").next())
        .map(|rest| format!("hub={rest}"))
        .expect("the README's curl block");
    let script = block
        .replace("http://127.0.0.1:8080", &app.address)
        .replace("secret=the password", &format!("secret={PASSWORD}"));
    let output = actix_web::rt::task::spawn_blocking(move || {
        std::process::Command::new("bash")
            .args(["-c", &script])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(stdout.contains("303 → "), "logged in: {stdout}");
    assert!(
        stdout.contains(r#""type":"snapshot""#),
        "read the caja: {stdout}"
    );
}

/// Twenty right logins of one account at once all get in (none is taken
/// for a failure while it is checked); twenty wrong ones at once are still
/// exactly five failures, the rest locked, the right password too.
#[actix_web::test]
async fn parallel_logins_count_a_failure_only_when_it_is_one() {
    let app = TestApp::spawn().await;
    app.create_user("ana", Role::Admin);
    app.create_user("beto", Role::Admin);
    let right = futures_util::future::join_all((0..20).map(|_| async {
        app.log_in(&new_client(), "ana", PASSWORD)
            .await
            .status()
            .as_u16()
    }))
    .await;
    assert!(right.iter().all(|status| *status == 303), "{right:?}");

    let wrong = futures_util::future::join_all((0..20).map(|_| async {
        app.log_in(&new_client(), "beto", "wrong-password")
            .await
            .status()
            .as_u16()
    }))
    .await;
    let refused = wrong.iter().filter(|status| **status == 401).count();
    let locked = wrong.iter().filter(|status| **status == 429).count();
    assert_eq!((refused, locked), (5, 15), "{wrong:?}");
    assert_eq!(
        app.log_in(&new_client(), "beto", PASSWORD).await.status(),
        429
    );
}
