//! `create_thread`: the owner creates a non-durable thread and funds its fees.

use anchor_lang::prelude::*;

use crate::errors::ThreadError;
use crate::events::ThreadCreated;
use crate::instructions::shared::{create_pda_account, with_watched_data};
use crate::schedule::{self, ChainTime};
use crate::state::{Durability, RateLimit, Thread, ThreadInstruction, Trigger, MAX_ID_LEN};

#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug, PartialEq, Eq)]
pub struct CreateThreadArgs {
    /// Caller-chosen id, 1 to 32 bytes, unique per owner.
    pub id: Vec<u8>,
    pub trigger: Trigger,
    pub instructions: Vec<ThreadInstruction>,
    /// Lamports paid to the executor of each execution.
    pub fee_per_exec: u64,
    pub rate_limit: RateLimit,
    /// Lamports beyond rent moved into the thread to pay for executions.
    pub deposit: u64,
}

/// Remaining accounts: for an `Account` trigger, the watched account (by address), so
/// that only changes after creation make the thread due.
#[event_cpi]
#[derive(Accounts)]
pub struct CreateThread<'info> {
    /// Owns the thread and pays its rent and deposit.
    #[account(mut)]
    pub owner: Signer<'info>,
    /// CHECK: created by the handler once the id is known to be a valid seed; the address
    /// is checked against the PDA of (owner, id) there. Anchor's `init` would derive the
    /// PDA before any check and abort without an error code on an over-long id.
    #[account(mut)]
    pub thread: UncheckedAccount<'info>,
    pub system_program: Program<'info, System>,
}

impl CreateThread<'_> {
    pub fn validate(&self, args: &CreateThreadArgs) -> Result<u8> {
        require!(
            !args.id.is_empty() && args.id.len() <= MAX_ID_LEN,
            ThreadError::InvalidId
        );
        schedule::validate(&args.trigger)?;
        require!(
            args.rate_limit.max_execs >= 1 && args.rate_limit.window_slots >= 1,
            ThreadError::InvalidRateLimit
        );
        let (address, bump) = Thread::address(self.owner.key, &args.id);
        require_keys_eq!(
            address,
            self.thread.key(),
            ThreadError::ThreadAddressMismatch
        );
        ThreadInstruction::validate_list(&args.instructions, &address)?;
        require!(
            self.thread.data_is_empty() && self.thread.owner == &System::id(),
            ThreadError::ThreadAlreadyExists
        );
        Ok(bump)
    }
}

pub fn handler<'info>(
    ctx: Context<'info, CreateThread<'info>>,
    args: CreateThreadArgs,
) -> Result<()> {
    let bump = ctx.accounts.validate(&args)?;
    let now = ChainTime::from(&Clock::get()?);
    let thread_key = ctx.accounts.thread.key();
    let next = with_watched_data(&args.trigger, ctx.remaining_accounts, |watched| {
        schedule::initial(&args.trigger, &thread_key, now, watched)
    })?;

    let thread = Thread {
        version: Thread::VERSION,
        bump,
        owner: ctx.accounts.owner.key(),
        id: args.id.clone(),
        trigger: args.trigger.clone(),
        next_due: next.due,
        schedule_base: next.base,
        durability: Durability::NonDurable,
        fee_per_exec: args.fee_per_exec,
        rate_limit: args.rate_limit,
        window_start_slot: now.slot,
        execs_in_window: 0,
        paused: false,
        exec_count: 0,
        last_exec_slot: 0,
        last_exec_at: 0,
        created_at: now.unix_ts,
        instructions: args.instructions,
    };
    thread.invariant()?;

    let space = Thread::space_for(&thread.instructions);
    let lamports = Rent::get()?
        .minimum_balance(space)
        .checked_add(args.deposit)
        .ok_or(ThreadError::ArithmeticOverflow)?;
    let owner_key = thread.owner;
    create_pda_account(
        &ctx.accounts.owner.to_account_info(),
        &ctx.accounts.thread.to_account_info(),
        &ctx.accounts.system_program.to_account_info(),
        space,
        lamports,
        &crate::ID,
        &[Thread::SEED, owner_key.as_ref(), &args.id, &[bump]],
    )?;
    let info = ctx.accounts.thread.to_account_info();
    thread.try_serialize(&mut &mut info.try_borrow_mut_data()?[..])?;
    // What the thread really holds for fees: more than `args.deposit` when someone had
    // pre-funded the address.
    let fee_balance = info
        .lamports()
        .saturating_sub(Rent::get()?.minimum_balance(space));

    emit_cpi!(ThreadCreated {
        thread: thread_key,
        owner: thread.owner,
        id: thread.id,
        trigger: thread.trigger,
        durability: thread.durability,
        fee_per_exec: thread.fee_per_exec,
        deposit: fee_balance,
        next_due: thread.next_due,
    });
    Ok(())
}
