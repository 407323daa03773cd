//! One lease operation at a time per thread, within one keeper.
//!
//! A keeper touches a thread's lease from several places at once: a worker claims or
//! renews it before executing, the upkeep pass hands it back when it lapsed or is not
//! needed, a step-down or shutdown hands every lease back. Each decides from a read of
//! the thread, and two decisions from the same read send two transactions where the
//! chain accepts one (a renewal after a release fails with `NoLease`, a second release
//! with `NoLease` or a refused nonce authorization): a fee paid for nothing, and a
//! failure an operator has to explain. [`ThreadLocks`] lets one operation per thread
//! run at a time; whoever holds the lock reads the thread afresh before deciding.
//!
//! Owns: the per-thread locks, and forgetting a lock nobody holds or waits for, so the
//! map stays as small as the operations under way. Must not: decide or send anything.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use solana_sdk::pubkey::Pubkey;
use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

/// Per-thread async locks; see the module docs.
#[derive(Default)]
pub struct ThreadLocks {
    locks: Mutex<HashMap<Pubkey, Arc<AsyncMutex<()>>>>,
}

impl ThreadLocks {
    /// Waits until no other operation holds `thread`, then holds it until the guard drops.
    pub async fn lock(&self, thread: &Pubkey) -> ThreadGuard<'_> {
        let lock = self.locks.lock().entry(*thread).or_default().clone();
        ThreadGuard {
            held: Some(lock.lock_owned().await),
            locks: self,
            thread: *thread,
        }
    }

    /// How many threads have a lock held or waited for.
    pub fn len(&self) -> usize {
        self.locks.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// `thread` held by one operation; released (and forgotten when nobody waits) on drop.
pub struct ThreadGuard<'a> {
    held: Option<OwnedMutexGuard<()>>,
    locks: &'a ThreadLocks,
    thread: Pubkey,
}

impl Drop for ThreadGuard<'_> {
    fn drop(&mut self) {
        let mut locks = self.locks.locks.lock();
        drop(self.held.take());
        // Waiters clone the entry under the map's lock, so a count of one (the map's own)
        // seen under it means nobody holds or waits for this thread.
        if locks
            .get(&self.thread)
            .is_some_and(|lock| Arc::strong_count(lock) == 1)
        {
            locks.remove(&self.thread);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::FutureExt;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_operation_per_thread_runs_at_a_time_and_others_do_not_wait() {
        let locks = Arc::new(ThreadLocks::default());
        let (a, b) = (Pubkey::new_unique(), Pubkey::new_unique());
        let inside = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..8 {
            let (locks, inside, most) = (locks.clone(), inside.clone(), most.clone());
            tasks.spawn(async move {
                let _held = locks.lock(&a).await;
                let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(5)).await;
                inside.fetch_sub(1, Ordering::SeqCst);
            });
        }
        // Another thread's lock is free while `a` is contended.
        let other = tokio::time::timeout(Duration::from_secs(5), locks.lock(&b)).await;
        assert!(other.is_ok(), "b waited on a");
        drop(other);
        while let Some(done) = tasks.join_next().await {
            done.unwrap();
        }
        assert_eq!(
            most.load(Ordering::SeqCst),
            1,
            "two operations on a at once"
        );
        assert!(locks.is_empty(), "locks nobody holds are forgotten");
    }

    #[tokio::test]
    async fn a_lock_waited_for_is_kept_until_the_last_waiter_is_done() {
        let locks = ThreadLocks::default();
        let thread = Pubkey::new_unique();
        let first = locks.lock(&thread).await;
        let second = locks.lock(&thread);
        tokio::pin!(second);
        assert!(second.as_mut().now_or_never().is_none(), "the second waits");
        drop(first);
        assert_eq!(locks.len(), 1, "still waited for");
        let second = second.await;
        drop(second);
        assert!(locks.is_empty());
    }
}
