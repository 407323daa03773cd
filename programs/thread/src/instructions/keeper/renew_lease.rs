//! `renew_lease`: the holder extends a live lease, up to the thread's maximum from now.

use anchor_lang::prelude::*;

use crate::errors::ThreadError;
use crate::events::LeaseRenewed;
use crate::nonce::NonceState;
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
    /// CHECK: must be the thread's nonce account; only its state is read.
    pub nonce_account: UncheckedAccount<'info>,
}

pub fn handler(ctx: Context<RenewLease>, slots: u64) -> Result<()> {
    let slot = Clock::get()?.slot;
    let keeper = ctx.accounts.keeper.key();
    let thread_nonce = ctx.accounts.thread.nonce_account()?;
    let thread = &mut ctx.accounts.thread;
    let max = thread.max_lease_slots;
    let lease = thread.lease.as_mut().ok_or(ThreadError::NoLease)?;
    require_keys_eq!(lease.holder, keeper, ThreadError::NotLeaseHolder);
    require!(lease.revoked_slot.is_none(), ThreadError::LeaseRevoked);
    require!(lease.is_live(slot), ThreadError::LeaseExpired);
    require!(slots >= 1 && slots <= max, ThreadError::InvalidLeaseLength);
    // Only a holder still keeping the nonce intact may extend: one that drained or
    // re-authorized it must let the lease run out so the owner can forfeit it.
    require_keys_eq!(
        thread_nonce,
        ctx.accounts.nonce_account.key(),
        ThreadError::NonceAccountMismatch
    );
    let nonce_ok = NonceState::read(&ctx.accounts.nonce_account)
        .is_some_and(|state| state.authority == keeper);
    require!(nonce_ok, ThreadError::InvalidNonceAccount);

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
