//! The database the hub runs on when no `DATABASE_URL` is given: the local
//! PostgreSQL at 127.0.0.1:5432 when one answers, or else a private cluster
//! under the data directory that lives exactly as long as the hub. Either
//! is reached over its Unix socket where it has one the hub may use: on
//! the same machine TCP only adds the kernel's work on both sides
//! (docs/configuration.md, "The database on this machine").

use std::ffi::OsStr;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use diesel::dsl::sql;
use diesel::sql_types::{Bool, Text};
use diesel::{Connection, PgConnection, RunQueryDsl, select};
use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use nix::unistd::{Uid, User, chown};

/// Where a PostgreSQL installed on the machine listens.
pub const LOCAL_SERVER: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 5432);
/// The database the hub creates and uses on a server it finds by itself.
pub const DATABASE_NAME: &str = "cajahub";
/// TLS adds nothing on the loopback interface.
const LOOPBACK_SSL: &str = "disable";
/// PostgreSQL refuses to run as root; the private cluster runs as this user.
const UNPRIVILEGED_USER: &str = "postgres";
/// Where an installed server keeps its socket: Debian's folder, then the
/// default of PostgreSQL's own build.
const SOCKET_FOLDERS: [&str; 2] = ["/var/run/postgresql", "/tmp"];
/// The longest path a Unix socket may have (`sun_path`, less its NUL).
const SOCKET_PATH_MAX: usize = 107;

#[derive(Debug, thiserror::Error)]
pub enum LocalDbError {
    #[error(
        "DATABASE_URL {0} names no database: add it after the server (postgres://user@host:5432/cajahub), \
         or the hub would use the server's maintenance database"
    )]
    NoDatabaseName(String),
    #[error(
        "PostgreSQL answers at {server} but cajahub cannot use it ({detail}); \
         set DATABASE_URL to a database it may use"
    )]
    Unusable { server: SocketAddr, detail: String },
    #[error(
        "no PostgreSQL answers at {LOCAL_SERVER} and its server programs (initdb, pg_ctl) \
         are not installed: install PostgreSQL (on Debian: apt-get install postgresql) \
         or set DATABASE_URL"
    )]
    NotInstalled,
    #[error(
        "cajahub runs as root and PostgreSQL refuses to; create the system user \
         '{UNPRIVILEGED_USER}' (it comes with Debian's postgresql package) or set DATABASE_URL"
    )]
    NoUnprivilegedUser,
    #[error(
        "the data folder {dir} is inside {blocked}, which PostgreSQL's user '{UNPRIVILEGED_USER}' \
         cannot enter: give cajahub a data folder outside it (--data-dir /var/lib/cajahub) or set DATABASE_URL"
    )]
    Unreachable { dir: PathBuf, blocked: PathBuf },
    #[error("the private PostgreSQL cluster in {dir} could not {step}: {detail}")]
    Cluster {
        dir: PathBuf,
        step: &'static str,
        detail: String,
    },
}

/// The database the hub was pointed at or found. A private cluster is
/// stopped when this is dropped.
#[derive(Debug)]
pub enum Database {
    Url(String),
    Private(PrivateCluster),
}

impl Database {
    /// `DATABASE_URL` when set; otherwise the local server; otherwise a
    /// private cluster under `<data dir>/pg`.
    pub fn resolve(database_url: Option<&str>, data_dir: &Path) -> Result<Self, LocalDbError> {
        match database_url {
            Some(url) if names_no_database(url) => {
                Err(LocalDbError::NoDatabaseName(without_password(url)))
            }
            Some(url) => Ok(Database::Url(
                super::on_this_machine::without_tls_when_local(url),
            )),
            None => Self::local(LOCAL_SERVER, &data_dir.join("pg")),
        }
    }

    /// The server at `server` when one answers; else a private cluster in `cluster_dir`.
    pub fn local(server: SocketAddr, cluster_dir: &Path) -> Result<Self, LocalDbError> {
        if TcpStream::connect_timeout(&server, Duration::from_secs(1)).is_ok() {
            let admin_url = loopback_url(server, "postgres");
            match ensure_database(&admin_url) {
                Ok(()) => {
                    let tcp = loopback_url(server, DATABASE_NAME);
                    let url = same_server_over_a_socket(&tcp, server.port()).unwrap_or(tcp);
                    tracing::info!(%server, database = DATABASE_NAME, via = %describe_url(&url), "using the local PostgreSQL");
                    return Ok(Database::Url(url));
                }
                // Debian's own setting: a password on TCP. Without one the hub
                // cannot log in, so it runs on a cluster of its own instead.
                Err(detail) if asks_for_password(&detail) => tracing::info!(
                    %server,
                    "the PostgreSQL at {server} asks for a password (set DATABASE_URL to use it); \
                     using a private cluster under {} instead",
                    cluster_dir.display()
                ),
                Err(detail) => return Err(LocalDbError::Unusable { server, detail }),
            }
        } else {
            tracing::info!(%server, "no PostgreSQL answers; starting a private cluster");
        }
        PrivateCluster::start(cluster_dir).map(Database::Private)
    }

    pub fn url(&self) -> String {
        match self {
            Database::Url(url) => url.clone(),
            Database::Private(cluster) => cluster.url(),
        }
    }

    /// Which database, for a person: server, port and name, never the
    /// password ("127.0.0.1:5432/bimba_db", "a private cluster in var/pg
    /// (127.0.0.1:5544/cajahub)").
    pub fn describe(&self) -> String {
        match self {
            Database::Url(url) => describe_url(url),
            Database::Private(cluster) => format!(
                "a private cluster in {} ({})",
                cluster.dir.display(),
                describe_url(&cluster.url())
            ),
        }
    }
}

/// "host:port/name" of a PostgreSQL URL or `key=value` string; a Unix
/// socket's folder as its host. Read by hand: libpq's URLs are not all
/// URLs to the `url` crate (`postgresql://app@/db?host=/run/postgresql`,
/// a user and a socket, has an empty host it refuses).
fn describe_url(raw: &str) -> String {
    let value = |key: &str| super::on_this_machine::parameter(raw, key);
    let Some((_, rest)) = raw.split_once("://") else {
        return format!(
            "{}:{}/{}",
            value("host").as_deref().unwrap_or("localhost"),
            value("port").as_deref().unwrap_or("5432"),
            value("dbname").as_deref().unwrap_or("?")
        );
    };
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let name = path.split_once('?').map_or(path, |(name, _)| name);
    let server = authority
        .rsplit_once('@')
        .map_or(authority, |(_, server)| server);
    let (host, port) = match server.rsplit_once(':') {
        Some((host, port)) if !port.contains(']') => (host, port),
        _ => (server, "5432"),
    };
    let decode = |text: &str| {
        percent_encoding::percent_decode_str(text)
            .decode_utf8_lossy()
            .into_owned()
    };
    let host = value("host").unwrap_or_else(|| match host {
        "" => "localhost".to_owned(),
        host => decode(host),
    });
    format!("{host}:{port}/{}", decode(name))
}

/// Whether a login was refused for want of a password (scram-sha-256 or
/// md5 in `pg_hba.conf`), as opposed to any other failure.
fn asks_for_password(detail: &str) -> bool {
    ["no password supplied", "password authentication failed"]
        .iter()
        .any(|m| detail.contains(m))
}

/// The URL of `database`, as `postgres`, on the server at `server` (TCP
/// on this machine: no TLS).
fn loopback_url(server: SocketAddr, database: &str) -> String {
    format!("postgres://postgres@{server}/{database}?sslmode={LOOPBACK_SSL}")
}

/// The socket a server listening at `port` makes in `folder`.
fn socket_file(folder: &Path, port: u16) -> PathBuf {
    folder.join(format!(".s.PGSQL.{port}"))
}

/// The URL of `database` on the server whose socket is in `folder` at
/// `port`, when that socket's path fits in a socket address.
fn socket_url(folder: &Path, port: u16, database: &str) -> Option<String> {
    let socket = socket_file(folder, port);
    let folder = folder.to_str()?;
    (socket.as_os_str().len() <= SOCKET_PATH_MAX).then(|| {
        let host =
            percent_encoding::utf8_percent_encode(folder, percent_encoding::NON_ALPHANUMERIC);
        format!("postgres://postgres@{host}:{port}/{database}")
    })
}

/// `tcp`'s database over the server's Unix socket, when the server has one
/// in a usual folder, the hub may log in on it (Debian asks the socket for
/// `peer`: the system user's own name), and it is the same server: a
/// socket with the same port number could belong to another one.
fn same_server_over_a_socket(tcp: &str, port: u16) -> Option<String> {
    let expected = system_identifier(tcp)?;
    SOCKET_FOLDERS.iter().find_map(|folder| {
        let folder = Path::new(folder);
        if !socket_file(folder, port).exists() {
            return None;
        }
        let url = socket_url(folder, port, DATABASE_NAME)?;
        match system_identifier(&url) {
            Some(found) if found == expected => Some(url),
            found => {
                tracing::info!(
                    folder = %folder.display(),
                    "the socket there is {}; using TCP",
                    if found.is_some() { "another server's" } else { "not open to the hub" }
                );
                None
            }
        }
    })
}

/// The server's own identity, fixed when its cluster was made.
fn system_identifier(url: &str) -> Option<String> {
    let mut conn = PgConnection::establish(url).ok()?;
    select(sql::<Text>(
        "(SELECT system_identifier::text FROM pg_control_system())",
    ))
    .get_result(&mut conn)
    .ok()
}

/// Creates the hub's database on the server behind `admin_url` if missing.
fn ensure_database(admin_url: &str) -> Result<(), String> {
    let mut conn = PgConnection::establish(admin_url).map_err(|err| err.to_string())?;
    let exists = select(sql::<Bool>(&format!(
        "EXISTS (SELECT 1 FROM pg_database WHERE datname = '{DATABASE_NAME}')"
    )))
    .get_result::<bool>(&mut conn)
    .map_err(|err| err.to_string())?;
    if exists {
        return Ok(());
    }
    match diesel::sql_query(format!("CREATE DATABASE \"{DATABASE_NAME}\"")).execute(&mut conn) {
        Ok(_) => Ok(()),
        // Another hub starting at the same moment created it first.
        Err(err) if err.to_string().contains("already exists") => Ok(()),
        Err(err) => Err(err.to_string()),
    }
}

/// A PostgreSQL cluster of the hub's own, started on a free port of
/// 127.0.0.1 and on a Unix socket in its folder (where the folder's path
/// allows one), and stopped on drop.
#[derive(Debug)]
pub struct PrivateCluster {
    dir: PathBuf,
    bin: PathBuf,
    port: u16,
    /// Whether it listens on a socket in `dir`, which its URL then names.
    socket: bool,
    owner: Option<User>,
    /// Started by this process, and stopped when it is dropped.
    running: bool,
    /// Held while this process owns the cluster; `None` when it uses a
    /// cluster another cajahub runs.
    owner_lock: Option<Flock<std::fs::File>>,
}

impl PrivateCluster {
    /// Creates the cluster in `dir` on first use, then starts it.
    pub fn start(dir: &Path) -> Result<Self, LocalDbError> {
        let bin = server_programs().ok_or(LocalDbError::NotInstalled)?;
        let fail = |step, detail: String| LocalDbError::Cluster {
            dir: dir.to_path_buf(),
            step,
            detail,
        };
        std::fs::create_dir_all(dir).map_err(|err| fail("be created", err.to_string()))?;
        let dir = dir
            .canonicalize()
            .map_err(|err| fail("be found", err.to_string()))?;
        let owner = if Uid::effective().is_root() {
            let user = User::from_name(UNPRIVILEGED_USER)
                .ok()
                .flatten()
                .ok_or(LocalDbError::NoUnprivilegedUser)?;
            if let Some(blocked) = closed_to(&dir, &user) {
                return Err(LocalDbError::Unreachable {
                    dir: dir.clone(),
                    blocked,
                });
            }
            chown(&dir, Some(user.uid), Some(user.gid))
                .map_err(|err| fail("be given to the postgres user", err.to_string()))?;
            Some(user)
        } else {
            None
        };
        // The hub that started the cluster holds this lock as long as it
        // lives (the kernel lets go of it even on kill -9). Another cajahub
        // (`user add`, `backup`) finding it held uses the running cluster and
        // leaves it to its owner.
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join("owner.lock"))
            .map_err(|err| fail("be locked", err.to_string()))?;
        let port_file = dir.join("port");
        let owner_lock = match Flock::lock(lock, FlockArg::LockExclusiveNonblock) {
            Ok(lock) => lock,
            Err((_, Errno::EWOULDBLOCK)) => return Self::attach(dir, bin, owner, &port_file),
            Err((_, err)) => return Err(fail("be locked", err.to_string())),
        };
        // The same port as last time when it is free, so the cluster's URL
        // stays the same across restarts.
        let port = std::fs::read_to_string(&port_file)
            .ok()
            .and_then(|text| text.trim().parse::<u16>().ok())
            .filter(|port| TcpListener::bind((Ipv4Addr::LOCALHOST, *port)).is_ok());
        let port = match port {
            Some(port) => port,
            None => free_port().map_err(|err| fail("find a free port", err.to_string()))?,
        };
        std::fs::write(&port_file, port.to_string())
            .map_err(|err| fail("keep its port", err.to_string()))?;
        let mut cluster = PrivateCluster {
            dir,
            bin,
            port,
            socket: false,
            owner,
            running: false,
            owner_lock: Some(owner_lock),
        };
        let data = cluster.data_dir();
        if !data.join("PG_VERSION").exists() {
            cluster
                .run(
                    "initdb",
                    [
                        OsStr::new("--pgdata"),
                        data.as_os_str(),
                        OsStr::new("--username=postgres"),
                        OsStr::new("--auth=trust"),
                        OsStr::new("--encoding=UTF8"),
                        OsStr::new("--locale=C"),
                        OsStr::new("--no-instructions"),
                    ],
                )
                .map_err(|detail| fail("be created (initdb)", detail))?;
        }
        if data.join("postmaster.pid").exists() {
            // Left running by a hub that did not stop cleanly.
            let _ = cluster.pg_ctl_stop();
        }
        // The folder goes through pg_ctl's shell and PostgreSQL's list of
        // folders unquoted: one with other characters gets no socket.
        let socket_folder = cluster
            .dir
            .to_str()
            .filter(|dir| {
                plain_path(dir) && socket_url(&cluster.dir, port, DATABASE_NAME).is_some()
            })
            .unwrap_or("");
        let options = format!(
            "-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='{socket_folder}'"
        );
        let log = cluster.dir.join("postgresql.log");
        cluster
            .run(
                "pg_ctl",
                [
                    OsStr::new("start"),
                    OsStr::new("--pgdata"),
                    data.as_os_str(),
                    OsStr::new("--wait"),
                    OsStr::new("--timeout=60"),
                    OsStr::new("--log"),
                    log.as_os_str(),
                    OsStr::new("-o"),
                    OsStr::new(&options),
                ],
            )
            .map_err(|detail| fail("start (pg_ctl)", detail))?;
        cluster.running = true;
        cluster.socket = !socket_folder.is_empty() && cluster.has_socket();
        ensure_database(&loopback_url(cluster.address(), "postgres"))
            .map_err(|detail| fail("create its database", detail))?;
        tracing::info!(dir = %cluster.dir.display(), port, "private PostgreSQL cluster started");
        Ok(cluster)
    }

    /// The cluster a running hub owns, used as it is (never stopped here).
    fn attach(
        dir: PathBuf,
        bin: PathBuf,
        owner: Option<User>,
        port_file: &Path,
    ) -> Result<Self, LocalDbError> {
        let port = std::fs::read_to_string(port_file)
            .ok()
            .and_then(|text| text.trim().parse::<u16>().ok())
            .ok_or_else(|| LocalDbError::Cluster {
                dir: dir.clone(),
                step: "be used while another cajahub starts it",
                detail: "its port is not known yet; try again in a moment".into(),
            })?;
        let mut cluster = PrivateCluster {
            dir,
            bin,
            port,
            socket: false,
            owner,
            running: false,
            owner_lock: None,
        };
        cluster.socket = cluster.has_socket();
        ensure_database(&loopback_url(cluster.address(), "postgres")).map_err(|detail| {
            LocalDbError::Cluster {
                dir: cluster.dir.clone(),
                step: "be used while another cajahub runs it",
                detail,
            }
        })?;
        tracing::info!(dir = %cluster.dir.display(), port, "using the private PostgreSQL cluster a running cajahub owns");
        Ok(cluster)
    }

    pub fn url(&self) -> String {
        self.socket
            .then(|| socket_url(&self.dir, self.port, DATABASE_NAME))
            .flatten()
            .unwrap_or_else(|| loopback_url(self.address(), DATABASE_NAME))
    }

    /// Where it listens on TCP (tools that need an address).
    pub fn address(&self) -> SocketAddr {
        SocketAddr::new(Ipv4Addr::LOCALHOST.into(), self.port)
    }

    /// Whether the cluster's socket is in its folder.
    fn has_socket(&self) -> bool {
        socket_url(&self.dir, self.port, DATABASE_NAME).is_some()
            && socket_file(&self.dir, self.port).exists()
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// Stops the cluster (fast shutdown: open connections are ended).
    pub fn stop(&mut self) -> Result<(), String> {
        if !self.running {
            return Ok(());
        }
        self.running = false;
        self.pg_ctl_stop()?;
        // No longer this process's to run: the next cajahub may own it.
        self.owner_lock = None;
        tracing::info!(dir = %self.dir.display(), "private PostgreSQL cluster stopped");
        Ok(())
    }

    /// Stops the cluster as a crash would (`--mode=immediate`: no
    /// shutdown checkpoint, recovery at the next start); for tests.
    pub fn crash(&mut self) -> Result<(), String> {
        self.running = false;
        let stopped = self.pg_ctl_stop_mode("immediate");
        self.owner_lock = None;
        stopped
    }

    fn pg_ctl_stop(&self) -> Result<(), String> {
        self.pg_ctl_stop_mode("fast")
    }

    fn pg_ctl_stop_mode(&self, mode: &str) -> Result<(), String> {
        let data = self.data_dir();
        let mode = format!("--mode={mode}");
        self.run(
            "pg_ctl",
            [
                OsStr::new("stop"),
                OsStr::new("--pgdata"),
                data.as_os_str(),
                OsStr::new(&mode),
                OsStr::new("--wait"),
            ],
        )
    }

    /// Runs one of PostgreSQL's programs, as the unprivileged owner when the
    /// hub is root; on failure returns what it printed.
    fn run<'a>(
        &self,
        program: &str,
        args: impl IntoIterator<Item = &'a OsStr>,
    ) -> Result<(), String> {
        let mut command = Command::new(self.bin.join(program));
        command.args(args).current_dir(&self.dir);
        if let Some(owner) = &self.owner {
            command.uid(owner.uid.as_raw()).gid(owner.gid.as_raw());
            command.env("HOME", &self.dir);
        }
        let output = command
            .output()
            .map_err(|err| format!("{program}: {err}"))?;
        if output.status.success() {
            Ok(())
        } else {
            let mut detail = String::from_utf8_lossy(&output.stderr).trim().to_string();
            if detail.is_empty() {
                detail = String::from_utf8_lossy(&output.stdout).trim().to_string();
            }
            if self.owner.is_some() {
                detail.push_str(" (the folder must be reachable by the user 'postgres')");
            }
            Err(format!("{program} exited with {}: {detail}", output.status))
        }
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        if let Err(err) = self.stop() {
            tracing::error!(error = %err, "could not stop the private PostgreSQL cluster");
        }
    }
}

/// Where PostgreSQL's programs may be, in the order to look: Debian's
/// versioned folders (`/usr/lib/postgresql/<major>/bin`, newest first),
/// then the folders of `PATH`.
pub fn program_folders() -> Vec<PathBuf> {
    let mut debian: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            Some((version, entry.path().join("bin")))
        })
        .collect();
    debian.sort_by_key(|(version, _)| std::cmp::Reverse(*version));
    let path = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default();
    debian.into_iter().map(|(_, bin)| bin).chain(path).collect()
}

/// The first folder holding both `initdb` and `pg_ctl`.
fn server_programs() -> Option<PathBuf> {
    program_folders()
        .into_iter()
        .find(|dir| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file())
}

/// The first folder above `dir` that `user` may not enter (a clone under
/// `/root`, mode 700): PostgreSQL running as `user` could not reach `dir`.
fn closed_to(dir: &Path, user: &User) -> Option<PathBuf> {
    use std::os::unix::fs::MetadataExt;
    dir.ancestors().skip(1).find_map(|folder| {
        let meta = std::fs::metadata(folder).ok()?;
        let mode = meta.mode();
        let may_enter = if meta.uid() == user.uid.as_raw() {
            mode & 0o100 != 0
        } else if meta.gid() == user.gid.as_raw() {
            mode & 0o010 != 0
        } else {
            mode & 0o001 != 0
        };
        (!may_enter).then(|| folder.to_path_buf())
    })
}

/// Whether this machine can run a private cluster at all.
pub fn server_programs_installed() -> bool {
    server_programs().is_some()
}

/// A path of letters, digits, `/`, `.`, `_` and `-` only: safe on a
/// command line and in a list of PostgreSQL's.
fn plain_path(path: &str) -> bool {
    path.chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '.' | '_' | '-'))
}

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}

/// A `postgres://` URL with nothing after the server: libpq would connect
/// to the user's (or the maintenance) database, never the hub's.
fn names_no_database(raw: &str) -> bool {
    match url::Url::parse(raw) {
        Ok(url) if matches!(url.scheme(), "postgres" | "postgresql") => {
            url.path().trim_start_matches('/').is_empty()
        }
        // A key=value connection string (`host=… dbname=…`) is libpq's to read.
        _ => false,
    }
}

/// The URL as it may be printed: without its password.
fn without_password(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut url) => {
            if url.password().is_some() {
                let _ = url.set_password(Some("***"));
            }
            url.to_string()
        }
        Err(_) => "(unreadable)".to_owned(),
    }
}

#[cfg(test)]
mod url_tests {
    use super::*;

    #[test]
    fn a_url_must_name_its_database() {
        for (url, none) in [
            ("postgres://postgres@127.0.0.1:5432", true),
            ("postgres://postgres@127.0.0.1:5432/", true),
            ("postgresql://u:p@db/?sslmode=disable", true),
            ("postgres://postgres@127.0.0.1:5432/cajahub", false),
            ("host=127.0.0.1 dbname=cajahub", false),
        ] {
            assert_eq!(names_no_database(url), none, "{url}");
        }
        assert_eq!(
            without_password("postgresql://u:secret@db/"),
            "postgresql://u:***@db/"
        );
    }

    #[test]
    fn a_database_is_described_without_its_password() {
        for (url, said) in [
            (
                "postgres://app:secret@10.0.0.5/bimba_db",
                "10.0.0.5:5432/bimba_db",
            ),
            (
                "postgres://app:secret@db:6543/caja%20hub?sslmode=require",
                "db:6543/caja hub",
            ),
            (
                "postgres://app@/bimba_db?host=/var/run/postgresql",
                "/var/run/postgresql:5432/bimba_db",
            ),
            (
                "host=127.0.0.1 port=5433 dbname=cajahub password=secret",
                "127.0.0.1:5433/cajahub",
            ),
            (
                "postgres://postgres@%2Fvar%2Flib%2Fcajahub%2Fpg:5544/cajahub",
                "/var/lib/cajahub/pg:5544/cajahub",
            ),
        ] {
            let described = Database::Url(url.to_owned()).describe();
            assert_eq!(described, said);
            assert!(!described.contains("secret"));
        }
    }

    /// The embedded defaults' socket URL: libpq's form of a folder as the
    /// host (the backup reads it too: `backup::tools`); a path too long for
    /// a socket address, or one a command line would split, gets none.
    #[test]
    fn a_socket_is_named_by_its_folder_when_it_fits() {
        let url = socket_url(Path::new("/var/run/postgresql"), 5432, "cajahub").unwrap();
        assert_eq!(
            url,
            "postgres://postgres@%2Fvar%2Frun%2Fpostgresql:5432/cajahub"
        );

        let deep = format!("/srv/{}", "carpeta/".repeat(12));
        assert!(deep.len() + ".s.PGSQL.5432".len() > SOCKET_PATH_MAX);
        assert_eq!(socket_url(Path::new(&deep), 5432, "cajahub"), None);

        assert!(plain_path("/var/lib/cajahub-2/pg_1.d"));
        assert!(!plain_path("/home/ana/mis datos/pg"));
        assert!(!plain_path("/srv/caja's/pg"));
    }
}
