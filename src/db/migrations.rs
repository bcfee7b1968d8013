//! The schema's migrations, embedded in the binary and applied under an
//! advisory lock so that two hubs starting together never race.

use diesel::pg::PgConnection;
use diesel::sql_types::BigInt;
use diesel::{RunQueryDsl, sql_query};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// Key of the session-level advisory lock held while migrating ("cajahub!").
const MIGRATION_LOCK: i64 = 0x6361_6a61_6875_6221;

#[derive(Debug, thiserror::Error)]
pub enum MigrationError {
    #[error("could not take the migration lock")]
    Lock(#[source] diesel::result::Error),
    #[error("could not apply migration {name}: {source}")]
    Apply {
        name: String,
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("could not read the applied migrations: {0}")]
    Read(Box<dyn std::error::Error + Send + Sync>),
}

/// Applies every pending migration, in order, and returns their names.
pub fn run_pending(conn: &mut PgConnection) -> Result<Vec<String>, MigrationError> {
    sql_query("SELECT pg_advisory_lock($1)")
        .bind::<BigInt, _>(MIGRATION_LOCK)
        .execute(conn)
        .map_err(MigrationError::Lock)?;
    let outcome = apply_pending(conn);
    // The lock dies with the session anyway; unlocking is for pooled reuse.
    if let Err(err) = sql_query("SELECT pg_advisory_unlock($1)")
        .bind::<BigInt, _>(MIGRATION_LOCK)
        .execute(conn)
    {
        tracing::warn!(error = %err, "could not release the migration lock");
    }
    outcome
}

fn apply_pending(conn: &mut PgConnection) -> Result<Vec<String>, MigrationError> {
    let pending = conn
        .pending_migrations(MIGRATIONS)
        .map_err(MigrationError::Read)?;
    let mut applied = Vec::with_capacity(pending.len());
    for migration in pending {
        let name = migration.name().to_string();
        conn.run_migration(&*migration)
            .map_err(|source| MigrationError::Apply {
                name: name.clone(),
                source,
            })?;
        tracing::info!(migration = %name, "applied migration");
        applied.push(name);
    }
    Ok(applied)
}

/// True when the database lacks a migration this binary carries.
pub fn has_pending(conn: &mut PgConnection) -> Result<bool, MigrationError> {
    conn.has_pending_migration(MIGRATIONS)
        .map_err(MigrationError::Read)
}

/// The migrations this binary carries that the database lacks, by name.
pub fn pending(conn: &mut PgConnection) -> Result<Vec<String>, MigrationError> {
    let pending = conn
        .pending_migrations(MIGRATIONS)
        .map_err(MigrationError::Read)?;
    Ok(pending.iter().map(|m| m.name().to_string()).collect())
}

/// How many migrations this binary carries.
pub fn count() -> usize {
    use diesel::migration::MigrationSource;
    MigrationSource::<diesel::pg::Pg>::migrations(&MIGRATIONS).map_or(0, |all| all.len())
}
