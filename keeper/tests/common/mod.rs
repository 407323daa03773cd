//! Fixtures shared by the keeper's integration tests against the in-process bank: a
//! probing wrapper around the bank (`ProbedBank`), the store's test clock, readers of the
//! store's rows and of threads on chain, a daemon run in a task of its own with the events
//! it published, and `wait_until!`; a real etcd for fleet tests in [`etcd`].
//!
//! Each test file is its own crate and pulls this in with `mod common;`; none uses every
//! item, hence the `dead_code` allowance below (a per-item list would have to track every
//! file's use).

#![allow(dead_code)]

pub mod etcd;
pub mod hostile_rpc;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use keeper::chain::bank::BankChain;
use keeper::chain::{Chain, ChainError, KeyedAccount, ProgramNotices, Simulation, TxStatus};
use keeper::daemon::{Daemon, DaemonConfig, DaemonError, RunSummary};
use keeper::execution::executor::{ExecEvent, ExecutorConfig};
use keeper::ops::metrics::Metrics;
use keeper::sandbox::{self, ThreadPlan, World};
use keeper::store::{ExecState, Execution, Store};
use solana_sdk::account::Account;
use solana_sdk::clock::Clock;
use solana_sdk::hash::Hash;
use solana_sdk::instruction::Instruction;
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::{Keypair, Signature};
use solana_sdk::transaction::VersionedTransaction;
use thread::state::{Thread, Trigger};
use tokio::sync::{broadcast, oneshot, Notify};
use tokio::task::JoinHandle;

// ---------------------------------------------------------------------------------------
// The bank, probed
// ---------------------------------------------------------------------------------------

/// One bank behind any number of endpoints, as RPC nodes of one cluster share a ledger:
/// every wrapper around the same `BankChain` sees the same record of sent transactions
/// and the same send order. Forwards every call (the program subscription included, so
/// the daemon's discovery gets pushed changes) and watches what the keeper asks:
///
/// - which accounts it reads one by one ([`ProbedBank::reads_of`]; the executor reads a
///   thread before it does anything with it);
/// - how many sends reached the bank ([`ProbedBank::sends`]), the signatures the bank
///   accepted ([`ProbedBank::sent`]) and the most sends under way at once
///   ([`ProbedBank::most_sending`]);
///
/// and can change the course of a send: make every send slow ([`ProbedBank::slow_sends`])
/// or land owner instructions right before the next one ([`ProbedBank::before_next_send`],
/// a change that lands between the keeper's build and its send).
pub struct ProbedBank {
    bank: Arc<BankChain>,
    reads: Mutex<HashMap<Pubkey, u64>>,
    send_delay: Mutex<Duration>,
    before_next_send: Mutex<Option<(Vec<Instruction>, Keypair)>>,
    sends: AtomicU64,
    sent: Mutex<Vec<Signature>>,
    sending: AtomicUsize,
    most_sending: AtomicUsize,
}

impl ProbedBank {
    pub fn new(bank: Arc<BankChain>) -> Self {
        Self {
            bank,
            reads: Mutex::default(),
            send_delay: Mutex::new(Duration::ZERO),
            before_next_send: Mutex::new(None),
            sends: AtomicU64::new(0),
            sent: Mutex::default(),
            sending: AtomicUsize::new(0),
            most_sending: AtomicUsize::new(0),
        }
    }

    /// `get_account` calls for each of `keys`.
    pub fn reads_of(&self, keys: &[Pubkey]) -> Vec<u64> {
        let reads = self.reads.lock().unwrap();
        keys.iter()
            .map(|k| reads.get(k).copied().unwrap_or(0))
            .collect()
    }

    /// Every send waits `delay` before it reaches the bank; the count of sends under way
    /// at once starts again from zero.
    pub fn slow_sends(&self, delay: Duration) {
        *self.send_delay.lock().unwrap() = delay;
        self.most_sending.store(0, Ordering::SeqCst);
    }

    /// The most sends under way at once since [`ProbedBank::slow_sends`] (or the start).
    pub fn most_sending(&self) -> usize {
        self.most_sending.load(Ordering::SeqCst)
    }

    /// Sends that reached the bank, whatever it answered.
    pub fn sends(&self) -> u64 {
        self.sends.load(Ordering::SeqCst)
    }

    /// Signatures of the sends the bank accepted, in order.
    pub fn sent(&self) -> Vec<Signature> {
        self.sent.lock().unwrap().clone()
    }

    /// The next send first lands `ixs`, signed and paid by `owner`.
    pub fn before_next_send(&self, ixs: Vec<Instruction>, owner: Keypair) {
        *self.before_next_send.lock().unwrap() = Some((ixs, owner));
    }
}

/// One send under way; counted off when it ends, however it ends.
struct Sending<'a>(&'a AtomicUsize);

impl<'a> Sending<'a> {
    fn start(sending: &'a AtomicUsize, most: &AtomicUsize) -> Self {
        let now = sending.fetch_add(1, Ordering::SeqCst) + 1;
        most.fetch_max(now, Ordering::SeqCst);
        Self(sending)
    }
}

impl Drop for Sending<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[async_trait]
impl Chain for ProbedBank {
    fn endpoint(&self) -> &str {
        self.bank.endpoint()
    }
    async fn get_account(&self, key: &Pubkey) -> Result<Option<Account>, ChainError> {
        *self.reads.lock().unwrap().entry(*key).or_default() += 1;
        self.bank.get_account(key).await
    }
    async fn get_multiple_accounts(
        &self,
        keys: &[Pubkey],
    ) -> Result<Vec<Option<Account>>, ChainError> {
        self.bank.get_multiple_accounts(keys).await
    }
    async fn get_program_accounts(
        &self,
        program: &Pubkey,
        prefix: &[u8],
    ) -> Result<(u64, Vec<KeyedAccount>), ChainError> {
        self.bank.get_program_accounts(program, prefix).await
    }
    async fn latest_blockhash(&self) -> Result<Hash, ChainError> {
        self.bank.latest_blockhash().await
    }
    async fn clock(&self) -> Result<Clock, ChainError> {
        self.bank.clock().await
    }
    async fn simulate(&self, tx: &VersionedTransaction) -> Result<Simulation, ChainError> {
        self.bank.simulate(tx).await
    }
    async fn send(&self, tx: &VersionedTransaction) -> Result<Signature, ChainError> {
        let _sending = Sending::start(&self.sending, &self.most_sending);
        let delay = *self.send_delay.lock().unwrap();
        tokio::time::sleep(delay).await;
        let first = self.before_next_send.lock().unwrap().take();
        if let Some((ixs, owner)) = first {
            sandbox::send(&self.bank, &ixs, &owner, &[])
                .await
                .expect("the owner's instructions land");
        }
        self.sends.fetch_add(1, Ordering::SeqCst);
        let signature = self.bank.send(tx).await?;
        self.sent.lock().unwrap().push(signature);
        Ok(signature)
    }
    async fn signature_statuses(
        &self,
        signatures: &[Signature],
    ) -> Result<Vec<Option<TxStatus>>, ChainError> {
        self.bank.signature_statuses(signatures).await
    }
    async fn recent_prioritization_fees(
        &self,
        accounts: &[Pubkey],
    ) -> Result<Vec<u64>, ChainError> {
        self.bank.recent_prioritization_fees(accounts).await
    }
    async fn subscribe_program(
        &self,
        program: &Pubkey,
        prefix: &[u8],
    ) -> Result<ProgramNotices, ChainError> {
        self.bank.subscribe_program(program, prefix).await
    }
}

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
        watch_nonce_of: None,
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
            // queue rather than be absorbed by the send backoff (tests/backoff.rs).
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
#[allow(unused_macros)] // `dead_code` does not cover macros
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
#[allow(unused_imports)]
pub(crate) use wait_until;
