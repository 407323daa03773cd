//! [`BuildFailures`]: counts, per thread, the consecutive attempts whose transaction the
//! chain refused to build for a reason of the thread's own (see
//! [`crate::execution::builder::BuildError::is_thread_fault`]), so the executor can give up on a due
//! time after `max_retries` and hand it to the dead-letter queue instead of building it
//! every few seconds forever without anybody hearing of it.
//!
//! Owns only the counts. Must not: decide what counts as the thread's fault, or what
//! happens when the count runs out (the executor does both). In memory on purpose:
//! nothing was signed or sent, so a restart that starts counting again loses nothing.

use parking_lot::Mutex;
use std::collections::HashMap;

use solana_sdk::pubkey::Pubkey;

/// Consecutive failed builds per thread, for the due time (`exec_count`) they were for.
#[derive(Default)]
pub struct BuildFailures {
    counts: Mutex<HashMap<Pubkey, (u64, u32)>>,
}

impl BuildFailures {
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts one more failed build of `thread` at `exec_count` and returns how many in
    /// a row there have been for that due time (a new due time starts again at 1).
    pub fn record(&self, thread: Pubkey, exec_count: u64) -> u32 {
        let mut counts = self.lock();
        let entry = counts.entry(thread).or_insert((exec_count, 0));
        if entry.0 != exec_count {
            *entry = (exec_count, 0);
        }
        entry.1 = entry.1.saturating_add(1);
        entry.1
    }

    /// Forgets `thread`: it built, or its due time was handed on.
    pub fn clear(&self, thread: &Pubkey) {
        self.lock().remove(thread);
    }

    /// Threads with failures on record.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> parking_lot::MutexGuard<'_, HashMap<Pubkey, (u64, u32)>> {
        // One map operation per call: a panic cannot leave it half-updated.
        self.counts.lock()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_failures_count_per_due_time_and_clear() {
        let failures = BuildFailures::new();
        let (a, b) = (Pubkey::new_unique(), Pubkey::new_unique());
        assert_eq!(failures.record(a, 3), 1);
        assert_eq!(failures.record(a, 3), 2);
        assert_eq!(failures.record(b, 0), 1);
        // The thread moved on to another due time: counting starts again.
        assert_eq!(failures.record(a, 4), 1);
        assert_eq!(failures.len(), 2);
        failures.clear(&a);
        assert_eq!(failures.record(a, 4), 1);
        failures.clear(&a);
        failures.clear(&b);
        assert!(failures.is_empty());
    }
}
