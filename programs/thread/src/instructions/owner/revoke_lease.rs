//! `revoke_lease`: the owner ends a keeper's lease now, e.g. one that holds the nonce but
//! does not execute. Executions and renewals stop at once; the holder then has
//! `REVOKE_GRACE_SLOTS` slots to hand the authority back and release (getting its whole
//! bond back). Only after that window may anyone forfeit the lease or delete the thread
//! over it, so revoking and settling can never share a transaction.

use anchor_lang::prelude::*;

use crate::errors::ThreadError;
use crate::events::LeaseRevoked;
use crate::instructions::owner::OwnedThread;

pub fn handler(ctx: Context<OwnedThread>) -> Result<()> {
    let slot = Clock::get()?.slot;
    let thread = &mut ctx.accounts.thread;
    let lease = thread.lease.as_mut().ok_or(ThreadError::NoLease)?;
    // A second revoke would restart the holder's grace window: refused by name.
    require!(lease.revoked_slot.is_none(), ThreadError::LeaseRevoked);
    require!(lease.is_live(slot), ThreadError::LeaseExpired);
    let old_expires_slot = lease.expires_slot;
    lease.expires_slot = slot;
    lease.revoked_slot = Some(slot);
    let holder = lease.holder;
    let settles_at_slot = lease.settles_at();
    thread.invariant()?;
    emit_cpi!(LeaseRevoked {
        thread: ctx.accounts.thread.key(),
        holder,
        old_expires_slot,
        new_expires_slot: slot,
        settles_at_slot,
    });
    Ok(())
}
