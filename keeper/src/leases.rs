//! On-chain leases of durable threads' nonce authority, from the keeper's side.
//!
//! Owns: claiming, renewing and releasing this keeper's leases (and clearing a dead
//! lease of another keeper: releasing it when its authority came back, forfeiting it
//! when not), and registering held nonces in the `NoncePool` so builds can use them.
//! Must not: execute threads or build executions (the executor and builder do).
//!
//! Lease transactions are plain recent-blockhash transactions ("utility flows" in the
//! builder seed's terms): they are cheap to rebuild, so they are never persisted.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use solana_compute_budget_interface::ComputeBudgetInstruction;
use solana_sdk::instruction::Instruction;
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::{Keypair, Signature, Signer};
use solana_sdk::transaction::{Transaction, TransactionError, VersionedTransaction};
use thread::state::{Lease, Thread};

use crate::builder::parse_nonce;
use crate::chain::{Chain, ChainError};
use crate::lease_ix;
use crate::nonce_pool::NoncePool;

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
    #[error(transparent)]
    Chain(#[from] ChainError),
}

impl LeaseManagerError {
    pub fn kind(&self) -> &'static str {
        match self {
            Self::NotDurable(_) => "not_durable",
            Self::InvalidNonce(_) => "invalid_nonce",
            Self::Failed(_) => "lease_tx_failed",
            Self::Unconfirmed(_) => "lease_tx_unconfirmed",
            Self::Chain(e) => e.kind(),
        }
    }
}

pub struct LeaseManager {
    chain: Arc<dyn Chain>,
    keypair: Arc<Keypair>,
    pool: NoncePool,
    config: LeaseConfig,
}

impl LeaseManager {
    pub fn new(
        chain: Arc<dyn Chain>,
        keypair: Arc<Keypair>,
        pool: NoncePool,
        config: LeaseConfig,
    ) -> Self {
        Self {
            chain,
            keypair,
            pool,
            config,
        }
    }

    fn me(&self) -> Pubkey {
        self.keypair.pubkey()
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
                if lease.expires_slot.saturating_sub(slot) < self.config.renew_below_slots {
                    self.send(
                        &[lease_ix::renew_lease(&self.me(), thread, &nonce, slots)],
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
    /// the bond. Called on shutdown and when a thread stops being ours.
    pub async fn release(&self, thread: &Pubkey, state: &Thread) -> Result<(), LeaseManagerError> {
        let nonce = state
            .nonce_account()
            .map_err(|_| LeaseManagerError::NotDurable(*thread))?;
        let Some(lease) = state.lease.filter(|l| l.holder == self.me()) else {
            return Ok(());
        };
        self.pool.remove(&nonce);
        let authority_is_me = self.nonce_authority(&nonce).await? == Some(self.me());
        let ixs = lease_ix::return_and_release(
            &self.me(),
            thread,
            &lease.holder,
            &nonce,
            authority_is_me,
        );
        self.send(&ixs, &[]).await?;
        Ok(())
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
        self.send(
            &[lease_ix::claim_lease(
                &self.me(),
                thread,
                nonce,
                slots,
                bond,
            )],
            &[],
        )
        .await?;
        self.pool.insert(*nonce, self.me());
        self.pool.invalidate(nonce);
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
            let ixs = lease_ix::return_and_release(
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
            let ix = lease_ix::forfeit_lease(
                &self.me(),
                thread,
                &state.owner,
                nonce,
                &new_nonce.pubkey(),
            );
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

    /// Signs `ixs` with the keeper (and `extra` signers) on a recent blockhash, sends,
    /// and waits for confirmation.
    async fn send(
        &self,
        ixs: &[Instruction],
        extra: &[&Keypair],
    ) -> Result<Signature, LeaseManagerError> {
        let mut all = vec![ComputeBudgetInstruction::set_compute_unit_limit(200_000)];
        all.extend_from_slice(ixs);
        let blockhash = self.chain.latest_blockhash().await?;
        let mut signers: Vec<&Keypair> = vec![self.keypair.as_ref()];
        signers.extend_from_slice(extra);
        let tx = Transaction::new_signed_with_payer(&all, Some(&self.me()), &signers, blockhash);
        let tx = VersionedTransaction::from(tx);
        let signature = match self.chain.send(&tx).await {
            Ok(signature) => signature,
            Err(ChainError::Rejected(err)) => return Err(LeaseManagerError::Failed(err)),
            Err(e) => return Err(e.into()),
        };
        self.confirm(signature).await
    }

    async fn confirm(&self, signature: Signature) -> Result<Signature, LeaseManagerError> {
        let deadline =
            tokio::time::Instant::now() + Duration::from_secs(self.config.confirm_timeout_secs);
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
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}
