//! Graceful degradation end to end: the real daemon against an in-process bank, its
//! error rate driven by faults injected at the chain trait, its mode read from /health
//! and /metrics as an operator would.
//!
//! One run walks the operating modes in order. Healthy, every due time runs (Full). Then
//! simulations fail: the first failed execution lifts the error rate over 0.1 and the
//! keeper degrades. Healed but still Degraded (hysteresis), it runs only what it admits:
//! durable threads (High priority by default) execute, at most half the workers at once,
//! while non-durable ones (Medium) wait without even being read. Then status polls fail
//! (and one send is dropped, leaving an execution to replay): the rate passes 0.5 and the
//! keeper goes read-only. Healed again but still in Maintenance, with threads due and the
//! replay due, nothing is sent and nothing is lost. After a calm window it is back to
//! Full and every due time runs exactly once: the thread's `exec_count` is the number of
//! due times its schedule has passed, the store holds one finished row per execution,
//! and no execution was confirmed twice.
//!
//! Time: the bank runs on the real clock (its blockhashes expire after about a second),
//! so this test does too, with a 4 s degradation window. The chain's clock and slots move
//! only when the test moves them, so each phase decides exactly what is due; the store's
//! clock is a test clock, so a replay comes due when the test says so.

#![cfg(feature = "bank")]
#![allow(deprecated)] // program-test 3.1 marks its items deprecated; they are what we run

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::{
    confirmed, due_times_of, every, exec_counts, fast_config, plan, rows_by_due_time, state,
    tempdir, wait_until, world_with, ProbedBank, Running, TestClock,
};
use keeper::chain::faulty::{Fault, FaultRates, FaultyChain, Op};
use keeper::daemon::{Daemon, DaemonConfig};
use keeper::ops::metrics::Metrics;
use keeper::sandbox::{ThreadPlan, World};
use keeper::store::ExecState;
use serde_json::Value;
use solana_sdk::pubkey::Pubkey;
use thread::state::{Due, Trigger};
use tokio::sync::oneshot;

/// Fee deposit of each thread (5 000 lamports an execution).
const DEPOSIT: u64 = 50_000_000;
/// The degradation window: how far back outcomes count, and how long the rate must stay
/// low before a better mode is taken.
const WINDOW: Duration = Duration::from_secs(4);
/// Period of the durable threads; the non-durable ones run every two.
const PERIOD: i64 = 100;
const DURABLE: usize = 3;
const NON_DURABLE: usize = 2;
/// Daemon workers: Degraded's 50 % leaves two.
const WORKERS: usize = 4;

// ---------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------

/// The daemon's /health and /metrics, and every mode /health reported, in order.
#[derive(Clone)]
struct Operator {
    base: String,
    client: reqwest::Client,
    modes: Arc<Mutex<Vec<String>>>,
}

impl Operator {
    /// Starts reading /health every 20 ms in the background.
    fn watch(addr: SocketAddr) -> (Self, tokio::task::JoinHandle<()>) {
        let operator = Self {
            base: format!("http://{addr}"),
            client: reqwest::Client::new(),
            modes: Arc::default(),
        };
        let sampler = operator.clone();
        let task = tokio::spawn(async move {
            loop {
                sampler.mode().await;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
        (operator, task)
    }

    async fn get(&self, path: &str) -> String {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200, "GET {path}");
        response.text().await.unwrap()
    }

    /// The mode /health reports now; also logged when it changed.
    async fn mode(&self) -> String {
        let body: Value = serde_json::from_str(&self.get("/health").await).unwrap();
        let mode = body["mode"]
            .as_str()
            .expect("/health has a mode")
            .to_owned();
        let mut modes = self.modes.lock().unwrap();
        if modes.last() != Some(&mode) {
            modes.push(mode.clone());
        }
        mode
    }

    /// The `keeper_operating_mode` gauge in /metrics.
    async fn mode_gauge(&self) -> i64 {
        let text = self.get("/metrics").await;
        text.lines()
            .find_map(|l| l.strip_prefix("keeper_operating_mode "))
            .expect("keeper_operating_mode is exported")
            .parse()
            .unwrap()
    }

    fn modes(&self) -> Vec<String> {
        self.modes.lock().unwrap().clone()
    }
}

/// Daemon settings for this test: fast loops, a degradation window of a few seconds
/// that counts from the fourth outcome, the health server on a free port.
fn config() -> DaemonConfig {
    let mut config = fast_config();
    config.workers = WORKERS;
    config.health_addr = Some("127.0.0.1:0".parse().unwrap());
    config.degradation.window = WINDOW;
    config.degradation.min_samples = 4;
    config
}

/// Moves the bank `slots` slots forward and its clock to `unix_ts`.
async fn advance_to(world: &World, slots: u64, unix_ts: i64) {
    let now = world.clock().await.unwrap().unix_timestamp;
    world.advance(slots, unix_ts - now).await;
}

/// Moves slots (not time) forward until `$cond`: catch-up runs one due time per slot.
macro_rules! settle_until {
    ($world:expr, $what:expr, $cond:expr) => {{
        wait_until!($what, 15, {
            if $cond {
                true
            } else {
                $world.advance(1, 0).await;
                tokio::time::sleep(Duration::from_millis(100)).await;
                false
            }
        })
    }};
}

/// Every call of an operation dropped.
const ALWAYS_DROP: FaultRates = FaultRates {
    drop: 1.0,
    lose_answer: 0.0,
    timeout: 0.0,
    rpc: 0.0,
};

// ---------------------------------------------------------------------------------------
// The test
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_degrade_then_stop_sends_and_after_recovery_every_due_time_runs_once() {
    let dir = tempdir();
    let path = dir.path().join("keeper.sqlite");
    let mut plans: Vec<ThreadPlan> = (0..DURABLE)
        .map(|i| plan(format!("durable-{i}"), every(PERIOD), true))
        .collect();
    plans.extend((0..NON_DURABLE).map(|i| plan(format!("plain-{i}"), every(2 * PERIOD), false)));
    let world = world_with(&plans, DEPOSIT).await;
    let durable: Vec<Pubkey> = world.threads[..DURABLE].iter().map(|t| t.key).collect();
    let plain: Vec<Pubkey> = world.threads[DURABLE..].iter().map(|t| t.key).collect();
    let all: Vec<Pubkey> = world.threads.iter().map(|t| t.key).collect();
    // The bank's clock stands still until moved, so every thread counts from one instant.
    let created = world.clock().await.unwrap().unix_timestamp;
    for (t, p) in world.threads.iter().zip(&plans) {
        let Trigger::Interval { seconds, .. } = p.trigger else {
            unreachable!()
        };
        assert_eq!(
            state(&world, &t.key).await.next_due,
            Due::At {
                unix_ts: created + seconds
            },
            "{}",
            t.label
        );
    }

    let chain = Arc::new(FaultyChain::new(ProbedBank::new(world.chain.clone()), 5));
    let clock = TestClock::new();
    let store = clock.store(&path);
    let (bound_tx, bound_rx) = oneshot::channel();
    let run = Running::spawn(
        Daemon::new(
            chain.clone(),
            world.keeper.clone(),
            clock.store(&path),
            Metrics::new(),
            config(),
        )
        .on_health_bound(bound_tx),
    );
    let addr = tokio::time::timeout(Duration::from_secs(10), bound_rx)
        .await
        .expect("the health server binds")
        .unwrap();
    let (operator, sampler) = Operator::watch(addr);

    // Full, healthy: the durable threads' first two due times and the others' first run.
    advance_to(&world, 2, created + 2 * PERIOD).await;
    settle_until!(world, "every due time so far ran and was confirmed", {
        exec_counts(&world, &all).await == [2, 2, 2, 1, 1] && store.counts().unwrap().confirmed == 8
    });
    assert_eq!(operator.mode().await, "full");

    // Simulations fail. Only the durable threads are due: three failed executions
    // against eight that went out, 0.27, between the default 0.1 and 0.5.
    chain.set_rates(Op::Simulate, ALWAYS_DROP);
    advance_to(&world, 1, created + 3 * PERIOD).await;
    wait_until!(
        "the keeper degrades",
        10,
        operator.mode().await == "degraded"
    );
    let failed_simulations = || {
        chain
            .injected()
            .iter()
            .filter(|i| i.op == Op::Simulate)
            .count()
    };
    wait_until!(
        "every durable thread's attempt failed",
        10,
        failed_simulations() == DURABLE
    );
    assert_eq!(operator.mode_gauge().await, 1);
    assert_eq!(store.counts().unwrap().total(), 8, "nothing was persisted");

    // Healed, but Degraded until the rate has been low for a window: the durable threads
    // (High) run their missed due time, two at a time (half of four workers); the plain
    // threads (Medium), due now too, are not admitted and not even read.
    chain.set_rates(Op::Simulate, FaultRates::default());
    chain.inner().slow_sends(Duration::from_millis(200));
    let plain_reads = chain.inner().reads_of(&plain);
    advance_to(&world, 2, created + 4 * PERIOD).await;
    wait_until!(
        "the durable threads ran their missed due time",
        15,
        durable.iter().all(|t| confirmed(&store, t, 2))
    );
    assert_eq!(operator.mode().await, "degraded");
    assert_eq!(exec_counts(&world, &durable).await, [3; DURABLE]);
    assert_eq!(
        exec_counts(&world, &plain).await,
        [1; NON_DURABLE],
        "plain threads wait while degraded"
    );
    assert_eq!(
        chain.inner().reads_of(&plain),
        plain_reads,
        "the executor never looked at a plain thread"
    );
    for t in &plain {
        assert!(store.find(t, 1).unwrap().is_none());
    }
    let most = chain.inner().most_sending();
    assert!(
        (1..=WORKERS / 2).contains(&most),
        "{most} sends at once while degraded to half of {WORKERS} workers"
    );
    chain.inner().slow_sends(Duration::ZERO);

    // Status polls fail, and of the next three sends the second is dropped: two
    // executions wait for a status the keeper cannot get, one waits for its replay.
    // Every poll is a failure: the rate passes 0.5 and the keeper goes read-only.
    chain.set_rates(Op::SignatureStatuses, ALWAYS_DROP);
    chain.script(Op::Send, [None, Some(Fault::Drop)]);
    let sends = chain.forwarded(Op::Send);
    advance_to(&world, 1, created + 4 * PERIOD).await;
    wait_until!(
        "the keeper goes into maintenance",
        15,
        operator.mode().await == "maintenance"
    );
    wait_until!(
        "two sends went out and one was dropped",
        10,
        chain.forwarded(Op::Send) == sends + 2
            && chain
                .injected()
                .iter()
                .any(|i| i.op == Op::Send && i.fault == Fault::Drop)
    );
    assert_eq!(operator.mode_gauge().await, 2);
    let counts = store.counts().unwrap();
    assert_eq!((counts.pending, counts.sent), (1, 2), "{counts:?}");

    // Healed, but in Maintenance until a calm window: statuses are read (the two sent
    // executions are confirmed), every thread comes due, the dropped execution's
    // replay comes due; nothing is sent, no thread is even read for execution.
    chain.set_rates(Op::SignatureStatuses, FaultRates::default());
    let sends = chain.forwarded(Op::Send);
    let reads = chain.inner().reads_of(&all);
    let before = exec_counts(&world, &all).await;
    clock.advance(60);
    advance_to(&world, 2, created + 6 * PERIOD).await;
    let mut looks = 0;
    while looks < 15 {
        let (sent, read) = (chain.forwarded(Op::Send), chain.inner().reads_of(&all));
        // The mode only gets better from here, so a look that still finds Maintenance
        // vouches for the counters read before it.
        if operator.mode().await != "maintenance" {
            break;
        }
        assert_eq!(sent, sends, "nothing is sent in maintenance");
        assert_eq!(
            read, reads,
            "no thread is executed or replayed in maintenance"
        );
        looks += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        looks, 15,
        "maintenance lasts a calm window after the outage"
    );
    // Nothing lost: nothing ran, every thread is still owed its due times, the dropped
    // execution waits in the replay queue.
    assert_eq!(exec_counts(&world, &all).await, before);
    let now = world.clock().await.unwrap().unix_timestamp;
    for t in &all {
        let Due::At { unix_ts } = state(&world, t).await.next_due else {
            panic!("{t} is not periodic")
        };
        assert!(unix_ts <= now, "{t} is due");
    }
    wait_until!(
        "the two sent executions are confirmed",
        10,
        store.counts().unwrap().sent == 0
    );
    let counts = store.counts().unwrap();
    assert_eq!((counts.pending, counts.dead), (1, 0), "{counts:?}");

    // A calm window later the keeper is back to Full and catches up: the replay, the
    // due times missed while degraded and in maintenance, one per slot. Time moves a few
    // seconds (not a period) so threads turned away in maintenance are issued again.
    wait_until!(
        "the keeper is back to full",
        4 * WINDOW.as_secs() + 5,
        operator.mode().await == "full"
    );
    advance_to(&world, 1, created + 6 * PERIOD + 6).await;
    let final_clock = created + 6 * PERIOD + 6;
    settle_until!(world, "every due time ran", {
        clock.advance(10);
        exec_counts(&world, &all).await == [6, 6, 6, 3, 3] && {
            let counts = store.counts().unwrap();
            counts.unfinished() == 0 && counts.confirmed + counts.superseded == 24
        }
    });
    assert_eq!(operator.mode_gauge().await, 0);
    sampler.abort();
    let events = run.events.clone();
    let summary = run.stop().await;

    assert_eq!(
        operator.modes(),
        ["full", "degraded", "maintenance", "full"],
        "the modes /health reported, in order"
    );

    // Exactly once: each thread ran every due time its schedule passed, no more; one
    // finished row per execution; no execution confirmed twice.
    let mut on_chain = BTreeMap::new();
    for (t, p) in world.threads.iter().zip(&plans) {
        let s = state(&world, &t.key).await;
        let Trigger::Interval { seconds, .. } = p.trigger else {
            unreachable!()
        };
        let passed = u64::try_from((final_clock - created) / seconds).unwrap();
        assert_eq!(s.exec_count, passed, "{}", t.label);
        assert_eq!(
            s.next_due,
            Due::At {
                unix_ts: created + (i64::try_from(s.exec_count).unwrap() + 1) * seconds
            },
            "{}",
            t.label
        );
        on_chain.insert(t.key, s.exec_count);
    }
    let by_due_time = rows_by_due_time(&path);
    for (due_time, states) in &by_due_time {
        assert!(
            matches!(
                states.as_slice(),
                [ExecState::Confirmed | ExecState::Superseded]
            ),
            "{due_time:?} has rows {states:?}"
        );
    }
    for (thread, count) in &on_chain {
        let executed = due_times_of(&by_due_time, thread);
        assert_eq!(executed, (0..*count).collect(), "{thread}");
    }
    let confirmed_events = events.confirmed();
    let unique: BTreeSet<_> = confirmed_events.iter().copied().collect();
    assert_eq!(unique.len(), confirmed_events.len(), "confirmed twice");
    assert_eq!(summary.counts.unfinished() + summary.counts.dead, 0);
    assert_eq!(summary.counts.confirmed + summary.counts.superseded, 24);
}
