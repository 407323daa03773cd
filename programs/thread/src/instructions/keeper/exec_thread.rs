//! `exec_thread`: anyone runs a due thread and is paid its fee.
//!
//! The executor chooses nothing but the transaction around this instruction: the program
//! runs exactly the stored instructions, with the stored accounts (looked up by address),
//! signs only for the thread PDA, and pays the fee only to the signing executor. What
//! the stored programs answer (`state/response.rs`) is applied after the execution's own
//! bookkeeping, so an answer decides what comes next (see `responses.rs`). An arming run
//! of a `Condition` crossing (`condition::Step::Arm`) runs no instruction: it is paid and
//! counted like any execution, and only records that the value was seen on the far side.

use anchor_lang::prelude::*;
use anchor_lang::solana_program::instruction::Instruction;
use anchor_lang::solana_program::program::invoke_signed;

use crate::condition::Step;
use crate::errors::ThreadError;
use crate::events::{ThreadExecuted, ThreadResponded};
use crate::instructions::keeper::responses;
use crate::instructions::shared::{find_account, with_watched};
use crate::nonce::require_advances_first;
use crate::schedule::{self, ChainTime, NextDue};
use crate::state::{Durability, Thread, ThreadInstruction};

/// Remaining accounts: every account named by the stored instructions (program ids
/// included), and for an `Account` or `Condition` trigger the watched account; order does
/// not matter.
/// For a `Close` answer: the owner (writable) and, when durable, the nonce account
/// (writable) and the system program; the client's builders always pass them.
/// The thread and the executor are found among the fixed accounts and need not repeat.
#[event_cpi]
#[derive(Accounts)]
pub struct ExecThread<'info> {
    /// Receives the fee. For a durable thread, the lease holder.
    #[account(mut)]
    pub executor: Signer<'info>,
    #[account(
        mut,
        seeds = [Thread::SEED, thread.owner.as_ref(), thread.id.as_ref()],
        bump = thread.bump,
        constraint = thread.version == Thread::VERSION @ ThreadError::UnsupportedVersion,
    )]
    pub thread: Account<'info, Thread>,
    /// CHECK: the instructions sysvar (address checked); durable threads only, where it
    /// shows that instruction 0 advances the thread's nonce.
    #[account(address = solana_sdk_ids::sysvar::instructions::ID)]
    pub instructions_sysvar: Option<UncheckedAccount<'info>>,
}

impl ExecThread<'_> {
    /// A durable execution must come from the live lease holder, inside a transaction made
    /// durable by this thread's nonce: so each signed execution lands at most once, and
    /// only the keeper the owner's bond rules bind can produce one.
    pub fn validate(&self, slot: u64) -> Result<()> {
        let thread = &self.thread;
        require!(!thread.paused, ThreadError::ThreadPaused);
        let Durability::Durable { nonce_account } = thread.durability else {
            return Ok(());
        };
        let lease = thread.lease.ok_or(ThreadError::NoLease)?;
        require_keys_eq!(
            lease.holder,
            self.executor.key(),
            ThreadError::NotLeaseHolder
        );
        require!(lease.revoked_slot.is_none(), ThreadError::LeaseRevoked);
        require!(lease.is_live(slot), ThreadError::LeaseExpired);
        let sysvar = self
            .instructions_sysvar
            .as_ref()
            .ok_or(ThreadError::MissingInstructionsSysvar)?;
        require_advances_first(sysvar, &nonce_account)
    }
}

pub fn handler<'info>(ctx: Context<'info, ExecThread<'info>>) -> Result<()> {
    let now = ChainTime::from(&Clock::get()?);
    ctx.accounts.validate(now.slot)?;
    let thread_key = ctx.accounts.thread.key();
    // Stored accounts are looked up among the remaining accounts and the executor: a
    // stored instruction may name the executor's key (an owner running its own keeper,
    // paying itself), and a client cannot be expected to pass an account twice.
    let mut lookup = Vec::with_capacity(ctx.remaining_accounts.len().saturating_add(1));
    lookup.push(ctx.accounts.executor.to_account_info());
    lookup.extend_from_slice(ctx.remaining_accounts);
    let remaining = lookup.as_slice();

    let step = {
        let thread = &ctx.accounts.thread;
        with_watched(&thread.trigger, remaining, |watched| {
            schedule::check_due(&thread.next_due, &thread.trigger, now, watched)
        })?
    };
    ctx.accounts.thread.record_in_window(now.slot)?;

    let answers = match step {
        Step::Fire => run_instructions(&ctx.accounts.thread, remaining)?,
        Step::Arm => Vec::new(),
    };
    let executor_info = ctx.accounts.executor.to_account_info();
    let closing = if responses::closes(&answers) {
        let accounts = responses::CloseAccounts::find(&ctx.accounts.thread, remaining)?;
        accounts.hand_nonce_to_owner(&executor_info)?;
        Some(accounts)
    } else {
        None
    };

    let fee = ctx.accounts.thread.fee_per_exec;
    pay_fee(&ctx.accounts.thread, &ctx.accounts.executor, fee)?;

    let thread = &mut ctx.accounts.thread;
    let old_next_due = thread.next_due;
    let current = NextDue {
        due: thread.next_due,
        base: thread.schedule_base,
    };
    // Computed after the instructions ran, so a thread that changes the account it
    // watches is not woken by its own write.
    let next = with_watched(&thread.trigger, remaining, |watched| {
        schedule::after_execution(&thread.trigger, current, &thread_key, now, watched)
    })?;
    thread.next_due = next.due;
    thread.schedule_base = next.base;
    thread.exec_count = thread
        .exec_count
        .checked_add(1)
        .ok_or(ThreadError::ArithmeticOverflow)?;
    thread.last_exec_slot = now.slot;
    thread.last_exec_at = now.unix_ts;
    responses::apply(thread, &answers, remaining, now)?;
    thread.invariant()?;

    let event = ThreadExecuted {
        thread: thread_key,
        executor: ctx.accounts.executor.key(),
        exec_count: thread.exec_count,
        fee,
        slot: now.slot,
        unix_ts: now.unix_ts,
        old_next_due,
        new_next_due: thread.next_due,
    };
    for answer in answers {
        emit_cpi!(ThreadResponded {
            thread: thread_key,
            program_id: answer.program_id,
            action: answer.action,
        });
    }
    emit_cpi!(event);
    if let Some(accounts) = closing {
        let closed = accounts.close(&mut ctx.accounts.thread, &executor_info)?;
        emit_cpi!(closed);
    }
    Ok(())
}

/// Invokes every stored instruction, the thread PDA signing, and collects what their
/// programs answered. Every account is found by address and its privileges checked here,
/// so a missing or downgraded account fails with a named error rather than deep inside
/// the runtime.
fn run_instructions<'info>(
    thread: &Account<'info, Thread>,
    remaining: &[AccountInfo<'info>],
) -> Result<Vec<responses::Answer>> {
    let thread_info = thread.to_account_info();
    let mut answers = Vec::new();
    for stored in &thread.instructions {
        let infos = instruction_account_infos(stored, &thread_info, remaining)?;
        let ix = Instruction::from(stored);
        responses::clear_return_data();
        thread.with_signer_seeds(|seeds| invoke_signed(&ix, &infos, &[seeds]))?;
        answers.extend(responses::answer_of(&stored.program_id)?);
    }
    Ok(answers)
}

fn instruction_account_infos<'info>(
    stored: &ThreadInstruction,
    thread_info: &AccountInfo<'info>,
    remaining: &[AccountInfo<'info>],
) -> Result<Vec<AccountInfo<'info>>> {
    let mut infos = Vec::with_capacity(stored.accounts.len().saturating_add(1));
    for meta in &stored.accounts {
        let is_thread = meta.pubkey == *thread_info.key;
        let info = if is_thread {
            thread_info
        } else {
            find_account(remaining, &meta.pubkey).ok_or_else(|| {
                msg!("missing instruction account {}", meta.pubkey);
                error!(ThreadError::MissingInstructionAccount)
            })?
        };
        // Creation already refuses foreign signers; checked again so that no account
        // layout can ever make the program lend a signature it does not own.
        require!(
            !meta.is_signer || is_thread,
            ThreadError::MissingInstructionSigner
        );
        require!(
            !meta.is_writable || info.is_writable,
            ThreadError::InstructionAccountNotWritable
        );
        infos.push(info.clone());
    }
    let program = find_account(remaining, &stored.program_id).ok_or_else(|| {
        msg!("missing program account {}", stored.program_id);
        error!(ThreadError::MissingInstructionAccount)
    })?;
    infos.push(program.clone());
    Ok(infos)
}

/// Moves the fee to the executor, refusing to dip into rent or a lease's bond.
fn pay_fee<'info>(
    thread: &Account<'info, Thread>,
    executor: &Signer<'info>,
    fee: u64,
) -> Result<()> {
    let info = thread.to_account_info();
    let spendable = info.lamports().saturating_sub(thread.reserve(&info)?);
    require!(fee <= spendable, ThreadError::InsufficientBalance);
    info.sub_lamports(fee)?;
    executor.to_account_info().add_lamports(fee)?;
    Ok(())
}
