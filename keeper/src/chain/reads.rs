//! Typed reads over any [`Chain`]: a thread account as the program wrote it, and a
//! sysvar. For the tools that read one thread and explain it (`keeper explain`, the
//! owner CLI); the daemon reads threads in bulk through discovery.
//!
//! Owns: what "not a thread" means (no account, another program's account, data that
//! does not decode as the current `Thread`), with the address and a reason. Must not:
//! write, sign or cache.

use serde::de::DeserializeOwned;
use solana_sdk::pubkey::Pubkey;
use solana_sdk::rent::Rent;
use thread::state::Thread;

use super::{Chain, ChainError};
use crate::tracking::index::decode;

/// Why no thread was read.
#[derive(Debug, thiserror::Error)]
pub enum ThreadReadError {
    #[error(transparent)]
    Chain(#[from] ChainError),
    #[error("no thread at {0}: the account does not exist (check the address and the cluster)")]
    NotFound(Pubkey),
    #[error("{address} is not a thread of program {program}: {reason}")]
    NotAThread {
        address: Pubkey,
        program: Pubkey,
        reason: String,
    },
}

/// A thread account, decoded, with what its balance figures need.
#[derive(Debug, Clone)]
pub struct ThreadAccount {
    pub thread: Thread,
    pub lamports: u64,
    pub data_len: usize,
}

/// The thread of `program` at `address`.
pub async fn read_thread(
    chain: &dyn Chain,
    program: &Pubkey,
    address: &Pubkey,
) -> Result<ThreadAccount, ThreadReadError> {
    let account = chain
        .get_account(address)
        .await?
        .ok_or(ThreadReadError::NotFound(*address))?;
    let not_a_thread = |reason: String| ThreadReadError::NotAThread {
        address: *address,
        program: *program,
        reason,
    };
    if account.owner != *program {
        return Err(not_a_thread(format!(
            "its owner program is {}",
            account.owner
        )));
    }
    let thread = decode(&account.data).map_err(not_a_thread)?;
    Ok(ThreadAccount {
        thread,
        lamports: account.lamports,
        data_len: account.data.len(),
    })
}

/// The sysvar at `id` (`name` for errors), decoded.
pub async fn read_sysvar<T: DeserializeOwned>(
    chain: &dyn Chain,
    id: &Pubkey,
    name: &str,
) -> Result<T, ChainError> {
    let account = chain
        .get_account(id)
        .await?
        .ok_or_else(|| ChainError::Rpc(format!("the {name} sysvar is missing")))?;
    bincode::deserialize(&account.data)
        .map_err(|e| ChainError::Rpc(format!("the {name} sysvar does not decode: {e}")))
}

/// The cluster's rent parameters.
pub async fn read_rent(chain: &dyn Chain) -> Result<Rent, ChainError> {
    read_sysvar(chain, &solana_sdk::sysvar::rent::ID, "Rent").await
}
