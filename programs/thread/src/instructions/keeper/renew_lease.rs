//! `renew_lease`: the holder extends a live lease, up to the thread's maximum from now.

use anchor_lang::prelude::*;

use crate::errors::ThreadError;
use crate::events::LeaseRenewed;
use crate::state::Thread;

#[event_cpi]
#[derive(Accounts)]
pub struct RenewLease<'info> {
    pub keeper: Signer<'info>,
    #[account(
        mut,
        seeds = [Thread::SEED, thread.owner.as_ref(), thread.id.as_ref()],
        bump = thread.bump,
        constraint = thread.version == Thread::VERSION @ ThreadError::UnsupportedVersion,
    )]
    pub thread: Account<'info, Thread>,
}

pub fn handler(ctx: Context<RenewLease>, slots: u64) -> Result<()> {
    let slot = Clock::get()?.slot;
    let keeper = ctx.accounts.keeper.key();
    let thread = &mut ctx.accounts.thread;
    let max = thread.max_lease_slots;
    let lease = thread.lease.as_mut().ok_or(ThreadError::NoLease)?;
    require_keys_eq!(lease.holder, keeper, ThreadError::NotLeaseHolder);
    require!(lease.is_live(slot), ThreadError::LeaseExpired);
    require!(slots >= 1 && slots <= max, ThreadError::InvalidLeaseLength);

    let old_expires_slot = lease.expires_slot;
    lease.expires_slot = slot
        .checked_add(slots)
        .ok_or(ThreadError::ArithmeticOverflow)?;
    let new_expires_slot = lease.expires_slot;
    thread.invariant()?;
    emit_cpi!(LeaseRenewed {
        thread: ctx.accounts.thread.key(),
        holder: keeper,
        old_expires_slot,
        new_expires_slot,
    });
    Ok(())
}
