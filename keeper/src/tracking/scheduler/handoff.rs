//! What the scheduler hands the executor pool, and how the pool answers: a
//! [`DueThread`] carries an [`InFlight`] guard that reports [`Finished`] once, by a call
//! or by being dropped, so a worker that errors or panics still frees its thread.
//!
//! Owns: the guard and its one report. Must not: change the scheduler's state itself
//! (the report travels over a channel the scheduler reads), or block when the
//! scheduler is gone.

use solana_sdk::pubkey::Pubkey;
use thread::state::Due;
use tokio::sync::mpsc;

/// A due thread handed to the executor pool.
#[derive(Debug)]
pub struct DueThread {
    pub thread: Pubkey,
    /// The thread's `exec_count` when it was found due: the execution it is issued for.
    pub exec_count: u64,
    pub due: Due,
    /// Chain seconds it was past `due` when issued ([`lateness`]).
    pub late_secs: f64,
    /// When it was issued: with `late_secs`, how long from due to submitted.
    pub issued_at: std::time::Instant,
    /// The chain's slot when it was issued.
    pub slot: u64,
    /// Report back through this: [`InFlight::executed`], or drop it (not executed).
    pub in_flight: InFlight,
}

/// How far past `due` a thread is at chain time `now` and `slot`, in seconds: for a due
/// time in slots, at the nominal 400 ms a slot; 0 for a thread due as soon as seen (now,
/// on an account change, at an epoch whose first slot the clock does not give).
pub fn lateness(due: &Due, now: i64, slot: u64) -> f64 {
    match *due {
        Due::At { unix_ts } => now.saturating_sub(unix_ts).max(0) as f64,
        Due::AtSlot { slot: due_slot } => {
            slot.saturating_sub(due_slot) as f64 * solana_sdk::clock::DEFAULT_MS_PER_SLOT as f64
                / 1_000.0
        }
        _ => 0.0,
    }
}

/// How an issued thread's execution ended, as the executor reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finished {
    /// It landed and succeeded: the issued state is spent.
    Executed,
    /// It did not execute (failed, expired, given up, or the worker dropped it).
    NotExecuted,
}

/// The scheduler's record that a thread is in flight. Dropping it reports
/// [`Finished::NotExecuted`], so a worker that errors or panics still frees the thread.
#[derive(Debug)]
pub struct InFlight {
    thread: Pubkey,
    report: Option<mpsc::UnboundedSender<(Pubkey, Finished)>>,
}

impl InFlight {
    /// The guard of `thread`, issued by the scheduler listening on `report`.
    pub(super) fn new(thread: Pubkey, report: mpsc::UnboundedSender<(Pubkey, Finished)>) -> Self {
        Self {
            thread,
            report: Some(report),
        }
    }

    /// Reports a successful execution.
    pub fn executed(mut self) {
        self.send(Finished::Executed);
    }

    /// Reports that the thread was not executed (the same as dropping the guard).
    pub fn not_executed(mut self) {
        self.send(Finished::NotExecuted);
    }

    fn send(&mut self, finished: Finished) {
        if let Some(report) = self.report.take() {
            // The scheduler may have stopped; then nobody needs to know.
            let _ = report.send((self.thread, finished));
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.send(Finished::NotExecuted);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lateness_is_chain_time_past_the_due_time_and_never_negative() {
        assert_eq!(lateness(&Due::At { unix_ts: 100 }, 103, 0), 3.0);
        assert_eq!(lateness(&Due::At { unix_ts: 100 }, 90, 0), 0.0, "early");
        assert_eq!(
            lateness(&Due::AtSlot { slot: 10 }, 0, 15),
            2.0,
            "5 slots at 400 ms"
        );
        assert_eq!(lateness(&Due::AtSlot { slot: 10 }, 0, 5), 0.0);
        assert_eq!(lateness(&Due::Immediately, 1_000, 1_000), 0.0);
        assert_eq!(lateness(&Due::OnChange { last_hash: [0; 32] }, 9, 9), 0.0);
    }
}
