//! The screens as staff use them, in Chromium at a phone's, a tablet's and
//! a desktop's size: nothing overflows sideways, the sale loop fits one
//! screen, the change is shown large, voids and cash drops from the POS.

use cajahub::audit::Actor;
use cajahub::auth::password::Pin;
use cajahub::auth::user::{self, Role};
use serde_json::Value;

use crate::browser::Browser;
use crate::helpers::TestApp;
use crate::live_pages::{cashier_on_the_pos, supervisor_on_the_floor};

/// The sizes the venue's devices have: phone, 10" tablet both ways, desktop.
const SIZES: [(&str, u32, u32); 4] = [
    ("phone", 390, 844),
    ("tablet-portrait", 800, 1280),
    ("tablet", 1280, 800),
    ("desktop", 1366, 768),
];

/// How far the page is wider than the window (0 when it fits), with the
/// elements that stick out (to say what to fix).
pub(crate) async fn overflow(browser: &Browser) -> (i64, Value) {
    let found = browser
        .script(
            "const width = document.documentElement.clientWidth;
             return { by: Math.max(0, document.documentElement.scrollWidth - width),
                      out: [...document.querySelectorAll('body *')]
                        .filter((e) => e.getBoundingClientRect().right > width + 0.5)
                        .slice(-5).map((e) => e.outerHTML.slice(0, 100)) }",
        )
        .await;
    (
        found["by"].as_i64().unwrap_or(i64::MAX),
        found["out"].clone(),
    )
}

/// The elements matching `css` that are not wholly inside the window.
async fn outside_the_window(browser: &Browser, css: &str) -> Value {
    browser
        .script(&format!(
            "return [...document.querySelectorAll({css:?})].filter((e) => e.offsetParent !== null).map((e) => {{
               const r = e.getBoundingClientRect();
               return {{ what: e.outerHTML.slice(0, 80), top: r.top, bottom: r.bottom, left: r.left, right: r.right }};
             }}).filter((r) => r.top < 0 || r.left < 0 || r.bottom > window.innerHeight || r.right > window.innerWidth)"
        ))
        .await
}

/// The buttons and choices matching `css` smaller than a finger (48 px).
async fn small_targets(browser: &Browser, css: &str) -> Value {
    browser
        .script(&format!(
            "return [...document.querySelectorAll({css:?})].filter((e) => e.offsetParent !== null)
               .filter((e) => e.getBoundingClientRect().height < 47.5).map((e) => e.outerHTML.slice(0, 80))"
        ))
        .await
}

/// Sets the page's viewport (not the window around it) to `width` × `height`.
pub(crate) async fn resize(browser: &Browser, width: u32, height: u32) {
    browser
        .client
        .set_window_size(width, height)
        .await
        .expect("resize");
    let inner = browser
        .script("return [window.innerWidth, window.innerHeight]")
        .await;
    let (w, h) = (
        inner[0].as_u64().unwrap_or(width.into()) as u32,
        inner[1].as_u64().unwrap_or(height.into()) as u32,
    );
    if (w, h) != (width, height) {
        browser
            .client
            .set_window_size(
                width + width.saturating_sub(w),
                height + height.saturating_sub(h),
            )
            .await
            .expect("resize");
    }
}

#[actix_web::test]
async fn the_sale_loop_fits_one_screen_on_every_device_and_the_change_is_large() {
    let app = TestApp::spawn_as_admin().await;
    let Some(pos) = cashier_on_the_pos(&app).await else {
        return;
    };
    for (name, width, height) in SIZES {
        resize(&pos, width, height).await;
        pos.script("window.scrollTo(0, 0)").await;
        let (by, out) = overflow(&pos).await;
        assert_eq!(by, 0, "{name}: the POS fits sideways; sticking out: {out}");
        pos.fill("#amount", "12340").await;
        pos.click("input[name=method][value=EFECTIVO]").await;
        pos.fill("#tendered", "20000").await;
        pos.click("button.charge").await;
        pos.wait_text("[data-bind=sale-result]", "Venta registrada: $12.340")
            .await;
        assert_eq!(pos.text("[data-bind=sale-change]").await, "VUELTO $7.660");
        let loop_parts = "#amount, fieldset.methods, [data-bind=provider-advice], button.charge, [data-bind=sale-done]";
        assert_eq!(
            outside_the_window(&pos, loop_parts).await,
            Value::Array(vec![]),
            "{name}: the whole sale loop is on screen"
        );
        assert_eq!(
            small_targets(
                &pos,
                ".pos-sell button, fieldset.methods label, .pos-side button"
            )
            .await,
            Value::Array(vec![]),
            "{name}: every touch target is at least 48 px high"
        );
        pos.screenshot(&format!("pos-vuelto-{name}")).await;
        // The next sale starts: the change gives way.
        pos.click(".keypad button[data-key='5']").await;
        assert_eq!(
            pos.script("return document.querySelector('[data-bind=sale-change]').hidden")
                .await,
            Value::Bool(true),
            "{name}"
        );
        pos.fill("#amount", "").await;
    }
    // Keyboard hints only where a keyboard is likely: not on a phone.
    resize(&pos, 390, 844).await;
    let shown = pos
        .script("return [...document.querySelectorAll('kbd')].some((k) => k.offsetParent !== null)")
        .await;
    assert_eq!(shown, Value::Bool(false), "no F1–F4 on a phone");
    pos.close().await;
}

#[actix_web::test]
async fn no_page_overflows_sideways_and_the_menu_reaches_every_link() {
    let app = TestApp::spawn_as_admin().await;
    crate::screens::caja_in_open_jornada(&app).await;
    let Some(admin) = Browser::start().await else {
        return;
    };
    app.create_user("jefa", Role::Admin);
    admin.log_in(&app, "jefa").await;
    // A code typed twice, for the review page to list.
    let cashier = app.visitor("cajero", Role::Cajero).await;
    assert_eq!(
        crate::registers::open_session(&app, &cashier, 1, "0")
            .await
            .status(),
        303
    );
    for amount in [5_000, 7_000] {
        let sale = serde_json::json!({"key": crate::registers::key(), "total": amount, "payments": [
            {"method": "DEBITO", "amount": amount, "provider": "GETNET", "authorization_code": "123456"}]});
        assert_eq!(
            crate::registers::sell(&app, &cashier, 1, &sale).await.0,
            201
        );
    }
    let pages = [
        ("inicio", "/"),
        ("cajas", "/admin/cajas/"),
        ("caja-crear", "/admin/cajas/crear"),
        ("caja-editar", "/admin/cajas/1/editar"),
        ("piso", "/admin/piso"),
        ("jornadas", "/admin/jornadas"),
        ("jornada", "/admin/jornadas/1"),
        ("usuarios", "/admin/usuarios"),
        ("auditoria", "/admin/auditoria"),
        ("ventas-marcadas", "/admin/ventas-marcadas"),
        ("local", "/admin/local"),
        ("boleta", "/admin/boleta"),
        ("sesion", "/caja/session/1"),
        ("abrir-caja", "/caja/session/open"),
        ("cerrar-caja", "/caja/session/close"),
        ("no-existe", "/no/existe"),
    ];
    for (name, path) in pages {
        admin.goto(&app, path).await;
        for (size, width, height) in SIZES {
            resize(&admin, width, height).await;
            let (by, out) = overflow(&admin).await;
            assert_eq!(by, 0, "{path} at {size}; sticking out: {out}");
        }
        admin.screenshots(&format!("pagina-{name}")).await;
    }

    // On a phone the links and Salir are one tap away, inside the window.
    resize(&admin, 390, 844).await;
    admin.goto(&app, "/admin/cajas/").await;
    let salir = "header form.logout button";
    assert_eq!(
        admin
            .script(&format!(
                "return document.querySelector({salir:?}).offsetParent === null"
            ))
            .await,
        Value::Bool(true),
        "folded away until the menu opens"
    );
    admin.click("header .menu-toggle").await;
    assert_eq!(
        outside_the_window(&admin, "header nav a, header form.logout button").await,
        Value::Array(vec![]),
        "every link and Salir on screen"
    );
    admin.screenshot("menu-abierto-phone").await;
    admin.click("header nav a[href='/admin/usuarios']").await;
    admin.wait_text("h1", "Usuarios").await;

    // An unknown URL: a page in the hub's layout with a way back, 404.
    admin.goto(&app, "/no/existe").await;
    assert_eq!(admin.text("h1").await, "Página no encontrada");
    admin.click("main a[href='/']").await;
    admin.wait_text("h1", "Hola, jefa").await;
    admin.close().await;

    let response = app.get("/no/existe").await;
    assert_eq!(response.status(), 404);
    assert!(response.text().await.unwrap().contains("Volver al inicio"));
    let api = app.get("/api/no-existe").await;
    assert_eq!(api.status(), 404);
    let body: Value = api.json().await.unwrap();
    assert_eq!(body["code"], "not_found", "{body}");
}

#[actix_web::test]
async fn a_supervisor_voids_on_the_cashiers_pos_with_a_pin_and_a_drop_reaches_the_floor() {
    let app = TestApp::spawn_as_admin().await;
    let Some(pos) = cashier_on_the_pos(&app).await else {
        return;
    };
    // A new PIN ends the supervisor's logins: set before they log in.
    app.create_user("supervisora", Role::Supervisor);
    let pin = Pin::parse("2580".into()).unwrap();
    user::set_pin(
        &mut app.conn(),
        &Actor::command_line(),
        "supervisora",
        Some(&pin),
    )
    .unwrap();
    let Some(floor) = supervisor_on_the_floor(&app).await else {
        return;
    };
    // Reloaded: the supervisors with a PIN are offered to pick, not typed.
    pos.goto(&app, "/caja/pos").await;
    pos.wait_text("[data-bind=connection]", "En línea").await;

    crate::live_pages::sell(&pos, "4500", "EFECTIVO").await;
    pos.wait_text("[data-bind=sale-result]", "Venta registrada: $4.500")
        .await;
    let sale = app.count("SELECT max(id) AS n FROM sales");
    let row = format!("[data-bind=recent] li[data-sale='{sale}']");
    assert!(
        pos.text(&row).await.starts_with("N.º 1"),
        "numbered in the session"
    );

    // A wrong PIN: refused beside the field, nothing voided.
    pos.click(&format!("{row} button.void")).await;
    pos.fill("#void-reason", "cliente se arrepintió").await;
    pos.choose("#void-supervisor", "supervisora").await;
    pos.fill("#void-pin", "1111").await;
    pos.click("#void-dialog button[value=confirm]").await;
    pos.wait_text_prefix("#void-pin-error", "Supervisor o PIN incorrecto")
        .await;
    assert_eq!(
        app.count("SELECT count(*) AS n FROM sales WHERE voided_at IS NOT NULL"),
        0
    );
    pos.screenshots("pos-anular-pin").await;
    pos.fill("#void-pin", "2580").await;
    pos.click("#void-dialog button[value=confirm]").await;
    pos.wait_text_prefix(&format!("{row} .status"), "ANULADA")
        .await;
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM sales s JOIN users u ON u.id = s.voided_by \
             WHERE s.id = {sale} AND u.name = 'supervisora'"
        )),
        1,
        "voided in the supervisor's name"
    );
    assert_eq!(
        app.count(
            "SELECT count(*) AS n FROM audit_log WHERE action = 'venta.anulada' \
             AND after->>'signed_with_pin_on_device_of' = 'cajero1'"
        ),
        1,
        "the audit says on whose device"
    );
    floor
        .wait_text("[data-caja='1'] [data-field=total]", "$0")
        .await;

    // A cash drop from the POS: on the POS's list and on the floor.
    pos.click("[data-bind=movement-open]").await;
    pos.fill("#movement-amount", "1.5").await;
    pos.fill("#movement-reason", "retiro al buzón").await;
    pos.click("#movement-dialog button[value=confirm]").await;
    pos.wait_text_prefix("#movement-amount-error", "Ingresa el monto en pesos")
        .await;
    pos.fill("#movement-amount", "20000").await;
    pos.click("#movement-dialog button[value=confirm]").await;
    pos.wait_text_contains(
        "[data-bind=movements]",
        "Retiro · $20.000 · retiro al buzón",
    )
    .await;
    floor
        .wait_text("[data-caja='1'] [data-field=movements]", "$20.000 / $0")
        .await;
    assert_eq!(
        app.count(
            "SELECT coalesce(sum(amount), 0)::bigint AS n FROM cash_movements WHERE kind = 'RETIRO'"
        ),
        20_000
    );
    pos.screenshots("pos-retiro").await;
    floor.screenshots("piso-retiro").await;

    // From the floor: the tile opens the session, where a supervisor voids.
    crate::live_pages::sell(&pos, "7000", "EFECTIVO").await;
    pos.wait_text("[data-bind=sale-result]", "Venta registrada: $7.000")
        .await;
    let second = app.count("SELECT max(id) AS n FROM sales");
    floor
        .wait_text("[data-caja='1'] [data-field=total]", "$7.000")
        .await;
    floor
        .click("[data-caja='1'] a[data-field=session-link]")
        .await;
    floor.wait_text_prefix("h1", "Sesión #1").await;
    let form = format!("#ventas tr[data-sale='{second}'] form.void-form");
    floor.click(&format!("{form} button")).await;
    assert_eq!(
        app.count("SELECT count(*) AS n FROM sales WHERE voided_at IS NOT NULL"),
        1,
        "no reason, no void (the browser asks for it)"
    );
    floor
        .fill(&format!("{form} input[name=reason]"), "cobro duplicado")
        .await;
    floor.click(&format!("{form} button")).await;
    floor.wait_text("#aviso", "Venta N.º 2 anulada.").await;
    assert!(
        floor
            .text(&format!(
                "#ventas tr[data-sale='{second}'] [data-field=estado]"
            ))
            .await
            .contains("por supervisora: cobro duplicado")
    );
    pos.wait_text_prefix(
        &format!("[data-bind=recent] li[data-sale='{second}'] .status"),
        "ANULADA",
    )
    .await;
    floor.screenshots("sesion-anulada").await;
    pos.close().await;
    floor.close().await;
}

/// The admin manages people in the browser: a cashier created with a PIN
/// logs in with it; disabled, the login is refused; wrong input is named.
#[actix_web::test]
async fn an_admin_creates_a_cashier_with_a_pin_and_disables_them_in_the_browser() {
    let app = TestApp::spawn_as_admin().await;
    let Some(admin) = Browser::start().await else {
        return;
    };
    app.create_user("jefa", Role::Admin);
    admin.log_in(&app, "jefa").await;
    admin.goto(&app, "/admin/usuarios").await;
    admin.click("a[href='/admin/usuarios/crear']").await;
    admin.fill("#name", "ana").await;
    admin.choose("#role", "CAJERO").await;
    admin.fill("#password", "una clave larga").await;
    admin.fill("#password_again", "otra clave larga").await;
    admin.fill("#pin", "12").await;
    admin.click("button[type=submit].primary").await;
    admin
        .wait_text("#password-error", "Las dos contraseñas no coinciden.")
        .await;
    assert_eq!(
        admin.text("#pin-error").await,
        "El PIN debe tener entre 4 y 8 dígitos."
    );
    assert_eq!(admin.value("#name").await, "ana", "the name is kept");
    assert_eq!(
        admin.value("#password").await,
        "",
        "secrets are not sent back"
    );
    admin.screenshots("usuario-crear-error").await;
    admin.fill("#password", "una clave larga").await;
    admin.fill("#password_again", "una clave larga").await;
    admin.fill("#pin", "4821").await;
    admin.click("button[type=submit].primary").await;
    admin.wait_text("#aviso", "Usuario creado.").await;
    admin.screenshots("usuario-creado").await;
    let ana = app.count("SELECT id::bigint AS n FROM users WHERE name = 'ana' AND role = 'CAJERO' AND pin_hash IS NOT NULL");
    assert!(ana > 0);

    // Ana logs in with her PIN.
    let Some(cashier) = Browser::start().await else {
        return;
    };
    cashier.goto(&app, "/login").await;
    cashier.fill("#name", "ana").await;
    cashier.fill("#secret", "4821").await;
    cashier.click("button[type=submit].primary").await;
    // A cashier lands where she sells: with no session yet, the form to open one.
    cashier.wait_text("h1", "Abrir sesión de caja").await;

    // Disabled: her browser is out, and the PIN no longer logs her in.
    admin.click("#estado-cuenta button.danger").await;
    admin
        .wait_text_prefix("#aviso", "Usuario deshabilitado")
        .await;
    cashier.goto(&app, "/").await;
    cashier.wait_text("h1", "Ingresar").await;
    cashier.fill("#name", "ana").await;
    cashier.fill("#secret", "4821").await;
    cashier.click("button[type=submit].primary").await;
    cashier.wait_text_prefix("#login-error", "").await;
    assert!(!cashier.text("main").await.contains("Hola, ana"));
    assert_eq!(
        app.count("SELECT count(*) AS n FROM audit_log WHERE action IN ('usuario.creado', 'usuario.pin', 'usuario.deshabilitado') AND actor_name = 'jefa'"),
        3,
        "every change audited in the admin's name"
    );

    // The admin cannot disable themself; a new password ends ana's logins.
    admin.fill("#password", "corta").await;
    admin.fill("#password_again", "corta").await;
    admin.click("#nueva-clave button[type=submit]").await;
    admin
        .wait_text(
            "#password-error",
            "La contraseña debe tener entre 8 y 128 caracteres.",
        )
        .await;
    admin.click("#estado-cuenta button.primary").await;
    admin.wait_text_prefix("#aviso", "Usuario habilitado").await;
    admin.click("#pin-form button[name=remove]").await;
    admin.wait_text("#aviso", "PIN quitado.").await;
    assert_eq!(
        app.count("SELECT count(*) AS n FROM users WHERE name = 'ana' AND pin_hash IS NULL"),
        1
    );
    cashier.close().await;
    admin.close().await;
}

/// A POS whose link dies (a proxy that stops carrying bytes, not the
/// browser's offline switch) says so within seconds, keeps its sales as
/// waiting, and the floor shows the POS offline; all catch up when it is back.
#[actix_web::test]
async fn a_pos_whose_link_dies_says_so_within_seconds_and_the_floor_shows_it() {
    let app = TestApp::spawn_with(crate::helpers::TestDb::migrated(), |settings| {
        settings.screen_timeout = std::time::Duration::from_secs(2);
    })
    .await;
    app.log_in_as("admin", Role::Admin).await;
    // The session opened on one browser; the POS used from another, whose
    // every byte goes through the link.
    let Some(opened) = cashier_on_the_pos(&app).await else {
        return;
    };
    opened.close().await;
    let Some(floor) = supervisor_on_the_floor(&app).await else {
        return;
    };
    let Some((link, pos)) = crate::live_pages::pos_through_a_link(&app).await else {
        return;
    };
    crate::live_pages::sell(&pos, "2000", "EFECTIVO").await;
    pos.wait_text("[data-bind=sale-result]", "Venta registrada: $2.000")
        .await;

    link.cut();
    let cut_at = std::time::Instant::now();
    pos.wait_text_prefix("[data-bind=connection]", "Sin conexión")
        .await;
    let noticed = cut_at.elapsed();
    assert!(
        noticed < std::time::Duration::from_secs(7),
        "a dead link is noticed within about five seconds, took {noticed:?}"
    );
    for amount in ["3000", "4000"] {
        crate::live_pages::sell(&pos, amount, "EFECTIVO").await;
    }
    pos.wait_text_prefix("[data-bind=recent] li.waiting", "—")
        .await;
    assert_eq!(
        pos.script("return document.querySelectorAll('[data-bind=recent] li.waiting').length")
            .await,
        serde_json::json!(2),
        "the sales on this device are listed as waiting"
    );
    floor
        .wait_text_contains(
            "[data-caja='1'] [data-field=alerts]",
            "POS sin conexión desde las",
        )
        .await;
    pos.screenshots("pos-sin-conexion").await;
    floor.screenshots("piso-pos-sin-conexion").await;

    link.restore();
    pos.wait_text("[data-bind=connection]", "En línea").await;
    floor
        .wait_text_contains("[data-caja='1'] [data-field=total]", "$9.000")
        .await;
    let alerts = floor.text("[data-caja='1'] [data-field=alerts]").await;
    assert!(!alerts.contains("POS sin conexión"), "{alerts}");
    assert_eq!(app.count("SELECT count(*) AS n FROM sales"), 3);
    assert_eq!(
        pos.script("return document.querySelectorAll('[data-bind=recent] li.waiting').length")
            .await,
        serde_json::json!(0)
    );
    pos.close().await;
    floor.close().await;
}

/// Closing as a cashier does it: bills and coins add up on screen, the
/// difference shows (the caja is not blind), the session's sheet prints,
/// and the floor keeps the closed caja's takings with a link to its sheet.
#[actix_web::test]
async fn a_cashier_counts_by_denomination_and_the_closed_caja_keeps_its_totals() {
    let app = TestApp::spawn_as_admin().await;
    let Some(pos) = cashier_on_the_pos(&app).await else {
        return;
    };
    let Some(floor) = supervisor_on_the_floor(&app).await else {
        return;
    };
    crate::live_pages::sell(&pos, "12000", "EFECTIVO").await;
    pos.wait_text("[data-bind=sale-result]", "Venta registrada: $12.000")
        .await;
    pos.goto(&app, "/caja/session/close?caja=1").await;
    // Nothing counted yet is not a faltante.
    pos.wait_text(
        "#diferencia-en-vivo",
        "Cuenta billetes y monedas: aquí verás la diferencia con lo esperado.",
    )
    .await;
    // Expected: $50.000 float + $12.000 = $62.000.
    pos.fill("#d20000", "3").await;
    pos.wait_text("#total-contado", "$60.000").await;
    assert_eq!(pos.text("#d20000 ~ output").await, "$60.000");
    pos.wait_text(
        "#diferencia-en-vivo",
        "Faltante de $2.000 frente a lo esperado.",
    )
    .await;
    pos.fill("#d1000", "2").await;
    pos.wait_text("#diferencia-en-vivo", "Cuadra con el efectivo esperado.")
        .await;
    pos.fill("#d500", "x").await;
    pos.wait_text("#total-contado", "revisa las cantidades")
        .await;
    pos.fill("#d500", "").await;
    pos.screenshots("cierre-conteo").await;
    pos.click("#conteo button[type=submit]").await;
    pos.wait_text_prefix("h1", "Sesión #1").await;
    assert_eq!(pos.text("#diferencia").await, "cuadra ($0)");
    // The closing sheet: its jornada and the count as it was made.
    assert!(pos.text("#estado").await.contains("jornada #1"));
    let counted = pos.text("#conteo-detalle tbody").await;
    assert!(counted.contains("$20.000 3 $60.000"), "{counted}");
    assert!(counted.contains("$1.000 2 $2.000"), "{counted}");
    assert_eq!(
        pos.script("return document.querySelectorAll('[data-print]').length")
            .await,
        serde_json::json!(1),
        "the closing sheet prints"
    );
    pos.screenshots("hoja-de-cierre").await;

    let tile = "[data-caja='1']";
    floor
        .wait_text(&format!("{tile} [data-field=status]"), "Cerrada")
        .await;
    floor
        .wait_text(&format!("{tile} [data-field=jornada-total]"), "$12.000")
        .await;
    let link = floor
        .text(&format!("{tile} a[data-field=session-link]"))
        .await;
    assert!(link.starts_with("Ver el último cierre"), "{link}");
    pos.close().await;
    floor.close().await;
}

/// A blind-count cashier's open session in the browser: the sales listed
/// without amounts, no float, nothing sticking out at any size.
#[actix_web::test]
async fn a_blind_count_cashiers_session_page_fits_and_shows_no_amounts() {
    let app = TestApp::spawn_as_admin().await;
    let mut fields = crate::cajas::paso_6_1_fields();
    fields.push(("blind_count", "on"));
    assert_eq!(
        app.post_form("/admin/cajas/crear", &fields).await.status(),
        303
    );
    assert_eq!(
        app.post_form("/admin/jornadas/abrir", &[]).await.status(),
        303
    );
    let cashier = app.visitor("cajero1", Role::Cajero).await;
    let opened = crate::registers::open_session(&app, &cashier, 1, "50000").await;
    assert_eq!(opened.status(), 303);
    for total in [3_000, 4_500] {
        let sale = crate::registers::cash_sale(total);
        assert_eq!(
            crate::registers::sell(&app, &cashier, 1, &sale).await.0,
            201
        );
    }
    let Some(browser) = Browser::start().await else {
        return;
    };
    browser.log_in(&app, "cajero1").await;
    browser.goto(&app, "/caja/session/1").await;
    let shown = browser
        .script("return document.querySelector('main').innerText")
        .await;
    let text = shown.as_str().unwrap_or_default();
    assert!(text.contains("Conteo ciego"), "{text}");
    for hidden in ["$3.000", "$4.500", "$50.000", "$57.500"] {
        assert!(!text.contains(hidden), "{hidden} shown: {text}");
    }
    for (size, width, height) in SIZES {
        resize(&browser, width, height).await;
        let (by, out) = overflow(&browser).await;
        assert_eq!(by, 0, "{size}; sticking out: {out}");
    }
    browser.screenshots("sesion-conteo-ciego").await;
}

/// A bartender's night: drinks from the keys. At every size the keys,
/// the ticket, its total and Cobrar are on screen and big enough to hit;
/// one drink for the exact cash is two taps (the key, Cobrar), three
/// drinks for a $20.000 bill four (Piscola, Piscola, Cerveza, the bill),
/// and a product sold out meanwhile greys its key at once.
#[actix_web::test]
async fn drinks_are_rung_up_from_the_keys_on_every_device() {
    let app = TestApp::spawn_as_admin().await;
    let tragos = crate::catalog::category(&app, "Tragos").await;
    let cervezas = crate::catalog::category(&app, "Cervezas").await;
    let piscola = crate::catalog::product(&app, tragos, "Piscola", "4500", None).await;
    for (name, price) in [
        ("Mojito", "5500"),
        ("Pisco sour", "5000"),
        ("Gin tonic", "6500"),
    ] {
        crate::catalog::product(&app, tragos, name, price, None).await;
    }
    let cerveza = crate::catalog::product(&app, cervezas, "Cerveza", "3000", None).await;
    crate::catalog::product(&app, cervezas, "Cerveza sin alcohol", "2500", None).await;
    let Some(pos) = cashier_on_the_pos(&app).await else {
        return;
    };
    pos.wait_true("document.querySelectorAll('.product-key[data-product]').length === 6")
        .await;
    let key = |id: i32| format!(".product-key[data-product='{id}']");
    let mut sales = 0;
    for (name, width, height) in SIZES {
        resize(&pos, width, height).await;
        pos.script("window.scrollTo(0, 0)").await;
        // One drink, exact cash: the key, then Cobrar.
        pos.click(&key(piscola)).await;
        pos.wait_text("[data-bind=ticket-total]", "$4.500").await;
        assert_eq!(
            outside_the_window(
                &pos,
                ".ticket-foot button.primary, [data-bind=ticket-total]"
            )
            .await,
            Value::Array(vec![]),
            "{name}: the total and Cobrar are on screen"
        );
        pos.click(".ticket-foot button.primary").await;
        pos.wait_text("[data-bind=sale-result]", "Venta registrada: $4.500")
            .await;
        sales += 1;
        // Three drinks for a $20.000 bill.
        pos.click(&key(piscola)).await;
        pos.click(&key(piscola)).await;
        pos.click(&key(cerveza)).await;
        pos.wait_text("[data-bind=ticket-total]", "$12.000").await;
        assert_eq!(pos.text("[data-bind=ticket-count]").await, "3 ítems");
        let (by, out) = overflow(&pos).await;
        assert_eq!(by, 0, "{name}: the POS fits sideways; sticking out: {out}");
        assert_eq!(
            outside_the_window(&pos, "[data-bind=ticket], .ticket-foot button.primary").await,
            Value::Array(vec![]),
            "{name}: the ticket, its total and Cobrar stay on screen"
        );
        assert_eq!(
            small_targets(
                &pos,
                ".product-key, .category-tabs button, [data-bind=ticket] button"
            )
            .await,
            Value::Array(vec![]),
            "{name}: every key is at least 48 px high"
        );
        pos.screenshot(&format!("pos-teclas-{name}")).await;
        pos.click("[data-bind=quick-tender] button[data-tender='20000']")
            .await;
        pos.wait_text("[data-bind=sale-result]", "Venta registrada: $12.000")
            .await;
        assert_eq!(pos.text("[data-bind=sale-change]").await, "VUELTO $8.000");
        assert!(
            pos.script("return document.querySelector('[data-bind=ticket]').hidden")
                .await
                .as_bool()
                .unwrap_or(false),
            "{name}: the ticket is emptied for the next customer"
        );
        sales += 1;
    }
    // Each sale's ticket is a tap away on the POS.
    let href = pos
        .script("return document.querySelector('[data-bind=recent] a.ticket-link').getAttribute('href')")
        .await;
    let href = href.as_str().unwrap_or_default().to_owned();
    assert!(href.starts_with("/caja/session/1/ventas/"), "{href}");
    let cashier = app.visitor("cajero1", Role::Cajero).await;
    let receipt = cashier.get(&app, &href).await.text().await.unwrap();
    assert!(
        receipt.contains("Piscola") && receipt.contains("Cerveza"),
        "{receipt}"
    );
    // Independent of the hub: what the lines say was sold.
    assert_eq!(
        app.count(&format!(
            "SELECT sum(quantity)::bigint AS n FROM sale_lines WHERE product_id = {piscola}"
        )),
        3 * SIZES.len() as i64
    );
    assert_eq!(app.count("SELECT count(*) AS n FROM sales"), sales);

    // The quantity key: three more of a line, typed.
    pos.click(&key(cerveza)).await;
    pos.click("[data-bind=ticket-lines] button.line-quantity")
        .await;
    pos.fill("#entry-input", "4").await;
    pos.click("#entry-dialog button[value=confirm]").await;
    pos.wait_text("[data-bind=ticket-total]", "$12.000").await;
    // A free amount on the same ticket.
    pos.click(".product-key.free-amount").await;
    pos.fill("#entry-input", "1.5").await;
    pos.click("#entry-dialog button[value=confirm]").await;
    pos.wait_text_contains("#entry-error", "pesos").await;
    pos.fill("#entry-input", "1.000").await;
    pos.click("#entry-dialog button[value=confirm]").await;
    pos.wait_text("[data-bind=ticket-total]", "$13.000").await;
    // A reload (a phone's browser killed in the background) keeps the ticket.
    pos.goto(&app, "/caja/pos").await;
    pos.wait_text("[data-bind=connection]", "En línea").await;
    pos.wait_text("[data-bind=ticket-total]", "$13.000").await;
    assert_eq!(pos.value("#amount").await, "$13.000");

    // Sold out on a supervisor's tablet: the key greys at once, and the
    // line on the ticket says so before Cobrar is tapped.
    let tablet = app.visitor("supervisora", Role::Supervisor).await;
    let response = tablet
        .post(
            &app,
            &format!("/admin/agotados/{cerveza}"),
            &[("estado", "agotado")],
        )
        .await;
    assert_eq!(response.status(), 303);
    pos.wait_true(&format!(
        "document.querySelector(\"{}\").classList.contains('sold-out')",
        key(cerveza)
    ))
    .await;
    pos.wait_text_contains("[data-bind=ticket-lines]", "agotado")
        .await;
    pos.click(".ticket-foot button.primary").await;
    pos.wait_text_contains("[data-error=amount]", "agotado")
        .await;
    assert_eq!(app.count("SELECT count(*) AS n FROM sales"), sales);
    pos.screenshots("pos-teclas-agotado").await;
    // Emptied with one tap.
    pos.click("[data-bind=ticket-clear]").await;
    pos.wait_true("document.querySelector('[data-bind=ticket]').hidden")
        .await;
    assert_eq!(pos.value("#amount").await, "");
    pos.close().await;
}

/// Three drinks and the suggested tip, paid with a bill, on a phone and
/// on a desktop: the tip is one tap, the cash asked and the change count
/// it, and the sale itself stays what the drinks cost.
#[actix_web::test]
async fn three_drinks_with_the_suggested_tip_on_a_phone_and_a_desktop() {
    let app = TestApp::spawn_as_admin().await;
    let tragos = crate::catalog::category(&app, "Tragos").await;
    let piscola = crate::catalog::product(&app, tragos, "Piscola", "4500", None).await;
    let cerveza = crate::catalog::product(&app, tragos, "Cerveza", "3000", None).await;
    let Some(pos) = cashier_on_the_pos(&app).await else {
        return;
    };
    pos.wait_true("document.querySelectorAll('.product-key[data-product]').length === 2")
        .await;
    let key = |id: i32| format!(".product-key[data-product='{id}']");
    for (name, width, height) in [SIZES[0], SIZES[3]] {
        resize(&pos, width, height).await;
        pos.script("window.scrollTo(0, 0)").await;
        pos.click(&key(piscola)).await;
        pos.click(&key(piscola)).await;
        pos.click(&key(cerveza)).await;
        pos.wait_text("[data-bind=ticket-total]", "$12.000").await;
        pos.wait_text("[data-bind=tip-toggle]", "+ 10 % $1.200")
            .await;
        pos.click("[data-bind=tip-toggle]").await;
        pos.wait_text("[data-bind=tip-toggle]", "✓ 10 % $1.200")
            .await;
        assert_eq!(pos.value("#tip").await, "1.200");
        pos.wait_text_contains("[data-bind=charge-hint]", "+ propina $1.200 = $13.200")
            .await;
        assert_eq!(
            small_targets(
                &pos,
                "[data-bind=tip-toggle], [data-bind=quick-tender] button"
            )
            .await,
            Value::Array(vec![]),
            "{name}: the tip's key is a finger's size"
        );
        let (by, out) = overflow(&pos).await;
        assert_eq!(by, 0, "{name}: the POS fits sideways; sticking out: {out}");
        let inside = pos
            .script(
                "const box = document.querySelector('[data-bind=ticket]').getBoundingClientRect();
                 const charge = document.querySelector('.ticket-foot button.primary').getBoundingClientRect();
                 return charge.right <= box.right && charge.left >= box.left;",
            )
            .await;
        assert_eq!(
            inside,
            Value::Bool(true),
            "{name}: Cobrar is inside the ticket"
        );
        pos.screenshot(&format!("pos-propina-{name}")).await;
        pos.click("[data-bind=quick-tender] button[data-tender='20000']")
            .await;
        pos.wait_text(
            "[data-bind=sale-result]",
            "Venta registrada: $12.000 + propina $1.200",
        )
        .await;
        assert_eq!(pos.text("[data-bind=sale-change]").await, "VUELTO $6.800");
        assert_eq!(
            pos.value("#tip").await,
            "",
            "{name}: the next sale starts without a tip"
        );
    }
    // Independent of the hub: the sales are the drinks, the tips apart.
    assert_eq!(
        app.count("SELECT sum(total)::bigint AS n FROM sales"),
        24_000
    );
    assert_eq!(
        app.count("SELECT sum(tip)::bigint AS n FROM sale_payments WHERE method = 'EFECTIVO'"),
        2_400
    );
    assert_eq!(
        app.count("SELECT (tip_totals->>'EFECTIVO')::bigint AS n FROM register_sessions"),
        2_400
    );
    // The floor shows them beside the sales, not in them.
    let Some(floor) = crate::live_pages::supervisor_on_the_floor(&app).await else {
        return;
    };
    floor
        .wait_text("[data-caja='1'] [data-field=total]", "$24.000")
        .await;
    floor
        .wait_text("[data-caja='1'] [data-field=tips]", "$2.400")
        .await;
    floor
        .wait_text("[data-field=jornada-total]", "$24.000")
        .await;
    floor.wait_text("[data-field=jornada-tips]", "$2.400").await;
    floor.screenshots("piso-propinas").await;
    floor.close().await;
    // The venue takes tips typed instead: the POS hears it, and a tip
    // above the venue's bound is refused on the screen, naming it.
    let fields = [
        ("sessions_per_person", "one"),
        ("tip_mode", "free"),
        ("tip_percent", "10"),
        ("tip_limit_percent", "50"),
    ];
    assert_eq!(app.post_form("/admin/local", &fields).await.status(), 303);
    pos.wait_true("!document.getElementById('tip').hidden")
        .await;
    assert!(
        pos.script("return document.querySelector('[data-bind=tip-toggle]').hidden")
            .await
            .as_bool()
            .unwrap_or(false)
    );
    pos.click(&key(cerveza)).await;
    pos.fill("#tip", "2.000").await;
    pos.click(".ticket-foot button.primary").await;
    pos.wait_text_contains("[data-error=tip]", "50 %").await;
    assert_eq!(app.count("SELECT count(*) AS n FROM sales"), 2);
    pos.screenshot("pos-propina-libre-desktop").await;
    pos.fill("#tip", "500").await;
    pos.click(".ticket-foot button.primary").await;
    pos.wait_text(
        "[data-bind=sale-result]",
        "Venta registrada: $3.000 + propina $500",
    )
    .await;
    pos.close().await;
}

/// The catalog's pages (an admin's products, categories and form, a
/// supervisor's agotados) fit a phone, a tablet and a desktop.
#[actix_web::test]
async fn the_catalog_pages_fit_every_device() {
    let app = TestApp::spawn_as_admin().await;
    let tragos = crate::catalog::category(&app, "Tragos").await;
    let cervezas = crate::catalog::category(&app, "Cervezas").await;
    for (name, price) in [
        ("Piscola", "4500"),
        ("Mojito de maracuyá", "5500"),
        ("Pisco sour", "5000"),
    ] {
        crate::catalog::product(&app, tragos, name, price, None).await;
    }
    crate::catalog::product(&app, cervezas, "Cerveza", "3000", None).await;
    app.create_user("jefa", Role::Admin);
    let Some(browser) = Browser::start().await else {
        return;
    };
    browser.log_in(&app, "jefa").await;
    for (path, shot) in [
        ("/admin/productos/", "productos"),
        ("/admin/productos/crear", "producto-crear"),
        ("/admin/categorias", "categorias"),
        ("/admin/agotados", "agotados"),
        ("/admin/productos/importar", "productos-importar"),
    ] {
        browser.goto(&app, path).await;
        for (name, width, height) in SIZES {
            resize(&browser, width, height).await;
            let (by, out) = overflow(&browser).await;
            assert_eq!(by, 0, "{path} at {name} fits sideways; sticking out: {out}");
        }
        browser.screenshots(shot).await;
    }
    browser.close().await;
}

/// A sale's ticket (on screen and on the 80 mm roll), the session's
/// products and the jornada's best-sellers fit every device.
#[actix_web::test]
async fn the_ticket_and_what_was_sold_fit_every_device() {
    let app = TestApp::spawn_as_admin().await;
    let (caja, cashier) = crate::catalog::ready(&app).await;
    let tragos = crate::catalog::category(&app, "Tragos").await;
    let piscola = crate::catalog::product(&app, tragos, "Piscola", "4500", None).await;
    let mojito = crate::catalog::product(&app, tragos, "Mojito de maracuyá", "5500", None).await;
    let mut body = crate::catalog::ticket(
        15_505,
        serde_json::json!([{"product_id": piscola, "quantity": 2}, {"product_id": mojito}, {"amount": 1005}]),
    );
    body["payments"] = serde_json::json!([{"method": "EFECTIVO", "amount": 15_505,
        "tendered": 20_000, "tip": 1_550}]);
    let (status, ack) = crate::registers::sell(&app, &cashier, caja, &body).await;
    assert_eq!(status, 201, "{ack}");
    let sale = ack["sale_id"].as_i64().unwrap();
    app.create_user("supervisora", Role::Supervisor);
    let Some(browser) = Browser::start().await else {
        return;
    };
    browser.log_in(&app, "supervisora").await;
    for (path, shot) in [
        (format!("/caja/session/1/ventas/{sale}/ticket"), "ticket"),
        ("/caja/session/1".to_owned(), "sesion-productos"),
        ("/admin/jornadas/1".to_owned(), "jornada-productos"),
    ] {
        browser.goto(&app, &path).await;
        for (name, width, height) in SIZES {
            resize(&browser, width, height).await;
            let (by, out) = overflow(&browser).await;
            assert_eq!(by, 0, "{path} at {name} fits sideways; sticking out: {out}");
        }
        browser.screenshots(shot).await;
    }
    // On the 80 mm roll: the ticket, nothing of the page around it.
    browser
        .goto(&app, &format!("/caja/session/1/ventas/{sale}/ticket"))
        .await;
    browser.emulate_print(302).await;
    let (by, out) = overflow(&browser).await;
    assert_eq!(by, 0, "the ticket fits the roll; sticking out: {out}");
    assert_eq!(
        browser
            .script("return [...document.querySelectorAll('.topbar, button')].filter((e) => e.offsetParent !== null).length")
            .await,
        Value::from(0)
    );
    browser.screenshot("ticket-80mm").await;
    browser.emulate_screen().await;
    browser.close().await;
}

/// A venue's whole menu (500 products in 40 categories, loaded from a
/// spreadsheet) reaches a phone's POS with its greeting, and a change of
/// it by push. Prints the times (a figure for load-tests/README.md, not a
/// bound the test holds).
#[actix_web::test]
async fn a_menu_of_500_products_loads_on_a_phone_and_follows_by_push() {
    let app = TestApp::spawn_as_admin().await;
    let mut csv = String::from("categoria;nombre;nombre_tecla;precio;color;orden;cajas\r\n");
    for i in 0..500 {
        csv.push_str(&format!(
            "Categoría {:02};Producto {i:03};P{i:03};{};;{};todas\r\n",
            i % 40,
            1_000 + (i % 17) * 500,
            i % 13
        ));
    }
    let response = app
        .post_form("/admin/productos/importar", &[("csv", csv.as_str())])
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(app.count("SELECT count(*) AS n FROM products"), 500);
    let Some(pos) = cashier_on_the_pos(&app).await else {
        return;
    };
    resize(&pos, 390, 844).await;
    // From the page's start: when its 500 keys (and the free amount) are drawn.
    pos.before_each_page(
        "new MutationObserver((_, observer) => {
           if (document.querySelectorAll('.product-key').length === 501) {
             window.keysDrawnAt = performance.now();
             observer.disconnect();
           }
         }).observe(document, { childList: true, subtree: true });",
    )
    .await;
    let mut loads = Vec::new();
    for _ in 0..5 {
        pos.goto(&app, "/caja/pos").await;
        pos.wait_true("window.keysDrawnAt !== undefined").await;
        loads.push(
            pos.script("return window.keysDrawnAt")
                .await
                .as_f64()
                .unwrap_or(f64::NAN),
        );
    }
    loads.sort_by(f64::total_cmp);
    assert_eq!(
        pos.script("return document.querySelectorAll('.category-tabs button').length")
            .await,
        Value::from(41),
        "every category and «Todos»"
    );
    // A change by push: the key greys without a reload.
    let tablet = app.visitor("supervisora", Role::Supervisor).await;
    pos.script(
        "window.greyedAt = undefined;
         const key = document.querySelector('.product-key[data-product=\"1\"]');
         new MutationObserver((_, observer) => {
           const now = document.querySelector('.product-key[data-product=\"1\"]');
           if (now && now.classList.contains('sold-out')) { window.greyedAt = performance.now(); observer.disconnect(); }
         }).observe(document.querySelector('[data-bind=keys]'), { childList: true, subtree: true, attributes: true });
         window.markedAt = performance.now(); return key !== null;",
    )
    .await;
    let response = tablet
        .post(&app, "/admin/agotados/1", &[("estado", "agotado")])
        .await;
    assert_eq!(response.status(), 303);
    pos.wait_true("window.greyedAt !== undefined").await;
    let pushed = pos.script("return window.greyedAt - window.markedAt").await;
    println!(
        "500 products: keys drawn {:.0} ms after navigation (median of 5: {:?}); agotado greyed {} ms after the page started waiting (the supervisor's POST included)",
        loads[2],
        loads.iter().map(|ms| ms.round() as i64).collect::<Vec<_>>(),
        pushed.as_f64().unwrap_or(f64::NAN).round()
    );
    pos.close().await;
}
