//! Confirmation: resolving sent executions from batched signature statuses.
//!
//! Owns: [`Executor::confirm_tick`], what a landed, failed or timed-out execution means
//! for its row, and handing the execution's nonce back once it resolved. Must not: send
//! or build (a failure goes to the replay queue through settle.rs).

use std::collections::HashMap;
use std::time::Duration;

use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::Signature;
use solana_sdk::transaction::TransactionError;

use super::in_flight::InFlight;
use super::judge::{judge, Verdict};
use super::prepare::Handback;
use super::{ExecEvent, Executor};
use crate::chain::ChainError;
use crate::execution::builder::priority::ExecutionPriority;

/// Signatures per `getSignatureStatuses` call: the most an RPC node answers at once.
const STATUSES_PER_CALL: usize = 256;

impl Executor {
    /// Resolves sent executions with one `getSignatureStatuses` per 256 signatures, and
    /// returns the threads whose executions resolved (their state changed, or they may be
    /// issued again).
    pub async fn confirm_tick(&self) -> Result<Vec<Pubkey>, ChainError> {
        let pending = self.under_way.signatures();
        let pending_threads: HashMap<Signature, Pubkey> = pending.iter().copied().collect();
        let pending: Vec<Signature> = pending.into_iter().map(|(s, _)| s).collect();
        let mut resolved = Vec::new();
        for chunk in pending.chunks(STATUSES_PER_CALL) {
            let statuses = self.chain.signature_statuses(chunk).await?;
            for (signature, status) in chunk.iter().zip(statuses) {
                match status {
                    Some(status) if status.err.is_none() && status.confirmed => {
                        self.resolve_confirmed(signature, status.slot);
                        resolved.extend(pending_threads.get(signature));
                    }
                    Some(status) => {
                        if let Some(err) = status.err {
                            self.resolve_failed(signature, err).await;
                            resolved.extend(pending_threads.get(signature));
                        }
                    }
                    None => {
                        if self.resolve_if_timed_out(signature) {
                            resolved.extend(pending_threads.get(signature));
                        }
                    }
                }
            }
        }
        Ok(resolved)
    }

    /// Hands a resolved execution's nonce back to the pool (landed, failed on chain, or
    /// perhaps landed unseen, the nonce may have moved). Returns the priority it was
    /// built at and whether it was durable; `None` for a stored transaction resent,
    /// which holds no build output.
    fn release_nonce_of(&self, flight: &mut InFlight) -> Option<(ExecutionPriority, bool)> {
        let output = flight.output.take()?;
        let resolved = (output.priority, output.nonce_guard.is_some());
        self.hand_back_nonce(output, Handback::AfterSend);
        Some(resolved)
    }

    fn resolve_confirmed(&self, signature: &Signature, slot: u64) {
        let Some(mut flight) = self.under_way.take(signature) else {
            return;
        };
        if let Err(e) = self.store.mark_confirmed_at(flight.id, slot) {
            // Still unfinished: the replay judges it by the chain, which shows it ran.
            tracing::error!(id = flight.id, thread = %flight.thread, exec_count = flight.exec_count, %signature, error = %e, "could not record a confirmation");
        }
        if let Some((_, true)) = self.release_nonce_of(&mut flight) {
            // The nonce advanced with this transaction.
            self.metrics.nonce_advances_total.inc();
        }
        self.metrics.executions_confirmed_total.inc();
        self.metrics
            .confirmation_latency_seconds
            .observe(flight.sent_at.elapsed().as_secs_f64());
        tracing::info!(thread = %flight.thread, exec_count = flight.exec_count, %signature, "execution confirmed");
        self.emit(ExecEvent::Confirmed {
            thread: flight.thread,
            exec_count: flight.exec_count,
            signature: *signature,
        });
    }

    async fn resolve_failed(&self, signature: &Signature, err: TransactionError) {
        let Some(mut flight) = self.under_way.take(signature) else {
            return;
        };
        // A durable transaction that executed and failed still advanced its nonce.
        let priority = self
            .release_nonce_of(&mut flight)
            .map_or(ExecutionPriority::Medium, |(priority, _)| priority);
        self.metrics
            .executions_failed_total
            .with_label_values(&["on_chain"])
            .inc();
        let failed = format!("failed on chain: {err}");
        let row = match self.store.get(flight.id) {
            Ok(Some(row)) => row,
            Ok(None) => return self.retry_later(flight.id, priority, &failed),
            Err(e) => {
                tracing::warn!(id = flight.id, error = %e, "could not read a failed execution to judge it; replaying it");
                return self.retry_later(flight.id, priority, &failed);
            }
        };
        let read = match self.thread_read(&flight.thread).await {
            Ok(read) => read,
            Err(_) => return self.retry_later(flight.id, priority, &failed),
        };
        match judge(&row, &read) {
            Verdict::Current => self.retry_later(flight.id, priority, &failed),
            Verdict::Ran => self.supersede(
                &row,
                "the due time ran in another transaction",
                read.slot,
                false,
            ),
            verdict => self.settle_contradicted(&row, verdict, read.slot),
        }
    }

    /// A sent transaction the chain never reported: dropped somewhere. Replay it.
    fn resolve_if_timed_out(&self, signature: &Signature) -> bool {
        let timeout = Duration::from_secs(self.config.confirm_timeout_secs);
        let Some(mut flight) = self.under_way.take_if_older_than(signature, timeout) else {
            return false;
        };
        // It may land yet, or have landed unseen: the cached value is suspect.
        let priority = self
            .release_nonce_of(&mut flight)
            .map_or(ExecutionPriority::Medium, |(priority, _)| priority);
        self.retry_later(
            flight.id,
            priority,
            "no status before the confirmation timeout",
        );
        true
    }
}
