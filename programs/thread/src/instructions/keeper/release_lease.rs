//! `release_lease`: ends a lease whose nonce authority is back with the thread and
//! returns the bond to the holder. The holder may release at any time; once the lease
//! has expired or was revoked anyone may, so an abandoned but honest lease never blocks
//! the thread (the bond still goes to the holder, so this is never a way to take it).

use anchor_lang::prelude::*;

use crate::errors::ThreadError;
use crate::events::LeaseReleased;
use crate::instructions::nonce_cpi::authority_is_home;
use crate::state::Thread;

#[event_cpi]
#[derive(Accounts)]
pub struct ReleaseLease<'info> {
    pub caller: Signer<'info>,
    #[account(
        mut,
        seeds = [Thread::SEED, thread.owner.as_ref(), thread.id.as_ref()],
        bump = thread.bump,
        constraint = thread.version == Thread::VERSION @ ThreadError::UnsupportedVersion,
    )]
    pub thread: Account<'info, Thread>,
    /// CHECK: must be the lease holder (checked in the handler); receives the bond.
    #[account(mut)]
    pub holder: UncheckedAccount<'info>,
    /// CHECK: must be the thread's nonce account; only its authority is read.
    pub nonce_account: UncheckedAccount<'info>,
}

pub fn handler(ctx: Context<ReleaseLease>) -> Result<()> {
    let slot = Clock::get()?.slot;
    let accounts = &ctx.accounts;
    let lease = accounts.thread.lease.ok_or(ThreadError::NoLease)?;
    require_keys_eq!(
        accounts.holder.key(),
        lease.holder,
        ThreadError::NotLeaseHolder
    );
    require!(
        accounts.caller.key() == lease.holder || !lease.is_live(slot),
        ThreadError::NotLeaseHolder
    );
    require_keys_eq!(
        accounts.thread.nonce_account()?,
        accounts.nonce_account.key(),
        ThreadError::NonceAccountMismatch
    );
    require!(
        authority_is_home(&accounts.thread.key(), &accounts.nonce_account),
        ThreadError::AuthorityNotReturned
    );

    accounts.thread.to_account_info().sub_lamports(lease.bond)?;
    accounts.holder.to_account_info().add_lamports(lease.bond)?;
    let thread = &mut ctx.accounts.thread;
    thread.lease = None;
    thread.invariant()?;
    emit_cpi!(LeaseReleased {
        thread: ctx.accounts.thread.key(),
        holder: lease.holder,
        bond: lease.bond,
    });
    Ok(())
}
