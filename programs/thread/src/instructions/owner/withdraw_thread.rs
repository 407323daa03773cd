//! `withdraw_thread`: the owner takes back unspent fee deposit.

use anchor_lang::prelude::*;

use crate::errors::ThreadError;
use crate::events::ThreadWithdrawn;
use crate::state::Thread;

#[event_cpi]
#[derive(Accounts)]
pub struct WithdrawThread<'info> {
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
}

impl WithdrawThread<'_> {
    /// Lamports the owner may take: everything above rent and a lease's bond, less one
    /// execution's fee while the thread is active, so an execution already in flight is
    /// not starved. Pausing first releases that reserve.
    pub fn available(&self) -> Result<u64> {
        let info = self.thread.to_account_info();
        let reserved_fee = if self.thread.paused {
            0
        } else {
            self.thread.fee_per_exec
        };
        let keep = self.thread.reserve(&info)?.saturating_add(reserved_fee);
        Ok(info.lamports().saturating_sub(keep))
    }
}

pub fn handler(ctx: Context<WithdrawThread>, amount: u64) -> Result<()> {
    require!(
        amount <= ctx.accounts.available()?,
        ThreadError::WithdrawExceedsAvailable
    );
    let thread_info = ctx.accounts.thread.to_account_info();
    let old_balance = thread_info.lamports();
    thread_info.sub_lamports(amount)?;
    ctx.accounts.owner.to_account_info().add_lamports(amount)?;
    ctx.accounts.thread.invariant()?;
    emit_cpi!(ThreadWithdrawn {
        thread: ctx.accounts.thread.key(),
        owner: ctx.accounts.owner.key(),
        amount,
        old_balance,
        new_balance: thread_info.lamports(),
    });
    Ok(())
}
