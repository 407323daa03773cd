//! Builders of `exec_thread` for a thread's current state, plain and durable.
//!
//! The remaining accounts are what the stored instructions name (with their stored
//! writability; the thread PDA's signature is the program's to give), their program
//! ids, an `Account` or `Condition` trigger's watched account, and what a `Close` answer
//! needs (the owner; for a durable thread its nonce account and the system program). A durable
//! execution is valid only as instruction 0 advancing the thread's nonce, then the
//! execution with the instructions sysvar, which the program reads to check that advance.

use anchor_lang::prelude::{AccountMeta, Pubkey};
use anchor_lang::solana_program::instruction::Instruction;
use anchor_lang::solana_program::system_instruction;
use anchor_lang::system_program;

use super::watched_account;
use crate::instruction;
use crate::state::Thread;

/// `exec_thread` of a non-durable `thread` by `executor`.
pub fn exec_thread(executor: &Pubkey, thread: &Pubkey, state: &Thread) -> Instruction {
    execution(executor, thread, state, false)
}

/// The `exec_thread` of a durable transaction: with the instructions sysvar, to follow
/// the nonce advance (with compute-budget instructions between, if any).
pub fn exec_thread_after_advance(
    executor: &Pubkey,
    thread: &Pubkey,
    state: &Thread,
) -> Instruction {
    execution(executor, thread, state, true)
}

/// A durable execution of `thread` by `executor`, the lease holder and so the nonce's
/// authority: the advance of the thread's nonce, then `exec_thread_after_advance`. Signed
/// on the nonce's value as blockhash. `None` for a thread that is not durable.
pub fn durable_exec_thread(
    executor: &Pubkey,
    thread: &Pubkey,
    state: &Thread,
) -> Option<[Instruction; 2]> {
    let nonce = state.nonce_account().ok()?;
    Some([
        system_instruction::advance_nonce_account(&nonce, executor),
        exec_thread_after_advance(executor, thread, state),
    ])
}

/// `exec_thread` with its fixed accounts only (`durable`: with the instructions sysvar),
/// the remaining ones left to the caller: for an address that holds no thread to read
/// them from, or a caller that finds them another way.
pub fn exec_thread_bare(executor: &Pubkey, thread: &Pubkey, durable: bool) -> Instruction {
    thread_instruction!(
        ExecThread {
            executor: *executor,
            thread: *thread,
            instructions_sysvar: durable.then_some(solana_sdk_ids::sysvar::instructions::ID),
        },
        instruction::ExecThread {},
    )
}

fn execution(executor: &Pubkey, thread: &Pubkey, state: &Thread, durable: bool) -> Instruction {
    let mut ix = exec_thread_bare(executor, thread, durable);
    let fixed = ix.accounts.len();
    // The thread and the executor are fixed accounts of `exec_thread`, where the program
    // looks a stored account up too: repeating them would only lengthen the message.
    let mut push = |meta: AccountMeta| {
        if meta.pubkey == *thread || meta.pubkey == *executor {
            return;
        }
        match ix.accounts[fixed..]
            .iter_mut()
            .find(|m| m.pubkey == meta.pubkey)
        {
            Some(existing) => existing.is_writable |= meta.is_writable,
            None => ix.accounts.push(meta),
        }
    };
    for stored in &state.instructions {
        for meta in &stored.accounts {
            push(AccountMeta {
                pubkey: meta.pubkey,
                is_signer: false,
                is_writable: meta.is_writable,
            });
        }
        push(AccountMeta::new_readonly(stored.program_id, false));
    }
    if let Some(watched) = watched_account(Some(&state.trigger)) {
        push(watched);
    }
    // What a `Close` answer pays or hands on (the program reads them only then): they
    // cost the message a few bytes, and a thread's answer is not known before it runs.
    push(AccountMeta::new(state.owner, false));
    if let Ok(nonce) = state.nonce_account() {
        push(AccountMeta::new(nonce, false));
        push(AccountMeta::new_readonly(system_program::ID, false));
    }
    ix
}
