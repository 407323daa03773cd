//! The transaction builder: turns a due thread into a signed execution.
//!
//! Owns: choosing the blockhash (a durable thread's nonce value, else a recent
//! blockhash), holding the nonce exclusively for the build and until broadcast
//! (`NonceLease` inside `TxBuildOutput`), the instruction order, compute budget sizing
//! and signing. Must not: send transactions, retry, or decide whether a thread is due
//! (the scheduler and submitter do that).
//!
//! API shape: `build_execution_output` is the primary call and returns
//! the transaction with its nonce guard; `build_execution_with_nonce` and
//! `build_execution` are deprecated wrappers (`legacy.rs`) that return only the
//! transaction (releasing the nonce early) and warn once.
//!
//! This file is the build itself; its settings are in `config.rs`, its errors in
//! `error.rs`, what it returns in `output.rs`, and the pieces it assembles in
//! `compute.rs`, `order.rs`, `priority.rs` and `tables.rs` (a thread's lookup tables, and
//! the packet limit every build is held to).

pub mod compute;
mod config;
mod error;
mod legacy;
pub mod order;
mod output;
pub mod priority;
pub mod tables;

pub use compute::{budget_of, fee_of};
pub use config::{BuilderConfig, MessageVersion, SimulationMode, TxConfig};
pub use error::BuildError;
pub use output::TxBuildOutput;

use std::sync::Arc;

use solana_sdk::hash::Hash;
use solana_sdk::instruction::Instruction;
use solana_sdk::message::{v0, AddressLookupTableAccount, Message, VersionedMessage};
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::{Keypair, Signature, Signer};
use solana_sdk::transaction::VersionedTransaction;
use thread::client;
use thread::state::{Durability, Thread};

use crate::chain::Chain;
use crate::execution::nonce_pool::{NonceLease, NoncePool};
use crate::ops::metrics::Metrics;
use compute::MAX_COMPUTE_UNIT_LIMIT;
use order::{ordered_instructions, sanity_check, without_nonce_advance, ComputeBudget, NonceUse};
use priority::ExecutionPriority;

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

/// Builds executions for one keeper key (fee payer and nonce authority).
pub struct ExecutionBuilder {
    chain: Arc<dyn Chain>,
    pool: NoncePool,
    keypair: Arc<Keypair>,
    config: BuilderConfig,
    metrics: Option<Arc<Metrics>>,
}

/// Compute units of `AdvanceNonceAccount`: the system program is a builtin that charges a
/// flat 150 units per instruction (`solana_system_program::DEFAULT_COMPUTE_UNITS`). Added
/// to a simulation that skipped the advance, so the limit covers the transaction sent.
pub const ADVANCE_NONCE_UNITS: u64 = 150;

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
            (Some(_), false) => return self.record(Err(BuildError::NonceRequired(exec.thread))),
            (None, true) => return self.record(Err(BuildError::NotDurable(exec.thread))),
        };
        let payload = if nonce.is_some() {
            client::exec_thread_after_advance(&self.keeper(), &exec.thread, exec.state)
        } else {
            client::exec_thread(&self.keeper(), &exec.thread, exec.state)
        };
        let keep_advance = match self.config.simulation {
            SimulationMode::Auto | SimulationMode::KeepNonceAdvance => true,
            SimulationMode::SkipNonceAdvance => false,
        };
        let tables = if exec.state.lookup_tables.is_empty() {
            Vec::new()
        } else {
            match tables::fetch(
                self.chain.as_ref(),
                &exec.state.lookup_tables,
                nonce.as_ref(),
            )
            .await
            {
                Ok(tables) => tables,
                Err(e) => return self.record(Err(e)),
            }
        };
        let built = self
            .build(&[payload], nonce, config, sign, keep_advance, &tables)
            .await;
        self.record(built)
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
        let nonce = match (nonce, enforce_nonce) {
            (Some(nonce), true) => Some(nonce),
            (None, true) => return self.record(Err(BuildError::NotDurable(Pubkey::default()))),
            (_, false) => None,
        };
        let keep_advance = self.config.simulation == SimulationMode::KeepNonceAdvance;
        let built = self
            .build(payload, nonce, config, sign, keep_advance, &[])
            .await;
        self.record(built)
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

    /// Counts one build in `keeper_builds_total` under `ok` or its error's kind. Every
    /// public build path ends here, the argument checks before any work included.
    fn record<T>(&self, result: Result<T, BuildError>) -> Result<T, BuildError> {
        if let Some(metrics) = &self.metrics {
            let label = result.as_ref().map_or_else(BuildError::kind, |_| "ok");
            metrics.builds_total.with_label_values(&[label]).inc();
        }
        result
    }

    /// The build itself, unrecorded: each public path passes its result to `record`.
    async fn build(
        &self,
        payload: &[Instruction],
        nonce: Option<Pubkey>,
        config: &TxConfig,
        sign: bool,
        keep_advance_in_simulation: bool,
        tables: &[AddressLookupTableAccount],
    ) -> Result<TxBuildOutput, BuildError> {
        let ctx = self
            .prepare_execution_context_with_enforcement(config, nonce)
            .await?;
        let nonce_use = ctx.nonce_use();
        let unit_limit = match config.compute_unit_limit {
            Some(limit) => limit,
            None => {
                self.simulated_unit_limit(payload, &ctx, keep_advance_in_simulation, tables)
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
        let tx = self.compile(&ixs, ctx.blockhash, sign, tables)?;
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
        tables: &[AddressLookupTableAccount],
    ) -> Result<u32, BuildError> {
        let probe = ComputeBudget {
            unit_limit: MAX_COMPUTE_UNIT_LIMIT,
            unit_price: 0,
        };
        let full = ordered_instructions(ctx.nonce_use(), probe, payload);
        let skipped_advance = !keep_advance && ctx.nonce_pubkey.is_some();
        let ixs = if keep_advance {
            full
        } else {
            without_nonce_advance(&full, ctx.nonce_pubkey.is_some())
        };
        let tx = self.compile(&ixs, ctx.blockhash, false, tables)?;
        let sim = self.chain.simulate(&tx).await?;
        if let Some(err) = sim.err {
            return Err(BuildError::SimulationFailed {
                err,
                logs: sim.logs,
            });
        }
        // The transaction sent still runs the advance: count it, or a tight margin (or a
        // low floor) leaves the payload short of units.
        let units = if skipped_advance {
            sim.units_consumed.saturating_add(ADVANCE_NONCE_UNITS)
        } else {
            sim.units_consumed
        };
        Ok(self.config.compute.unit_limit(units))
    }

    /// Compiles `ixs` into a transaction: a v0 message whenever the thread has lookup
    /// tables (`tables`), else the configured version; refused when it does not fit one
    /// packet, which no node would take.
    fn compile(
        &self,
        ixs: &[Instruction],
        blockhash: Hash,
        sign: bool,
        tables: &[AddressLookupTableAccount],
    ) -> Result<VersionedTransaction, BuildError> {
        let payer = self.keeper();
        let message = match (self.config.message_version, tables.is_empty()) {
            (MessageVersion::Legacy, true) => {
                VersionedMessage::Legacy(Message::new_with_blockhash(ixs, Some(&payer), &blockhash))
            }
            (MessageVersion::V0, _) | (MessageVersion::Legacy, false) => VersionedMessage::V0(
                v0::Message::try_compile(&payer, ixs, tables, blockhash)
                    .map_err(|e| BuildError::Message(e.to_string()))?,
            ),
        };
        let tx = if sign {
            VersionedTransaction::try_new(message, &[self.keypair.as_ref()])
                .map_err(|e| BuildError::Signing(e.to_string()))?
        } else {
            let signatures =
                vec![Signature::default(); usize::from(message.header().num_required_signatures)];
            VersionedTransaction {
                signatures,
                message,
            }
        };
        let bytes =
            bincode::serialized_size(&tx).map_err(|e| BuildError::Message(e.to_string()))?;
        tables::check_size(&tx.message, bytes, tables)?;
        Ok(tx)
    }
}

/// Authority and value of an initialized nonce account's data (either layout version),
/// as the program's own reader finds them.
pub fn parse_nonce(data: &[u8]) -> Option<(Pubkey, Hash)> {
    let nonce = client::NonceData::parse(data)?.initialized()?;
    Some((nonce.authority, Hash::new_from_array(nonce.durable_nonce)))
}

/// Accounts an instruction writes, for prioritization-fee lookups.
fn writable_accounts(ix: &Instruction) -> impl Iterator<Item = Pubkey> + '_ {
    ix.accounts
        .iter()
        .filter(|m| m.is_writable)
        .map(|m| m.pubkey)
}

#[cfg(test)]
mod tests;
