//! Signing and landing one owner transaction: the owner pays the fee, any fresh nonce
//! keypair co-signs, and the command waits until the chain confirms it or says it failed.
//!
//! Must not: build instructions or judge inputs (the commands do), or retry a transaction
//! the chain rejected: an owner's change is sent once and its outcome reported.

use std::time::Duration;

use keeper::chain::{Chain, ChainError, TxStatus};
use keeper::execution::builder::tables::MAX_TRANSACTION_BYTES;
use solana_sdk::instruction::Instruction;
use solana_sdk::message::Message;
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::{Keypair, Signature, Signer};
use solana_sdk::transaction::{Transaction, TransactionError, VersionedTransaction};

use crate::program_error;

/// How long to wait for a confirmation: longer than a blockhash lives (~60-90 s), after
/// which the transaction can no longer land.
const CONFIRM_WITHIN: Duration = Duration::from_secs(90);
const POLL_EVERY: Duration = Duration::from_millis(500);

/// Why a transaction did not land.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// Executed and failed; `signature` shows it in an explorer.
    #[error("transaction {signature} failed: {}", program_error::explain(error))]
    Failed {
        signature: Signature,
        error: TransactionError,
    },
    #[error("transaction {0} was not confirmed within {CONFIRM_WITHIN:?}; check it before sending again")]
    Unconfirmed(Signature),
}

/// Whether `instructions`, paid by `payer`, fit one legacy transaction: its signatures
/// and message within the packet limit a cluster accepts.
pub fn fits_one_transaction(payer: &Pubkey, instructions: &[Instruction]) -> bool {
    let message = Message::new(instructions, Some(payer));
    let signatures = usize::from(message.header.num_required_signatures);
    // A short-vec length (one byte up to 127 signatures), then 64 bytes a signature.
    let size = 1 + 64 * signatures + message.serialize().len();
    u64::try_from(size).is_ok_and(|size| size <= MAX_TRANSACTION_BYTES)
}

/// Signs `instructions` with `owner` (fee payer) and `extra`, sends, and waits for the
/// outcome.
pub async fn submit(
    chain: &dyn Chain,
    owner: &Keypair,
    extra: &[&Keypair],
    instructions: &[Instruction],
) -> Result<Signature, SubmitError> {
    let blockhash = chain.latest_blockhash().await?;
    let mut signers: Vec<&Keypair> = vec![owner];
    signers.extend_from_slice(extra);
    let tx = Transaction::new_signed_with_payer(
        instructions,
        Some(&owner.pubkey()),
        &signers,
        blockhash,
    );
    let signature = chain.send(&VersionedTransaction::from(tx)).await?;
    let deadline = tokio::time::Instant::now() + CONFIRM_WITHIN;
    loop {
        let status = chain
            .signature_statuses(&[signature])
            .await?
            .pop()
            .flatten();
        match status {
            Some(TxStatus {
                err: Some(error), ..
            }) => return Err(SubmitError::Failed { signature, error }),
            Some(status) if status.confirmed => return Ok(signature),
            _ if tokio::time::Instant::now() >= deadline => {
                return Err(SubmitError::Unconfirmed(signature))
            }
            _ => tokio::time::sleep(POLL_EVERY).await,
        }
    }
}
