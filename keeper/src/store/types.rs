//! The records the store hands out, and their decoding from rows.
//!
//! Decoding never trusts the file: every column is checked for its type and parsed,
//! and a failure is a [`StoreError::Corrupt`] naming the table, the row id and the
//! column.

use std::{fmt, str::FromStr};

use rusqlite::{types::ValueRef, Row};
use solana_sdk::{
    hash::Hash, pubkey::Pubkey, signature::Signature, transaction::VersionedTransaction,
};

use super::state::ExecState;
use super::ExecutionPriority;
use super::StoreError;

/// The chain's view a row rests on: the thread as read at `slot`, the incarnation
/// created at `created_at` (unix seconds, the thread's own field). A later answer that
/// contradicts the row (the thread absent, re-created, or back at an earlier
/// `exec_count`) is believed only when it was read at `slot` or after: a node behind
/// the one the row was judged on proves nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ThreadContext {
    /// Slot of the read.
    pub slot: u64,
    /// The thread's `created_at` in that read.
    pub created_at: i64,
}

/// A signed execution about to be sent, as given to [`super::Store::persist`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewExecution {
    /// The thread account.
    pub thread: Pubkey,
    /// The thread's `exec_count` when the transaction was built; with `thread` it
    /// names the due time this execution is for.
    pub exec_count_at_build: u64,
    /// The durable nonce account, for a nonce-enforced thread.
    pub nonce_account: Option<Pubkey>,
    /// The nonce value the transaction was signed with; set exactly when
    /// `nonce_account` is.
    pub nonce_value: Option<Hash>,
    /// The transaction's first signature.
    pub signature: Signature,
    /// `bincode` of the signed `VersionedTransaction`.
    pub transaction: Vec<u8>,
    /// Sets the replay delay and the order of replays.
    pub priority: ExecutionPriority,
    /// Retries allowed after the first attempt before the execution is dead-lettered.
    pub max_retries: u32,
    /// The read of the thread it was built from; `None` when unknown.
    pub context: Option<ThreadContext>,
    /// When the due time fell, in chain unix seconds, for a thread due at a time;
    /// `None` for one due at a slot, an epoch, now or on an account change.
    pub due_at: Option<i64>,
}

impl NewExecution {
    /// Builds the record from a signed transaction: serializes it and takes its first
    /// signature. `nonce` is `(account, value)` for a durable build.
    pub fn from_transaction(
        thread: Pubkey,
        exec_count_at_build: u64,
        tx: &VersionedTransaction,
        nonce: Option<(Pubkey, Hash)>,
        priority: ExecutionPriority,
        max_retries: u32,
    ) -> Result<Self, StoreError> {
        let signature = *tx.signatures.first().ok_or_else(|| StoreError::Invalid {
            field: "transaction",
            reason: "it has no signature".into(),
        })?;
        let transaction = bincode::serialize(tx).map_err(|e| StoreError::Invalid {
            field: "transaction",
            reason: format!("cannot serialize it: {e}"),
        })?;
        Ok(Self {
            thread,
            exec_count_at_build,
            nonce_account: nonce.map(|(account, _)| account),
            nonce_value: nonce.map(|(_, value)| value),
            signature,
            transaction,
            priority,
            max_retries,
            context: None,
            due_at: None,
        })
    }

    /// The same, built from the thread as read in `context`.
    pub fn with_context(mut self, context: ThreadContext) -> Self {
        self.context = Some(context);
        self
    }

    /// The same, for the due time that fell at `due_at` (chain unix seconds).
    pub fn with_due_at(mut self, due_at: Option<i64>) -> Self {
        self.due_at = due_at;
        self
    }
}

/// One persisted execution.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Execution {
    /// Row id.
    pub id: i64,
    /// The thread account.
    pub thread: Pubkey,
    /// The thread's `exec_count` when built: with `thread`, the due time.
    pub exec_count_at_build: u64,
    /// The durable nonce account, if any.
    pub nonce_account: Option<Pubkey>,
    /// The nonce value the current transaction was signed with.
    pub nonce_value: Option<Hash>,
    /// The current transaction's first signature.
    pub signature: Signature,
    /// `bincode` of the current signed `VersionedTransaction`
    /// (see [`Execution::decode_transaction`]).
    pub transaction: Vec<u8>,
    /// Replay delay and order.
    pub priority: ExecutionPriority,
    /// Where the execution is in its life.
    pub state: ExecState,
    /// Retries scheduled so far (0 for the first attempt).
    pub retry_count: u32,
    /// Retries allowed after the first attempt.
    pub max_retries: u32,
    /// When it was persisted (unix seconds).
    pub created_at: i64,
    /// When the row last changed (unix seconds).
    pub updated_at: i64,
    /// When the replay loop should next look at it (unix seconds).
    pub next_attempt_at: i64,
    /// When it was last sent, if ever (unix seconds).
    pub last_sent_at: Option<i64>,
    /// The last failure, the reason it was superseded, or why it was dead-lettered.
    pub last_error: Option<String>,
    /// The chain read the row's state rests on; `None` for rows of older keepers.
    pub context: Option<ThreadContext>,
    /// When its due time fell (chain unix seconds), for a thread due at a time; `None`
    /// otherwise, and for rows of older keepers.
    pub due_at: Option<i64>,
}

impl Execution {
    /// The stored transaction, decoded. Corrupt bytes give an error naming the row.
    pub fn decode_transaction(&self) -> Result<VersionedTransaction, StoreError> {
        bincode::deserialize(&self.transaction).map_err(|e| StoreError::Corrupt {
            table: "executions",
            id: self.id,
            column: "tx",
            reason: format!("not a bincode VersionedTransaction: {e}"),
        })
    }
}

/// A due time the keeper could never build a transaction for (the chain refuses it in
/// simulation), given up on after `attempts`: see [`super::Store::dead_letter_unbuilt`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnbuiltExecution {
    pub thread: Pubkey,
    pub exec_count: u64,
    pub priority: ExecutionPriority,
    /// What a later replay (after `keeper dlq retry`) is allowed.
    pub max_retries: u32,
    pub attempts: u32,
}

/// What [`super::Store::schedule_retry`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetryDecision {
    /// Back to Pending for another attempt; `retry_count` is the new count.
    Scheduled { retry_count: u32 },
    /// Out of retries: the execution is Dead and in the dead-letter queue. The
    /// caller alerts.
    DeadLettered,
}

/// How many executions are in each state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StoreCounts {
    /// Persisted, not sent (or due again).
    pub pending: u64,
    /// Sent, not yet confirmed.
    pub sent: u64,
    /// Confirmed.
    pub confirmed: u64,
    /// Already ran on chain by other means.
    pub superseded: u64,
    /// In the dead-letter queue.
    pub dead: u64,
}

impl StoreCounts {
    /// Pending plus sent: the replay backlog.
    pub fn unfinished(&self) -> u64 {
        self.pending + self.sent
    }

    /// Every execution row.
    pub fn total(&self) -> u64 {
        self.unfinished() + self.confirmed + self.superseded + self.dead
    }
}

/// One entry of the dead-letter queue, as listed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeadLetter {
    /// Dead-letter id (what `keeper dlq show|retry|purge` take).
    pub id: i64,
    /// The execution it parks.
    pub execution_id: i64,
    /// The execution's thread.
    pub thread: Pubkey,
    /// The execution's due time (the thread's `exec_count` when built).
    pub exec_count_at_build: u64,
    /// The last transaction's signature.
    pub signature: Signature,
    /// The execution's priority.
    pub priority: ExecutionPriority,
    /// The failure that used up the last retry.
    pub reason: String,
    /// Attempts made (the first plus every retry).
    pub attempts: u32,
    /// When it was dead-lettered (unix seconds).
    pub dead_at: i64,
}

/// A dead letter with its whole execution, for `keeper dlq show`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeadLetterDetail {
    /// The entry.
    pub entry: DeadLetter,
    /// The execution it parks (state Dead).
    pub execution: Execution,
}

/// The columns [`execution_from_row`] reads, for `SELECT ... FROM executions e`.
pub(crate) const EXECUTION_COLUMNS: &str = "e.id AS id, e.thread AS thread, \
    e.exec_count_at_build AS exec_count_at_build, e.nonce_account AS nonce_account, \
    e.nonce_value AS nonce_value, e.signature AS signature, e.tx AS tx, \
    e.priority AS priority, e.state AS state, e.retry_count AS retry_count, \
    e.max_retries AS max_retries, e.created_at AS created_at, e.updated_at AS updated_at, \
    e.next_attempt_at AS next_attempt_at, e.last_sent_at AS last_sent_at, \
    e.last_error AS last_error, e.context_slot AS context_slot, \
    e.thread_created_at AS thread_created_at, e.due_at AS due_at";

/// The columns [`dead_letter_from_row`] reads, for
/// `... FROM dead_letters d JOIN executions e ON e.id = d.execution_id`.
pub(crate) const DEAD_LETTER_COLUMNS: &str = "d.id AS dl_id, \
    d.execution_id AS dl_execution_id, d.reason AS dl_reason, d.attempts AS dl_attempts, \
    d.dead_at AS dl_dead_at";

/// Decodes a row selected with [`EXECUTION_COLUMNS`].
pub(crate) fn execution_from_row(row: &Row<'_>) -> Result<Execution, StoreError> {
    let r = Cols::new(row, "executions", "id")?;
    Ok(Execution {
        id: r.id,
        thread: r.parse("thread")?,
        exec_count_at_build: r.unsigned("exec_count_at_build")?,
        nonce_account: r.parse_opt("nonce_account")?,
        nonce_value: r.parse_opt("nonce_value")?,
        signature: r.parse("signature")?,
        transaction: r.blob("tx")?,
        priority: r.priority("priority")?,
        state: r.state("state")?,
        retry_count: r.unsigned("retry_count")?,
        max_retries: r.unsigned("max_retries")?,
        created_at: r.int("created_at")?,
        updated_at: r.int("updated_at")?,
        next_attempt_at: r.int("next_attempt_at")?,
        last_sent_at: r.int_opt("last_sent_at")?,
        last_error: r.text_opt("last_error")?,
        context: match (r.int_opt("context_slot")?, r.int_opt("thread_created_at")?) {
            (Some(slot), Some(created_at)) => Some(ThreadContext {
                slot: u64::try_from(slot)
                    .map_err(|_| r.corrupt("context_slot", format!("negative slot {slot}")))?,
                created_at,
            }),
            _ => None,
        },
        due_at: r.int_opt("due_at")?,
    })
}

/// Decodes a row selected with [`DEAD_LETTER_COLUMNS`] and [`EXECUTION_COLUMNS`].
pub(crate) fn dead_letter_from_row(row: &Row<'_>) -> Result<DeadLetterDetail, StoreError> {
    let execution = execution_from_row(row)?;
    let r = Cols::new(row, "dead_letters", "dl_id")?;
    let entry = DeadLetter {
        id: r.id,
        execution_id: r.int("dl_execution_id")?,
        thread: execution.thread,
        exec_count_at_build: execution.exec_count_at_build,
        signature: execution.signature,
        priority: execution.priority,
        reason: r.text("dl_reason")?,
        attempts: r.unsigned("dl_attempts")?,
        dead_at: r.int("dl_dead_at")?,
    };
    Ok(DeadLetterDetail { entry, execution })
}

/// Typed, checked access to one row's columns.
struct Cols<'a, 'b> {
    row: &'a Row<'b>,
    table: &'static str,
    id: i64,
}

impl<'a, 'b> Cols<'a, 'b> {
    fn new(
        row: &'a Row<'b>,
        table: &'static str,
        id_column: &'static str,
    ) -> Result<Self, StoreError> {
        let id = match row.get_ref(id_column)? {
            ValueRef::Integer(id) => id,
            // Cannot happen for an INTEGER PRIMARY KEY, but a row without a usable id
            // still gets an error rather than a panic.
            other => {
                return Err(StoreError::Corrupt {
                    table,
                    id: -1,
                    column: id_column,
                    reason: format!("expected an integer id, found {}", other.data_type()),
                })
            }
        };
        Ok(Self { row, table, id })
    }

    fn corrupt(&self, column: &'static str, reason: impl Into<String>) -> StoreError {
        StoreError::Corrupt {
            table: self.table,
            id: self.id,
            // Joined queries prefix the dead-letter columns; report the real name.
            column: column.strip_prefix("dl_").unwrap_or(column),
            reason: reason.into(),
        }
    }

    fn value(&self, column: &'static str) -> Result<ValueRef<'a>, StoreError> {
        Ok(self.row.get_ref(column)?)
    }

    fn int_opt(&self, column: &'static str) -> Result<Option<i64>, StoreError> {
        match self.value(column)? {
            ValueRef::Null => Ok(None),
            ValueRef::Integer(v) => Ok(Some(v)),
            other => Err(self.corrupt(
                column,
                format!("expected an integer, found {}", other.data_type()),
            )),
        }
    }

    fn int(&self, column: &'static str) -> Result<i64, StoreError> {
        self.int_opt(column)?
            .ok_or_else(|| self.corrupt(column, "expected an integer, found NULL"))
    }

    fn unsigned<T: TryFrom<i64>>(&self, column: &'static str) -> Result<T, StoreError> {
        let v = self.int(column)?;
        T::try_from(v).map_err(|_| self.corrupt(column, format!("{v} is out of range")))
    }

    fn text_opt(&self, column: &'static str) -> Result<Option<String>, StoreError> {
        match self.value(column)? {
            ValueRef::Null => Ok(None),
            ValueRef::Text(bytes) => match std::str::from_utf8(bytes) {
                Ok(s) => Ok(Some(s.to_string())),
                Err(e) => Err(self.corrupt(column, format!("not UTF-8: {e}"))),
            },
            other => Err(self.corrupt(
                column,
                format!("expected text, found {}", other.data_type()),
            )),
        }
    }

    fn text(&self, column: &'static str) -> Result<String, StoreError> {
        self.text_opt(column)?
            .ok_or_else(|| self.corrupt(column, "expected text, found NULL"))
    }

    fn blob(&self, column: &'static str) -> Result<Vec<u8>, StoreError> {
        match self.value(column)? {
            ValueRef::Blob(bytes) => Ok(bytes.to_vec()),
            other => Err(self.corrupt(
                column,
                format!("expected a blob, found {}", other.data_type()),
            )),
        }
    }

    fn parse_opt<T>(&self, column: &'static str) -> Result<Option<T>, StoreError>
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        self.text_opt(column)?
            .map(|s| {
                s.parse()
                    .map_err(|e| self.corrupt(column, format!("{s:?} does not parse: {e}")))
            })
            .transpose()
    }

    fn parse<T>(&self, column: &'static str) -> Result<T, StoreError>
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        self.parse_opt(column)?
            .ok_or_else(|| self.corrupt(column, "expected text, found NULL"))
    }

    fn state(&self, column: &'static str) -> Result<ExecState, StoreError> {
        self.text(column)?
            .parse()
            .map_err(|reason: String| self.corrupt(column, reason))
    }

    fn priority(&self, column: &'static str) -> Result<ExecutionPriority, StoreError> {
        let s = self.text(column)?;
        ExecutionPriority::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| self.corrupt(column, format!("unknown priority {s:?}")))
    }
}

/// SQL for a priority's rank, highest first when sorted descending.
pub(crate) const PRIORITY_RANK: &str = "CASE e.priority WHEN 'critical' THEN 3 \
    WHEN 'high' THEN 2 WHEN 'medium' THEN 1 ELSE 0 END";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_round_trip_through_their_names() {
        for state in ExecState::ALL {
            assert_eq!(state.as_str().parse::<ExecState>(), Ok(state));
        }
        assert_eq!(
            "failed".parse::<ExecState>(),
            Err("unknown state \"failed\"".to_string())
        );
    }

    #[test]
    fn only_pending_and_sent_are_unfinished() {
        let unfinished: Vec<_> = ExecState::ALL
            .into_iter()
            .filter(|s| s.is_unfinished())
            .collect();
        assert_eq!(unfinished, [ExecState::Pending, ExecState::Sent]);
    }

    #[test]
    fn counts_add_up() {
        let c = StoreCounts {
            pending: 1,
            sent: 2,
            confirmed: 3,
            superseded: 4,
            dead: 5,
        };
        assert_eq!(c.unfinished(), 3);
        assert_eq!(c.total(), 15);
    }
}
