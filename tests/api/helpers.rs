//! A throwaway database per test, and the real app bound to a free port.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};

use cajahub::audit::Actor;
use cajahub::auth::password::Password;
use cajahub::auth::user::{self, Role, User, UserName};
use cajahub::config::Settings;
use cajahub::startup::Application;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

pub use crate::forms::cookie_of;
use crate::forms::input_value;

/// The server the tests run against: `TEST_DATABASE_URL`, else the
/// PostgreSQL at 127.0.0.1:5432 (user `postgres`, no password). Where that
/// refuses (Debian asks for a password on TCP) or nothing answers, the tests
/// do as the hub does: a private cluster, stopped when the run ends. The
/// URL's own database is only used to create and drop the test databases.
pub fn admin_url() -> String {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        if let Ok(url) = std::env::var("TEST_DATABASE_URL") {
            return url;
        }
        // No TLS on loopback: nothing to protect, and libpq's OpenSSL state
        // torn down at exit while pool threads still hold connections can abort.
        let local = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable";
        match PgConnection::establish(local) {
            Ok(_) => local.to_owned(),
            Err(refused) => private_server(&refused.to_string()),
        }
    })
    .clone()
}

/// The run's private cluster, stopped (with the template) when the run ends.
static PRIVATE: Mutex<Option<cajahub::db::local::PrivateCluster>> = Mutex::new(None);

fn private_server(refused: &str) -> String {
    let dir = std::env::temp_dir().join("cajahub-tests-pg");
    let cluster = cajahub::db::local::PrivateCluster::start(&dir).unwrap_or_else(|err| {
        panic!("the PostgreSQL at 127.0.0.1:5432 cannot be used ({refused}) and no private cluster could start: {err}; set TEST_DATABASE_URL")
    });
    eprintln!(
        "the PostgreSQL at 127.0.0.1:5432 cannot be used by the tests ({}); they run on a private cluster in {}",
        refused.trim(),
        dir.display()
    );
    let url = cluster.url().replacen("/cajahub?", "/postgres?", 1);
    *PRIVATE.lock().unwrap_or_else(|p| p.into_inner()) = Some(cluster);
    url
}

unsafe extern "C" {
    fn atexit(callback: extern "C" fn()) -> std::os::raw::c_int;
}

/// Registered once: when the test process exits, the template goes (unless
/// another run is using it) and the private cluster stops, so a run leaves
/// no database and no server behind.
fn clean_up_at_exit() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: `at_exit` is a plain function that lives as long as the process.
        unsafe {
            atexit(at_exit);
        }
    });
}

/// The tests that did not run here, and why, counted at the end of the
/// run: `cargo test` would otherwise print `ok` for them like any other.
static SKIPPED: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Marks the calling test as skipped (it returns right after): said now,
/// and counted again after the summary.
pub fn skipped(why: &str) {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: `report_skips` is a plain function that lives as long as the process.
        unsafe {
            atexit(report_skips);
        }
    });
    let test = std::thread::current().name().unwrap_or("a test").to_owned();
    eprintln!("SKIPPED: {why}");
    if let Ok(mut skipped) = SKIPPED.lock() {
        skipped.push(format!("{test}: {why}"));
    }
}

extern "C" fn report_skips() {
    let Ok(skipped) = SKIPPED.lock() else { return };
    if skipped.is_empty() {
        return;
    }
    eprintln!(
        "\n{} test(s) SKIPPED: reported ok above, but they did not run here:",
        skipped.len()
    );
    for line in skipped.iter() {
        eprintln!("  - {line}");
    }
}

extern "C" fn at_exit() {
    if let (Some(template), Ok(mut conn)) = (TEMPLATE.get(), PgConnection::establish(&admin_url()))
    {
        let _ = diesel::sql_query("SELECT pg_advisory_lock($1)")
            .bind::<BigInt, _>(TEMPLATE_LOCK)
            .execute(&mut conn);
        let others = diesel::sql_query(
            "SELECT count(*) AS n FROM pg_database WHERE datname LIKE 'cajahub\\_test\\_%'",
        )
        .get_result::<Count>(&mut conn)
        .map_or(1, |c| c.n);
        if others == 0 {
            let _ = diesel::sql_query(format!(
                "DROP DATABASE IF EXISTS \"{template}\" WITH (FORCE)"
            ))
            .execute(&mut conn);
        }
    }
    if let Ok(mut private) = PRIVATE.lock() {
        drop(private.take());
    }
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// What `sql` counts (as `n`); a query that fails panics with its text.
pub fn count(conn: &mut PgConnection, sql: &str) -> i64 {
    diesel::sql_query(sql)
        .get_result::<Count>(conn)
        .unwrap_or_else(|err| panic!("{sql}: {err}"))
        .n
}

/// Serialises template building and dropping between test processes.
const TEMPLATE_LOCK: i64 = 0x7465_7374_7470_6c00;

/// The URL of `database` on the tests' server.
pub fn url_for(database: &str) -> String {
    let admin = admin_url();
    let (server, rest) = admin
        .rsplit_once('/')
        .expect("TEST_DATABASE_URL has a database name");
    let query = rest.find('?').map_or("", |at| &rest[at..]);
    format!("{server}/{database}{query}")
}

fn admin_connection() -> PgConnection {
    PgConnection::establish(&admin_url()).unwrap_or_else(|err| {
        panic!(
            "the tests need PostgreSQL at {} ({err}); start it or set TEST_DATABASE_URL",
            admin_url()
        )
    })
}

static TEMPLATE: OnceLock<String> = OnceLock::new();
static COUNTER: AtomicU32 = AtomicU32::new(0);
const TEST_PREFIX: &str = "cajahub_test_";

/// A database built from the migrations once per run (named after their
/// content, so a changed migration builds a new one) and copied per test.
fn template() -> &'static str {
    TEMPLATE.get_or_init(|| {
        let name = format!("cajahub_tpl_{:016x}", migrations_hash());
        clean_up_at_exit();
        let mut conn = admin_connection();
        diesel::sql_query("SELECT pg_advisory_lock($1)")
            .bind::<BigInt, _>(TEMPLATE_LOCK)
            .execute(&mut conn)
            .expect("lock");
        sweep_stale(&mut conn);
        if !database_exists(&mut conn, &name) {
            let building = format!("{name}_building");
            exec(
                &mut conn,
                &format!("DROP DATABASE IF EXISTS \"{building}\" WITH (FORCE)"),
            );
            exec(&mut conn, &format!("CREATE DATABASE \"{building}\""));
            {
                let mut db =
                    PgConnection::establish(&url_for(&building)).expect("connect template");
                cajahub::db::migrations::run_pending(&mut db).expect("migrate template");
            }
            exec(
                &mut conn,
                &format!("ALTER DATABASE \"{building}\" RENAME TO \"{name}\""),
            );
        }
        diesel::sql_query("SELECT pg_advisory_unlock($1)")
            .bind::<BigInt, _>(TEMPLATE_LOCK)
            .execute(&mut conn)
            .expect("unlock");
        name
    })
}

fn migrations_hash() -> u64 {
    let mut hasher = DefaultHasher::new();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let mut files: Vec<_> = walk(&dir);
    files.sort();
    for file in files {
        file.hash(&mut hasher);
        std::fs::read(&file)
            .expect("read migration")
            .hash(&mut hasher);
    }
    hasher.finish()
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(dir)
        .expect("read migrations")
        .flatten()
        .flat_map(|entry| {
            let path = entry.path();
            if path.is_dir() {
                walk(&path)
            } else {
                vec![path]
            }
        })
        .collect()
}

/// Drops the test databases of runs that died before cleaning up. Templates
/// of other migrations are left alone: another checkout may be testing with
/// them right now (each is a few megabytes).
fn sweep_stale(conn: &mut PgConnection) {
    #[derive(QueryableByName)]
    struct Db {
        #[diesel(sql_type = Text)]
        datname: String,
    }
    let databases: Vec<Db> = diesel::sql_query(
        "SELECT datname FROM pg_database WHERE datname LIKE 'cajahub\\_test\\_%'",
    )
    .load(conn)
    .expect("list databases");
    for Db { datname } in databases {
        let pid = datname
            .strip_prefix(TEST_PREFIX)
            .and_then(|rest| rest.split('_').next())
            .unwrap_or_default();
        let stale = !Path::new(&format!("/proc/{pid}")).exists();
        if stale {
            exec(
                conn,
                &format!("DROP DATABASE IF EXISTS \"{datname}\" WITH (FORCE)"),
            );
        }
    }
}

fn database_exists(conn: &mut PgConnection, name: &str) -> bool {
    diesel::select(diesel::dsl::sql::<diesel::sql_types::Bool>(&format!(
        "EXISTS (SELECT 1 FROM pg_database WHERE datname = '{name}')"
    )))
    .get_result(conn)
    .expect("query pg_database")
}

fn exec(conn: &mut PgConnection, sql: &str) {
    diesel::sql_query(sql)
        .execute(conn)
        .unwrap_or_else(|err| panic!("{sql}: {err}"));
}

/// A database that exists for one test and is dropped when it ends.
pub struct TestDb {
    pub name: String,
    /// A database elsewhere (e.g. a private cluster), not made or dropped here.
    url: Option<String>,
}

impl TestDb {
    fn new_name() -> String {
        format!(
            "{TEST_PREFIX}{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        )
    }

    /// A database with the current schema and no rows.
    pub fn migrated() -> Self {
        let template = template();
        let name = Self::new_name();
        exec(
            &mut admin_connection(),
            &format!("CREATE DATABASE \"{name}\" TEMPLATE \"{template}\""),
        );
        Self { name, url: None }
    }

    /// A database with nothing in it.
    pub fn empty() -> Self {
        let name = Self::new_name();
        exec(
            &mut admin_connection(),
            &format!("CREATE DATABASE \"{name}\""),
        );
        Self { name, url: None }
    }

    /// The previous system's tables as they were before MVP1, with rows
    /// (`fixtures/pre_mvp1.sql`), not migrated.
    pub fn pre_mvp1() -> Self {
        let db = Self::empty();
        db.connect()
            .batch_execute(include_str!("../fixtures/pre_mvp1.sql"))
            .expect("the pre-MVP1 fixture");
        db
    }

    pub fn url(&self) -> String {
        self.url.clone().unwrap_or_else(|| url_for(&self.name))
    }

    pub fn connect(&self) -> PgConnection {
        PgConnection::establish(&self.url()).expect("connect to the test database")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if self.url.is_some() {
            return;
        }
        if let Ok(mut conn) = PgConnection::establish(&admin_url()) {
            let _ = diesel::sql_query(format!(
                "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                self.name
            ))
            .execute(&mut conn);
        }
    }
}

/// The password every test user has.
pub const PASSWORD: &str = "contraseña-de-prueba";

/// The real application, serving on a free port of 127.0.0.1, and a client
/// with a cookie jar (one browser, in effect).
pub struct TestApp {
    /// Stops the register actors when the test ends, so none keeps probing
    /// the test's database after it is dropped (fields drop in order: this
    /// first, the database last).
    _actors: StopActors,
    pub address: String,
    pub client: reqwest::Client,
    /// The CSRF token of the client's session, sent with every form.
    csrf: Mutex<String>,
    server: cajahub::startup::HubHandle,
    /// The hub's shared state (the connected screens are counted there).
    pub state: actix_web::web::Data<cajahub::startup::AppState>,
    /// What it was started with, kept for a restart.
    settings: Settings,
    /// The URL the hub reaches its database by (a proxy's, in fault tests).
    hub_url: String,
    pub db: TestDb,
}

/// Stops a hub's register actors when dropped.
struct StopActors(cajahub::registers::CajaActors);

impl Drop for StopActors {
    fn drop(&mut self) {
        self.0.stop();
    }
}

fn app_address(address: &str) -> std::net::SocketAddr {
    address
        .trim_start_matches("http://")
        .parse()
        .expect("an address")
}

/// A hub stopped by [`TestApp::stop`], with its database and its client.
pub struct StoppedApp {
    address: String,
    client: reqwest::Client,
    db: TestDb,
    csrf: Mutex<String>,
    settings: Settings,
    hub_url: String,
}

impl StoppedApp {
    /// Where the hub listened (`http://127.0.0.1:port`).
    pub fn address(&self) -> &str {
        &self.address
    }

    pub fn database_url(&self) -> String {
        self.db.url()
    }

    pub async fn start(self) -> TestApp {
        let settings = self.settings;
        let mut app = TestApp::spawn_through(self.db, self.hub_url, |s| *s = settings).await;
        app.client = self.client;
        app.csrf = self.csrf;
        app
    }
}

/// A cookie-keeping client that does not follow redirects.
pub fn new_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        // Idle connections are dropped before the hub's keep-alive (5 s)
        // closes them, so a request never races a closing connection.
        .pool_idle_timeout(std::time::Duration::from_secs(2))
        .build()
        .expect("http client")
}

/// The value of the first `csrf_token` field in a page.
pub fn csrf_in(html: &str) -> Option<String> {
    input_value(html, "csrf_token").map(str::to_owned)
}

impl TestApp {
    /// The app, with nobody logged in.
    pub async fn spawn() -> Self {
        Self::spawn_with(TestDb::migrated(), |_| {}).await
    }

    /// The app, with the client logged in as an ADMIN named `admin`.
    pub async fn spawn_as_admin() -> Self {
        let app = Self::spawn().await;
        app.log_in_as("admin", Role::Admin).await;
        app
    }

    /// The app on a database this test manages itself (nothing is dropped).
    pub async fn spawn_with_url(url: &str) -> Self {
        Self::spawn_with(
            TestDb {
                name: String::new(),
                url: Some(url.to_owned()),
            },
            |_| {},
        )
        .await
    }

    pub async fn spawn_on(db: TestDb) -> Self {
        Self::spawn_with(db, |_| {}).await
    }

    /// The app on `db`, with settings changed by `configure`.
    pub async fn spawn_with(db: TestDb, configure: impl FnOnce(&mut Settings)) -> Self {
        let url = db.url();
        Self::spawn_through(db, url, configure).await
    }

    /// The app on `db`, reached by the hub through `hub_url` (a proxy),
    /// while the test's own connections go straight to the database.
    pub async fn spawn_through(
        db: TestDb,
        hub_url: String,
        configure: impl FnOnce(&mut Settings),
    ) -> Self {
        cajahub::telemetry::init(
            &std::env::var("CAJAHUB_TEST_LOG").unwrap_or_else(|_| "warn".into()),
            false,
        );
        let mut settings = Settings::for_database(hub_url.clone());
        configure(&mut settings);
        let app = Application::build(&settings, &hub_url)
            .await
            .expect("the application starts");
        let address = format!("http://{}", app.address());
        let server = app.handle();
        let state = app.state();
        actix_web::rt::spawn(app.run_until_stopped());
        // A restart binds the same address.
        settings.bind = app_address(&address);
        Self {
            address,
            client: new_client(),
            db,
            csrf: Mutex::new(String::new()),
            server,
            _actors: StopActors(state.registers.get_ref().clone()),
            state,
            settings,
            hub_url,
        }
    }

    /// Stops the hub and starts it again on the same database; the client
    /// keeps its cookies, as a browser would.
    pub async fn restart(self) -> Self {
        self.stop().await.start().await
    }

    /// Stops the hub; [`StoppedApp::start`] starts it again on the same
    /// address, so open pages can reconnect.
    pub async fn stop(self) -> StoppedApp {
        self.server.stop().await;
        let TestApp {
            address,
            client,
            db,
            csrf,
            settings,
            hub_url,
            ..
        } = self;
        StoppedApp {
            address,
            client,
            db,
            csrf,
            settings,
            hub_url,
        }
    }

    /// Creates a user with [`PASSWORD`] (or returns the one of that name).
    pub fn create_user(&self, name: &str, role: Role) -> User {
        let mut conn = self.conn();
        if let Some(user) = user::find_by_name(&mut conn, name).unwrap() {
            return user;
        }
        user::create(
            &mut conn,
            &Actor::command_line(),
            &UserName::parse(name).unwrap(),
            role,
            &Password::parse(PASSWORD.into()).unwrap(),
        )
        .unwrap()
    }

    /// Creates the user and logs the client in through the login page.
    pub async fn log_in_as(&self, name: &str, role: Role) -> User {
        let user = self.create_user(name, role);
        let response = self.log_in(&self.client, name, PASSWORD).await;
        assert_eq!(response.status(), 303, "{name} logs in");
        self.refresh_csrf().await;
        user
    }

    /// Submits the login form with `client`, as a browser would.
    pub async fn log_in(
        &self,
        client: &reqwest::Client,
        name: &str,
        secret: &str,
    ) -> reqwest::Response {
        self.log_in_to(client, name, secret, "").await
    }

    pub async fn log_in_to(
        &self,
        client: &reqwest::Client,
        name: &str,
        secret: &str,
        next: &str,
    ) -> reqwest::Response {
        let page = client
            .get(self.url("/login"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let token = csrf_in(&page).expect("the login form has a CSRF token");
        client
            .post(self.url("/login"))
            .form(&[
                ("csrf_token", token.as_str()),
                ("name", name),
                ("secret", secret),
                ("next", next),
            ])
            .send()
            .await
            .unwrap()
    }

    /// Reads the session's current CSRF token off the start page.
    pub async fn refresh_csrf(&self) {
        let home = self.get("/").await.text().await.unwrap();
        *self.csrf.lock().unwrap() = csrf_in(&home).unwrap_or_default();
    }

    pub fn csrf(&self) -> String {
        self.csrf.lock().unwrap().clone()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.expect("GET")
    }

    /// POSTs a form with the session's CSRF token, as the page would.
    pub async fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .form(&self.with_csrf(fields))
            .send()
            .await
            .expect("POST")
    }

    pub fn with_csrf<K: AsRef<str>, V: AsRef<str>>(
        &self,
        fields: &[(K, V)],
    ) -> Vec<(String, String)> {
        let mut body: Vec<(String, String)> = fields
            .iter()
            .map(|(k, v)| (k.as_ref().to_owned(), v.as_ref().to_owned()))
            .collect();
        body.push(("csrf_token".into(), self.csrf()));
        body
    }

    pub fn conn(&self) -> PgConnection {
        self.db.connect()
    }
}

/// Where a redirect points.
pub fn location(response: &reqwest::Response) -> &str {
    response
        .headers()
        .get("location")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
}

/// Another person at another browser: their own cookies and CSRF token.
pub struct Visitor {
    pub client: reqwest::Client,
    pub csrf: String,
}

impl Visitor {
    pub async fn get(&self, app: &TestApp, path: &str) -> reqwest::Response {
        self.client.get(app.url(path)).send().await.expect("GET")
    }

    pub async fn post(
        &self,
        app: &TestApp,
        path: &str,
        fields: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut body: Vec<(&str, &str)> = fields.to_vec();
        body.push(("csrf_token", &self.csrf));
        self.client
            .post(app.url(path))
            .form(&body)
            .send()
            .await
            .expect("POST")
    }
}

impl TestApp {
    /// A new browser, logged in as `name` with `role` (created if needed).
    pub async fn visitor(&self, name: &str, role: Role) -> Visitor {
        self.create_user(name, role);
        let client = new_client();
        let response = self.log_in(&client, name, PASSWORD).await;
        assert_eq!(response.status(), 303, "{name} logs in");
        let home = client
            .get(self.url("/"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        Visitor {
            csrf: csrf_in(&home).expect("token on the start page"),
            client,
        }
    }

    /// A new browser with nobody logged in.
    pub fn anonymous(&self) -> Visitor {
        Visitor {
            client: new_client(),
            csrf: String::new(),
        }
    }

    pub fn count(&self, sql: &str) -> i64 {
        count(&mut self.conn(), sql)
    }

    /// Lets one person hold sessions open on several cajas at once (the
    /// venue's setting; one by default), for tests that sell on many
    /// cajas as one supervisor.
    pub fn allow_many_sessions_per_person(&self) {
        self.execute("UPDATE venue_settings SET one_open_session_per_cashier = false");
    }

    /// Runs one statement (a test arranging rows as time would have).
    pub fn execute(&self, sql: &str) -> usize {
        diesel::sql_query(sql)
            .execute(&mut self.conn())
            .unwrap_or_else(|err| panic!("{sql}: {err}"))
    }
}

impl TestApp {
    /// Logs `name` in without a cookie jar and returns the session cookie,
    /// as a WebSocket client sends it.
    pub async fn session_cookie(&self, name: &str, role: Role) -> String {
        self.create_user(name, role);
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let page = client.get(self.url("/login")).send().await.unwrap();
        let anonymous = cookie_of(&page).expect("a session for the login form");
        let token = csrf_in(&page.text().await.unwrap()).unwrap();
        let response = client
            .post(self.url("/login"))
            .header("cookie", &anonymous)
            .form(&[
                ("csrf_token", token.as_str()),
                ("name", name),
                ("secret", PASSWORD),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 303);
        cookie_of(&response).expect("the logged-in session")
    }

    /// The URL of a WebSocket endpoint of this hub.
    pub fn ws_url(&self, path: &str) -> String {
        format!("{}{path}", self.address.replacen("http://", "ws://", 1))
    }
}

/// The hub's own binary serving `address` on `database_url`; killed when dropped.
pub struct HubProcess(std::process::Child);

impl HubProcess {
    pub async fn start(address: &str, database_url: &str) -> Self {
        Self::start_with(address, database_url, &[], None).await
    }

    /// With more environment (settings) and, if given, its log in `log`.
    pub async fn start_with(
        address: &str,
        database_url: &str,
        env: &[(&str, &str)],
        log: Option<&Path>,
    ) -> Self {
        let bind = address.trim_start_matches("http://");
        // `CAJAHUB_HUB_WRAPPER="valgrind --error-exitcode=99"` runs the hub
        // under a checker (slowly: it is given a minute to start).
        let wrapper = std::env::var("CAJAHUB_HUB_WRAPPER").unwrap_or_default();
        let mut wrapper = wrapper.split_whitespace();
        let mut command = match wrapper.next() {
            Some(program) => {
                let mut command = std::process::Command::new(program);
                command.args(wrapper).arg(env!("CARGO_BIN_EXE_cajahub"));
                command
            }
            None => std::process::Command::new(env!("CARGO_BIN_EXE_cajahub")),
        };
        command
            .args(["serve", "--bind", bind])
            .env("DATABASE_URL", database_url)
            .env("CAJAHUB_LOG", "warn")
            .envs(env.iter().copied());
        if let Some(log) = log {
            command.stderr(std::fs::File::create(log).expect("the hub's log file"));
        }
        // Owned at once, so a failed start still kills and reaps it.
        let mut hub = Self(command.spawn().expect("start the hub"));
        let health = format!("{address}/healthz");
        // A bound on a busy machine, not a timeout under test: the hub
        // starts in well under a second alone.
        let patience = if std::env::var_os("CAJAHUB_HUB_WRAPPER").is_some() {
            std::time::Duration::from_secs(120)
        } else {
            std::time::Duration::from_secs(45)
        };
        let started = std::time::Instant::now();
        while started.elapsed() < patience {
            if let Ok(response) = reqwest::get(&health).await
                && response.status() == 200
            {
                return hub;
            }
            if let Ok(Some(status)) = hub.0.try_wait() {
                let said = log.map(std::fs::read_to_string).and_then(Result::ok);
                panic!(
                    "the hub on {address} ended as it started ({status}); its log: {}",
                    said.unwrap_or_else(|| "on this test's output".into())
                );
            }
            actix_web::rt::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("the hub did not answer on {address} within {patience:?}");
    }

    pub fn pid(&self) -> u32 {
        self.0.id()
    }

    /// The resident memory of the hub's process, in KiB.
    pub fn rss_kib(&self) -> u64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }

    /// SIGTERM, as systemd stops a service, then waits for the process to
    /// end; whether it ended well.
    pub fn terminate(mut self) -> bool {
        let pid = nix::unistd::Pid::from_raw(self.pid() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("SIGTERM");
        self.0.wait().expect("reaped").success()
    }

    /// Waits up to `within` for the process to end by itself; how it ended.
    pub fn wait_exit(&mut self, within: std::time::Duration) -> Option<std::process::ExitStatus> {
        let start = std::time::Instant::now();
        while start.elapsed() < within {
            if let Ok(Some(status)) = self.0.try_wait() {
                return Some(status);
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        None
    }

    /// SIGKILL: no goodbye to anyone.
    pub fn kill(mut self) {
        self.0.kill().expect("kill");
        self.0.wait().expect("reaped");
    }
}

impl Drop for HubProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A free port's address on 127.0.0.1, as `http://127.0.0.1:port`.
pub fn free_address() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    format!("http://127.0.0.1:{port}")
}

/// A page's text without its tags, as a person reads it (roughly).
pub fn without_tags(html: &str) -> String {
    let mut text = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    text
}

/// The hub's side of a TCP connection, as the kernel reports it.
#[derive(Debug)]
pub struct HubSide {
    /// The kernel's state code (1: established).
    pub state: u8,
    /// The client's port.
    pub client_port: u16,
    /// Bytes the hub sent that the client has not taken.
    pub queued: u64,
}

/// The connections of the hub listening on `hub_port` whose clients are
/// at `client_ports`, as long as the kernel holds any of them (in any
/// state: a socket closed with bytes still queued lingers).
///
/// Asked of the kernel's socket diagnostics (IPv4, TCP) with a filter on
/// the hub's port, so the few matching sockets come in one pass over the
/// kernel's table. `/proc/net/tcp` is read a page at a time and resumes by
/// position, so a read taken while other tests open and close connections
/// can skip a socket that was there all along.
pub fn hub_side(hub_port: u16, client_ports: &[u16]) -> Vec<HubSide> {
    sock_diag::tcp_by_local_port(hub_port)
        .into_iter()
        .filter(|side| client_ports.contains(&side.client_port))
        .collect()
}

/// Just enough of the kernel's `NETLINK_SOCK_DIAG` to list TCP sockets by
/// local port (linux/inet_diag.h, linux/sock_diag.h).
mod sock_diag {
    use std::io::{Read, Write};

    use nix::sys::socket::{AddressFamily, SockFlag, SockProtocol, SockType, socket};

    use super::HubSide;

    const SOCK_DIAG_BY_FAMILY: u16 = 20;
    const NLMSG_ERROR: u16 = 2;
    const NLMSG_DONE: u16 = 3;
    const INET_DIAG_REQ_BYTECODE: u16 = 1;
    const INET_DIAG_BC_S_GE: u8 = 2;
    const INET_DIAG_BC_S_LE: u8 = 3;
    /// `struct nlmsghdr`, then `struct inet_diag_req_v2`.
    const HEADER: usize = 16;
    const REQUEST: usize = 56;
    /// `struct inet_diag_msg` up to and including `idiag_wqueue`.
    const REPLY: usize = 4 + 48 + 12;

    /// Every IPv4 TCP socket (any state) whose local port is `port`.
    pub fn tcp_by_local_port(port: u16) -> Vec<HubSide> {
        // A socket reads and writes as a file: one datagram a call.
        let mut socket = std::fs::File::from(
            socket(
                AddressFamily::Netlink,
                SockType::Datagram,
                SockFlag::SOCK_CLOEXEC,
                SockProtocol::NetlinkSockDiag,
            )
            .expect("a sock_diag socket"),
        );
        socket
            .write_all(&request(port))
            .expect("the request to sock_diag");
        let mut found = Vec::new();
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            let got = socket.read(&mut buffer).expect("sock_diag's answer");
            assert!(got > 0, "sock_diag closed without an answer");
            let mut message = &buffer[..got];
            while message.len() >= HEADER {
                let len = u32::from_ne_bytes(message[0..4].try_into().unwrap()) as usize;
                let kind = u16::from_ne_bytes(message[4..6].try_into().unwrap());
                assert!(
                    (HEADER..=message.len()).contains(&len),
                    "a sock_diag message of {len} bytes"
                );
                match kind {
                    NLMSG_DONE => return found,
                    NLMSG_ERROR => {
                        panic!("sock_diag refused the request: {:?}", &message[HEADER..len])
                    }
                    SOCK_DIAG_BY_FAMILY if len >= HEADER + REPLY => {
                        let body = &message[HEADER..len];
                        found.push(HubSide {
                            state: body[1],
                            // `idiag_dport`, in network order.
                            client_port: u16::from_be_bytes([body[6], body[7]]),
                            queued: u32::from_ne_bytes(body[60..64].try_into().unwrap()).into(),
                        });
                    }
                    _ => {}
                }
                message = &message[(len + 3) & !3..];
            }
        }
    }

    /// A dump request for IPv4 TCP sockets in any state, with a filter
    /// (the kernel's bytecode) that keeps those whose local port is `port`:
    /// `port <= sport` then `sport <= port`; a jump past the end rejects.
    fn request(port: u16) -> Vec<u8> {
        let op = |code: u8, yes: u8, no: u16| {
            let mut op = vec![code, yes];
            op.extend(no.to_ne_bytes());
            op
        };
        let mut filter = op(INET_DIAG_BC_S_GE, 8, 20);
        filter.extend(op(0, 0, port));
        filter.extend(op(INET_DIAG_BC_S_LE, 8, 12));
        filter.extend(op(0, 0, port));
        let attribute = 4 + filter.len();
        let total = HEADER + REQUEST + attribute;
        let mut message = Vec::with_capacity(total);
        message.extend((total as u32).to_ne_bytes());
        message.extend(SOCK_DIAG_BY_FAMILY.to_ne_bytes());
        message.extend(((libc::NLM_F_REQUEST | libc::NLM_F_DUMP) as u16).to_ne_bytes());
        message.extend([0u8; 8]); // sequence number and port id
        message.extend([libc::AF_INET as u8, libc::IPPROTO_TCP as u8, 0, 0]);
        message.extend(u32::MAX.to_ne_bytes()); // every state
        message.extend([0u8; 48]); // the socket id: unused by a dump
        message.extend((attribute as u16).to_ne_bytes());
        message.extend(INET_DIAG_REQ_BYTECODE.to_ne_bytes());
        message.extend(filter);
        message
    }
}
