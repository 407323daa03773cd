//! The whole keeper against an in-process bank: 200 threads of every trigger kind, durable
//! and not, executed by the real daemon (discovery, scheduler, executor, store, leases)
//! while the bank's clock is driven forward. Every due time runs exactly once: the count
//! on chain matches a reference computed from the trigger alone, nothing ran early (the
//! program would have refused it), and the store saw each execution confirmed once.
//!
//! Also the sandbox (`keeper::sandbox::run`) and the real `keeper sandbox` binary.

#![cfg(feature = "bank")]
#![allow(deprecated)] // program-test 3.1 marks its items deprecated; they are what we run

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::{every, plan, ProbedBank, Running};
use keeper::chain::Chain;
use keeper::daemon::RunSummary;
use keeper::execution::executor::ExecEvent;
use keeper::ops::metrics::Metrics;
use keeper::sandbox::{SandboxOptions, SandboxThread, ThreadPlan, Watches, World};
use keeper::store::Store;
use solana_sdk::clock::Clock;
use solana_sdk::instruction::InstructionError;
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::Signer;
use solana_sdk::transaction::TransactionError;
use thread::cron::CronSchedule;
use thread::errors::ThreadError;
use thread::schedule::{hash_range, jitter_offset};
use thread::state::{Due, Thread, Trigger};

/// Threads created: the issue asks for 200.
const THREADS: usize = 200;
/// Trigger kinds, `THREADS / KINDS` threads each.
const KINDS: usize = 8;
/// Simulated seconds the clock is driven through before it is frozen.
const RUN_SECONDS: i64 = 120;
/// One step of the driven clock: slots and seconds, and how often (wall clock).
const STEP_SLOTS: u64 = 2;
const STEP_SECONDS: i64 = 1;
const STEP_EVERY: Duration = Duration::from_millis(100);
/// With time frozen, slots still move (the rate limit allows one execution per slot, so
/// catch-up needs them) until nothing is due; at most this many rounds.
const SETTLE_ROUNDS: usize = 300;
const SETTLE_EVERY: Duration = Duration::from_millis(100);
/// Lamports of fees each thread is funded with (5 000 per execution).
const DEPOSIT: u64 = 20_000_000;
/// Where a nonce account keeps its durable nonce value.
const NONCE_VALUE_OFFSET: u32 = 40;

/// 200 plans, 25 of each kind, about a third durable, every label distinct. `Account`
/// threads watch the nonce of a durable periodic thread, so they come last.
fn mixed_plans(now: &Clock) -> Vec<ThreadPlan> {
    let per_kind = THREADS / KINDS;
    let mut plans = Vec::with_capacity(THREADS);
    let mut watchable = Vec::new();
    for kind in 0..KINDS {
        for j in 0..per_kind {
            let i = kind * per_kind + j;
            let durable = i.is_multiple_of(3);
            let j64 = j as i64;
            let (label, trigger) = match kind {
                0 => (format!("now-{j:02}"), Trigger::Now),
                // 1 s to 121 s after creation: the last is never due within the run.
                1 => (
                    format!("ts-{j:02}"),
                    Trigger::Timestamp {
                        unix_ts: now.unix_timestamp + 1 + 5 * j64,
                    },
                ),
                2 => (
                    format!("every-{j:02}"),
                    Trigger::Interval {
                        seconds: 5 + j64 % 16,
                        skippable: false,
                    },
                ),
                3 => (
                    format!("skip-every-{j:02}"),
                    Trigger::Interval {
                        seconds: 5 + (7 * j64) % 16,
                        skippable: true,
                    },
                ),
                4 => {
                    let schedule = match j % 8 {
                        0 => "*/5 * * * * *",
                        1 => "*/6 * * * * *",
                        2 => "*/7 * * * * *",
                        3 => "*/9 * * * * *",
                        4 => "*/10 * * * * *",
                        5 => "*/12 * * * * *",
                        6 => "*/15 * * * * *",
                        _ => "30 * * * * *",
                    };
                    (
                        format!("cron-{j:02}"),
                        Trigger::Cron {
                            schedule: schedule.into(),
                            skippable: j % 2 == 1,
                            // Below every gap between fire times (*/7 has one of 4 s).
                            jitter: if j % 3 == 0 { 3 } else { 0 },
                        },
                    )
                }
                5 => (
                    format!("slot-{j:02}"),
                    Trigger::Slot {
                        slot: now.slot + 3 + 9 * j as u64,
                    },
                ),
                6 => (
                    format!("epoch-{j:02}"),
                    Trigger::Epoch {
                        epoch: now.epoch + 1 + (j % 3) as u64,
                    },
                ),
                _ => (
                    format!("on-nonce-{j:02}"),
                    Trigger::Account {
                        address: Pubkey::default(),
                        offset: NONCE_VALUE_OFFSET,
                        size: 32,
                    },
                ),
            };
            let watches = match trigger {
                Trigger::Account { .. } => Some(Watches::NonceOf(String::clone(
                    &watchable[j % watchable.len()],
                ))),
                _ => None,
            };
            if durable && (2..=4).contains(&kind) {
                watchable.push(label.clone());
            }
            plans.push(ThreadPlan {
                label,
                trigger,
                durable,
                watches,
                work: keeper::sandbox::PlanWork::Memo,
            });
        }
    }
    plans
}

/// How many executions a thread must have had by `until`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expected {
    Exactly(u64),
    /// A skippable schedule: how many periods it skipped depends on when it ran.
    Between(u64, u64),
}

impl Expected {
    fn holds(self, count: u64) -> bool {
        match self {
            Expected::Exactly(n) => count == n,
            Expected::Between(lo, hi) => (lo..=hi).contains(&count),
        }
    }

    /// At least once when anything was due, at most every due time.
    fn skippable(due_times: u64) -> Self {
        Expected::Between(due_times.min(1), due_times)
    }
}

/// Due times of a non-skippable `Interval` in `(created, until]`: the first is one
/// period after creation.
fn interval_due_times(seconds: i64, created: i64, until: i64) -> u64 {
    u64::try_from((until - created).div_euclid(seconds)).unwrap_or(0)
}

/// Due times of a non-skippable `Cron` in `(created, until]`: each fire time strictly
/// after the previous one (the first after creation), delayed by the program's jitter
/// for that fire time and thread.
fn cron_due_times(schedule: &str, jitter: u32, thread: &Pubkey, created: i64, until: i64) -> u64 {
    let cron = CronSchedule::parse(schedule).expect("valid cron");
    let mut base = created;
    let mut count = 0;
    while let Some(next) = cron.next_after(base) {
        if next + jitter_offset(thread, next, jitter) > until {
            break;
        }
        count += 1;
        base = next;
    }
    count
}

/// The reference: executions a thread must have had by `until`, from its trigger, its
/// creation time and (for `Account` triggers) how often the watched nonce advanced.
fn expected(
    trigger: &Trigger,
    key: &Pubkey,
    created: i64,
    until: &Clock,
    advances: u64,
) -> Expected {
    let now = until.unix_timestamp;
    match trigger {
        Trigger::Now => Expected::Exactly(1),
        Trigger::Timestamp { unix_ts } => Expected::Exactly(u64::from(*unix_ts <= now)),
        Trigger::Interval { seconds, skippable } => {
            let due = interval_due_times(*seconds, created, now);
            if *skippable {
                Expected::skippable(due)
            } else {
                Expected::Exactly(due)
            }
        }
        Trigger::Cron {
            schedule,
            skippable,
            jitter,
        } => {
            let due = cron_due_times(schedule, *jitter, key, created, now);
            if *skippable {
                Expected::skippable(due)
            } else {
                Expected::Exactly(due)
            }
        }
        Trigger::Slot { slot } => Expected::Exactly(u64::from(*slot <= until.slot)),
        Trigger::Epoch { epoch } => Expected::Exactly(u64::from(*epoch <= until.epoch)),
        // Several advances between two executions are one change: at least one execution
        // once the nonce moved, at most one per advance.
        Trigger::Account { .. } => Expected::skippable(advances),
        Trigger::Condition { .. } => panic!("the mix has no condition trigger (see conditions.rs)"),
    }
}

/// Whether `state` is due at `clock`, as `exec_thread` judges it; `watched` is the data
/// of an `Account` trigger's account.
fn is_due(state: &Thread, clock: &Clock, watched: Option<&[u8]>) -> bool {
    match state.next_due {
        Due::Immediately => true,
        Due::At { unix_ts } => clock.unix_timestamp >= unix_ts,
        Due::AtSlot { slot } => clock.slot >= slot,
        Due::AtEpoch { epoch } => clock.epoch >= epoch,
        Due::OnChange { last_hash } => match state.trigger {
            Trigger::Account { offset, size, .. } => {
                hash_range(watched.unwrap_or_default(), offset, size) != last_hash
            }
            _ => false,
        },
        Due::OnCondition { .. } => panic!("the mix has no condition trigger (see conditions.rs)"),
        Due::Never => false,
    }
}

/// Every created thread's state, with the data of the account it watches (if any).
async fn states(world: &World) -> BTreeMap<Pubkey, (Thread, Option<Vec<u8>>)> {
    let mut states = BTreeMap::new();
    for t in &world.threads {
        let state = world
            .thread(&t.key)
            .await
            .expect("bank answers")
            .expect("thread exists");
        let watched = match state.trigger {
            Trigger::Account { address, .. } => Some(
                world
                    .chain
                    .get_account(&address)
                    .await
                    .expect("bank answers")
                    .map(|a| a.data)
                    .unwrap_or_default(),
            ),
            _ => None,
        };
        states.insert(t.key, (state, watched));
    }
    states
}

/// Labels of the threads still due at `clock`.
fn still_due(
    world: &World,
    states: &BTreeMap<Pubkey, (Thread, Option<Vec<u8>>)>,
    clock: &Clock,
) -> Vec<String> {
    world
        .threads
        .iter()
        .filter(|t| {
            let (state, watched) = &states[&t.key];
            is_due(state, clock, watched.as_deref())
        })
        .map(|t| t.label.clone())
        .collect()
}

/// The custom error code of `ThreadNotDue`, as a failed transaction reports it.
fn not_due_code() -> u32 {
    u32::from(ThreadError::ThreadNotDue)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_threads_each_due_execution_happens_exactly_once() {
    let started = Instant::now();
    let mut world = World::start().await.expect("bank starts");
    let t0 = world.clock().await.unwrap();
    let plans = mixed_plans(&t0);
    assert_eq!(plans.len(), THREADS);
    let labels: BTreeSet<&str> = plans.iter().map(|p| p.label.as_str()).collect();
    assert_eq!(labels.len(), THREADS, "labels are distinct");
    let durable = plans.iter().filter(|p| p.durable).count();
    assert!(
        (THREADS / 4..=THREADS / 2).contains(&durable),
        "{durable} durable"
    );
    world
        .create(&plans, DEPOSIT)
        .await
        .expect("threads created");
    let created_in = started.elapsed();

    let by_key: BTreeMap<Pubkey, &SandboxThread> =
        world.threads.iter().map(|t| (t.key, t)).collect();
    // Records every transaction the keeper sent, so its outcome can be read back.
    let chain = Arc::new(ProbedBank::new(world.chain.clone()));
    let running = Running::start(
        chain.clone(),
        &world,
        Store::open_in_memory().unwrap(),
        Metrics::new(),
        SandboxOptions::default().daemon,
    );

    // Drive the clock through the run, then freeze time and let slots move until nothing
    // is due (a non-skippable catch-up runs one period per slot).
    for _ in 0..RUN_SECONDS / STEP_SECONDS {
        tokio::time::sleep(STEP_EVERY).await;
        world.advance(STEP_SLOTS, STEP_SECONDS).await;
    }
    let driven_in = started.elapsed();
    let mut due = Vec::new();
    for _ in 0..SETTLE_ROUNDS {
        tokio::time::sleep(SETTLE_EVERY).await;
        let clock = world.clock().await.unwrap();
        due = still_due(&world, &states(&world).await, &clock);
        if due.is_empty() {
            break;
        }
        world.advance(1, 0).await;
    }
    let settled_in = started.elapsed();
    let events = running.events.clone();
    let summary: RunSummary = running.stop().await;
    let events = events.all();
    assert!(due.is_empty(), "still due after settling: {due:?}");

    let until = world.clock().await.unwrap();
    assert_eq!(
        until.unix_timestamp,
        t0.unix_timestamp + RUN_SECONDS,
        "time was frozen"
    );
    let states = states(&world).await;
    let due = still_due(&world, &states, &until);
    assert!(due.is_empty(), "due at the final clock: {due:?}");

    // Per thread: the count on chain against the reference.
    let nonce_owner: BTreeMap<Pubkey, Pubkey> = states
        .iter()
        .filter_map(|(key, (state, _))| state.nonce_account().ok().map(|n| (n, *key)))
        .collect();
    let mut wrong = Vec::new();
    let mut total = 0;
    for t in &world.threads {
        let (state, _) = &states[&t.key];
        let advances = match t.trigger {
            Trigger::Account { address, .. } => states[&nonce_owner[&address]].0.exec_count,
            _ => 0,
        };
        let want = expected(&t.trigger, &t.key, state.created_at, &until, advances);
        total += state.exec_count;
        if !want.holds(state.exec_count) {
            wrong.push(format!(
                "{} ({:?}, created {}): ran {}, expected {want:?}",
                t.label, t.trigger, state.created_at, state.exec_count
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "wrong execution counts:\n{}",
        wrong.join("\n")
    );
    let ran = |prefix: &str| {
        world
            .threads
            .iter()
            .filter(|t| t.label.starts_with(prefix))
            .map(|t| states[&t.key].0.exec_count)
            .sum::<u64>()
    };
    for prefix in [
        "now-",
        "ts-",
        "every-",
        "skip-every-",
        "cron-",
        "slot-",
        "epoch-",
        "on-nonce-",
    ] {
        assert!(ran(prefix) > 0, "no {prefix} thread ran");
    }

    // Each execution confirmed once, for consecutive exec counts, and nothing else.
    let mut confirmed: BTreeMap<Pubkey, Vec<u64>> = BTreeMap::new();
    for event in &events {
        match event {
            ExecEvent::Confirmed {
                thread, exec_count, ..
            } => confirmed.entry(*thread).or_default().push(*exec_count),
            ExecEvent::Superseded {
                thread,
                exec_count,
                reason,
                ..
            } => panic!(
                "{} run #{exec_count} superseded: {reason}",
                by_key[thread].label
            ),
            ExecEvent::DeadLettered {
                thread,
                exec_count,
                reason,
            } => panic!(
                "{} run #{exec_count} dead-lettered: {reason}",
                by_key[thread].label
            ),
            ExecEvent::Submitted { .. } | ExecEvent::Replayed { .. } => {}
        }
    }
    for t in &world.threads {
        let mut counts = confirmed.remove(&t.key).unwrap_or_default();
        counts.sort_unstable();
        let n = states[&t.key].0.exec_count;
        assert_eq!(
            counts,
            (0..n).collect::<Vec<_>>(),
            "{}: confirmations by exec count",
            t.label
        );
    }
    assert!(confirmed.is_empty(), "confirmations of unknown threads");

    // None early: no transaction the keeper sent failed on chain, ThreadNotDue included.
    let failed = chain.sent_that_failed().await;
    let not_due = failed.iter().filter(|(_, err)| {
        matches!(err, TransactionError::InstructionError(_, InstructionError::Custom(c)) if *c == not_due_code())
    });
    assert_eq!(
        not_due.count(),
        0,
        "executions refused as early: {failed:?}"
    );
    assert!(failed.is_empty(), "failed on chain: {failed:?}");

    // The store agrees: every execution confirmed once, nothing superseded, dead or left.
    assert_eq!(summary.counts.confirmed, total, "{summary:?}");
    assert_eq!(summary.counts.superseded, 0, "{summary:?}");
    assert_eq!(summary.counts.dead, 0, "{summary:?}");
    assert_eq!(summary.counts.unfinished(), 0, "{summary:?}");
    assert_eq!(summary.recovered, 0);
    let keeper = world.keeper.pubkey();
    let still_leased: Vec<&str> = world
        .threads
        .iter()
        .filter(|t| states[&t.key].0.lease.is_some_and(|l| l.holder == keeper))
        .map(|t| t.label.as_str())
        .collect();
    assert!(
        still_leased.is_empty(),
        "leases kept after shutdown: {still_leased:?}"
    );

    eprintln!(
        "{THREADS} threads, {total} executions, {} transactions; created in {:.1?}, \
         driven by {:.1?}, settled by {:.1?} (slot {}, epoch {}), stopped by {:.1?}",
        chain.sent().len(),
        created_in,
        driven_in,
        settled_in,
        until.slot,
        until.epoch,
        started.elapsed()
    );
}

/// A non-skippable backlog catches up one period per slot: the program's default rate
/// limit allows one execution per slot, so with time frozen and only slots moving the
/// daemon must hold a caught-up thread until the next slot rather than send (or
/// simulate) it into `RateLimited` and back off for chain seconds that never pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_skippable_backlog_catches_up_one_period_per_slot_with_time_frozen() {
    const BACKLOG: u64 = 10;
    let mut world = World::start().await.expect("bank starts");
    let plans: Vec<ThreadPlan> = [("backlog", false), ("durable-backlog", true)]
        .into_iter()
        .map(|(label, durable)| plan(label, every(1), durable))
        .collect();
    world
        .create(&plans, DEPOSIT)
        .await
        .expect("threads created");
    // Ten periods pass in one slot: ten due times, at most one execution per slot.
    world.advance(1, BACKLOG as i64).await;
    let running = Running::start(
        world.chain.clone(),
        &world,
        Store::open_in_memory().unwrap(),
        Metrics::new(),
        SandboxOptions::default().daemon,
    );
    let mut counts = BTreeMap::new();
    for _ in 0..4 * BACKLOG {
        // Long enough for the daemon to see each execution and be tempted to go again
        // within the same slot.
        tokio::time::sleep(Duration::from_millis(500)).await;
        counts = keeper::sandbox::exec_counts(&world).await.unwrap();
        if counts.values().all(|&n| n == BACKLOG) {
            break;
        }
        world.advance(1, 0).await;
    }
    let summary = running.stop().await;
    assert!(
        counts.values().all(|&n| n == BACKLOG),
        "backlog not caught up with time frozen: {counts:?}"
    );
    assert_eq!(summary.counts.confirmed, 2 * BACKLOG, "{summary:?}");
    assert_eq!(
        summary.counts.dead + summary.counts.superseded,
        0,
        "{summary:?}"
    );
}

/// The latest first due time among the sandbox's example threads, in simulated seconds
/// after creation: the 20 s cron's first fire (at most 20 s away) plus its jitter (at
/// most 5 s). The watcher of the 15 s thread's nonce is due once that thread runs; the
/// condition on the 7 s counter once it has counted 3 (after about 14 s).
const EXAMPLES_ALL_DUE_BY_SECS: i64 = 25;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandbox_runs_every_trigger_kind() {
    let options = SandboxOptions {
        seconds: 8,
        ..Default::default()
    };
    // The clock the drive reaches: every example thread is due well before it, with
    // seconds of simulated time to spare, so none is "not yet due" at the end.
    let steps = i64::try_from(
        Duration::from_secs(options.seconds).as_millis() / options.drive.every.as_millis(),
    )
    .unwrap();
    let reached = steps * options.drive.seconds;
    assert!(reached >= EXAMPLES_ALL_DUE_BY_SECS + 5, "{reached} s");

    let report = keeper::sandbox::run(options, |_| {})
        .await
        .expect("sandbox runs");
    assert_eq!(report.executions.len(), 11, "{:?}", report.executions);
    let never: Vec<&String> = report
        .executions
        .iter()
        .filter(|(_, &count)| count == 0)
        .map(|(label, _)| label)
        .collect();
    assert!(
        never.is_empty(),
        "never ran: {never:?} of {:?}",
        report.executions
    );
    let counts = &report.summary.counts;
    assert_eq!(counts.dead, 0, "dead letters: {counts:?}");
    assert_eq!(counts.superseded, 0, "{counts:?}");
    let total: u64 = report.executions.values().sum();
    assert_eq!(counts.confirmed, total, "{counts:?}");
}

#[test]
fn keeper_sandbox_binary_prints_executions_and_a_summary() {
    let home = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_keeper"))
        .args(["sandbox", "--seconds", "6"])
        .env_clear()
        .env("HOME", home.path())
        .output()
        .expect("run keeper");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "exit {:?}\n{stdout}\n{stderr}",
        out.status
    );
    assert!(stdout.contains("summary"), "{stdout}");
    assert!(
        stdout.lines().any(|l| l.contains(" confirm ")),
        "no confirmation printed:\n{stdout}"
    );
}
