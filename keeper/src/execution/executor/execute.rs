//! A due time's first attempt: the scheduler found a thread due, and this makes it one
//! persisted, sent execution, or says why not.
//!
//! Owns: [`Executor::execute`]: checking the chain still shows the due time unexecuted
//! and unpaused, whether a row already owns it (reopening one the chain has since
//! contradicted), persisting before sending (an execution the store did not record is
//! not sent), declining what would not pay this keeper (through pricing.rs), and
//! counting the builds the chain refuses towards a dead letter. Must not: build or send
//! but through prepare.rs and send.rs, or replay (replay.rs does).

use solana_sdk::instruction::InstructionError;
use solana_sdk::pubkey::Pubkey;
use solana_sdk::transaction::TransactionError;
use thread::errors::ThreadError;

use super::judge::{owner_of_due_time, RowOwns};
use super::prepare::{Attempt, Handback, NonceValue, Prepared, Unprepared};
use super::{ExecOutcome, Executor, SkipReason};
use crate::execution::builder::priority::ExecutionPriority;
use crate::execution::builder::BuildError;
use crate::store::{NewExecution, UnbuiltExecution};

/// A finished row the chain has since contradicted: its id, and why it is reopened.
struct Reopen {
    id: i64,
    reason: String,
}

impl Executor {
    /// Executes `thread`, which the scheduler found due at `exec_count`.
    pub async fn execute(&self, thread: Pubkey, exec_count: u64) -> ExecOutcome {
        let read = match self.thread_read(&thread).await {
            Ok(read) => read,
            Err(e) => return ExecOutcome::Failed(e.to_string()),
        };
        let (read_slot, state) = match read.state {
            Some(state) => (read.slot, state),
            None => return ExecOutcome::Skipped(SkipReason::Gone),
        };
        if state.exec_count != exec_count {
            return ExecOutcome::Skipped(SkipReason::AlreadyExecuted);
        }
        if state.paused {
            return ExecOutcome::Skipped(SkipReason::Paused);
        }
        if self.held_as_unprofitable(&thread, exec_count) {
            return ExecOutcome::Skipped(SkipReason::Unprofitable);
        }
        // A persisted execution for this due time owns it while it is in flight,
        // replaying, or in the dead-letter queue until an operator retries it; a row the
        // chain has since contradicted does not, and is reopened below.
        let reopen = match self.store.find(&thread, exec_count) {
            Ok(Some(row)) => match owner_of_due_time(&row, read_slot, &state) {
                RowOwns::Yes => return ExecOutcome::Skipped(SkipReason::InFlight),
                RowOwns::AlreadyRan => return ExecOutcome::Skipped(SkipReason::AlreadyExecuted),
                RowOwns::No(reason) => {
                    if row.state.is_unfinished() {
                        self.supersede(&row, &reason, read_slot, true);
                    }
                    Some(Reopen { id: row.id, reason })
                }
            },
            Ok(None) => None,
            Err(e) => return ExecOutcome::Failed(format!("store: {e}")),
        };
        let attempt = Attempt {
            thread,
            exec_count,
            priority: self.priority_of(&state),
            nonce_value: NonceValue::Cached,
        };
        let pricing = self.pricing_of(&state);
        let Prepared { output, record } = match self.prepare(&attempt, state, read_slot).await {
            Ok(prepared) => prepared,
            Err(unprepared) => return self.not_executed(&attempt, unprepared),
        };
        self.build_failures.clear(&thread);
        let output = match self.priced(thread, exec_count, pricing, output) {
            Ok(output) => output,
            Err(declined) => return declined,
        };
        let _sending = self.under_way.mark_sending((thread, exec_count));
        let id = match self.record_first(reopen, record) {
            Ok(id) => id,
            Err(reason) => {
                // Nothing lost: the due time is still the thread's next on chain, and the
                // scheduler offers it again.
                self.hand_back_nonce(output, Handback::Unsent);
                self.metrics
                    .executions_failed_total
                    .with_label_values(&["store"])
                    .inc();
                tracing::error!(%thread, exec_count, reason, "could not record an execution; it is not sent");
                return ExecOutcome::Failed(reason);
            }
        };
        self.send(id, &thread, exec_count, output).await
    }

    /// Persists `record`, or reopens the finished row the chain has contradicted with it;
    /// returns the row's id. `Err`: why it was not recorded.
    fn record_first(&self, reopen: Option<Reopen>, record: NewExecution) -> Result<i64, String> {
        let Some(Reopen { id, reason }) = reopen else {
            return self
                .store
                .persist(record)
                .map_err(|e| format!("persist: {e}"));
        };
        tracing::warn!(thread = %record.thread, exec_count = record.exec_count_at_build, id, reason, "the chain shows the due time unexecuted; its finished execution is reopened");
        self.store
            .reopen(id, &record, &format!("reopened: {reason}"))
            .map(|()| id)
            .map_err(|e| format!("reopen: {e}"))
    }

    /// What a first attempt that prepared nothing comes to.
    fn not_executed(&self, attempt: &Attempt, unprepared: Unprepared) -> ExecOutcome {
        match unprepared {
            Unprepared::Chain(e) => ExecOutcome::Failed(e.to_string()),
            Unprepared::Moved(reason) => ExecOutcome::Skipped(reason),
            Unprepared::LeasedBy(holder) => ExecOutcome::Skipped(SkipReason::LeasedByOther(holder)),
            Unprepared::Lease(e) => ExecOutcome::Failed(format!("lease: {e}")),
            Unprepared::Build(BuildError::SimulationFailed { err, .. }) if is_not_due(&err) => {
                ExecOutcome::Skipped(SkipReason::NotDue)
            }
            Unprepared::Build(
                e @ (BuildError::NonceUnavailable(_) | BuildError::LeaseExpired(_)),
            ) => ExecOutcome::Busy(format!("build: {e}")),
            Unprepared::Build(e) if e.is_thread_fault() => self.refused(
                attempt.thread,
                attempt.exec_count,
                attempt.priority,
                &format!("build: {e}"),
            ),
            Unprepared::Build(e) => ExecOutcome::Failed(format!("build: {e}")),
            Unprepared::Encode(e) => ExecOutcome::Failed(format!("encode: {e}")),
        }
    }

    /// Counts a build the chain refused; after the first attempt and `max_retries` more
    /// in a row, records the due time in the dead-letter queue (it was never signed, so
    /// a later `keeper dlq retry` builds it afresh) and alerts like any dead letter.
    fn refused(
        &self,
        thread: Pubkey,
        exec_count: u64,
        priority: ExecutionPriority,
        reason: &str,
    ) -> ExecOutcome {
        let attempts = self.build_failures.record(thread, exec_count);
        if attempts <= self.config.max_retries {
            tracing::warn!(%thread, exec_count, attempts, reason, "the chain refused the execution; trying again when next offered");
            return ExecOutcome::Refused {
                reason: reason.to_string(),
                dead_letter: None,
            };
        }
        let unbuilt = UnbuiltExecution {
            thread,
            exec_count,
            priority,
            max_retries: self.config.max_retries,
            attempts,
        };
        let dead_letter = match self.store.dead_letter_unbuilt(&unbuilt, reason) {
            Ok(Some(id)) => {
                self.build_failures.clear(&thread);
                self.dead_lettered(id, thread, exec_count, reason);
                Some(id)
            }
            // Another path persisted this due time meanwhile: that row owns it.
            Ok(None) => {
                self.build_failures.clear(&thread);
                None
            }
            Err(e) => {
                // The count is kept, so the next refusal tries to dead-letter it again.
                tracing::error!(%thread, exec_count, error = %e, "could not dead-letter a refused execution");
                None
            }
        };
        ExecOutcome::Refused {
            reason: reason.to_string(),
            dead_letter,
        }
    }
}

/// The thread program's "not due yet" / "already completed" errors: the scheduler's view
/// was ahead of the chain, or another keeper got there first. A condition's price that
/// aged past its bound between the tick and the simulation is the same: a fresh price
/// makes it due again, so it is not the thread's fault.
fn is_not_due(err: &TransactionError) -> bool {
    let not_due = [
        ThreadError::ThreadNotDue,
        ThreadError::ThreadCompleted,
        ThreadError::StaleConditionValue,
    ];
    matches!(
        err,
        TransactionError::InstructionError(_, InstructionError::Custom(code))
            if not_due.into_iter().any(|error| u32::from(error) == *code)
    )
}
