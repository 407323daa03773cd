//! The executor: turns a due thread into exactly one landed execution.
//!
//! Owns: judging a due thread against its on-chain state, holding its lease (durable
//! threads), building, persisting before sending, sending, batched confirmation, and the
//! replay of unconfirmed executions (priority delays, nonce refresh, dead-lettering after
//! `max_retries`). Must not: decide when a thread is due (the scheduler does) or talk to
//! any chain but through `Chain`.
//!
//! Exactly once: the thread program runs each due time of a thread at most once (every
//! execution moves `next_due` on and bumps `exec_count`), so the keeper only has to make
//! sure nothing is lost. Each execution is identified by (thread, `exec_count` when
//! built) and persisted before it is sent; after a crash, a failure or a timeout the
//! thread's on-chain `exec_count` tells whether it already ran.
//!
//! The chain decides, never a row: a row records the read it rests on
//! ([`ThreadContext`]: the slot and the thread's `created_at`). An answer that
//! contradicts it (the thread absent, re-created, or back at an earlier `exec_count`) is
//! believed only from a read at that slot or later; an older one (a lagging node) puts
//! the row off without counting an attempt. A finished row (superseded, confirmed, or
//! dead-lettered for an earlier incarnation of the thread) never stops a due time the
//! chain, read at or after the row's slot, still shows unexecuted: the row is reopened
//! for it. Each supersede is logged with its reason.

use parking_lot::Mutex;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use anchor_lang::AccountDeserialize;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::Signature;
use solana_sdk::transaction::{TransactionError, VersionedTransaction};
use thread::state::{Durability, Thread};

use crate::chain::{Chain, ChainError};
use crate::execution::build_failures::BuildFailures;
use crate::execution::builder::priority::ExecutionPriority;
use crate::execution::builder::{
    parse_nonce, BuildError, ExecutionBuilder, ThreadExecution, TxBuildOutput, TxConfig,
};
use crate::execution::leases::{LeaseManager, LeaseStatus};
use crate::execution::retry::{jitter_seed, replay_delay, RetryStrategy};
use crate::ops::metrics::Metrics;
use crate::ops::notify::Notifier;
use crate::store::{
    ExecState, Execution, NewExecution, RetryDecision, Store, ThreadContext, UnbuiltExecution,
};

/// Executor settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExecutorConfig {
    /// Attempts after the first before an execution is dead-lettered.
    pub max_retries: u32,
    /// Priority of non-durable executions.
    pub non_durable_priority: ExecutionPriority,
    /// Priority of durable executions (raised from Low by the builder's policy).
    pub durable_priority: ExecutionPriority,
    /// The lowest priority an owner's choice is honoured at: below it, this.
    pub owner_priority_floor: ExecutionPriority,
    /// The highest priority an owner's choice is honoured at: above it, this (a higher
    /// priority costs this keeper more in compute-unit price).
    pub owner_priority_ceiling: ExecutionPriority,
    /// A sent transaction with no status after this long is treated as dropped and
    /// replayed (seconds).
    pub confirm_timeout_secs: u64,
    /// Rows taken per replay tick.
    pub replay_batch: usize,
    /// Longest wait between two replays of one execution (seconds): the priority's base
    /// delay doubles per replay up to this.
    pub replay_max_delay_secs: u64,
    /// Backoff of a send the endpoint did not answer, within one attempt
    /// (`[daemon.executor.send_retry]`); what still fails goes to the replay queue.
    pub send_retry: RetryStrategy,
}

/// The send backoff by default: 200 ms doubling to 2 s, three tries, ±10 % jitter. Short,
/// since a non-durable transaction's blockhash lives about a minute and the replay queue
/// takes over after.
pub fn default_send_retry() -> RetryStrategy {
    RetryStrategy {
        initial_delay: std::time::Duration::from_millis(200),
        max_delay: std::time::Duration::from_secs(2),
        multiplier: 2.0,
        max_attempts: 3,
        jitter: 0.1,
    }
}

impl Default for ExecutorConfig {
    fn default() -> Self {
        Self {
            max_retries: 5,
            non_durable_priority: ExecutionPriority::Medium,
            durable_priority: ExecutionPriority::High,
            owner_priority_floor: ExecutionPriority::Low,
            owner_priority_ceiling: ExecutionPriority::Critical,
            confirm_timeout_secs: 60,
            replay_batch: 64,
            replay_max_delay_secs: 600,
            send_retry: default_send_retry(),
        }
    }
}

/// What happened to one due thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecOutcome {
    /// Sent; confirmation follows in `confirm_tick`.
    Submitted { id: i64, signature: Signature },
    /// Persisted but not sent yet (the chain was unavailable); the replay takes over.
    Deferred { id: i64, reason: String },
    /// Nothing to do: already executed, paused, gone, not ours, or not yet due.
    Skipped(SkipReason),
    /// Could not be built or persisted; the scheduler will offer it again.
    Failed(String),
    /// Another build holds the thread's nonce, or this build outlived its nonce lease:
    /// contention, not an error of the keeper or the chain. Offered again later.
    Busy(String),
    /// The chain refused to build it for a reason of the thread's own (see
    /// [`BuildError::is_thread_fault`]); not the keeper's health. `dead_letter` is the
    /// execution id once `max_retries` such attempts in a row have moved the due time
    /// into the dead-letter queue; until then the scheduler offers it again.
    Refused {
        reason: String,
        dead_letter: Option<i64>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipReason {
    Gone,
    Paused,
    AlreadyExecuted,
    NotDue,
    LeasedByOther(Pubkey),
    InFlight,
}

/// What the executor did, for whoever watches (the sandbox prints these).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecEvent {
    Submitted {
        thread: Pubkey,
        exec_count: u64,
        signature: Signature,
        durable: bool,
    },
    Confirmed {
        thread: Pubkey,
        exec_count: u64,
        signature: Signature,
    },
    Replayed {
        thread: Pubkey,
        exec_count: u64,
        retry: bool,
    },
    Superseded {
        thread: Pubkey,
        exec_count: u64,
    },
    DeadLettered {
        thread: Pubkey,
        exec_count: u64,
        reason: String,
    },
}

/// A sent execution waiting for its status; holds the nonce guard until it resolves.
struct InFlight {
    id: i64,
    thread: Pubkey,
    exec_count: u64,
    sent_at: tokio::time::Instant,
    output: Option<TxBuildOutput>,
}

pub struct Executor {
    chain: Arc<dyn Chain>,
    builder: Arc<ExecutionBuilder>,
    leases: Arc<LeaseManager>,
    store: Store,
    metrics: Arc<Metrics>,
    config: ExecutorConfig,
    in_flight: Mutex<HashMap<Signature, InFlight>>,
    /// Due times (thread, `exec_count`) `execute` is persisting and sending. A persisted
    /// execution is due for replay at once, so without this the replay loop could send
    /// it a second time (rebuilt, for a non-durable thread) while its first send is
    /// still under way.
    sending: Arc<Mutex<HashSet<(Pubkey, u64)>>>,
    /// Builds the chain refused, towards dead-lettering a due time never sent.
    build_failures: BuildFailures,
    events: Option<tokio::sync::broadcast::Sender<ExecEvent>>,
    /// Jitter of the send and replay backoffs; seeded by tests ([`Executor::with_seed`]).
    rng: Mutex<SmallRng>,
    /// Announces dead letters to webhooks, when any are configured.
    notifier: Option<Notifier>,
}

/// Marks a due time as being persisted and sent by `execute` until dropped.
struct Sending {
    due_times: Arc<Mutex<HashSet<(Pubkey, u64)>>>,
    due_time: (Pubkey, u64),
}

impl Drop for Sending {
    fn drop(&mut self) {
        self.due_times.lock().remove(&self.due_time);
    }
}

impl Executor {
    pub fn new(
        chain: Arc<dyn Chain>,
        builder: Arc<ExecutionBuilder>,
        leases: Arc<LeaseManager>,
        store: Store,
        metrics: Arc<Metrics>,
        config: ExecutorConfig,
    ) -> Self {
        Self {
            chain,
            builder,
            leases,
            store,
            metrics,
            config,
            in_flight: Mutex::new(HashMap::new()),
            sending: Arc::default(),
            build_failures: BuildFailures::new(),
            events: None,
            rng: Mutex::new(SmallRng::seed_from_u64(jitter_seed())),
            notifier: None,
        }
    }

    /// Hands every dead letter to `notifier`.
    pub fn with_notifier(mut self, notifier: Notifier) -> Self {
        self.notifier = Some(notifier);
        self
    }

    /// Draws the backoffs' jitter from `seed`, so a run's delays repeat.
    pub fn with_seed(self, seed: u64) -> Self {
        Self {
            rng: Mutex::new(SmallRng::seed_from_u64(seed)),
            ..self
        }
    }

    /// A generator of its own for one backoff, drawn from the executor's (a guard of
    /// the shared one cannot be held across the awaits of a retry loop).
    fn backoff_rng(&self) -> SmallRng {
        let mut rng = self.rng.lock();
        SmallRng::seed_from_u64(rng.random())
    }

    /// Publishes every `ExecEvent` on `events`.
    pub fn with_events(mut self, events: tokio::sync::broadcast::Sender<ExecEvent>) -> Self {
        self.events = Some(events);
        self
    }

    fn emit(&self, event: ExecEvent) {
        if let Some(events) = &self.events {
            let _ = events.send(event);
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn leases(&self) -> &LeaseManager {
        &self.leases
    }

    /// Executions sent and not yet resolved.
    pub fn in_flight_len(&self) -> usize {
        self.lock_in_flight().len()
    }

    fn lock_in_flight(&self) -> parking_lot::MutexGuard<'_, HashMap<Signature, InFlight>> {
        self.in_flight.lock()
    }

    /// The thread's current on-chain state, the judge of what has run.
    async fn thread_state(&self, thread: &Pubkey) -> Result<Option<Thread>, ChainError> {
        Ok(self.thread_read(thread).await?.state)
    }

    /// The thread's on-chain state with the slot it was read at.
    async fn thread_read(&self, thread: &Pubkey) -> Result<ThreadRead, ChainError> {
        let (slot, account) = self.chain.get_account_with_slot(thread).await?;
        let state = account
            .filter(|account| account.owner == thread::ID)
            .and_then(|account| Thread::try_deserialize(&mut account.data.as_slice()).ok());
        Ok(ThreadRead { slot, state })
    }

    fn priority_of(&self, state: &Thread) -> ExecutionPriority {
        let durable = matches!(state.durability, Durability::Durable { .. });
        self.requested_priority(durable, state.priority)
    }

    /// What an execution asks the builder for: the owner's priority, within this
    /// keeper's floor and ceiling, or else this keeper's default for the durability.
    fn requested_priority(
        &self,
        durable: bool,
        owner: Option<thread::state::ThreadPriority>,
    ) -> ExecutionPriority {
        match owner {
            Some(owner) => ExecutionPriority::from(owner)
                .max(self.config.owner_priority_floor)
                .min(self.config.owner_priority_ceiling),
            None if durable => self.config.durable_priority,
            None => self.config.non_durable_priority,
        }
    }

    /// The priority an execution of a durable (or non-durable) thread with the owner's
    /// priority `owner` runs at once the builder's policy has had its say: what an
    /// operating mode admits or not.
    pub fn effective_priority(
        &self,
        durable: bool,
        owner: Option<thread::state::ThreadPriority>,
    ) -> ExecutionPriority {
        self.builder
            .config()
            .priority
            .effective(Some(self.requested_priority(durable, owner)), durable)
    }

    /// Executes `thread`, which the scheduler found due at `exec_count`.
    pub async fn execute(&self, thread: Pubkey, exec_count: u64) -> ExecOutcome {
        let read = match self.thread_read(&thread).await {
            Ok(read) => read,
            Err(e) => return ExecOutcome::Failed(e.to_string()),
        };
        let (read_slot, mut state) = match read.state {
            Some(state) => (read.slot, state),
            None => return ExecOutcome::Skipped(SkipReason::Gone),
        };
        if state.exec_count != exec_count {
            return ExecOutcome::Skipped(SkipReason::AlreadyExecuted);
        }
        if state.paused {
            return ExecOutcome::Skipped(SkipReason::Paused);
        }
        // A persisted execution for this due time owns it while it is in flight,
        // replaying, or in the dead-letter queue until an operator retries it; a row the
        // chain has since contradicted does not, and is reopened below.
        let reopen = match self.store.find(&thread, exec_count) {
            Ok(Some(row)) => match owner_of_due_time(&row, read_slot, &state) {
                RowOwns::Yes => return ExecOutcome::Skipped(SkipReason::InFlight),
                RowOwns::AlreadyRan => return ExecOutcome::Skipped(SkipReason::AlreadyExecuted),
                RowOwns::No(reason) => {
                    if row.state.is_unfinished() {
                        self.supersede(&row, &reason, read_slot, true);
                    }
                    Some((row.id, reason))
                }
            },
            Ok(None) => None,
            Err(e) => return ExecOutcome::Failed(format!("store: {e}")),
        };
        let durable = matches!(state.durability, Durability::Durable { .. });
        if durable {
            let slot = match self.chain.clock().await {
                Ok(clock) => clock.slot,
                Err(e) => return ExecOutcome::Failed(e.to_string()),
            };
            match self.leases.ensure(&thread, &state, slot).await {
                Ok(LeaseStatus::Held { nonce, .. })
                    if state.nonce_account().ok() != Some(nonce) =>
                {
                    // Clearing another keeper's expired lease gave the thread a new nonce:
                    // build from the state that names it.
                    state = match self.thread_state(&thread).await {
                        Ok(Some(fresh)) if fresh.exec_count == exec_count => fresh,
                        Ok(Some(_)) => return ExecOutcome::Skipped(SkipReason::AlreadyExecuted),
                        Ok(None) => return ExecOutcome::Skipped(SkipReason::Gone),
                        Err(e) => return ExecOutcome::Failed(e.to_string()),
                    };
                }
                Ok(LeaseStatus::Held { .. }) => {}
                Ok(LeaseStatus::HeldByOther { holder, .. }) => {
                    return ExecOutcome::Skipped(SkipReason::LeasedByOther(holder))
                }
                Err(e) => return ExecOutcome::Failed(format!("lease: {e}")),
            }
        }
        let priority = self.priority_of(&state);
        let output = match self.build(&thread, &state, priority).await {
            Ok(output) => output,
            Err(BuildError::SimulationFailed { err, .. }) if is_not_due(&err) => {
                return ExecOutcome::Skipped(SkipReason::NotDue)
            }
            Err(e @ (BuildError::NonceUnavailable(_) | BuildError::LeaseExpired(_))) => {
                return ExecOutcome::Busy(format!("build: {e}"))
            }
            Err(e) if e.is_thread_fault() => {
                return self.refused(thread, exec_count, priority, &format!("build: {e}"))
            }
            Err(e) => return ExecOutcome::Failed(format!("build: {e}")),
        };
        self.build_failures.clear(&thread);
        let record = NewExecution {
            thread,
            exec_count_at_build: exec_count,
            nonce_account: state.nonce_account().ok(),
            nonce_value: durable
                .then(|| output.tx.message.recent_blockhash())
                .copied(),
            signature: output.tx.signatures[0],
            transaction: match bincode::serialize(&output.tx) {
                Ok(bytes) => bytes,
                Err(e) => return ExecOutcome::Failed(format!("serialize: {e}")),
            },
            priority: output.priority,
            max_retries: self.config.max_retries,
            context: Some(ThreadContext {
                slot: read_slot,
                created_at: state.created_at,
            }),
        };
        let _sending = self.mark_sending(thread, exec_count);
        let id = match reopen {
            Some((id, reason)) => {
                tracing::warn!(%thread, exec_count, id, reason, "the chain shows the due time unexecuted; its finished execution is reopened");
                match self
                    .store
                    .reopen(id, &record, &format!("reopened: {reason}"))
                {
                    Ok(()) => id,
                    Err(e) => return ExecOutcome::Failed(format!("reopen: {e}")),
                }
            }
            None => match self.store.persist(record) {
                Ok(id) => id,
                Err(e) => return ExecOutcome::Failed(format!("persist: {e}")),
            },
        };
        self.send(id, &thread, exec_count, output).await
    }

    /// Counts a build the chain refused; after the first attempt and `max_retries` more
    /// in a row, records the due time in the dead-letter queue (it was never signed, so
    /// a later `keeper dlq retry` builds it afresh) and alerts like any dead letter.
    fn refused(
        &self,
        thread: Pubkey,
        exec_count: u64,
        priority: ExecutionPriority,
        reason: &str,
    ) -> ExecOutcome {
        let attempts = self.build_failures.record(thread, exec_count);
        if attempts <= self.config.max_retries {
            tracing::warn!(%thread, exec_count, attempts, reason, "the chain refused the execution; trying again when next offered");
            return ExecOutcome::Refused {
                reason: reason.to_string(),
                dead_letter: None,
            };
        }
        let unbuilt = UnbuiltExecution {
            thread,
            exec_count,
            priority,
            max_retries: self.config.max_retries,
            attempts,
        };
        let dead_letter = match self.store.dead_letter_unbuilt(&unbuilt, reason) {
            Ok(Some(id)) => {
                self.build_failures.clear(&thread);
                self.dead_lettered(id, thread, exec_count, reason);
                Some(id)
            }
            // Another path persisted this due time meanwhile: that row owns it.
            Ok(None) => {
                self.build_failures.clear(&thread);
                None
            }
            Err(e) => {
                tracing::error!(%thread, exec_count, error = %e, "could not dead-letter a refused execution");
                None
            }
        };
        ExecOutcome::Refused {
            reason: reason.to_string(),
            dead_letter,
        }
    }

    /// The alert of a dead letter: log line, metrics, event.
    fn dead_lettered(&self, id: i64, thread: Pubkey, exec_count: u64, reason: &str) {
        self.metrics.dead_lettered_total.inc();
        if let Ok(dlq) = self.store.dlq_len() {
            self.metrics
                .dlq_size
                .set(i64::try_from(dlq).unwrap_or(i64::MAX));
        }
        tracing::error!(id, %thread, exec_count, reason, "execution moved to the dead-letter queue");
        if let Some(notifier) = &self.notifier {
            match self.store.dead_letter_of_execution(id) {
                Ok(Some(entry)) => notifier.dead_letter(&entry),
                Ok(None) => {}
                Err(e) => {
                    tracing::error!(id, error = %e, "could not read the dead letter to announce it")
                }
            }
        }
        self.emit(ExecEvent::DeadLettered {
            thread,
            exec_count,
            reason: reason.to_string(),
        });
    }

    fn mark_sending(&self, thread: Pubkey, exec_count: u64) -> Sending {
        self.lock_sending().insert((thread, exec_count));
        Sending {
            due_times: self.sending.clone(),
            due_time: (thread, exec_count),
        }
    }

    fn lock_sending(&self) -> parking_lot::MutexGuard<'_, HashSet<(Pubkey, u64)>> {
        self.sending.lock()
    }

    /// Threads with an execution sent and not yet resolved.
    pub fn in_flight_threads(&self) -> Vec<Pubkey> {
        self.lock_in_flight().values().map(|f| f.thread).collect()
    }

    async fn build(
        &self,
        thread: &Pubkey,
        state: &Thread,
        priority: ExecutionPriority,
    ) -> Result<TxBuildOutput, BuildError> {
        let durable = matches!(state.durability, Durability::Durable { .. });
        let config = TxConfig {
            priority: Some(priority),
            ..TxConfig::default()
        };
        let exec = ThreadExecution {
            thread: *thread,
            state,
        };
        let result = self
            .builder
            .build_execution_output(exec, &config, true, durable)
            .await;
        if let (Err(BuildError::SimulationFailed { err, .. }), Ok(nonce)) =
            (&result, state.nonce_account())
        {
            // A durable simulation anchored on a stale cached nonce value fails like this;
            // the next build reads the value afresh.
            if matches!(err, TransactionError::BlockhashNotFound) {
                self.builder.pool().invalidate(&nonce);
            }
        }
        result
    }

    /// Sends a persisted execution and records the outcome.
    async fn send(
        &self,
        id: i64,
        thread: &Pubkey,
        exec_count: u64,
        mut output: TxBuildOutput,
    ) -> ExecOutcome {
        let priority = output.priority;
        match self.send_with_backoff(&output.tx).await {
            Ok(signature) => {
                if let Err(e) = self.store.mark_sent(id, self.store.now()) {
                    tracing::error!(id, error = %e, "could not record a sent execution");
                }
                if let Some(guard) = output.nonce_guard.as_mut() {
                    guard.mark_used();
                }
                self.metrics
                    .executions_submitted_total
                    .with_label_values(&[priority.as_str()])
                    .inc();
                let durable = output.nonce_guard.is_some();
                self.lock_in_flight().insert(
                    signature,
                    InFlight {
                        id,
                        thread: *thread,
                        exec_count,
                        sent_at: tokio::time::Instant::now(),
                        output: Some(output),
                    },
                );
                self.emit(ExecEvent::Submitted {
                    thread: *thread,
                    exec_count,
                    signature,
                    durable,
                });
                ExecOutcome::Submitted { id, signature }
            }
            Err(e) => {
                if let Some(guard) = &output.nonce_guard {
                    // A send without an answer may still have landed and advanced the
                    // nonce; a rejected one may have been signed on a stale value.
                    self.builder.pool().invalidate(&guard.nonce());
                }
                let _ = output.release_nonce();
                let reason = e.to_string();
                self.retry_later(id, priority, &reason);
                ExecOutcome::Deferred { id, reason }
            }
        }
    }

    /// Sends `tx`, trying again after [`ExecutorConfig::send_retry`]'s backoff while the
    /// endpoint does not answer. A resend is the same signed transaction, so it can land
    /// at most once; a resend answered `AlreadyProcessed` means an earlier try landed.
    async fn send_with_backoff(&self, tx: &VersionedTransaction) -> Result<Signature, ChainError> {
        let tries = std::sync::atomic::AtomicU32::new(0);
        let mut rng = self.backoff_rng();
        self.config
            .send_retry
            .execute(
                &mut rng,
                || async {
                    let resend = tries.fetch_add(1, std::sync::atomic::Ordering::Relaxed) > 0;
                    if resend {
                        self.metrics.send_retries_total.inc();
                    }
                    match self.chain.send(tx).await {
                        Err(ChainError::Rejected(TransactionError::AlreadyProcessed)) if resend => {
                            Ok(tx.signatures[0])
                        }
                        answer => answer,
                    }
                },
                ChainError::is_retryable,
            )
            .await
    }

    /// The wait before the next replay of an execution that has been replayed
    /// `retries_made` times (see [`crate::execution::retry::replay_delay`]), in whole seconds, at
    /// least one.
    pub fn replay_delay_secs(&self, priority: ExecutionPriority, retries_made: u32) -> i64 {
        let mut rng = self.rng.lock();
        let delay = replay_delay(
            priority.replay_delay(),
            retries_made,
            std::time::Duration::from_secs(self.config.replay_max_delay_secs),
            &mut *rng,
        );
        i64::try_from(delay.as_secs_f64().round() as u64)
            .unwrap_or(i64::MAX)
            .max(1)
    }

    /// Schedules the next attempt after the replay backoff, or dead-letters.
    fn retry_later(&self, id: i64, priority: ExecutionPriority, reason: &str) {
        // One read serves both the backoff (replays made so far) and a dead letter's
        // alert (thread and due time); scheduling changes neither.
        let row = self.store.get(id).ok().flatten();
        let retries_made = row.as_ref().map_or(0, |row| row.retry_count);
        let delay = self.replay_delay_secs(priority, retries_made);
        let at = self.store.now().saturating_add(delay);
        match self.store.schedule_retry(id, at, reason) {
            Ok(RetryDecision::DeadLettered) => match row {
                Some(row) => self.dead_lettered(id, row.thread, row.exec_count_at_build, reason),
                None => tracing::error!(id, reason, "execution moved to the dead-letter queue"),
            },
            Ok(RetryDecision::Scheduled { retry_count }) => {
                tracing::warn!(
                    id,
                    retry_count,
                    delay_secs = delay,
                    reason,
                    "execution will be replayed"
                );
            }
            Err(e) => tracing::error!(id, error = %e, "could not schedule a replay"),
        }
    }

    /// Resolves sent executions with one `getSignatureStatuses` per 256 signatures, and
    /// returns the threads whose executions resolved (their state changed, or they may be
    /// issued again).
    pub async fn confirm_tick(&self) -> Result<Vec<Pubkey>, ChainError> {
        let pending: Vec<(Signature, Pubkey)> = self
            .lock_in_flight()
            .iter()
            .map(|(s, f)| (*s, f.thread))
            .collect();
        let pending_threads: HashMap<Signature, Pubkey> = pending.iter().copied().collect();
        let pending: Vec<Signature> = pending.into_iter().map(|(s, _)| s).collect();
        let mut resolved = Vec::new();
        for chunk in pending.chunks(256) {
            let statuses = self.chain.signature_statuses(chunk).await?;
            for (signature, status) in chunk.iter().zip(statuses) {
                match status {
                    Some(status) if status.err.is_none() && status.confirmed => {
                        self.resolve_confirmed(signature, status.slot);
                        resolved.extend(pending_threads.get(signature));
                    }
                    Some(status) => {
                        if let Some(err) = status.err {
                            self.resolve_failed(signature, err).await;
                            resolved.extend(pending_threads.get(signature));
                        }
                    }
                    None => {
                        if self.resolve_if_timed_out(signature) {
                            resolved.extend(pending_threads.get(signature));
                        }
                    }
                }
            }
        }
        Ok(resolved)
    }

    fn take_in_flight(&self, signature: &Signature) -> Option<InFlight> {
        self.lock_in_flight().remove(signature)
    }

    /// Hands a resolved execution's nonce back with its cached value invalidated: landed,
    /// failed on chain, or perhaps landed unseen, the nonce may have moved. Returns the
    /// priority it was built at and whether it was durable; `None` for a replayed send,
    /// which holds no build output.
    fn release_nonce_of(&self, flight: &mut InFlight) -> Option<(ExecutionPriority, bool)> {
        let output = flight.output.take()?;
        let durable = output.nonce_guard.is_some();
        if let Some(guard) = &output.nonce_guard {
            self.builder.pool().invalidate(&guard.nonce());
        }
        let priority = output.priority;
        let _ = output.release_nonce();
        Some((priority, durable))
    }

    fn resolve_confirmed(&self, signature: &Signature, slot: u64) {
        let Some(mut flight) = self.take_in_flight(signature) else {
            return;
        };
        if let Err(e) = self.store.mark_confirmed_at(flight.id, slot) {
            tracing::error!(id = flight.id, error = %e, "could not record a confirmation");
        }
        if let Some((_, true)) = self.release_nonce_of(&mut flight) {
            // The nonce advanced with this transaction.
            self.metrics.nonce_advances_total.inc();
        }
        self.metrics.executions_confirmed_total.inc();
        self.metrics
            .confirmation_latency_seconds
            .observe(flight.sent_at.elapsed().as_secs_f64());
        tracing::info!(thread = %flight.thread, exec_count = flight.exec_count, %signature, "execution confirmed");
        self.emit(ExecEvent::Confirmed {
            thread: flight.thread,
            exec_count: flight.exec_count,
            signature: *signature,
        });
    }

    async fn resolve_failed(&self, signature: &Signature, err: TransactionError) {
        let Some(mut flight) = self.take_in_flight(signature) else {
            return;
        };
        // A durable transaction that executed and failed still advanced its nonce.
        let priority = self
            .release_nonce_of(&mut flight)
            .map_or(ExecutionPriority::Medium, |(priority, _)| priority);
        self.metrics
            .executions_failed_total
            .with_label_values(&["on_chain"])
            .inc();
        let failed = format!("failed on chain: {err}");
        let (row, read) = match (
            self.store.get(flight.id),
            self.thread_read(&flight.thread).await,
        ) {
            (Ok(Some(row)), Ok(read)) => (row, read),
            _ => return self.retry_later(flight.id, priority, &failed),
        };
        match judge(&row, &read) {
            Verdict::Current => self.retry_later(flight.id, priority, &failed),
            Verdict::Ran => self.supersede(
                &row,
                "the due time ran in another transaction",
                read.slot,
                false,
            ),
            verdict => {
                self.settle_contradicted(&row, verdict, read.slot);
            }
        }
    }

    /// A sent transaction the chain never reported: dropped somewhere. Replay it.
    fn resolve_if_timed_out(&self, signature: &Signature) -> bool {
        let timeout = Duration::from_secs(self.config.confirm_timeout_secs);
        let expired = self
            .lock_in_flight()
            .get(signature)
            .is_some_and(|f| f.sent_at.elapsed() >= timeout);
        if !expired {
            return false;
        }
        let Some(mut flight) = self.take_in_flight(signature) else {
            return false;
        };
        // It may land yet, or have landed unseen: the cached value is suspect.
        let priority = self
            .release_nonce_of(&mut flight)
            .map_or(ExecutionPriority::Medium, |(priority, _)| priority);
        self.retry_later(
            flight.id,
            priority,
            "no status before the confirmation timeout",
        );
        true
    }

    /// Replays executions whose next attempt is due: re-sends the stored transaction, or
    /// rebuilds it when its nonce has advanced (or its blockhash expired) without it.
    pub async fn replay_tick(&self) -> usize {
        self.replay_tick_admitting(|_| true).await
    }

    /// [`Executor::replay_tick`] for the executions whose priority `admits` (an operating
    /// mode's rule); the others stay due, untouched, for a later tick.
    pub async fn replay_tick_admitting(&self, admits: impl Fn(ExecutionPriority) -> bool) -> usize {
        let rows = match self
            .store
            .due_for_replay(self.store.now(), self.config.replay_batch)
        {
            Ok(rows) => rows,
            Err(e) => {
                tracing::error!(error = %e, "reading the replay queue failed");
                return 0;
            }
        };
        let mut replayed = 0;
        for row in rows {
            if !admits(row.priority) {
                continue;
            }
            if self.lock_in_flight().values().any(|f| f.id == row.id)
                || self
                    .lock_sending()
                    .contains(&(row.thread, row.exec_count_at_build))
            {
                continue;
            }
            self.metrics.replay_attempts_total.inc();
            if self.replay(row).await {
                replayed += 1;
            }
        }
        replayed
    }

    /// Every unfinished execution of a previous run, replayed now: the start-up recovery.
    pub async fn recover(&self) -> usize {
        let rows = match self.store.unfinished() {
            Ok(rows) => rows,
            Err(e) => {
                tracing::error!(error = %e, "reading unfinished executions failed");
                return 0;
            }
        };
        let count = rows.len();
        for row in rows {
            self.replay(row).await;
        }
        count
    }

    async fn replay(&self, row: Execution) -> bool {
        let read = match self.thread_read(&row.thread).await {
            Ok(read) => read,
            Err(e) => {
                self.retry_later(row.id, row.priority, &e.to_string());
                return false;
            }
        };
        let state = match judge(&row, &read) {
            Verdict::Current => match read.state {
                Some(state) => state,
                None => return false,
            },
            Verdict::Ran => {
                self.supersede(&row, "the due time already ran", read.slot, false);
                self.metrics.replay_successes_total.inc();
                return false;
            }
            verdict => {
                self.settle_contradicted(&row, verdict, read.slot);
                return false;
            }
        };
        let context = ThreadContext {
            slot: read.slot,
            created_at: state.created_at,
        };
        self.emit(ExecEvent::Replayed {
            thread: row.thread,
            exec_count: row.exec_count_at_build,
            retry: row.retry_count > 0,
        });
        let stored: Option<VersionedTransaction> = bincode::deserialize(&row.transaction).ok();
        let reusable = match (&state.durability, row.nonce_value, &stored) {
            (Durability::Durable { nonce_account }, Some(value), Some(_)) => {
                self.current_nonce_value(nonce_account).await == Some(value)
            }
            _ => false,
        };
        if reusable && row.state != ExecState::Dead {
            let tx = stored.unwrap_or_default();
            let output_priority = row.priority;
            let sent = self.send_with_backoff(&tx).await;
            if let Durability::Durable { nonce_account } = &state.durability {
                // Once the resent transaction lands the cached value is stale, and this
                // send holds no guard whose confirmation would clear it.
                self.builder.pool().invalidate(nonce_account);
            }
            return match sent {
                Ok(signature) => {
                    if let Err(e) = self.store.mark_sent(row.id, self.store.now()) {
                        tracing::error!(id = row.id, error = %e, "could not record a replayed send");
                    }
                    self.lock_in_flight().insert(
                        signature,
                        InFlight {
                            id: row.id,
                            thread: row.thread,
                            exec_count: row.exec_count_at_build,
                            sent_at: tokio::time::Instant::now(),
                            output: None,
                        },
                    );
                    true
                }
                Err(e) => {
                    self.retry_later(row.id, output_priority, &e.to_string());
                    false
                }
            };
        }
        // Rebuild: a non-durable blockhash expires, and a durable nonce that advanced
        // without this execution makes the stored transaction unusable.
        if matches!(state.durability, Durability::Durable { .. }) {
            let slot = self.chain.clock().await.map(|c| c.slot).unwrap_or_default();
            match self.leases.ensure(&row.thread, &state, slot).await {
                Ok(LeaseStatus::Held { .. }) => {}
                Ok(LeaseStatus::HeldByOther { holder, .. }) => {
                    self.supersede(&row, &format!("thread leased by {holder}"), read.slot, true);
                    return false;
                }
                Err(e) => {
                    self.retry_later(row.id, row.priority, &format!("lease: {e}"));
                    return false;
                }
            }
            if let Ok(nonce) = state.nonce_account() {
                self.builder.pool().invalidate(&nonce);
            }
        }
        let output = match self.build(&row.thread, &state, row.priority).await {
            Ok(output) => output,
            Err(e) => {
                self.retry_later(row.id, row.priority, &format!("rebuild: {e}"));
                return false;
            }
        };
        let bytes = match bincode::serialize(&output.tx) {
            Ok(bytes) => bytes,
            Err(e) => {
                self.retry_later(row.id, row.priority, &format!("serialize: {e}"));
                return false;
            }
        };
        let nonce_value = state
            .nonce_account()
            .ok()
            .map(|_| *output.tx.message.recent_blockhash());
        if let Err(e) =
            self.store
                .replace_transaction(row.id, bytes, output.tx.signatures[0], nonce_value)
        {
            tracing::error!(id = row.id, error = %e, "could not store the rebuilt transaction");
            return false;
        }
        if let Err(e) = self.store.set_context(row.id, context) {
            tracing::error!(id = row.id, error = %e, "could not record the rebuild's chain read");
        }
        matches!(
            self.send(row.id, &row.thread, row.exec_count_at_build, output)
                .await,
            ExecOutcome::Submitted { .. }
        )
    }

    /// Marks `row` superseded with `reason`, judged on a read at `slot`, and says so:
    /// at warn when the due time did not run (`unexpected`: the thread gone, re-created
    /// or leased by another keeper), at info when the chain shows it ran.
    fn supersede(&self, row: &Execution, reason: &str, slot: u64, unexpected: bool) {
        let (thread, exec_count) = (row.thread, row.exec_count_at_build);
        if let Err(e) = self.store.mark_superseded_at(row.id, reason, slot) {
            tracing::error!(id = row.id, %thread, exec_count, error = %e, "could not record a superseded execution");
            return;
        }
        if unexpected {
            tracing::warn!(id = row.id, %thread, exec_count, slot, reason, "execution superseded");
        } else {
            tracing::info!(id = row.id, %thread, exec_count, slot, reason, "execution superseded");
        }
        self.emit(ExecEvent::Superseded { thread, exec_count });
    }

    /// Acts on a read that contradicts `row` (see [`judge`]).
    fn settle_contradicted(&self, row: &Execution, verdict: Verdict, slot: u64) {
        let (thread, exec_count) = (row.thread, row.exec_count_at_build);
        match verdict {
            Verdict::Gone(reason) => self.supersede(row, &reason, slot, true),
            Verdict::Stale(reason) => {
                // Nothing was tried: look again after the priority's base delay, and
                // never dead-letter a due time for a node's lag.
                let delay = self.replay_delay_secs(row.priority, 0);
                let at = self.store.now().saturating_add(delay);
                tracing::info!(id = row.id, %thread, exec_count, reason, "the chain's answer is older than the execution's; looking again later");
                if let Err(e) = self.store.postpone(row.id, at, &reason) {
                    tracing::error!(id = row.id, error = %e, "could not put off an execution");
                }
            }
            Verdict::Unproven(reason) => self.retry_later(row.id, row.priority, &reason),
            Verdict::Current | Verdict::Ran => {}
        }
    }

    async fn current_nonce_value(&self, nonce: &Pubkey) -> Option<solana_sdk::hash::Hash> {
        let account = self.chain.get_account(nonce).await.ok()??;
        parse_nonce(&account.data).map(|(_, value)| value)
    }
}

/// The thread program's "not due yet" / "already completed" errors: the scheduler's view
/// was ahead of the chain, or another keeper got there first.
fn is_not_due(err: &TransactionError) -> bool {
    use thread::errors::ThreadError;
    let not_due = u32::from(ThreadError::ThreadNotDue);
    let completed = u32::from(ThreadError::ThreadCompleted);
    matches!(
        err,
        TransactionError::InstructionError(_, solana_sdk::instruction::InstructionError::Custom(code))
            if *code == not_due || *code == completed
    )
}

/// A thread as the chain showed it, with the slot of the read.
#[derive(Debug)]
struct ThreadRead {
    slot: u64,
    /// `None`: not found (or not a thread of the program).
    state: Option<Thread>,
}

/// What a read of the thread says about an unfinished row's due time.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Verdict {
    /// Still the thread's next due time: the row may be sent.
    Current,
    /// The thread's `exec_count` moved past it: it ran.
    Ran,
    /// The thread is gone, or re-created at its address, as read at or after the row's
    /// context slot: the row's due time will never run.
    Gone(String),
    /// The read contradicts the row but is older than the read the row rests on (a
    /// node behind): it proves nothing yet.
    Stale(String),
    /// The read contradicts the row, which records no context to judge its age by (a
    /// row of an older keeper): an attempt that counts, so a thread truly gone ends in
    /// the dead-letter queue, loudly, rather than silently.
    Unproven(String),
}

/// Judges `row` against `read` (see [`Verdict`]).
fn judge(row: &Execution, read: &ThreadRead) -> Verdict {
    let due = row.exec_count_at_build;
    let contradiction = match &read.state {
        None => format!("thread not found at slot {}", read.slot),
        Some(state) => {
            let recreated = row
                .context
                .is_some_and(|c| c.created_at != state.created_at)
                || state.exec_count < due;
            if !recreated {
                return if state.exec_count > due {
                    Verdict::Ran
                } else {
                    Verdict::Current
                };
            }
            format!(
                "thread re-created: exec_count {} created_at {} at slot {}",
                state.exec_count, state.created_at, read.slot
            )
        }
    };
    match row.context {
        None => Verdict::Unproven(format!(
            "{contradiction}; the execution records no slot to judge the answer by"
        )),
        Some(context) if read.slot < context.slot => Verdict::Stale(format!(
            "{contradiction}, before slot {} the execution rests on",
            context.slot
        )),
        Some(context) => Verdict::Gone(format!(
            "{contradiction} (the execution rests on slot {})",
            context.slot
        )),
    }
}

/// Whether a row for a due time owns it, against the chain's `state` read at
/// `read_slot` showing the due time unexecuted.
#[derive(Debug, Clone, PartialEq, Eq)]
enum RowOwns {
    /// In flight or replaying, or dead-lettered for this thread: the row decides.
    Yes,
    /// The row saw its transaction land at a slot later than this read: the read is
    /// stale.
    AlreadyRan,
    /// The chain has since contradicted the row: the due time needs a new execution.
    No(String),
}

fn owner_of_due_time(row: &Execution, read_slot: u64, state: &Thread) -> RowOwns {
    let stale = row.context.is_some_and(|c| read_slot < c.slot);
    let other_incarnation = row
        .context
        .is_some_and(|c| c.created_at != state.created_at);
    match row.state {
        ExecState::Pending | ExecState::Sent => {
            if other_incarnation && !stale {
                RowOwns::No(format!(
                    "the thread was re-created (created_at {}); the execution was for an \
                     earlier one",
                    state.created_at
                ))
            } else {
                RowOwns::Yes
            }
        }
        ExecState::Dead if other_incarnation && !stale => RowOwns::No(format!(
            "the thread was re-created (created_at {}); the dead letter was for an earlier one",
            state.created_at
        )),
        ExecState::Dead => RowOwns::Yes,
        // A confirmation names the slot the transaction landed at: a read behind it is
        // a lagging node, not the due time back.
        ExecState::Confirmed if stale && !other_incarnation => RowOwns::AlreadyRan,
        // A supersede rests on a judgment of the chain's answers, which may have come
        // from a node of another cluster or a lagging one: the chain showing the due time
        // unexecuted wins. A wrong reopen costs at most a transaction the program
        // refuses (it runs each due time once); a wrong skip would lose the due time.
        ExecState::Confirmed | ExecState::Superseded => RowOwns::No(format!(
            "the row is {} but the chain shows exec_count {} unexecuted at slot {read_slot}",
            row.state, state.exec_count
        )),
    }
}

#[cfg(test)]
mod tests {
    use solana_sdk::signature::Signature;

    use super::*;
    use crate::tracking::index::tests::ThreadFixture;

    const CREATED: i64 = 1_700_000_000;

    /// A row for exec_count 3 in `state`, built on a read at slot 100 of the thread
    /// created at [`CREATED`] (`context: false`: a row of an older keeper).
    fn row(state: ExecState, context: bool) -> Execution {
        Execution {
            id: 1,
            thread: Pubkey::new_unique(),
            exec_count_at_build: 3,
            nonce_account: None,
            nonce_value: None,
            signature: Signature::default(),
            transaction: Vec::new(),
            priority: ExecutionPriority::Medium,
            state,
            retry_count: 0,
            max_retries: 3,
            created_at: 0,
            updated_at: 0,
            next_attempt_at: 0,
            last_sent_at: None,
            last_error: None,
            context: context.then_some(ThreadContext {
                slot: 100,
                created_at: CREATED,
            }),
        }
    }

    fn thread(exec_count: u64, created_at: i64) -> Thread {
        let mut thread = ThreadFixture::new().exec_count(exec_count).thread;
        thread.created_at = created_at;
        thread
    }

    fn read(slot: u64, state: Option<Thread>) -> ThreadRead {
        ThreadRead { slot, state }
    }

    #[test]
    fn not_found_is_believed_only_at_or_after_the_rows_slot() {
        let pending = row(ExecState::Pending, true);
        assert!(matches!(
            judge(&pending, &read(99, None)),
            Verdict::Stale(reason) if reason == "thread not found at slot 99, before slot 100 the execution rests on"
        ));
        assert!(matches!(
            judge(&pending, &read(100, None)),
            Verdict::Gone(reason) if reason.starts_with("thread not found at slot 100")
        ));
        // A row of an older keeper has no slot: the answer counts as a failed attempt.
        assert!(matches!(
            judge(&row(ExecState::Sent, false), &read(500, None)),
            Verdict::Unproven(_)
        ));
    }

    #[test]
    fn the_threads_exec_count_decides_what_ran() {
        let pending = row(ExecState::Pending, true);
        assert_eq!(
            judge(&pending, &read(50, Some(thread(3, CREATED)))),
            Verdict::Current
        );
        assert_eq!(
            judge(&pending, &read(50, Some(thread(4, CREATED)))),
            Verdict::Ran
        );
    }

    #[test]
    fn a_re_created_thread_is_believed_only_from_a_read_at_or_after_the_rows_slot() {
        let pending = row(ExecState::Pending, true);
        for state in [thread(3, CREATED + 1), thread(0, CREATED)] {
            assert!(matches!(
                judge(&pending, &read(120, Some(state.clone()))),
                Verdict::Gone(reason) if reason.starts_with("thread re-created")
            ));
            assert!(matches!(
                judge(&pending, &read(80, Some(state))),
                Verdict::Stale(_)
            ));
        }
    }

    #[test]
    fn a_superseded_row_never_owns_a_due_time_the_chain_shows_unexecuted() {
        let state = thread(3, CREATED);
        for slot in [50, 100, 150] {
            assert!(matches!(
                owner_of_due_time(&row(ExecState::Superseded, true), slot, &state),
                RowOwns::No(_)
            ));
        }
        assert!(matches!(
            owner_of_due_time(&row(ExecState::Superseded, false), 1, &state),
            RowOwns::No(_)
        ));
    }

    #[test]
    fn a_confirmed_row_owns_its_due_time_against_a_read_from_before_it_landed() {
        let confirmed = row(ExecState::Confirmed, true);
        let state = thread(3, CREATED);
        assert_eq!(
            owner_of_due_time(&confirmed, 99, &state),
            RowOwns::AlreadyRan
        );
        // At or after the landing slot the chain shows the count back at 3: the thread
        // was deleted and created again within the same second.
        assert!(matches!(
            owner_of_due_time(&confirmed, 100, &state),
            RowOwns::No(_)
        ));
        // Another incarnation, whatever the slot.
        assert!(matches!(
            owner_of_due_time(&confirmed, 99, &thread(3, CREATED + 5)),
            RowOwns::No(_)
        ));
    }

    #[test]
    fn rows_in_flight_and_dead_letters_own_their_due_time_unless_the_thread_was_re_created() {
        let state = thread(3, CREATED);
        for owned in [ExecState::Pending, ExecState::Sent, ExecState::Dead] {
            assert_eq!(
                owner_of_due_time(&row(owned, true), 150, &state),
                RowOwns::Yes
            );
            assert_eq!(
                owner_of_due_time(&row(owned, false), 150, &state),
                RowOwns::Yes
            );
            let recreated = thread(3, CREATED + 60);
            assert!(matches!(
                owner_of_due_time(&row(owned, true), 150, &recreated),
                RowOwns::No(reason) if reason.contains("re-created")
            ));
            assert_eq!(
                owner_of_due_time(&row(owned, true), 50, &recreated),
                RowOwns::Yes,
                "a read older than the row proves nothing"
            );
        }
    }
}
