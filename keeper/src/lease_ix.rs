//! Instructions of the nonce-authority lease, as a keeper sends them.

use anchor_lang::{InstructionData, ToAccountMetas};
use solana_sdk::instruction::Instruction;
use solana_sdk::pubkey::Pubkey;
use solana_sdk_ids::sysvar;
use solana_system_interface::instruction as system_instruction;

use crate::exec_ix::event_authority;

const SYSTEM_PROGRAM: Pubkey = solana_sdk_ids::system_program::ID;

pub fn claim_lease(
    keeper: &Pubkey,
    thread: &Pubkey,
    nonce: &Pubkey,
    slots: u64,
    bond: u64,
) -> Instruction {
    Instruction {
        program_id: thread::ID,
        accounts: thread::accounts::ClaimLease {
            keeper: *keeper,
            thread: *thread,
            nonce_account: *nonce,
            system_program: SYSTEM_PROGRAM,
            event_authority: event_authority(),
            program: thread::ID,
        }
        .to_account_metas(None),
        data: thread::instruction::ClaimLease { slots, bond }.data(),
    }
}

pub fn renew_lease(keeper: &Pubkey, thread: &Pubkey, nonce: &Pubkey, slots: u64) -> Instruction {
    Instruction {
        program_id: thread::ID,
        accounts: thread::accounts::RenewLease {
            keeper: *keeper,
            thread: *thread,
            nonce_account: *nonce,
            event_authority: event_authority(),
            program: thread::ID,
        }
        .to_account_metas(None),
        data: thread::instruction::RenewLease { slots }.data(),
    }
}

/// Hands the nonce authority back to the thread PDA, then releases the lease: one
/// transaction, so the bond comes back exactly when the authority does.
pub fn return_and_release(
    caller: &Pubkey,
    thread: &Pubkey,
    holder: &Pubkey,
    nonce: &Pubkey,
    authority_is_caller: bool,
) -> Vec<Instruction> {
    let mut ixs = Vec::with_capacity(2);
    if authority_is_caller {
        ixs.push(system_instruction::authorize_nonce_account(
            nonce, caller, thread,
        ));
    }
    ixs.push(Instruction {
        program_id: thread::ID,
        accounts: thread::accounts::ReleaseLease {
            caller: *caller,
            thread: *thread,
            holder: *holder,
            nonce_account: *nonce,
            event_authority: event_authority(),
            program: thread::ID,
        }
        .to_account_metas(None),
        data: thread::instruction::ReleaseLease {}.data(),
    });
    ixs
}

/// Forfeits an expired lease whose holder kept the authority; `new_nonce` signs.
pub fn forfeit_lease(
    caller: &Pubkey,
    thread: &Pubkey,
    owner: &Pubkey,
    old_nonce: &Pubkey,
    new_nonce: &Pubkey,
) -> Instruction {
    Instruction {
        program_id: thread::ID,
        accounts: thread::accounts::ForfeitLease {
            caller: *caller,
            thread: *thread,
            owner: *owner,
            old_nonce_account: *old_nonce,
            new_nonce_account: *new_nonce,
            recent_blockhashes: sysvar::recent_blockhashes::ID,
            rent: sysvar::rent::ID,
            system_program: SYSTEM_PROGRAM,
            event_authority: event_authority(),
            program: thread::ID,
        }
        .to_account_metas(None),
        data: thread::instruction::ForfeitLease {}.data(),
    }
}
