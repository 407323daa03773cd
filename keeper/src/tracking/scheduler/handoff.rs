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
    /// Report back through this: [`InFlight::executed`], or drop it (not executed).
    pub in_flight: InFlight,
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
