//! The persistent store: every signed execution, and the dead-letter queue.
//!
//! Owns one SQLite file (WAL mode, `synchronous=FULL`) holding each execution from the
//! moment it is signed until it is confirmed, superseded or dead-lettered, and the
//! dead-letter queue the operator manages with `keeper dlq`. What makes restarts safe:
//! - an execution is persisted ([`Store::persist`]) before it is sent;
//! - a due time (a thread and its `exec_count` when built) has at most one row:
//!   persisting it again returns the existing id, so a restarted keeper that rebuilds
//!   it cannot create a second execution;
//! - every call is one SQLite transaction, committed durably before it returns, so a
//!   crash leaves each row wholly before or wholly after a change.
//!
//! After a crash the keeper reads [`Store::unfinished`] and lets the thread's on-chain
//! state judge each row: confirm it, supersede it, or send it again.
//!
//! Must not: talk to the chain, sign, decide whether a thread is due, or alert (the
//! replay loop does that when [`Store::schedule_retry`] returns
//! [`RetryDecision::DeadLettered`]).
//!
//! # Calling from async code
//!
//! [`Store`] is a cheap `Clone` handle (an `Arc` around a `Mutex<Connection>`)
//! that is `Send + Sync`. **Async code calls it directly.** Each method is a single
//! short transaction on a local file: a few indexed statements and, for writes, one
//! fsync, so it blocks a runtime worker about as long as writing a log line to disk.
//! The one longer wait is another process (the `keeper dlq` CLI) holding the write lock,
//! bounded by [`BUSY_TIMEOUT`]; CLI transactions are as short as the daemon's. Code that
//! must never block a worker (a current-thread runtime serving latency-sensitive tasks)
//! wraps a call in `tokio::task::spawn_blocking(move || store.persist(new))`, which the
//! `Clone + 'static` handle makes a one-liner.
//!
//! # Schema
//!
//! See [`schema`]: `executions` (one row per due time, `UNIQUE (thread,
//! exec_count_at_build)`) and `dead_letters` (one row per dead execution), versioned by
//! `PRAGMA user_version` with forward-only migrations run at open.

mod dlq;
mod error;
mod history;
mod lock;
mod priority;
mod replay;
pub mod report;
pub mod schema;
mod spool;
mod state;
mod types;
mod unprofitable;

use std::{
    fmt,
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use parking_lot::{Mutex, MutexGuard};
use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};

pub use error::StoreError;
pub use lock::StoreLock;
pub use priority::ExecutionPriority;
pub use schema::SCHEMA_VERSION;
pub use spool::Spooled;
pub use state::ExecState;
pub use types::{
    DeadLetter, DeadLetterDetail, Execution, NewExecution, RetryDecision, StoreCounts,
    ThreadContext, UnbuiltExecution,
};
pub use unprofitable::Declined;

/// How long a call waits for another connection's write lock before failing with
/// [`StoreError::Sqlite`] (kind `busy`).
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Unix seconds, from the system clock or a test's fixed clock.
type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// A handle to the store. Clones share one connection.
#[derive(Clone)]
pub struct Store {
    conn: Arc<Mutex<Connection>>,
    path: Option<PathBuf>,
    clock: Clock,
    /// The daemon's exclusive lock ([`Store::open_exclusive`]), held while any clone lives.
    lock: Option<Arc<StoreLock>>,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

impl Store {
    /// Opens the store at `path`, creating the file if it does not exist, and brings
    /// its schema up to [`SCHEMA_VERSION`]. A file that exists must be a keeper store
    /// or empty (zero bytes): anything else is refused with
    /// [`StoreError::NotKeeperStore`] before a byte of it is written.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref();
        let conn = Connection::open(path).map_err(|cause| open_error(path, cause))?;
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(|cause| open_error(path, cause))?;
        match schema::identify(&conn).map_err(|e| with_path(e, path))? {
            schema::Identity::Foreign(reason) => Err(StoreError::NotKeeperStore {
                path: path.to_path_buf(),
                reason,
            }),
            _ => Self::init(conn, Some(path)),
        }
    }

    /// What the daemon calls: checks that the file and its directory can be written,
    /// takes the store's exclusive lock ([`StoreLock`]: a second daemon on the same file
    /// fails with [`StoreError::Locked`]), then [`Store::open`]s it. The lock is held until
    /// the last clone of the store is dropped.
    pub fn open_exclusive(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref();
        check_writable(path)?;
        let lock = StoreLock::acquire(path)?;
        let mut store = Self::open(path)?;
        store.lock = Some(Arc::new(lock));
        Ok(store)
    }

    /// Opens an existing keeper store read-write, failing with [`StoreError::Missing`]
    /// rather than creating an empty file, and with [`StoreError::NotKeeperStore`]
    /// (nothing written) for a file that is not one: what `keeper dlq retry/purge` call,
    /// so a mistyped path is reported instead of silently showing an empty queue.
    pub fn open_existing(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref();
        let conn = Self::connect_existing(path, OpenFlags::SQLITE_OPEN_READ_WRITE)?;
        match schema::identify(&conn).map_err(|e| with_path(e, path))? {
            schema::Identity::Keeper(_) => Self::init(conn, Some(path)),
            other => Err(not_keeper(path, other)),
        }
    }

    /// Opens an existing keeper store for reading only (`keeper dlq list/show`): SQLite
    /// is asked for a read-only connection, no pragma that writes is issued and no
    /// migration runs, so the file's bytes stay as they were whatever it holds. Refuses
    /// a file that is not a keeper store, or whose schema is not this build's.
    pub fn open_read_only(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref();
        let conn = Self::connect_existing(path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
        match schema::identify(&conn).map_err(|e| with_path(e, path))? {
            schema::Identity::Keeper(found) if found > SCHEMA_VERSION => {
                Err(StoreError::SchemaTooNew {
                    found,
                    supported: SCHEMA_VERSION,
                })
            }
            schema::Identity::Keeper(found) if found < SCHEMA_VERSION => {
                Err(StoreError::SchemaTooOld {
                    path: path.to_path_buf(),
                    found,
                    supported: SCHEMA_VERSION,
                })
            }
            schema::Identity::Keeper(_) => Ok(Self {
                conn: Arc::new(Mutex::new(conn)),
                path: Some(path.to_path_buf()),
                clock: Arc::new(system_now),
                lock: None,
            }),
            other => Err(not_keeper(path, other)),
        }
    }

    fn connect_existing(path: &Path, access: OpenFlags) -> Result<Connection, StoreError> {
        if !path.exists() {
            return Err(StoreError::Missing {
                path: path.to_path_buf(),
            });
        }
        let flags = access | OpenFlags::SQLITE_OPEN_URI | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn =
            Connection::open_with_flags(path, flags).map_err(|cause| open_error(path, cause))?;
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(|cause| open_error(path, cause))?;
        Ok(conn)
    }

    /// A private in-memory store, for tests.
    pub fn open_in_memory() -> Result<Self, StoreError> {
        Self::init(Connection::open_in_memory()?, None)
    }

    /// Replaces the clock used for `created_at`, `updated_at`, `dead_at` and
    /// [`Store::dlq_retry`]'s `next_attempt_at` (the system clock by default). Applies
    /// to this handle and clones made from it afterwards.
    pub fn with_clock(mut self, clock: impl Fn() -> i64 + Send + Sync + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The file, or `None` for an in-memory store.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The file's schema version (after the migrations run at open).
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        schema::user_version(&self.lock())
    }

    fn init(mut conn: Connection, path: Option<&Path>) -> Result<Self, StoreError> {
        let setup = |conn: &mut Connection| -> Result<(), StoreError> {
            conn.busy_timeout(BUSY_TIMEOUT)?;
            // Only reached once `schema::identify` judged the file the keeper's (or
            // empty): this is the first statement that writes to it.
            let mode: String =
                conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
            if path.is_some() && !mode.eq_ignore_ascii_case("wal") {
                tracing::warn!(
                    path = ?path,
                    journal_mode = %mode,
                    "keeper store: WAL mode unavailable; the CLI and the daemon will block each other longer"
                );
            }
            // FULL: a commit survives power loss, not only a process crash. The store
            // writes a few rows per execution, so the fsync is cheap enough.
            conn.pragma_update(None, "synchronous", "FULL")?;
            conn.pragma_update(None, "foreign_keys", true)?;
            schema::migrate(conn)?;
            Ok(())
        };
        setup(&mut conn).map_err(|e| match (e, path) {
            (StoreError::Sqlite(cause), Some(path)) => StoreError::Open {
                path: path.to_path_buf(),
                cause,
            },
            (e, _) => e,
        })?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
            path: path.map(Path::to_path_buf),
            clock: Arc::new(system_now),
            lock: None,
        })
    }

    pub fn now(&self) -> i64 {
        (self.clock)()
    }

    /// The connection. A panic in another thread while it held the lock cannot leave
    /// a transaction open (rusqlite rolls back on drop), so the lock does not poison.
    fn lock(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock()
    }

    /// Runs `f` in one `IMMEDIATE` transaction (the write lock is taken up front, so
    /// the reads inside see what the writes change) and commits if it returns `Ok`.
    fn write<T>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.transaction(TransactionBehavior::Immediate, f)
    }

    /// Runs `f` in one read transaction: a consistent snapshot across its statements.
    fn read<T>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.transaction(TransactionBehavior::Deferred, f)
    }

    fn transaction<T>(
        &self,
        behavior: TransactionBehavior,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(behavior)?;
        let out = f(&tx)?;
        tx.commit()?;
        Ok(out)
    }
}

/// A row count as SQLite's `LIMIT` takes it (a limit past `i64::MAX` is no limit).
fn sql_limit(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

fn open_error(path: &Path, cause: rusqlite::Error) -> StoreError {
    StoreError::Open {
        path: path.to_path_buf(),
        cause,
    }
}

/// A query error while opening `path` is reported as an open error naming it.
fn with_path(e: StoreError, path: &Path) -> StoreError {
    match e {
        StoreError::Sqlite(cause) => open_error(path, cause),
        e => e,
    }
}

fn not_keeper(path: &Path, identity: schema::Identity) -> StoreError {
    let reason = match identity {
        schema::Identity::Foreign(reason) => reason,
        _ => "it is empty: no keeper tables, no keeper application_id".to_string(),
    };
    StoreError::NotKeeperStore {
        path: path.to_path_buf(),
        reason,
    }
}

/// Refuses a store the daemon could not write: a read-only file, or a read-only
/// directory (SQLite creates its `-wal` and `-shm` files, and the lock file, beside the
/// store). The mode bits are checked as well as access, so that a keeper run as root
/// (which the OS lets write anything) still honours an operator's `chmod a-w`.
fn check_writable(path: &Path) -> Result<(), StoreError> {
    let read_only = |fix: &Path, reason: String| StoreError::ReadOnly {
        path: path.to_path_buf(),
        fix: fix.to_path_buf(),
        reason,
    };
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if let Ok(meta) = std::fs::metadata(&dir) {
        if meta.permissions().readonly() {
            return Err(read_only(
                &dir,
                format!("its directory {} is read-only", dir.display()),
            ));
        }
    }
    match std::fs::metadata(path) {
        Ok(meta) if meta.permissions().readonly() => {
            return Err(read_only(path, "the file is read-only".to_string()))
        }
        Ok(_) => {
            if let Err(e) = std::fs::OpenOptions::new().write(true).open(path) {
                if denied(&e) {
                    return Err(read_only(
                        path,
                        format!("the file cannot be opened for writing: {e}"),
                    ));
                }
            }
        }
        Err(_) => {}
    }
    // The directory's own permission is only known by trying: create and remove a
    // probe beside the store.
    let probe = dir.join(format!(".keeper-probe-{}", std::process::id()));
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
    {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            Ok(())
        }
        Err(e) if denied(&e) => Err(read_only(
            &dir,
            format!("its directory {} cannot be written: {e}", dir.display()),
        )),
        Err(_) => Ok(()),
    }
}

/// A write refused by permissions or by a read-only file system.
fn denied(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem
    )
}

fn system_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Converts a `u64` for an INTEGER column, which holds at most `i64::MAX`.
fn to_sql_int(field: &'static str, v: u64) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(|_| StoreError::Invalid {
        field,
        reason: format!("{v} exceeds {}", i64::MAX),
    })
}

#[cfg(test)]
mod tests;

#[cfg(test)]
pub(crate) mod test_support {
    //! A fixture builder for executions.

    use solana_sdk::{hash::Hash, pubkey::Pubkey, signature::Signature};

    use super::{NewExecution, Store};
    use crate::store::ExecutionPriority;

    /// The fixed time test stores start at.
    pub const T0: i64 = 1_700_000_000;

    /// An in-memory store whose clock reads [`T0`].
    pub fn store() -> Store {
        Store::open_in_memory().unwrap().with_clock(|| T0)
    }

    /// A durable execution of a fresh thread at exec_count 0, medium priority,
    /// 3 retries. Adjust with the `with_*` methods.
    pub fn new_execution() -> NewExecution {
        NewExecution {
            thread: Pubkey::new_unique(),
            exec_count_at_build: 0,
            nonce_account: Some(Pubkey::new_unique()),
            nonce_value: Some(Hash::new_unique()),
            signature: Signature::from([7u8; 64]),
            transaction: vec![1, 2, 3],
            priority: ExecutionPriority::Medium,
            max_retries: 3,
            context: None,
            due_at: None,
        }
    }

    pub trait NewExecutionExt {
        fn with_thread(self, thread: Pubkey, exec_count: u64) -> Self;
        fn with_priority(self, priority: ExecutionPriority) -> Self;
        fn with_max_retries(self, max_retries: u32) -> Self;
    }

    impl NewExecutionExt for NewExecution {
        fn with_thread(mut self, thread: Pubkey, exec_count: u64) -> Self {
            self.thread = thread;
            self.exec_count_at_build = exec_count;
            self
        }
        fn with_priority(mut self, priority: ExecutionPriority) -> Self {
            self.priority = priority;
            self
        }
        fn with_max_retries(mut self, max_retries: u32) -> Self {
            self.max_retries = max_retries;
            self
        }
    }
}
