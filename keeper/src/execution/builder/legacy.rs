//! The builder's first API, kept for callers written against it: each wrapper returns
//! only the transaction, releasing the nonce before the caller broadcasts it, so another
//! build may reuse the nonce's value. Deprecated, and it warns once per process.
//! Must not: be called by the keeper itself (it uses `build_execution_output` and
//! releases the guard after sending).

use std::sync::Once;

use solana_sdk::transaction::VersionedTransaction;

use super::{BuildError, ExecutionBuilder, ThreadExecution, TxConfig};

static LEGACY_WARNING: Once = Once::new();

impl ExecutionBuilder {
    /// Legacy: durable for durable threads, returns only the transaction.
    #[deprecated(note = "releases the nonce before the transaction is broadcast; use \
                         build_execution_output and release the guard after sending")]
    pub async fn build_execution(
        &self,
        exec: ThreadExecution<'_>,
        config: &TxConfig,
        sign: bool,
    ) -> Result<VersionedTransaction, BuildError> {
        #[allow(deprecated)]
        self.build_execution_with_nonce(exec, config, sign, exec.nonce().is_some())
            .await
    }

    /// Legacy: returns only the transaction, so the nonce is released before the
    /// transaction is broadcast and another build may reuse its value. Warns once.
    /// Kept (deprecated) for callers written against the first builder API; the keeper
    /// itself never calls it.
    #[deprecated(note = "releases the nonce before the transaction is broadcast; use \
                         build_execution_output and release the guard after sending")]
    pub async fn build_execution_with_nonce(
        &self,
        exec: ThreadExecution<'_>,
        config: &TxConfig,
        sign: bool,
        enforce_nonce: bool,
    ) -> Result<VersionedTransaction, BuildError> {
        let output = self
            .build_execution_output(exec, config, sign, enforce_nonce)
            .await?;
        LEGACY_WARNING.call_once(|| {
            tracing::warn!("legacy build API: the nonce is released before broadcast; use build_execution_output")
        });
        let (tx, guard) = output.into_parts();
        if let Some(guard) = guard {
            let _ = guard.release();
        }
        Ok(tx)
    }
}
