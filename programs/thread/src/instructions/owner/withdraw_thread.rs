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
    /// Lamports the owner may take ([`Thread::withdrawable`]).
    pub fn available(&self) -> Result<u64> {
        let info = self.thread.to_account_info();
        let rent_minimum = Rent::get()?.minimum_balance(info.data_len());
        Ok(self.thread.withdrawable(info.lamports(), rent_minimum))
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
