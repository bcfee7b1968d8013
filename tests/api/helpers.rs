//! A throwaway database per test, and the real app bound to a free port.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::Path;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

use cajahub::config::Settings;
use cajahub::startup::Application;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

/// The server the tests run against; `TEST_DATABASE_URL` overrides it. The
/// URL's own database is only used to create and drop the test databases.
pub fn admin_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string())
}

fn url_for(database: &str) -> String {
    let admin = admin_url();
    let (server, _) = admin
        .rsplit_once('/')
        .expect("TEST_DATABASE_URL has a database name");
    format!("{server}/{database}")
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
        let mut conn = admin_connection();
        // Serialises template building between test processes.
        diesel::sql_query("SELECT pg_advisory_lock($1)")
            .bind::<BigInt, _>(0x7465_7374_7470_6c00_i64)
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
            .bind::<BigInt, _>(0x7465_7374_7470_6c00_i64)
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

/// Drops the test databases of runs that died before cleaning up, and
/// templates of older migrations.
fn sweep_stale(conn: &mut PgConnection) {
    #[derive(QueryableByName)]
    struct Db {
        #[diesel(sql_type = Text)]
        datname: String,
    }
    let current = format!("cajahub_tpl_{:016x}", migrations_hash());
    let databases: Vec<Db> = diesel::sql_query(
        "SELECT datname FROM pg_database WHERE datname LIKE 'cajahub\\_test\\_%' OR datname LIKE 'cajahub\\_tpl\\_%'",
    )
    .load(conn)
    .expect("list databases");
    for Db { datname } in databases {
        let stale = match datname.strip_prefix(TEST_PREFIX) {
            Some(rest) => {
                let pid = rest.split('_').next().unwrap_or_default();
                !Path::new(&format!("/proc/{pid}")).exists()
            }
            None => datname != current,
        };
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
        Self { name }
    }

    /// A database with nothing in it.
    pub fn empty() -> Self {
        let name = Self::new_name();
        exec(
            &mut admin_connection(),
            &format!("CREATE DATABASE \"{name}\""),
        );
        Self { name }
    }

    pub fn url(&self) -> String {
        url_for(&self.name)
    }

    pub fn connect(&self) -> PgConnection {
        PgConnection::establish(&self.url()).expect("connect to the test database")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Ok(mut conn) = PgConnection::establish(&admin_url()) {
            let _ = diesel::sql_query(format!(
                "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                self.name
            ))
            .execute(&mut conn);
        }
    }
}

/// The real application, serving on a free port of 127.0.0.1.
pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub db: TestDb,
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_on(TestDb::migrated()).await
    }

    pub async fn spawn_on(db: TestDb) -> Self {
        cajahub::telemetry::init("warn", false);
        let settings = Settings::for_database(db.url());
        let app = Application::build(&settings, &db.url())
            .await
            .expect("the application starts");
        let address = format!("http://{}", app.address());
        actix_web::rt::spawn(app.run_until_stopped());
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("http client");
        Self {
            address,
            client,
            db,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.expect("GET")
    }

    pub async fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .form(fields)
            .send()
            .await
            .expect("POST")
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
