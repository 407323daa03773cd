//! `exec_thread`'s half of thread responses: reading what a stored instruction's program
//! answered, and applying those answers to the thread once the execution has run.
//!
//! Owns: which return data counts (the stored program's own, tagged), the order answers
//! apply in (the stored order; `Close` ends the thread after the rest) and the lamport
//! moves of a close. Must not: run the stored instructions or pay the fee (the handler's).

use anchor_lang::prelude::*;
use anchor_lang::system_program;
use anchor_lang::AccountsClose;
use solana_program::program::{get_return_data, set_return_data};

use crate::errors::ThreadError;
use crate::events::ThreadClosed;
use crate::instructions::shared::{find_account, with_watched};
use crate::schedule::{self, ChainTime, NextDue};
use crate::state::{Durability, Thread, ThreadAction, ThreadInstruction, ThreadResponse};

/// An answer, with the program that gave it.
pub struct Answer {
    pub program_id: Pubkey,
    pub action: ThreadAction,
}

/// Clears return data before a stored instruction runs, so that what is read after it
/// can only be its own (the runtime would otherwise show an earlier instruction's).
pub fn clear_return_data() {
    set_return_data(&[]);
}

/// The answer of the stored instruction that just ran on `program_id`, if it gave one.
/// Return data a program it called left behind reports that program's id, and is not the
/// stored program's answer; untagged data is an ordinary return value.
pub fn answer_of(program_id: &Pubkey) -> Result<Option<Answer>> {
    let Some((from, data)) = get_return_data() else {
        return Ok(None);
    };
    if from != *program_id {
        return Ok(None);
    }
    Ok(ThreadResponse::decode(&data)?.map(|response| Answer {
        program_id: from,
        action: response.action,
    }))
}

/// Applies every answer but `Close` in order to a thread that has just executed at
/// `now`: the next answer sees what the previous one left (a new trigger, then `Chain`,
/// chains under the new trigger).
pub fn apply<'info>(
    thread: &mut Account<'info, Thread>,
    answers: &[Answer],
    remaining: &[AccountInfo<'info>],
    now: ChainTime,
) -> Result<()> {
    let thread_key = thread.key();
    for answer in answers {
        match &answer.action {
            ThreadAction::Trigger(trigger) => {
                let next = with_watched(trigger, remaining, |watched| {
                    schedule::initial(trigger, &thread_key, now, watched)
                })?;
                thread.trigger = trigger.clone();
                set_next(thread, next);
            }
            ThreadAction::Instructions(instructions) => {
                replace_instructions(thread, instructions.clone())?;
            }
            ThreadAction::Pause => thread.paused = true,
            ThreadAction::Chain => {
                let scheduled = NextDue {
                    due: thread.next_due,
                    base: thread.schedule_base,
                };
                let next = schedule::chained(&thread.trigger, scheduled);
                set_next(thread, next);
            }
            ThreadAction::Close => {}
        }
    }
    if !answers.is_empty() {
        fit_to_space(thread)?;
    }
    Ok(())
}

pub fn closes(answers: &[Answer]) -> bool {
    answers
        .iter()
        .any(|answer| answer.action == ThreadAction::Close)
}

fn set_next(thread: &mut Thread, next: NextDue) {
    thread.next_due = next.due;
    thread.schedule_base = next.base;
}

/// The thread's instructions become `instructions`, checked as stored ones are.
fn replace_instructions(
    thread: &mut Account<'_, Thread>,
    instructions: Vec<ThreadInstruction>,
) -> Result<()> {
    ThreadInstruction::validate_list(&instructions, &thread.key())?;
    thread.instructions = instructions;
    Ok(())
}

/// Resizes the account to what the answered thread needs (new instructions, or a trigger
/// larger than an older account was sized for); it must stay rent exempt (with a lease's
/// bond kept) out of its own balance.
fn fit_to_space(thread: &mut Account<'_, Thread>) -> Result<()> {
    let space = thread.space();
    let info = thread.to_account_info();
    info.resize(space)?;
    require!(
        info.lamports() >= thread.reserve(&info)?,
        ThreadError::InsufficientBalance
    );
    Ok(())
}

/// The accounts a close moves lamports or authority to, found among the remaining ones.
pub struct CloseAccounts<'a, 'info> {
    owner: &'a AccountInfo<'info>,
    /// A durable thread's nonce account and the system program, to hand the authority on.
    nonce: Option<(&'a AccountInfo<'info>, &'a AccountInfo<'info>)>,
}

impl<'a, 'info> CloseAccounts<'a, 'info> {
    pub fn find(thread: &Thread, remaining: &'a [AccountInfo<'info>]) -> Result<Self> {
        let writable = |key: &Pubkey| {
            find_account(remaining, key)
                .filter(|info| info.is_writable)
                .ok_or(ThreadError::MissingCloseAccount)
        };
        let owner = writable(&thread.owner)?;
        let nonce = match thread.durability {
            Durability::Durable { nonce_account } => Some((
                writable(&nonce_account)?,
                find_account(remaining, &system_program::ID)
                    .ok_or(ThreadError::MissingCloseAccount)?,
            )),
            Durability::NonDurable => None,
        };
        Ok(Self { owner, nonce })
    }

    /// Makes the owner the nonce authority of a durable thread, the executor (the lease
    /// holder, and so the current authority) signing. A CPI, so it comes before any
    /// direct lamport move of the execution.
    pub fn hand_nonce_to_owner(&self, executor: &AccountInfo<'info>) -> Result<()> {
        let Some((nonce, system)) = self.nonce else {
            return Ok(());
        };
        system_program::authorize_nonce_account(
            CpiContext::new(
                system.key(),
                system_program::AuthorizeNonceAccount {
                    nonce: nonce.clone(),
                    authorized: executor.clone(),
                },
            ),
            self.owner.key,
        )
    }

    /// Closes the thread: a lease's bond back to its holder, the executor, and every
    /// other lamport to the owner.
    pub fn close(
        &self,
        thread: &mut Account<'info, Thread>,
        executor: &AccountInfo<'info>,
    ) -> Result<ThreadClosed> {
        let info = thread.to_account_info();
        let bond = thread.lease.map_or(0, |lease| lease.bond);
        if bond > 0 {
            info.sub_lamports(bond)?;
            executor.add_lamports(bond)?;
        }
        let event = ThreadClosed {
            thread: info.key(),
            owner: thread.owner,
            lamports: info.lamports(),
            bond_to_holder: bond,
            nonce_account: self.nonce.map(|(nonce, _)| nonce.key()),
        };
        thread.close(self.owner.clone())?;
        Ok(event)
    }
}
