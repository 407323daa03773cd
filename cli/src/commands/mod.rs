//! The owner's commands, each a function of a [`Chain`] (JSON-RPC in the binary, the
//! in-process bank in tests) and the owner's keypair, returning what the binary prints.
//!
//! Owns: the order every write follows (check the inputs, read the thread and check that
//! the keypair owns it, build the instruction, sign and land it) and the errors a command
//! can end in. Files: `create.rs`, `read.rs` (list, show), `change.rs` (pause, resume,
//! update, withdraw, delete), `durability.rs` (make-durable, make-non-durable,
//! rotate-nonce, revoke-lease).
//!
//! Must not: print, read flags or files other than specs, or exit: that is the binary's.

mod change;
mod create;
mod durability;
mod pieces;
mod read;

pub use change::{delete, pause, resume, update, withdraw};
pub use create::create;
pub use durability::{make_durable, make_non_durable, revoke_lease, rotate_nonce};
pub use read::{explain, list, show, OWNER_OFFSET};

use keeper::chain::reads::{read_rent, read_thread, ThreadAccount, ThreadReadError};
use keeper::chain::{Chain, ChainError};
use serde::Serialize;
use solana_sdk::pubkey::Pubkey;
use solana_sdk::rent::Rent;
use solana_sdk::signature::{Keypair, Signature, Signer};

use crate::refusal::Refusal;
use crate::submit::SubmitError;

/// Who acts, and where: the chain and the owner's keypair (the fee payer of every write).
#[derive(Clone, Copy)]
pub struct Owner<'a> {
    pub chain: &'a dyn Chain,
    pub keypair: &'a Keypair,
}

/// How a command ended, other than with its result.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// A bad input, refused before anything was signed.
    #[error("refused: {0}")]
    Refused(#[from] Refusal),
    #[error(transparent)]
    Chain(#[from] ChainError),
    #[error(transparent)]
    Submit(#[from] SubmitError),
    #[error(transparent)]
    Thread(#[from] ThreadReadError),
    #[error(transparent)]
    Explain(#[from] keeper::ops::explain::ExplainError),
    /// A thread written in pieces failed part way: it exists, paused, with part of its
    /// instructions.
    #[error("{source}; thread {thread} exists paused with {written} of {total} transactions written: `threads delete {thread}` it and create it again")]
    PartlyWritten {
        thread: Pubkey,
        written: usize,
        total: usize,
        source: Box<SubmitError>,
    },
}

/// What a write did: the binary prints it as text or JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Written {
    /// The command, as typed (`pause`, `make-durable`).
    pub command: &'static str,
    pub thread: String,
    pub signature: String,
    /// The nonce account a command created (`create` of a durable thread,
    /// `make-durable`, `rotate-nonce`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nonce_account: Option<String>,
    /// Transactions a `create` took when its instructions did not fit one (the
    /// signature is the first's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transactions: Option<usize>,
}

impl Written {
    fn new(command: &'static str, thread: &Pubkey, signature: &Signature) -> Self {
        Self {
            command,
            thread: thread.to_string(),
            signature: signature.to_string(),
            nonce_account: None,
            transactions: None,
        }
    }

    fn with_transactions(mut self, transactions: usize) -> Self {
        self.transactions = Some(transactions);
        self
    }

    fn with_nonce(mut self, nonce: &Pubkey) -> Self {
        self.nonce_account = Some(nonce.to_string());
        self
    }

    /// One line for a terminal.
    pub fn to_text(&self) -> String {
        let nonce = self
            .nonce_account
            .as_ref()
            .map(|n| format!("\nnonce account: {n}"))
            .unwrap_or_default();
        let transactions = self
            .transactions
            .map(|n| format!("\nwritten in {n} transactions (too large for one)"))
            .unwrap_or_default();
        format!(
            "{}: thread {}\nsignature: {}{nonce}{transactions}",
            self.command, self.thread, self.signature
        )
    }
}

/// A thread as read from the chain.
type Fetched = ThreadAccount;

/// Reads and decodes the thread at `address`.
async fn fetch(chain: &dyn Chain, address: &Pubkey) -> Result<Fetched, CommandError> {
    Ok(read_thread(chain, &thread::ID, address).await?)
}

/// Reads the thread at `address` and refuses it unless `owner` owns it: the program
/// would reject the transaction, after the fee was paid.
async fn fetch_owned(owner: Owner<'_>, address: &Pubkey) -> Result<Fetched, CommandError> {
    let fetched = fetch(owner.chain, address).await?;
    let signer = owner.keypair.pubkey();
    if fetched.thread.owner != signer {
        return Err(Refusal::new(
            "--keypair",
            format!(
                "{signer} does not own thread {address} (its owner is {})",
                fetched.thread.owner
            ),
            "pass the owner's keypair with -k/--keypair",
        )
        .into());
    }
    Ok(fetched)
}

/// The cluster's rent parameters, from the Rent sysvar.
async fn rent(chain: &dyn Chain) -> Result<Rent, CommandError> {
    Ok(read_rent(chain).await?)
}

/// A thread address given on the command line.
pub fn thread_address(text: &str) -> Result<Pubkey, Refusal> {
    crate::spec::pubkey("ADDRESS", text)
}

/// Signs and lands `instructions` for the thread at `address` (with `extra` co-signers).
async fn land(
    owner: Owner<'_>,
    command: &'static str,
    address: &Pubkey,
    extra: &[&Keypair],
    instructions: &[solana_sdk::instruction::Instruction],
) -> Result<Written, CommandError> {
    let signature = crate::submit::submit(owner.chain, owner.keypair, extra, instructions).await?;
    Ok(Written::new(command, address, &signature))
}
