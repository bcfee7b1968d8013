//! Pages driven in a real headless Chromium through chromedriver.

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

use crate::helpers::TestApp;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// Chromium and its driver, for one test; both end when this is dropped.
pub struct Browser {
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// `None` (with a message) where Chromium is not installed, unless
    /// `CAJAHUB_REQUIRE_BROWSER` is set, as CI does: then it is a failure.
    pub async fn start() -> Option<Self> {
        if !Path::new(CHROMIUM).exists() || !Path::new(CHROMEDRIVER).exists() {
            assert!(
                std::env::var_os("CAJAHUB_REQUIRE_BROWSER").is_none(),
                "browser tests are required but {CHROMIUM} or {CHROMEDRIVER} is missing"
            );
            crate::helpers::skipped(
                "browser test needs Debian's chromium and chromium-driver packages",
            );
            return None;
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        // A process group of its own: the Chromium it starts goes with it.
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("start chromedriver");
        let profile = tempfile::tempdir().unwrap();
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": CHROMIUM,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                    "--disable-quic", "--no-first-run", "--disable-component-update", "--disable-sync",
                    "--window-size=1280,900",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            }),
        );
        let url = format!("http://127.0.0.1:{port}");
        let mut last_error = None;
        for _ in 0..50 {
            match ClientBuilder::native()
                .capabilities(capabilities.clone())
                .connect(&url)
                .await
            {
                Ok(client) => {
                    return Some(Self {
                        client,
                        driver,
                        _profile: profile,
                    });
                }
                Err(err) => last_error = Some(err),
            }
            actix_web::rt::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("chromedriver did not start: {last_error:?}");
    }

    pub async fn goto(&self, app: &TestApp, path: &str) {
        self.goto_url(&app.url(path)).await;
    }

    pub async fn goto_url(&self, url: &str) {
        self.client.goto(url).await.expect("navigate");
    }

    /// The element's text, once it is there (retried while the page is
    /// being replaced under it).
    pub async fn text(&self, css: &str) -> String {
        let mut last = None;
        for _ in 0..100 {
            match self.client.find(Locator::Css(css)).await {
                Ok(element) => match element.text().await {
                    Ok(text) => return text,
                    Err(err) => last = Some(err),
                },
                Err(err) => last = Some(err),
            }
            actix_web::rt::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{css}: {last:?}");
    }

    pub async fn value(&self, css: &str) -> String {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|err| panic!("{css}: {err}"))
            .prop("value")
            .await
            .expect("value")
            .unwrap_or_default()
    }

    pub async fn fill(&self, css: &str, value: &str) {
        let input = self.client.find(Locator::Css(css)).await.expect(css);
        input.clear().await.expect("clear");
        input.send_keys(value).await.expect("type");
    }

    /// Types `keys` into whatever has the focus (a keyboard shortcut).
    pub async fn press(&self, keys: &str) {
        let focused = self
            .client
            .active_element()
            .await
            .expect("a focused element");
        focused.send_keys(keys).await.expect("keys");
    }

    pub async fn choose(&self, select_css: &str, value: &str) {
        self.client
            .find(Locator::Css(select_css))
            .await
            .expect(select_css)
            .select_by_value(value)
            .await
            .expect("select");
    }

    /// Clicks the element. A live page may render it anew between finding
    /// and clicking it (an event arrived): it is then found again.
    pub async fn click(&self, css: &str) {
        for _ in 0..10 {
            let element = self.client.find(Locator::Css(css)).await.expect(css);
            match element.click().await {
                Err(err) if err.is_stale_element_reference() => continue,
                clicked => return clicked.expect("click"),
            }
        }
        panic!("{css}: rendered anew at each of 10 clicks");
    }

    /// Logs in through the login page as `name` (created with the test password).
    pub async fn log_in(&self, app: &TestApp, name: &str) {
        self.goto(app, "/login").await;
        self.fill("#name", name).await;
        self.fill("#secret", crate::helpers::PASSWORD).await;
        self.click("button[type=submit].primary").await;
        self.client
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css("header .who"))
            .await
            .expect("logged in");
    }

    /// Waits until the element's text is `expected`, as a live page gets there.
    pub async fn wait_text(&self, css: &str, expected: &str) {
        self.wait_until(css, expected, |seen| seen == expected)
            .await;
    }

    /// Waits until the element's text starts with `prefix`.
    pub async fn wait_text_prefix(&self, css: &str, prefix: &str) {
        self.wait_until(css, prefix, |seen| seen.starts_with(prefix))
            .await;
    }

    /// Waits until the element's text contains `part`.
    pub async fn wait_text_contains(&self, css: &str, part: &str) {
        self.wait_until(css, part, |seen| seen.contains(part)).await;
    }

    async fn wait_until(&self, css: &str, wanted: &str, done: impl Fn(&str) -> bool) {
        let mut seen = String::new();
        for _ in 0..150 {
            if let Ok(element) = self.client.find(Locator::Css(css)).await {
                seen = element.text().await.unwrap_or_default();
                if done(&seen) {
                    return;
                }
            }
            actix_web::rt::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{css}: expected {wanted:?}, still {seen:?} after 15 s");
    }

    /// Waits until `js` (an expression) is true in the page, as a live page gets there.
    pub async fn wait_true(&self, js: &str) {
        for _ in 0..150 {
            if self.script(&format!("return Boolean({js})")).await == serde_json::Value::Bool(true)
            {
                return;
            }
            actix_web::rt::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("still not true after 15 s: {js}");
    }

    /// Runs a script in the page and returns what it returns.
    pub async fn script(&self, js: &str) -> serde_json::Value {
        self.client.execute(js, vec![]).await.expect(js)
    }

    /// Saves a screenshot under target/screenshots, for a person to look at.
    pub async fn screenshot(&self, name: &str) {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        let png = self.client.screenshot().await.expect("screenshot");
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }

    /// Screenshots at a phone's, a tablet's and a desktop's size, each of
    /// the whole page (the window is left at the desktop's size).
    pub async fn screenshots(&self, name: &str) {
        for (size, width, height) in [
            ("phone", 390, 844),
            ("tablet", 800, 1280),
            ("desktop", 1366, 768),
        ] {
            self.client
                .set_window_size(width, height)
                .await
                .expect("resize the window");
            let page = self
                .script("return document.documentElement.scrollHeight")
                .await
                .as_u64()
                .unwrap_or(0) as u32;
            if page > height {
                let full = page.min(4_000) + height.saturating_sub(self.inner_height().await);
                let _ = self.client.set_window_size(width, full).await;
            }
            self.script("window.scrollTo(0, 0)").await;
            self.screenshot(&format!("{name}-{size}")).await;
        }
        let _ = self.client.set_window_size(1366, 768).await;
    }

    async fn inner_height(&self) -> u32 {
        self.script("return window.innerHeight")
            .await
            .as_u64()
            .unwrap_or(0) as u32
    }

    /// Lays the page out as Chromium prints it on paper `width_px` CSS
    /// pixels wide (80 mm is 302 px, A4 less its margins about 718 px).
    pub async fn emulate_print(&self, width_px: u32) {
        self.devtools(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": width_px, "height": 1200, "deviceScaleFactor": 1, "mobile": false}),
        )
        .await;
        self.devtools("Emulation.setEmulatedMedia", json!({"media": "print"}))
            .await;
    }

    /// Back to the screen and the window's own size.
    pub async fn emulate_screen(&self) {
        self.devtools("Emulation.clearDeviceMetricsOverride", json!({}))
            .await;
        self.devtools("Emulation.setEmulatedMedia", json!({"media": ""}))
            .await;
    }

    /// Runs `js` in every page this browser opens from now on, before the
    /// page's own scripts (to watch what a page does from its start).
    pub async fn before_each_page(&self, js: &str) {
        self.devtools(
            "Page.addScriptToEvaluateOnNewDocument",
            json!({ "source": js }),
        )
        .await;
    }

    /// A Chrome DevTools Protocol command, through chromedriver.
    async fn devtools(&self, cmd: &'static str, params: serde_json::Value) {
        self.client
            .issue_cmd(DevTools { cmd, params })
            .await
            .unwrap_or_else(|err| panic!("{cmd}: {err}"));
    }

    pub async fn close(self) {
        let _ = self.client.clone().close().await;
    }
}

/// chromedriver and every Chromium process it started (killing only the
/// driver would leave its browser running).
impl Drop for Browser {
    fn drop(&mut self) {
        let group = nix::unistd::Pid::from_raw(-(self.driver.id() as i32));
        let _ = nix::sys::signal::kill(group, nix::sys::signal::Signal::SIGKILL);
        let _ = self.driver.wait();
    }
}

/// PASO 6.1 as an admin does it, in the browser: fill the form, save, find
/// the caja in the list, open it again.
#[actix_web::test]
async fn paso_6_1_in_the_browser() {
    let app = TestApp::spawn().await;
    let Some(browser) = Browser::start().await else {
        return;
    };

    app.create_user("admin", cajahub::auth::user::Role::Admin);

    // Asking for the list leads to the login page, and back after it.
    browser.goto(&app, "/admin/cajas/").await;
    browser.wait_text("h1", "Ingresar").await;
    browser.fill("#name", "admin").await;
    browser.fill("#secret", crate::helpers::PASSWORD).await;
    browser.click("button[type=submit].primary").await;
    browser.wait_text("main h1", "Cajas").await;
    browser.click("a.button.primary").await;
    browser
        .wait_text("#pagos legend", "💳 Pagos (Low Friction)")
        .await;
    browser.fill("#name", "TEST GETNET+KLAP").await;
    browser.fill("#code", "TEST-01").await;
    browser.choose("#register_type", "HUMANA").await;
    browser.choose("#payment_provider_primary", "GETNET").await;
    browser.choose("#payment_provider_backup", "KLAP").await;
    browser.click("#fallback_enabled").await;
    browser.fill("#fallback_max_seconds", "60").await;
    browser.fill("#fallback_backup_phones", "2").await;
    browser.screenshots("caja-crear").await;
    browser.click("form.caja-form button[type=submit]").await;

    browser
        .wait_text(".notice", "Caja «TEST GETNET+KLAP» creada.")
        .await;
    let row = browser.text("#cajas-activas tbody tr").await;
    for cell in [
        "TEST GETNET+KLAP",
        "TEST-01",
        "HUMANA",
        "GETNET",
        "KLAP",
        "Activa",
        "Sí · 60 s · 2 celulares",
    ] {
        assert!(row.contains(cell), "{cell} not in {row:?}");
    }
    browser.screenshot("cajas-lista").await;

    browser.click("#cajas-activas tbody tr td.actions a").await;
    browser
        .wait_text("main h1", "Editar caja «TEST GETNET+KLAP»")
        .await;
    assert_eq!(browser.value("#name").await, "TEST GETNET+KLAP");
    assert_eq!(browser.value("#code").await, "TEST-01");
    assert_eq!(browser.value("#payment_provider_primary").await, "GETNET");
    assert_eq!(browser.value("#payment_provider_backup").await, "KLAP");
    assert_eq!(browser.value("#fallback_max_seconds").await, "60");
    assert_eq!(browser.value("#fallback_backup_phones").await, "2");
    let checked = browser
        .client
        .find(Locator::Css("#fallback_enabled"))
        .await
        .unwrap()
        .prop("checked")
        .await
        .unwrap();
    assert_eq!(checked.as_deref(), Some("true"));

    // A mistake is explained beside its field and the rest is kept.
    browser.fill("#fallback_max_seconds", "1000").await;
    browser.fill("#name", "Barra renombrada").await;
    browser.click("form.caja-form button[type=submit]").await;
    browser
        .wait_text(
            "#fallback_max_seconds-error",
            "Debe ser un número entero entre 5 y 600.",
        )
        .await;
    assert_eq!(browser.value("#name").await, "Barra renombrada");
    browser.screenshot("caja-editar-error").await;
    browser.close().await;
}

/// chromedriver's `goog/cdp/execute`: a DevTools command in the session.
#[derive(Debug)]
struct DevTools {
    cmd: &'static str,
    params: serde_json::Value,
}

impl fantoccini::wd::WebDriverCompatibleCommand for DevTools {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!(
            "session/{}/goog/cdp/execute",
            session.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _url: &url::Url) -> (http::Method, Option<String>) {
        let body = json!({"cmd": self.cmd, "params": self.params});
        (http::Method::POST, Some(body.to_string()))
    }
}
