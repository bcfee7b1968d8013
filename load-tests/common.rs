//! What both load generators share: options from the command line, a
//! throwaway database seeded with a venue, and the statistics.

use std::time::Duration;

use cajahub::audit::Actor;
use cajahub::auth::password::Password;
use cajahub::auth::user::{self, Role, UserName};
use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};

/// The user the generators log in as (an ADMIN, so every endpoint is open).
pub const USER: &str = "carga";
pub const PASSWORD: &str = "carga-de-prueba";

#[path = "../tests/api/forms.rs"]
mod forms;
pub use forms::{cookie_of, input_value};

pub const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable";

/// The `--flag value` pairs of the command line, each handed to `apply`,
/// which answers whether it knew the flag. `--help` prints the program's
/// own header (`source`: its file's text, whose `//!` lines say how to run
/// it); an unknown flag is an error that points there.
pub fn parse_flags(source: &str, mut apply: impl FnMut(&str, &str) -> bool) {
    let args: Vec<String> = std::env::args().skip(1).collect();
    for pair in args.chunks(2) {
        if matches!(pair[0].as_str(), "--help" | "-h") {
            println!("{}", header(source));
            std::process::exit(0);
        }
        let value = pair.get(1).map(String::as_str).unwrap_or_default();
        if !apply(&pair[0], value) {
            eprintln!("unknown option {} (--help lists them)", pair[0]);
            std::process::exit(2);
        }
    }
}

/// The `//!` lines a source file starts with, without their marks.
fn header(source: &str) -> String {
    source
        .lines()
        .map_while(|line| line.strip_prefix("//!"))
        .map(|line| line.strip_prefix(' ').unwrap_or(line))
        .collect::<Vec<_>>()
        .join("\n")
}

pub fn number(flag: &str, value: &str) -> usize {
    value
        .parse()
        .unwrap_or_else(|_| panic!("{flag} needs a number"))
}

/// A database created for one run and dropped at its end, holding a venue:
/// `cajas` cajas, each with an open session in an open jornada.
pub struct Venue {
    admin: PgConnection,
    name: String,
    pub url: String,
}

impl Venue {
    /// The venue in a database migrated by `hub` (a hub's binary: each
    /// build its own schema), or by this program's migrations.
    pub fn create(admin_url: &str, cajas: usize, hub: Option<&str>) -> Self {
        let name = format!("cajahub_load_{}", std::process::id());
        let mut admin = PgConnection::establish(admin_url).expect("PostgreSQL answers");
        admin
            .batch_execute(&format!("CREATE DATABASE \"{name}\""))
            .expect("create database");
        let (server, rest) = admin_url.rsplit_once('/').expect("a database URL");
        let query = rest.find('?').map_or("", |at| &rest[at..]);
        let url = format!("{server}/{name}{query}");
        // Owned from here, so a migration or a seed that panics still
        // drops the database on its way out.
        let venue = Self { admin, name, url };
        if let Some(hub) = hub {
            let status = std::process::Command::new(hub)
                .arg("migrate")
                .env("DATABASE_URL", &venue.url)
                .stdout(std::process::Stdio::null())
                .status()
                .unwrap_or_else(|err| panic!("{hub}: {err}"));
            assert!(status.success(), "{hub} migrate failed");
        } else {
            let mut conn = PgConnection::establish(&venue.url).expect("connect");
            cajahub::db::migrations::run_pending(&mut conn).expect("migrate");
        }
        seed(&venue.url, cajas);
        venue
    }

    /// Drops the venue's database now (as dropping the venue does).
    pub fn drop_database(self) {
        drop(self);
    }
}

/// A run that panics unwinds through its venue: no database is left behind.
impl Drop for Venue {
    fn drop(&mut self) {
        let dropped = self.admin.batch_execute(&format!(
            "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
            self.name
        ));
        if let Err(err) = dropped {
            eprintln!("could not drop the venue's database {}: {err}", self.name);
        }
    }
}

fn seed(url: &str, cajas: usize) {
    let mut conn = PgConnection::establish(url).expect("connect");
    let password = Password::parse(PASSWORD.into()).unwrap();
    let admin = user::create(
        &mut conn,
        &Actor::command_line(),
        &UserName::parse(USER).unwrap(),
        Role::Admin,
        &password,
    )
    .expect("user");
    // One user sells on every caja (a simulation): the venue allows it,
    // where the schema has the setting (builds from before it have no rule).
    let mut sql = "DO $$ BEGIN IF to_regclass('venue_settings') IS NOT NULL THEN \
                   UPDATE venue_settings SET one_open_session_per_cashier = false; END IF; END $$;"
        .to_owned();
    sql.push_str(&format!(
        "INSERT INTO jornadas (opened_by) VALUES ({});",
        admin.id
    ));
    for i in 0..cajas {
        sql.push_str(&format!(
            "INSERT INTO pos_registers (name, code) VALUES ('Carga {i}', 'CARGA-{i}');
             INSERT INTO register_sessions (register_id, jornada_id, opened_by, initial_cash)
                 SELECT id, (SELECT id FROM jornadas), {}, 0 FROM pos_registers WHERE code = 'CARGA-{i}';",
            admin.id
        ));
    }
    conn.batch_execute(&sql).expect("seed");
}

pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

pub fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values[values.len() / 2]
}

/// Logs in like a browser and returns the session cookie.
pub async fn session_cookie(base: &str) -> String {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = client.get(format!("{base}/login")).send().await.unwrap();
    let anonymous = cookie_of(&page).expect("a session cookie");
    let html = page.text().await.unwrap();
    let token = input_value(&html, "csrf_token").expect("a CSRF token on the login page");
    let response = client
        .post(format!("{base}/login"))
        .header("cookie", anonymous)
        .form(&[("csrf_token", token), ("name", USER), ("secret", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303, "logged in");
    cookie_of(&response).expect("a session cookie")
}
