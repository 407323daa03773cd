//! [`StoreError`]: every way a store call fails, each with a stable label.

use std::path::PathBuf;

use super::ExecState;

/// Why a store call failed. Messages name the file, row or id at fault.
///
/// The SQLite error is kept in a `cause` field that is part of the message rather
/// than a `source()`, so a log line (`%err`) and an `anyhow` chain (`{err:#}`) both
/// show it exactly once.
#[derive(Debug, thiserror::Error, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum StoreError {
    /// [`super::Store::open_existing`] was given a path with no file.
    #[error("no keeper store at {}", path.display())]
    #[strum(serialize = "missing_store")]
    Missing {
        /// The path looked at.
        path: PathBuf,
    },
    /// The file could not be opened or is not an SQLite database.
    #[error("cannot open keeper store {}: {cause}", path.display())]
    Open {
        /// The file.
        path: PathBuf,
        /// What SQLite said.
        cause: rusqlite::Error,
    },
    /// The file exists but is not a keeper store (a zero-byte file, another program's
    /// SQLite database); it was left as it was.
    #[error(
        "{} is not a keeper store ({reason}); it was left untouched. Pass --store (or set \
         KEEPER_STORE) with the keeper's own store file, or move this file away so that \
         `keeper run` creates a new store there",
        path.display()
    )]
    NotKeeperStore {
        /// The file.
        path: PathBuf,
        /// What gave it away.
        reason: String,
    },
    /// The daemon cannot write the store: the file or its directory is read-only.
    #[error(
        "keeper store {} cannot be written: {reason}; make it writable (chmod u+w {}) or \
         pass --store with a writable path",
        path.display(),
        fix.display()
    )]
    ReadOnly {
        /// The store file.
        path: PathBuf,
        /// The file or directory that is read-only.
        fix: PathBuf,
        /// Which of the two, and why.
        reason: String,
    },
    /// Another process holds the store's lock: two daemons on one store would send
    /// every execution twice.
    #[error(
        "keeper store {} is in use by another keeper{} (lock file {}); stop that keeper, \
         or pass --store with another file",
        path.display(),
        holder.map(|pid| format!(" (pid {pid})")).unwrap_or_default(),
        lock.display()
    )]
    Locked {
        /// The store file.
        path: PathBuf,
        /// The lock file.
        lock: PathBuf,
        /// The pid written in the lock file by the holder, when it could be read.
        holder: Option<u32>,
    },
    /// The lock file could not be created or locked.
    #[error("cannot lock keeper store {} with {}: {cause}", path.display(), lock.display())]
    Lock {
        /// The store file.
        path: PathBuf,
        /// The lock file.
        lock: PathBuf,
        /// What the OS said.
        cause: std::io::Error,
    },
    /// A read-only open found an older schema that only a read-write open may migrate.
    #[error(
        "keeper store {} is at schema version {found}, older than this keeper's \
         ({supported}); run `keeper run` (or a `keeper dlq retry/purge`) once to migrate it",
        path.display()
    )]
    SchemaTooOld {
        /// The file.
        path: PathBuf,
        /// Its version.
        found: i64,
        /// This build's version.
        supported: i64,
    },
    /// The file was written by a newer keeper whose schema this one does not know.
    #[error(
        "keeper store schema version {found} is newer than this keeper supports \
         ({supported}); run a newer keeper"
    )]
    SchemaTooNew {
        /// `PRAGMA user_version` of the file.
        found: i64,
        /// The newest version this build can migrate to.
        supported: i64,
    },
    /// A forward migration failed; the file is left at the version before it.
    #[error("cannot migrate keeper store to schema version {version}: {cause}")]
    Migration {
        /// The version the failed migration leads to.
        version: i64,
        /// What SQLite said.
        cause: rusqlite::Error,
    },
    /// A query failed (including `SQLITE_BUSY` after the busy timeout).
    #[error("keeper store query failed: {0}")]
    Sqlite(rusqlite::Error),
    /// No row with this id.
    #[error("no {what} with id {id}")]
    NotFound {
        /// "execution" or "dead letter".
        what: &'static str,
        /// The id asked for.
        id: i64,
    },
    /// The execution is in a state the requested change cannot start from.
    #[error("execution {id} is {from}; it cannot become {to}")]
    InvalidTransition {
        /// The execution.
        id: i64,
        /// Its state now.
        from: ExecState,
        /// The state asked for.
        to: ExecState,
    },
    /// A value given to the store breaks its rules (nothing was written).
    #[error("invalid {field}: {reason}")]
    #[strum(serialize = "invalid_input")]
    Invalid {
        /// The argument or field at fault.
        field: &'static str,
        /// What was wrong.
        reason: String,
    },
    /// A row on disk does not decode: a bad key, an unknown state, a wrong type.
    #[error("corrupt {table} row {id}: column {column}: {reason}")]
    Corrupt {
        /// `executions` or `dead_letters`.
        table: &'static str,
        /// The row's id.
        id: i64,
        /// The column that failed to decode.
        column: &'static str,
        /// What was wrong with it.
        reason: String,
    },
}

impl StoreError {
    /// A stable label for this kind of error, for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            StoreError::Sqlite(e) if is_busy(e) => "busy",
            other => other.into(),
        }
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Sqlite(e)
    }
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}
