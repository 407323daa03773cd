//! What the executor reports: the outcome of one due thread to its caller
//! ([`ExecOutcome`]), and what it did to whoever watches ([`ExecEvent`]).
//!
//! Owns: these types and what each case means. Must not: decide anything (the
//! executor's other modules produce them; the daemon and the sandbox act on them).

use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::Signature;

/// What happened to one due thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecOutcome {
    /// Sent; confirmation follows in `confirm_tick`.
    Submitted { id: i64, signature: Signature },
    /// Persisted but not sent yet (the chain was unavailable); the replay takes over.
    Deferred { id: i64, reason: String },
    /// Nothing to do: already executed, paused, gone, not ours, or not yet due.
    Skipped(SkipReason),
    /// Could not be built or persisted; the scheduler will offer it again.
    Failed(String),
    /// Another build holds the thread's nonce, or this build outlived its nonce lease:
    /// contention, not an error of the keeper or the chain. Offered again later.
    Busy(String),
    /// The chain refused to build it for a reason of the thread's own (see
    /// [`BuildError::is_thread_fault`](crate::execution::builder::BuildError::is_thread_fault));
    /// not the keeper's health. `dead_letter` is the execution id once `max_retries` such
    /// attempts in a row have moved the due time into the dead-letter queue; until then
    /// the scheduler offers it again.
    Refused {
        reason: String,
        dead_letter: Option<i64>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipReason {
    Gone,
    Paused,
    AlreadyExecuted,
    NotDue,
    LeasedByOther(Pubkey),
    InFlight,
    /// Executing it would not pay this keeper (`execution/profitability.rs`): the due
    /// time is priced again after `unprofitable_recheck_secs`.
    Unprofitable,
}

/// What the executor did, for whoever watches (the sandbox prints these).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecEvent {
    Submitted {
        thread: Pubkey,
        exec_count: u64,
        signature: Signature,
        durable: bool,
    },
    Confirmed {
        thread: Pubkey,
        exec_count: u64,
        signature: Signature,
    },
    Replayed {
        thread: Pubkey,
        exec_count: u64,
        retry: bool,
    },
    /// The row will not be sent again. `ran`: the chain shows the due time executed
    /// (by this keeper's transaction or another); otherwise it did not run and never
    /// will through this row (the thread gone, re-created or leased by another keeper).
    Superseded {
        thread: Pubkey,
        exec_count: u64,
        reason: String,
        ran: bool,
    },
    DeadLettered {
        thread: Pubkey,
        exec_count: u64,
        reason: String,
    },
}
