//! The keeper daemon: wires discovery, the scheduler, a bounded worker pool around the
//! executor, the confirmation and replay loops, lease upkeep, health and metrics, and
//! shuts them down in order.
//!
//! Owns: task lifetimes, the order of start-up (every check, the health port included,
//! passes before anything can send) and the order of shutdown (stop taking work, let
//! in-flight executions finish or stay persisted, hand leases back, exit), all of it
//! within one deadline, `shutdown_ms`. Must not: contain execution logic of its own;
//! every decision is in the subsystems.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::{Keypair, Signer};
use thread::state::Durability;
use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::JoinSet;

pub use crate::config::DaemonConfig;

use crate::chain::Chain;
use crate::execution::builder::priority::ExecutionPriority;
use crate::execution::builder::ExecutionBuilder;
use crate::execution::executor::{ExecEvent, ExecOutcome, Executor, SkipReason};
use crate::execution::leases::LeaseManager;
use crate::execution::nonce_pool::NoncePool;
use crate::leadership::{LeaderState, Leadership};
use crate::ops::degradation::{DegradationMonitor, OperatingMode};
use crate::ops::health::{
    HealthRegistry, Heartbeat, HeartbeatCheck, NonceAccountsCheck, RpcCheck, WatchedNonces,
};
use crate::ops::metrics::Metrics;
use crate::ops::notify::Notifier;
use crate::ops::outage_log::{LogAs, OutageLog};
use crate::store::{Store, StoreCounts};
use crate::tracking::discovery::{read_index, shared_index, Discovery, SharedIndex, ThreadChanged};
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
        config
            .validate()
            .map_err(|e| DaemonError::Config(e.to_string()))?;
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
        let notify_task = match Notifier::spawn(&config.notify, me.to_string(), metrics.clone()) {
            Some((notifier, task)) => {
                executor = executor.with_notifier(notifier);
                Some(task)
            }
            None => None,
        };
        let executor = Arc::new(executor);
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
        // The last start-up check, before anything can send: bind the health port. A
        // restart loop with the port taken must fail here every time, not after
        // recovery has replayed (sent) what the store holds.
        let watched = WatchedNonces::new();
        let heartbeat = Heartbeat::new();
        let health = if let Some(addr) = config.health_addr {
            let registry = Arc::new(
                HealthRegistry::new(metrics.clone())
                    .with_check(RpcCheck::new(chain.clone(), Duration::from_secs(5)))
                    .with_check(NonceAccountsCheck::new(
                        chain.clone(),
                        metrics.clone(),
                        watched.clone(),
                    ))
                    .with_check(HeartbeatCheck::new(
                        "scheduler",
                        heartbeat.clone(),
                        scheduler_stale_after(config.tick_ms),
                    ))
                    .with_degradation(degradation.clone())
                    .with_leadership(leadership.clone()),
            );
            let (addr, handle) = crate::ops::http::spawn(addr, registry, stopped())
                .await
                .map_err(|cause| DaemonError::HealthBind { addr, cause })?;
            tracing::info!(%addr, "serving /health, /ready and /metrics");
            if let Some(tx) = bound {
                let _ = tx.send(addr);
            }
            Some(handle)
        } else {
            None
        };

        // Only the explicit stop at the end of shutdown, once nothing of this keeper's is
        // under way, ends the campaign gracefully (revoking the lease). A run dropped where
        // it stands drops `campaign_stop` and the set, which aborts the campaign: not leader
        // at once, and the lease, unrevoked, expires after its TTL, as if the process died.
        let (campaign_stop, campaign_stopped) = tokio::sync::oneshot::channel::<()>();
        let mut campaign_task = JoinSet::new();
        campaign_task.spawn(campaign.run(async move {
            if campaign_stopped.await.is_err() {
                std::future::pending::<()>().await;
            }
        }));

        // A keeper of a fleet has not won anything yet: what it left unfinished waits in
        // the store for the replay loop, which runs only while it leads.
        let recovered = if leadership.is_leader() {
            executor.recover().await
        } else {
            0
        };
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

        let scheduler = Scheduler::new(SchedulerConfig::default()).with_heartbeat(heartbeat);
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
            leadership.clone(),
            index.clone(),
            work_rx,
            config.workers.max(1),
        ));

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
        tasks.spawn(hand_back_leases_on_step_down(
            leadership.clone(),
            chain.clone(),
            leases.clone(),
            index.clone(),
            me,
            stopped(),
        ));
        tasks.spawn(run_lease_upkeep(
            leases.clone(),
            index.clone(),
            me,
            Duration::from_millis(config.reconcile_ms),
            stopped(),
        ));
        tasks.spawn(run_replays(
            executor.clone(),
            degradation.clone(),
            leadership.clone(),
            Duration::from_millis(config.replay_ms),
            stopped(),
        ));

        shutdown.await;
        // One deadline for the whole shutdown: a supervisor's grace period does not
        // stretch because the chain is slow.
        let started = tokio::time::Instant::now();
        let deadline = started + Duration::from_millis(config.shutdown_ms);
        let drained_by = started + Duration::from_millis(config.drain_ms);
        tracing::info!(
            drain_ms = config.drain_ms,
            shutdown_ms = config.shutdown_ms,
            "shutting down: no new work; finishing in-flight executions"
        );
        let _ = stop_tx.send(true);
        // Workers finish the executions they hold until the drain deadline; one still
        // running then is cut off at an await point. The executor persists a row before
        // it sends, so what it had sent stays in the store and the next start replays it.
        if tokio::time::timeout_at(drained_by, async {
            while tasks.join_next().await.is_some() {}
        })
        .await
        .is_err()
        {
            tracing::warn!("drain deadline reached with executions still running; they stay persisted for the next start");
            tasks.shutdown().await;
        }

        // What is still unconfirmed stays persisted; the next start replays it.
        while executor.in_flight_len() > 0 && tokio::time::Instant::now() < drained_by {
            let polled = tokio::time::timeout_at(drained_by, executor.confirm_tick()).await;
            if matches!(polled, Ok(Err(_))) {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            tokio::time::sleep(Duration::from_millis(config.confirm_ms.min(200))).await;
        }

        let handed_back_by = deadline - Duration::from_millis(LEAVE_FLEET_MS);
        let HandedBack {
            released: leases_released,
            left: leases_left,
        } = release_leases(&chain, &leases, &index, me, handed_back_by).await;
        // Only now, with nothing of this keeper's under way, may another one lead.
        let _ = campaign_stop.send(());
        if tokio::time::timeout_at(deadline, campaign_task.join_next())
            .await
            .is_err()
        {
            // Dropped, the campaign stops where it stands: its etcd lease, unrevoked,
            // expires after its TTL, as if the process had died.
            tracing::warn!("shutdown deadline reached before leaving the fleet");
        }
        let _ = tokio::time::timeout_at(deadline, reclaimer).await;
        if let Some(handle) = health {
            if tokio::time::timeout_at(deadline, handle).await.is_err() {
                tracing::warn!("shutdown deadline reached before the health server stopped");
            }
        }
        // The notifier's queue closes with the executor: give what it holds a moment to
        // reach the webhooks.
        drop(executor);
        if let Some(task) = notify_task {
            if tokio::time::timeout(NOTIFY_DRAIN, task).await.is_err() {
                tracing::warn!("dead-letter notifications still queued at shutdown were not sent");
            }
        }
        let counts = store.counts()?;
        tracing::info!(
            ?counts,
            leases_released,
            leases_left = leases_left.len(),
            took_ms = started.elapsed().as_millis() as u64,
            "keeper stopped"
        );
        Ok(RunSummary {
            recovered,
            counts,
            leases_released,
            leases_left,
        })
    }
}

/// How long `/ready` lets the scheduler go without completing a tick: a few periods, and
/// never less than a slow RPC answer (a tick waits for the chain's clock) could take.
fn scheduler_stale_after(tick_ms: u64) -> Duration {
    Duration::from_millis(tick_ms.saturating_mul(5)).max(Duration::from_secs(15))
}

/// The priority `thread` would run at, from the index's view of its durability; a
/// thread the index does not hold counts as not durable (the executor reads the chain
/// before it does anything).
fn priority_of(executor: &Executor, index: &SharedIndex, thread: &Pubkey) -> ExecutionPriority {
    let (durable, owner) = read_index(index).get(thread).map_or((false, None), |t| {
        (
            matches!(t.state.durability, Durability::Durable { .. }),
            t.state.priority,
        )
    });
    executor.effective_priority(durable, owner)
}

/// Executions run at once in `mode`: the mode's share of `workers`, at least one
/// (Maintenance admits nothing anyway).
fn concurrency(mode: OperatingMode, workers: usize) -> usize {
    (workers * usize::from(mode.throughput_percent()) / 100).max(1)
}

/// Takes due threads from the scheduler and executes up to `workers` at once, as the
/// operating mode allows: Degraded runs at most its share of the workers at once and
/// only the priorities it admits, Maintenance nothing. A thread not admitted is handed
/// back (its guard dropped): the scheduler issues it again after its cool-down. Ends
/// when the scheduler closes the channel (it stops on shutdown) and the last worker is
/// done.
async fn run_workers(
    executor: Arc<Executor>,
    degradation: Arc<DegradationMonitor>,
    leadership: Leadership,
    index: SharedIndex,
    mut work: mpsc::Receiver<DueThread>,
    workers: usize,
) {
    let mut running = JoinSet::new();
    while let Some(due) = work.recv().await {
        let mode = loop {
            while running.try_join_next().is_some() {}
            let mode = degradation.mode();
            if running.len() < concurrency(mode, workers) {
                break mode;
            }
            running.join_next().await;
        };
        if !leadership.is_leader() {
            // Another keeper of the fleet executes; this one stays warm. Handed back,
            // the thread is issued again later, in case this keeper leads by then.
            tracing::trace!(thread = %due.thread, "not leading; not executed");
            continue;
        }
        let priority = priority_of(&executor, &index, &due.thread);
        if !mode.admits(priority) {
            tracing::debug!(
                thread = %due.thread,
                mode = mode.as_str(),
                priority = priority.as_str(),
                "not admitted in this operating mode; issued again later"
            );
            continue;
        }
        let executor = executor.clone();
        let degradation = degradation.clone();
        running.spawn(async move {
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
                // The thread's own problem, not the keeper's health: not recorded, or a
                // few broken threads would throttle everybody else's.
                ExecOutcome::Refused {
                    dead_letter: Some(_),
                    ..
                } => due.in_flight.executed(),
                ExecOutcome::Refused { .. } => {}
                ExecOutcome::Busy(reason) => {
                    tracing::debug!(thread = %due.thread, reason, "busy; offered again later")
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
    let mut outage = OutageLog::new(Duration::from_secs(60));
    loop {
        tokio::select! {
            biased;
            _ = &mut stop => return,
            _ = ticks.tick() => {}
        }
        let polled = executor.confirm_tick().await;
        if polled.is_ok() {
            if let LogAs::Recovered { failures, lasted } = outage.succeeded() {
                tracing::info!(failures, ?lasted, "confirmation polls answer again");
            }
        }
        match polled {
            Ok(threads) if !threads.is_empty() => {
                refresh(&chain, &index, &changes, &threads).await;
            }
            Ok(_) => {}
            Err(e) => {
                degradation.record(false);
                match outage.failed(e.kind()) {
                    LogAs::Warn => {
                        tracing::warn!(kind = e.kind(), error = %e, "confirmation poll failed; quiet until it changes or recovers")
                    }
                    LogAs::Reminder { failures, since } => {
                        tracing::warn!(kind = e.kind(), error = %e, failures, ?since, "confirmation polls still failing")
                    }
                    _ => tracing::debug!(kind = e.kind(), error = %e, "confirmation poll failed"),
                }
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
        let mut index = index.write();
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
        .leased_by(&me)
        .filter_map(|(_, t)| t.state.nonce_account().ok().map(|nonce| (nonce, me)))
        .collect()
}

/// Replays what is due every `every`, except in Maintenance: a replay is a send.
async fn run_replays(
    executor: Arc<Executor>,
    degradation: Arc<DegradationMonitor>,
    leadership: Leadership,
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
            _ = ticks.tick() => {
                let mode = degradation.mode();
                if mode.allows_send() && leadership.is_leader() {
                    executor.replay_tick_admitting(|priority| mode.admits(priority)).await;
                }
            }
        }
    }
}

/// Every `every`, tidies this keeper's leases ([`LeaseManager::tidy`]): hands back a
/// lease it has no use for before it lapses into a forfeit, and empties old nonce
/// accounts it is still the authority of.
async fn run_lease_upkeep(
    leases: Arc<LeaseManager>,
    index: SharedIndex,
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
        let mut threads: Vec<Pubkey> = read_index(&index).leased_by(&me).map(|(k, _)| *k).collect();
        threads.extend(leases.remembered_threads());
        threads.sort();
        threads.dedup();
        // Stopping cuts a pass short: shutdown hands every lease back anyway.
        tokio::select! {
            biased;
            _ = &mut stop => return,
            tidied = leases.tidy(&threads) => {
                if let Err(e) = tidied {
                    tracing::debug!(kind = e.kind(), error = %e, "lease upkeep pass failed; trying again later");
                }
            }
        }
    }
}

/// Whenever this keeper stops leading (but keeps running), hands its durable threads'
/// on-chain leases back, so the new leader need not wait for them to expire.
async fn hand_back_leases_on_step_down(
    leadership: Leadership,
    chain: Arc<dyn Chain>,
    leases: Arc<LeaseManager>,
    index: SharedIndex,
    me: Pubkey,
    stop: impl Future<Output = ()>,
) {
    tokio::pin!(stop);
    let mut states = leadership.watch();
    let mut led = states.borrow_and_update().is_leader();
    loop {
        tokio::select! {
            biased;
            _ = &mut stop => return,
            changed = states.changed() => {
                if changed.is_err() {
                    return; // the campaign is over: shutdown hands leases back
                }
            }
        }
        let state = states.borrow_and_update().clone();
        let leads = state.is_leader();
        if led && !leads && !matches!(state, LeaderState::Stopped) {
            let by = tokio::time::Instant::now() + leases.confirm_timeout();
            let HandedBack { released, left } =
                release_leases(&chain, &leases, &index, me, by).await;
            tracing::info!(
                released,
                left = left.len(),
                state = state.as_str(),
                "no longer leading: on-chain leases handed back"
            );
        }
        led = leads;
    }
}

/// What [`release_leases`] did.
struct HandedBack {
    released: usize,
    /// Threads whose lease is still this keeper's (not confirmed handed back by the
    /// deadline, or refused): they expire on chain.
    left: Vec<Pubkey>,
}

/// Hands back every lease this keeper holds, reading each thread afresh, all at once:
/// one slow confirmation must not hold up the others, and whatever is not confirmed by
/// `by` is left to expire (the transaction may still land; the chain settles it).
async fn release_leases(
    chain: &Arc<dyn Chain>,
    leases: &Arc<LeaseManager>,
    index: &SharedIndex,
    me: Pubkey,
    by: tokio::time::Instant,
) -> HandedBack {
    let ours: Vec<Pubkey> = read_index(index).leased_by(&me).map(|(k, _)| *k).collect();
    let mut pending: std::collections::BTreeSet<Pubkey> = ours.iter().copied().collect();
    let mut released = 0;
    let mut set = JoinSet::new();
    for thread in ours {
        let chain = chain.clone();
        let leases = leases.clone();
        set.spawn(async move {
            let state = match chain.get_account(&thread).await {
                Err(e) => return (thread, Err(e.into())),
                Ok(Some(account)) => {
                    <thread::state::Thread as anchor_lang::AccountDeserialize>::try_deserialize(
                        &mut account.data.as_slice(),
                    )
                    .ok()
                }
                _ => None,
            };
            let Some(state) = state else {
                // Gone, or not a thread any more: no lease left to hand back.
                return (thread, Ok(false));
            };
            (thread, leases.release(&thread, &state).await)
        });
    }
    loop {
        match tokio::time::timeout_at(by, set.join_next()).await {
            Ok(Some(Ok((thread, Ok(true))))) => {
                pending.remove(&thread);
                released += 1;
            }
            Ok(Some(Ok((thread, Ok(false))))) => {
                pending.remove(&thread);
            }
            Ok(Some(Ok((thread, Err(e))))) => {
                tracing::warn!(%thread, kind = e.kind(), error = %e, "could not hand the lease back; it will expire")
            }
            Ok(Some(Err(_))) => {} // a panicked hand-back: its thread stays in `pending`
            Ok(None) => break,
            Err(_) => {
                set.abort_all();
                for thread in &pending {
                    tracing::warn!(%thread, "lease not handed back before the deadline; it will expire");
                }
                break;
            }
        }
    }
    HandedBack {
        released,
        left: pending.into_iter().collect(),
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
