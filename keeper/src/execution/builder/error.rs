//! [`BuildError`]: why a build failed, whose fault it is, and the label it is counted
//! under in `keeper_builds_total`.
//!
//! Owns: the error kinds and their classification. Must not: decide what to do about a
//! failure (retry, dead-letter): the executor does, from `is_thread_fault`.

use solana_sdk::pubkey::Pubkey;
use solana_sdk::transaction::TransactionError;

use super::order::OrderError;
use crate::chain::ChainError;

/// Most bytes in a serialized transaction: one packet (`PACKET_DATA_SIZE`); a larger one
/// no node takes ([`BuildError::TooLarge`]).
pub const MAX_TRANSACTION_BYTES: u64 = 1_232;

/// Why a build failed. `kind()` is the metric label.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum BuildError {
    #[error("nonce {0} is in use by another build or not leased by this keeper")]
    NonceUnavailable(Pubkey),
    #[error("nonce lease on {0} expired before the build finished")]
    LeaseExpired(Pubkey),
    #[error("thread {0} is not durable: there is no nonce to enforce")]
    NotDurable(Pubkey),
    #[error("thread {0} is durable: its execution must be anchored on its nonce")]
    NonceRequired(Pubkey),
    #[error("{0} is not an initialized nonce account")]
    InvalidNonceAccount(Pubkey),
    #[error("nonce {nonce} has authority {actual}, not this keeper ({expected})")]
    NonceAuthorityMismatch {
        nonce: Pubkey,
        expected: Pubkey,
        actual: Pubkey,
    },
    /// The program's last log lines ride along: they reach the replay row and a dead
    /// letter's reason, where `keeper explain` and `keeper dlq show` print them.
    #[error("simulation failed: {err}{}", log_tail(logs))]
    SimulationFailed {
        err: TransactionError,
        logs: Vec<String>,
    },
    #[error(transparent)]
    #[strum(serialize = "rpc_error")]
    Chain(#[from] ChainError),
    #[error("instruction order: {0}")]
    #[strum(serialize = "instruction_order")]
    Order(#[from] OrderError),
    #[error("compiling the message failed: {0}")]
    Message(String),
    /// A lookup table the thread names cannot be used; its owner must change it.
    #[error("lookup table {table} {problem}")]
    LookupTable { table: Pubkey, problem: String },
    /// The transaction does not fit one packet; `outside_tables` are the accounts it
    /// carries in full, which the thread's lookup tables would have to hold.
    #[error(
        "the execution is {bytes} bytes, over the {} a transaction may have; {}",
        MAX_TRANSACTION_BYTES,
        outside_tables_hint(outside_tables)
    )]
    TooLarge {
        bytes: u64,
        outside_tables: Vec<Pubkey>,
    },
    #[error("signing failed: {0}")]
    Signing(String),
}

/// Whether a simulation's refusal comes from the thread (its instructions, the accounts
/// they name, its lookup tables): the same build is refused again until the owner changes
/// something. A program's refusal is; so are the transaction-level refusals of what the
/// thread names (more accounts than a transaction may lock, or lookup tables the runtime
/// cannot resolve). Not: a fee payer short of funds, an expired blockhash, a busy node.
fn is_the_threads_transaction_error(err: &TransactionError) -> bool {
    matches!(
        err,
        TransactionError::InstructionError(..)
            | TransactionError::TooManyAccountLocks
            | TransactionError::AccountLoadedTwice
            | TransactionError::AddressLookupTableNotFound
            | TransactionError::InvalidAddressLookupTableOwner
            | TransactionError::InvalidAddressLookupTableData
            | TransactionError::InvalidAddressLookupTableIndex
    )
}

/// What the owner must do about a transaction over the limit.
fn outside_tables_hint(accounts: &[Pubkey]) -> String {
    const NAMED: usize = 8;
    let named: Vec<String> = accounts.iter().take(NAMED).map(Pubkey::to_string).collect();
    let more = accounts.len().saturating_sub(NAMED);
    let tail = if more > 0 {
        format!(" and {more} more")
    } else {
        String::new()
    };
    format!(
        "attach address lookup tables (update_thread lookup_tables) holding the {} accounts no table of the thread holds: {}{tail}",
        accounts.len(),
        named.join(", ")
    )
}

/// Log lines of a failed simulation kept in its error: the last few, where the program
/// says why it refused.
const LOG_LINES_KEPT: usize = 4;
/// Longest log line kept, in characters.
const LOG_LINE_CHARS: usize = 200;

/// `"; logs: a | b"` of the last [`LOG_LINES_KEPT`] lines, or nothing without logs.
fn log_tail(logs: &[String]) -> String {
    if logs.is_empty() {
        return String::new();
    }
    let kept: Vec<String> = logs[logs.len().saturating_sub(LOG_LINES_KEPT)..]
        .iter()
        .map(|line| line.chars().take(LOG_LINE_CHARS).collect())
        .collect();
    format!("; logs: {}", kept.join(" | "))
}

impl BuildError {
    /// Whether the same build would fail again until the thread, its nonce or its owner
    /// changes something: the program refused it in simulation, the thread's nonce
    /// account is not one this keeper can use, or its lookup tables cannot be used or do
    /// not make it fit. Not: an unreachable chain, a busy nonce,
    /// an expired blockhash, or a transaction-level refusal such as the keeper's payer
    /// lacking funds for the fee (the keeper's fault, not the thread's).
    pub fn is_thread_fault(&self) -> bool {
        match self {
            BuildError::SimulationFailed { err, .. } => is_the_threads_transaction_error(err),
            BuildError::InvalidNonceAccount(_)
            | BuildError::NonceAuthorityMismatch { .. }
            | BuildError::NotDurable(_)
            | BuildError::NonceRequired(_)
            | BuildError::Order(_)
            | BuildError::LookupTable { .. }
            | BuildError::TooLarge { .. } => true,
            BuildError::NonceUnavailable(_)
            | BuildError::LeaseExpired(_)
            | BuildError::Chain(_)
            | BuildError::Message(_)
            | BuildError::Signing(_) => false,
        }
    }

    pub fn kind(&self) -> &'static str {
        self.into()
    }
}

#[cfg(test)]
mod tests {
    use solana_sdk::instruction::InstructionError;

    use super::*;

    fn failed(logs: Vec<String>) -> BuildError {
        BuildError::SimulationFailed {
            err: TransactionError::InstructionError(1, InstructionError::Custom(6_021)),
            logs,
        }
    }

    #[test]
    fn a_failed_simulation_says_the_programs_last_words() {
        assert_eq!(
            failed(vec![]).to_string(),
            "simulation failed: Error processing Instruction 1: custom program error: 0x1785"
        );
        let logs: Vec<String> = (1..=6).map(|i| format!("Program log: line {i}")).collect();
        assert_eq!(
            failed(logs).to_string(),
            "simulation failed: Error processing Instruction 1: custom program error: 0x1785; \
             logs: Program log: line 3 | Program log: line 4 | Program log: line 5 | \
             Program log: line 6"
        );
        let long = failed(vec!["x".repeat(1_000)]).to_string();
        assert!(long.ends_with(&format!("logs: {}", "x".repeat(LOG_LINE_CHARS))));
    }

    #[test]
    fn refusals_of_what_the_thread_names_are_its_fault_and_the_keepers_own_are_not() {
        let refused = |err| BuildError::SimulationFailed { err, logs: vec![] };
        for err in [
            TransactionError::TooManyAccountLocks,
            TransactionError::AddressLookupTableNotFound,
            TransactionError::InvalidAddressLookupTableIndex,
            TransactionError::InstructionError(0, InstructionError::Custom(6_018)),
        ] {
            assert!(refused(err.clone()).is_thread_fault(), "{err:?}");
        }
        for err in [
            TransactionError::InsufficientFundsForFee,
            TransactionError::BlockhashNotFound,
            TransactionError::AccountInUse,
        ] {
            assert!(!refused(err.clone()).is_thread_fault(), "{err:?}");
        }
        let too_large = BuildError::TooLarge {
            bytes: 1_300,
            outside_tables: vec![Pubkey::new_unique(); 9],
        };
        assert!(too_large.is_thread_fault());
        assert!(too_large.to_string().contains("holding the 9 accounts"));
        assert!(
            too_large.to_string().ends_with(" and 1 more"),
            "{too_large}"
        );
    }
}
