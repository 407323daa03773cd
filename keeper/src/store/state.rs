//! [`ExecState`]: where an execution is in its life, and its name in the `state` column.
//!
//! Owns the states and their names. Must not: move a row from one state to another
//! (the store's methods do, inside their transactions).

use std::{fmt, str::FromStr};

/// Where an execution is in its life.
///
/// ```text
/// Pending --mark_sent--> Sent --mark_confirmed--> Confirmed
///    ^  ^                 |  \--mark_superseded--> Superseded
///    |  '--schedule_retry-'   (also from Pending)
///    |      (retries left)
///    |  schedule_retry, no retries left: Dead (+ a dead letter)
///    '------------------- dlq_retry -----------'
/// ```
///
/// `replace_transaction` moves Sent back to Pending: the new transaction was not sent.
/// `reopen` moves Confirmed, Superseded or Dead back to Pending when the chain shows the
/// due time still to run (a supersede the chain contradicts, or a thread deleted and
/// re-created at its address).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum ExecState {
    /// Persisted, not yet sent (or due to be sent again).
    Pending,
    /// Sent at least once; not yet seen confirmed.
    Sent,
    /// Seen confirmed on chain. Final for this thread (`reopen` serves a thread
    /// re-created at the same address).
    Confirmed,
    /// The thread's on-chain state shows this due time already ran (by another
    /// keeper, or by an earlier send of ours), or the thread is gone or leased by
    /// another keeper. Final unless the chain later shows the due time unexecuted
    /// (`reopen`).
    Superseded,
    /// Out of retries; parked in the dead-letter queue until an operator retries or
    /// purges it.
    Dead,
}

impl ExecState {
    /// Every state, in life order.
    pub const ALL: [ExecState; 5] = [
        Self::Pending,
        Self::Sent,
        Self::Confirmed,
        Self::Superseded,
        Self::Dead,
    ];

    /// The name stored in the `state` column.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Pending and Sent: the states the replay loop and the recovery work on.
    pub fn is_unfinished(self) -> bool {
        matches!(self, Self::Pending | Self::Sent)
    }
}

impl fmt::Display for ExecState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ExecState {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|state| state.as_str() == s)
            .ok_or_else(|| format!("unknown state {s:?}"))
    }
}
