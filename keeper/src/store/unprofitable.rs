//! Due times this keeper declined because executing them would not pay for itself (the
//! profitability guard, `execution/profitability.rs`), so that `keeper explain` can say
//! why a due thread is not running. One row per thread: the latest decline.
//!
//! Owns the `unprofitable` table. Must not: judge profitability, or hold a thread back
//! (the executor does both).

use rusqlite::{params, OptionalExtension};
use solana_sdk::pubkey::Pubkey;

use super::{Store, StoreError};

/// The latest due time of a thread declined as unprofitable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Declined {
    pub exec_count: u64,
    /// What the execution would have cost against what it pays.
    pub reason: String,
    /// When (unix seconds).
    pub declined_at: i64,
}

impl Store {
    /// Records that `thread`'s due time `exec_count` was declined for `reason`.
    pub fn note_unprofitable(
        &self,
        thread: &Pubkey,
        exec_count: u64,
        reason: &str,
    ) -> Result<(), StoreError> {
        let now = self.now();
        let exec_count = i64::try_from(exec_count).unwrap_or(i64::MAX);
        self.write(|tx| {
            tx.execute(
                "INSERT INTO unprofitable (thread, exec_count, reason, declined_at) \
                 VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (thread) DO UPDATE SET exec_count = ?2, reason = ?3, declined_at = ?4",
                params![thread.to_string(), exec_count, reason, now],
            )?;
            Ok(())
        })
    }

    /// The latest decline of `thread`, if any.
    pub fn unprofitable(&self, thread: &Pubkey) -> Result<Option<Declined>, StoreError> {
        self.read(|tx| {
            Ok(tx
                .query_row(
                    "SELECT exec_count, reason, declined_at FROM unprofitable WHERE thread = ?1",
                    [thread.to_string()],
                    |row| {
                        let exec_count: i64 = row.get(0)?;
                        Ok(Declined {
                            exec_count: u64::try_from(exec_count).unwrap_or(0),
                            reason: row.get(1)?,
                            declined_at: row.get(2)?,
                        })
                    },
                )
                .optional()?)
        })
    }

    /// Forgets `thread`'s decline: it was executed after all (or is gone).
    pub fn clear_unprofitable(&self, thread: &Pubkey) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.execute(
                "DELETE FROM unprofitable WHERE thread = ?1",
                [thread.to_string()],
            )?;
            Ok(())
        })
    }
}
