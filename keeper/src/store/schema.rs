//! The store's tables and their forward migrations, versioned by `PRAGMA user_version`.
//!
//! `MIGRATIONS[i]` takes a file from version `i` to `i + 1`. Migrations are only ever
//! appended: a released one is never edited, because files in the field already ran
//! it. A file at a version above [`SCHEMA_VERSION`] was written by a newer keeper and
//! is refused rather than guessed at.

use rusqlite::{Connection, TransactionBehavior};

use super::StoreError;

/// Version 1: executions and the dead-letter queue.
///
/// Keys, hashes and signatures are base58 text so that `sqlite3 keeper.sqlite` is
/// readable by an operator; the transaction is the bincode of a `VersionedTransaction`.
/// Times are unix seconds. `STRICT` tables make SQLite refuse a value of the wrong
/// type instead of storing it.
const V1: &str = "
CREATE TABLE executions (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    thread              TEXT    NOT NULL,
    exec_count_at_build INTEGER NOT NULL CHECK (exec_count_at_build >= 0),
    nonce_account       TEXT,
    nonce_value         TEXT,
    signature           TEXT    NOT NULL,
    tx                  BLOB    NOT NULL,
    priority            TEXT    NOT NULL
        CHECK (priority IN ('low', 'medium', 'high', 'critical')),
    state               TEXT    NOT NULL
        CHECK (state IN ('pending', 'sent', 'confirmed', 'superseded', 'dead')),
    retry_count         INTEGER NOT NULL DEFAULT 0 CHECK (retry_count >= 0),
    max_retries         INTEGER NOT NULL CHECK (max_retries >= 0),
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL,
    next_attempt_at     INTEGER NOT NULL,
    last_sent_at        INTEGER,
    last_error          TEXT,
    -- One row per due time: what makes a second persist of it a no-op.
    UNIQUE (thread, exec_count_at_build)
) STRICT;

-- The replay loop's and the recovery's only query.
CREATE INDEX executions_unfinished ON executions (next_attempt_at)
    WHERE state IN ('pending', 'sent');

CREATE TABLE dead_letters (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    execution_id INTEGER NOT NULL UNIQUE
        REFERENCES executions (id) ON DELETE CASCADE,
    reason       TEXT    NOT NULL,
    attempts     INTEGER NOT NULL CHECK (attempts >= 0),
    dead_at      INTEGER NOT NULL
) STRICT;
";

/// Version 2: the chain context of each execution, so that the chain's later answers
/// about the thread are judged by their age. `context_slot` is the slot of the latest
/// chain read the row's state rests on (the thread seen due at build, the slot the
/// transaction landed at, the read that superseded it); `thread_created_at` is the
/// thread's `created_at` then, which tells a thread deleted and re-created at the same
/// address from the one the row was for. Both are NULL for rows of older keepers.
const V2: &str = "
ALTER TABLE executions ADD COLUMN context_slot INTEGER CHECK (context_slot >= 0);
ALTER TABLE executions ADD COLUMN thread_created_at INTEGER;
";

/// Version 3: when each execution's due time fell (chain unix seconds; NULL for a
/// thread due at a slot, an epoch, now or on a change, and for older rows), so that an
/// operator sees due, sent and settled side by side.
const V3: &str = "
ALTER TABLE executions ADD COLUMN due_at INTEGER;
";

/// Version 4: the fleet spool, what a fleet's leader scheduled while NATS was out of
/// reach (see `store/spool.rs`).
const V4: &str = "
CREATE TABLE fleet_spool (
    message_id TEXT    PRIMARY KEY,
    payload    TEXT    NOT NULL,
    spooled_at INTEGER NOT NULL
) STRICT;
";

/// Version 5: due times this keeper declined because they would not pay for
/// themselves, one row per thread (see `store/unprofitable.rs`), for `keeper explain`.
const V5: &str = "
CREATE TABLE unprofitable (
    thread      TEXT    PRIMARY KEY,
    exec_count  INTEGER NOT NULL CHECK (exec_count >= 0),
    reason      TEXT    NOT NULL,
    declined_at INTEGER NOT NULL
) STRICT;
";

/// Every migration, oldest first.
const MIGRATIONS: &[&str] = &[V1, V2, V3, V4, V5];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// `PRAGMA application_id` of every keeper store ("kepr"): what tells a keeper store from
/// another application's SQLite file before anything is written to it.
pub const APPLICATION_ID: i64 = 0x6B65_7072;

/// The keeper's own tables: a file of version 1 written before [`APPLICATION_ID`] was
/// set is recognised by them.
const KEEPER_TABLES: [&str; 2] = ["executions", "dead_letters"];

/// What a file holds, judged by reading only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Identity {
    /// No tables, no application id, version 0: a new (or zero-byte) file.
    Empty,
    /// A keeper store at this schema version.
    Keeper(i64),
    /// Anything else; the reason says what gave it away.
    Foreign(String),
}

/// Reads the application id, the version and the table names, and judges the file.
/// Writes nothing, so it is safe on a read-only connection and on another program's file.
pub(crate) fn identify(conn: &Connection) -> Result<Identity, StoreError> {
    let application_id: i64 = conn.pragma_query_value(None, "application_id", |r| r.get(0))?;
    let version = user_version(conn)?;
    let mut names = conn.prepare(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
         ORDER BY name",
    )?;
    let tables = names
        .query_map([], |r| r.get::<_, String>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    let has_keeper_tables = KEEPER_TABLES.iter().all(|t| tables.iter().any(|n| n == t));
    Ok(match application_id {
        APPLICATION_ID => Identity::Keeper(version),
        0 if tables.is_empty() && version == 0 => Identity::Empty,
        0 if has_keeper_tables && version >= 1 => Identity::Keeper(version),
        0 => Identity::Foreign(format!(
            "it holds tables the keeper did not create: {}",
            if tables.is_empty() {
                format!("none, but user_version is {version}")
            } else {
                tables.join(", ")
            }
        )),
        other => Identity::Foreign(format!(
            "its application_id is {other:#x}, not the keeper's {APPLICATION_ID:#x}"
        )),
    })
}

/// The file's `PRAGMA user_version`.
pub(crate) fn user_version(conn: &Connection) -> Result<i64, StoreError> {
    Ok(conn.pragma_query_value(None, "user_version", |row| row.get(0))?)
}

/// Brings the file up to [`SCHEMA_VERSION`] and returns how many migrations ran.
///
/// The version is read again inside an `IMMEDIATE` transaction, which holds the
/// write lock, so two processes opening a fresh file at once run each migration once.
/// Each migration commits with its version bump, or not at all.
pub(crate) fn migrate(conn: &mut Connection) -> Result<usize, StoreError> {
    let current = user_version(conn)?;
    check_not_newer(current)?;
    let stamped =
        conn.pragma_query_value(None, "application_id", |r| r.get::<_, i64>(0))? == APPLICATION_ID;
    if current == SCHEMA_VERSION && stamped {
        return Ok(0);
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let current = user_version(&tx)?;
    check_not_newer(current)?;
    let mut applied = 0;
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let version = index as i64 + 1;
        let step = || -> rusqlite::Result<()> {
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", version)
        };
        step().map_err(|cause| StoreError::Migration { version, cause })?;
        applied += 1;
    }
    tx.pragma_update(None, "application_id", APPLICATION_ID)?;
    tx.commit()?;
    Ok(applied)
}

fn check_not_newer(found: i64) -> Result<(), StoreError> {
    if !(0..=SCHEMA_VERSION).contains(&found) {
        return Err(StoreError::SchemaTooNew {
            found,
            supported: SCHEMA_VERSION,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fresh_database_runs_every_migration_once() {
        let mut conn = Connection::open_in_memory().unwrap();
        assert_eq!(migrate(&mut conn).unwrap(), MIGRATIONS.len());
        assert_eq!(user_version(&conn).unwrap(), SCHEMA_VERSION);
        assert_eq!(migrate(&mut conn).unwrap(), 0);
        assert_eq!(user_version(&conn).unwrap(), SCHEMA_VERSION);
    }

    #[test]
    fn a_version_1_file_keeps_its_rows_without_a_chain_context() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(V1).unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
        conn.execute_batch(
            "INSERT INTO executions (thread, exec_count_at_build, signature, tx, priority, \
                 state, max_retries, created_at, updated_at, next_attempt_at) \
             VALUES ('t', 4, 's', x'01', 'high', 'sent', 3, 1, 1, 1)",
        )
        .unwrap();
        assert_eq!(migrate(&mut conn).unwrap(), 4, "to version 2, 3, 4 and 5");
        let (count, context, due_at): (i64, Option<i64>, Option<i64>) = conn
            .query_row(
                "SELECT exec_count_at_build, context_slot, due_at FROM executions",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert_eq!((count, context, due_at), (4, None, None));
        let negative = conn.execute("UPDATE executions SET context_slot = -1", []);
        assert!(negative.is_err(), "a slot is never negative");
    }

    #[test]
    fn a_newer_schema_is_refused_untouched() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
        let err = migrate(&mut conn).unwrap_err();
        assert_eq!(err.kind(), "schema_too_new");
        assert_eq!(
            err.to_string(),
            format!(
                "keeper store schema version {} is newer than this keeper supports ({}); \
                 run a newer keeper",
                SCHEMA_VERSION + 1,
                SCHEMA_VERSION
            )
        );
        let tables: i64 = conn
            .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
            .unwrap();
        assert_eq!(tables, 0);
    }

    #[test]
    fn a_failed_migration_leaves_the_version_unchanged() {
        let mut conn = Connection::open_in_memory().unwrap();
        // A table in the way makes V1's CREATE TABLE fail.
        conn.execute_batch("CREATE TABLE executions (x INTEGER)")
            .unwrap();
        let err = migrate(&mut conn).unwrap_err();
        assert_eq!(err.kind(), "migration");
        assert!(
            err.to_string()
                .starts_with("cannot migrate keeper store to schema version 1: "),
            "{err}"
        );
        assert_eq!(user_version(&conn).unwrap(), 0);
    }
}
