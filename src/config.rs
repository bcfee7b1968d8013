//! Runtime configuration, read from command-line flags and the environment.

use std::net::SocketAddr;
use std::path::PathBuf;

/// Everything the hub needs to know at start. Every flag has an environment
/// variable of the same meaning, so a service file needs no arguments.
#[derive(clap::Args, Debug, Clone)]
pub struct Settings {
    /// Address the HTTP server listens on.
    #[arg(
        long,
        env = "CAJAHUB_BIND",
        default_value = "127.0.0.1:8080",
        global = true
    )]
    pub bind: SocketAddr,

    /// PostgreSQL connection URL. Without one the hub uses a local PostgreSQL
    /// at 127.0.0.1:5432, or a private cluster under the data directory.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true, global = true)]
    pub database_url: Option<String>,

    /// Maximum number of pooled database connections.
    #[arg(long, env = "CAJAHUB_POOL_SIZE", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..=200), global = true)]
    pub pool_size: u32,

    /// Where the hub keeps its own files (the private PostgreSQL cluster).
    #[arg(long, env = "CAJAHUB_DATA_DIR", default_value = "var", global = true)]
    pub data_dir: PathBuf,

    /// Log filter, e.g. `info` or `cajahub=debug,actix_web=info`.
    #[arg(long, env = "CAJAHUB_LOG", default_value = "info", global = true)]
    pub log_level: String,

    /// Log as JSON lines (for a log collector) instead of human-readable text.
    #[arg(long, env = "CAJAHUB_LOG_JSON", global = true)]
    pub log_json: bool,
}

impl Settings {
    /// Settings for a hub that owns no port yet and talks to `database_url`;
    /// what tests and tools start from.
    pub fn for_database(database_url: impl Into<String>) -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            database_url: Some(database_url.into()),
            pool_size: 4,
            data_dir: PathBuf::from("var"),
            log_level: "info".into(),
            log_json: false,
        }
    }
}
