//! The nonce authority lease: how a keeper gets to sign durable transactions for a thread
//! whose nonce the thread PDA owns.
//!
//! A PDA can never sign a transaction at top level, so it can never be the authority a
//! durable transaction needs. The thread therefore lends the authority: a keeper claims a
//! lease for a bounded number of slots, posting a bond of at least the nonce account's
//! lamports, and the thread PDA makes the keeper's key the nonce authority. The keeper
//! hands it back and releases the lease to recover the bond; if it does not by expiry,
//! the bond pays the owner and the thread moves to a fresh nonce account.
//!
//! The owner may revoke a live lease: executions and renewals stop at once, but the
//! holder keeps [`REVOKE_GRACE_SLOTS`] slots to hand the authority back and release with
//! its whole bond. Only after that window may anyone else settle it (forfeit, delete), so
//! a revoke can never be turned into a confiscation in the same transaction.

use anchor_lang::prelude::*;

/// Slots a revoked lease's holder has to hand the nonce authority back and release before
/// anyone may forfeit the lease or delete the thread over it: about 20 minutes at 400 ms
/// slots, enough for a keeper to notice the revoke through an RPC outage.
pub const REVOKE_GRACE_SLOTS: u64 = 3_000;

/// A live or expired-but-unsettled lease of a thread's nonce authority.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Copy, Debug, PartialEq, Eq, InitSpace)]
pub struct Lease {
    /// The keeper key that is the nonce authority while the lease lasts.
    pub holder: Pubkey,
    /// Slot the lease was claimed in.
    pub claimed_slot: u64,
    /// First slot at which the lease is no longer valid for executions and renewals (the
    /// revoke slot for a revoked lease).
    pub expires_slot: u64,
    /// Lamports the holder posted, held in the thread account on top of its own balance.
    pub bond: u64,
    /// Slot the owner revoked the lease in, if it did. Settling by anyone but the holder
    /// waits until `revoked_slot + REVOKE_GRACE_SLOTS`.
    pub revoked_slot: Option<u64>,
}

impl Lease {
    /// Whether the holder may still execute and renew at `slot`.
    pub fn is_live(&self, slot: u64) -> bool {
        self.revoked_slot.is_none() && slot < self.expires_slot
    }

    /// First slot at which the lease may be settled against its holder: forfeited, or
    /// swept up by `delete_thread`. A revoked lease gets the grace window from its revoke.
    pub fn settles_at(&self) -> u64 {
        match self.revoked_slot {
            Some(revoked) => revoked.saturating_add(REVOKE_GRACE_SLOTS),
            None => self.expires_slot,
        }
    }

    /// Whether the lease may be settled against its holder at `slot`.
    pub fn is_settleable(&self, slot: u64) -> bool {
        slot >= self.settles_at()
    }
}
