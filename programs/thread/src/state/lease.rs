//! The nonce authority lease: how a keeper gets to sign durable transactions for a thread
//! whose nonce the thread PDA owns.
//!
//! A PDA can never sign a transaction at top level, so it can never be the authority a
//! durable transaction needs. The thread therefore lends the authority: a keeper claims a
//! lease for a bounded number of slots, posting a bond of at least the nonce account's
//! lamports, and the thread PDA makes the keeper's key the nonce authority. The keeper
//! hands it back and releases the lease to recover the bond; if it does not by expiry,
//! the bond pays the owner and the thread moves to a fresh nonce account.

use anchor_lang::prelude::*;

/// A live or expired-but-unsettled lease of a thread's nonce authority.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Copy, Debug, PartialEq, Eq, InitSpace)]
pub struct Lease {
    /// The keeper key that is the nonce authority while the lease lasts.
    pub holder: Pubkey,
    /// Slot the lease was claimed in.
    pub claimed_slot: u64,
    /// First slot at which the lease is no longer valid.
    pub expires_slot: u64,
    /// Lamports the holder posted, held in the thread account on top of its own balance.
    pub bond: u64,
}

impl Lease {
    /// Whether the holder may still execute and renew at `slot`.
    pub fn is_live(&self, slot: u64) -> bool {
        slot < self.expires_slot
    }
}
