//! The executor: turns a due thread into exactly one landed execution.
//!
//! Owns: judging a due thread against its on-chain state, holding its lease (durable
//! threads), building, persisting before sending, sending, batched confirmation, and the
//! replay of unconfirmed executions (priority delays, nonce refresh, dead-lettering after
//! `max_retries`). Must not: decide when a thread is due (the scheduler does), talk to
//! any chain but through `Chain`, or manage nonces but through the pool's own operations.
//!
//! Exactly once: the thread program runs each due time of a thread at most once (every
//! execution moves `next_due` on and bumps `exec_count`), so the keeper only has to make
//! sure nothing is lost. Each execution is identified by (thread, `exec_count` when
//! built) and persisted before it is sent; after a crash, a failure or a timeout the
//! thread's on-chain `exec_count` tells whether it already ran. An execution the store
//! could not record is never sent.
//!
//! The chain decides, never a row (`judge.rs`): an older answer (a lagging node) puts a
//! row off without counting an attempt, and a finished row never stops a due time the
//! chain, read at or after the row's slot, still shows unexecuted: the row is reopened
//! for it. Each supersede is logged with its reason.
//!
//! The files, one job each; none reaches into another's state, and the calls between
//! them run one way (execute and replay use prepare, send and settle; send and confirm
//! use settle and prepare's nonce hand-back; the leaf files use none of the others):
//! - `config.rs`, `outcome.rs`: the settings, and what the executor reports;
//! - `judge.rs`: the verdicts of a row against a read of its thread;
//! - `in_flight.rs`: what is sent and not resolved, and what is being sent;
//! - `prepare.rs`: the one path from "due now" to a signed execution and its row, shared
//!   by a first attempt and a rebuild, and handing a build's nonce back;
//! - `execute.rs`: a due time's first attempt; `replay.rs`: the later ones and the
//!   start-up recovery; `send.rs`: sending and recording a send; `confirm.rs`: resolving
//!   sent executions; `settle.rs`: recording what became of the ones that did not land.

mod config;
mod confirm;
mod execute;
mod in_flight;
mod judge;
mod outcome;
mod prepare;
mod pricing;
mod replay;
mod send;
mod settle;

use parking_lot::Mutex;
use std::sync::Arc;

use anchor_lang::AccountDeserialize;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use solana_sdk::pubkey::Pubkey;
use thread::state::Thread;

use crate::chain::{Chain, ChainError};
use crate::execution::build_failures::BuildFailures;
use crate::execution::builder::ExecutionBuilder;
use crate::execution::leases::LeaseManager;
use crate::execution::nonce_pool::NoncePool;
use crate::execution::retry::jitter_seed;
use crate::ops::metrics::Metrics;
use crate::ops::notify::Notifier;
use crate::store::Store;
use in_flight::UnderWay;
use judge::ThreadRead;

pub use config::{default_send_retry, ExecutorConfig};
pub use outcome::{ExecEvent, ExecOutcome, SkipReason};

pub struct Executor {
    chain: Arc<dyn Chain>,
    builder: Arc<ExecutionBuilder>,
    /// The builder's pool: told when a nonce may have moved, and given back the nonces
    /// of executions that resolved.
    nonces: NoncePool,
    leases: Arc<LeaseManager>,
    store: Store,
    metrics: Arc<Metrics>,
    config: ExecutorConfig,
    under_way: UnderWay,
    /// Builds the chain refused, towards dead-lettering a due time never sent.
    build_failures: BuildFailures,
    /// Due times declined as unprofitable, held back until priced again.
    declines: pricing::Declines,
    events: Option<tokio::sync::broadcast::Sender<ExecEvent>>,
    /// Jitter of the send and replay backoffs; seeded by tests ([`Executor::with_seed`]).
    rng: Mutex<SmallRng>,
    /// Announces dead letters to webhooks, when any are configured.
    notifier: Option<Notifier>,
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
            nonces: builder.pool().clone(),
            builder,
            leases,
            store,
            metrics,
            config,
            under_way: UnderWay::default(),
            build_failures: BuildFailures::new(),
            declines: pricing::Declines::default(),
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

    /// Publishes every `ExecEvent` on `events`.
    pub fn with_events(mut self, events: tokio::sync::broadcast::Sender<ExecEvent>) -> Self {
        self.events = Some(events);
        self
    }

    /// The metrics it counts into (the worker pool observes due-to-submit there).
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn leases(&self) -> &LeaseManager {
        &self.leases
    }

    /// Executions sent and not yet resolved.
    pub fn in_flight_len(&self) -> usize {
        self.under_way.sent_len()
    }

    /// Threads with an execution sent and not yet resolved.
    pub fn in_flight_threads(&self) -> Vec<Pubkey> {
        self.under_way.sent_threads()
    }

    fn emit(&self, event: ExecEvent) {
        if let Some(events) = &self.events {
            // An event nobody is listening for is not an error: watching is optional.
            events.send(event).ok();
        }
    }

    /// A generator of its own for one backoff, drawn from the executor's (a guard of
    /// the shared one cannot be held across the awaits of a retry loop).
    fn backoff_rng(&self) -> SmallRng {
        let mut rng = self.rng.lock();
        SmallRng::seed_from_u64(rng.random())
    }

    /// The thread's on-chain state with the slot it was read at: the judge of what has
    /// run.
    async fn thread_read(&self, thread: &Pubkey) -> Result<ThreadRead, ChainError> {
        let (slot, account) = self.chain.get_account_with_slot(thread).await?;
        let state = account
            .filter(|account| account.owner == thread::ID)
            .and_then(|account| Thread::try_deserialize(&mut account.data.as_slice()).ok());
        Ok(ThreadRead { slot, state })
    }
}
