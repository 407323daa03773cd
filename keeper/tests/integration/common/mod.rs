//! Fixtures shared by the keeper's integration tests against the in-process bank: the
//! probing wrapper around the bank (`ProbedBank`, shared with the benches and the load
//! example from `keeper::test_utils`), the store's test clock, readers of the
//! store's rows and of threads on chain, a daemon run in a task of its own with the events
//! it published, and `wait_until!`; real etcd and nats-server for fleet tests (from
//! `keeper::test_utils`, which the load examples share).
//!
//! Every test module of the binary reaches its fixtures here (`crate::common`).

pub mod hostile_rpc;
pub use keeper::test_utils::{etcd, nats, tls};

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use keeper::chain::Chain;
use keeper::daemon::{Daemon, DaemonConfig, DaemonError, RunSummary};
use keeper::execution::executor::{ExecEvent, ExecutorConfig};
use keeper::ops::metrics::Metrics;
use keeper::sandbox::{ThreadPlan, World};
use keeper::store::{ExecState, Execution, Store};
use solana_sdk::pubkey::Pubkey;
use thread::state::{Thread, Trigger};
use tokio::sync::{broadcast, oneshot, Notify};
use tokio::task::JoinHandle;

// Re-exported so every test reaches its fixtures through `common`.
pub use keeper::test_utils::probed_bank::ProbedBank;

// ---------------------------------------------------------------------------------------
// The store
// ---------------------------------------------------------------------------------------

/// The store's clock, moved by the test: replay delays pass (and a replay comes due) when
/// the test says so, without waiting for them. Starts at the system time, so what
/// `keeper dlq retry` (system clock) marks due now is due for the daemon too.
#[derive(Clone)]
pub struct TestClock(Arc<AtomicI64>);

impl TestClock {
    pub fn new() -> Self {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        Self(Arc::new(AtomicI64::new(i64::try_from(now).unwrap())))
    }

    pub fn now(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }

    pub fn advance(&self, seconds: i64) {
        self.0.fetch_add(seconds, Ordering::SeqCst);
    }

    /// A handle on the SQLite file at `path` that reads this clock.
    pub fn store(&self, path: &Path) -> Store {
        self.reading(Store::open(path).expect("open the store"))
    }

    /// A store in memory that reads this clock.
    pub fn memory_store(&self) -> Store {
        self.reading(Store::open_in_memory().expect("open the store"))
    }

    fn reading(&self, store: Store) -> Store {
        let clock = self.clone();
        store.with_clock(move || clock.now())
    }
}

/// Every execution row in the store file: (thread, exec_count_at_build, state).
pub fn rows(path: &Path) -> Vec<(Pubkey, u64, ExecState)> {
    let conn = rusqlite::Connection::open(path).unwrap();
    let mut stmt = conn
        .prepare("SELECT thread, exec_count_at_build, state FROM executions ORDER BY id")
        .unwrap();
    stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, String>(2)?,
        ))
    })
    .unwrap()
    .map(|row| {
        let (thread, exec_count, state) = row.unwrap();
        (
            thread.parse().unwrap(),
            u64::try_from(exec_count).unwrap(),
            state.parse().unwrap(),
        )
    })
    .collect()
}

/// The store file's rows by due time: (thread, exec_count_at_build) to the states of its
/// rows, in row order.
pub fn rows_by_due_time(path: &Path) -> BTreeMap<(Pubkey, u64), Vec<ExecState>> {
    let mut by_due_time: BTreeMap<(Pubkey, u64), Vec<ExecState>> = BTreeMap::new();
    for (thread, exec_count, row_state) in rows(path) {
        by_due_time
            .entry((thread, exec_count))
            .or_default()
            .push(row_state);
    }
    by_due_time
}

/// The due times (exec counts) of `thread` that have rows in `by_due_time`.
pub fn due_times_of(
    by_due_time: &BTreeMap<(Pubkey, u64), Vec<ExecState>>,
    thread: &Pubkey,
) -> BTreeSet<u64> {
    by_due_time
        .keys()
        .filter(|(t, _)| t == thread)
        .map(|(_, c)| *c)
        .collect()
}

/// The one row of `thread`'s first due time.
pub fn first_row(store: &Store, thread: &Pubkey) -> Execution {
    store
        .find(thread, 0)
        .unwrap()
        .expect("an execution was persisted")
}

/// Whether the store holds a confirmed row for `thread`'s execution at `exec_count`.
pub fn confirmed(store: &Store, thread: &Pubkey, exec_count: u64) -> bool {
    store
        .find(thread, exec_count)
        .unwrap()
        .is_some_and(|row| row.state == ExecState::Confirmed)
}

pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

// ---------------------------------------------------------------------------------------
// Threads
// ---------------------------------------------------------------------------------------

pub fn plan(label: impl Into<String>, trigger: Trigger, durable: bool) -> ThreadPlan {
    ThreadPlan {
        label: label.into(),
        trigger,
        durable,
        watches: None,
        work: keeper::sandbox::PlanWork::Memo,
    }
}

/// Every `seconds`, none skipped.
pub fn every(seconds: i64) -> Trigger {
    Trigger::Interval {
        seconds,
        skippable: false,
    }
}

/// A fresh bank with a thread of each of `plans`, each funded with `deposit`.
pub async fn world_with(plans: &[ThreadPlan], deposit: u64) -> Arc<World> {
    let mut world = World::start().await.expect("bank starts");
    world.create(plans, deposit).await.expect("threads created");
    Arc::new(world)
}

/// `thread` as the bank holds it now.
pub async fn state(world: &World, thread: &Pubkey) -> Thread {
    world
        .thread(thread)
        .await
        .expect("bank answers")
        .expect("thread exists")
}

pub async fn exec_count(world: &World, thread: &Pubkey) -> u64 {
    state(world, thread).await.exec_count
}

pub async fn exec_counts(world: &World, threads: &[Pubkey]) -> Vec<u64> {
    let mut counts = Vec::new();
    for t in threads {
        counts.push(exec_count(world, t).await);
    }
    counts
}

// ---------------------------------------------------------------------------------------
// The daemon
// ---------------------------------------------------------------------------------------

/// Daemon settings with fast loops: 4 workers, a 100 ms tick, confirmation poll and
/// replay loop, a reconcile every 500 ms, 5 s to drain and 50 retries. Tests change what
/// they are about.
pub fn fast_config() -> DaemonConfig {
    DaemonConfig {
        workers: 4,
        tick_ms: 100,
        reconcile_ms: 500,
        confirm_ms: 100,
        replay_ms: 100,
        drain_ms: 5_000,
        health_addr: None,
        executor: ExecutorConfig {
            max_retries: 50,
            // One send per attempt: the faults these tests script must reach the replay
            // queue rather than be absorbed by the send backoff (`backoff`).
            send_retry: keeper::execution::retry::RetryStrategy {
                max_attempts: 1,
                ..keeper::execution::executor::default_send_retry()
            },
            ..ExecutorConfig::default()
        },
        ..DaemonConfig::default()
    }
}

/// The executor as the daemon builds it (its own nonce pool, builder and lease manager
/// over `chain`), signing as the world's keeper, for tests that drive it directly.
pub fn executor(
    chain: Arc<dyn Chain>,
    world: &World,
    store: Store,
    metrics: Arc<Metrics>,
    config: ExecutorConfig,
) -> keeper::execution::executor::Executor {
    use keeper::execution::builder::{BuilderConfig, ExecutionBuilder};
    use keeper::execution::leases::{LeaseConfig, LeaseManager};
    use keeper::execution::nonce_pool::NoncePool;

    let pool = NoncePool::new(Duration::from_secs(30));
    let builder = Arc::new(ExecutionBuilder::new(
        chain.clone(),
        pool.clone(),
        world.keeper.clone(),
        BuilderConfig::default(),
    ));
    let leases = Arc::new(LeaseManager::new(
        chain.clone(),
        world.keeper.clone(),
        pool,
        LeaseConfig::default(),
    ));
    keeper::execution::executor::Executor::new(chain, builder, leases, store, metrics, config)
}

/// Polls `executor`'s confirmations until `thread`'s execution at `exec_count` is
/// confirmed in `store`, failing after 20 s.
pub async fn confirm_until_confirmed(
    executor: &keeper::execution::executor::Executor,
    store: &Store,
    thread: &Pubkey,
    exec_count: u64,
) {
    wait_until!("the execution confirms", 20, {
        executor.confirm_tick().await.unwrap();
        confirmed(store, thread, exec_count)
    });
}

/// Every event the executor published, in order.
#[derive(Clone, Default)]
pub struct Events {
    seen: Arc<Mutex<Vec<ExecEvent>>>,
    lagged: Arc<AtomicBool>,
    closed: Arc<AtomicBool>,
    closing: Arc<Notify>,
}

impl Events {
    pub fn listen(mut rx: broadcast::Receiver<ExecEvent>) -> Self {
        let events = Self::default();
        let sink = events.clone();
        tokio::spawn(async move {
            loop {
                match rx.recv().await {
                    Ok(event) => sink.seen.lock().unwrap().push(event),
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        sink.lagged.store(true, Ordering::SeqCst)
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                }
            }
            sink.closed.store(true, Ordering::SeqCst);
            sink.closing.notify_waiters();
        });
        events
    }

    /// Waits until every sender is gone (the daemon stopped) and each event is in.
    async fn closed(&self) {
        loop {
            let closing = self.closing.notified();
            if self.closed.load(Ordering::SeqCst) {
                return;
            }
            closing.await;
        }
    }

    pub fn all(&self) -> Vec<ExecEvent> {
        assert!(!self.lagged.load(Ordering::SeqCst), "events were lost");
        self.seen.lock().unwrap().clone()
    }

    /// (thread, exec_count) of every confirmation, in order.
    pub fn confirmed(&self) -> Vec<(Pubkey, u64)> {
        self.all()
            .into_iter()
            .filter_map(|e| match e {
                ExecEvent::Confirmed {
                    thread, exec_count, ..
                } => Some((thread, exec_count)),
                _ => None,
            })
            .collect()
    }

    pub fn count(&self, pick: impl Fn(&ExecEvent) -> bool) -> usize {
        self.all().iter().filter(|e| pick(e)).count()
    }
}

/// Room for the executor's events between two reads of the listener.
const EVENTS: usize = 1 << 16;

/// A daemon running in a task of its own.
pub struct Running {
    task: JoinHandle<Result<RunSummary, DaemonError>>,
    stop: oneshot::Sender<()>,
    pub events: Events,
}

impl Running {
    pub fn start(
        chain: Arc<dyn Chain>,
        world: &World,
        store: Store,
        metrics: Arc<Metrics>,
        config: DaemonConfig,
    ) -> Self {
        Self::spawn(Daemon::new(
            chain,
            world.keeper.clone(),
            store,
            metrics,
            config,
        ))
    }

    /// A daemon on `world`'s bank with `config` and a fresh in-memory store, which is
    /// returned too, for what the daemon recorded.
    pub fn on(world: &World, config: DaemonConfig) -> (Self, Store) {
        let store = Store::open_in_memory().expect("in-memory store");
        let running = Self::start(
            world.chain.clone(),
            world,
            store.clone(),
            Metrics::new(),
            config,
        );
        (running, store)
    }

    /// Runs `daemon` as built by the test (with a health listener, say), collecting its
    /// events.
    pub fn spawn(daemon: Daemon) -> Self {
        let (events_tx, events_rx) = broadcast::channel(EVENTS);
        let events = Events::listen(events_rx);
        let daemon = daemon.with_events(events_tx);
        let (stop, stop_rx) = oneshot::channel::<()>();
        let task = tokio::spawn(daemon.run(async move {
            let _ = stop_rx.await;
        }));
        Self { task, stop, events }
    }

    /// A clean shutdown: drains, hands leases back, returns the summary once every event
    /// the run published is in `events`.
    pub async fn stop(self) -> RunSummary {
        let _ = self.stop.send(());
        let summary = tokio::time::timeout(Duration::from_secs(30), self.task)
            .await
            .expect("the daemon stops")
            .expect("the daemon does not panic")
            .expect("the daemon returns its summary");
        tokio::time::timeout(Duration::from_secs(10), self.events.closed())
            .await
            .expect("the stopped daemon publishes no more events");
        summary
    }

    /// A crash during shutdown: the run is asked to stop and dropped where it stands
    /// once `reached` holds (polled every 10 ms, for at most 30 s): in the middle of
    /// handing its leases back, say.
    pub async fn crash_while_stopping(self, what: &str, reached: impl Fn() -> bool) {
        let _ = self.stop.send(());
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while !reached() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out after 30 s waiting until {what}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.task.abort();
        let err = self.task.await.expect_err("aborted");
        assert!(err.is_cancelled());
    }

    /// A crash: the run is dropped where it stands (its tasks are aborted), nothing is
    /// drained, no lease is handed back. Only the store file survives.
    pub async fn crash(self) {
        self.task.abort();
        let err = self.task.await.expect_err("aborted");
        assert!(err.is_cancelled());
    }
}

/// Polls `$cond` (an expression that may `.await`) every 50 ms, failing after `$secs`.
macro_rules! wait_until {
    ($what:expr, $secs:expr, $cond:expr) => {{
        let deadline = ::tokio::time::Instant::now() + ::std::time::Duration::from_secs($secs);
        loop {
            if $cond {
                break;
            }
            assert!(
                ::tokio::time::Instant::now() < deadline,
                "timed out after {} s waiting until {}",
                $secs,
                $what
            );
            ::tokio::time::sleep(::std::time::Duration::from_millis(50)).await;
        }
    }};
}
pub(crate) use wait_until;
