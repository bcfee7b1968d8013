//! The command line: `serve` (the default) runs the hub, `migrate` brings the
//! database schema up to date and exits.

use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use diesel::{Connection, PgConnection};

use crate::auth::cli::UserCommand;
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

fn serve(settings: Settings) -> anyhow::Result<()> {
    // Resolved outside the runtime: a private cluster must outlive the server
    // and be stopped after it, when `database` is dropped.
    let database = Database::resolve(&settings)?;
    let url = database.url();
    actix_web::rt::System::new().block_on(async move {
        let app = Application::build(&settings, &url)
            .await
            .context("could not start the hub")?;
        tracing::info!(address = %app.address(), "cajahub listening on http://{}/admin/cajas/", app.address());
        app.run_until_stopped().await.context("the HTTP server failed")
    })?;
    tracing::info!("cajahub stopped");
    drop(database);
    Ok(())
}

fn migrate(settings: Settings) -> anyhow::Result<()> {
    let database = Database::resolve(&settings)?;
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
    let database = Database::resolve(&settings)?;
    let mut conn =
        PgConnection::establish(&database.url()).context("could not connect to PostgreSQL")?;
    migrations::run_pending(&mut conn).context("migration failed")?;
    crate::auth::cli::run(&mut conn, command)
}
