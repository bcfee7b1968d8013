//! The command line: `serve` (the default) runs the hub, `migrate` brings the
//! database schema up to date and exits.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use diesel::{Connection, PgConnection};

use crate::auth::cli::UserCommand;
use crate::backup;
use crate::config::Settings;
use crate::db::{local::Database, migrations};
use crate::startup::Application;
use crate::telemetry;

#[derive(Parser, Debug)]
#[command(
    name = "cajahub",
    version,
    about = "Real-time hub for a venue's cash registers"
)]
struct Cli {
    #[command(flatten)]
    settings: Settings,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug, Clone)]
enum Command {
    /// Run the hub (the default).
    Serve,
    /// Apply pending database migrations, print them and exit.
    Migrate,
    /// Back the database up (pg_dump -F c) into a checked
    /// backup_cajahub_YYYYmmdd_HHMMSS.dump and print its path and size.
    Backup {
        /// The folder the backup is written to.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        /// The folder of PostgreSQL's client programs (found by itself otherwise).
        #[arg(long)]
        pg_bin: Option<PathBuf>,
    },
    /// Restore a backup into the database (created if missing): into a new
    /// database first, swapped in when complete; a cajahub backup is then
    /// migrated, one from before cajahub is left exactly as it was.
    Restore {
        /// The backup (a pg_dump -F c file).
        file: PathBuf,
        /// Restore into this database (on the same server) instead of DATABASE_URL's.
        #[arg(long)]
        into: Option<String>,
        /// Restore over a database that has tables (it is kept, renamed).
        #[arg(long)]
        replace: bool,
        /// Ask nothing.
        #[arg(long)]
        yes: bool,
        #[arg(long)]
        pg_bin: Option<PathBuf>,
    },
    /// The runbook's post-deploy checks (PASO 3 and 5) as a ✅/❌ checklist;
    /// exits non-zero if any fails.
    Check {
        /// The running hub's local address (its --bind), e.g. http://127.0.0.1:8080;
        /// without it only the database is checked.
        #[arg(long)]
        url: Option<String>,
        /// This is a demo: simulated card terminals are expected, not a
        /// failure.
        #[arg(long)]
        demo: bool,
    },
    /// Manage users: add, list, disable, enable, set-password, set-pin.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    telemetry::init(&cli.settings.log_level, cli.settings.log_json);
    let outcome = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(cli.settings),
        Command::Migrate => migrate(cli.settings),
        Command::User { command } => manage_users(cli.settings, command),
        Command::Check { url, demo } => check(cli.settings, url.as_deref(), demo),
        Command::Backup { dir, pg_bin } => backup(cli.settings, &dir, pg_bin.as_deref()),
        Command::Restore {
            file,
            into,
            replace,
            yes,
            pg_bin,
        } => restore(
            cli.settings,
            &file,
            &backup::RestoreOptions {
                into,
                replace,
                yes,
                pg_bin,
            },
        ),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = format!("{err:#}"), "cajahub stopped");
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Where the service's settings are, named when `DATABASE_URL` is missing.
const ENV_FILE: &str = "/etc/cajahub/cajahub.env";

/// The database a command works on, named on the command's first line
/// (server, port and name; never the password). Without `DATABASE_URL` a
/// private cluster is used only where asked for (`--data-dir`) or when run
/// by cargo from this checkout: a server shell that forgot the URL must not
/// get a new, empty database of its own and report success on it.
fn database(settings: &Settings) -> anyhow::Result<Database> {
    let data_dir = match (&settings.database_url, &settings.data_dir) {
        (Some(_), _) => PathBuf::new(),
        (None, Some(dir)) => dir.clone(),
        (None, None) => checkout_data_dir().ok_or_else(|| {
            anyhow::anyhow!(
                "DATABASE_URL is not set. On a server it is in {ENV_FILE}: load it first \
                 (`set -a; . {ENV_FILE}; set +a`). To use a private PostgreSQL cluster \
                 instead, name its folder with --data-dir"
            )
        })?,
    };
    let database = Database::resolve(settings.database_url.as_deref(), &data_dir)?;
    println!("Base de datos: {}", database.describe());
    Ok(database)
}

/// `<checkout>/var` when cargo runs this binary from the checkout it was
/// built in (`cargo run`, `cargo test`), wherever in it the shell stands.
fn checkout_data_dir() -> Option<PathBuf> {
    let running = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR")?);
    let built = Path::new(env!("CARGO_MANIFEST_DIR"));
    (running == built).then(|| built.join("var"))
}

/// How long a stopped hub waits for its threads that hold connections (an
/// actor finishing a write is bounded by the statement timeout).
const JOIN_AT_STOP: std::time::Duration = std::time::Duration::from_secs(10);

fn serve(settings: Settings) -> anyhow::Result<()> {
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        commit = crate::GIT_COMMIT,
        config = %settings.describe(),
        "cajahub starting"
    );
    // Resolved outside the runtime: a private cluster must outlive the server
    // and be stopped after it, when `database` is dropped.
    let database = database(&settings)?;
    let url = database.url();
    let remains = actix_web::rt::System::new().block_on(async move {
        let mut settings = settings;
        if settings.failover {
            // A standby until this hub holds the lease (rule 23).
            let active = crate::failover::become_active(settings.bind, &url, settings.failover_lease)
                .await
                .context("could not become the active hub")?;
            settings.fence = Some(active.fence);
            settings.listener = Some(std::sync::Arc::new(active.listener));
        }
        let app = Application::build(&settings, &url)
            .await
            .context("could not start the hub")?;
        tracing::info!(address = %app.address(), "cajahub listening on http://{}/admin/cajas/", app.address());
        if let Some(metrics) = app.metrics_address() {
            tracing::info!(address = %metrics, "metrics on http://{metrics}/metrics");
        }
        app.run_until_stopped()
            .await
            .context("the HTTP server failed")
    })?;
    // Every thread that holds a connection ends before the process does.
    let threads = remains.threads();
    if remains.join(JOIN_AT_STOP) {
        tracing::info!(
            threads,
            "every thread holding a database connection has ended"
        );
    } else {
        tracing::warn!(within = ?JOIN_AT_STOP, "threads holding database connections were still running at exit");
    }
    tracing::info!("cajahub stopped");
    drop(database);
    Ok(())
}

fn migrate(settings: Settings) -> anyhow::Result<()> {
    let database = database(&settings)?;
    let mut conn =
        PgConnection::establish(&database.url()).context("could not connect to PostgreSQL")?;
    let applied = migrations::run_pending(&mut conn).context("migration failed")?;
    if applied.is_empty() {
        println!("No pending migrations: the schema is up to date.");
    } else {
        for name in &applied {
            println!("Applied migration {name}");
        }
        println!("{} migration(s) applied.", applied.len());
    }
    Ok(())
}

fn manage_users(settings: Settings, command: UserCommand) -> anyhow::Result<()> {
    let database = database(&settings)?;
    let mut conn =
        PgConnection::establish(&database.url()).context("could not connect to PostgreSQL")?;
    migrations::run_pending(&mut conn).context("migration failed")?;
    crate::auth::cli::run(&mut conn, command)
}

fn backup(settings: Settings, dir: &Path, pg_bin: Option<&Path>) -> anyhow::Result<()> {
    let database = database(&settings)?;
    let file = backup::backup(&database.url(), dir, pg_bin)?;
    println!(
        "Backup written and checked with pg_restore -l ({} entries): {} ({})",
        file.entries,
        file.path.display(),
        backup::human_size(file.bytes)
    );
    Ok(())
}

fn restore(
    settings: Settings,
    file: &Path,
    options: &backup::RestoreOptions,
) -> anyhow::Result<()> {
    let database = database(&settings)?;
    let restored = backup::restore(&database.url(), file, options, |plan| {
        println!("{plan}");
        if !std::io::stdin().is_terminal() {
            eprintln!("No terminal to confirm on: add --yes to restore without asking.");
            return false;
        }
        print!("Type yes to go on: ");
        let _ = std::io::stdout().flush();
        let mut answer = String::new();
        let _ = std::io::stdin().lock().read_line(&mut answer);
        answer.trim().eq_ignore_ascii_case("yes")
    })?;
    println!("Restored {} into {}.", file.display(), restored.database);
    if let Some(kept) = &restored.kept_as {
        println!(
            "The database that was there is kept as {kept}; drop it when sure: DROP DATABASE \"{kept}\";"
        );
    }
    match &restored.migrated {
        Some(applied) if applied.is_empty() => println!("Its schema is up to date."),
        Some(applied) => println!("{} migration(s) applied after the restore.", applied.len()),
        None => println!(
            "A backup from before cajahub: restored exactly as it was, not migrated (`cajahub migrate` takes it over again)."
        ),
    }
    Ok(())
}

fn check(settings: Settings, hub: Option<&str>, demo: bool) -> anyhow::Result<()> {
    let database = database(&settings)?;
    let simulated = settings.simulate_terminals.is_some();
    let lines = crate::check::run(&database.url(), hub, simulated, demo);
    for line in &lines {
        println!("{line}");
    }
    let failed = lines.iter().filter(|l| !l.ok).count();
    if failed > 0 {
        anyhow::bail!("{failed} check(s) failed");
    }
    println!("Todo en orden.");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Run by cargo (as this test is), from any folder of the checkout:
    /// always the checkout's own `var/`, never the current folder's.
    #[test]
    fn cargo_in_the_checkout_falls_back_to_its_var_folder() {
        let dir = checkout_data_dir().expect("cargo test runs in the checkout");
        assert!(dir.is_absolute(), "{}", dir.display());
        assert_eq!(dir, Path::new(env!("CARGO_MANIFEST_DIR")).join("var"));
    }
}
