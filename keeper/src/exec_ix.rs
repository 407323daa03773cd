//! The `exec_thread` instruction for a thread's current state: the accounts its stored
//! instructions name (with their stored privileges; the thread PDA's signature is the
//! program's to give), their program ids, and an `Account` trigger's watched account.

use anchor_lang::{InstructionData, ToAccountMetas};
use solana_sdk::instruction::{AccountMeta, Instruction};
use solana_sdk::pubkey::Pubkey;
use thread::state::{Thread, Trigger};

/// The event authority PDA that the program's `emit_cpi!` signs with. Anchor derives it
/// at compile time; deriving it per build cost about as much as a signature.
pub fn event_authority() -> Pubkey {
    thread::EVENT_AUTHORITY_AND_BUMP.0
}

/// `exec_thread` of `thread` by `executor`. `durable` adds the instructions sysvar, which
/// a durable thread's execution needs.
pub fn exec_thread_instruction(
    executor: &Pubkey,
    thread: &Pubkey,
    state: &Thread,
    durable: bool,
) -> Instruction {
    let mut accounts = thread::accounts::ExecThread {
        executor: *executor,
        thread: *thread,
        instructions_sysvar: durable.then_some(solana_sdk_ids::sysvar::instructions::ID),
        event_authority: event_authority(),
        program: thread::ID,
    }
    .to_account_metas(None);
    let fixed = accounts.len();
    // The thread and the executor are fixed accounts of `exec_thread`, where the program
    // looks a stored account up too: repeating them would only lengthen the message.
    let mut push = |meta: AccountMeta| {
        if meta.pubkey == *thread || meta.pubkey == *executor {
            return;
        }
        match accounts[fixed..]
            .iter_mut()
            .find(|m| m.pubkey == meta.pubkey)
        {
            Some(existing) => existing.is_writable |= meta.is_writable,
            None => accounts.push(meta),
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
    if let Trigger::Account { address, .. } = &state.trigger {
        push(AccountMeta::new_readonly(*address, false));
    }
    Instruction {
        program_id: thread::ID,
        accounts,
        data: thread::instruction::ExecThread {}.data(),
    }
}

/// Accounts the execution writes, for prioritization-fee lookups.
pub fn writable_accounts(ix: &Instruction) -> Vec<Pubkey> {
    ix.accounts
        .iter()
        .filter(|m| m.is_writable)
        .map(|m| m.pubkey)
        .collect()
}
