//! The dead-letter queue: executions out of retries, parked for an operator.
//!
//! An entry is a `dead_letters` row beside its execution, which stays in `executions`
//! in state Dead; [`Store::schedule_retry`] creates both in one transaction. The
//! operator's calls (`keeper dlq ...`) each run in one transaction too, so a running
//! daemon sees an entry either wholly in the queue or wholly back in replay.

use rusqlite::{params, Transaction};

use super::{
    replay::get_execution,
    sql_limit,
    types::{dead_letter_from_row, DEAD_LETTER_COLUMNS, EXECUTION_COLUMNS},
    DeadLetter, DeadLetterDetail, ExecState, Execution, Store, StoreError,
};

impl Store {
    /// The newest `limit` entries, newest first.
    pub fn dlq_list(&self, limit: usize) -> Result<Vec<DeadLetter>, StoreError> {
        let limit = sql_limit(limit);
        self.read(|tx| {
            let sql = format!(
                "SELECT {DEAD_LETTER_COLUMNS}, {EXECUTION_COLUMNS} \
                 FROM dead_letters d JOIN executions e ON e.id = d.execution_id \
                 ORDER BY d.id DESC LIMIT ?1"
            );
            let mut stmt = tx.prepare(&sql)?;
            let mut rows = stmt.query([limit])?;
            let mut out = Vec::new();
            while let Some(row) = rows.next()? {
                out.push(dead_letter_from_row(row)?.entry);
            }
            Ok(out)
        })
    }

    /// The entry parking execution `execution_id`, if there is one.
    pub fn dead_letter_of_execution(
        &self,
        execution_id: i64,
    ) -> Result<Option<DeadLetter>, StoreError> {
        self.read(|tx| {
            let sql = format!(
                "SELECT {DEAD_LETTER_COLUMNS}, {EXECUTION_COLUMNS} \
                 FROM dead_letters d JOIN executions e ON e.id = d.execution_id \
                 WHERE d.execution_id = ?1 ORDER BY d.id DESC LIMIT 1"
            );
            let mut stmt = tx.prepare(&sql)?;
            let mut rows = stmt.query([execution_id])?;
            match rows.next()? {
                Some(row) => Ok(Some(dead_letter_from_row(row)?.entry)),
                None => Ok(None),
            }
        })
    }

    /// One entry with its execution, or `None` if there is no entry `id`.
    pub fn dlq_show(&self, id: i64) -> Result<Option<DeadLetterDetail>, StoreError> {
        self.read(|tx| show(tx, id))
    }

    /// Puts entry `id` back into replay: its execution becomes Pending with
    /// `retry_count` 0, due now, and the entry is removed. Returns the execution. The
    /// running keeper picks it up at its next replay tick, finds the nonce advanced
    /// (or not) and rebuilds as it would for any replay; the thread's on-chain state
    /// still decides whether it runs at all.
    pub fn dlq_retry(&self, id: i64) -> Result<Execution, StoreError> {
        let now = self.now();
        self.write(|tx| {
            let detail = show(tx, id)?.ok_or(StoreError::NotFound {
                what: "dead letter",
                id,
            })?;
            let execution_id = detail.execution.id;
            if detail.execution.state != ExecState::Dead {
                return Err(StoreError::Corrupt {
                    table: "dead_letters",
                    id,
                    column: "execution_id",
                    reason: format!(
                        "its execution {execution_id} is {}, not dead",
                        detail.execution.state
                    ),
                });
            }
            tx.execute("DELETE FROM dead_letters WHERE id = ?1", [id])?;
            tx.execute(
                "UPDATE executions SET state = 'pending', retry_count = 0, \
                     next_attempt_at = ?2, updated_at = ?2 WHERE id = ?1",
                params![execution_id, now],
            )?;
            get_execution(tx, execution_id)?.ok_or(StoreError::NotFound {
                what: "execution",
                id: execution_id,
            })
        })
    }

    /// Deletes entry `id` and its execution: the store forgets that due time. If the
    /// thread is still due on chain, the scheduler builds it afresh as a new
    /// execution; purge is "stop retrying this transaction", not "skip the run".
    pub fn dlq_purge(&self, id: i64) -> Result<(), StoreError> {
        self.write(|tx| {
            let execution_id: Option<i64> = {
                let mut stmt = tx.prepare("SELECT execution_id FROM dead_letters WHERE id = ?1")?;
                let mut rows = stmt.query([id])?;
                match rows.next()? {
                    Some(row) => Some(row.get(0)?),
                    None => None,
                }
            };
            let execution_id = execution_id.ok_or(StoreError::NotFound {
                what: "dead letter",
                id,
            })?;
            tx.execute("DELETE FROM dead_letters WHERE id = ?1", [id])?;
            tx.execute(
                "DELETE FROM executions WHERE id = ?1 AND state = 'dead'",
                [execution_id],
            )?;
            Ok(())
        })
    }

    /// Deletes every entry and its execution; returns how many entries there were.
    pub fn dlq_purge_all(&self) -> Result<usize, StoreError> {
        self.write(|tx| {
            let entries: i64 =
                tx.query_row("SELECT count(*) FROM dead_letters", [], |r| r.get(0))?;
            tx.execute(
                "DELETE FROM executions WHERE state = 'dead' \
                 AND id IN (SELECT execution_id FROM dead_letters)",
                [],
            )?;
            // Entries the cascade did not remove (none while foreign keys are on).
            tx.execute("DELETE FROM dead_letters", [])?;
            Ok(usize::try_from(entries).unwrap_or(0))
        })
    }

    /// How many entries the queue holds.
    pub fn dlq_len(&self) -> Result<usize, StoreError> {
        self.read(|tx| {
            let n: i64 = tx.query_row("SELECT count(*) FROM dead_letters", [], |r| r.get(0))?;
            Ok(usize::try_from(n).unwrap_or(0))
        })
    }
}

fn show(tx: &Transaction<'_>, id: i64) -> Result<Option<DeadLetterDetail>, StoreError> {
    let sql = format!(
        "SELECT {DEAD_LETTER_COLUMNS}, {EXECUTION_COLUMNS} \
         FROM dead_letters d JOIN executions e ON e.id = d.execution_id WHERE d.id = ?1"
    );
    let mut stmt = tx.prepare(&sql)?;
    let mut rows = stmt.query([id])?;
    rows.next()?.map(dead_letter_from_row).transpose()
}
