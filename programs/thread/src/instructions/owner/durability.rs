//! Switching an existing thread between durable and non-durable executions, and moving a
//! durable thread to a new nonce account. None of these may run while a lease is held:
//! the nonce authority must be with the thread to close or replace the nonce.

use anchor_lang::prelude::*;

use crate::errors::ThreadError;
use crate::events::{DurabilityChanged, NonceRotated};
use crate::instructions::nonce_cpi::{close_thread_nonce, create_thread_nonce, NonceSysvars};
use crate::state::{Durability, Thread};

#[event_cpi]
#[derive(Accounts)]
pub struct MakeThreadDurable<'info> {
    /// Pays for the nonce account.
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
    /// A fresh keypair account that becomes the thread's nonce account.
    #[account(mut)]
    pub nonce_account: Signer<'info>,
    /// CHECK: the recent blockhashes sysvar, which nonce initialization still takes.
    #[account(address = solana_sdk_ids::sysvar::recent_blockhashes::ID)]
    pub recent_blockhashes: UncheckedAccount<'info>,
    pub rent: Sysvar<'info, Rent>,
    pub system_program: Program<'info, System>,
}

/// Gives a non-durable thread a nonce account (authority: the thread PDA).
pub fn make_durable(ctx: Context<MakeThreadDurable>, max_lease_slots: u64) -> Result<()> {
    let accounts = &ctx.accounts;
    let old = accounts.thread.durability;
    require!(old == Durability::NonDurable, ThreadError::AlreadyDurable);
    require!(max_lease_slots >= 1, ThreadError::InvalidLeaseLength);
    create_thread_nonce(
        &accounts.owner.to_account_info(),
        &accounts.nonce_account.to_account_info(),
        &accounts.thread.key(),
        &NonceSysvars::new(
            &accounts.recent_blockhashes,
            &accounts.rent,
            &accounts.system_program,
        ),
    )?;
    let new = Durability::Durable {
        nonce_account: accounts.nonce_account.key(),
    };
    let thread = &mut ctx.accounts.thread;
    thread.durability = new;
    thread.max_lease_slots = max_lease_slots;
    thread.invariant()?;
    emit_cpi!(DurabilityChanged {
        thread: ctx.accounts.thread.key(),
        old,
        new,
    });
    Ok(())
}

#[event_cpi]
#[derive(Accounts)]
pub struct MakeThreadNonDurable<'info> {
    /// Receives the nonce account's lamports.
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
    /// CHECK: must be the thread's nonce account (checked in the handler); closed here.
    #[account(mut)]
    pub nonce_account: UncheckedAccount<'info>,
    /// CHECK: the recent blockhashes sysvar, which nonce withdrawal still takes.
    #[account(address = solana_sdk_ids::sysvar::recent_blockhashes::ID)]
    pub recent_blockhashes: UncheckedAccount<'info>,
    pub rent: Sysvar<'info, Rent>,
    pub system_program: Program<'info, System>,
}

/// Closes a durable thread's nonce account (lamports to the owner); executions then use
/// recent blockhashes.
pub fn make_non_durable(ctx: Context<MakeThreadNonDurable>) -> Result<()> {
    let accounts = &ctx.accounts;
    let old = accounts.thread.durability;
    require_keys_eq!(
        accounts.thread.nonce_account()?,
        accounts.nonce_account.key(),
        ThreadError::NonceAccountMismatch
    );
    require!(accounts.thread.lease.is_none(), ThreadError::LeaseHeld);
    close_thread_nonce(
        &accounts.thread,
        &accounts.nonce_account.to_account_info(),
        &accounts.owner.to_account_info(),
        &NonceSysvars::new(
            &accounts.recent_blockhashes,
            &accounts.rent,
            &accounts.system_program,
        ),
    )?;
    let thread = &mut ctx.accounts.thread;
    thread.durability = Durability::NonDurable;
    thread.invariant()?;
    emit_cpi!(DurabilityChanged {
        thread: ctx.accounts.thread.key(),
        old,
        new: Durability::NonDurable,
    });
    Ok(())
}

#[event_cpi]
#[derive(Accounts)]
pub struct RotateThreadNonce<'info> {
    /// Pays for the new nonce account and gets the old one's lamports back.
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
    /// CHECK: must be the thread's current nonce account (checked in the handler).
    #[account(mut)]
    pub old_nonce_account: UncheckedAccount<'info>,
    /// A fresh keypair account that becomes the thread's nonce account.
    #[account(mut)]
    pub new_nonce_account: Signer<'info>,
    /// CHECK: the recent blockhashes sysvar, which the nonce instructions still take.
    #[account(address = solana_sdk_ids::sysvar::recent_blockhashes::ID)]
    pub recent_blockhashes: UncheckedAccount<'info>,
    pub rent: Sysvar<'info, Rent>,
    pub system_program: Program<'info, System>,
}

/// Moves a durable thread to a new nonce account and closes the old one.
pub fn rotate(ctx: Context<RotateThreadNonce>) -> Result<()> {
    let accounts = &ctx.accounts;
    let old_nonce = accounts.thread.nonce_account()?;
    require_keys_eq!(
        old_nonce,
        accounts.old_nonce_account.key(),
        ThreadError::NonceAccountMismatch
    );
    require!(accounts.thread.lease.is_none(), ThreadError::LeaseHeld);
    let sysvars = NonceSysvars::new(
        &accounts.recent_blockhashes,
        &accounts.rent,
        &accounts.system_program,
    );
    create_thread_nonce(
        &accounts.owner.to_account_info(),
        &accounts.new_nonce_account.to_account_info(),
        &accounts.thread.key(),
        &sysvars,
    )?;
    close_thread_nonce(
        &accounts.thread,
        &accounts.old_nonce_account.to_account_info(),
        &accounts.owner.to_account_info(),
        &sysvars,
    )?;
    let new_nonce = accounts.new_nonce_account.key();
    let thread = &mut ctx.accounts.thread;
    thread.durability = Durability::Durable {
        nonce_account: new_nonce,
    };
    thread.invariant()?;
    emit_cpi!(NonceRotated {
        thread: ctx.accounts.thread.key(),
        old_nonce_account: old_nonce,
        new_nonce_account: new_nonce,
    });
    Ok(())
}
