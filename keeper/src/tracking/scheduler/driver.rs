//! The scheduler against the chain, discovery and the worker pool: a tick reads the
//! chain ([`Scheduler::tick_on`]: one `clock` call, one `get_multiple_accounts` per
//! [`MAX_ACCOUNTS_PER_FETCH`] watched accounts), and [`Scheduler::run`] loads the index,
//! re-keys threads on discovery's notices, and hands issuable threads to the pool as it
//! has room, until shutdown.
//!
//! Owns: the RPC budget of a tick, the run loop (its order of events, backpressure, the
//! outage log of failed ticks, the heartbeat) and reading schedules out of the index.
//! Must not: decide what is due (the state machine in `mod.rs` does), read the host's
//! clock for due times, or write the index.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use solana_sdk::pubkey::Pubkey;
use thread::schedule::Watched;
use tokio::sync::mpsc;
use tokio::time::{Instant, MissedTickBehavior};

use super::{DueThread, Finished, InFlight, Schedule, Scheduler};
use crate::chain::{Chain, ChainError};
use crate::ops::outage_log::{LogAs, OutageLog};
use crate::tracking::discovery::{read_index, SharedIndex, ThreadChanged};

/// Most accounts in one `get_multiple_accounts` call (the RPC limit).
pub const MAX_ACCOUNTS_PER_FETCH: usize = 100;

/// What one tick through the chain cost and found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TickStats {
    /// RPC calls made: one `clock` plus the account fetches.
    pub rpc_calls: usize,
    /// `get_multiple_accounts` calls among them.
    pub account_fetches: usize,
    /// Batches whose fetch failed (their threads keep their previous verdict).
    pub failed_fetches: usize,
}

impl Scheduler {
    /// One tick against the chain: one `clock` call, one `get_multiple_accounts` per
    /// [`MAX_ACCOUNTS_PER_FETCH`] watched accounts, then [`Scheduler::tick`]. A failed
    /// clock call fails the tick (nothing changes); a failed batch leaves its threads'
    /// verdicts as they were.
    pub async fn tick_on(
        &mut self,
        chain: &dyn Chain,
    ) -> Result<(Vec<Pubkey>, TickStats), ChainError> {
        let clock = chain.clock().await?;
        // A watched price's age is judged at this tick's chain time.
        self.set_chain_time(&clock);
        let mut stats = TickStats {
            rpc_calls: 1,
            ..TickStats::default()
        };
        let watched = self.watched_accounts();
        for batch in watched.chunks(MAX_ACCOUNTS_PER_FETCH) {
            stats.rpc_calls += 1;
            stats.account_fetches += 1;
            match chain.get_multiple_accounts(batch).await {
                Ok(accounts) if accounts.len() == batch.len() => {
                    for (address, account) in batch.iter().zip(accounts) {
                        let watched = account.as_ref().map(|a| Watched {
                            data: &a.data,
                            owner: &a.owner,
                        });
                        self.observe(address, watched);
                    }
                }
                Ok(accounts) => {
                    stats.failed_fetches += 1;
                    tracing::warn!(
                        asked = batch.len(),
                        got = accounts.len(),
                        "get_multiple_accounts answered the wrong number of accounts"
                    );
                }
                Err(error) => {
                    stats.failed_fetches += 1;
                    tracing::warn!(kind = error.kind(), %error, "watched accounts fetch failed");
                }
            }
        }
        Ok((self.tick(&clock), stats))
    }

    /// Re-reads `thread` from the index: re-keys it, or forgets it when it is gone.
    pub fn refresh(&mut self, index: &SharedIndex, thread: &Pubkey) {
        let schedule = read_index(index)
            .get(thread)
            .map(|e| Schedule::of(&e.state));
        match schedule {
            Some(schedule) => {
                self.upsert(*thread, schedule);
            }
            None => {
                self.remove(thread);
            }
        }
    }

    /// Tracks every thread in the index (at start).
    pub fn load(&mut self, index: &SharedIndex) {
        let schedules: Vec<(Pubkey, Schedule)> = read_index(index)
            .iter()
            .map(|(key, entry)| (*key, Schedule::of(&entry.state)))
            .collect();
        for (key, schedule) in schedules {
            self.upsert(key, schedule);
        }
    }

    fn issue(
        &mut self,
        thread: &Pubkey,
        report: &mpsc::UnboundedSender<(Pubkey, Finished)>,
    ) -> Option<DueThread> {
        let (exec_count, due) = self.mark_in_flight(thread)?;
        Some(DueThread {
            thread: *thread,
            exec_count,
            due,
            late_secs: super::handoff::lateness(&due, self.now, self.slot),
            issued_at: std::time::Instant::now(),
            slot: self.slot,
            in_flight: InFlight::new(*thread, report.clone()),
        })
    }

    /// Runs the scheduler until `shutdown` resolves or the worker pool's end of `work`
    /// is dropped: loads the index, then every `tick_interval` ticks against `chain`
    /// ([`Scheduler::tick_on`]) and hands issuable threads to `work` as it has room
    /// (bounded: a busy pool leaves them ready, none is lost or issued twice); re-keys a
    /// thread on each [`ThreadChanged`] from discovery and frees it on each report from
    /// an [`InFlight`] guard. On shutdown it stops issuing and returns; work already
    /// queued stays with the pool, which drains it once `work` is dropped. Returns the
    /// scheduler for inspection.
    pub async fn run(
        mut self,
        chain: Arc<dyn Chain>,
        index: SharedIndex,
        mut changes: mpsc::Receiver<ThreadChanged>,
        work: mpsc::Sender<DueThread>,
        tick_interval: Duration,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Self {
        self.load(&index);
        let (report_tx, mut reports) = mpsc::unbounded_channel();
        let mut ticks =
            tokio::time::interval_at(Instant::now(), tick_interval.max(Duration::from_millis(1)));
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut pending: VecDeque<Pubkey> = VecDeque::new();
        let mut changes_open = true;
        let mut outage = OutageLog::new(Duration::from_secs(60));
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                biased;
                _ = &mut shutdown => break,
                Some((thread, outcome)) = reports.recv() => self.finished(&thread, outcome),
                change = changes.recv(), if changes_open => match change {
                    Some(ThreadChanged(thread)) => self.refresh(&index, &thread),
                    None => changes_open = false,
                },
                permit = work.reserve(), if !pending.is_empty() => {
                    let Ok(permit) = permit else {
                        tracing::info!("worker pool gone, scheduler stops");
                        break;
                    };
                    while let Some(thread) = pending.pop_front() {
                        if let Some(due) = self.issue(&thread, &report_tx) {
                            permit.send(due);
                            break;
                        }
                    }
                }
                _ = ticks.tick() => {
                    let ticked = tokio::select! {
                        biased;
                        _ = &mut shutdown => break,
                        ticked = self.tick_on(chain.as_ref()) => ticked,
                    };
                    if let Some(heartbeat) = &self.heartbeat {
                        heartbeat.beat();
                    }
                    match ticked {
                        Ok((due, _)) => {
                            pending = due.into();
                            if let LogAs::Recovered { failures, lasted } = outage.succeeded() {
                                tracing::info!(failures, ?lasted, "scheduler ticks again: the chain answers");
                            }
                        }
                        Err(error) => match outage.failed(error.kind()) {
                            LogAs::Warn => tracing::warn!(kind = error.kind(), %error, "scheduler tick failed: no clock; quiet until it changes or recovers"),
                            LogAs::Reminder { failures, since } => tracing::warn!(kind = error.kind(), %error, failures, ?since, "scheduler ticks still failing"),
                            _ => tracing::debug!(kind = error.kind(), %error, "scheduler tick failed: no clock"),
                        },
                    }
                }
            }
        }
        tracing::debug!("scheduler stopped");
        self
    }
}

#[cfg(test)]
mod tests {
    use solana_sdk::account::Account;
    use thread::schedule::hash_range;
    use thread::state::{Due, Trigger};
    use tokio::sync::oneshot;

    use super::*;
    use crate::chain::faulty::{FaultyChain, Op};
    use crate::test_utils::thread::ThreadFixture;
    use crate::tracking::discovery::shared_index;
    use crate::tracking::discovery::tests::StubChain;
    use crate::tracking::scheduler::tests::{clock, due, keys, watching};
    use crate::tracking::scheduler::SchedulerConfig;

    /// The counter that proves the RPC budget: `FaultyChain` forwards and counts.
    #[tokio::test]
    async fn scheduler_rpc_calls_per_tick_do_not_grow_with_idle_time_threads() {
        let stub = StubChain::new();
        stub.set_clock(clock(1_000, 10, 1));
        let chain = FaultyChain::new(stub.clone(), 1);
        let mut s = Scheduler::default();
        for (i, key) in keys(5_000).into_iter().enumerate() {
            let due = match i % 3 {
                0 => Due::At { unix_ts: 2_000 },
                1 => Due::AtSlot { slot: 100 },
                _ => Due::AtEpoch { epoch: 9 },
            };
            s.upsert(key, self::due(due));
        }
        let (issued, stats) = s.tick_on(&chain).await.unwrap();
        assert!(issued.is_empty());
        assert_eq!((stats.rpc_calls, stats.account_fetches), (1, 0));
        assert_eq!(
            chain.calls(),
            1,
            "one clock call, whatever the number of threads"
        );

        // 250 account-trigger threads on 230 distinct accounts: ceil(230 / 100) = 3.
        let addresses = keys(230);
        for (i, key) in keys(250).into_iter().enumerate() {
            let address = addresses[i % addresses.len()];
            stub.set_account(
                address,
                Account {
                    lamports: 1,
                    data: vec![1; 16],
                    owner: Pubkey::default(),
                    executable: false,
                    rent_epoch: 0,
                },
            );
            s.upsert(key, watching(address, 0, 16, &[1; 16]));
        }
        for round in 1..=3u64 {
            let (issued, stats) = s.tick_on(&chain).await.unwrap();
            assert!(issued.is_empty());
            assert_eq!((stats.rpc_calls, stats.account_fetches), (4, 3));
            assert_eq!(chain.forwarded(Op::Clock), 1 + round);
            assert_eq!(chain.forwarded(Op::GetMultipleAccounts), 3 * round);
        }
        assert_eq!(chain.calls(), 1 + 3 * 4);
    }

    /// `run` with a stub chain and paused time: bounded dispatch, one issue per due
    /// state, reports through the guard, re-keying on notifications, clean shutdown.
    #[tokio::test(start_paused = true)]
    async fn scheduler_run_dispatches_each_due_thread_once_with_backpressure() {
        let stub = StubChain::new();
        stub.set_clock(clock(100, 1, 0));
        let chain = Arc::new(FaultyChain::new(stub.clone(), 1));
        let index = shared_index();
        let k = keys(3);
        {
            let mut index = index.write();
            for key in &k {
                index.upsert(*key, 1, &ThreadFixture::new().data());
            }
        }
        let (changes_tx, changes_rx) = mpsc::channel(8);
        let (work_tx, mut work_rx) = mpsc::channel(1);
        let (stop, stopped) = oneshot::channel::<()>();
        let scheduler = Scheduler::new(SchedulerConfig {
            retry_after_secs: 5,
            retry_after_slots: 12,
        });
        let task = tokio::spawn(scheduler.run(
            chain.clone(),
            index.clone(),
            changes_rx,
            work_tx,
            Duration::from_secs(1),
            async move {
                let _ = stopped.await;
            },
        ));

        let step = || tokio::time::sleep(Duration::from_millis(10));
        step().await;
        let first = work_rx.try_recv().expect("one queued");
        assert!(
            work_rx.try_recv().is_err(),
            "the channel holds one: backpressure"
        );
        step().await;
        let second = work_rx.try_recv().expect("room made, the next one is sent");
        step().await;
        let third = work_rx.try_recv().expect("and the last");
        let mut issued = vec![first.thread, second.thread, third.thread];
        issued.sort();
        let mut expected = k.clone();
        expected.sort();
        assert_eq!(issued, expected, "each due thread once");
        assert_eq!((first.exec_count, first.due), (0, Due::Immediately));

        // Several ticks later nothing is reissued: all three are in flight.
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert!(work_rx.try_recv().is_err());

        // first: executed; second: the worker gave up (dropped); third: paused meanwhile.
        first.in_flight.executed();
        drop(second);
        {
            let mut index = index.write();
            index.upsert(third.thread, 2, &ThreadFixture::new().paused(true).data());
        }
        changes_tx.send(ThreadChanged(third.thread)).await.unwrap();
        third.in_flight.not_executed();
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert!(
            work_rx.try_recv().is_err(),
            "the retry waits for chain time"
        );

        stub.set_clock(clock(105, 2, 0));
        tokio::time::sleep(Duration::from_secs(1)).await;
        let retried = work_rx.try_recv().expect("the dropped one, retried");
        assert_eq!(
            retried.thread,
            expected_second(&issued, first.thread, third.thread)
        );
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert!(
            work_rx.try_recv().is_err(),
            "executed and paused ones are not reissued"
        );

        let ticks_before = chain.forwarded(Op::Clock);
        stop.send(()).unwrap();
        let scheduler = task.await.unwrap();
        assert!(scheduler.is_in_flight(&retried.thread));
        assert_eq!(scheduler.len(), 3);
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert_eq!(
            chain.forwarded(Op::Clock),
            ticks_before,
            "no tick after shutdown"
        );
        assert_eq!(
            chain.forwarded(Op::GetMultipleAccounts),
            0,
            "no account triggers, no fetches"
        );
    }

    fn expected_second(all: &[Pubkey], first: Pubkey, third: Pubkey) -> Pubkey {
        *all.iter().find(|k| **k != first && **k != third).unwrap()
    }

    /// Over `run`: exactly one clock call per tick plus one account fetch per 100
    /// watched accounts, however many time-triggered threads sit idle.
    #[tokio::test(start_paused = true)]
    async fn scheduler_run_makes_one_clock_call_per_tick() {
        let stub = StubChain::new();
        stub.set_clock(clock(100, 1, 0));
        let chain = Arc::new(FaultyChain::new(stub.clone(), 1));
        let index = shared_index();
        {
            let mut index = index.write();
            for i in 0..2_000 {
                let fixture = ThreadFixture::new().due(Due::At { unix_ts: 1_000 + i });
                index.upsert(Pubkey::new_unique(), 1, &fixture.data());
            }
            for _ in 0..150 {
                let address = Pubkey::new_unique();
                let fixture = ThreadFixture::new()
                    .trigger(Trigger::Account {
                        address,
                        offset: 0,
                        size: 8,
                    })
                    .due(Due::OnChange {
                        last_hash: hash_range(&[], 0, 8),
                    });
                index.upsert(Pubkey::new_unique(), 1, &fixture.data());
            }
        }
        let (_changes_tx, changes_rx) = mpsc::channel(1);
        let (work_tx, mut work_rx) = mpsc::channel(16);
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(Scheduler::default().run(
            chain.clone(),
            index,
            changes_rx,
            work_tx,
            Duration::from_secs(1),
            async move {
                let _ = stopped.await;
            },
        ));
        // Ticks at 0, 1, 2 and 3 s.
        tokio::time::sleep(Duration::from_millis(3_500)).await;
        stop.send(()).unwrap();
        task.await.unwrap();
        assert_eq!(chain.forwarded(Op::Clock), 4);
        assert_eq!(
            chain.forwarded(Op::GetMultipleAccounts),
            4 * 2,
            "ceil(150 / 100) per tick"
        );
        assert_eq!(chain.calls(), 4 * 3);
        assert!(
            work_rx.try_recv().is_err(),
            "nothing due: watched accounts do not exist"
        );
    }
}
