//! `claim_lease`: a keeper takes the nonce authority of a durable thread for a while,
//! posting a bond.

use anchor_lang::prelude::*;
use anchor_lang::system_program;

use crate::errors::ThreadError;
use crate::events::LeaseClaimed;
use crate::instructions::nonce_cpi::{authority_is_home, lend_thread_nonce};
use crate::state::{Lease, Thread};

#[event_cpi]
#[derive(Accounts)]
pub struct ClaimLease<'info> {
    /// Becomes the nonce authority and posts the bond.
    #[account(mut)]
    pub keeper: Signer<'info>,
    #[account(
        mut,
        seeds = [Thread::SEED, thread.owner.as_ref(), thread.id.as_ref()],
        bump = thread.bump,
        constraint = thread.version == Thread::VERSION @ ThreadError::UnsupportedVersion,
    )]
    pub thread: Account<'info, Thread>,
    /// CHECK: must be the thread's nonce account (checked in `validate`); its state is
    /// parsed there and its authority changed by the system program.
    #[account(mut)]
    pub nonce_account: UncheckedAccount<'info>,
    pub system_program: Program<'info, System>,
}

impl ClaimLease<'_> {
    pub fn validate(&self, slots: u64, bond: u64) -> Result<()> {
        let thread = &self.thread;
        require_keys_eq!(
            thread.nonce_account()?,
            self.nonce_account.key(),
            ThreadError::NonceAccountMismatch
        );
        require!(thread.lease.is_none(), ThreadError::LeaseHeld);
        require!(
            slots >= 1 && slots <= thread.max_lease_slots,
            ThreadError::InvalidLeaseLength
        );
        require!(
            bond >= self.nonce_account.lamports(),
            ThreadError::BondTooSmall
        );
        require!(
            authority_is_home(&thread.key(), &self.nonce_account),
            ThreadError::InvalidNonceAccount
        );
        Ok(())
    }
}

pub fn handler(ctx: Context<ClaimLease>, slots: u64, bond: u64) -> Result<()> {
    ctx.accounts.validate(slots, bond)?;
    let slot = Clock::get()?.slot;
    let accounts = &ctx.accounts;

    system_program::transfer(
        CpiContext::new(
            accounts.system_program.key(),
            system_program::Transfer {
                from: accounts.keeper.to_account_info(),
                to: accounts.thread.to_account_info(),
            },
        ),
        bond,
    )?;
    lend_thread_nonce(
        &accounts.thread,
        &accounts.nonce_account.to_account_info(),
        accounts.keeper.key,
        &accounts.system_program.to_account_info(),
    )?;

    let lease = Lease {
        holder: accounts.keeper.key(),
        claimed_slot: slot,
        expires_slot: slot
            .checked_add(slots)
            .ok_or(ThreadError::ArithmeticOverflow)?,
        bond,
        revoked_slot: None,
    };
    let thread = &mut ctx.accounts.thread;
    thread.lease = Some(lease);
    thread.invariant()?;
    emit_cpi!(LeaseClaimed {
        thread: ctx.accounts.thread.key(),
        holder: lease.holder,
        nonce_account: ctx.accounts.nonce_account.key(),
        expires_slot: lease.expires_slot,
        bond,
    });
    Ok(())
}
