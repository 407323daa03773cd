//! `forfeit_lease`: after a lease expires without the nonce authority handed back, the
//! bond makes the owner whole and the thread moves to a fresh nonce account. Anyone may
//! call it (typically the owner or the next keeper): the caller funds the new nonce
//! account and is repaid its rent out of the bond; the rest of the bond goes to the owner.
//! When paying the owner's part would leave the owner's wallet below rent exemption (an
//! emptied wallet and a small part), it stays in the thread instead, where the owner can
//! withdraw it or get it back on deletion: a forfeit never fails because of the owner.

use anchor_lang::prelude::*;

use crate::errors::ThreadError;
use crate::events::LeaseForfeited;
use crate::instructions::nonce_cpi::{authority_is_home, create_thread_nonce, NonceSysvars};
use crate::instructions::shared::can_receive;
use crate::state::{Durability, Thread};

#[event_cpi]
#[derive(Accounts)]
pub struct ForfeitLease<'info> {
    /// Pays for the new nonce account, repaid from the bond.
    #[account(mut)]
    pub caller: Signer<'info>,
    #[account(
        mut,
        seeds = [Thread::SEED, thread.owner.as_ref(), thread.id.as_ref()],
        bump = thread.bump,
        has_one = owner @ ThreadError::NotOwner,
        constraint = thread.version == Thread::VERSION @ ThreadError::UnsupportedVersion,
    )]
    pub thread: Account<'info, Thread>,
    /// CHECK: the thread's owner (has_one above); receives the bond.
    #[account(mut)]
    pub owner: UncheckedAccount<'info>,
    /// CHECK: must be the thread's current nonce account; only its authority is read.
    pub old_nonce_account: UncheckedAccount<'info>,
    /// A fresh keypair account that becomes the thread's nonce account.
    #[account(mut)]
    pub new_nonce_account: Signer<'info>,
    /// CHECK: the recent blockhashes sysvar, which the system program's nonce
    /// initialization still takes.
    #[account(address = solana_sdk_ids::sysvar::recent_blockhashes::ID)]
    pub recent_blockhashes: UncheckedAccount<'info>,
    pub rent: Sysvar<'info, Rent>,
    pub system_program: Program<'info, System>,
}

pub fn handler(ctx: Context<ForfeitLease>) -> Result<()> {
    let slot = Clock::get()?.slot;
    let accounts = &ctx.accounts;
    let thread_key = accounts.thread.key();
    let lease = accounts.thread.lease.ok_or(ThreadError::NoLease)?;
    require!(!lease.is_live(slot), ThreadError::LeaseNotExpired);
    require!(lease.is_settleable(slot), ThreadError::RevokeGraceNotOver);
    let old_nonce = accounts.thread.nonce_account()?;
    require_keys_eq!(
        old_nonce,
        accounts.old_nonce_account.key(),
        ThreadError::NonceAccountMismatch
    );
    require!(
        !authority_is_home(&thread_key, &accounts.old_nonce_account),
        ThreadError::AuthorityReturned
    );

    let paid_for_nonce = create_thread_nonce(
        &accounts.caller.to_account_info(),
        &accounts.new_nonce_account.to_account_info(),
        &thread_key,
        &NonceSysvars::new(
            &accounts.recent_blockhashes,
            &accounts.rent,
            &accounts.system_program,
        ),
    )?;
    let repaid = paid_for_nonce.min(lease.bond);
    let owners_part = lease.bond.saturating_sub(repaid);
    let owner_info = accounts.owner.to_account_info();
    // Kept in the thread the part becomes ordinary thread balance (the bond stops being
    // reserved below), which the owner withdraws or gets back on deletion.
    let (to_owner, kept_for_owner) = if can_receive(&owner_info, owners_part)? {
        (owners_part, 0)
    } else {
        (0, owners_part)
    };
    let thread_info = accounts.thread.to_account_info();
    thread_info.sub_lamports(
        repaid
            .checked_add(to_owner)
            .ok_or(ThreadError::ArithmeticOverflow)?,
    )?;
    accounts.caller.to_account_info().add_lamports(repaid)?;
    owner_info.add_lamports(to_owner)?;

    let new_nonce = accounts.new_nonce_account.key();
    let thread = &mut ctx.accounts.thread;
    thread.lease = None;
    thread.durability = Durability::Durable {
        nonce_account: new_nonce,
    };
    thread.invariant()?;
    emit_cpi!(LeaseForfeited {
        thread: thread_key,
        holder: lease.holder,
        bond: lease.bond,
        to_owner,
        repaid_to_caller: repaid,
        old_nonce_account: old_nonce,
        new_nonce_account: new_nonce,
        kept_for_owner,
    });
    Ok(())
}
