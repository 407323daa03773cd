//! The keeper daemon: wires discovery, the scheduler, a bounded worker pool around the
//! executor, the confirmation and replay loops, lease upkeep, health and metrics, and
//! shuts them down in order.
//!
//! Owns: task lifetimes and the order of shutdown (stop taking work, let in-flight
//! executions finish or stay persisted, hand leases back, exit). Must not: contain
//! execution logic of its own; every decision is in the subsystems.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::{Keypair, Signer};
use tokio::sync::{broadcast, mpsc, watch, Semaphore};
use tokio::task::JoinSet;

use crate::builder::{BuilderConfig, ExecutionBuilder};
use crate::chain::Chain;
use crate::degradation::{DegradationConfig, DegradationMonitor};
use crate::discovery::{read_index, shared_index, Discovery, SharedIndex, ThreadChanged};
use crate::executor::{ExecEvent, ExecOutcome, Executor, ExecutorConfig, SkipReason};
use crate::health::{HealthRegistry, NonceAccountsCheck, RpcCheck, WatchedNonces};
use crate::leases::{LeaseConfig, LeaseManager};
use crate::metrics::Metrics;
use crate::nonce_pool::NoncePool;
use crate::scheduler::{DueThread, Scheduler, SchedulerConfig};
use crate::store::{Store, StoreCounts};

/// Daemon settings (the `[daemon]` part of the keeper's TOML file).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DaemonConfig {
    /// Executions worked on at once.
    pub workers: usize,
    /// Scheduler tick, milliseconds.
    pub tick_ms: u64,
    /// Full getProgramAccounts reconcile, milliseconds.
    pub reconcile_ms: u64,
    /// Batched confirmation poll, milliseconds.
    pub confirm_ms: u64,
    /// Replay queue poll, milliseconds.
    pub replay_ms: u64,
    /// How long shutdown waits for in-flight executions to confirm, milliseconds; what
    /// is still unconfirmed then stays persisted for the next start.
    pub drain_ms: u64,
    /// Where /health, /ready and /metrics are served; none when absent.
    pub health_addr: Option<SocketAddr>,
    pub builder: BuilderConfig,
    pub leases: LeaseConfig,
    pub executor: ExecutorConfig,
    pub degradation: DegradationConfig,
}

impl Default for DaemonConfig {
    fn default() -> Self {
        Self {
            workers: 16,
            tick_ms: 100,
            reconcile_ms: 10_000,
            confirm_ms: 400,
            replay_ms: 1_000,
            drain_ms: 10_000,
            health_addr: None,
            builder: BuilderConfig::default(),
            leases: LeaseConfig::default(),
            executor: ExecutorConfig::default(),
            degradation: DegradationConfig::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("health server: {0}")]
    Health(#[from] std::io::Error),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// What a run did, from the store's point of view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunSummary {
    /// Unfinished executions of an earlier run picked up at start.
    pub recovered: usize,
    pub counts: StoreCounts,
    /// Leases handed back at shutdown.
    pub leases_released: usize,
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
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<RunSummary, DaemonError> {
        let Daemon {
            chain,
            keypair,
            store,
            metrics,
            config,
            events,
            bound,
        } = self;
        let me = keypair.pubkey();
        let (stop_tx, stop_rx) = watch::channel(false);
        let stopped = move || {
            let mut rx = stop_rx.clone();
            async move {
                let _ = rx.wait_for(|stop| *stop).await;
            }
        };

        let pool = NoncePool::new(config.builder.lease_ttl).with_observer(metrics.clone());
        let reclaimer = pool.spawn_reclaimer(Duration::from_secs(1), stopped());
        let builder = Arc::new(
            ExecutionBuilder::new(
                chain.clone(),
                pool.clone(),
                keypair.clone(),
                config.builder.clone(),
            )
            .with_metrics(metrics.clone()),
        );
        let leases = Arc::new(LeaseManager::new(
            chain.clone(),
            keypair.clone(),
            pool.clone(),
            config.leases,
        ));
        let mut executor = Executor::new(
            chain.clone(),
            builder,
            leases.clone(),
            store.clone(),
            metrics.clone(),
            config.executor.clone(),
        );
        if let Some(events) = events {
            executor = executor.with_events(events);
        }
        let executor = Arc::new(executor);
        let degradation = Arc::new(
            DegradationMonitor::new(config.degradation, Some(metrics.registry()))
                .map_err(|e| DaemonError::Config(e.to_string()))?,
        );

        let recovered = executor.recover().await;
        if recovered > 0 {
            tracing::info!(
                recovered,
                "replaying executions left unfinished by the last run"
            );
        }

        let index = shared_index();
        let (changes_tx, changes_rx) = mpsc::channel::<ThreadChanged>(4_096);
        let (work_tx, work_rx) = mpsc::channel::<DueThread>(config.workers.max(1) * 2);
        let mut tasks = JoinSet::new();

        let discovery = Discovery::new(
            chain.clone(),
            index.clone(),
            changes_tx.clone(),
            Duration::from_millis(config.reconcile_ms),
        )
        .with_metrics(metrics.clone());
        tasks.spawn(discovery.run(stopped()));

        let scheduler = Scheduler::new(SchedulerConfig::default());
        let scheduler_run = scheduler.run(
            chain.clone(),
            index.clone(),
            changes_rx,
            work_tx,
            Duration::from_millis(config.tick_ms),
            stopped(),
        );
        tasks.spawn(async move {
            scheduler_run.await;
        });

        tasks.spawn(run_workers(
            executor.clone(),
            degradation.clone(),
            work_rx,
            config.workers.max(1),
        ));

        let watched = WatchedNonces::new();
        tasks.spawn(run_confirmations(
            executor.clone(),
            chain.clone(),
            index.clone(),
            changes_tx.clone(),
            degradation.clone(),
            watched.clone(),
            me,
            Duration::from_millis(config.confirm_ms),
            stopped(),
        ));
        tasks.spawn(run_replays(
            executor.clone(),
            Duration::from_millis(config.replay_ms),
            stopped(),
        ));

        let health = if let Some(addr) = config.health_addr {
            let registry = Arc::new(
                HealthRegistry::new(metrics.clone())
                    .with_check(RpcCheck::new(chain.clone(), Duration::from_secs(5)))
                    .with_check(NonceAccountsCheck::new(
                        chain.clone(),
                        metrics.clone(),
                        watched.clone(),
                    ))
                    .with_degradation(degradation.clone()),
            );
            let (addr, handle) = crate::http::spawn(addr, registry, stopped()).await?;
            tracing::info!(%addr, "serving /health, /ready and /metrics");
            if let Some(tx) = bound {
                let _ = tx.send(addr);
            }
            Some(handle)
        } else {
            None
        };

        shutdown.await;
        tracing::info!("shutting down: no new work; finishing in-flight executions");
        let _ = stop_tx.send(true);
        while tasks.join_next().await.is_some() {}

        // What is still unconfirmed stays persisted; the next start replays it.
        let deadline = tokio::time::Instant::now() + Duration::from_millis(config.drain_ms);
        while executor.in_flight_len() > 0 && tokio::time::Instant::now() < deadline {
            if executor.confirm_tick().await.is_err() {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            tokio::time::sleep(Duration::from_millis(config.confirm_ms.min(200))).await;
        }

        let leases_released = release_leases(&chain, &leases, &index, me).await;
        let _ = reclaimer.await;
        if let Some(handle) = health {
            let _ = handle.await;
        }
        let counts = store.counts()?;
        tracing::info!(?counts, leases_released, "keeper stopped");
        Ok(RunSummary {
            recovered,
            counts,
            leases_released,
        })
    }
}

/// Takes due threads from the scheduler and executes up to `workers` at once. Ends when
/// the scheduler closes the channel (it stops on shutdown) and the last worker is done.
async fn run_workers(
    executor: Arc<Executor>,
    degradation: Arc<DegradationMonitor>,
    mut work: mpsc::Receiver<DueThread>,
    workers: usize,
) {
    let permits = Arc::new(Semaphore::new(workers));
    let mut running = JoinSet::new();
    while let Some(due) = work.recv().await {
        let Ok(permit) = permits.clone().acquire_owned().await else {
            break;
        };
        let executor = executor.clone();
        let degradation = degradation.clone();
        running.spawn(async move {
            let _permit = permit;
            if !degradation.mode().allows_send() {
                return; // dropping the guard: not executed, issued again later
            }
            let outcome = executor.execute(due.thread, due.exec_count).await;
            match outcome {
                ExecOutcome::Submitted { .. } => {
                    degradation.record(true);
                    due.in_flight.executed();
                }
                ExecOutcome::Deferred { .. } => {
                    degradation.record(false);
                    due.in_flight.executed();
                }
                ExecOutcome::Skipped(SkipReason::AlreadyExecuted | SkipReason::InFlight) => {
                    due.in_flight.executed()
                }
                ExecOutcome::Skipped(_) => {}
                ExecOutcome::Failed(reason) => {
                    degradation.record(false);
                    tracing::warn!(thread = %due.thread, reason, "execution attempt failed");
                }
            }
        });
        while running.try_join_next().is_some() {}
    }
    while running.join_next().await.is_some() {}
}

/// Resolves sent executions and refreshes the threads they touched, so the scheduler
/// sees their new `next_due` without waiting for the next reconcile.
#[allow(clippy::too_many_arguments)]
async fn run_confirmations(
    executor: Arc<Executor>,
    chain: Arc<dyn Chain>,
    index: SharedIndex,
    changes: mpsc::Sender<ThreadChanged>,
    degradation: Arc<DegradationMonitor>,
    watched: WatchedNonces,
    me: Pubkey,
    every: Duration,
    stop: impl Future<Output = ()>,
) {
    tokio::pin!(stop);
    let mut ticks = tokio::time::interval(every.max(Duration::from_millis(1)));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            _ = &mut stop => return,
            _ = ticks.tick() => {}
        }
        match executor.confirm_tick().await {
            Ok(threads) if !threads.is_empty() => {
                refresh(&chain, &index, &changes, &threads).await;
            }
            Ok(_) => {}
            Err(e) => {
                degradation.record(false);
                tracing::warn!(error = %e, "confirmation poll failed");
            }
        }
        watched.replace(held_nonces(&index, me));
    }
}

/// Re-reads `threads` into the index and tells the scheduler.
async fn refresh(
    chain: &Arc<dyn Chain>,
    index: &SharedIndex,
    changes: &mpsc::Sender<ThreadChanged>,
    threads: &[Pubkey],
) {
    let Ok(clock) = chain.clock().await else {
        return;
    };
    let Ok(accounts) = chain.get_multiple_accounts(threads).await else {
        return;
    };
    {
        let mut index = index
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        for (key, account) in threads.iter().zip(accounts) {
            match account {
                Some(account) if account.owner == thread::ID => {
                    index.upsert(*key, clock.slot, &account.data);
                }
                _ => {
                    index.remove(key, clock.slot);
                }
            }
        }
    }
    for key in threads {
        let _ = changes.send(ThreadChanged(*key)).await;
    }
}

/// Nonce accounts this keeper holds live leases on, with itself as expected authority.
fn held_nonces(index: &SharedIndex, me: Pubkey) -> Vec<(Pubkey, Pubkey)> {
    read_index(index)
        .iter()
        .filter(|(_, t)| t.state.lease.is_some_and(|l| l.holder == me))
        .filter_map(|(_, t)| t.state.nonce_account().ok().map(|nonce| (nonce, me)))
        .collect()
}

async fn run_replays(executor: Arc<Executor>, every: Duration, stop: impl Future<Output = ()>) {
    tokio::pin!(stop);
    let mut ticks = tokio::time::interval(every.max(Duration::from_millis(1)));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            _ = &mut stop => return,
            _ = ticks.tick() => {
                executor.replay_tick().await;
            }
        }
    }
}

/// Hands back every lease this keeper holds, reading each thread afresh.
async fn release_leases(
    chain: &Arc<dyn Chain>,
    leases: &LeaseManager,
    index: &SharedIndex,
    me: Pubkey,
) -> usize {
    let ours: Vec<Pubkey> = read_index(index)
        .iter()
        .filter(|(_, t)| t.state.lease.is_some_and(|l| l.holder == me))
        .map(|(k, _)| *k)
        .collect();
    let mut released = 0;
    for thread in ours {
        let Ok(Some(account)) = chain.get_account(&thread).await else {
            continue;
        };
        let Ok(state) = <thread::state::Thread as anchor_lang::AccountDeserialize>::try_deserialize(
            &mut account.data.as_slice(),
        ) else {
            continue;
        };
        match leases.release(&thread, &state).await {
            Ok(()) => released += 1,
            Err(e) => {
                tracing::warn!(%thread, error = %e, "could not hand the lease back; it will expire")
            }
        }
    }
    released
}
