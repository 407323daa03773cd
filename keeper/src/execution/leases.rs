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
use solana_sdk::clock::{Clock, DEFAULT_MS_PER_SLOT};
use solana_sdk::instruction::Instruction;
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::{Keypair, Signature, Signer};
use solana_sdk::transaction::{TransactionError, VersionedTransaction};
use solana_system_interface::instruction as system_instruction;
use thread::client;
use thread::state::{Due, Lease, Thread};

use crate::chain::{Chain, ChainError};
use crate::execution::builder::{
    parse_nonce, BuildError, BuilderConfig, ExecutionBuilder, TxConfig,
};
use crate::execution::nonce_pool::NoncePool;

/// How this keeper leases nonce authority.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LeaseConfig {
    /// Slots to claim or renew for (capped by each thread's `max_lease_slots`).
    pub lease_slots: u64,
    /// Renew when fewer slots than this remain.
    pub renew_below_slots: u64,
    /// How long to wait for a lease transaction to confirm, in seconds.
    pub confirm_timeout_secs: u64,
}

impl Default for LeaseConfig {
    fn default() -> Self {
        Self {
            lease_slots: 1_500,
            renew_below_slots: 500,
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
            Self::InvalidNonce(_) => "invalid_nonce",
            Self::Failed(_) => "lease_tx_failed",
            Self::Unconfirmed(_) => "lease_tx_unconfirmed",
            Self::Build(e) => e.kind(),
            Self::Chain(e) => e.kind(),
        }
    }
}

/// Why [`LeaseManager::tidy`] handed a lease back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HandBack {
    /// The lease expired (or the owner revoked it) with the authority still ours:
    /// released now, the bond comes back instead of paying a forfeit.
    Lapsed,
    /// The thread is not due again before the lease expires (paused, done, or due
    /// later): holding on would only end in a forfeit.
    NotDueWithinLease,
}

impl HandBack {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Lapsed => "lapsed",
            Self::NotDueWithinLease => "not_due_within_lease",
        }
    }
}

/// What one [`LeaseManager::tidy`] pass did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tidied {
    /// Threads whose lease was handed back, and why.
    pub handed_back: Vec<(Pubkey, HandBack)>,
    /// Old nonce accounts emptied into this keeper: (nonce, lamports).
    pub withdrawn: Vec<(Pubkey, u64)>,
    /// Threads a step failed for (logged; tried again on the next pass).
    pub failed: usize,
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
}

impl LeaseManager {
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
    /// left, claiming, renewing or clearing a dead lease as needed.
    pub async fn ensure(
        &self,
        thread: &Pubkey,
        state: &Thread,
        slot: u64,
    ) -> Result<LeaseStatus, LeaseManagerError> {
        let nonce = state
            .nonce_account()
            .map_err(|_| LeaseManagerError::NotDurable(*thread))?;
        let slots = self.config.lease_slots.min(state.max_lease_slots).max(1);
        match state.lease {
            None => self.claim(thread, &nonce, slots).await,
            Some(lease) if lease.holder == self.me() && lease.is_live(slot) => {
                self.pool.insert(nonce, self.me());
                self.held().insert(nonce, *thread);
                if lease.expires_slot.saturating_sub(slot) < self.config.renew_below_slots {
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
                Ok(LeaseStatus::Held {
                    nonce,
                    expires_slot: lease.expires_slot,
                })
            }
            Some(lease) if lease.is_live(slot) => Ok(LeaseStatus::HeldByOther {
                holder: lease.holder,
                expires_slot: lease.expires_slot,
            }),
            // Another keeper's revoked lease: its holder has the grace window to hand the
            // authority back, and the program refuses to forfeit it before then.
            Some(lease) if lease.holder != self.me() && !lease.is_settleable(slot) => {
                Ok(LeaseStatus::HeldByOther {
                    holder: lease.holder,
                    expires_slot: lease.settles_at(),
                })
            }
            Some(lease) => {
                let nonce = self.clear_expired(thread, state, &nonce, &lease).await?;
                self.claim(thread, &nonce, slots).await
            }
        }
    }

    /// Hands the authority back and releases this keeper's lease on `thread`, recovering
    /// the bond. Called on shutdown and when a thread stops being ours. Returns whether
    /// there was a lease of ours to release (`state` is read afresh by the caller).
    pub async fn release(
        &self,
        thread: &Pubkey,
        state: &Thread,
    ) -> Result<bool, LeaseManagerError> {
        let nonce = state
            .nonce_account()
            .map_err(|_| LeaseManagerError::NotDurable(*thread))?;
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

    /// One pass over `threads` (the ones the index shows leased to this keeper, and
    /// [`LeaseManager::remembered_threads`]), read afresh from the chain:
    ///
    /// - a lease of ours that expired or was revoked while the authority is still ours
    ///   (or already back home) is released: the bond comes back, no forfeit;
    /// - a live lease of ours on a thread not due again before the lease expires is
    ///   handed back (it is claimed anew when the thread comes due);
    /// - a nonce account this keeper is still the authority of, but which its thread no
    ///   longer uses (forfeited, deleted), is emptied into this keeper
    ///   (`WithdrawNonceAccount`): nobody else can ever recover those lamports.
    ///
    /// A step that fails is logged and counted; the next pass tries again.
    pub async fn tidy(&self, threads: &[Pubkey]) -> Result<Tidied, LeaseManagerError> {
        let mut tidied = Tidied::default();
        if threads.is_empty() {
            return Ok(tidied);
        }
        let clock = self.chain.clock().await?;
        let mut states = Vec::with_capacity(threads.len());
        for chunk in threads.chunks(crate::tracking::scheduler::MAX_ACCOUNTS_PER_FETCH) {
            for (key, account) in chunk
                .iter()
                .zip(self.chain.get_multiple_accounts(chunk).await?)
            {
                let state = account
                    .filter(|a| a.owner == thread::ID)
                    .and_then(|a| client::decode_thread(&a.data).ok());
                states.push((*key, state));
            }
        }
        for (thread, state) in &states {
            if let Some(state) = state {
                match self.hand_back_if_unneeded(thread, state, &clock).await {
                    Ok(Some(why)) => tidied.handed_back.push((*thread, why)),
                    Ok(None) => {}
                    Err(e) => {
                        tidied.failed += 1;
                        tracing::warn!(%thread, kind = e.kind(), error = %e, "could not hand an unneeded lease back; trying again later");
                    }
                }
            }
            let current = state.as_ref().and_then(|s| s.nonce_account().ok());
            let abandoned: Vec<Pubkey> = self
                .held()
                .iter()
                .filter(|(nonce, t)| *t == thread && Some(**nonce) != current)
                .map(|(nonce, _)| *nonce)
                .collect();
            for nonce in abandoned {
                match self.withdraw_abandoned(&nonce).await {
                    Ok(Some(lamports)) => {
                        tracing::info!(%thread, %nonce, lamports, "withdrew an old nonce account this keeper was still the authority of");
                        tidied.withdrawn.push((nonce, lamports));
                    }
                    Ok(None) => {}
                    Err(e) => {
                        tidied.failed += 1;
                        tracing::warn!(%thread, %nonce, kind = e.kind(), error = %e, "could not withdraw an old nonce account; trying again later");
                    }
                }
            }
        }
        Ok(tidied)
    }

    /// Releases our lease on `thread` when it lapsed with the authority ours, or when the
    /// thread is not due again before it expires.
    async fn hand_back_if_unneeded(
        &self,
        thread: &Pubkey,
        state: &Thread,
        clock: &Clock,
    ) -> Result<Option<HandBack>, LeaseManagerError> {
        let Some(lease) = state.lease.filter(|l| l.holder == self.me()) else {
            return Ok(None);
        };
        let why = if !lease.is_live(clock.slot) {
            HandBack::Lapsed
        } else if !due_within_lease(state, &lease, clock) {
            HandBack::NotDueWithinLease
        } else {
            return Ok(None);
        };
        let nonce = state
            .nonce_account()
            .map_err(|_| LeaseManagerError::NotDurable(*thread))?;
        let authority = self.nonce_authority(&nonce).await?;
        if authority != Some(self.me()) && authority != Some(*thread) {
            // Not ours to hand back (nor home): nothing this keeper can sign.
            return Ok(None);
        }
        self.release(thread, state).await?;
        tracing::info!(%thread, reason = why.as_str(), bond = lease.bond, "handed a lease back");
        Ok(Some(why))
    }

    /// Empties `nonce` into this keeper if this keeper is still its authority; forgets it
    /// when it is not (or is gone). Returns the lamports withdrawn.
    async fn withdraw_abandoned(&self, nonce: &Pubkey) -> Result<Option<u64>, LeaseManagerError> {
        let account = self.chain.get_account(nonce).await?;
        let ours = account.as_ref().is_some_and(|a| {
            a.owner == solana_sdk_ids::system_program::ID
                && parse_nonce(&a.data).is_some_and(|(authority, _)| authority == self.me())
        });
        let (Some(account), true) = (account, ours) else {
            self.held().remove(nonce);
            return Ok(None);
        };
        self.pool.remove(nonce);
        let ix = system_instruction::withdraw_nonce_account(
            nonce,
            &self.me(),
            &self.me(),
            account.lamports,
        );
        self.send(&[ix], &[]).await?;
        self.held().remove(nonce);
        Ok(Some(account.lamports))
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

/// Whether `state` may come due while `lease` still lasts. A due time in unix seconds is
/// set against the lease's remaining slots at the nominal slot time (400 ms); a thread
/// that can fire at any moment (now, on an account change) counts as due; a paused
/// thread, or one that is done (`Never`), does not. An epoch trigger counts as due: the
/// clock alone does not say where the epoch ends.
pub fn due_within_lease(state: &Thread, lease: &Lease, clock: &Clock) -> bool {
    if state.paused {
        return false;
    }
    match state.next_due {
        Due::Immediately | Due::OnChange { .. } | Due::AtEpoch { .. } => true,
        Due::Never => false,
        Due::AtSlot { slot } => slot < lease.expires_slot,
        Due::At { unix_ts } => {
            let slots_left = lease.expires_slot.saturating_sub(clock.slot);
            let secs_left = slots_left.saturating_mul(DEFAULT_MS_PER_SLOT) / 1_000;
            let secs_left = i64::try_from(secs_left).unwrap_or(i64::MAX);
            unix_ts < clock.unix_timestamp.saturating_add(secs_left)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_utils::thread::ThreadFixture;

    const SLOT: u64 = 1_000;
    const NOW: i64 = 1_700_000_000;

    fn clock() -> Clock {
        Clock {
            slot: SLOT,
            unix_timestamp: NOW,
            ..Clock::default()
        }
    }

    /// A lease of 1 500 slots left: 600 s at the nominal 400 ms a slot.
    fn lease() -> Lease {
        Lease {
            holder: Pubkey::new_unique(),
            claimed_slot: SLOT,
            expires_slot: SLOT + 1_500,
            bond: 1_000_000,
            revoked_slot: None,
        }
    }

    fn within(due: Due, paused: bool) -> bool {
        let thread = ThreadFixture::new()
            .durable()
            .due(due)
            .paused(paused)
            .thread;
        due_within_lease(&thread, &lease(), &clock())
    }

    #[test]
    fn a_due_time_before_expiry_needs_the_lease_and_one_after_does_not() {
        assert!(within(Due::At { unix_ts: NOW + 599 }, false));
        assert!(!within(Due::At { unix_ts: NOW + 600 }, false));
        assert!(!within(
            Due::At {
                unix_ts: NOW + 3_600
            },
            false
        ));
        assert!(within(Due::AtSlot { slot: SLOT + 1_499 }, false));
        assert!(!within(Due::AtSlot { slot: SLOT + 1_500 }, false));
    }

    #[test]
    fn a_thread_that_may_fire_any_moment_needs_the_lease() {
        assert!(within(Due::Immediately, false));
        assert!(within(Due::OnChange { last_hash: [7; 32] }, false));
        assert!(within(Due::AtEpoch { epoch: 9 }, false));
    }

    #[test]
    fn a_paused_or_finished_thread_does_not() {
        assert!(!within(Due::Never, false));
        assert!(!within(Due::Immediately, true));
        assert!(!within(Due::AtSlot { slot: SLOT + 1 }, true));
    }
}
