//! Builders of the nonce-authority lease, as a keeper drives it: claim, renew, hand the
//! authority back and release, and forfeit a lease whose holder kept the authority.

use anchor_lang::prelude::Pubkey;
use anchor_lang::solana_program::instruction::Instruction;
use anchor_lang::solana_program::system_instruction;
use solana_sdk_ids::sysvar;

use super::SYSTEM_PROGRAM;
use crate::instruction;

/// `claim_lease`: `keeper` takes the authority of the thread's `nonce` for `slots` slots,
/// posting `bond` lamports (at least the nonce account's).
pub fn claim_lease(
    keeper: &Pubkey,
    thread: &Pubkey,
    nonce: &Pubkey,
    slots: u64,
    bond: u64,
) -> Instruction {
    thread_instruction!(
        ClaimLease {
            keeper: *keeper,
            thread: *thread,
            nonce_account: *nonce,
            system_program: SYSTEM_PROGRAM,
        },
        instruction::ClaimLease { slots, bond },
    )
}

/// `renew_lease`: the holder extends its live lease to `slots` slots from now.
pub fn renew_lease(keeper: &Pubkey, thread: &Pubkey, nonce: &Pubkey, slots: u64) -> Instruction {
    thread_instruction!(
        RenewLease {
            keeper: *keeper,
            thread: *thread,
            nonce_account: *nonce,
        },
        instruction::RenewLease { slots },
    )
}

/// The system instruction by which `holder` hands the authority of `nonce` back to the
/// thread PDA `thread`; `release_lease` checks it came back.
pub fn return_nonce_authority(nonce: &Pubkey, holder: &Pubkey, thread: &Pubkey) -> Instruction {
    system_instruction::authorize_nonce_account(nonce, holder, thread)
}

/// `release_lease` of `holder`'s lease, sent by `caller` (the holder any time, anyone
/// once the lease expired or was revoked).
pub fn release_lease(
    caller: &Pubkey,
    thread: &Pubkey,
    holder: &Pubkey,
    nonce: &Pubkey,
) -> Instruction {
    thread_instruction!(
        ReleaseLease {
            caller: *caller,
            thread: *thread,
            holder: *holder,
            nonce_account: *nonce,
        },
        instruction::ReleaseLease {},
    )
}

/// Hands the authority back (when `caller` still holds it) and releases the lease, in
/// one transaction, so the bond comes back exactly when the authority does.
pub fn return_and_release(
    caller: &Pubkey,
    thread: &Pubkey,
    holder: &Pubkey,
    nonce: &Pubkey,
    authority_is_caller: bool,
) -> Vec<Instruction> {
    let mut ixs = Vec::with_capacity(2);
    if authority_is_caller {
        ixs.push(return_nonce_authority(nonce, caller, thread));
    }
    ixs.push(release_lease(caller, thread, holder, nonce));
    ixs
}

/// `forfeit_lease` of an expired lease whose holder kept the authority: the bond pays the
/// thread's `owner` and the thread moves to a new nonce account at `new_nonce`, whose
/// keypair signs too.
pub fn forfeit_lease(
    caller: &Pubkey,
    thread: &Pubkey,
    owner: &Pubkey,
    old_nonce: &Pubkey,
    new_nonce: &Pubkey,
) -> Instruction {
    thread_instruction!(
        ForfeitLease {
            caller: *caller,
            thread: *thread,
            owner: *owner,
            old_nonce_account: *old_nonce,
            new_nonce_account: *new_nonce,
            recent_blockhashes: sysvar::recent_blockhashes::ID,
            rent: sysvar::rent::ID,
            system_program: SYSTEM_PROGRAM,
        },
        instruction::ForfeitLease {},
    )
}
