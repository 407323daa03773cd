//! Owner instructions the keeper itself sends: only the sandbox creates threads, to show
//! a newcomer the whole system on an in-process bank.

use anchor_lang::{InstructionData, ToAccountMetas};
use solana_sdk::instruction::{AccountMeta, Instruction};
use solana_sdk::pubkey::Pubkey;
use solana_sdk_ids::sysvar;
use thread::instructions::{CreateThreadArgs, UpdateThreadArgs};

use crate::exec_ix::event_authority;

/// `create_thread`; `watched` is an `Account` trigger's account, if any.
pub fn create_thread(
    owner: &Pubkey,
    thread: &Pubkey,
    args: CreateThreadArgs,
    watched: Option<Pubkey>,
) -> Instruction {
    let mut accounts = thread::accounts::CreateThread {
        owner: *owner,
        thread: *thread,
        system_program: solana_sdk_ids::system_program::ID,
        event_authority: event_authority(),
        program: thread::ID,
    }
    .to_account_metas(None);
    accounts.extend(watched.map(|k| AccountMeta::new_readonly(k, false)));
    Instruction {
        program_id: thread::ID,
        accounts,
        data: thread::instruction::CreateThread { args }.data(),
    }
}

/// `create_thread_with_nonce`; the `nonce` keypair must sign.
pub fn create_thread_with_nonce(
    owner: &Pubkey,
    thread: &Pubkey,
    nonce: &Pubkey,
    args: CreateThreadArgs,
    max_lease_slots: u64,
    watched: Option<Pubkey>,
) -> Instruction {
    let mut accounts = thread::accounts::CreateThreadWithNonce {
        owner: *owner,
        thread: *thread,
        nonce_account: *nonce,
        recent_blockhashes: sysvar::recent_blockhashes::ID,
        rent: sysvar::rent::ID,
        system_program: solana_sdk_ids::system_program::ID,
        event_authority: event_authority(),
        program: thread::ID,
    }
    .to_account_metas(None);
    accounts.extend(watched.map(|k| AccountMeta::new_readonly(k, false)));
    Instruction {
        program_id: thread::ID,
        accounts,
        data: thread::instruction::CreateThreadWithNonce {
            args,
            max_lease_slots,
        }
        .data(),
    }
}

/// `update_thread` (no new trigger, so no watched account).
pub fn update_thread(owner: &Pubkey, thread: &Pubkey, args: UpdateThreadArgs) -> Instruction {
    Instruction {
        program_id: thread::ID,
        accounts: thread::accounts::UpdateThread {
            owner: *owner,
            thread: *thread,
            system_program: solana_sdk_ids::system_program::ID,
            event_authority: event_authority(),
            program: thread::ID,
        }
        .to_account_metas(None),
        data: thread::instruction::UpdateThread { args }.data(),
    }
}
