//! Sending a persisted execution: the backoff within one attempt, and what a send's
//! answer means for the row, the in-flight set and the nonce.
//!
//! Owns: [`Executor::send`] (a first attempt or a rebuild, with its build output),
//! [`Executor::send_with_backoff`] (any signed transaction, a stored one resent too) and
//! recording a send. Must not: send an execution that was not persisted first (its
//! callers persist it), or judge the chain's state (a failed send goes to the replay
//! queue through settle.rs).

use std::sync::atomic::{AtomicU32, Ordering};

use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::Signature;
use solana_sdk::transaction::{TransactionError, VersionedTransaction};

use super::in_flight::InFlight;
use super::prepare::Handback;
use super::{ExecEvent, ExecOutcome, Executor};
use crate::chain::ChainError;
use crate::execution::builder::TxBuildOutput;

impl Executor {
    /// Sends a persisted execution and records the outcome.
    pub(super) async fn send(
        &self,
        id: i64,
        thread: &Pubkey,
        exec_count: u64,
        mut output: TxBuildOutput,
    ) -> ExecOutcome {
        let priority = output.priority;
        match self.send_with_backoff(&output.tx).await {
            Ok(signature) => {
                if let Some(guard) = output.nonce_guard.as_mut() {
                    guard.mark_used();
                }
                self.metrics
                    .executions_submitted_total
                    .with_label_values(&[priority.as_str()])
                    .inc();
                let durable = output.nonce_guard.is_some();
                self.record_sent(id, *thread, exec_count, signature, Some(output));
                self.emit(ExecEvent::Submitted {
                    thread: *thread,
                    exec_count,
                    signature,
                    durable,
                });
                ExecOutcome::Submitted { id, signature }
            }
            Err(e) => {
                // A send without an answer may still have landed and advanced the nonce;
                // a rejected one may have been signed on a stale value.
                self.hand_back_nonce(output, Handback::AfterSend);
                let reason = e.to_string();
                self.retry_later(id, priority, &reason);
                ExecOutcome::Deferred { id, reason }
            }
        }
    }

    /// Marks the row sent and tracks the execution until its status resolves. A row
    /// left unmarked is still unfinished, so nothing is lost: the replay loop leaves it
    /// alone while it is in flight, and the chain settles it after.
    pub(super) fn record_sent(
        &self,
        id: i64,
        thread: Pubkey,
        exec_count: u64,
        signature: Signature,
        output: Option<TxBuildOutput>,
    ) {
        if let Err(e) = self.store.mark_sent(id, self.store.now()) {
            tracing::error!(id, %thread, exec_count, %signature, error = %e, "could not record a sent execution");
        }
        self.under_way.track(
            signature,
            InFlight {
                id,
                thread,
                exec_count,
                sent_at: tokio::time::Instant::now(),
                output,
            },
        );
    }

    /// Sends `tx`, trying again after [`ExecutorConfig::send_retry`]'s backoff while the
    /// endpoint does not answer. A resend is the same signed transaction, so it can land
    /// at most once; a resend answered `AlreadyProcessed` means an earlier try landed.
    ///
    /// [`ExecutorConfig::send_retry`]: super::ExecutorConfig::send_retry
    pub(super) async fn send_with_backoff(
        &self,
        tx: &VersionedTransaction,
    ) -> Result<Signature, ChainError> {
        let tries = AtomicU32::new(0);
        let mut rng = self.backoff_rng();
        self.config
            .send_retry
            .execute(
                &mut rng,
                || async {
                    let resend = tries.fetch_add(1, Ordering::Relaxed) > 0;
                    if resend {
                        self.metrics.send_retries_total.inc();
                    }
                    match self.chain.send(tx).await {
                        Err(ChainError::Rejected(TransactionError::AlreadyProcessed)) if resend => {
                            Ok(tx.signatures[0])
                        }
                        answer => answer,
                    }
                },
                ChainError::is_retryable,
            )
            .await
    }
}
