//! Builders of the instructions a thread's owner signs: creating, changing, pausing,
//! funding, deleting a thread, its durability, and revoking a keeper's lease.
//!
//! Each takes the thread's address rather than deriving it from the id: the caller holds
//! it already (discovery lists threads by address), and a builder that derived it could
//! not express an id the program must refuse. An `Account` or `Condition` trigger's
//! watched account and the lookup tables being set are added from the arguments, as the
//! program requires.

use anchor_lang::prelude::{AccountMeta, Pubkey};
use anchor_lang::solana_program::instruction::Instruction;
use solana_sdk_ids::sysvar;

use super::{watched_account, SYSTEM_PROGRAM};
use crate::instruction;
use crate::instructions::{CreateThreadArgs, InstructionPiece, UpdateThreadArgs};

/// `create_thread`: a non-durable thread at `thread`, the PDA of `owner` and `args.id`.
pub fn create_thread(owner: &Pubkey, thread: &Pubkey, args: CreateThreadArgs) -> Instruction {
    let remaining = setting_accounts(Some(&args.trigger), Some(&args.lookup_tables));
    let mut ix = thread_instruction!(
        CreateThread {
            owner: *owner,
            thread: *thread,
            system_program: SYSTEM_PROGRAM,
        },
        instruction::CreateThread { args },
    );
    ix.accounts.extend(remaining);
    ix
}

/// `create_thread_with_nonce`: a durable thread and its nonce account at `nonce`, a fresh
/// keypair's address; that keypair signs too.
pub fn create_thread_with_nonce(
    owner: &Pubkey,
    thread: &Pubkey,
    nonce: &Pubkey,
    args: CreateThreadArgs,
    max_lease_slots: u64,
) -> Instruction {
    let remaining = setting_accounts(Some(&args.trigger), Some(&args.lookup_tables));
    let mut ix = thread_instruction!(
        CreateThreadWithNonce {
            owner: *owner,
            thread: *thread,
            nonce_account: *nonce,
            recent_blockhashes: sysvar::recent_blockhashes::ID,
            rent: sysvar::rent::ID,
            system_program: SYSTEM_PROGRAM,
        },
        instruction::CreateThreadWithNonce {
            args,
            max_lease_slots,
        },
    );
    ix.accounts.extend(remaining);
    ix
}

/// `update_thread`; a new `Account` or `Condition` trigger brings its watched account,
/// new lookup tables themselves.
pub fn update_thread(owner: &Pubkey, thread: &Pubkey, args: UpdateThreadArgs) -> Instruction {
    let remaining = setting_accounts(args.trigger.as_ref(), args.lookup_tables.as_deref());
    let mut ix = thread_instruction!(
        UpdateThread {
            owner: *owner,
            thread: *thread,
            system_program: SYSTEM_PROGRAM,
        },
        instruction::UpdateThread { args },
    );
    ix.accounts.extend(remaining);
    ix
}

/// The remaining accounts of setting `trigger` and `lookup_tables`: the watched account,
/// then each table (the program checks each is a live table), read-only.
fn setting_accounts(
    trigger: Option<&crate::state::Trigger>,
    lookup_tables: Option<&[Pubkey]>,
) -> Vec<AccountMeta> {
    let tables = lookup_tables
        .unwrap_or_default()
        .iter()
        .map(|table| AccountMeta::new_readonly(*table, false));
    watched_account(trigger).into_iter().chain(tables).collect()
}

/// `append_thread_instruction`: `piece` of a paused thread's instructions (see
/// [`super::pieces`] for writing a list too large for one transaction).
pub fn append_thread_instruction(
    owner: &Pubkey,
    thread: &Pubkey,
    piece: InstructionPiece,
) -> Instruction {
    thread_instruction!(
        UpdateThread {
            owner: *owner,
            thread: *thread,
            system_program: SYSTEM_PROGRAM,
        },
        instruction::AppendThreadInstruction { piece },
    )
}

/// `pause_thread`.
pub fn pause_thread(owner: &Pubkey, thread: &Pubkey) -> Instruction {
    thread_instruction!(
        OwnedThread {
            owner: *owner,
            thread: *thread,
        },
        instruction::PauseThread {},
    )
}

/// `resume_thread`.
pub fn resume_thread(owner: &Pubkey, thread: &Pubkey) -> Instruction {
    thread_instruction!(
        OwnedThread {
            owner: *owner,
            thread: *thread,
        },
        instruction::ResumeThread {},
    )
}

/// `withdraw_thread`: `amount` lamports of unspent fee deposit back to the owner.
pub fn withdraw_thread(owner: &Pubkey, thread: &Pubkey, amount: u64) -> Instruction {
    thread_instruction!(
        WithdrawThread {
            owner: *owner,
            thread: *thread,
        },
        instruction::WithdrawThread { amount },
    )
}

/// `delete_thread`. A durable thread names its `nonce` account (closed with it); an
/// expired lease whose authority came back names its `lease_holder`, repaid its bond.
/// Both `None` for a non-durable thread.
pub fn delete_thread(
    owner: &Pubkey,
    thread: &Pubkey,
    nonce: Option<Pubkey>,
    lease_holder: Option<Pubkey>,
) -> Instruction {
    thread_instruction!(
        DeleteThread {
            owner: *owner,
            thread: *thread,
            nonce_account: nonce,
            lease_holder,
            recent_blockhashes: sysvar::recent_blockhashes::ID,
            rent: sysvar::rent::ID,
            system_program: SYSTEM_PROGRAM,
        },
        instruction::DeleteThread {},
    )
}

/// `make_thread_durable`: a new nonce account at `nonce`, whose keypair signs too.
pub fn make_thread_durable(
    owner: &Pubkey,
    thread: &Pubkey,
    nonce: &Pubkey,
    max_lease_slots: u64,
) -> Instruction {
    thread_instruction!(
        MakeThreadDurable {
            owner: *owner,
            thread: *thread,
            nonce_account: *nonce,
            recent_blockhashes: sysvar::recent_blockhashes::ID,
            rent: sysvar::rent::ID,
            system_program: SYSTEM_PROGRAM,
        },
        instruction::MakeThreadDurable { max_lease_slots },
    )
}

/// `make_thread_non_durable`: closes the thread's nonce account `nonce`.
pub fn make_thread_non_durable(owner: &Pubkey, thread: &Pubkey, nonce: &Pubkey) -> Instruction {
    thread_instruction!(
        MakeThreadNonDurable {
            owner: *owner,
            thread: *thread,
            nonce_account: *nonce,
            recent_blockhashes: sysvar::recent_blockhashes::ID,
            rent: sysvar::rent::ID,
            system_program: SYSTEM_PROGRAM,
        },
        instruction::MakeThreadNonDurable {},
    )
}

/// `rotate_thread_nonce`: from `old_nonce` to a new account at `new_nonce`, whose keypair
/// signs too.
pub fn rotate_thread_nonce(
    owner: &Pubkey,
    thread: &Pubkey,
    old_nonce: &Pubkey,
    new_nonce: &Pubkey,
) -> Instruction {
    thread_instruction!(
        RotateThreadNonce {
            owner: *owner,
            thread: *thread,
            old_nonce_account: *old_nonce,
            new_nonce_account: *new_nonce,
            recent_blockhashes: sysvar::recent_blockhashes::ID,
            rent: sysvar::rent::ID,
            system_program: SYSTEM_PROGRAM,
        },
        instruction::RotateThreadNonce {},
    )
}

/// `revoke_lease`: ends the live lease now, leaving its holder the grace window.
pub fn revoke_lease(owner: &Pubkey, thread: &Pubkey) -> Instruction {
    thread_instruction!(
        OwnedThread {
            owner: *owner,
            thread: *thread,
        },
        instruction::RevokeLease {},
    )
}
