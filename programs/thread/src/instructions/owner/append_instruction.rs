//! `append_thread_instruction`: the owner writes a thread's instructions in pieces, for a
//! list too large for one transaction. Each stored account is 34 bytes of instruction
//! data, so one creation transaction holds only 20 to 25 of them, while a thread may
//! store up to `MAX_ACCOUNTS_PER_INSTRUCTION` accounts per instruction (and lookup tables
//! let its executions carry them).
//!
//! Only while the thread is paused: a keeper would otherwise run a list half written.
//! The owner creates the thread and pauses it in one transaction, appends the rest, and
//! resumes it (`client::create_in_pieces` plans exactly that). Every piece must leave a
//! list that obeys the stored rules (`ThreadInstruction::validate_list`), so the list is
//! never invalid in between; the owner pays the rent of the larger account.

use anchor_lang::prelude::*;

use crate::errors::ThreadError;
use crate::events::ThreadInstructionAppended;
use crate::instructions::owner::update_thread::UpdateThread;
use crate::state::{ThreadAccountMeta, ThreadInstruction};

/// One piece of a thread's stored instructions.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug, PartialEq, Eq)]
pub enum InstructionPiece {
    /// A new stored instruction, run after the others.
    Instruction { instruction: ThreadInstruction },
    /// Accounts and data that continue the last stored instruction: appended to its own.
    Continuation {
        accounts: Vec<ThreadAccountMeta>,
        data: Vec<u8>,
    },
}

/// Takes `update_thread`'s accounts (the owner pays for the larger account through the
/// system program), without remaining accounts.
pub fn handler(ctx: Context<UpdateThread>, piece: InstructionPiece) -> Result<()> {
    let thread_key = ctx.accounts.thread.key();
    // Changed in place: a piece that breaks a rule fails the transaction, so nothing of
    // it is ever written.
    let thread = &mut ctx.accounts.thread;
    require!(thread.paused, ThreadError::ThreadNotPaused);
    match piece {
        InstructionPiece::Instruction { instruction } => thread.instructions.push(instruction),
        InstructionPiece::Continuation { accounts, data } => {
            let last = thread
                .instructions
                .last_mut()
                .ok_or(ThreadError::NoInstructions)?;
            last.accounts.extend(accounts);
            last.data.extend(data);
        }
    }
    ThreadInstruction::validate_list(&thread.instructions, &thread_key)?;
    ctx.accounts.resize_to_fit()?;
    ctx.accounts.thread.invariant()?;

    let thread = &ctx.accounts.thread;
    let last = thread.instructions.last();
    emit_cpi!(ThreadInstructionAppended {
        thread: thread_key,
        instructions_len: u8::try_from(thread.instructions.len()).unwrap_or(u8::MAX),
        last_accounts_len: last.map_or(0, |ix| u8::try_from(ix.accounts.len()).unwrap_or(u8::MAX)),
        last_data_len: last.map_or(0, |ix| u16::try_from(ix.data.len()).unwrap_or(u16::MAX)),
    });
    Ok(())
}
