//! PostgreSQL's client programs (`pg_dump`, `pg_restore`) of a version that
//! can handle the server, and the server a database URL points at.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use diesel::dsl::sql;
use diesel::sql_types::Text;
use diesel::{Connection, PgConnection, RunQueryDsl, select};

use super::BackupError;

/// One database on one server, as the client programs are given it: the
/// password goes in the environment, never on a command line `ps` shows.
#[derive(Debug, Clone)]
pub struct Target {
    url: url::Url,
}

impl Target {
    pub fn parse(raw: &str) -> Result<Self, BackupError> {
        let url = url::Url::parse(raw).map_err(|err| BackupError::BadUrl(err.to_string()))?;
        if !matches!(url.scheme(), "postgres" | "postgresql") {
            return Err(BackupError::BadUrl(format!(
                "it should start with postgres://, not {}://",
                url.scheme()
            )));
        }
        let target = Self { url };
        if target.database().is_empty() {
            return Err(BackupError::BadUrl("it names no database".into()));
        }
        Ok(target)
    }

    /// The database's name (percent-decoded).
    pub fn database(&self) -> String {
        let name = self.url.path().trim_start_matches('/');
        percent_decode(name)
    }

    /// The same server, another database.
    pub fn with_database(&self, name: &str) -> Self {
        let mut url = self.url.clone();
        url.set_path(&format!("/{}", percent_encode(name)));
        Self { url }
    }

    /// The full URL, password included, for this process's own connections.
    pub fn url(&self) -> String {
        self.url.to_string()
    }

    /// The URL without its password, for the client programs' command line.
    fn url_without_password(&self) -> String {
        let mut url = self.url.clone();
        let _ = url.set_password(None);
        url.to_string()
    }

    pub fn connect(&self) -> Result<PgConnection, BackupError> {
        PgConnection::establish(&self.url()).map_err(|err| BackupError::Connect {
            database: self.database(),
            detail: err.to_string(),
        })
    }

    /// Runs a client program against this database: `--dbname` and the
    /// password set, then `args`.
    pub fn run(&self, program: &Path, args: &[&std::ffi::OsStr]) -> std::io::Result<Output> {
        let mut command = Command::new(program);
        command
            .arg(format!("--dbname={}", self.url_without_password()))
            .args(args);
        if let Some(password) = self.url.password() {
            command.env("PGPASSWORD", percent_decode(password));
        }
        command.output()
    }
}

/// The server's major version (15 for 15.20).
pub fn server_major(conn: &mut PgConnection) -> Result<u32, BackupError> {
    let number: String = select(sql::<Text>("current_setting('server_version_num')"))
        .get_result(conn)
        .map_err(|err| BackupError::Query(err.to_string()))?;
    number
        .trim()
        .parse::<u32>()
        .map(|n| n / 10_000)
        .map_err(|_| BackupError::Query(format!("server_version_num {number}")))
}

/// A client program of major version `server_major` or newer (older ones
/// refuse a newer server): `--pg-bin` when given, else Debian's versioned
/// folders (the newest), else `PATH`.
pub fn program(
    name: &str,
    server_major: u32,
    pg_bin: Option<&Path>,
) -> Result<PathBuf, BackupError> {
    let candidates: Vec<PathBuf> = match pg_bin {
        Some(dir) => vec![dir.join(name)],
        None => crate::db::local::program_folders()
            .into_iter()
            .map(|dir| dir.join(name))
            .collect(),
    };
    let mut too_old = None;
    for candidate in candidates.into_iter().filter(|p| p.is_file()) {
        match major_of(&candidate) {
            Some(major) if major >= server_major => return Ok(candidate),
            Some(major) => too_old = too_old.or(Some((candidate, major))),
            None => {}
        }
    }
    match too_old {
        Some((path, major)) => Err(BackupError::ProgramTooOld {
            program: name.to_owned(),
            path,
            major,
            server_major,
        }),
        None => Err(BackupError::ProgramMissing {
            program: name.to_owned(),
            server_major,
        }),
    }
}

/// The major version a program reports: "pg_dump (PostgreSQL) 15.20 (Debian …)" → 15.
fn major_of(program: &Path) -> Option<u32> {
    let output = Command::new(program).arg("--version").output().ok()?;
    parse_major(&String::from_utf8_lossy(&output.stdout))
}

fn parse_major(version: &str) -> Option<u32> {
    let number = version.split(") ").nth(1)?.split_whitespace().next()?;
    number.split(['.', 'b', 'r']).next()?.parse().ok()
}

fn percent_decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8_lossy()
        .into_owned()
}

/// What a database name keeps as it is in a URL's path.
const NAME_IN_PATH: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'_')
    .remove(b'-')
    .remove(b'.');

fn percent_encode(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, NAME_IN_PATH).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_read_as_the_programs_print_them() {
        assert_eq!(
            parse_major("pg_dump (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)\n"),
            Some(15)
        );
        assert_eq!(parse_major("pg_restore (PostgreSQL) 17.2\n"), Some(17));
        assert_eq!(parse_major("pg_dump (PostgreSQL) 18beta1\n"), Some(18));
        assert_eq!(parse_major("something else"), None);
    }

    #[test]
    fn the_password_stays_off_the_command_line() {
        let target =
            Target::parse("postgres://app:s%40cret@db.local:5433/bimba_db?sslmode=disable")
                .unwrap();
        assert_eq!(target.database(), "bimba_db");
        assert!(!target.url_without_password().contains("cret"));
        assert!(
            target
                .url_without_password()
                .contains("app@db.local:5433/bimba_db?sslmode=disable")
        );
        assert_eq!(target.with_database("postgres").database(), "postgres");
        assert!(target.with_database("postgres").url().contains("s%40cret"));
        assert!(Target::parse("mysql://x/y").is_err());
        assert!(Target::parse("postgres://x/").is_err());
    }

    /// The embedded defaults name a Unix socket's folder as the host
    /// (`db::local`): another database on the same socket keeps it.
    #[test]
    fn a_socket_folder_as_the_host_is_kept() {
        let target =
            Target::parse("postgres://postgres@%2Fvar%2Frun%2Fpostgresql:5432/cajahub").unwrap();
        assert_eq!(target.database(), "cajahub");
        assert_eq!(
            target.with_database("postgres").url(),
            "postgres://postgres@%2Fvar%2Frun%2Fpostgresql:5432/postgres"
        );
    }
}
