//! `revoke_lease`: the owner ends a keeper's lease now, e.g. one that holds the nonce but
//! does not execute. The holder then hands the authority back and releases (getting its
//! bond back), or, if it does not, anyone may forfeit the lease.

use anchor_lang::prelude::*;

use crate::errors::ThreadError;
use crate::events::LeaseRevoked;
use crate::state::Thread;

#[event_cpi]
#[derive(Accounts)]
pub struct RevokeLease<'info> {
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

pub fn handler(ctx: Context<RevokeLease>) -> Result<()> {
    let slot = Clock::get()?.slot;
    let thread = &mut ctx.accounts.thread;
    let lease = thread.lease.as_mut().ok_or(ThreadError::NoLease)?;
    require!(lease.is_live(slot), ThreadError::LeaseExpired);
    let old_expires_slot = lease.expires_slot;
    lease.expires_slot = slot;
    let holder = lease.holder;
    thread.invariant()?;
    emit_cpi!(LeaseRevoked {
        thread: ctx.accounts.thread.key(),
        holder,
        old_expires_slot,
        new_expires_slot: slot,
    });
    Ok(())
}
