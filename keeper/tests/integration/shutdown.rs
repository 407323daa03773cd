//! Stopping the keeper: a shutdown has one deadline (`daemon.shutdown_ms`) however slow
//! the chain is to confirm lease hand-backs, and says which leases it handed back and
//! which it left to expire; the real `keeper` binary stops cleanly on SIGTERM, SIGINT
//! or SIGHUP, exits at once on a second signal, and its store keeps every row either way.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::{every, plan, rows, state, wait_until, world_with, ProbedBank, Running};
use crate::home::{wait_with_limit, Lines};
use keeper::chain::faulty::{Fault, FaultyChain, Op};
use keeper::ops::metrics::Metrics;
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::Signer;

const DEPOSIT: u64 = 50_000_000;

/// Four durable threads hold leases; three hand-backs hang on a send that takes a minute
/// (the fourth goes through). Handed back one after another, as before, the shutdown
/// took three minutes; now all four go at once and the shutdown ends by its deadline,
/// reporting the one it handed back and the three it left to expire.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_hands_leases_back_at_once_and_ends_by_its_deadline() {
    let plans: Vec<_> = (0..4)
        .map(|i| plan(format!("durable-{i}"), every(60), true))
        .collect();
    let world = world_with(&plans, DEPOSIT).await;
    let threads: Vec<Pubkey> = world.threads.iter().map(|t| t.key).collect();
    let me = world.keeper.pubkey();
    let chain = Arc::new(FaultyChain::new(ProbedBank::new(world.chain.clone()), 7));
    let mut config = crate::common::fast_config();
    config.drain_ms = 2_000;
    config.shutdown_ms = 8_000;
    let run = Running::start(
        chain.clone(),
        &world,
        crate::common::TestClock::new().memory_store(),
        Metrics::new(),
        config,
    );
    // Each thread is due once the clock has moved its interval; then not for a minute
    // of chain time, well inside its lease, so the lease stays held.
    world.advance(10, 61).await;
    for thread in &threads {
        wait_until!("every thread ran once under a lease of ours", 60, {
            let s = state(&world, thread).await;
            s.exec_count >= 1 && s.lease.is_some_and(|l| l.holder == me)
        });
    }
    let hang = Some(Fault::Timeout(Duration::from_secs(60)));
    chain.script(Op::Send, [hang.clone(), hang.clone(), hang, None]);

    let started = Instant::now();
    let summary = run.stop().await;
    let took = started.elapsed();

    // The old sequential hand-back would take 180 s here; the deadline is 8 s.
    assert!(took < Duration::from_secs(20), "shutdown took {took:?}");
    assert_eq!(summary.leases_released, 1, "{summary:?}");
    assert_eq!(summary.leases_left.len(), 3, "{summary:?}");
    let mut still_ours = BTreeSet::new();
    for thread in &threads {
        if state(&world, thread)
            .await
            .lease
            .is_some_and(|l| l.holder == me)
        {
            still_ours.insert(*thread);
        }
    }
    assert_eq!(
        still_ours,
        summary.leases_left.iter().copied().collect(),
        "the leases reported left are exactly the ones still held on chain"
    );
}

// ---------------------------------------------------------------------------------------
// Signals, on the real binary
// ---------------------------------------------------------------------------------------

/// `keeper sandbox` running on a store file, its stdout read line by line.
struct Sandbox {
    child: Child,
    stdout: Lines,
    _home: tempfile::TempDir,
}

impl Sandbox {
    /// Starts the sandbox for long enough that only a signal stops it, and waits until
    /// it has confirmed an execution (the daemon is running).
    fn start(store: &Path) -> Self {
        let home = tempfile::tempdir().unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_keeper"))
            .args(["sandbox", "--seconds", "600", "--sandbox-store"])
            .arg(store)
            .env_clear()
            .env("HOME", home.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run keeper");
        let mut stdout = Lines::follow(child.stdout.take().unwrap());
        let within = Duration::from_secs(120);
        if !stdout.wait_for(" confirm ", within) {
            let _ = child.kill();
            panic!("no confirmation within {within:?}:\n{}", stdout.text());
        }
        Self {
            child,
            stdout,
            _home: home,
        }
    }

    fn signal(&self, name: &str) {
        crate::home::signal(&self.child, name);
    }

    /// Waits for the process to end (killing it and failing after `within`); returns its
    /// exit code, all of stdout and its stderr.
    fn finish(mut self, within: Duration) -> (Option<i32>, String, String) {
        let out = wait_with_limit(self.child, within);
        self.stdout.drain();
        (
            out.status.code(),
            self.stdout.text(),
            crate::home::stderr(&out),
        )
    }
}

/// Each (label, run) the sandbox printed as submitted: each was persisted first.
fn submitted(stdout: &str) -> BTreeSet<String> {
    stdout
        .lines()
        .filter(|l| l.contains(" submit "))
        .filter_map(|l| l.split(" submit ").nth(1))
        .filter_map(|rest| rest.split(" (").next())
        .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

/// The sandbox submitted executions, and the store holds a row for each (every one was
/// persisted before it was sent).
fn assert_every_submission_has_its_row(stdout: &str, store: &Path) {
    let submitted = submitted(stdout);
    assert!(!submitted.is_empty(), "{stdout}");
    assert!(
        rows(store).len() >= submitted.len(),
        "every submitted execution has its row"
    );
}

/// One clean stop on `signal`: exit 0, the summary printed, every submitted execution
/// in the store.
fn stops_cleanly_on(signal: &str) {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("keeper.sqlite");
    let sandbox = Sandbox::start(&store);
    sandbox.signal(signal);
    let (code, stdout, stderr) = sandbox.finish(Duration::from_secs(60));
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert!(
        stderr.contains(&format!("{signal}: stopping cleanly")),
        "{stderr}"
    );
    assert!(stdout.contains("stop requested"), "{stdout}");
    assert!(stdout.contains("summary"), "{stdout}");
    assert!(stdout.contains("left to expire"), "{stdout}");
    assert_every_submission_has_its_row(&stdout, &store);
}

#[test]
fn sigterm_stops_the_sandbox_cleanly() {
    stops_cleanly_on("TERM");
}

/// SIGHUP does not reload (the settings reach every subsystem at start): it stops
/// cleanly, as SIGTERM does.
#[test]
fn sighup_stops_the_sandbox_cleanly_like_sigterm() {
    stops_cleanly_on("HUP");
}

/// A second stop signal while the first stop is under way exits at once, with 128 + the
/// signal's number and no summary; the store opens and holds a row for every execution
/// the sandbox said it submitted. The process is held stopped while both signals arrive,
/// so the second cannot come too late (after a fast clean stop); SIGTERM and SIGINT are
/// distinct signals, so the kernel keeps both.
#[test]
fn a_second_signal_exits_at_once_and_the_store_keeps_every_row() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("keeper.sqlite");
    let sandbox = Sandbox::start(&store);
    sandbox.signal("STOP");
    sandbox.signal("TERM");
    sandbox.signal("INT");
    sandbox.signal("CONT");
    let (code, stdout, stderr) = sandbox.finish(Duration::from_secs(10));
    assert!(
        matches!(code, Some(130) | Some(143)),
        "exit {code:?}\n{stdout}\n{stderr}"
    );
    assert!(stderr.contains("again: exiting now"), "{stderr}");
    assert!(!stdout.contains("summary"), "{stdout}");
    assert_every_submission_has_its_row(&stdout, &store);
}

/// `keeper run` (against an RPC address nothing listens on: it runs, finding nothing)
/// stops cleanly on SIGHUP as on SIGTERM: exit 0 and its summary, leases included.
#[test]
fn keeper_run_stops_cleanly_on_sighup() {
    let home = crate::home::Home::with_default_keypair();
    let mut child = home.keeper_run(&[], &[]).spawn().expect("run keeper");
    // The log says when the daemon is up (its signal handlers are in place before).
    let mut log = Lines::follow(child.stderr.take().unwrap());
    if !log.wait_for("serving /health", Duration::from_secs(30)) {
        let _ = child.kill();
        panic!("keeper run did not start:\n{}", log.text());
    }
    crate::home::signal(&child, "HUP");
    let out = wait_with_limit(child, Duration::from_secs(60));
    log.drain();
    let (status, stdout) = (out.status, crate::home::stdout(&out));
    let log = log.text();
    assert_eq!(status.code(), Some(0), "{stdout}\n{log}");
    assert!(log.contains("stop requested"), "{log}");
    assert!(log.contains("SIGHUP"), "{log}");
    assert!(
        stdout.contains("0 leases handed back, 0 left to expire"),
        "{stdout}"
    );
}
