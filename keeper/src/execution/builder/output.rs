//! [`TxBuildOutput`]: a built transaction with the nonce guard it holds until broadcast
//! resolves, released explicitly, taken apart, or (with a warning) dropped.
//!
//! Owns: the guard's hand-over from the build to its caller. Must not: send the
//! transaction, or release the nonce before the caller says so.

use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::Signature;
use solana_sdk::transaction::VersionedTransaction;

use super::error::BuildError;
use super::order::ComputeBudget;
use super::priority::ExecutionPriority;
use crate::execution::nonce_pool::NonceLease;

/// A built transaction and the nonce guard it must keep until broadcast resolves.
pub struct TxBuildOutput {
    pub tx: VersionedTransaction,
    pub nonce_guard: Option<NonceLease>,
    pub required_signers: Vec<Pubkey>,
    pub priority: ExecutionPriority,
    pub budget: ComputeBudget,
}

impl TxBuildOutput {
    pub fn new(
        tx: VersionedTransaction,
        nonce_guard: Option<NonceLease>,
        priority: ExecutionPriority,
        budget: ComputeBudget,
    ) -> Self {
        let required_signers = tx
            .message
            .static_account_keys()
            .iter()
            .take(usize::from(tx.message.header().num_required_signatures))
            .copied()
            .collect();
        Self {
            tx,
            nonce_guard,
            required_signers,
            priority,
            budget,
        }
    }

    pub fn tx_ref(&self) -> &VersionedTransaction {
        &self.tx
    }

    pub fn required_signers(&self) -> &[Pubkey] {
        &self.required_signers
    }

    pub fn signature(&self) -> Option<Signature> {
        self.tx.signatures.first().copied()
    }

    /// Releases the nonce explicitly (after broadcast resolved). An already reclaimed
    /// lease is an error: the nonce may have been handed to another build meanwhile.
    pub fn release_nonce(mut self) -> Result<(), BuildError> {
        match self.nonce_guard.take() {
            Some(guard) => {
                let nonce = guard.nonce();
                guard.release().map_err(|_| BuildError::LeaseExpired(nonce))
            }
            None => Ok(()),
        }
    }

    /// The transaction and the guard, for callers that manage the guard themselves.
    pub fn into_parts(mut self) -> (VersionedTransaction, Option<NonceLease>) {
        let guard = self.nonce_guard.take();
        (std::mem::take(&mut self.tx), guard)
    }
}

impl Drop for TxBuildOutput {
    fn drop(&mut self) {
        if self.nonce_guard.is_some() {
            // The guard's own Drop returns the nonce; this only says it was not released
            // deliberately.
            tracing::warn!(
                signature = ?self.tx.signatures.first(),
                "TxBuildOutput dropped with its nonce guard still held"
            );
        }
    }
}
