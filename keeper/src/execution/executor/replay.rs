//! Replays: executions persisted and not confirmed, due again after their backoff or
//! left unfinished by a previous run.
//!
//! Owns: [`Executor::replay_tick`] and [`Executor::recover`], judging each row by a fresh
//! read of its thread, resending a stored durable transaction whose nonce has not moved,
//! and recording a rebuild before it is sent (a rebuild the store did not record is not
//! sent). Must not: touch an execution a first send or an earlier replay still has under
//! way, or build but through prepare.rs.

use solana_sdk::hash::Hash;
use solana_sdk::pubkey::Pubkey;
use solana_sdk::transaction::VersionedTransaction;
use thread::state::{Durability, Thread};

use super::judge::{judge, Verdict};
use super::prepare::{Attempt, Handback, NonceValue, Prepared, Unprepared};
use super::{ExecEvent, ExecOutcome, Executor, SkipReason};
use crate::execution::builder::parse_nonce;
use crate::execution::builder::priority::ExecutionPriority;
use crate::store::{ExecState, Execution};

impl Executor {
    /// Replays executions whose next attempt is due: re-sends the stored transaction, or
    /// rebuilds it when its nonce has advanced (or its blockhash expired) without it.
    pub async fn replay_tick(&self) -> usize {
        self.replay_tick_admitting(|_| true).await
    }

    /// [`Executor::replay_tick`] for the executions whose priority `admits` (an operating
    /// mode's rule); the others stay due, untouched, for a later tick.
    pub async fn replay_tick_admitting(&self, admits: impl Fn(ExecutionPriority) -> bool) -> usize {
        let rows = match self
            .store
            .due_for_replay(self.store.now(), self.config.replay_batch)
        {
            Ok(rows) => rows,
            Err(e) => {
                tracing::error!(error = %e, "reading the replay queue failed");
                return 0;
            }
        };
        let mut replayed = 0;
        for row in rows {
            if !admits(row.priority) {
                continue;
            }
            if self
                .under_way
                .holds(row.id, (row.thread, row.exec_count_at_build))
            {
                continue;
            }
            // The batch was read before the replays ahead of this one awaited the chain;
            // the row may have been sent, confirmed or rebuilt since.
            let Some(row) = self.unfinished_row(row.id) else {
                continue;
            };
            self.metrics.replay_attempts_total.inc();
            if self.replay(row).await {
                replayed += 1;
            }
        }
        replayed
    }

    /// The row `id` as the store holds it now, if it is still unfinished.
    fn unfinished_row(&self, id: i64) -> Option<Execution> {
        match self.store.get(id) {
            Ok(row) => row.filter(|row| row.state.is_unfinished()),
            Err(e) => {
                tracing::error!(id, error = %e, "reading an execution to replay failed");
                None
            }
        }
    }

    /// Every unfinished execution of a previous run, replayed now: the start-up recovery.
    pub async fn recover(&self) -> usize {
        let rows = match self.store.unfinished() {
            Ok(rows) => rows,
            Err(e) => {
                tracing::error!(error = %e, "reading unfinished executions failed");
                return 0;
            }
        };
        let count = rows.len();
        for row in rows {
            self.replay(row).await;
        }
        count
    }

    /// Judges `row` by the chain and sends it again (as stored, or rebuilt); whether it
    /// was sent.
    async fn replay(&self, row: Execution) -> bool {
        let read = match self.thread_read(&row.thread).await {
            Ok(read) => read,
            Err(e) => {
                self.retry_later(row.id, row.priority, &e.to_string());
                return false;
            }
        };
        let state = match judge(&row, &read) {
            Verdict::Current => match read.state {
                Some(state) => state,
                None => return false,
            },
            Verdict::Ran => {
                self.supersede(&row, "the due time already ran", read.slot, false);
                self.metrics.replay_successes_total.inc();
                return false;
            }
            verdict => {
                self.settle_contradicted(&row, verdict, read.slot);
                return false;
            }
        };
        self.emit(ExecEvent::Replayed {
            thread: row.thread,
            exec_count: row.exec_count_at_build,
            retry: row.retry_count > 0,
        });
        match self.reusable_transaction(&row, &state).await {
            Some(tx) => self.resend(&row, &state, &tx).await,
            None => self.rebuild(&row, state, read.slot).await,
        }
    }

    /// The stored transaction, if it can still land: a durable one whose nonce still
    /// holds the value it was signed on. A non-durable blockhash expires, so those are
    /// always rebuilt.
    async fn reusable_transaction(
        &self,
        row: &Execution,
        state: &Thread,
    ) -> Option<VersionedTransaction> {
        if row.state == ExecState::Dead {
            return None;
        }
        let (Durability::Durable { nonce_account }, Some(value)) =
            (&state.durability, row.nonce_value)
        else {
            return None;
        };
        let stored = match row.decode_transaction() {
            Ok(tx) => tx,
            Err(e) => {
                tracing::warn!(id = row.id, error = %e, "the stored transaction does not decode; rebuilding it");
                return None;
            }
        };
        (self.current_nonce_value(nonce_account).await == Some(value)).then_some(stored)
    }

    /// Sends the stored transaction again, as it was signed.
    async fn resend(&self, row: &Execution, state: &Thread, tx: &VersionedTransaction) -> bool {
        let sent = self.send_with_backoff(tx).await;
        if let Durability::Durable { nonce_account } = &state.durability {
            // Once the resent transaction lands the cached value is stale, and this
            // send holds no guard whose confirmation would clear it.
            self.nonces.may_have_advanced(nonce_account);
        }
        match sent {
            Ok(signature) => {
                self.record_sent(row.id, row.thread, row.exec_count_at_build, signature, None);
                true
            }
            Err(e) => {
                self.retry_later(row.id, row.priority, &e.to_string());
                false
            }
        }
    }

    /// Builds the due time afresh (a non-durable blockhash expires, and a durable nonce
    /// that advanced without this execution makes the stored transaction unusable),
    /// records it in place of the stored one, and sends it.
    async fn rebuild(&self, row: &Execution, state: Thread, read_slot: u64) -> bool {
        let attempt = Attempt {
            thread: row.thread,
            exec_count: row.exec_count_at_build,
            priority: row.priority,
            nonce_value: NonceValue::ReadAfresh,
        };
        let Prepared { output, record } = match self.prepare(&attempt, state, read_slot).await {
            Ok(prepared) => prepared,
            Err(unprepared) => {
                self.not_rebuilt(row, unprepared, read_slot);
                return false;
            }
        };
        if let Err(e) = self.store.replace_transaction(row.id, &record) {
            // Not sent: the row keeps the transaction it had, is still due, and the next
            // replay judges it again.
            self.hand_back_nonce(output, Handback::Unsent);
            self.metrics
                .executions_failed_total
                .with_label_values(&["store"])
                .inc();
            tracing::error!(id = row.id, thread = %row.thread, exec_count = row.exec_count_at_build, error = %e, "could not record a rebuilt execution; it is not sent");
            return false;
        }
        matches!(
            self.send(row.id, &row.thread, row.exec_count_at_build, output)
                .await,
            ExecOutcome::Submitted { .. }
        )
    }

    /// What a rebuild that prepared nothing means for its row.
    fn not_rebuilt(&self, row: &Execution, unprepared: Unprepared, read_slot: u64) {
        let reason = match unprepared {
            Unprepared::LeasedBy(holder) => {
                return self.supersede(row, &format!("thread leased by {holder}"), read_slot, true)
            }
            // The read taken once the lease was cleared no longer shows the due time:
            // the next replay judges the row by a read of its own, so no attempt counts.
            Unprepared::Moved(reason) => {
                let moved = match reason {
                    SkipReason::Gone => "the thread was not found",
                    _ => "the due time ran",
                };
                return self.put_off(
                    row,
                    &format!("{moved} when read again after its lease was cleared"),
                );
            }
            Unprepared::Chain(e) => e.to_string(),
            Unprepared::Lease(e) => format!("lease: {e}"),
            Unprepared::Build(e) => format!("rebuild: {e}"),
            Unprepared::Encode(e) => format!("encode: {e}"),
        };
        self.retry_later(row.id, row.priority, &reason);
    }

    async fn current_nonce_value(&self, nonce: &Pubkey) -> Option<Hash> {
        let account = self.chain.get_account(nonce).await.ok()??;
        parse_nonce(&account.data).map(|(_, value)| value)
    }
}
