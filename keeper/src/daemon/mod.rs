//! The keeper daemon: wires discovery, the scheduler, the worker pool around the
//! executor, the confirmation and replay loops, lease upkeep, leadership, health and
//! metrics together, and shuts them down in order.
//!
//! Owns: task lifetimes, the order of start-up (every check, the health port included,
//! passes before anything can send) and the order of shutdown (stop taking work, let
//! in-flight executions finish or stay persisted, hand leases back, leave the fleet,
//! exit), all of it within one deadline, `shutdown_ms`. Must not: contain execution
//! logic of its own, write the index or read threads; every decision is in the
//! subsystems, and the loops here only say when to call them.

mod fleet;
mod serve;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use solana_sdk::pubkey::Pubkey;
use solana_sdk::rent::Rent;
use solana_sdk::signature::{Keypair, Signer};
use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

pub use crate::config::DaemonConfig;

use crate::chain::Chain;
use crate::execution::builder::ExecutionBuilder;
use crate::execution::executor::{ExecEvent, Executor};
use crate::execution::lease_upkeep::{self, HandedBack};
use crate::execution::leases::LeaseManager;
use crate::execution::nonce_pool::NoncePool;
use crate::execution::workers::run_workers;
use crate::leadership::{Campaign, CampaignTask, Leadership};
use crate::ops::degradation::DegradationMonitor;
use crate::ops::health::{Heartbeat, WatchedNonces};
use crate::ops::metrics::Metrics;
use crate::ops::notify::Notifier;
use crate::ops::outage_log::{LogAs, OutageLog};
use crate::ops::runway::RunwayWatch;
use crate::periodic::Every;
use crate::store::{Store, StoreCounts};
use crate::tracking::discovery::{
    self, read_index, shared_index, Discovery, SharedIndex, ThreadChanged,
};
use crate::tracking::scheduler::{DueThread, Scheduler, SchedulerConfig};

/// How long shutdown waits for queued dead-letter notifications.
const NOTIFY_DRAIN: Duration = Duration::from_secs(3);

/// What a shutdown keeps back, out of `shutdown_ms`, for leaving the fleet (revoking
/// the etcd lease) after the leases are handed back.
const LEAVE_FLEET_MS: u64 = 1_000;

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("health server: {0}")]
    Health(#[from] std::io::Error),
    #[error(
        "cannot serve /health, /ready and /metrics on {addr}: {cause}; stop what holds \
         the port or set --health-addr (daemon.health_addr) to a free one. Nothing was sent"
    )]
    HealthBind {
        addr: SocketAddr,
        // Not `source`: the message shows it once, an anyhow chain would repeat it.
        cause: std::io::Error,
    },
    #[error(
        "cannot serve the dashboard on {addr}: {cause}; stop what holds the port or set \
         daemon.dashboard.addr to a free one. Nothing was sent"
    )]
    DashboardBind {
        addr: SocketAddr,
        cause: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("{0}; check daemon.fleet and that NATS runs with JetStream on. Nothing was sent")]
    Fleet(crate::fleet::QueueError),
}

/// What a run did, from the store's point of view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunSummary {
    /// Unfinished executions of an earlier run picked up at start.
    pub recovered: usize,
    pub counts: StoreCounts,
    /// Leases handed back at shutdown.
    pub leases_released: usize,
    /// Threads whose lease was not handed back by the shutdown's deadline (or could not
    /// be): each expires on chain, and its bond is forfeited if the authority stayed
    /// with this keeper.
    pub leases_left: Vec<Pubkey>,
}

pub struct Daemon {
    chain: Arc<dyn Chain>,
    keypair: Arc<Keypair>,
    store: Store,
    metrics: Arc<Metrics>,
    config: DaemonConfig,
    events: Option<broadcast::Sender<ExecEvent>>,
    bound: Option<tokio::sync::oneshot::Sender<SocketAddr>>,
}

impl Daemon {
    pub fn new(
        chain: Arc<dyn Chain>,
        keypair: Arc<Keypair>,
        store: Store,
        metrics: Arc<Metrics>,
        config: DaemonConfig,
    ) -> Self {
        Self {
            chain,
            keypair,
            store,
            metrics,
            config,
            events: None,
            bound: None,
        }
    }

    /// Publishes the executor's events (the sandbox prints them).
    pub fn with_events(mut self, events: broadcast::Sender<ExecEvent>) -> Self {
        self.events = Some(events);
        self
    }

    /// Tells `tx` the health server's address once it is bound (tests bind port 0).
    pub fn on_health_bound(mut self, tx: tokio::sync::oneshot::Sender<SocketAddr>) -> Self {
        self.bound = Some(tx);
        self
    }

    /// Runs until `shutdown` completes, then stops in order and returns what was done.
    pub async fn run(
        mut self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<RunSummary, DaemonError> {
        // Start-up: every check passes before anything can send.
        self.config
            .validate()
            .map_err(|e| DaemonError::Config(e.to_string()))?;
        let (stop_tx, stop) = StopSignal::new();
        let (wired, campaign) = self.wire(&stop)?;
        let me = self.keypair.pubkey();
        let index = shared_index();
        let health = self.serve_health(&wired, &index, &stop).await?;
        let fleet = self.connect_fleet().await?;

        // From here on this keeper may send: campaign, finish what the last run left,
        // then run every subsystem in its own task until `shutdown`.
        let campaign = campaign.spawn();
        let recovered = recover(&wired.executor, &wired.leadership).await;
        let tasks = spawn_subsystems(&wired, &self, &index, me, &stop, fleet);
        shutdown.await;

        Running {
            wired,
            campaign,
            health,
            tasks,
            stop_tx,
            index,
            me,
            recovered,
        }
        .shut_down(&self)
        .await
    }

    /// Builds the subsystems and what they share: the nonce pool (and its reclaimer),
    /// the builder, lease manager and executor (with the notifier), the degradation
    /// monitor, and leadership with the campaign to run for it. Nothing is sent yet; a
    /// setting only they check ends the start here.
    fn wire(&self, stop: &StopSignal) -> Result<(Wired, Campaign), DaemonError> {
        let (chain, keypair, metrics, config) =
            (&self.chain, &self.keypair, &self.metrics, &self.config);
        let me = keypair.pubkey();
        let pool = NoncePool::new(config.builder.lease_ttl).with_observer(metrics.clone());
        let reclaimer = pool.spawn_reclaimer(Duration::from_secs(1), stop.stopped());
        let builder = Arc::new(
            ExecutionBuilder::new(
                chain.clone(),
                pool.clone(),
                keypair.clone(),
                config.builder.clone(),
            )
            .with_metrics(metrics.clone()),
        );
        // Lease transactions follow the operator's [daemon.builder] settings too.
        let leases = Arc::new(
            LeaseManager::new(chain.clone(), keypair.clone(), pool, config.leases)
                .with_builder(builder.clone()),
        );
        let mut executor = Executor::new(
            chain.clone(),
            builder,
            leases.clone(),
            self.store.clone(),
            metrics.clone(),
            config.executor.clone(),
        );
        if let Some(events) = &self.events {
            executor = executor.with_events(events.clone());
        }
        let notify_task = match Notifier::spawn(&config.notify, me.to_string(), metrics.clone()) {
            Some((notifier, task)) => {
                executor = executor.with_notifier(notifier);
                Some(task)
            }
            None => None,
        };
        let degradation = Arc::new(
            DegradationMonitor::new(config.degradation, Some(metrics.registry()))
                .map_err(|e| DaemonError::Config(e.to_string()))?,
        );
        let (leadership, campaign) = crate::leadership::start(
            &config.leadership,
            &thread::ID,
            &me,
            Some(metrics.registry()),
        )
        .map_err(|e| DaemonError::Config(e.to_string()))?;
        let wired = Wired {
            reclaimer,
            leases,
            executor: Arc::new(executor),
            notify_task,
            degradation,
            leadership,
            watched: WatchedNonces::new(),
            heartbeat: Heartbeat::new(),
        };
        Ok((wired, campaign))
    }
}

/// The subsystems [`Daemon::wire`] built, and what start-up shares between them.
struct Wired {
    /// The nonce pool's reclaimer, stopped by the stop signal.
    reclaimer: JoinHandle<()>,
    leases: Arc<LeaseManager>,
    executor: Arc<Executor>,
    /// Delivers dead-letter notifications; ends once the executor is dropped.
    notify_task: Option<JoinHandle<()>>,
    degradation: Arc<DegradationMonitor>,
    leadership: Leadership,
    /// The nonce accounts /ready checks: those this keeper holds leases on.
    watched: WatchedNonces,
    /// Beaten by the scheduler after every tick, read by /ready.
    heartbeat: Heartbeat,
}

/// The daemon's own stop signal, sent once `shutdown` completes; every task stops on a
/// future of it. A run dropped where it stands drops the sender, which stops them too.
#[derive(Clone)]
struct StopSignal(watch::Receiver<bool>);

impl StopSignal {
    fn new() -> (watch::Sender<bool>, Self) {
        let (tx, rx) = watch::channel(false);
        (tx, Self(rx))
    }

    /// Completes once the stop is sent (or its sender dropped).
    fn stopped(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut rx = self.0.clone();
        async move {
            let _ = rx.wait_for(|stop| *stop).await;
        }
    }
}

/// Replays what an earlier run left unfinished. A keeper of a fleet has not won anything
/// yet: what it left waits in the store for the replay loop, which runs only while it
/// leads.
async fn recover(executor: &Executor, leadership: &Leadership) -> usize {
    if !leadership.is_leader() {
        return 0;
    }
    let recovered = executor.recover().await;
    if recovered > 0 {
        tracing::info!(
            recovered,
            "replaying executions left unfinished by the last run"
        );
    }
    recovered
}

/// Starts every subsystem that runs until the stop: discovery, the scheduler, the
/// worker pool, confirmations, lease hand-back on step-down, lease upkeep and replays.
fn spawn_subsystems(
    wired: &Wired,
    daemon: &Daemon,
    index: &SharedIndex,
    me: Pubkey,
    stop: &StopSignal,
    fleet: Option<fleet::FleetParts>,
) -> JoinSet<()> {
    let (chain, metrics, config) = (&daemon.chain, &daemon.metrics, &daemon.config);
    let (changes_tx, changes_rx) = mpsc::channel::<ThreadChanged>(4_096);
    let (work_tx, work_rx) = mpsc::channel::<DueThread>(config.workers.max(1) * 2);
    let mut tasks = JoinSet::new();

    let discovery = Discovery::new(
        chain.clone(),
        index.clone(),
        changes_tx.clone(),
        Duration::from_millis(config.reconcile_ms),
    )
    .with_metrics(metrics.clone())
    // Every cluster charges the default rent.
    .with_runway(RunwayWatch::new(
        config.low_runway_executions,
        Rent::default(),
        metrics.clone(),
    ));
    tasks.spawn(discovery.run(stop.stopped()));

    let scheduler =
        Scheduler::new(SchedulerConfig::default()).with_heartbeat(wired.heartbeat.clone());
    let scheduler_run = scheduler.run(
        chain.clone(),
        index.clone(),
        changes_rx,
        work_tx,
        Duration::from_millis(config.tick_ms),
        stop.stopped(),
    );
    tasks.spawn(async move {
        scheduler_run.await;
    });

    tasks.spawn(run_workers(
        wired.executor.clone(),
        wired.degradation.clone(),
        wired.leadership.clone(),
        index.clone(),
        work_rx,
        config.workers.max(1),
        fleet.as_ref().map(|f| f.publisher.clone()),
    ));
    let confirmations = Confirmations {
        executor: wired.executor.clone(),
        chain: chain.clone(),
        index: index.clone(),
        changes: changes_tx,
        degradation: wired.degradation.clone(),
        watched: wired.watched.clone(),
        metrics: metrics.clone(),
        me,
    };
    tasks.spawn(confirmations.run(Duration::from_millis(config.confirm_ms), stop.stopped()));
    tasks.spawn(lease_upkeep::hand_back_on_step_down(
        wired.leadership.clone(),
        wired.leases.clone(),
        index.clone(),
        me,
        stop.stopped(),
    ));
    tasks.spawn(lease_upkeep::run_upkeep(
        wired.leases.clone(),
        index.clone(),
        me,
        Duration::from_millis(config.reconcile_ms),
        stop.stopped(),
    ));
    // In a fleet every keeper replays the executions it submitted, leading or not.
    let replays_need_leadership = fleet.is_none();
    tasks.spawn(run_replays(
        wired.executor.clone(),
        wired.degradation.clone(),
        wired.leadership.clone(),
        replays_need_leadership,
        Duration::from_millis(config.replay_ms),
        stop.stopped(),
    ));
    if let Some(fleet) = fleet {
        fleet.spawn(&mut tasks, &wired.executor, daemon, stop);
    }
    tasks
}

/// What runs between start-up and shutdown, as the shutdown stops it.
struct Running {
    wired: Wired,
    campaign: CampaignTask,
    /// The health server, stopped by the stop signal.
    health: Option<JoinHandle<()>>,
    /// Every subsystem [`spawn_subsystems`] started.
    tasks: JoinSet<()>,
    stop_tx: watch::Sender<bool>,
    index: SharedIndex,
    me: Pubkey,
    /// What start-up replayed of the last run.
    recovered: usize,
}

impl Running {
    /// The shutdown, in order, within one deadline (`shutdown_ms`): a supervisor's grace
    /// period does not stretch because the chain is slow. Stop taking work; let
    /// in-flight executions finish or stay persisted (`drain_ms`); hand every lease back
    /// at once; leave the fleet; stop the helpers; report.
    async fn shut_down(self, daemon: &Daemon) -> Result<RunSummary, DaemonError> {
        let (config, wired) = (&daemon.config, self.wired);
        let started = Instant::now();
        let deadline = started + Duration::from_millis(config.shutdown_ms);
        let drained_by = started + Duration::from_millis(config.drain_ms);
        tracing::info!(
            drain_ms = config.drain_ms,
            shutdown_ms = config.shutdown_ms,
            "shutting down: no new work; finishing in-flight executions"
        );
        let _ = self.stop_tx.send(true);
        drain(self.tasks, &wired.executor, drained_by, config.confirm_ms).await;
        let handed_back_by = deadline - Duration::from_millis(LEAVE_FLEET_MS);
        let HandedBack {
            released: leases_released,
            left: leases_left,
        } = lease_upkeep::hand_back_all(&wired.leases, &self.index, self.me, handed_back_by).await;
        // Only now, with nothing of this keeper's under way, may another one lead.
        self.campaign.leave(deadline).await;
        let _ = tokio::time::timeout_at(deadline, wired.reclaimer).await;
        if let Some(handle) = self.health {
            if tokio::time::timeout_at(deadline, handle).await.is_err() {
                tracing::warn!("shutdown deadline reached before the health server stopped");
            }
        }
        // The notifier's queue closes with the executor: give what it holds a moment to
        // reach the webhooks.
        drop(wired.executor);
        if let Some(task) = wired.notify_task {
            if tokio::time::timeout(NOTIFY_DRAIN, task).await.is_err() {
                tracing::warn!("dead-letter notifications still queued at shutdown were not sent");
            }
        }
        let counts = daemon.store.counts()?;
        tracing::info!(
            ?counts,
            leases_released,
            leases_left = leases_left.len(),
            took_ms = started.elapsed().as_millis() as u64,
            "keeper stopped"
        );
        Ok(RunSummary {
            recovered: self.recovered,
            counts,
            leases_released,
            leases_left,
        })
    }
}

/// The drain: workers finish the executions they hold until `drained_by`; one still
/// running then is cut off at an await point. The executor persists a row before it
/// sends, so what it had sent stays in the store and the next start replays it. Then
/// confirmations are polled until nothing is in flight or `drained_by`; what is still
/// unconfirmed stays persisted too.
async fn drain(mut tasks: JoinSet<()>, executor: &Executor, drained_by: Instant, confirm_ms: u64) {
    if tokio::time::timeout_at(drained_by, async {
        while tasks.join_next().await.is_some() {}
    })
    .await
    .is_err()
    {
        tracing::warn!("drain deadline reached with executions still running; they stay persisted for the next start");
        tasks.shutdown().await;
    }
    while executor.in_flight_len() > 0 && Instant::now() < drained_by {
        let polled = tokio::time::timeout_at(drained_by, executor.confirm_tick()).await;
        if matches!(polled, Ok(Err(_))) {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        tokio::time::sleep(Duration::from_millis(confirm_ms.min(200))).await;
    }
}

/// How long `/ready` lets the scheduler go without completing a tick: a few periods, and
/// never less than a slow RPC answer (a tick waits for the chain's clock) could take.
fn scheduler_stale_after(tick_ms: u64) -> Duration {
    Duration::from_millis(tick_ms.saturating_mul(5)).max(Duration::from_secs(15))
}

/// What the confirmation loop ties together: the executor's confirmations, the index
/// they refresh, the degradation they count towards, and the nonces /ready watches and
/// `keeper_active_nonces` counts.
struct Confirmations {
    executor: Arc<Executor>,
    chain: Arc<dyn Chain>,
    index: SharedIndex,
    changes: mpsc::Sender<ThreadChanged>,
    degradation: Arc<DegradationMonitor>,
    watched: WatchedNonces,
    metrics: Arc<Metrics>,
    me: Pubkey,
}

impl Confirmations {
    /// Every `every`, resolves sent executions and refreshes the threads they touched,
    /// so the scheduler sees their new `next_due` without waiting for the next
    /// reconcile; a failed poll counts against the operating mode and is logged quietly
    /// while it lasts. Then tells /ready and `keeper_active_nonces` which nonces this
    /// keeper holds a lease on, as the index has them from the chain.
    async fn run(self, every: Duration, stop: impl Future<Output = ()>) {
        let mut every = Every::new(every, stop);
        let mut outage = OutageLog::new(Duration::from_secs(60));
        while every.tick().await {
            let polled = self.executor.confirm_tick().await;
            if polled.is_ok() {
                if let LogAs::Recovered { failures, lasted } = outage.succeeded() {
                    tracing::info!(failures, ?lasted, "confirmation polls answer again");
                }
            }
            match polled {
                Ok(threads) if !threads.is_empty() => {
                    let chain = self.chain.as_ref();
                    discovery::refresh(chain, &self.index, &self.changes, &threads).await;
                }
                Ok(_) => {}
                Err(e) => {
                    self.degradation.record(false);
                    match outage.failed(e.kind()) {
                        LogAs::Warn => {
                            tracing::warn!(kind = e.kind(), error = %e, "confirmation poll failed; quiet until it changes or recovers")
                        }
                        LogAs::Reminder { failures, since } => {
                            tracing::warn!(kind = e.kind(), error = %e, failures, ?since, "confirmation polls still failing")
                        }
                        _ => {
                            tracing::debug!(kind = e.kind(), error = %e, "confirmation poll failed")
                        }
                    }
                }
            }
            let held = read_index(&self.index).nonces_leased_by(&self.me);
            let me = self.me;
            self.metrics
                .active_nonces
                .set(i64::try_from(held.len()).unwrap_or(i64::MAX));
            self.watched
                .replace(held.into_iter().map(|nonce| (nonce, me)));
        }
    }
}

/// Replays what is due every `every`, except in Maintenance (a replay is a send), and,
/// with `need_leadership` (a keeper alone or of an etcd-only fleet), only while leading.
async fn run_replays(
    executor: Arc<Executor>,
    degradation: Arc<DegradationMonitor>,
    leadership: Leadership,
    need_leadership: bool,
    every: Duration,
    stop: impl Future<Output = ()>,
) {
    let mut every = Every::new(every, stop);
    while every.tick().await {
        let mode = degradation.mode();
        if mode.allows_send() && (!need_leadership || leadership.is_leader()) {
            executor
                .replay_tick_admitting(|priority| mode.admits(priority))
                .await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scheduler_is_stale_after_a_few_ticks_and_never_sooner_than_a_slow_answer() {
        assert_eq!(scheduler_stale_after(100), Duration::from_secs(15));
        assert_eq!(scheduler_stale_after(60_000), Duration::from_secs(300));
    }
}
