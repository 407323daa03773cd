//! The transaction builder (seed 003): turns a due thread into a signed execution.
//!
//! Owns: choosing the blockhash (a durable thread's nonce value, else a recent
//! blockhash), holding the nonce exclusively for the build and until broadcast
//! (`NonceLease` inside `TxBuildOutput`), the instruction order, compute budget sizing
//! and signing. Must not: send transactions, retry, or decide whether a thread is due
//! (the scheduler and submitter do that).
//!
//! API shape, from the seed: `build_execution_output` is the primary call and returns
//! the transaction with its nonce guard; `build_execution_with_nonce` and
//! `build_execution` are legacy wrappers that return only the transaction (releasing
//! the nonce early) and warn once.

pub mod compute;
pub mod order;
pub mod priority;

use std::sync::{Arc, Once};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use solana_nonce::state::State as NonceStateEnum;
use solana_nonce::versions::Versions;
use solana_sdk::hash::Hash;
use solana_sdk::instruction::Instruction;
use solana_sdk::message::{v0, Message, VersionedMessage};
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::{Keypair, Signature, Signer};
use solana_sdk::transaction::{TransactionError, VersionedTransaction};
use thread::state::{Durability, Thread};

use crate::chain::{Chain, ChainError};
use crate::exec_ix::{exec_thread_instruction, writable_accounts};
use crate::metrics::Metrics;
use crate::nonce_pool::{NonceLease, NoncePool};
use compute::{ComputeConfig, MAX_COMPUTE_UNIT_LIMIT};
use order::{
    ordered_instructions, sanity_check, without_nonce_advance, ComputeBudget, NonceUse, OrderError,
};
use priority::{ExecutionPriority, PriorityPolicy};

/// Which message format to compile.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageVersion {
    #[default]
    Legacy,
    /// Version 0: needed once address lookup tables shrink large executions.
    V0,
}

/// Whether the compute-sizing simulation keeps the nonce advance.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SimulationMode {
    /// Thread executions keep it (the thread program refuses a durable execution whose
    /// instruction 0 is not the advance, so without it the simulation would measure a
    /// failure); other durable builds skip it, as the seed prescribes.
    #[default]
    Auto,
    KeepNonceAdvance,
    SkipNonceAdvance,
}

/// Builder settings, validated with the rest of the keeper's configuration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BuilderConfig {
    /// How long a build may hold a nonce before it is reclaimed.
    #[serde(with = "secs")]
    pub lease_ttl: Duration,
    pub priority: PriorityPolicy,
    pub compute: ComputeConfig,
    pub message_version: MessageVersion,
    pub simulation: SimulationMode,
    /// Decode and check the instruction order of every build. Always on in debug builds
    /// and tests; off by default in release, where the order is fixed by construction.
    pub sanity_checks: bool,
}

impl Default for BuilderConfig {
    fn default() -> Self {
        Self {
            lease_ttl: Duration::from_secs(30),
            priority: PriorityPolicy::default(),
            compute: ComputeConfig::default(),
            message_version: MessageVersion::Legacy,
            simulation: SimulationMode::Auto,
            sanity_checks: false,
        }
    }
}

mod secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_secs())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_secs)
    }
}

/// Per-build choices (the seed's `TransactionConfig`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TxConfig {
    /// `None`: the policy's default.
    pub priority: Option<ExecutionPriority>,
    /// A fixed unit limit; `None` sizes it by simulation.
    pub compute_unit_limit: Option<u32>,
    /// A fixed unit price; `None` takes it from recent prioritization fees.
    pub compute_unit_price: Option<u64>,
}

/// A thread to execute, as the keeper's index knows it.
#[derive(Clone, Copy, Debug)]
pub struct ThreadExecution<'a> {
    pub thread: Pubkey,
    pub state: &'a Thread,
}

impl ThreadExecution<'_> {
    fn nonce(&self) -> Option<Pubkey> {
        match self.state.durability {
            Durability::Durable { nonce_account } => Some(nonce_account),
            Durability::NonDurable => None,
        }
    }
}

/// Why a build failed. `kind()` is the metric label.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    #[error("nonce {0} is in use by another build or not leased by this keeper")]
    NonceUnavailable(Pubkey),
    #[error("nonce lease on {0} expired before the build finished")]
    LeaseExpired(Pubkey),
    #[error("thread {0} is not durable: there is no nonce to enforce")]
    NotDurable(Pubkey),
    #[error("thread {0} is durable: its execution must be anchored on its nonce")]
    NonceRequired(Pubkey),
    #[error("{0} is not an initialized nonce account")]
    InvalidNonceAccount(Pubkey),
    #[error("nonce {nonce} has authority {actual}, not this keeper ({expected})")]
    NonceAuthorityMismatch {
        nonce: Pubkey,
        expected: Pubkey,
        actual: Pubkey,
    },
    #[error("simulation failed: {err}")]
    SimulationFailed {
        err: TransactionError,
        logs: Vec<String>,
    },
    #[error(transparent)]
    Chain(#[from] ChainError),
    #[error("instruction order: {0}")]
    Order(#[from] OrderError),
    #[error("compiling the message failed: {0}")]
    Message(String),
    #[error("signing failed: {0}")]
    Signing(String),
}

impl BuildError {
    pub fn kind(&self) -> &'static str {
        match self {
            BuildError::NonceUnavailable(_) => "nonce_unavailable",
            BuildError::LeaseExpired(_) => "lease_expired",
            BuildError::NotDurable(_) => "not_durable",
            BuildError::NonceRequired(_) => "nonce_required",
            BuildError::InvalidNonceAccount(_) => "invalid_nonce_account",
            BuildError::NonceAuthorityMismatch { .. } => "nonce_authority_mismatch",
            BuildError::SimulationFailed { .. } => "simulation_failed",
            BuildError::Chain(_) => "rpc_error",
            BuildError::Order(_) => "instruction_order",
            BuildError::Message(_) => "message",
            BuildError::Signing(_) => "signing",
        }
    }
}

/// What a build works from: the blockhash, and for a durable build the nonce and the
/// lease that keeps it exclusive.
pub struct ExecutionContext {
    pub blockhash: Hash,
    pub nonce_pubkey: Option<Pubkey>,
    pub nonce_authority: Option<Pubkey>,
    pub priority: ExecutionPriority,
    nonce_lease: Option<NonceLease>,
}

impl ExecutionContext {
    /// Takes the lease out, so it can outlive the context (into `TxBuildOutput`).
    pub fn extract_lease(mut self) -> Option<NonceLease> {
        self.nonce_lease.take()
    }

    fn nonce_use(&self) -> Option<NonceUse> {
        Some(NonceUse {
            nonce: self.nonce_pubkey?,
            authority: self.nonce_authority?,
        })
    }
}

/// A built transaction and the nonce guard it must keep until broadcast resolves.
pub struct TxBuildOutput {
    pub tx: VersionedTransaction,
    pub nonce_guard: Option<NonceLease>,
    pub required_signers: Vec<Pubkey>,
    pub priority: ExecutionPriority,
    pub budget: ComputeBudget,
}

impl TxBuildOutput {
    pub fn new(
        tx: VersionedTransaction,
        nonce_guard: Option<NonceLease>,
        priority: ExecutionPriority,
        budget: ComputeBudget,
    ) -> Self {
        let required_signers = tx
            .message
            .static_account_keys()
            .iter()
            .take(usize::from(tx.message.header().num_required_signatures))
            .copied()
            .collect();
        Self {
            tx,
            nonce_guard,
            required_signers,
            priority,
            budget,
        }
    }

    pub fn tx_ref(&self) -> &VersionedTransaction {
        &self.tx
    }

    pub fn required_signers(&self) -> &[Pubkey] {
        &self.required_signers
    }

    pub fn signature(&self) -> Option<Signature> {
        self.tx.signatures.first().copied()
    }

    /// Releases the nonce explicitly (after broadcast resolved). An already reclaimed
    /// lease is an error: the nonce may have been handed to another build meanwhile.
    pub fn release_nonce(mut self) -> Result<(), BuildError> {
        match self.nonce_guard.take() {
            Some(guard) => {
                let nonce = guard.nonce();
                guard.release().map_err(|_| BuildError::LeaseExpired(nonce))
            }
            None => Ok(()),
        }
    }

    /// The transaction and the guard, for callers that manage the guard themselves.
    pub fn into_parts(mut self) -> (VersionedTransaction, Option<NonceLease>) {
        let guard = self.nonce_guard.take();
        (std::mem::take(&mut self.tx), guard)
    }
}

impl Drop for TxBuildOutput {
    fn drop(&mut self) {
        if self.nonce_guard.is_some() {
            // The guard's own Drop returns the nonce; this only says it was not released
            // deliberately.
            tracing::warn!(
                signature = ?self.tx.signatures.first(),
                "TxBuildOutput dropped with its nonce guard still held"
            );
        }
    }
}

/// Builds executions for one keeper key (fee payer and nonce authority).
pub struct ExecutionBuilder {
    chain: Arc<dyn Chain>,
    pool: NoncePool,
    keypair: Arc<Keypair>,
    config: BuilderConfig,
    metrics: Option<Arc<Metrics>>,
}

static LEGACY_WARNING: Once = Once::new();

impl ExecutionBuilder {
    pub fn new(
        chain: Arc<dyn Chain>,
        pool: NoncePool,
        keypair: Arc<Keypair>,
        config: BuilderConfig,
    ) -> Self {
        Self {
            chain,
            pool,
            keypair,
            config,
            metrics: None,
        }
    }

    /// Counts every build in `keeper_builds_total` by result.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    pub fn pool(&self) -> &NoncePool {
        &self.pool
    }

    pub fn config(&self) -> &BuilderConfig {
        &self.config
    }

    pub fn keeper(&self) -> Pubkey {
        self.keypair.pubkey()
    }

    /// Legacy: durable for durable threads, returns only the transaction.
    pub async fn build_execution(
        &self,
        exec: ThreadExecution<'_>,
        config: &TxConfig,
        sign: bool,
    ) -> Result<VersionedTransaction, BuildError> {
        self.build_execution_with_nonce(exec, config, sign, exec.nonce().is_some())
            .await
    }

    /// Legacy: returns only the transaction, so the nonce is released before the
    /// transaction is broadcast and another build may reuse its value. Warns once.
    pub async fn build_execution_with_nonce(
        &self,
        exec: ThreadExecution<'_>,
        config: &TxConfig,
        sign: bool,
        enforce_nonce: bool,
    ) -> Result<VersionedTransaction, BuildError> {
        let output = self
            .build_execution_output(exec, config, sign, enforce_nonce)
            .await?;
        LEGACY_WARNING.call_once(|| {
            tracing::warn!("legacy build API: the nonce is released before broadcast; use build_execution_output")
        });
        let (tx, guard) = output.into_parts();
        if let Some(guard) = guard {
            let _ = guard.release();
        }
        Ok(tx)
    }

    /// Builds the execution of `exec`. `enforce_nonce` must match the thread: a durable
    /// thread only executes inside a transaction anchored on its nonce, and a
    /// non-durable one has no nonce.
    pub async fn build_execution_output(
        &self,
        exec: ThreadExecution<'_>,
        config: &TxConfig,
        sign: bool,
        enforce_nonce: bool,
    ) -> Result<TxBuildOutput, BuildError> {
        let nonce = match (exec.nonce(), enforce_nonce) {
            (Some(nonce), true) => Some(nonce),
            (None, false) => None,
            (Some(_), false) => return Err(BuildError::NonceRequired(exec.thread)),
            (None, true) => return Err(BuildError::NotDurable(exec.thread)),
        };
        let payload =
            exec_thread_instruction(&self.keeper(), &exec.thread, exec.state, nonce.is_some());
        let keep_advance = match self.config.simulation {
            SimulationMode::Auto | SimulationMode::KeepNonceAdvance => true,
            SimulationMode::SkipNonceAdvance => false,
        };
        self.build(&[payload], nonce, config, sign, keep_advance)
            .await
    }

    /// Builds any instructions, durable on `nonce` when `enforce_nonce` (e.g. lease
    /// management, or a program that needs no nonce check of its own).
    pub async fn build_instructions_output(
        &self,
        payload: &[Instruction],
        nonce: Option<Pubkey>,
        config: &TxConfig,
        sign: bool,
        enforce_nonce: bool,
    ) -> Result<TxBuildOutput, BuildError> {
        let nonce = if enforce_nonce {
            Some(nonce.ok_or(BuildError::NotDurable(Pubkey::default()))?)
        } else {
            None
        };
        let keep_advance = self.config.simulation == SimulationMode::KeepNonceAdvance;
        self.build(payload, nonce, config, sign, keep_advance).await
    }

    /// Acquires the nonce (atomically: `try_acquire`, no availability pre-check) and its
    /// value, or a recent blockhash when no nonce is enforced.
    pub async fn prepare_execution_context_with_enforcement(
        &self,
        config: &TxConfig,
        nonce: Option<Pubkey>,
    ) -> Result<ExecutionContext, BuildError> {
        let priority = self
            .config
            .priority
            .effective(config.priority, nonce.is_some());
        let Some(nonce) = nonce else {
            return Ok(ExecutionContext {
                blockhash: self.chain.latest_blockhash().await?,
                nonce_pubkey: None,
                nonce_authority: None,
                priority,
                nonce_lease: None,
            });
        };
        let lease = self
            .pool
            .try_acquire_with_ttl(&nonce, self.config.lease_ttl)
            .ok_or(BuildError::NonceUnavailable(nonce))?;
        let blockhash = match lease.cached_value() {
            Some(value) => value,
            None => self.fetch_nonce_value(&nonce).await?,
        };
        Ok(ExecutionContext {
            blockhash,
            nonce_pubkey: Some(nonce),
            nonce_authority: Some(lease.authority()),
            priority,
            nonce_lease: Some(lease),
        })
    }

    /// Reads the nonce account, checks this keeper is its authority, caches the value.
    async fn fetch_nonce_value(&self, nonce: &Pubkey) -> Result<Hash, BuildError> {
        let account = self
            .chain
            .get_account(nonce)
            .await?
            .ok_or(BuildError::InvalidNonceAccount(*nonce))?;
        let (authority, value) =
            parse_nonce(&account.data).ok_or(BuildError::InvalidNonceAccount(*nonce))?;
        if authority != self.keeper() {
            return Err(BuildError::NonceAuthorityMismatch {
                nonce: *nonce,
                expected: self.keeper(),
                actual: authority,
            });
        }
        self.pool.set_value(nonce, value);
        Ok(value)
    }

    async fn build(
        &self,
        payload: &[Instruction],
        nonce: Option<Pubkey>,
        config: &TxConfig,
        sign: bool,
        keep_advance_in_simulation: bool,
    ) -> Result<TxBuildOutput, BuildError> {
        let result = self
            .build_unrecorded(payload, nonce, config, sign, keep_advance_in_simulation)
            .await;
        if let Some(metrics) = &self.metrics {
            let label = result.as_ref().map_or_else(BuildError::kind, |_| "ok");
            metrics.builds_total.with_label_values(&[label]).inc();
        }
        result
    }

    async fn build_unrecorded(
        &self,
        payload: &[Instruction],
        nonce: Option<Pubkey>,
        config: &TxConfig,
        sign: bool,
        keep_advance_in_simulation: bool,
    ) -> Result<TxBuildOutput, BuildError> {
        let ctx = self
            .prepare_execution_context_with_enforcement(config, nonce)
            .await?;
        let nonce_use = ctx.nonce_use();
        let unit_limit = match config.compute_unit_limit {
            Some(limit) => limit,
            None => {
                self.simulated_unit_limit(payload, &ctx, keep_advance_in_simulation)
                    .await?
            }
        };
        let unit_price = match config.compute_unit_price {
            Some(price) => price,
            None => {
                let writable: Vec<Pubkey> = payload.iter().flat_map(writable_accounts).collect();
                let samples = self.chain.recent_prioritization_fees(&writable).await?;
                self.config.compute.unit_price(&samples, ctx.priority)
            }
        };
        let budget = ComputeBudget {
            unit_limit,
            unit_price,
        };
        let ixs = ordered_instructions(nonce_use, budget, payload);
        if self.config.sanity_checks || cfg!(debug_assertions) {
            sanity_check(&ixs, ctx.nonce_pubkey.as_ref())?;
        }
        let tx = self.compile(&ixs, ctx.blockhash, sign)?;
        if let Some(lease) = &ctx.nonce_lease {
            if !lease.is_valid() || lease.is_expired() {
                return Err(BuildError::LeaseExpired(lease.nonce()));
            }
        }
        let priority = ctx.priority;
        Ok(TxBuildOutput::new(
            tx,
            ctx.extract_lease(),
            priority,
            budget,
        ))
    }

    /// Simulates at the maximum limit and sizes the real limit from the units consumed.
    async fn simulated_unit_limit(
        &self,
        payload: &[Instruction],
        ctx: &ExecutionContext,
        keep_advance: bool,
    ) -> Result<u32, BuildError> {
        let probe = ComputeBudget {
            unit_limit: MAX_COMPUTE_UNIT_LIMIT,
            unit_price: 0,
        };
        let full = ordered_instructions(ctx.nonce_use(), probe, payload);
        let ixs = if keep_advance {
            full
        } else {
            without_nonce_advance(&full, ctx.nonce_pubkey.is_some())
        };
        let tx = self.compile(&ixs, ctx.blockhash, false)?;
        let sim = self.chain.simulate(&tx).await?;
        if let Some(err) = sim.err {
            return Err(BuildError::SimulationFailed {
                err,
                logs: sim.logs,
            });
        }
        Ok(self.config.compute.unit_limit(sim.units_consumed))
    }

    fn compile(
        &self,
        ixs: &[Instruction],
        blockhash: Hash,
        sign: bool,
    ) -> Result<VersionedTransaction, BuildError> {
        let payer = self.keeper();
        let message = match self.config.message_version {
            MessageVersion::Legacy => {
                VersionedMessage::Legacy(Message::new_with_blockhash(ixs, Some(&payer), &blockhash))
            }
            MessageVersion::V0 => VersionedMessage::V0(
                v0::Message::try_compile(&payer, ixs, &[], blockhash)
                    .map_err(|e| BuildError::Message(e.to_string()))?,
            ),
        };
        if sign {
            VersionedTransaction::try_new(message, &[self.keypair.as_ref()])
                .map_err(|e| BuildError::Signing(e.to_string()))
        } else {
            let signatures =
                vec![Signature::default(); usize::from(message.header().num_required_signatures)];
            Ok(VersionedTransaction {
                signatures,
                message,
            })
        }
    }
}

/// Authority and value of an initialized nonce account's data.
pub fn parse_nonce(data: &[u8]) -> Option<(Pubkey, Hash)> {
    let versions: Versions = bincode::deserialize(data).ok()?;
    match versions.state() {
        NonceStateEnum::Initialized(data) => Some((data.authority, data.blockhash())),
        NonceStateEnum::Uninitialized => None,
    }
}
