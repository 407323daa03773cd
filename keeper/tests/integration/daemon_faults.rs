//! The daemon against a real in-process bank with faults injected at the chain trait, and
//! its recovery: dropped, lost and refused sends, timeouts, RPC errors, an endpoint down
//! behind the failover, delayed and reordered confirmations; crashes between persist and
//! send and between send and confirm (durable and not), during a lease claim and during
//! a lease hand-back; a restart against a node that does not see the thread yet or
//! answers from elsewhere, and a thread deleted and re-created at its address (the chain,
//! not a row, decides what ran); dead-lettering and the operator's retry; a garbage
//! account among the threads; a store that cannot write (nothing it did not record is
//! sent).
//!
//! Exactly once is judged as the executor does: an execution is (thread, `exec_count`
//! when built), the store holds at most one row for it, and the thread's on-chain
//! `exec_count` says what ran. Nothing lost: every due time ran (`next_due` is past the
//! final clock). Nothing doubled: each executed due time has exactly one row, confirmed
//! or superseded, and no due time was confirmed twice.
//!
//! Also pinned: the replay loop never sends an execution whose first send is still under
//! way, and after a durable execution's answer is lost the next one is built on the
//! nonce's new value.
//!
//! Time: the bank runs on the real clock (its recent blockhashes expire after about a
//! second), so these tests do too and stay short. The replay delays (5-60 s by priority)
//! are measured on the store's clock only, which here is a test clock the test moves
//! forward; a crash "restart" opens the same SQLite file.

#![cfg(feature = "bank")]
#![allow(deprecated)] // program-test 3.1 marks its items deprecated; they are what we run

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::{
    confirm_until_confirmed, confirmed, due_times_of, every, exec_count, executor, fast_config,
    first_row, plan, rows, rows_by_due_time, state, tempdir, wait_until, world_with, Events,
    ProbedBank, Running, TestClock,
};
use keeper::chain::breaker::BreakerConfig;
use keeper::chain::failover::FailoverChain;
use keeper::chain::faulty::{Fault, FaultyChain, Op};
use keeper::chain::Chain;
use keeper::daemon::{DaemonConfig, RunSummary};
use keeper::execution::executor::{ExecEvent, ExecOutcome, Executor};
use keeper::ops::metrics::Metrics;
use keeper::sandbox::{self, ThreadPlan, World};
use keeper::store::{DeadLetter, ExecState, Store, StoreCounts};
use keeper::test_utils::bank::{thread_look_alike, BankChainExt};
use keeper::test_utils::logs::CapturedLogs;
use solana_sdk::instruction::Instruction;
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::Signer;
use solana_system_interface::instruction as system_instruction;
use thread::client;
use thread::errors::ThreadError;
use thread::instructions::UpdateThreadArgs;
use thread::state::{Due, Trigger};
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Fee deposit of each thread (5 000 lamports an execution).
const DEPOSIT: u64 = 50_000_000;
const LAMPORTS_PER_SOL: u64 = 1_000_000_000;

// ---------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------

/// A confirmation timeout that the injected status delays (up to 1.2 s) outlast.
const SHORT_CONFIRM_TIMEOUT_SECS: u64 = 1;

/// Daemon settings for tests: fast loops and the degradation monitor out of the way (it
/// would stop sends under the injected error rates; it has tests of its own).
///
/// The confirmation timeout is wall time, so it stays long here: with a short one, a
/// status slowed only by a loaded machine reads as a lost send, and the resend settles
/// as "ran" (no loss, but not the events these tests expect). The test of late statuses
/// sets [`SHORT_CONFIRM_TIMEOUT_SECS`] itself.
fn config() -> DaemonConfig {
    let mut config = fast_config();
    config.executor.confirm_timeout_secs = 60;
    config.degradation.min_samples = u32::MAX;
    config
}

/// The stage of the tests on a store file: one thread of `plan` in a fresh bank, and the
/// keeper's store in a temp dir (a crash "restart" opens the same file) on a clock the
/// test moves.
struct Stage {
    dir: tempfile::TempDir,
    path: PathBuf,
    world: Arc<World>,
    thread: Pubkey,
    clock: TestClock,
    /// The test's own handle on the store file; each daemon opens one of its own.
    store: Store,
}

impl Stage {
    async fn new(plan: ThreadPlan) -> Self {
        let dir = tempdir();
        let path = dir.path().join("keeper.sqlite");
        let world = world_with(&[plan], DEPOSIT).await;
        let thread = world.threads[0].key;
        let clock = TestClock::new();
        let store = clock.store(&path);
        Self {
            dir,
            path,
            world,
            thread,
            clock,
            store,
        }
    }

    /// A daemon over `chain` with the tests' settings, on a handle of its own on the
    /// store file.
    fn start(&self, chain: Arc<dyn Chain>) -> Running {
        self.start_with(chain, Metrics::new(), config())
    }

    fn start_with(
        &self,
        chain: Arc<dyn Chain>,
        metrics: Arc<Metrics>,
        config: DaemonConfig,
    ) -> Running {
        Running::start(
            chain,
            &self.world,
            self.clock.store(&self.path),
            metrics,
            config,
        )
    }

    /// [`drive`] as the tests of one thread do: every 100 ms one slot and `seconds` on
    /// the bank's clock, ten seconds on the store's.
    fn drive_steadily(&self, seconds: i64) -> JoinHandle<()> {
        drive(
            self.world.clone(),
            self.clock.clone(),
            Duration::from_millis(100),
            1,
            seconds,
            10,
        )
    }

    /// The crash tests' first run: a daemon whose sends follow `script` runs until the
    /// thread's first execution is persisted with one attempt behind it (`what` names
    /// the wait), then crashes. Returns the chain of that run.
    async fn crash_after_the_first_attempt(
        &self,
        script: Vec<Option<Fault>>,
        what: &str,
    ) -> Arc<FaultyChain<ProbedBank>> {
        let chain = faulty(&self.world, 1);
        chain.script(Op::Send, script);
        let run = self.start(chain.clone());
        wait_until!(
            what,
            30,
            self.store
                .find(&self.thread, 0)
                .unwrap()
                .is_some_and(|row| row.retry_count == 1)
        );
        run.crash().await;
        chain
    }

    /// The first run of the recovery tests: the thread's first execution is persisted
    /// and sent with `fault` injected into that send (a durable thread's lease claim
    /// lands before it), and the keeper crashes. Returns the chain of that run.
    async fn crash_after_a_send_that_met(
        &self,
        fault: Fault,
        what: &str,
    ) -> Arc<FaultyChain<ProbedBank>> {
        let durable = state(&self.world, &self.thread)
            .await
            .nonce_account()
            .is_ok();
        // A durable thread's lease claim goes through first.
        let claim = durable.then_some(None);
        let script = claim.into_iter().chain([Some(fault.clone())]).collect();
        let chain = self.crash_after_the_first_attempt(script, what).await;
        assert_eq!(sends(&chain), [fault]);
        chain
    }

    /// [`Stage::crash_after_a_send_that_met`] a drop: the send never reached the chain.
    async fn crash_after_a_dropped_send(&self) -> Arc<FaultyChain<ProbedBank>> {
        let chain = self
            .crash_after_a_send_that_met(
                Fault::Drop,
                "the execution is persisted and its send dropped",
            )
            .await;
        let row = first_row(&self.store, &self.thread);
        assert_eq!(row.state, ExecState::Pending);
        assert_eq!(row.last_sent_at, None, "never sent");
        chain
    }

    /// The crash tests' second run: the keeper starts again on the store file with a
    /// healthy chain, the thread's execution reaches `settled` (`what` names the wait),
    /// the clock moves on for a while (nothing more may run) and the keeper stops.
    /// Returns the healthy chain, what the run published and its summary.
    async fn restart_until(
        &self,
        settled: ExecState,
        what: &str,
    ) -> (Arc<FaultyChain<ProbedBank>>, Events, RunSummary) {
        let healthy = faulty(&self.world, 2);
        let run = self.start(healthy.clone());
        wait_until!(
            what,
            30,
            first_row(&self.store, &self.thread).state == settled
        );
        let driver = self.drive_steadily(2);
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        driver.abort();
        let events = run.events.clone();
        (healthy, events, run.stop().await)
    }

    /// Sends `ix`, signed by the thread's owner.
    async fn as_owner(&self, ix: Instruction) {
        let world = &self.world;
        sandbox::send(&world.chain, &[ix], &world.owner, &[])
            .await
            .unwrap();
    }

    /// The owner moves `lamports` into the thread.
    async fn top_up(&self, lamports: u64) {
        let owner = self.world.owner.pubkey();
        self.as_owner(system_instruction::transfer(&owner, &self.thread, lamports))
            .await;
    }

    /// The dead-letter tests' end: the execution the operator retried is confirmed,
    /// the clock runs on half a second (nothing more may run), and the driver and the
    /// daemon stop. Returns what the run published and its summary.
    async fn until_the_retry_is_confirmed(
        &self,
        run: Running,
        driver: JoinHandle<()>,
    ) -> (Events, RunSummary) {
        wait_until!(
            "the retried execution is confirmed",
            30,
            first_row(&self.store, &self.thread).state == ExecState::Confirmed
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
        driver.abort();
        let events = run.events.clone();
        (events, run.stop().await)
    }

    /// What a crash test's restart ends with: the one execution recovered and settled
    /// as `counts` says, in the one row the first run wrote.
    fn assert_recovered_once(&self, summary: &RunSummary, counts: StoreCounts) {
        assert_eq!(summary.recovered, 1);
        assert_eq!(summary.counts, counts);
        assert_eq!(rows(&self.path).len(), 1);
    }
}

/// The bank behind a chain that injects the faults scripted on it (none until then),
/// drawing random ones from `seed`.
fn faulty(world: &World, seed: u64) -> Arc<FaultyChain<ProbedBank>> {
    Arc::new(FaultyChain::new(ProbedBank::new(world.chain.clone()), seed))
}

/// Moves the bank's clock `seconds` (and `slots`) and the store's clock `store_seconds`
/// every `period`, until aborted.
fn drive(
    world: Arc<World>,
    clock: TestClock,
    period: Duration,
    slots: u64,
    seconds: i64,
    store_seconds: i64,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(period);
        loop {
            ticks.tick().await;
            world.advance(slots, seconds).await;
            clock.advance(store_seconds);
        }
    })
}

fn sends(chain: &FaultyChain<ProbedBank>) -> Vec<Fault> {
    chain
        .injected()
        .into_iter()
        .filter(|i| i.op == Op::Send)
        .map(|i| i.fault)
        .collect()
}

// ---------------------------------------------------------------------------------------
// Faults at the chain trait
// ---------------------------------------------------------------------------------------

/// Threads of every schedule that repeats or fires once, durable and not, executed by
/// the daemon through a failover over two endpoints of one bank while the clock moves:
/// the preferred endpoint drops, loses, refuses and times out calls from scripts,
/// delays every status by up to 1.2 s (so confirmations arrive late and out of order,
/// some after the 1 s confirmation timeout), and is down for 3 s; the second endpoint
/// drops a few sends of its own. At the end every due time ran once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_at_the_chain_lose_no_due_time_and_run_none_twice() {
    let dir = tempdir();
    let path = dir.path().join("keeper.sqlite");
    let mut world = World::start().await.unwrap();
    let t0 = world.clock().await.unwrap().unix_timestamp;
    world
        .create(
            &[
                plan("nd-now", Trigger::Now, false),
                plan("nd-every-4s", every(4), false),
                plan("nd-every-5s", every(5), false),
                plan(
                    "nd-at-t0+10",
                    Trigger::Timestamp { unix_ts: t0 + 10 },
                    false,
                ),
                plan("d-now", Trigger::Now, true),
                plan("d-every-5s", every(5), true),
                plan("d-every-7s", every(7), true),
            ],
            DEPOSIT,
        )
        .await
        .unwrap();
    let world = Arc::new(world);

    let rpc = |what: &str| Some(Fault::Rpc(format!("injected {what} error")));
    let timeout = Some(Fault::Timeout(Duration::from_millis(150)));
    let primary = Arc::new(
        FaultyChain::new(ProbedBank::new(world.chain.clone()), 7)
            .status_delay(Duration::from_millis(20), Duration::from_millis(1_200)),
    );
    let secondary = faulty(&world, 8);
    for _ in 0..3 {
        primary.script(
            Op::Send,
            [
                None,
                Some(Fault::Drop),
                None,
                Some(Fault::LoseAnswer),
                None,
                rpc("send"),
                None,
                timeout.clone(),
                None,
                Some(Fault::LoseAnswer),
            ],
        );
        primary.script(
            Op::SignatureStatuses,
            [None, None, rpc("status"), None, Some(Fault::Drop), None],
        );
        primary.script(
            Op::Simulate,
            [None, None, rpc("simulate"), None, Some(Fault::Drop)],
        );
        primary.script(
            Op::GetAccount,
            [None, None, None, Some(Fault::Drop), None, timeout.clone()],
        );
        primary.script(Op::Clock, [None, None, None, None, Some(Fault::Drop)]);
    }
    primary.script(
        Op::GetProgramAccounts,
        [Some(Fault::Drop), None, rpc("scan")],
    );
    secondary.script(Op::Send, [Some(Fault::Drop), None, None, Some(Fault::Drop)]);

    let metrics = Metrics::new();
    let failover = Arc::new(
        FailoverChain::new(
            vec![primary.clone() as Arc<dyn Chain>, secondary.clone()],
            BreakerConfig {
                failure_threshold: 3,
                success_threshold: 2,
                open_timeout: Duration::from_millis(500),
            },
            Some(metrics.registry()),
        )
        .unwrap(),
    );
    let start = Instant::now();
    let down = (
        start + Duration::from_secs(3),
        start + Duration::from_secs(6),
    );
    primary.down_between(down.0, down.1);

    // The breaker of the preferred endpoint, and its gauge, as they change.
    let seen_states = Arc::new(Mutex::new(Vec::<(&'static str, String)>::new()));
    let sampler = {
        let (failover, metrics, seen) = (failover.clone(), metrics.clone(), seen_states.clone());
        tokio::spawn(async move {
            loop {
                let state = failover.breaker_states()[0].1.as_str();
                let gauge = metrics
                    .render()
                    .lines()
                    .find(|l| l.starts_with("keeper_rpc_breaker_state{endpoint=\"faulty:bank\"}"))
                    .map(|l| l.rsplit(' ').next().unwrap().to_string())
                    .unwrap_or_default();
                {
                    let mut seen = seen.lock().unwrap();
                    if seen.last() != Some(&(state, gauge.clone())) {
                        seen.push((state, gauge));
                    }
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };

    let clock = TestClock::new();
    let mut config = config();
    config.executor.confirm_timeout_secs = SHORT_CONFIRM_TIMEOUT_SECS;
    let run = Running::start(
        failover.clone(),
        &world,
        clock.store(&path),
        metrics.clone(),
        config,
    );
    // Two chain seconds and twenty store seconds per wall-clock second.
    let driver = drive(
        world.clone(),
        clock.clone(),
        Duration::from_millis(500),
        2,
        1,
        10,
    );

    // While the preferred endpoint is down, the second one serves every call.
    tokio::time::sleep_until(down.0 + Duration::from_millis(200)).await;
    let primary_before = Op::ALL.map(|op| primary.forwarded(op));
    let secondary_before = secondary.calls();
    let secondary_sends_before = secondary.forwarded(Op::Send);
    tokio::time::sleep_until(down.1 - Duration::from_millis(200)).await;
    assert_eq!(
        Op::ALL.map(|op| primary.forwarded(op)),
        primary_before,
        "nothing reached the endpoint that is down"
    );
    assert!(secondary.calls() > secondary_before + 10);
    assert!(
        secondary.forwarded(Op::Send) > secondary_sends_before,
        "executions were sent through the second endpoint"
    );

    // Then the clock keeps moving a while with the preferred endpoint back.
    tokio::time::sleep_until(start + Duration::from_secs(9)).await;
    driver.abort();
    let _ = driver.await;

    // Settle with time frozen, so no new due time comes: slots move every step (the
    // rate limit allows one execution per slot) and the store's clock ten seconds a step
    // so replays come quickly. When four steps in a row change nothing (a thread waits
    // out the scheduler's cool-down after a failed attempt, which runs on chain time),
    // time moves five seconds. Stop at the first step that finds every thread past its
    // due time and nothing unfinished in the store.
    let store = clock.store(&path);
    let mut settled = None;
    let (mut last, mut idle) = (None, 0);
    for _ in 0..200 {
        let seconds = if idle >= 4 { 5 } else { 0 };
        world.advance(2, seconds).await;
        clock.advance(10);
        tokio::time::sleep(Duration::from_millis(150)).await;
        let now = world.clock().await.unwrap().unix_timestamp;
        let counts = store.counts().unwrap();
        let mut caught_up = counts.unfinished() == 0;
        let mut executed = 0;
        for t in &world.threads {
            let s = state(&world, &t.key).await;
            executed += s.exec_count;
            caught_up &= match s.next_due {
                Due::Never => true,
                Due::At { unix_ts } => unix_ts > now,
                other => panic!("{}: unexpected {other:?}", t.label),
            };
        }
        if caught_up {
            settled = Some(now);
            break;
        }
        let progress = Some((executed, counts));
        idle = if seconds == 0 && progress == last {
            idle + 1
        } else {
            0
        };
        last = progress;
    }
    let final_clock = settled.expect("the keeper caught up with every thread");
    let events = run.events.clone();
    let summary = run.stop().await;
    sampler.abort();

    // Nothing lost: every due time up to the final clock ran.
    let mut on_chain = BTreeMap::new();
    for t in &world.threads {
        let s = state(&world, &t.key).await;
        match t.trigger {
            Trigger::Interval { seconds, .. } => {
                let Due::At { unix_ts } = s.next_due else {
                    panic!("{}: {:?}", t.label, s.next_due)
                };
                assert!(unix_ts > final_clock, "{} is behind", t.label);
                assert!(unix_ts - seconds <= final_clock, "{} ran ahead", t.label);
                assert!(s.exec_count >= 2, "{} ran {}", t.label, s.exec_count);
            }
            _ => {
                assert_eq!(s.next_due, Due::Never, "{}", t.label);
                assert_eq!(s.exec_count, 1, "{}", t.label);
            }
        }
        on_chain.insert(t.key, s.exec_count);
    }

    // Nothing doubled: one row per executed due time, each finished, none confirmed twice.
    let by_due_time = rows_by_due_time(&path);
    for (due_time, states) in &by_due_time {
        assert_eq!(states.len(), 1, "{due_time:?} has rows {states:?}");
        assert!(
            matches!(states[0], ExecState::Confirmed | ExecState::Superseded),
            "{due_time:?} ended {:?}",
            states[0]
        );
    }
    for (thread, count) in &on_chain {
        let executed = due_times_of(&by_due_time, thread);
        assert_eq!(
            executed,
            (0..*count).collect(),
            "each due time the chain ran has its one execution"
        );
    }
    let confirmed = events.confirmed();
    let unique: BTreeSet<_> = confirmed.iter().copied().collect();
    assert_eq!(
        unique.len(),
        confirmed.len(),
        "a due time was confirmed twice"
    );
    let total: u64 = on_chain.values().sum();
    assert_eq!(
        summary.counts,
        StoreCounts {
            confirmed: u64::try_from(confirmed.len()).unwrap(),
            superseded: total - u64::try_from(confirmed.len()).unwrap(),
            ..StoreCounts::default()
        }
    );
    assert_eq!(summary.recovered, 0);

    // The faults happened, and the keeper went the long way round: replays, and
    // executions that had landed unbeknownst to it settled as superseded.
    let injected: BTreeSet<&str> = primary
        .injected()
        .iter()
        .map(|i| match i.fault {
            Fault::Drop => "drop",
            Fault::LoseAnswer => "lose_answer",
            Fault::Timeout(_) => "timeout",
            Fault::Rpc(_) => "rpc",
            Fault::Down => "down",
        })
        .collect();
    assert_eq!(
        injected,
        BTreeSet::from(["down", "drop", "lose_answer", "rpc", "timeout"])
    );
    assert!(sends(&secondary).contains(&Fault::Drop));
    assert!(events.count(|e| matches!(e, ExecEvent::Replayed { .. })) > 0);
    assert!(summary.counts.superseded > 0);

    // The breaker opened while the endpoint was down and closed after; its gauge followed.
    let seen = seen_states.lock().unwrap().clone();
    assert!(
        seen.contains(&("open", "2".to_string())),
        "breaker states: {seen:?}"
    );
    assert_eq!(
        seen.last(),
        Some(&("closed", "0".to_string())),
        "breaker states: {seen:?}"
    );
    assert_eq!(failover.breaker_states()[0].1.as_str(), "closed");
}

/// A first send that takes long (a slow endpoint) while the store's clock runs far past
/// every replay delay: the replay loop leaves the execution alone until the send
/// returns, so it is sent once and confirmed, not rebuilt and sent again behind the
/// executor's back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_execution_whose_first_send_is_slow_is_not_replayed_meanwhile() {
    let world = world_with(&[plan("now", Trigger::Now, false)], DEPOSIT).await;
    let thread = world.threads[0].key;
    let clock = TestClock::new();
    let store = clock.memory_store();

    let chain = Arc::new(ProbedBank::new(world.chain.clone()));
    // Not much longer: the bank's recent blockhashes expire after about a second.
    chain.slow_sends(Duration::from_millis(700));
    let run = Running::start(
        chain.clone(),
        &world,
        store.clone(),
        Metrics::new(),
        config(),
    );
    let driver = tokio::spawn({
        let clock = clock.clone();
        async move {
            loop {
                tokio::time::sleep(Duration::from_millis(100)).await;
                clock.advance(60);
            }
        }
    });
    wait_until!(
        "the execution is confirmed",
        30,
        confirmed(&store, &thread, 0)
    );
    driver.abort();
    let events = run.events.clone();
    let summary = run.stop().await;

    let row = first_row(&store, &thread);
    assert_eq!(row.retry_count, 0);
    assert_eq!(chain.sends(), 1);
    assert_eq!(
        events.all(),
        [
            ExecEvent::Submitted {
                thread,
                exec_count: 0,
                signature: row.signature,
                durable: false
            },
            ExecEvent::Confirmed {
                thread,
                exec_count: 0,
                signature: row.signature
            },
        ]
    );
    assert_eq!(exec_count(&world, &thread).await, 1);
    assert_eq!(summary.counts, confirmed_only(1));
}

/// A durable execution lands but the answer to its send is lost, so the nonce advanced
/// under the keeper's cached value. The next execution of the thread is built on the
/// nonce's new value: sent once and confirmed, not rejected for a stale nonce first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_lost_answer_the_next_durable_execution_uses_the_advanced_nonce() {
    let world = world_with(&[plan("durable-every-3s", every(3), true)], DEPOSIT).await;
    let thread = world.threads[0].key;
    let clock = TestClock::new();
    let store = clock.memory_store();

    // The lease claim goes through; the first execution lands, its answer is lost.
    let chain = faulty(&world, 4);
    chain.script(Op::Send, [None, Some(Fault::LoseAnswer)]);
    let run = Running::start(
        chain.clone(),
        &world,
        store.clone(),
        Metrics::new(),
        config(),
    );
    let driver = drive(
        world.clone(),
        clock.clone(),
        Duration::from_millis(200),
        2,
        1,
        10,
    );
    wait_until!(
        "the second due time is confirmed",
        30,
        confirmed(&store, &thread, 1)
    );
    driver.abort();
    let summary = run.stop().await;

    let first = first_row(&store, &thread);
    assert_eq!((first.state, first.retry_count), (ExecState::Superseded, 1));
    let second = store.find(&thread, 1).unwrap().unwrap();
    assert_eq!(
        (second.retry_count, second.last_error),
        (0, None),
        "sent once, on the fresh nonce"
    );
    assert_eq!(sends(&chain), [Fault::LoseAnswer]);
    assert_eq!(summary.counts.dead + summary.counts.unfinished(), 0);
}

// ---------------------------------------------------------------------------------------
// Faults at the store
// ---------------------------------------------------------------------------------------

/// `executions_failed_total{kind="store"}`: executions not sent because the store did
/// not record them.
fn unrecorded(metrics: &Metrics) -> u64 {
    metrics
        .executions_failed_total
        .with_label_values(&["store"])
        .get()
}

impl Stage {
    /// An executor over `chain` on a read-only handle of the store file: a store that
    /// fails every write.
    fn read_only_executor(&self, chain: Arc<dyn Chain>, metrics: Arc<Metrics>) -> Executor {
        let read_only = Store::open_read_only(&self.path).unwrap();
        executor(chain, &self.world, read_only, metrics, config().executor)
    }

    /// An executor over `chain` on the test's own handle of the store file.
    fn working_executor(&self, chain: Arc<dyn Chain>) -> Executor {
        executor(
            chain,
            &self.world,
            self.store.clone(),
            Metrics::new(),
            config().executor,
        )
    }

    /// Polls `executor`'s confirmations until the thread's first due time is confirmed,
    /// then checks it ran once.
    async fn first_due_time_confirmed(&self, executor: &Executor) {
        confirm_until_confirmed(executor, &self.store, &self.thread, 0).await;
        assert_eq!(exec_count(&self.world, &self.thread).await, 1);
    }
}

/// A store that cannot write makes the executor send nothing, durable or not: an
/// execution it could not persist is not sent, and the error says why. The due time is
/// still the thread's next, and a keeper whose store works runs it once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_execution_the_store_cannot_record_is_not_sent() {
    for durable in [false, true] {
        let stage = Stage::new(plan("now", Trigger::Now, durable)).await;
        let thread = stage.thread;
        let chain = Arc::new(ProbedBank::new(stage.world.chain.clone()));
        let metrics = Metrics::new();
        let failing = stage.read_only_executor(chain.clone(), metrics.clone());

        let outcome = failing.execute(thread, 0).await;
        let ExecOutcome::Failed(reason) = &outcome else {
            panic!("durable {durable}: {outcome:?}");
        };
        assert!(
            reason.starts_with("persist: ") && reason.contains("readonly"),
            "{reason}"
        );
        assert_eq!(unrecorded(&metrics), 1);
        assert_eq!(failing.in_flight_len(), 0);
        assert_eq!(stage.store.find(&thread, 0).unwrap(), None);
        if !durable {
            assert_eq!(chain.sends(), 0, "nothing sent");
        }
        // The durable thread's lease claim was sent; its execution was not.
        assert_eq!(exec_count(&stage.world, &thread).await, 0);

        let working = stage.working_executor(chain);
        let outcome = working.execute(thread, 0).await;
        assert!(
            matches!(outcome, ExecOutcome::Submitted { .. }),
            "durable {durable}: {outcome:?}"
        );
        stage.first_due_time_confirmed(&working).await;
    }
}

/// A replay whose rebuilt transaction the store cannot record sends nothing: the row is
/// left exactly as it was, still due, and a keeper whose store works runs the due time
/// once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebuild_the_store_cannot_record_is_not_sent() {
    let stage = Stage::new(plan("now", Trigger::Now, false)).await;
    let thread = stage.thread;
    // The first send never reaches the bank: the execution waits in the replay queue.
    let unanswered = faulty(&stage.world, 7);
    unanswered.script(Op::Send, [Some(Fault::Drop)]);
    let outcome = stage.working_executor(unanswered).execute(thread, 0).await;
    assert!(
        matches!(outcome, ExecOutcome::Deferred { .. }),
        "{outcome:?}"
    );
    let queued = first_row(&stage.store, &thread);

    let chain = Arc::new(ProbedBank::new(stage.world.chain.clone()));
    let metrics = Metrics::new();
    let failing = stage.read_only_executor(chain.clone(), metrics.clone());
    assert_eq!(failing.recover().await, 1);
    assert_eq!(chain.sends(), 0, "nothing sent");
    assert_eq!(unrecorded(&metrics), 1);
    assert_eq!(failing.in_flight_len(), 0);
    assert_eq!(
        first_row(&stage.store, &thread),
        queued,
        "the row is untouched"
    );
    assert_eq!(exec_count(&stage.world, &thread).await, 0);

    let working = stage.working_executor(chain.clone());
    assert_eq!(working.recover().await, 1);
    stage.first_due_time_confirmed(&working).await;
    assert_eq!(chain.sends(), 1);
}

// ---------------------------------------------------------------------------------------
// Crash and restart
// ---------------------------------------------------------------------------------------

/// The keeper crashes after persisting a durable execution whose send never reached the
/// chain. A new daemon on the same store file sends the very transaction it persisted
/// (its nonce has not moved) and the thread runs once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_between_persist_and_send_runs_the_persisted_execution_once_after_restart() {
    let stage = Stage::new(plan("durable-now", Trigger::Now, true)).await;
    let (world, thread, store) = (&stage.world, stage.thread, &stage.store);

    // First run: the lease claim goes through; the execution's send is dropped.
    let chain = stage.crash_after_a_dropped_send().await;

    let row = first_row(store, &thread);
    assert!(row.nonce_value.is_some(), "durable");
    assert_eq!(
        chain.forwarded(Op::Send),
        1,
        "only the lease claim reached the bank"
    );
    assert_eq!(exec_count(world, &thread).await, 0);

    // Restart on the same file with a healthy chain.
    let (_, events, summary) = stage
        .restart_until(ExecState::Confirmed, "the recovered execution is confirmed")
        .await;

    assert_eq!(exec_count(world, &thread).await, 1);
    assert_eq!(state(world, &thread).await.next_due, Due::Never);
    assert_eq!(
        events.all(),
        [
            ExecEvent::Replayed {
                thread,
                exec_count: 0,
                retry: true
            },
            ExecEvent::Confirmed {
                thread,
                exec_count: 0,
                signature: row.signature
            },
        ],
        "the persisted transaction itself landed"
    );
    stage.assert_recovered_once(&summary, confirmed_only(1));
    assert_lease_handed_back(world, &thread, &summary).await;
}

/// The keeper's durable execution lands but the answer to its send is lost; the keeper
/// crashes before it learns more. After the restart the thread's on-chain state shows
/// the due time ran: the execution is superseded, nothing is sent again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_between_send_and_confirm_is_settled_by_the_chain_after_restart() {
    let stage = Stage::new(plan("durable-now", Trigger::Now, true)).await;
    let (world, thread, store) = (&stage.world, stage.thread, &stage.store);

    let chain = stage
        .crash_after_a_send_that_met(Fault::LoseAnswer, "the execution's answer is lost")
        .await;

    let row = first_row(store, &thread);
    assert!(row.state.is_unfinished(), "{:?}", row.state);
    assert_eq!(
        chain.forwarded(Op::Send),
        2,
        "the lease claim and the execution"
    );
    assert_eq!(exec_count(world, &thread).await, 1, "it landed");

    let (healthy, events, summary) = stage
        .restart_until(ExecState::Superseded, "the execution is settled")
        .await;

    assert_eq!(exec_count(world, &thread).await, 1, "ran exactly once");
    assert_eq!(events.all(), [already_ran(thread)]);
    let row = first_row(store, &thread);
    assert_eq!(row.last_error.as_deref(), Some("the due time already ran"));
    assert_eq!(
        healthy.forwarded(Op::Send),
        1,
        "nothing but the lease release was sent"
    );
    stage.assert_recovered_once(&summary, superseded_only(1));
    assert_lease_handed_back(world, &thread, &summary).await;
}

/// A non-durable execution is persisted, its send never reaches the chain, and the keeper
/// crashes. After the restart its blockhash may have expired: it is rebuilt, sent and
/// confirmed, in the same row, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_durable_crash_between_persist_and_send_runs_once_after_restart() {
    let stage = Stage::new(plan("now", Trigger::Now, false)).await;
    let (world, thread) = (&stage.world, stage.thread);

    let chain = stage.crash_after_a_dropped_send().await;
    assert_eq!(chain.forwarded(Op::Send), 0, "nothing reached the bank");

    let (_, events, summary) = stage
        .restart_until(ExecState::Confirmed, "the recovered execution is confirmed")
        .await;

    assert_eq!(exec_count(world, &thread).await, 1, "ran exactly once");
    assert_eq!(events.confirmed(), [(thread, 0)]);
    stage.assert_recovered_once(&summary, confirmed_only(1));
}

/// A non-durable execution lands but the answer to its send is lost, and the keeper
/// crashes. After the restart the thread's `exec_count` shows it ran: superseded, not
/// sent again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_durable_crash_between_send_and_confirm_is_settled_by_the_chain_after_restart() {
    let stage = Stage::new(plan("now", Trigger::Now, false)).await;
    let (world, thread) = (&stage.world, stage.thread);

    stage
        .crash_after_a_send_that_met(Fault::LoseAnswer, "the execution's answer is lost")
        .await;
    assert_eq!(exec_count(world, &thread).await, 1, "it landed");

    let (healthy, events, summary) = stage
        .restart_until(ExecState::Superseded, "the execution is settled")
        .await;

    assert_eq!(exec_count(world, &thread).await, 1, "ran exactly once");
    assert_eq!(events.all(), [already_ran(thread)]);
    assert_eq!(healthy.forwarded(Op::Send), 0, "nothing sent again");
    assert_eq!(summary.recovered, 1);
    assert_eq!(rows(&stage.path).len(), 1);
}

/// The lease claim of a durable thread lands but its answer is lost, and the keeper
/// crashes before it executes. The restarted keeper finds its own lease on chain, uses
/// it for the execution (no second claim), and hands it back at the clean stop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_during_a_lease_claim_runs_the_due_time_once_on_the_claimed_lease() {
    let stage = Stage::new(plan("durable-now", Trigger::Now, true)).await;
    let (world, thread, store) = (&stage.world, stage.thread, &stage.store);

    let chain = faulty(world, 1);
    chain.script(Op::Send, [Some(Fault::LoseAnswer)]);
    let run = stage.start(chain.clone());
    let me = world.keeper.pubkey();
    wait_until!(
        "the claim landed unseen",
        30,
        state(world, &thread)
            .await
            .lease
            .is_some_and(|lease| lease.holder == me)
    );
    run.crash().await;
    assert_eq!(sends(&chain), [Fault::LoseAnswer]);
    assert_eq!(exec_count(world, &thread).await, 0);
    let claimed = state(world, &thread).await.lease.unwrap();

    let healthy = faulty(world, 2);
    let run = stage.start(healthy.clone());
    wait_until!(
        "the execution is confirmed",
        30,
        confirmed(store, &thread, 0)
    );
    assert_eq!(
        state(world, &thread).await.lease.map(|l| l.claimed_slot),
        Some(claimed.claimed_slot),
        "the lease claimed before the crash was used"
    );
    let summary = run.stop().await;

    assert_eq!(exec_count(world, &thread).await, 1, "ran exactly once");
    assert_eq!(summary.leases_released, 1);
    assert_eq!(state(world, &thread).await.lease, None, "handed back");
    assert_eq!(rows(&stage.path).len(), 1);
}

/// The keeper is killed while it hands its lease back at shutdown (the release never
/// reaches the chain). The restarted keeper goes on executing the thread on the lease it
/// still holds, each due time once, and hands it back at its own clean stop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_during_a_lease_hand_back_loses_and_doubles_no_due_time() {
    let stage = Stage::new(plan("durable-every-10", every(10), true)).await;
    let (world, thread, store) = (&stage.world, stage.thread, &stage.store);

    let chain = faulty(world, 1);
    let run = stage.start(chain.clone());
    let driver = stage.drive_steadily(2);
    wait_until!("the first due time ran", 30, confirmed(store, &thread, 0));
    driver.abort();
    // Settled: nothing in flight, the next due time still ahead.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let sent_before = chain.inner().sends();
    chain.inner().slow_sends(Duration::from_secs(5));
    let probed = chain.clone();
    run.crash_while_stopping("the hand-back is under way", move || {
        probed.inner().most_sending() >= 1
    })
    .await;
    assert_eq!(
        chain.inner().sends(),
        sent_before,
        "the release never reached the bank"
    );
    let me = world.keeper.pubkey();
    assert!(
        state(world, &thread)
            .await
            .lease
            .is_some_and(|lease| lease.holder == me),
        "the lease is still held"
    );
    let ran_before = exec_count(world, &thread).await;

    let healthy = faulty(world, 2);
    let run = stage.start(healthy.clone());
    let driver = drive(
        world.clone(),
        stage.clock.clone(),
        Duration::from_millis(100),
        1,
        1,
        10,
    );
    wait_until!(
        "two more due times ran",
        30,
        confirmed(store, &thread, ran_before + 1)
    );
    driver.abort();
    let summary = run.stop().await;

    let ran = exec_count(world, &thread).await;
    let by_due_time = rows_by_due_time(&stage.path);
    assert_eq!(
        due_times_of(&by_due_time, &thread),
        (0..ran).collect::<BTreeSet<_>>(),
        "every due time that ran has its row"
    );
    for (due_time, states) in &by_due_time {
        assert_eq!(states.len(), 1, "{due_time:?}: {states:?}");
    }
    assert!(healthy.injected().is_empty(), "a healthy chain");
    assert_eq!(summary.leases_released, 1);
    assert_eq!(state(world, &thread).await.lease, None, "handed back");
}

/// The event of `thread`'s first due time settled by the chain: it ran already.
fn already_ran(thread: Pubkey) -> ExecEvent {
    ExecEvent::Superseded {
        thread,
        exec_count: 0,
        reason: "the due time already ran".into(),
        ran: true,
    }
}

/// The counts of a store whose executions all ended confirmed, `n` of them.
fn confirmed_only(n: u64) -> StoreCounts {
    StoreCounts {
        confirmed: n,
        ..StoreCounts::default()
    }
}

/// The counts of a store whose executions all ended superseded, `n` of them.
fn superseded_only(n: u64) -> StoreCounts {
    StoreCounts {
        superseded: n,
        ..StoreCounts::default()
    }
}

/// A finished (`Never`) durable thread's lease is handed back, by the lease upkeep as
/// soon as it sees that or at the latest by the shutdown, and none is left to expire.
async fn assert_lease_handed_back(world: &World, thread: &Pubkey, summary: &RunSummary) {
    assert_eq!(state(world, thread).await.lease, None);
    assert_eq!(summary.leases_left, []);
}

// ---------------------------------------------------------------------------------------
// Recovery judged by the chain
// ---------------------------------------------------------------------------------------

/// The keeper restarts against a node that does not see the thread yet: it answers
/// "account not found" at a slot before the one the execution was built on. Nothing is
/// superseded, nothing sent; once the node catches up the due time runs, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_against_a_node_behind_supersedes_nothing_and_runs_the_due_time_once_it_catches_up(
) {
    restart_against_a_node_behind(false).await;
}

/// [`a_restart_against_a_node_behind_supersedes_nothing_and_runs_the_due_time_once_it_catches_up`]
/// for a durable thread: the persisted transaction waits on its nonce and lands once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_durable_execution_survives_a_restart_against_a_node_behind() {
    restart_against_a_node_behind(true).await;
}

async fn restart_against_a_node_behind(durable: bool) {
    let stage = Stage::new(plan("now", Trigger::Now, durable)).await;
    let (world, thread, store) = (&stage.world, stage.thread, &stage.store);
    stage.crash_after_a_dropped_send().await;
    let built_at = first_row(store, &thread)
        .context
        .expect("the read the execution was built on is recorded");
    assert!(built_at.slot > 0, "{built_at:?}");

    let lagging = faulty(world, 2);
    lagging.hide_account(thread, Some(built_at.slot - 1));
    let run = stage.start(lagging.clone());
    let driver = stage.drive_steadily(2);
    wait_until!(
        "the recovery heard the lagging node",
        30,
        first_row(store, &thread)
            .last_error
            .is_some_and(|e| e.contains("thread not found"))
    );
    // Several replay rounds on the store's stage.clock (ten seconds a tick).
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let row = first_row(store, &thread);
    assert!(row.state.is_unfinished(), "not superseded: {row:?}");
    assert_eq!(row.retry_count, 1, "a lagging node costs no attempt");
    let reason = row.last_error.unwrap();
    assert!(
        reason.contains(&format!("before slot {}", built_at.slot)),
        "{reason}"
    );
    assert_eq!(lagging.forwarded(Op::Send), 0, "nothing sent");
    assert_eq!(exec_count(world, &thread).await, 0);

    lagging.reveal_account(&thread);
    wait_until!(
        "the due time runs once the node caught up",
        30,
        confirmed(store, &thread, 0)
    );
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    driver.abort();
    let events = run.events.clone();
    let summary = run.stop().await;

    assert_eq!(exec_count(world, &thread).await, 1, "ran exactly once");
    assert_eq!(events.confirmed(), [(thread, 0)]);
    // The lagging node judged nothing gone.
    assert_eq!(
        events.count(|e| matches!(e, ExecEvent::Superseded { ran: false, .. })),
        0
    );
    assert_eq!(first_row(store, &thread).state, ExecState::Confirmed);
    assert_eq!(summary.recovered, 1);
    assert_eq!(rows(&stage.path).len(), 1);
}

/// A node of another cluster (or one ahead on another fork) answers "account not found"
/// at a slot after the execution's: the execution is superseded, and the log says which
/// thread, which due time and why. The chain still shows the due time unexecuted, so
/// once a node that has the thread answers, the superseded row does not stop it: it
/// runs once, in the same row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_superseded_execution_is_logged_and_never_blocks_a_due_time_the_chain_shows_unexecuted() {
    let log = CapturedLogs::global();
    let stage = Stage::new(plan("now", Trigger::Now, false)).await;
    let (world, thread, store) = (&stage.world, stage.thread, &stage.store);
    stage.crash_after_a_dropped_send().await;
    let built_at = first_row(store, &thread).context.unwrap();

    let elsewhere = faulty(world, 2);
    elsewhere.hide_account(thread, Some(built_at.slot + 1_000));
    let run = stage.start(elsewhere.clone());
    wait_until!(
        "the execution is superseded",
        30,
        first_row(store, &thread).state == ExecState::Superseded
    );
    let line = log
        .text()
        .lines()
        .find(|line| line.contains("execution superseded") && line.contains(&thread.to_string()))
        .map(str::to_string)
        .expect("the supersede is logged");
    assert!(line.contains("WARN"), "{line}");
    assert!(line.contains("exec_count=0"), "{line}");
    assert!(
        line.contains(&format!(
            "thread not found at slot {}",
            built_at.slot + 1_000
        )),
        "{line}"
    );
    assert_eq!(exec_count(world, &thread).await, 0);

    elsewhere.reveal_account(&thread);
    let driver = stage.drive_steadily(2);
    wait_until!("the due time runs", 30, confirmed(store, &thread, 0));
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    driver.abort();
    let events = run.events.clone();
    run.stop().await;

    assert_eq!(exec_count(world, &thread).await, 1, "ran exactly once");
    assert_eq!(events.confirmed(), [(thread, 0)]);
    let row = first_row(store, &thread);
    assert!(
        row.last_error
            .as_deref()
            .is_some_and(|e| e.starts_with("reopened: ")),
        "{row:?}"
    );
    assert_eq!(rows(&stage.path).len(), 1, "one row per due time");
}

/// A thread runs, is deleted, and is created again at the same address (same owner, same
/// id): its `exec_count` starts from 0 again, where the store holds a confirmed row of
/// the earlier thread. The new thread runs; the row is reused for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thread_deleted_and_re_created_at_its_address_runs_again() {
    let mut stage = Stage::new(plan("now", Trigger::Now, false)).await;
    let (thread, store) = (stage.thread, stage.store.clone());
    let run = stage.start(faulty(&stage.world, 1));
    wait_until!("the thread ran", 30, confirmed(&store, &thread, 0));
    run.stop().await;
    let first = first_row(&store, &thread);

    let world = &stage.world;
    let delete = client::delete_thread(&world.owner.pubkey(), &thread, None, None);
    sandbox::send(world.chain.as_ref(), &[delete], &world.owner, &[])
        .await
        .unwrap();
    assert!(world.thread(&thread).await.unwrap().is_none(), "deleted");
    Arc::get_mut(&mut stage.world)
        .expect("no other handle on the world")
        .create(&[plan("now", Trigger::Now, false)], DEPOSIT)
        .await
        .unwrap();
    let world = &stage.world;
    assert_eq!(world.threads[1].key, thread, "the same address");
    assert_eq!(exec_count(world, &thread).await, 0, "counting again");

    let run = stage.start(faulty(world, 2));
    wait_until!(
        "the new thread ran",
        30,
        exec_count(world, &thread).await == 1
    );
    wait_until!(
        "its execution is confirmed",
        30,
        confirmed(&store, &thread, 0)
    );
    let events = run.events.clone();
    run.stop().await;

    assert_eq!(exec_count(world, &thread).await, 1, "ran exactly once");
    assert_eq!(events.confirmed(), [(thread, 0)]);
    let again = first_row(&store, &thread);
    assert_ne!(again.signature, first.signature, "a new transaction");
    assert_eq!(rows(&stage.path).len(), 1, "one row per due time");
}

// ---------------------------------------------------------------------------------------
// Dead letters
// ---------------------------------------------------------------------------------------

/// Settings for the dead-letter tests: two retries, so three attempts.
fn dlq_config() -> DaemonConfig {
    let mut config = config();
    config.executor.max_retries = 2;
    config
}

/// Every send fails with an RPC error: after the first attempt and two replays the
/// execution is dead-lettered and parked (not retried, not rebuilt by the scheduler).
/// Once the fault is over, the operator's retry runs it once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_that_keep_failing_are_dead_lettered_and_the_operator_retry_runs_them_once() {
    let stage = Stage::new(plan("now", Trigger::Now, false)).await;
    let (world, thread, store) = (&stage.world, stage.thread, &stage.store);

    let chain = faulty(world, 3);
    let refused = Fault::Rpc("node is behind by 300 slots".into());
    chain.script(Op::Send, vec![Some(refused.clone()); 3]);
    let metrics = Metrics::new();
    let run = stage.start_with(chain.clone(), metrics.clone(), dlq_config());
    let driver = stage.drive_steadily(1);
    wait_until!("dead-lettered", 30, store.dlq_len().unwrap() == 1);

    let reason = "chain request failed: node is behind by 300 slots";
    let entry = store.dlq_list(10).unwrap().remove(0);
    assert_eq!(
        (entry.thread, entry.exec_count_at_build, entry.attempts),
        (thread, 0, 3)
    );
    assert_eq!(entry.reason, reason);
    assert_eq!(
        metrics.dead_lettered_total.get(),
        1,
        "keeper_dead_lettered_total"
    );
    assert_eq!(metrics.dlq_size.get(), 1, "keeper_dlq_size");
    // Parked: a long time later nothing more was tried.
    stage.clock.advance(3_600);
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    assert_eq!(sends(&chain), vec![refused; 3]);
    assert_eq!(chain.forwarded(Op::Send), 0);
    assert_eq!(first_row(store, &thread).state, ExecState::Dead);
    assert_eq!(exec_count(world, &thread).await, 0);

    // The fault is over (the script is spent); the operator puts it back into replay.
    let retried = store.dlq_retry(entry.id).unwrap();
    assert_eq!(
        (retried.state, retried.retry_count),
        (ExecState::Pending, 0)
    );
    let (events, summary) = stage.until_the_retry_is_confirmed(run, driver).await;

    assert_eq!(exec_count(world, &thread).await, 1);
    assert_eq!(store.dlq_len().unwrap(), 0);
    assert_eq!(events.confirmed(), [(thread, 0)]);
    assert_eq!(
        events.count(|e| matches!(
            e,
            ExecEvent::DeadLettered { thread: t, exec_count: 0, reason: r } if *t == thread && r == reason
        )),
        1
    );
    assert_eq!(summary.counts, confirmed_only(1));
}

/// The owner raises the thread's fee above its balance between the keeper's build and
/// its send: the execution fails on chain, every rebuild fails its simulation, and after
/// three attempts it is dead-lettered. The owner tops the thread up and the operator runs
/// `keeper dlq retry` (the real binary, on the daemon's store file): it runs once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_execution_failing_on_chain_is_dead_lettered_and_keeper_dlq_retry_runs_it_after_a_top_up(
) {
    let stage = Stage::new(plan("now", Trigger::Now, false)).await;
    let (world, thread, store) = (&stage.world, stage.thread, &stage.store);
    let owner = world.owner.pubkey();

    let fee = LAMPORTS_PER_SOL;
    let shared = Arc::new(ProbedBank::new(world.chain.clone()));
    shared.before_next_send(
        vec![update_fee(&owner, &thread, fee)],
        world.owner.insecure_clone(),
    );
    let run = stage.start_with(shared.clone(), Metrics::new(), dlq_config());
    let driver = stage.drive_steadily(1);
    wait_until!("dead-lettered", 30, store.dlq_len().unwrap() == 1);

    let entry = insufficient_balance_dead_letter(store, thread, "rebuild");
    assert_eq!(exec_count(world, &thread).await, 0);
    assert_eq!(state(world, &thread).await.fee_per_exec, fee);

    // The cause fixed: the owner tops the thread up.
    stage.top_up(2 * LAMPORTS_PER_SOL).await;
    let balance = world.chain.balance(&thread).await;

    let mut retry = Command::new(env!("CARGO_BIN_EXE_keeper"));
    retry
        .args(["dlq", "retry", &entry.id.to_string(), "--store"])
        .arg(&stage.path)
        .env_clear()
        .env("HOME", stage.dir.path())
        .current_dir(stage.dir.path());
    let out = tokio::task::spawn_blocking(move || retry.output().expect("run keeper"))
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.starts_with(&format!("dead letter {} is back in replay", entry.id)),
        "{stdout}"
    );

    let (events, summary) = stage.until_the_retry_is_confirmed(run, driver).await;

    assert_eq!(exec_count(world, &thread).await, 1);
    assert_eq!(
        world.chain.balance(&thread).await,
        balance - fee,
        "the raised fee was paid once"
    );
    assert_eq!(store.dlq_len().unwrap(), 0);
    assert_eq!(events.confirmed(), [(thread, 0)]);
    assert_eq!(summary.counts, confirmed_only(1));
}

/// A thread whose fee is above its balance before the keeper ever builds it: every
/// simulation is refused, so nothing is ever signed or persisted. After the first attempt
/// and two more the due time is dead-lettered all the same (log, metric, event), and is no
/// longer built every few seconds; it did not count against the keeper's health. Topped
/// up and retried by the operator, it runs once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_execution_the_chain_always_refuses_to_build_is_dead_lettered_and_runs_after_a_retry() {
    let stage = Stage::new(plan("now", Trigger::Now, false)).await;
    let (world, thread, store) = (&stage.world, stage.thread, &stage.store);
    let owner = world.owner.pubkey();
    let fee = LAMPORTS_PER_SOL;
    stage.as_owner(update_fee(&owner, &thread, fee)).await;

    let chain = faulty(world, 5);
    let metrics = Metrics::new();
    let run = stage.start_with(chain.clone(), metrics.clone(), dlq_config());
    let driver = stage.drive_steadily(1);
    wait_until!("dead-lettered", 60, store.dlq_len().unwrap() == 1);

    let entry = insufficient_balance_dead_letter(store, thread, "build");
    assert_eq!(metrics.dead_lettered_total.get(), 1);
    assert_eq!(metrics.dlq_size.get(), 1);
    let simulations = chain.forwarded(Op::Simulate);
    // Parked: chain time goes on, and the due time is not built again.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(chain.forwarded(Op::Simulate), simulations, "no more builds");
    assert_eq!(chain.forwarded(Op::Send), 0, "nothing was ever sent");
    assert!(
        metrics.render().contains("keeper_operating_mode 0"),
        "refusals are the thread's problem, not the keeper's health"
    );

    stage.top_up(2 * LAMPORTS_PER_SOL).await;
    store.dlq_retry(entry.id).unwrap();
    let (events, summary) = stage.until_the_retry_is_confirmed(run, driver).await;

    assert_eq!(exec_count(world, &thread).await, 1);
    assert_eq!(events.confirmed(), [(thread, 0)]);
    assert_eq!(
        events.count(|e| matches!(e, ExecEvent::DeadLettered { thread: t, .. } if *t == thread)),
        1
    );
    assert_eq!(summary.counts, confirmed_only(1));
}

/// The only dead letter: `thread`'s first due time after three attempts, refused by the
/// program for want of balance, its reason starting with `stage` (`build`: never signed;
/// `rebuild`: signed once, then refused on every rebuild).
fn insufficient_balance_dead_letter(store: &Store, thread: Pubkey, stage: &str) -> DeadLetter {
    let code = u32::from(ThreadError::InsufficientBalance);
    let entry = store.dlq_list(10).unwrap().remove(0);
    assert_eq!(
        (entry.thread, entry.exec_count_at_build, entry.attempts),
        (thread, 0, 3)
    );
    assert!(
        entry
            .reason
            .starts_with(&format!("{stage}: simulation failed: "))
            && entry
                .reason
                .contains(&format!("custom program error: {code:#x}"))
            // The program's own words, from the simulation's logs.
            && entry.reason.contains("; logs: "),
        "{}",
        entry.reason
    );
    entry
}

/// `update_thread` setting only the fee.
fn update_fee(owner: &Pubkey, thread: &Pubkey, fee: u64) -> Instruction {
    client::update_thread(
        owner,
        thread,
        UpdateThreadArgs {
            fee_per_exec: Some(fee),
            ..UpdateThreadArgs::default()
        },
    )
}

// ---------------------------------------------------------------------------------------
// Bad input
// ---------------------------------------------------------------------------------------

/// An account owned by the thread program that starts like a thread and then is garbage:
/// the daemon reports it once and executes the other threads as if it were not there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_garbage_thread_account_is_reported_and_the_other_threads_still_run() {
    let log = CapturedLogs::global();
    let world = world_with(
        &[
            plan("now", Trigger::Now, false),
            plan("every-3s", every(3), false),
            plan("durable-every-4s", every(4), true),
        ],
        DEPOSIT,
    )
    .await;
    let junk = Pubkey::new_unique();
    let junk_account = thread_look_alike(b"\x00\x01 not a thread at all");
    world.chain.set_account(&junk, junk_account).await;
    world.chain.watch(junk);

    let clock = TestClock::new();
    let store = Store::open_in_memory().unwrap();
    let run = Running::start(
        Arc::new(ProbedBank::new(world.chain.clone())),
        &world,
        store.clone(),
        Metrics::new(),
        config(),
    );
    let driver = drive(world.clone(), clock, Duration::from_millis(250), 2, 1, 3);
    let [now, every_3s, durable] = [0, 1, 2].map(|i| world.threads[i].key);
    wait_until!("every thread ran, the repeating ones twice", 30, {
        exec_count(&world, &now).await == 1
            && exec_count(&world, &every_3s).await >= 2
            && exec_count(&world, &durable).await >= 2
    });
    driver.abort();
    let summary = run.stop().await;

    let log = log.text();
    let reports: Vec<&str> = log
        .lines()
        .filter(|l| l.contains(&format!("account={junk}")))
        .collect();
    assert_eq!(
        reports.len(),
        1,
        "reported once, not at every reconcile: {reports:?}"
    );
    assert!(
        reports[0].contains("WARN") && reports[0].contains("invalid thread account, skipped"),
        "{}",
        reports[0]
    );
    assert_eq!(store.find(&junk, 0).unwrap(), None);
    assert!(summary.counts.confirmed >= 5);
    assert_eq!(summary.counts.unfinished() + summary.counts.dead, 0);
}
