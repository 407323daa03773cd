//! Load harness for the keeper daemon: the real daemon (discovery, scheduler, executor,
//! store) against an in-process Agave bank holding N non-durable `Timestamp` threads whose
//! due times are spread over one simulated minute, while the harness moves the bank's
//! clock one second at a time. Prints one report:
//!
//! - executions per second: confirmed per wall second, against the rate the threads fall
//!   due (the offered load, the baseline);
//! - due-to-submit delay, p50 and p99: from the wall-clock instant the harness moved the
//!   bank's clock past a thread's due time to the instant the executor published
//!   `ExecEvent::Submitted` for it; with where that time went (scheduler tick and queue,
//!   build, send), stamped by a wrapper around the bank;
//! - memory per tracked thread: the growth of live heap bytes (a counting allocator) and of
//!   VmRSS from just before the daemon starts to once it has indexed the N threads, / N;
//!   and, for an index and a scheduler loaded by the daemon's code from the same scan,
//!   `ThreadIndex::approx_bytes` / N and the heap each holds / N;
//! - RPC calls per scheduler tick while idle (nothing due), counted by a fault-free
//!   `FaultyChain`, with N threads against N/10 threads in the same run (the baseline): the
//!   ratio is the "does not grow with idle threads" figure.
//!
//! Phases: create N/10 threads, run a daemon idle (RPC calls, memory), stop it; create the
//! rest, start a second daemon idle (RPC calls, memory), then drive the clock through the
//! due minute and wait until every execution is confirmed (or `--drain-secs` pass).
//!
//!   cargo run --release -p keeper --example load -- --threads 10000
//!   scripts/load.sh [--quick] [extra flags]

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anchor_lang::Discriminator;
use clap::Parser;
use keeper::chain::faulty::{FaultyChain, Op};
use keeper::chain::Chain;
use keeper::daemon::{Daemon, DaemonConfig, DaemonError, RunSummary};
use keeper::execution::executor::ExecEvent;
use keeper::ops::metrics::Metrics;
use keeper::sandbox::{ThreadPlan, World};
use keeper::store::Store;
use keeper::test_utils::probed_bank::{BankObserver, ProbedBank};
use keeper::tracking::discovery::{apply_scan, read_index, shared_index};
use keeper::tracking::scheduler::Scheduler;
use solana_sdk::pubkey::Pubkey;
use solana_sdk::transaction::VersionedTransaction;
use thread::state::{Thread, Trigger};
use tokio::sync::{broadcast, oneshot};
use tokio::task::JoinHandle;

/// Counts live heap bytes, so the memory figure is not left to page granularity alone.
struct CountingAlloc;

static HEAP_LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call forwards to `System` unchanged; only a counter is updated beside it.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            HEAP_LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            HEAP_LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        HEAP_LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            HEAP_LIVE.fetch_add(new_size, Ordering::Relaxed);
            HEAP_LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        }
        new
    }
}

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

#[derive(Parser, Debug, Clone)]
#[command(
    about = "Load harness: the keeper daemon against an in-process bank",
    args_override_self = true
)]
struct Args {
    /// Threads to create (non-durable, `Timestamp` triggers).
    #[arg(long, default_value_t = 10_000)]
    threads: usize,
    /// Simulated seconds the due times are spread over, evenly.
    #[arg(long, default_value_t = 60)]
    spread_secs: u64,
    /// Wall milliseconds per simulated second: the bank's clock moves one second this often.
    #[arg(long, default_value_t = 1_000)]
    step_ms: u64,
    /// Slots the bank is warped forward with each clock step.
    #[arg(long, default_value_t = 2)]
    slots_per_step: u64,
    /// The daemon's scheduler tick in ms [default: the daemon's default].
    #[arg(long)]
    tick_ms: Option<u64>,
    /// The daemon's worker pool [default: the daemon's default].
    #[arg(long)]
    workers: Option<usize>,
    /// Seconds of each idle window in which RPC calls are counted.
    #[arg(long, default_value_t = 10)]
    idle_secs: u64,
    /// Longest wait, after the last thread fell due, for every execution to confirm.
    #[arg(long, default_value_t = 60)]
    drain_secs: u64,
}

impl Args {
    fn daemon_config(&self) -> DaemonConfig {
        let defaults = DaemonConfig::default();
        DaemonConfig {
            tick_ms: self.tick_ms.unwrap_or(defaults.tick_ms),
            workers: self.workers.unwrap_or(defaults.workers),
            ..defaults
        }
    }

    /// The command line that reproduces this run.
    fn command(&self) -> String {
        let mut command = format!(
            "cargo run --release -p keeper --example load -- --threads {} --spread-secs {} \
             --step-ms {} --slots-per-step {} --idle-secs {} --drain-secs {}",
            self.threads,
            self.spread_secs,
            self.step_ms,
            self.slots_per_step,
            self.idle_secs,
            self.drain_secs
        );
        if let Some(tick) = self.tick_ms {
            command.push_str(&format!(" --tick-ms {tick}"));
        }
        if let Some(workers) = self.workers {
            command.push_str(&format!(" --workers {workers}"));
        }
        command
    }
}

/// Wall instants at which the harness saw one thread's execution pass each stage.
#[derive(Debug, Default, Clone, Copy)]
struct Stamps {
    /// The executor's first read of the thread (it was issued by the scheduler).
    read: Option<Instant>,
    simulate: Option<Instant>,
    send: Option<Instant>,
    sent: Option<Instant>,
}

/// What the wrapper around the bank records.
#[derive(Default)]
struct Probe {
    /// Stamps are taken only while on (the load phase).
    on: AtomicBool,
    /// The harness's threads, to find the thread a transaction executes.
    threads: Mutex<HashSet<Pubkey>>,
    stamps: Mutex<HashMap<Pubkey, Stamps>>,
    /// Accounts returned by `get_program_accounts` and `get_multiple_accounts`.
    accounts_returned: AtomicU64,
}

impl Probe {
    fn stamp(
        &self,
        thread: Pubkey,
        at: Instant,
        set: impl FnOnce(&mut Stamps) -> &mut Option<Instant>,
    ) {
        let mut stamps = self.stamps.lock().unwrap_or_else(|p| p.into_inner());
        let slot = set(stamps.entry(thread).or_default());
        slot.get_or_insert(at);
    }

    /// Stamps one stage of the execution `tx` carries, while the probe is on.
    fn stamp_stage(
        &self,
        tx: &VersionedTransaction,
        set: impl FnOnce(&mut Stamps) -> &mut Option<Instant>,
    ) {
        if !self.on.load(Ordering::Relaxed) {
            return;
        }
        if let Some(thread) = self.thread_of(tx) {
            self.stamp(thread, Instant::now(), set);
        }
    }

    fn thread_of(&self, tx: &VersionedTransaction) -> Option<Pubkey> {
        let threads = self.threads.lock().unwrap_or_else(|p| p.into_inner());
        tx.message
            .static_account_keys()
            .iter()
            .find(|key| threads.contains(key))
            .copied()
    }
}

/// The probe stamps the stages of each execution while it is on, as the shared
/// `ProbedBank` (the harness's bank behind an `Arc`, so the harness keeps driving its
/// clock) passes each call.
impl BankObserver for Probe {
    fn reading(&self, key: &Pubkey) {
        if !self.on.load(Ordering::Relaxed) {
            return;
        }
        let known = self
            .threads
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(key);
        if known {
            self.stamp(*key, Instant::now(), |s| &mut s.read);
        }
    }

    fn accounts_returned(&self, count: usize) {
        self.accounts_returned
            .fetch_add(count as u64, Ordering::Relaxed);
    }

    fn simulating(&self, tx: &VersionedTransaction) {
        self.stamp_stage(tx, |s| &mut s.simulate);
    }

    fn sending(&self, tx: &VersionedTransaction) {
        self.stamp_stage(tx, |s| &mut s.send);
    }

    fn sent(&self, tx: &VersionedTransaction) {
        self.stamp_stage(tx, |s| &mut s.sent);
    }
}

type Counted = FaultyChain<ProbedBank>;

/// A daemon started by the harness.
struct Running {
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<RunSummary, DaemonError>>,
    chain: Arc<Counted>,
    metrics: Arc<Metrics>,
}

impl Running {
    fn start(
        world: &World,
        probe: &Arc<Probe>,
        config: DaemonConfig,
        events: Option<broadcast::Sender<ExecEvent>>,
    ) -> Result<Running, Box<dyn std::error::Error>> {
        let chain = Arc::new(FaultyChain::new(
            ProbedBank::new(world.chain.clone()).observed_by(probe.clone()),
            0,
        ));
        let metrics = Metrics::new();
        let mut daemon = Daemon::new(
            chain.clone(),
            world.keeper.clone(),
            Store::open_in_memory()?,
            metrics.clone(),
            config,
        );
        if let Some(events) = events {
            daemon = daemon.with_events(events);
        }
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(daemon.run(async move {
            let _ = stopped.await;
        }));
        Ok(Running {
            stop,
            task,
            chain,
            metrics,
        })
    }

    fn indexed(&self) -> i64 {
        self.metrics
            .threads
            .with_label_values(&["non_durable"])
            .get()
    }

    /// Waits until discovery has indexed `n` threads, then lets the scheduler take them.
    async fn wait_indexed(&self, n: usize) -> Result<Duration, Box<dyn std::error::Error>> {
        let started = Instant::now();
        while self.indexed() < n as i64 {
            if started.elapsed() > Duration::from_secs(300) {
                return Err(format!("the daemon indexed {} of {n} threads", self.indexed()).into());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let took = started.elapsed();
        // Discovery tells the scheduler after the index is written; let it catch up.
        tokio::time::sleep(Duration::from_secs(2)).await;
        Ok(took)
    }

    async fn stop(self) -> Result<RunSummary, Box<dyn std::error::Error>> {
        let _ = self.stop.send(());
        Ok(self.task.await??)
    }
}

/// One idle daemon's figures.
#[derive(Debug, Clone, Copy)]
struct Idle {
    threads: usize,
    index_secs: f64,
    heap_per_thread: f64,
    rss_per_thread: f64,
    ticks: f64,
    calls: u64,
    clock_calls: u64,
    program_scans: u64,
    accounts_returned: u64,
}

impl Idle {
    fn calls_per_tick(&self) -> f64 {
        self.calls as f64 / self.ticks
    }
}

/// Starts a daemon over the `n` threads in the bank, measures its memory once they are
/// indexed and its RPC calls over an idle window; returns it still running.
async fn measure_idle(
    world: &World,
    probe: &Arc<Probe>,
    args: &Args,
    n: usize,
    events: Option<broadcast::Sender<ExecEvent>>,
) -> Result<(Idle, Running), Box<dyn std::error::Error>> {
    let config = args.daemon_config();
    let tick_ms = config.tick_ms;
    // The bank's side of a first scan (its caches) is not the daemon's memory.
    drop(
        world
            .chain
            .get_program_accounts(&thread::ID, Thread::DISCRIMINATOR)
            .await?,
    );
    let heap0 = HEAP_LIVE.load(Ordering::Relaxed);
    let rss0 = rss_bytes();
    let daemon = Running::start(world, probe, config, events)?;
    let index_time = daemon.wait_indexed(n).await?;
    let heap1 = HEAP_LIVE.load(Ordering::Relaxed);
    let rss1 = rss_bytes();

    let calls0 = daemon.chain.calls();
    let clock0 = daemon.chain.forwarded(Op::Clock);
    let scans0 = daemon.chain.forwarded(Op::GetProgramAccounts);
    let returned0 = probe.accounts_returned.load(Ordering::Relaxed);
    let window = Duration::from_secs(args.idle_secs);
    tokio::time::sleep(window).await;
    let idle = Idle {
        threads: n,
        index_secs: index_time.as_secs_f64(),
        heap_per_thread: (heap1 as f64 - heap0 as f64) / n as f64,
        rss_per_thread: (rss1 as f64 - rss0 as f64) / n as f64,
        ticks: window.as_millis() as f64 / tick_ms as f64,
        calls: daemon.chain.calls() - calls0,
        clock_calls: daemon.chain.forwarded(Op::Clock) - clock0,
        program_scans: daemon.chain.forwarded(Op::GetProgramAccounts) - scans0,
        accounts_returned: probe.accounts_returned.load(Ordering::Relaxed) - returned0,
    };
    Ok((idle, daemon))
}

/// VmRSS of this process, in bytes (0 where /proc is not available).
fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("VmRSS:"))
                .and_then(|rest| {
                    rest.trim()
                        .trim_end_matches("kB")
                        .trim()
                        .parse::<u64>()
                        .ok()
                })
        })
        .map_or(0, |kb| kb * 1024)
}

/// Thread `i` falls due `1 + i % spread` seconds after `base`: every second of the spread
/// gets the same share, whatever prefix of the threads exists.
fn plans(from: usize, to: usize, base: i64, spread: u64) -> Vec<ThreadPlan> {
    (from..to)
        .map(|i| ThreadPlan {
            label: format!("load-{i:06}"),
            trigger: Trigger::Timestamp {
                unix_ts: base + 1 + (i as u64 % spread) as i64,
            },
            durable: false,
            watches: None,
            work: keeper::sandbox::PlanWork::Memo,
        })
        .collect()
}

/// Events the executor published, with the wall instant they were received (on a thread
/// of its own, so the stamp does not wait for the runtime), and how many were lost;
/// counts confirmations into `confirmed` as they come.
fn record_events(
    mut events: broadcast::Receiver<ExecEvent>,
    confirmed: Arc<AtomicUsize>,
) -> std::thread::JoinHandle<(Vec<(Instant, ExecEvent)>, u64)> {
    std::thread::spawn(move || {
        let mut seen = Vec::new();
        let mut lagged = 0;
        loop {
            match events.blocking_recv() {
                Ok(event) => {
                    let at = Instant::now();
                    if matches!(event, ExecEvent::Confirmed { .. }) {
                        confirmed.fetch_add(1, Ordering::Relaxed);
                    }
                    seen.push((at, event));
                }
                Err(broadcast::error::RecvError::Lagged(n)) => lagged += n,
                Err(broadcast::error::RecvError::Closed) => break,
            }
        }
        (seen, lagged)
    })
}

/// The `q` quantile (nearest rank) of sorted `values`.
fn quantile(values: &[Duration], q: f64) -> Duration {
    if values.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((q * values.len() as f64).ceil() as usize).clamp(1, values.len());
    values[rank - 1]
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1e3)
}

/// p50 / p99 / max of a set of durations, as text.
fn spread_of(mut values: Vec<Duration>) -> String {
    values.sort();
    format!(
        "p50 {:>7}  p99 {:>7}  max {:>7}",
        ms(quantile(&values, 0.50)),
        ms(quantile(&values, 0.99)),
        ms(values.last().copied().unwrap_or_default())
    )
}

fn verdict(met: bool) -> &'static str {
    if met {
        "met"
    } else {
        "MISSED"
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    match std::env::var("RUST_LOG") {
        Ok(filter) if !filter.is_empty() => tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .init(),
        // program-test logs every transaction's program logs at debug to stderr unless
        // told otherwise: a cost of the bank, not of the keeper, so it is off here. Set
        // before any other thread exists.
        _ => std::env::set_var("RUST_LOG", "error"),
    }
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run(args))
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    if args.threads < 10 || args.spread_secs == 0 || args.step_ms == 0 || args.idle_secs == 0 {
        return Err(
            "--threads must be at least 10; --spread-secs, --step-ms and --idle-secs above 0"
                .into(),
        );
    }
    let n = args.threads;
    let small = n / 10;
    let config = args.daemon_config();
    println!(
        "keeper load harness: {n} threads due over {} simulated s, one clock second per {} ms; \
         daemon tick {} ms, {} workers, reconcile {} s",
        args.spread_secs,
        args.step_ms,
        config.tick_ms,
        config.workers,
        config.reconcile_ms / 1_000
    );

    // Setup: a bank, the first tenth of the threads. Due times start far ahead of the
    // bank's clock so nothing is due until the load phase moves it there.
    let setup = Instant::now();
    let mut world = World::start().await?;
    let base = world.clock().await?.unix_timestamp + 100_000;
    world
        .create_many(&plans(0, small, base, args.spread_secs), 1_000_000)
        .await?;
    let probe = Arc::new(Probe::default());

    // Idle with N/10 threads: the baseline.
    let (idle_small, daemon) = measure_idle(&world, &probe, &args, small, None).await?;
    daemon.stop().await?;
    println!(
        "  idle with {small:>6} threads: {:.2} calls/tick, heap +{:.0} B/thread",
        idle_small.calls_per_tick(),
        idle_small.heap_per_thread
    );

    let created = Instant::now();
    world
        .create_many(&plans(small, n, base, args.spread_secs), 1_000_000)
        .await?;
    let create_secs = created.elapsed().as_secs_f64();
    let keys: Vec<Pubkey> = world.threads.iter().map(|t| t.key).collect();
    *probe.threads.lock().unwrap_or_else(|p| p.into_inner()) = keys.iter().copied().collect();
    let due_at: HashMap<Pubkey, i64> = world
        .threads
        .iter()
        .filter_map(|t| match t.trigger {
            Trigger::Timestamp { unix_ts } => Some((t.key, unix_ts)),
            _ => None,
        })
        .collect();
    println!(
        "  created {} threads ({:.1} s for the last {})",
        keys.len(),
        create_secs,
        n - small
    );

    // Idle with N threads, then the load on the same daemon.
    let (events_tx, events_rx) = broadcast::channel(4 * n + 1_024);
    let confirmed = Arc::new(AtomicUsize::new(0));
    let recorder = record_events(events_rx, confirmed.clone());
    let (idle_large, daemon) = measure_idle(&world, &probe, &args, n, Some(events_tx)).await?;
    println!(
        "  idle with {n:>6} threads: {:.2} calls/tick, heap +{:.0} B/thread",
        idle_large.calls_per_tick(),
        idle_large.heap_per_thread
    );
    let setup_secs = setup.elapsed().as_secs_f64();

    // Load: the clock stands just before the first due second, then moves one second
    // every `step_ms`; step k makes the threads due at `base + k` due. Each step comes
    // up to half a step late (golden-ratio offsets), so that steps meet the daemon's
    // ticks at every phase instead of one phase locked in by the two periods.
    let now = world.clock().await?.unix_timestamp;
    world.advance(0, base - now).await;
    let calls_before = daemon.chain.calls();
    probe.on.store(true, Ordering::Relaxed);
    let step = Duration::from_millis(args.step_ms);
    let start = Instant::now();
    let mut step_at: Vec<Instant> = Vec::new();
    let mut warp = Vec::new();
    let drain_until = start + step * args.spread_secs as u32 + Duration::from_secs(args.drain_secs);
    let mut k: u32 = 0;
    while confirmed.load(Ordering::Relaxed) < n && Instant::now() < drain_until {
        k += 1;
        let late = step.mul_f64((f64::from(k) * 0.618_033_988_75).fract() / 2.0);
        tokio::time::sleep_until((start + step * k + late).into()).await;
        let before = Instant::now();
        world.advance(args.slots_per_step, 1).await;
        let after = Instant::now();
        warp.push(after - before);
        step_at.push(after);
    }
    let load_end = Instant::now();
    probe.on.store(false, Ordering::Relaxed);
    let load_calls = daemon.chain.calls() - calls_before;
    let summary = daemon.stop().await?;
    let (events, lagged) = recorder.join().map_err(|_| "the event recorder panicked")?;

    // Delays: due (the clock step that passed the due time) -> Submitted.
    let due_instant = |key: &Pubkey| -> Option<Instant> {
        let second = due_at.get(key)? - base;
        step_at
            .get(usize::try_from(second).ok()?.checked_sub(1)?)
            .copied()
    };
    let mut first_submit: HashMap<Pubkey, Instant> = HashMap::new();
    let mut confirmed_at: Vec<Instant> = Vec::new();
    let mut other = (0usize, 0usize, 0usize);
    for (at, event) in &events {
        match event {
            ExecEvent::Submitted { thread, .. } => {
                first_submit.entry(*thread).or_insert(*at);
            }
            ExecEvent::Confirmed { .. } => confirmed_at.push(*at),
            ExecEvent::Replayed { .. } => other.0 += 1,
            ExecEvent::Superseded { .. } => other.1 += 1,
            ExecEvent::DeadLettered { .. } => other.2 += 1,
        }
    }
    let stamps = probe
        .stamps
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    // Per clock step: the first read of any thread it made due (the scheduler's first tick
    // after it, give or take a worker's start) and the last submission.
    let mut step_first_read: HashMap<Instant, Instant> = HashMap::new();
    let mut step_span: HashMap<Instant, (usize, Instant, Instant)> = HashMap::new();
    for key in &keys {
        let (Some(due), Some(read), Some(submit)) = (
            due_instant(key),
            stamps.get(key).and_then(|s| s.read),
            first_submit.get(key),
        ) else {
            continue;
        };
        let first = step_first_read.entry(due).or_insert(read);
        *first = (*first).min(read);
        let span = step_span.entry(due).or_insert((0, read, *submit));
        *span = (span.0 + 1, span.1.min(read), span.2.max(*submit));
    }
    let mut delays = Vec::new();
    let (mut to_tick, mut queued, mut read_to_sim, mut sim_to_send, mut in_send, mut after_send) = (
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
    );
    for key in &keys {
        let (Some(due), Some(submit)) = (due_instant(key), first_submit.get(key)) else {
            continue;
        };
        delays.push(submit.saturating_duration_since(due));
        let Some(s) = stamps.get(key) else { continue };
        if let (Some(read), Some(sim), Some(send), Some(sent), Some(tick)) = (
            s.read,
            s.simulate,
            s.send,
            s.sent,
            step_first_read.get(&due),
        ) {
            to_tick.push(tick.saturating_duration_since(due));
            queued.push(read.saturating_duration_since(*tick));
            read_to_sim.push(sim.saturating_duration_since(read));
            sim_to_send.push(send.saturating_duration_since(sim));
            in_send.push(sent.saturating_duration_since(send));
            after_send.push(submit.saturating_duration_since(sent));
        }
    }
    // How fast the pipeline empties a step's burst: its threads over first read -> last submit.
    let mut burst_rates: Vec<f64> = step_span
        .values()
        .filter(|(count, _, _)| *count > 1)
        .map(|(count, first, last)| {
            *count as f64 / last.duration_since(*first).as_secs_f64().max(1e-6)
        })
        .collect();
    burst_rates.sort_by(f64::total_cmp);
    let burst_rate = burst_rates
        .get(burst_rates.len() / 2)
        .copied()
        .unwrap_or_default();
    let missing = n - delays.len();
    let mut sorted = delays.clone();
    sorted.sort();
    let p50 = quantile(&sorted, 0.50);
    let p99 = quantile(&sorted, 0.99);

    let last_confirm = confirmed_at.iter().max().copied().unwrap_or(load_end);
    let window = last_confirm.saturating_duration_since(start).as_secs_f64();
    let exec_per_sec = confirmed_at.len() as f64 / window.max(1e-9);
    let offered = n as f64 / (args.spread_secs as f64 * args.step_ms as f64 / 1e3);

    // The chain's own record: each thread ran exactly once.
    let mut ran_once = 0;
    for key in &keys {
        if world.thread(key).await?.is_some_and(|t| t.exec_count == 1) {
            ran_once += 1;
        }
    }

    // The index alone: the daemon's code path (a scan applied to a fresh index).
    let (slot, accounts) = world
        .chain
        .get_program_accounts(&thread::ID, Thread::DISCRIMINATOR)
        .await?;
    let heap0 = HEAP_LIVE.load(Ordering::Relaxed);
    let index = shared_index();
    apply_scan(&mut index.write(), slot, &accounts, None);
    let heap1 = HEAP_LIVE.load(Ordering::Relaxed);
    let mut scheduler = Scheduler::default();
    scheduler.load(&index);
    let heap2 = HEAP_LIVE.load(Ordering::Relaxed);
    let indexed = read_index(&index).len().max(1) as f64;
    let index_per_thread = read_index(&index).approx_bytes() as f64 / indexed;
    let index_counted = (heap1 as f64 - heap0 as f64) / indexed;
    let scheduler_counted = (heap2 as f64 - heap1 as f64) / indexed;
    drop((scheduler, index, accounts));

    let rpc_ratio = idle_large.calls_per_tick() / idle_small.calls_per_tick();
    let mem_marginal = (idle_large.heap_per_thread * n as f64
        - idle_small.heap_per_thread * small as f64)
        / (n - small) as f64;
    let mut warp_sorted = warp.clone();
    warp_sorted.sort();

    println!();
    println!(
        "report ({} threads; setup {:.0} s; load {:.1} s)",
        n,
        setup_secs,
        (load_end - start).as_secs_f64()
    );
    println!(
        "  executions/s      {exec_per_sec:7.1} confirmed per wall s ({} confirmed in {window:.1} s); \
         offered {offered:.1}/s: ratio {:.2}; a step's burst empties at {burst_rate:.0}/s (median)",
        confirmed_at.len(),
        exec_per_sec / offered
    );
    println!(
        "  due -> submitted  p50 {:>6}  p99 {:>6}  max {:>6}  over {} threads, {missing} never submitted; \
         goal p99 < 400 ms: {}",
        ms(p50),
        ms(p99),
        ms(sorted.last().copied().unwrap_or_default()),
        delays.len(),
        verdict(missing == 0 && p99 < Duration::from_millis(400))
    );
    println!(
        "    where it went   (per execution, {} fully stamped)",
        to_tick.len()
    );
    println!(
        "      due -> tick        {}  (the step's first read: waiting for a scheduler tick)",
        spread_of(to_tick)
    );
    println!(
        "      tick -> read       {}  (queued behind the step's other threads for a worker)",
        spread_of(queued)
    );
    println!(
        "      read -> simulate   {}  (store lookup, blockhash)",
        spread_of(read_to_sim)
    );
    println!(
        "      simulate -> send   {}  (simulation, fees, persist)",
        spread_of(sim_to_send)
    );
    println!(
        "      send               {}  (bank: sequencer + execution)",
        spread_of(in_send)
    );
    println!("      sent -> event      {}", spread_of(after_send));
    println!(
        "    clock steps     {} of {} ms; warp+set p50 {} max {}",
        step_at.len(),
        args.step_ms,
        ms(quantile(&warp_sorted, 0.5)),
        ms(warp_sorted.last().copied().unwrap_or_default())
    );
    println!(
        "  memory/thread     daemon heap +{:.0} B, RSS +{:.0} B (N/10 -> N marginal heap {mem_marginal:.0} B); \
         goal < 1024 B: {}",
        idle_large.heap_per_thread,
        idle_large.rss_per_thread,
        verdict(idle_large.heap_per_thread < 1024.0)
    );
    println!(
        "    of which        index {index_per_thread:.0} B by approx_bytes, {index_counted:.0} B counted; \
         scheduler {scheduler_counted:.0} B counted"
    );
    println!(
        "  RPC calls/tick    idle, {:.1} ticks of {} ms: {:.3} with {n} threads vs {:.3} with {small} \
         (ratio {rpc_ratio:.2}); goal not growing: {}",
        idle_large.ticks,
        config.tick_ms,
        idle_large.calls_per_tick(),
        idle_small.calls_per_tick(),
        verdict(rpc_ratio <= 1.05)
    );
    for idle in [&idle_small, &idle_large] {
        println!(
            "    {:>6} threads: {} calls ({} clock, {} getProgramAccounts returning {} accounts); \
             indexed in {:.1} s",
            idle.threads,
            idle.calls,
            idle.clock_calls,
            idle.program_scans,
            idle.accounts_returned,
            idle.index_secs
        );
    }
    println!(
        "  under load        {:.1} RPC calls per execution",
        load_calls as f64 / n as f64
    );
    println!(
        "  outcome           {ran_once} of {} threads ran exactly once on chain; store {} confirmed, \
         {} superseded, {} pending, {} sent, {} dead; events: {} replayed, {} superseded, \
         {} dead-lettered, {} lost",
        keys.len(),
        summary.counts.confirmed,
        summary.counts.superseded,
        summary.counts.pending,
        summary.counts.sent,
        summary.counts.dead,
        other.0,
        other.1,
        other.2,
        lagged
    );
    println!("  command           {}", args.command());
    Ok(())
}
