//! The fleet spool: what the leader scheduled while the fleet's queue (NATS) was out of
//! reach, kept here until it can be published.
//!
//! Keyed by the message id (the due time), so spooling the same due time twice keeps
//! one entry; the queue deduplicates by the same id, so publishing an entry that did
//! reach it after all is harmless. Owns the `fleet_spool` table; must not publish.

use rusqlite::params;

use super::sql_limit;
use super::{Store, StoreError};

/// One spooled message: its id and payload (a `WorkItem` as JSON).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Spooled {
    pub message_id: String,
    pub payload: String,
    /// When it was spooled (unix seconds).
    pub spooled_at: i64,
}

impl Store {
    /// Keeps `payload` under `message_id` until [`Store::spool_remove`]; a second call
    /// with the same id keeps the first. Returns whether it was new.
    pub fn spool_put(&self, message_id: &str, payload: &str) -> Result<bool, StoreError> {
        let now = self.now();
        self.write(|tx| {
            let inserted = tx.execute(
                "INSERT INTO fleet_spool (message_id, payload, spooled_at) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (message_id) DO NOTHING",
                params![message_id, payload, now],
            )?;
            Ok(inserted == 1)
        })
    }

    /// The oldest `limit` spooled messages, oldest first.
    pub fn spool_oldest(&self, limit: usize) -> Result<Vec<Spooled>, StoreError> {
        let limit = sql_limit(limit);
        self.read(|tx| {
            let mut stmt = tx.prepare(
                "SELECT message_id, payload, spooled_at FROM fleet_spool \
                 ORDER BY spooled_at, rowid LIMIT ?1",
            )?;
            let rows = stmt.query_map([limit], |row| {
                Ok(Spooled {
                    message_id: row.get(0)?,
                    payload: row.get(1)?,
                    spooled_at: row.get(2)?,
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    /// Forgets `message_id` (published).
    pub fn spool_remove(&self, message_id: &str) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.execute(
                "DELETE FROM fleet_spool WHERE message_id = ?1",
                [message_id],
            )?;
            Ok(())
        })
    }

    /// How many messages wait in the spool.
    pub fn spool_len(&self) -> Result<usize, StoreError> {
        self.read(|tx| {
            let n: i64 = tx.query_row("SELECT COUNT(*) FROM fleet_spool", [], |r| r.get(0))?;
            Ok(usize::try_from(n).unwrap_or(0))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::store;

    #[test]
    fn a_due_time_is_spooled_once_and_leaves_oldest_first() {
        let store = store();
        assert!(store.spool_put("t:1", "{\"a\":1}").unwrap());
        assert!(!store.spool_put("t:1", "{\"a\":2}").unwrap(), "kept once");
        assert!(store.spool_put("t:2", "{}").unwrap());
        assert_eq!(store.spool_len().unwrap(), 2);
        let oldest = store.spool_oldest(10).unwrap();
        let ids: Vec<&str> = oldest.iter().map(|s| s.message_id.as_str()).collect();
        assert_eq!(ids, ["t:1", "t:2"]);
        assert_eq!(oldest[0].payload, "{\"a\":1}", "the first payload stays");
        store.spool_remove("t:1").unwrap();
        assert_eq!(store.spool_oldest(10).unwrap().len(), 1);
        assert_eq!(store.spool_len().unwrap(), 1);
    }
}
