//! `update_thread`: the owner changes the trigger, instructions, fee, rate limit,
//! priority or lookup tables.

use anchor_lang::prelude::*;
use anchor_lang::system_program;

use crate::errors::ThreadError;
use crate::events::ThreadUpdated;
use crate::instructions::owner::lookup_tables::validate_lookup_tables;
use crate::instructions::shared::with_watched;
use crate::schedule::{self, ChainTime};
use crate::state::{RateLimit, Thread, ThreadInstruction, ThreadPriority, Trigger};

/// Fields left `None` keep their value.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct UpdateThreadArgs {
    /// A new trigger; its schedule restarts from now.
    pub trigger: Option<Trigger>,
    /// A new instruction list; the account grows or shrinks to fit, the owner paying or
    /// getting back the difference in rent.
    pub instructions: Option<Vec<ThreadInstruction>>,
    pub fee_per_exec: Option<u64>,
    /// A new rate limit; its window restarts at the current slot.
    pub rate_limit: Option<RateLimit>,
    /// A new priority: `Some(None)` returns the thread to each keeper's default.
    pub priority: Option<Option<ThreadPriority>>,
    /// New address lookup tables (at most 4; empty: none), each passed among the
    /// remaining accounts. The account is resized as for new instructions.
    pub lookup_tables: Option<Vec<Pubkey>>,
}

/// Remaining accounts: for a new `Account` or `Condition` trigger, the watched account; each new lookup
/// table.
#[event_cpi]
#[derive(Accounts)]
pub struct UpdateThread<'info> {
    #[account(mut)]
    pub owner: Signer<'info>,
    #[account(
        mut,
        seeds = [Thread::SEED, thread.owner.as_ref(), thread.id.as_ref()],
        bump = thread.bump,
        has_one = owner @ ThreadError::NotOwner,
        constraint = thread.version == Thread::VERSION @ ThreadError::UnsupportedVersion,
    )]
    pub thread: Account<'info, Thread>,
    pub system_program: Program<'info, System>,
}

impl UpdateThread<'_> {
    /// Resizes the thread account to what the thread now stores: the owner pays the
    /// extra rent when it grows and gets the freed rent back when it shrinks, so the fee
    /// balance is untouched. Nothing happens when the size is right.
    pub fn resize_to_fit(&self) -> Result<()> {
        let info = self.thread.to_account_info();
        let space = self.thread.space();
        if space == info.data_len() {
            return Ok(());
        }
        let rent = Rent::get()?;
        let old_reserve = rent.minimum_balance(info.data_len());
        let new_reserve = rent.minimum_balance(space);
        if new_reserve > old_reserve {
            system_program::transfer(
                CpiContext::new(
                    self.system_program.key(),
                    system_program::Transfer {
                        from: self.owner.to_account_info(),
                        to: info.clone(),
                    },
                ),
                new_reserve.saturating_sub(old_reserve),
            )?;
        } else {
            let refund = old_reserve.saturating_sub(new_reserve);
            info.sub_lamports(refund)?;
            self.owner.to_account_info().add_lamports(refund)?;
        }
        info.resize(space)?;
        Ok(())
    }
}

pub fn handler<'info>(
    ctx: Context<'info, UpdateThread<'info>>,
    args: UpdateThreadArgs,
) -> Result<()> {
    let now = ChainTime::from(&Clock::get()?);
    let thread_key = ctx.accounts.thread.key();
    let old = (
        ctx.accounts.thread.trigger.clone(),
        ctx.accounts.thread.fee_per_exec,
        ctx.accounts.thread.rate_limit,
        ctx.accounts.thread.instructions.len(),
        ctx.accounts.thread.next_due,
        ctx.accounts.thread.priority,
        ctx.accounts.thread.lookup_tables.clone(),
    );

    if let Some(instructions) = args.instructions {
        ThreadInstruction::validate_list(&instructions, &thread_key)?;
        ctx.accounts.thread.instructions = instructions;
    }
    if let Some(tables) = args.lookup_tables {
        validate_lookup_tables(&tables, ctx.remaining_accounts)?;
        ctx.accounts.thread.lookup_tables = tables;
    }
    ctx.accounts.resize_to_fit()?;
    let thread = &mut ctx.accounts.thread;
    if let Some(trigger) = args.trigger {
        let next = with_watched(&trigger, ctx.remaining_accounts, |watched| {
            schedule::initial(&trigger, &thread_key, now, watched)
        })?;
        thread.trigger = trigger;
        thread.next_due = next.due;
        thread.schedule_base = next.base;
    }
    if let Some(fee) = args.fee_per_exec {
        thread.fee_per_exec = fee;
    }
    if let Some(priority) = args.priority {
        thread.priority = priority;
    }
    if let Some(rate_limit) = args.rate_limit {
        thread.rate_limit = rate_limit;
        thread.window_start_slot = now.slot;
        thread.execs_in_window = 0;
    }
    thread.invariant()?;

    let event = ThreadUpdated {
        thread: thread_key,
        old_trigger: old.0,
        new_trigger: thread.trigger.clone(),
        old_fee_per_exec: old.1,
        new_fee_per_exec: thread.fee_per_exec,
        old_rate_limit: old.2,
        new_rate_limit: thread.rate_limit,
        old_instructions_len: u8::try_from(old.3).unwrap_or(u8::MAX),
        new_instructions_len: u8::try_from(thread.instructions.len()).unwrap_or(u8::MAX),
        old_next_due: old.4,
        new_next_due: thread.next_due,
        old_priority: old.5,
        new_priority: thread.priority,
        old_lookup_tables: old.6,
        new_lookup_tables: thread.lookup_tables.clone(),
    };
    emit_cpi!(event);
    Ok(())
}
