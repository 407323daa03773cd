//! `delete_thread`: the owner closes the thread and gets every lamport back.

use anchor_lang::prelude::*;

use crate::errors::ThreadError;
use crate::events::ThreadDeleted;
use crate::state::Thread;

#[event_cpi]
#[derive(Accounts)]
pub struct DeleteThread<'info> {
    #[account(mut)]
    pub owner: Signer<'info>,
    #[account(
        mut,
        close = owner,
        seeds = [Thread::SEED, thread.owner.as_ref(), thread.id.as_ref()],
        bump = thread.bump,
        has_one = owner @ ThreadError::NotOwner,
    )]
    pub thread: Account<'info, Thread>,
}

pub fn handler(ctx: Context<DeleteThread>) -> Result<()> {
    emit_cpi!(ThreadDeleted {
        thread: ctx.accounts.thread.key(),
        owner: ctx.accounts.owner.key(),
        lamports: ctx.accounts.thread.to_account_info().lamports(),
    });
    Ok(())
}
