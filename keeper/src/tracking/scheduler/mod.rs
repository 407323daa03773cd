//! [`Scheduler`]: decides which indexed threads are due, by the chain's clock, and hands
//! each due thread to the executor pool once.
//!
//! Owns: one min-heap per unit of [`Due`] (unix time, slot, epoch; `Immediately` sorts
//! first in the time heap) keyed by the due value, with a generation per thread so a
//! re-keyed thread's old heap entry is skipped when popped (lazy deletion, compacted when
//! stale entries pile up); the set of `OnChange` and `OnCondition` threads and the
//! accounts they watch, judged each tick on the account's state exactly as `exec_thread`
//! judges it (`watch.rs`); which due threads are ready, which are in flight, and the
//! retry cool-down.
//!
//! Must not: read the host's clock for due times (only `Chain::clock`, once per tick),
//! make RPC calls that grow with idle time-triggered threads (per tick: one `clock`, plus
//! one `get_multiple_accounts` per 100 distinct watched accounts), issue a thread that is
//! in flight, paused, `Never` or over its rate limit at the tick's slot, build or send
//! transactions, or write the index.
//!
//! Lifecycle of a thread: [`Scheduler::upsert`] keys it from its [`Schedule`]; a tick
//! moves it to *ready* when due; the caller issues it with [`Scheduler::mark_in_flight`];
//! the executor reports back with [`Scheduler::finished`]. After [`Finished::Executed`]
//! the state it was issued from is spent: the thread waits for a new state (a
//! notification) before it is due again. After [`Finished::NotExecuted`] (failed, gave up,
//! dropped) it is ready again once `retry_after_secs` of chain time *or*
//! `retry_after_slots` slots have passed, whichever comes first: on a cluster both move
//! together, but a chain whose clock stalls (or a test that freezes it) still moves
//! slots, and a thread must not wait for time that does not pass. In
//! [`Scheduler::run`], a worker reports by dropping or finishing the [`InFlight`] guard
//! inside each [`DueThread`].
//!
//! This file is the state machine, with no I/O; `driver.rs` runs it against the chain,
//! discovery and the worker pool, and `handoff.rs` holds what it hands the pool.

mod driver;
mod handoff;
mod watch;

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap};

use solana_sdk::clock::Clock;
use solana_sdk::pubkey::Pubkey;
use thread::schedule::Watched;
use thread::state::{Due, Thread};

pub use driver::{TickStats, MAX_ACCOUNTS_PER_FETCH};
pub use handoff::{DueThread, Finished, InFlight};

use crate::ops::health::Heartbeat;
use crate::tracking::view::ThreadView;
pub use crate::tracking::view::{LooksFor, Watch};

/// What the scheduler needs of a thread (a part of its [`ThreadView`]): everything else
/// stays in the index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    pub exec_count: u64,
    pub due: Due,
    pub paused: bool,
    /// What an `Account` or `Condition` trigger watches.
    pub watch: Option<Watch>,
    /// The first slot the thread's rate limit lets it execute in again (0 when it is not
    /// limited): `exec_thread` refuses it with `RateLimited` before then. A catch-up of
    /// several due times runs one per window, so it waits for slots, not for seconds.
    pub rate_limited_until_slot: u64,
}

impl Schedule {
    /// The schedule of a thread as the index keeps it.
    pub fn of(thread: &ThreadView) -> Self {
        Self {
            exec_count: thread.exec_count,
            due: thread.next_due,
            paused: thread.paused,
            watch: thread.watch,
            rate_limited_until_slot: thread.rate_limited_until_slot,
        }
    }
}

/// Tunables of the scheduler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SchedulerConfig {
    /// Chain seconds before a thread that was issued but not executed is issued again
    /// from the same state...
    pub retry_after_secs: i64,
    /// ...or this many slots, whichever passes first.
    pub retry_after_slots: u64,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        Self {
            retry_after_secs: 5,
            // About 5 s of 400 ms slots.
            retry_after_slots: 12,
        }
    }
}

#[derive(Debug)]
struct Tracked {
    /// Bumped (from a global counter) on every re-key; heap entries carry it.
    gen: u64,
    schedule: Schedule,
    /// Position in the ready queue while due and not issued.
    ready: Option<u64>,
    /// The generation an in-flight execution was issued from.
    in_flight: Option<u64>,
    /// The state at `gen` was executed: not due again until re-keyed.
    spent: bool,
    /// Chain unix time and slot before which (both) the thread is not issued again.
    not_before: i64,
    not_before_slot: u64,
}

impl Tracked {
    /// In the retry cool-down at chain time `now` and `slot`.
    fn cooling(&self, now: i64, slot: u64) -> bool {
        self.not_before > now && self.not_before_slot > slot
    }

    fn schedulable(&self) -> bool {
        !self.schedule.paused && !matches!(self.schedule.due, Due::Never) && !self.spent
    }
}

/// The due-time scheduler (see the module docs). Deterministic: no host time, and every
/// collection it iterates is ordered.
#[derive(Debug)]
pub struct Scheduler {
    config: SchedulerConfig,
    threads: HashMap<Pubkey, Tracked>,
    by_time: BinaryHeap<Reverse<(i64, u64, Pubkey)>>,
    by_slot: BinaryHeap<Reverse<(u64, u64, Pubkey)>>,
    by_epoch: BinaryHeap<Reverse<(u64, u64, Pubkey)>>,
    /// Watched address -> the threads watching it.
    watchers: BTreeMap<Pubkey, BTreeSet<Pubkey>>,
    /// Due threads in the order they became due.
    ready: BTreeMap<u64, Pubkey>,
    next_ready: u64,
    next_gen: u64,
    /// Chain unix time of the latest tick.
    now: i64,
    /// Chain slot of the latest tick.
    slot: u64,
    /// Beaten after every tick [`Scheduler::run`] completes, so `/ready` can tell a
    /// stalled scheduler from a quiet one.
    heartbeat: Option<Heartbeat>,
}

impl Default for Scheduler {
    fn default() -> Self {
        Self::new(SchedulerConfig::default())
    }
}

impl Scheduler {
    pub fn new(config: SchedulerConfig) -> Self {
        Self {
            config,
            threads: HashMap::new(),
            by_time: BinaryHeap::new(),
            by_slot: BinaryHeap::new(),
            by_epoch: BinaryHeap::new(),
            watchers: BTreeMap::new(),
            ready: BTreeMap::new(),
            next_ready: 0,
            next_gen: 0,
            now: i64::MIN,
            slot: 0,
            heartbeat: None,
        }
    }

    /// Beats `heartbeat` after every tick of [`Scheduler::run`], answered or not.
    pub fn with_heartbeat(mut self, heartbeat: Heartbeat) -> Self {
        self.heartbeat = Some(heartbeat);
        self
    }

    /// Threads tracked (scheduled or not).
    pub fn len(&self) -> usize {
        self.threads.len()
    }

    pub fn is_empty(&self) -> bool {
        self.threads.is_empty()
    }

    /// Entries in the due heaps, stale ones included (for tests and compaction).
    pub fn heap_len(&self) -> usize {
        self.by_time.len() + self.by_slot.len() + self.by_epoch.len()
    }

    pub fn is_in_flight(&self, thread: &Pubkey) -> bool {
        self.threads
            .get(thread)
            .is_some_and(|t| t.in_flight.is_some())
    }

    /// `OnChange` and `OnCondition` threads being watched.
    pub fn account_trigger_threads(&self) -> usize {
        self.watchers.values().map(BTreeSet::len).sum()
    }

    /// Distinct watched accounts, in address order.
    pub fn watched_accounts(&self) -> Vec<Pubkey> {
        self.watchers.keys().copied().collect()
    }

    /// Tracks `thread` with `schedule`, or re-keys it when the schedule changed. Returns
    /// whether anything changed. A re-keyed thread is no longer ready until the new key
    /// is due; whether it is in flight does not change.
    pub fn upsert(&mut self, thread: Pubkey, schedule: Schedule) -> bool {
        if let Some(tracked) = self.threads.get(&thread) {
            if tracked.schedule == schedule {
                return false;
            }
        }
        let gen = self.next_gen;
        self.next_gen += 1;
        let in_flight = match self.threads.get(&thread) {
            Some(old) => {
                let (old_schedule, old_ready, in_flight) = (old.schedule, old.ready, old.in_flight);
                self.unwatch(&thread, &old_schedule);
                if let Some(seq) = old_ready {
                    self.ready.remove(&seq);
                }
                in_flight
            }
            None => None,
        };
        let tracked = Tracked {
            gen,
            schedule,
            ready: None,
            in_flight,
            spent: false,
            not_before: i64::MIN,
            not_before_slot: 0,
        };
        if tracked.schedulable() {
            match schedule.due {
                Due::Immediately => self.by_time.push(Reverse((i64::MIN, gen, thread))),
                Due::At { unix_ts } => self.by_time.push(Reverse((unix_ts, gen, thread))),
                Due::AtSlot { slot } => self.by_slot.push(Reverse((slot, gen, thread))),
                Due::AtEpoch { epoch } => self.by_epoch.push(Reverse((epoch, gen, thread))),
                Due::OnChange { .. } | Due::OnCondition { .. } => match schedule.watch {
                    Some(watch) => {
                        self.watchers
                            .entry(watch.address)
                            .or_default()
                            .insert(thread);
                    }
                    None => {
                        tracing::warn!(%thread, due = ?schedule.due, "watching thread without an Account or Condition trigger, not scheduled");
                    }
                },
                Due::Never => {}
            }
        }
        self.threads.insert(thread, tracked);
        self.compact_if_needed();
        true
    }

    /// [`Scheduler::upsert`] from a decoded thread.
    pub fn upsert_thread(&mut self, key: Pubkey, thread: &Thread) -> bool {
        self.upsert(key, Schedule::of(&ThreadView::of(thread)))
    }

    /// Stops tracking `thread` (closed). A report for it arriving later is ignored.
    pub fn remove(&mut self, thread: &Pubkey) -> bool {
        let Some(tracked) = self.threads.remove(thread) else {
            return false;
        };
        self.unwatch(thread, &tracked.schedule);
        if let Some(seq) = tracked.ready {
            self.ready.remove(&seq);
        }
        true
    }

    fn unwatch(&mut self, thread: &Pubkey, schedule: &Schedule) {
        if let (Due::OnChange { .. } | Due::OnCondition { .. }, Some(watch)) =
            (schedule.due, schedule.watch)
        {
            if let Some(set) = self.watchers.get_mut(&watch.address) {
                set.remove(thread);
                if set.is_empty() {
                    self.watchers.remove(&watch.address);
                }
            }
        }
    }

    fn set_ready(&mut self, thread: &Pubkey, ready: bool) {
        let Some(tracked) = self.threads.get_mut(thread) else {
            return;
        };
        match (ready && tracked.schedulable(), tracked.ready) {
            (true, None) => {
                let seq = self.next_ready;
                self.next_ready += 1;
                tracked.ready = Some(seq);
                self.ready.insert(seq, *thread);
            }
            (false, Some(seq)) => {
                tracked.ready = None;
                self.ready.remove(&seq);
            }
            _ => {}
        }
    }

    /// The current state of a watched account (`None`: it does not exist). Each thread
    /// watching it is due exactly when `exec_thread` would find it due on that state at
    /// the latest chain time (see `watch.rs`).
    pub fn observe(&mut self, address: &Pubkey, account: Option<Watched>) {
        let Some(watching) = self.watchers.get(address) else {
            return;
        };
        let now = self.now;
        let verdicts: Vec<(Pubkey, bool)> = watching
            .iter()
            .filter_map(|thread| {
                let schedule = self.threads.get(thread)?.schedule;
                Some((*thread, watch::due_on(&schedule, account, now)?))
            })
            .collect();
        for (thread, due) in verdicts {
            self.set_ready(&thread, due);
        }
    }

    /// Takes the chain's time from `clock`: what due times, cool-downs and the age of a
    /// watched price are judged against until the next tick.
    fn set_chain_time(&mut self, clock: &Clock) {
        self.now = clock.unix_timestamp;
        self.slot = clock.slot;
    }

    /// Moves every thread whose time, slot or epoch has come by `clock` to ready, and
    /// returns the ready threads that may be issued now (not in flight, not cooling
    /// down, not over their rate limit), in the order they became due. Non-destructive: a returned thread stays
    /// ready until [`Scheduler::mark_in_flight`] or a re-key.
    pub fn tick(&mut self, clock: &Clock) -> Vec<Pubkey> {
        self.set_chain_time(clock);
        let mut due = Vec::new();
        while let Some(Reverse((at, gen, thread))) = self.by_time.peek().copied() {
            if at > clock.unix_timestamp {
                break;
            }
            self.by_time.pop();
            due.push((gen, thread));
        }
        while let Some(Reverse((slot, gen, thread))) = self.by_slot.peek().copied() {
            if slot > clock.slot {
                break;
            }
            self.by_slot.pop();
            due.push((gen, thread));
        }
        while let Some(Reverse((epoch, gen, thread))) = self.by_epoch.peek().copied() {
            if epoch > clock.epoch {
                break;
            }
            self.by_epoch.pop();
            due.push((gen, thread));
        }
        for (gen, thread) in due {
            if self.threads.get(&thread).is_some_and(|t| t.gen == gen) {
                self.set_ready(&thread, true);
            }
        }
        self.issuable()
    }

    /// Ready threads that may be issued at the latest tick's time.
    pub fn issuable(&self) -> Vec<Pubkey> {
        self.ready
            .values()
            .filter(|thread| {
                self.threads.get(thread).is_some_and(|t| {
                    t.in_flight.is_none()
                        && !t.cooling(self.now, self.slot)
                        && t.schedule.rate_limited_until_slot <= self.slot
                })
            })
            .copied()
            .collect()
    }

    /// Issues a ready thread: it leaves the ready queue and is in flight until
    /// [`Scheduler::finished`]. Returns its `exec_count` and due time, or `None` when it
    /// is not issuable (not ready, in flight, cooling down, unknown).
    pub fn mark_in_flight(&mut self, thread: &Pubkey) -> Option<(u64, Due)> {
        let (now, slot) = (self.now, self.slot);
        let tracked = self.threads.get_mut(thread)?;
        let seq = tracked.ready?;
        if tracked.in_flight.is_some()
            || tracked.cooling(now, slot)
            || tracked.schedule.rate_limited_until_slot > slot
        {
            return None;
        }
        tracked.ready = None;
        tracked.in_flight = Some(tracked.gen);
        self.ready.remove(&seq);
        Some((tracked.schedule.exec_count, tracked.schedule.due))
    }

    /// The executor is done with `thread`. If its state changed while in flight, the new
    /// key already stands. Otherwise: executed, the issued state is spent until a new
    /// state arrives; not executed, it is ready again after the retry cool-down.
    pub fn finished(&mut self, thread: &Pubkey, outcome: Finished) {
        let retry_at = self.now.saturating_add(self.config.retry_after_secs);
        let retry_at_slot = self.slot.saturating_add(self.config.retry_after_slots);
        let Some(tracked) = self.threads.get_mut(thread) else {
            return;
        };
        let Some(issued) = tracked.in_flight.take() else {
            return;
        };
        if issued != tracked.gen {
            return;
        }
        match outcome {
            Finished::Executed => tracked.spent = true,
            Finished::NotExecuted => {
                tracked.not_before = retry_at;
                tracked.not_before_slot = retry_at_slot;
                self.set_ready(thread, true);
            }
        }
    }

    /// Drops stale heap entries once they outnumber the live ones.
    fn compact_if_needed(&mut self) {
        let live = self.threads.len();
        if self.heap_len() <= 2 * live + 1024 {
            return;
        }
        let threads = &self.threads;
        let current = |gen: u64, key: &Pubkey| threads.get(key).is_some_and(|t| t.gen == gen);
        self.by_time
            .retain(|Reverse((_, gen, key))| current(*gen, key));
        self.by_slot
            .retain(|Reverse((_, gen, key))| current(*gen, key));
        self.by_epoch
            .retain(|Reverse((_, gen, key))| current(*gen, key));
    }
}

#[cfg(test)]
mod tests {
    use thread::schedule::{check_due, ChainTime};
    use thread::state::Trigger;

    use super::*;
    use crate::test_utils::thread::ThreadFixture;
    use crate::tracking::discovery::shared_index;
    use crate::tracking::index::{decode, ThreadIndex};

    pub(super) fn clock(unix_timestamp: i64, slot: u64, epoch: u64) -> Clock {
        Clock {
            slot,
            epoch,
            unix_timestamp,
            ..Clock::default()
        }
    }

    fn at_time(ts: i64) -> Clock {
        clock(ts, 0, 0)
    }

    pub(super) fn due(due: Due) -> Schedule {
        Schedule {
            exec_count: 0,
            due,
            paused: false,
            watch: None,
            rate_limited_until_slot: 0,
        }
    }

    pub(super) fn watching(address: Pubkey, offset: u32, size: u32, data: &[u8]) -> Schedule {
        Schedule {
            exec_count: 0,
            due: Due::OnChange {
                last_hash: thread::schedule::hash_range(data, offset, size),
            },
            paused: false,
            watch: Some(Watch {
                address,
                looks_for: LooksFor::Change { offset, size },
            }),
            rate_limited_until_slot: 0,
        }
    }

    /// An account with `data`, owned by the system program.
    pub(super) fn seen(data: &[u8]) -> Option<Watched<'_>> {
        Some(Watched {
            data,
            owner: &SYSTEM_PROGRAM,
        })
    }

    const SYSTEM_PROGRAM: Pubkey = Pubkey::new_from_array([0; 32]);

    pub(super) fn keys(n: usize) -> Vec<Pubkey> {
        (0..n).map(|_| Pubkey::new_unique()).collect()
    }

    fn no_retry() -> Scheduler {
        Scheduler::new(SchedulerConfig {
            retry_after_secs: 0,
            retry_after_slots: 0,
        })
    }

    #[test]
    fn scheduler_returns_due_threads_in_due_order_and_none_early() {
        let mut s = Scheduler::default();
        let k = keys(4);
        s.upsert(k[0], due(Due::At { unix_ts: 100 }));
        s.upsert(k[1], due(Due::At { unix_ts: 50 }));
        s.upsert(k[2], due(Due::At { unix_ts: 75 }));
        s.upsert(k[3], due(Due::Immediately));

        assert_eq!(s.tick(&at_time(49)), vec![k[3]], "only Immediately");
        assert_eq!(s.tick(&at_time(50)), vec![k[3], k[1]]);
        assert_eq!(s.tick(&at_time(99)), vec![k[3], k[1], k[2]]);
        assert_eq!(s.tick(&at_time(100)), vec![k[3], k[1], k[2], k[0]]);
    }

    #[test]
    fn scheduler_times_slot_and_epoch_triggers_by_their_own_unit() {
        let mut s = Scheduler::default();
        let k = keys(2);
        s.upsert(k[0], due(Due::AtSlot { slot: 10 }));
        s.upsert(k[1], due(Due::AtEpoch { epoch: 2 }));

        assert!(
            s.tick(&clock(i64::MAX, 9, 1)).is_empty(),
            "time is not slots"
        );
        assert_eq!(s.tick(&clock(0, 10, 1)), vec![k[0]]);
        assert_eq!(s.tick(&clock(0, 10, 2)), vec![k[0], k[1]]);
    }

    #[test]
    fn scheduler_skips_paused_threads_and_drops_never() {
        let mut s = Scheduler::default();
        let k = keys(2);
        let paused = Schedule {
            paused: true,
            ..due(Due::Immediately)
        };
        s.upsert(k[0], paused);
        s.upsert(k[1], due(Due::Never));
        assert_eq!(s.len(), 2, "tracked");
        assert_eq!(s.heap_len(), 0, "never keyed");
        assert!(s.tick(&at_time(i64::MAX)).is_empty());
        assert_eq!(s.mark_in_flight(&k[0]), None);

        // Resumed: due again.
        s.upsert(k[0], due(Due::Immediately));
        assert_eq!(s.tick(&at_time(0)), vec![k[0]]);
        // Paused while ready: gone from the ready queue.
        s.upsert(k[0], paused);
        assert!(s.tick(&at_time(0)).is_empty());
    }

    #[test]
    fn scheduler_rekeys_a_thread_whose_state_changed() {
        let mut s = Scheduler::default();
        let k = Pubkey::new_unique();
        s.upsert(k, due(Due::At { unix_ts: 100 }));
        assert!(
            !s.upsert(k, due(Due::At { unix_ts: 100 })),
            "same schedule, no re-key"
        );
        assert!(s.upsert(k, due(Due::At { unix_ts: 200 })));
        assert_eq!(s.heap_len(), 2, "the old entry stays until popped");

        assert!(s.tick(&at_time(150)).is_empty(), "the old key is skipped");
        assert_eq!(s.heap_len(), 1);
        assert_eq!(s.tick(&at_time(200)), vec![k]);

        // Ready, then re-keyed to later: no longer due; then to a slot.
        s.upsert(k, due(Due::At { unix_ts: 300 }));
        assert!(s.tick(&at_time(250)).is_empty());
        s.upsert(k, due(Due::AtSlot { slot: 7 }));
        assert!(s.tick(&clock(1_000, 6, 0)).is_empty());
        assert_eq!(s.tick(&clock(1_000, 7, 0)), vec![k]);

        assert!(s.remove(&k));
        assert!(s.tick(&clock(1_000, 7, 0)).is_empty());
        assert!(!s.remove(&k));
    }

    #[test]
    fn scheduler_does_not_reissue_a_thread_in_flight() {
        let mut s = Scheduler::new(SchedulerConfig {
            retry_after_secs: 10,
            retry_after_slots: 1_000,
        });
        let k = keys(2);
        s.upsert(k[0], due(Due::At { unix_ts: 5 }));
        s.upsert(k[1], due(Due::At { unix_ts: 5 }));

        assert_eq!(s.tick(&at_time(5)), vec![k[0], k[1]]);
        assert_eq!(s.mark_in_flight(&k[0]), Some((0, Due::At { unix_ts: 5 })));
        assert!(s.is_in_flight(&k[0]));
        assert_eq!(s.mark_in_flight(&k[0]), None, "issued once");
        assert_eq!(s.tick(&at_time(6)), vec![k[1]]);

        // Not executed: ready again after the cool-down, by chain time.
        s.finished(&k[0], Finished::NotExecuted);
        assert!(!s.is_in_flight(&k[0]));
        assert_eq!(s.tick(&at_time(15)), vec![k[1]]);
        assert_eq!(s.mark_in_flight(&k[0]), None, "cooling down");
        assert_eq!(
            s.tick(&at_time(16)),
            vec![k[1], k[0]],
            "a retry queues behind"
        );
        // A report for a thread not in flight changes nothing.
        s.finished(&k[1], Finished::Executed);
        assert_eq!(s.tick(&at_time(16)), vec![k[1], k[0]]);
    }

    /// With the chain's clock frozen, slots still move: the cool-down ends by slots.
    #[test]
    fn scheduler_cool_down_ends_by_slots_when_chain_time_stands_still() {
        let mut s = Scheduler::new(SchedulerConfig {
            retry_after_secs: 5,
            retry_after_slots: 3,
        });
        let k = Pubkey::new_unique();
        s.upsert(k, due(Due::At { unix_ts: 5 }));
        assert_eq!(s.tick(&clock(5, 10, 0)), vec![k]);
        assert!(s.mark_in_flight(&k).is_some());
        s.finished(&k, Finished::NotExecuted);
        assert!(s.tick(&clock(5, 12, 0)).is_empty(), "cooling down");
        assert_eq!(s.mark_in_flight(&k), None);
        assert_eq!(s.tick(&clock(5, 13, 0)), vec![k], "three slots later");
        assert!(s.mark_in_flight(&k).is_some());
        // And by time alone, as before.
        s.finished(&k, Finished::NotExecuted);
        assert!(s.tick(&clock(9, 13, 0)).is_empty());
        assert_eq!(s.tick(&clock(10, 13, 0)), vec![k], "five seconds later");
    }

    /// A non-skippable catch-up: executed at slot 7, still due, but the program allows
    /// one execution per slot. Issuing it at slot 7 would only fail (`RateLimited`) and
    /// cool down by chain seconds, which need not pass while slots do.
    #[test]
    fn scheduler_holds_a_rate_limited_thread_until_its_window_ends() {
        let mut fixture = ThreadFixture::new().due(Due::At { unix_ts: 10 });
        fixture.thread.window_start_slot = 7;
        fixture.thread.execs_in_window = 1;
        let schedule = |thread: &Thread| Schedule::of(&ThreadView::of(thread));
        let limited = schedule(&fixture.thread);
        assert_eq!(limited.rate_limited_until_slot, 8);
        fixture.thread.execs_in_window = 0;
        assert_eq!(schedule(&fixture.thread).rate_limited_until_slot, 0);

        let mut s = no_retry();
        let k = Pubkey::new_unique();
        s.upsert(k, limited);
        assert!(
            s.tick(&clock(100, 7, 0)).is_empty(),
            "due, but over its limit"
        );
        assert_eq!(s.mark_in_flight(&k), None);
        assert_eq!(s.tick(&clock(100, 8, 0)), vec![k], "the next slot's window");
        assert_eq!(s.mark_in_flight(&k), Some((0, Due::At { unix_ts: 10 })));
    }

    /// The schedule as the scheduler computed it from the whole decoded thread before the
    /// index kept a [`ThreadView`]: the reference the view must reproduce.
    fn schedule_of_full_thread(thread: &Thread) -> Schedule {
        let watch = Watch::of(&thread.trigger);
        let rate_limited_until_slot = thread.rate_limited_until_slot();
        Schedule {
            exec_count: thread.exec_count,
            due: thread.next_due,
            paused: thread.paused,
            watch,
            rate_limited_until_slot,
        }
    }

    #[test]
    fn schedule_from_the_index_view_equals_the_schedule_from_the_full_thread() {
        let mut index = ThreadIndex::new();
        for fixture in ThreadFixture::varieties() {
            let key = Pubkey::new_unique();
            assert!(index.upsert(key, 1, &fixture.data()).is_change());
            let thread = decode(&fixture.data()).unwrap();
            assert_eq!(
                Schedule::of(&index.get(&key).unwrap().state),
                schedule_of_full_thread(&thread),
                "{:?} / {:?}",
                thread.trigger,
                thread.next_due
            );
        }
    }

    /// The behaviour the view must keep: a scheduler loaded from the index issues, at
    /// each clock, exactly the threads the program would run from their full state (not
    /// paused, `check_due` passes, the rate limit admits one more at that slot).
    #[test]
    fn scheduler_fed_by_the_index_issues_exactly_what_the_program_would_run() {
        let index = shared_index();
        let mut threads = Vec::new();
        for fixture in ThreadFixture::varieties() {
            let key = Pubkey::new_unique();
            index.write().upsert(key, 1, &fixture.data());
            threads.push((key, decode(&fixture.data()).unwrap()));
        }
        let watched = [9u8; 32];
        let mut verdicts = BTreeSet::new();
        for unix_ts in [
            0,
            1_700_000_059,
            1_700_000_060,
            1_700_000_317,
            1_800_000_000,
        ] {
            for slot in [0, 95, 100, 499, 500] {
                for epoch in [0, 8, 9] {
                    let clock = clock(unix_ts, slot, epoch);
                    let mut s = Scheduler::default();
                    s.load(&index);
                    s.set_chain_time(&clock);
                    for address in s.watched_accounts() {
                        s.observe(&address, seen(&watched));
                    }
                    let issued: BTreeSet<Pubkey> = s.tick(&clock).into_iter().collect();
                    let runs: BTreeSet<Pubkey> = threads
                        .iter()
                        .filter(|(_, thread)| {
                            let data = matches!(
                                thread.trigger,
                                Trigger::Account { .. } | Trigger::Condition { .. }
                            )
                            .then_some(seen(&watched))
                            .flatten();
                            !thread.paused
                                && check_due(
                                    &thread.next_due,
                                    &thread.trigger,
                                    ChainTime::from(&clock),
                                    data,
                                )
                                .is_ok()
                                && thread.clone().record_in_window(clock.slot).is_ok()
                        })
                        .map(|(key, _)| *key)
                        .collect();
                    assert_eq!(issued, runs, "at {unix_ts} s, slot {slot}, epoch {epoch}");
                    verdicts.insert(runs);
                }
            }
        }
        assert!(
            verdicts.len() >= 6,
            "the clocks fall on both sides of the due times: {} verdicts",
            verdicts.len()
        );
    }

    #[test]
    fn scheduler_waits_for_a_new_state_after_an_execution() {
        let mut s = no_retry();
        let k = Pubkey::new_unique();
        s.upsert(k, due(Due::Immediately));
        assert_eq!(s.tick(&at_time(0)), vec![k]);
        s.mark_in_flight(&k).unwrap();
        s.finished(&k, Finished::Executed);
        assert!(
            s.tick(&at_time(100)).is_empty(),
            "the issued state is spent"
        );

        // Discovery brings the executed state: Never for a one-shot.
        s.upsert(
            k,
            Schedule {
                exec_count: 1,
                ..due(Due::Never)
            },
        );
        assert!(s.tick(&at_time(1_000)).is_empty());
        // An interval thread's next period.
        s.upsert(
            k,
            Schedule {
                exec_count: 2,
                ..due(Due::At { unix_ts: 1_010 })
            },
        );
        assert!(s.tick(&at_time(1_009)).is_empty());
        assert_eq!(s.tick(&at_time(1_010)), vec![k]);
        assert_eq!(s.mark_in_flight(&k), Some((2, Due::At { unix_ts: 1_010 })));
    }

    #[test]
    fn scheduler_applies_a_state_change_that_arrives_while_in_flight() {
        let mut s = no_retry();
        let k = Pubkey::new_unique();
        s.upsert(k, due(Due::At { unix_ts: 10 }));
        s.tick(&at_time(10));
        s.mark_in_flight(&k).unwrap();

        // The execution landed and discovery saw it before the worker reported.
        let next = Schedule {
            exec_count: 1,
            ..due(Due::At { unix_ts: 20 })
        };
        s.upsert(k, next);
        assert!(s.is_in_flight(&k), "a re-key does not free it");
        assert!(s.tick(&at_time(20)).is_empty(), "due, but still in flight");
        s.finished(&k, Finished::Executed);
        assert_eq!(s.tick(&at_time(20)), vec![k], "the new state is not spent");
        assert_eq!(s.mark_in_flight(&k), Some((1, Due::At { unix_ts: 20 })));
    }

    #[test]
    fn scheduler_on_change_threads_compare_their_range_hash() {
        let mut s = Scheduler::default();
        let address = Pubkey::new_unique();
        let data = [7u8; 32];
        let k = keys(3);
        s.upsert(k[0], watching(address, 0, 8, &data));
        s.upsert(k[1], watching(address, 8, 8, &data));
        s.upsert(k[2], watching(address, 0, 64, &data));
        assert_eq!(s.watched_accounts(), vec![address]);
        assert_eq!(s.account_trigger_threads(), 3);

        s.observe(&address, seen(&data));
        assert!(s.tick(&at_time(0)).is_empty(), "unchanged");

        let mut changed = data;
        changed[10] = 0;
        s.observe(&address, seen(&changed));
        assert_eq!(s.tick(&at_time(0)), vec![k[1], k[2]], "bytes 8..16 changed");

        s.observe(&address, seen(&data));
        assert!(s.tick(&at_time(0)).is_empty(), "changed back: not due");

        // Grown past the range of k[2]: a clipped range that grows counts as a change.
        let mut grown = data.to_vec();
        grown.push(1);
        s.observe(&address, seen(&grown));
        assert_eq!(s.tick(&at_time(0)), vec![k[2]]);

        // Closed: hashes as empty data, as exec_thread sees a missing account.
        s.observe(&address, None);
        assert_eq!(s.tick(&at_time(0)), vec![k[2], k[0], k[1]]);

        // A paused OnChange thread is not watched.
        s.upsert(
            k[0],
            Schedule {
                paused: true,
                ..watching(address, 0, 8, &data)
            },
        );
        assert_eq!(s.account_trigger_threads(), 2);
        // No watcher left: no account fetches.
        s.remove(&k[1]);
        s.remove(&k[2]);
        assert!(s.watched_accounts().is_empty());
    }

    #[test]
    fn scheduler_compacts_stale_heap_entries() {
        let mut s = Scheduler::default();
        let k = Pubkey::new_unique();
        for ts in 0..10_000 {
            s.upsert(
                k,
                due(Due::At {
                    unix_ts: 1_000_000 + ts,
                }),
            );
        }
        assert!(
            s.heap_len() <= 2 + 1024 + 1,
            "{} heap entries",
            s.heap_len()
        );
        assert!(s.tick(&at_time(1_000_000 + 9_998)).is_empty());
        assert_eq!(s.tick(&at_time(1_000_000 + 9_999)), vec![k]);
    }
}
