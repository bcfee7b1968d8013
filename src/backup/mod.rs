//! `cajahub backup` and `cajahub restore`: the runbook's PASO 1 and PASO 7
//! with PostgreSQL's own programs. A backup is checked before it is named
//! done; a restore is made into a new database and swapped in only when it
//! is complete, so a failed restore changes nothing and the database it
//! replaces is kept under another name.

mod restore;
pub mod tools;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

pub use restore::{RestoreOptions, Restored, restore};
use tools::Target;

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("the database URL is not valid: {0}")]
    BadUrl(String),
    #[error("could not connect to the database {database}: {detail}")]
    Connect { database: String, detail: String },
    #[error("PostgreSQL refused a query: {0}")]
    Query(String),
    #[error(
        "{program} is not installed (it is one of PostgreSQL's client programs, version {server_major} or newer): \
         on Debian, apt-get install postgresql-client-{server_major}, or name its folder with --pg-bin"
    )]
    ProgramMissing { program: String, server_major: u32 },
    #[error(
        "{} is version {major} and the server is {server_major}: it cannot read a newer server; \
         install postgresql-client-{server_major} (Debian) or name its folder with --pg-bin",
        path.display()
    )]
    ProgramTooOld {
        program: String,
        path: PathBuf,
        major: u32,
        server_major: u32,
    },
    #[error("the folder {} cannot hold the backup: {detail}", dir.display())]
    Folder { dir: PathBuf, detail: String },
    #[error("pg_dump failed, no backup was written: {0}")]
    Dump(String),
    #[error("{} is not a backup pg_restore can read (not a pg_dump -F c file, or cut short): {detail}", file.display())]
    NotADump { file: PathBuf, detail: String },
    #[error(
        "the database {database} already has {tables} table(s); nothing was changed. Add --replace to restore over it (it is kept, renamed)"
    )]
    HasData { database: String, tables: i64 },
    #[error(
        "{connections} connection(s) are open to {database} (is the hub running? stop it first: systemctl stop cajahub); nothing was changed"
    )]
    InUse { database: String, connections: i64 },
    #[error("not confirmed; nothing was changed (add --yes to skip the question)")]
    NotConfirmed,
    #[error("the restore failed and nothing was changed: {0}")]
    Restore(String),
    /// The connecting role lacks a right the restore needs: which, and how
    /// to grant it or whom to run as instead.
    #[error("nothing was changed: {0}")]
    MissingRight(String),
    #[error("the restored database could not be migrated: {0}")]
    Migrate(String),
}

/// A backup written and checked.
#[derive(Debug)]
pub struct BackupFile {
    pub path: PathBuf,
    pub bytes: u64,
    /// Entries `pg_restore -l` lists in it (tables, data, indexes, …).
    pub entries: usize,
}

/// `pg_dump -F c` of the database at `url` into `dir`, named
/// `backup_cajahub_YYYYmmdd_HHMMSS.dump`, then read back with `pg_restore -l`.
pub fn backup(url: &str, dir: &Path, pg_bin: Option<&Path>) -> Result<BackupFile, BackupError> {
    let target = Target::parse(url)?;
    let major = tools::server_major(&mut target.connect()?)?;
    let pg_dump = tools::program("pg_dump", major, pg_bin)?;
    let pg_restore = tools::program("pg_restore", major, pg_bin)?;
    let folder = |err: std::io::Error| BackupError::Folder {
        dir: dir.to_path_buf(),
        detail: err.to_string(),
    };
    std::fs::create_dir_all(dir).map_err(folder)?;
    let name = format!(
        "backup_cajahub_{}.dump",
        chrono::Local::now().format("%Y%m%d_%H%M%S")
    );
    let path = dir.join(&name);
    // Written under another name until checked: a file with the final name is a good backup.
    let partial = dir.join(format!(".{name}.partial"));
    // A backup holds every sale and every login: its owner's alone from
    // its first byte (pg_dump writes into the file made here).
    owner_only(&partial).map_err(folder)?;
    let output = target
        .run(
            &pg_dump,
            &[
                OsStr::new("--format=custom"),
                OsStr::new("--file"),
                partial.as_os_str(),
            ],
        )
        .map_err(|err| BackupError::Dump(err.to_string()))?;
    if !output.status.success() {
        let _ = std::fs::remove_file(&partial);
        return Err(BackupError::Dump(stderr_of(&output)));
    }
    let entries = match list(&pg_restore, &partial) {
        Ok(entries) => entries,
        Err(err) => {
            let _ = std::fs::remove_file(&partial);
            return Err(err);
        }
    };
    std::fs::rename(&partial, &path).map_err(folder)?;
    owner_only(&path).map_err(folder)?;
    let bytes = std::fs::metadata(&path).map_err(folder)?.len();
    Ok(BackupFile {
        path,
        bytes,
        entries: entries.len(),
    })
}

/// Makes `file` (empty if new) readable and writable by its owner only.
fn owner_only(file: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(file)?;
    std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600))
}

/// The table of contents of a dump (`pg_restore -l`), one entry per line.
fn list(pg_restore: &Path, file: &Path) -> Result<Vec<String>, BackupError> {
    let not_a_dump = |detail: String| BackupError::NotADump {
        file: file.to_path_buf(),
        detail,
    };
    let output = std::process::Command::new(pg_restore)
        .arg("--list")
        .arg(file)
        .output()
        .map_err(|err| not_a_dump(err.to_string()))?;
    if !output.status.success() {
        return Err(not_a_dump(stderr_of(&output)));
    }
    let entries: Vec<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|line| !line.starts_with(';') && !line.trim().is_empty())
        .map(str::to_owned)
        .collect();
    if entries.is_empty() {
        return Err(not_a_dump("it holds nothing".into()));
    }
    Ok(entries)
}

/// What a program said on failure, on one line.
fn stderr_of(output: &std::process::Output) -> String {
    let text = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    match lines.len() {
        0 => format!("exited with {}", output.status),
        n => lines[n.saturating_sub(3)..].join(" / "),
    }
}

/// "12.3 MB" for a size in bytes.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "kB", "MB", "GB"];
    let mut size = bytes as f64;
    let mut unit = 0;
    while size >= 1000.0 && unit < UNITS.len() - 1 {
        size /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{size:.1} {}", UNITS[unit])
    }
}
