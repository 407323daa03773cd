//! On-chain leases of durable threads' nonce authority, from the keeper's side.
//!
//! Owns: claiming, renewing and releasing this keeper's leases (and clearing a dead
//! lease of another keeper: releasing it when its authority came back, forfeiting it
//! when not), registering held nonces in the `NoncePool` so builds can use them, and
//! tidying up after itself ([`LeaseManager::tidy`]): handing back a lease it has no use
//! for before it lapses into a forfeit, and withdrawing the lamports of a nonce account
//! it is still the authority of after the thread moved on (forfeit, deletion).
//! Must not: execute threads or build executions (the executor and builder do).
//!
//! Lease transactions are plain recent-blockhash transactions, built by the
//! [`ExecutionBuilder`] as executions are (a recent blockhash, the unit limit sized by
//! simulation, the unit price from recent fees, all under `[daemon.builder]`), then
//! signed by this keeper and any new nonce account. They are cheap to rebuild, so they
//! are never persisted, only sent and waited for.

use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use solana_sdk::account::Account;
use solana_sdk::clock::{Clock, DEFAULT_MS_PER_SLOT};
use solana_sdk::instruction::Instruction;
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::{Keypair, Signature, Signer};
use solana_sdk::transaction::{TransactionError, VersionedTransaction};
use thread::client;
use thread::state::{Lease, Thread};

use crate::chain::{Chain, ChainError};
use crate::execution::builder::{
    parse_nonce, BuildError, BuilderConfig, ExecutionBuilder, TxConfig,
};
use crate::execution::nonce_pool::NoncePool;
use crate::execution::profitability::LeaseCadence;
use crate::execution::thread_locks::ThreadLocks;

mod tidy;
pub use tidy::{due_within_lease, HandBack, Tidied};

/// How this keeper leases nonce authority.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LeaseConfig {
    /// Slots to claim or renew for (capped by each thread's `max_lease_slots`).
    pub lease_slots: u64,
    /// Renew when fewer slots than this remain.
    pub renew_below_slots: u64,
    /// A lease of ours with fewer slots than this left is released and claimed anew
    /// rather than renewed: a renewal could land after the lease expired, and fail.
    pub renew_margin_slots: u64,
    /// How long to wait for a lease transaction to confirm, in seconds.
    pub confirm_timeout_secs: u64,
}

impl Default for LeaseConfig {
    fn default() -> Self {
        Self {
            lease_slots: 1_500,
            renew_below_slots: 500,
            renew_margin_slots: 75,
            confirm_timeout_secs: 30,
        }
    }
}

/// How often a lease transaction's status is asked while waiting for it: twice a slot,
/// since a status changes no faster than slots are made.
const CONFIRM_POLL: Duration = Duration::from_millis(DEFAULT_MS_PER_SLOT / 2);

/// Where a durable thread's lease stands for this keeper.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeaseStatus {
    /// This keeper holds a live lease; its nonce is in the pool.
    Held { nonce: Pubkey, expires_slot: u64 },
    /// Another keeper holds a live lease: leave the thread to it.
    HeldByOther { holder: Pubkey, expires_slot: u64 },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LeaseManagerError {
    #[error("thread {0} is not durable")]
    NotDurable(Pubkey),
    #[error("thread {0} is gone")]
    Gone(Pubkey),
    #[error("nonce account {0} is missing or not a nonce")]
    InvalidNonce(Pubkey),
    #[error("lease transaction failed: {0}")]
    Failed(TransactionError),
    #[error("lease transaction {0} not confirmed in time")]
    Unconfirmed(Signature),
    #[error("building a lease transaction failed: {0}")]
    Build(BuildError),
    #[error(transparent)]
    Chain(#[from] ChainError),
}

impl From<BuildError> for LeaseManagerError {
    /// The program refusing a lease transaction in simulation is the same failure as
    /// refusing it on-chain (minus the fee), and a chain error keeps its own kind.
    fn from(e: BuildError) -> Self {
        match e {
            BuildError::SimulationFailed { err, .. } => Self::Failed(err),
            BuildError::Chain(e) => Self::Chain(e),
            other => Self::Build(other),
        }
    }
}

impl LeaseManagerError {
    pub fn kind(&self) -> &'static str {
        match self {
            Self::NotDurable(_) => "not_durable",
            Self::Gone(_) => "thread_gone",
            Self::InvalidNonce(_) => "invalid_nonce",
            Self::Failed(_) => "lease_tx_failed",
            Self::Unconfirmed(_) => "lease_tx_unconfirmed",
            Self::Build(e) => e.kind(),
            Self::Chain(e) => e.kind(),
        }
    }
}

impl LeaseConfig {
    /// How this keeper holds a lease on a thread whose owner allows `max_lease_slots`:
    /// claimed for `lease_slots` (capped), renewed once fewer than `renew_below_slots`
    /// are left, so every `lease_slots − renew_below_slots`.
    pub fn cadence(&self, max_lease_slots: u64) -> LeaseCadence {
        let lease_slots = self.lease_slots.min(max_lease_slots).max(1);
        LeaseCadence {
            lease_slots,
            renewal_slots: lease_slots.saturating_sub(self.renew_below_slots).max(1),
        }
    }
}

pub struct LeaseManager {
    chain: Arc<dyn Chain>,
    keypair: Arc<Keypair>,
    pool: NoncePool,
    config: LeaseConfig,
    /// Builds the lease transactions (never durable ones: its nonce pool goes unused).
    builder: Arc<ExecutionBuilder>,
    /// Nonce accounts this keeper was made authority of, by thread: what `tidy` checks
    /// for lamports left behind once the thread uses another nonce (or is gone). Kept in
    /// memory only: a keeper that restarts forgets them (see the README).
    held: Mutex<HashMap<Pubkey, Pubkey>>,
    /// One lease operation per thread at a time.
    locks: ThreadLocks,
}

impl LeaseManager {
    pub fn config(&self) -> &LeaseConfig {
        &self.config
    }

    pub fn new(
        chain: Arc<dyn Chain>,
        keypair: Arc<Keypair>,
        pool: NoncePool,
        config: LeaseConfig,
    ) -> Self {
        let builder = Arc::new(ExecutionBuilder::new(
            chain.clone(),
            pool.clone(),
            keypair.clone(),
            BuilderConfig::default(),
        ));
        Self {
            chain,
            keypair,
            pool,
            config,
            builder,
            held: Mutex::new(HashMap::new()),
            locks: ThreadLocks::default(),
        }
    }

    /// Builds lease transactions with `builder` (the executions' own, so that they follow
    /// the operator's `[daemon.builder]` settings) instead of a default-configured one.
    /// `builder` must sign as this lease manager's keeper.
    pub fn with_builder(self, builder: Arc<ExecutionBuilder>) -> Self {
        Self { builder, ..self }
    }

    fn me(&self) -> Pubkey {
        self.keypair.pubkey()
    }

    /// How long one lease transaction is waited for.
    pub fn confirm_timeout(&self) -> Duration {
        Duration::from_secs(self.config.confirm_timeout_secs)
    }

    fn held(&self) -> parking_lot::MutexGuard<'_, HashMap<Pubkey, Pubkey>> {
        self.held.lock()
    }

    /// Threads this keeper remembers holding a nonce authority for: with the threads the
    /// index shows leased to it, what [`LeaseManager::tidy`] should look at.
    pub fn remembered_threads(&self) -> Vec<Pubkey> {
        let mut threads: Vec<Pubkey> = self.held().values().copied().collect();
        threads.sort();
        threads.dedup();
        threads
    }

    /// Makes sure this keeper holds a live lease on `thread` at `slot` with enough slots
    /// left, claiming, renewing or clearing a dead lease as needed. `state` is the
    /// caller's read: when it shows nothing to send, it is the answer; otherwise the
    /// thread is locked and read afresh before anything is decided (see [`ThreadLocks`]).
    pub async fn ensure(
        &self,
        thread: &Pubkey,
        state: &Thread,
        slot: u64,
    ) -> Result<LeaseStatus, LeaseManagerError> {
        if let Some(status) = self.standing(thread, state, slot)? {
            return Ok(status);
        }
        let _held = self.locks.lock(thread).await;
        let (state, clock) = self.read_afresh(thread).await?;
        let state = state.ok_or(LeaseManagerError::Gone(*thread))?;
        if let Some(status) = self.standing(thread, &state, clock.slot)? {
            return Ok(status);
        }
        self.take_lease(thread, &state, clock.slot).await
    }

    /// Where `state` leaves this keeper when nothing needs sending: its own live lease
    /// with more than `renew_below_slots` left, or another keeper's lease still in
    /// force. `None` when a claim, a renewal or a clearing is due.
    fn standing(
        &self,
        thread: &Pubkey,
        state: &Thread,
        slot: u64,
    ) -> Result<Option<LeaseStatus>, LeaseManagerError> {
        let nonce = nonce_of(thread, state)?;
        let Some(lease) = state.lease else {
            return Ok(None);
        };
        let ours = lease.holder == self.me();
        let status = if ours && lease.is_live(slot) {
            self.pool.insert(nonce, self.me());
            self.held().insert(nonce, *thread);
            let slots_left = lease.expires_slot.saturating_sub(slot);
            (slots_left >= self.config.renew_below_slots).then_some(LeaseStatus::Held {
                nonce,
                expires_slot: lease.expires_slot,
            })
        } else if lease.is_live(slot) || (!ours && !lease.is_settleable(slot)) {
            // Another keeper's lease, live or revoked: a revoked one's holder has the
            // grace window to hand the authority back, and the program refuses to
            // forfeit it before then.
            let expires_slot = if lease.is_live(slot) {
                lease.expires_slot
            } else {
                lease.settles_at()
            };
            Some(LeaseStatus::HeldByOther {
                holder: lease.holder,
                expires_slot,
            })
        } else {
            None
        };
        Ok(status)
    }

    /// Claims, renews, or clears and claims anew, from `state` read under the thread's
    /// lock. A lease of ours too close to its end to renew safely (fewer than
    /// `renew_margin_slots` left: the renewal could land after it expired and fail) is
    /// released and claimed anew instead, which cannot race its expiry.
    async fn take_lease(
        &self,
        thread: &Pubkey,
        state: &Thread,
        slot: u64,
    ) -> Result<LeaseStatus, LeaseManagerError> {
        let nonce = nonce_of(thread, state)?;
        let slots = self.config.lease_slots.min(state.max_lease_slots).max(1);
        let Some(lease) = state.lease else {
            return self.claim(thread, &nonce, slots).await;
        };
        let slots_left = lease.expires_slot.saturating_sub(slot);
        let ours_and_live = lease.holder == self.me() && lease.is_live(slot);
        if ours_and_live && slots_left >= self.config.renew_margin_slots {
            self.send(
                &[client::renew_lease(&self.me(), thread, &nonce, slots)],
                &[],
            )
            .await?;
            return Ok(LeaseStatus::Held {
                nonce,
                expires_slot: slot.saturating_add(slots),
            });
        }
        let nonce = if ours_and_live {
            self.release_locked(thread, state).await?;
            tracing::info!(%thread, slots_left, "released a lease too near its end to renew; claiming it anew");
            nonce
        } else {
            self.clear_expired(thread, state, &nonce, &lease).await?
        };
        self.claim(thread, &nonce, slots).await
    }

    /// Hands the authority back and releases this keeper's lease on `thread`, recovering
    /// the bond. Called on shutdown and when a thread stops being ours. Reads the thread
    /// afresh under its lock; returns whether there was a lease of ours to release.
    pub async fn release(&self, thread: &Pubkey) -> Result<bool, LeaseManagerError> {
        let _held = self.locks.lock(thread).await;
        match decode_owned(self.chain.get_account(thread).await?) {
            Some(state) => self.release_locked(thread, &state).await,
            None => Ok(false), // gone, or not a thread any more: no lease to hand back
        }
    }

    /// [`LeaseManager::release`] from `state`, read under the thread's lock.
    async fn release_locked(
        &self,
        thread: &Pubkey,
        state: &Thread,
    ) -> Result<bool, LeaseManagerError> {
        let nonce = nonce_of(thread, state)?;
        let Some(lease) = state.lease.filter(|l| l.holder == self.me()) else {
            return Ok(false);
        };
        self.pool.remove(&nonce);
        let authority_is_me = self.nonce_authority(&nonce).await? == Some(self.me());
        let ixs =
            client::return_and_release(&self.me(), thread, &lease.holder, &nonce, authority_is_me);
        self.send(&ixs, &[]).await?;
        self.held().remove(&nonce);
        Ok(true)
    }

    /// The thread (when it still is one) and the clock, read now.
    async fn read_afresh(
        &self,
        thread: &Pubkey,
    ) -> Result<(Option<Thread>, Clock), LeaseManagerError> {
        let state = decode_owned(self.chain.get_account(thread).await?);
        Ok((state, self.chain.clock().await?))
    }

    async fn claim(
        &self,
        thread: &Pubkey,
        nonce: &Pubkey,
        slots: u64,
    ) -> Result<LeaseStatus, LeaseManagerError> {
        let bond = self
            .chain
            .get_account(nonce)
            .await?
            .ok_or(LeaseManagerError::InvalidNonce(*nonce))?
            .lamports;
        let claim = client::claim_lease(&self.me(), thread, nonce, slots, bond);
        self.send(&[claim], &[]).await?;
        self.pool.insert(*nonce, self.me());
        self.pool.invalidate(nonce);
        self.held().insert(*nonce, *thread);
        let slot = self.chain.clock().await?.slot;
        tracing::info!(%thread, %nonce, bond, slots, "claimed nonce lease");
        Ok(LeaseStatus::Held {
            nonce: *nonce,
            expires_slot: slot.saturating_add(slots),
        })
    }

    /// Settles an expired lease (ours or another keeper's) so it can be claimed anew:
    /// released when its authority is back, forfeited when the holder kept it. Returns
    /// the thread's nonce account from then on: a new one when forfeited.
    async fn clear_expired(
        &self,
        thread: &Pubkey,
        state: &Thread,
        nonce: &Pubkey,
        lease: &Lease,
    ) -> Result<Pubkey, LeaseManagerError> {
        let authority = self.nonce_authority(nonce).await?;
        let cleared = if authority == Some(*thread) || authority == Some(self.me()) {
            let ixs = client::return_and_release(
                &self.me(),
                thread,
                &lease.holder,
                nonce,
                authority == Some(self.me()),
            );
            self.send(&ixs, &[]).await?;
            tracing::info!(%thread, holder = %lease.holder, "released an expired lease");
            *nonce
        } else {
            let new_nonce = Keypair::new();
            let ix =
                client::forfeit_lease(&self.me(), thread, &state.owner, nonce, &new_nonce.pubkey());
            self.send(&[ix], &[&new_nonce]).await?;
            tracing::warn!(%thread, holder = %lease.holder, new_nonce = %new_nonce.pubkey(), "forfeited a lease whose holder kept the nonce");
            new_nonce.pubkey()
        };
        self.pool.remove(nonce);
        Ok(cleared)
    }

    async fn nonce_authority(&self, nonce: &Pubkey) -> Result<Option<Pubkey>, LeaseManagerError> {
        let account = self.chain.get_account(nonce).await?;
        Ok(account
            .filter(|a| a.owner == solana_sdk_ids::system_program::ID)
            .and_then(|a| parse_nonce(&a.data))
            .map(|(authority, _)| authority))
    }

    /// Builds `ixs` into a transaction (see the module docs), signs it with the keeper
    /// and `extra`, sends it, and waits for confirmation.
    async fn send(
        &self,
        ixs: &[Instruction],
        extra: &[&Keypair],
    ) -> Result<Signature, LeaseManagerError> {
        let (unsigned, _no_nonce) = self
            .builder
            .build_instructions_output(ixs, None, &TxConfig::default(), false, false)
            .await?
            .into_parts();
        let mut signers: Vec<&Keypair> = vec![self.keypair.as_ref()];
        signers.extend_from_slice(extra);
        let tx = VersionedTransaction::try_new(unsigned.message, &signers)
            .map_err(|e| BuildError::Signing(e.to_string()))?;
        let signature = match self.chain.send(&tx).await {
            Ok(signature) => signature,
            Err(ChainError::Rejected(err)) => return Err(LeaseManagerError::Failed(err)),
            Err(e) => return Err(e.into()),
        };
        self.confirm(signature).await
    }

    async fn confirm(&self, signature: Signature) -> Result<Signature, LeaseManagerError> {
        let deadline = tokio::time::Instant::now() + self.confirm_timeout();
        loop {
            if let Some(Some(status)) = self
                .chain
                .signature_statuses(&[signature])
                .await?
                .into_iter()
                .next()
            {
                if let Some(err) = status.err {
                    return Err(LeaseManagerError::Failed(err));
                }
                if status.confirmed {
                    return Ok(signature);
                }
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(LeaseManagerError::Unconfirmed(signature));
            }
            tokio::time::sleep(CONFIRM_POLL).await;
        }
    }
}

/// The nonce account of durable `state` (at `thread`).
fn nonce_of(thread: &Pubkey, state: &Thread) -> Result<Pubkey, LeaseManagerError> {
    state
        .nonce_account()
        .map_err(|_| LeaseManagerError::NotDurable(*thread))
}

/// The thread `account` holds, when it is one of the program's.
fn decode_owned(account: Option<Account>) -> Option<Thread> {
    account
        .filter(|a| a.owner == thread::ID)
        .and_then(|a| client::decode_thread(&a.data).ok())
}
