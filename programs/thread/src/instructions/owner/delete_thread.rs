//! `delete_thread`: the owner closes the thread and gets every lamport back, the nonce
//! account's included for a durable thread.

use anchor_lang::prelude::*;

use crate::errors::ThreadError;
use crate::events::ThreadDeleted;
use crate::instructions::nonce_cpi::{authority_is_home, close_thread_nonce, NonceSysvars};
use crate::state::{Durability, Thread};

/// For a non-durable thread `nonce_account` and `lease_holder` are omitted (pass the
/// program id, as for any absent optional account).
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
    /// CHECK: the thread's nonce account (durable threads; checked in the handler).
    #[account(mut)]
    pub nonce_account: Option<UncheckedAccount<'info>>,
    /// CHECK: the holder of an expired lease (checked in the handler), repaid its bond
    /// when it handed the nonce authority back.
    #[account(mut)]
    pub lease_holder: Option<UncheckedAccount<'info>>,
    /// CHECK: the recent blockhashes sysvar, which nonce withdrawal still takes.
    #[account(address = solana_sdk_ids::sysvar::recent_blockhashes::ID)]
    pub recent_blockhashes: UncheckedAccount<'info>,
    pub rent: Sysvar<'info, Rent>,
    pub system_program: Program<'info, System>,
}

pub fn handler(ctx: Context<DeleteThread>) -> Result<()> {
    let slot = Clock::get()?.slot;
    let accounts = &ctx.accounts;
    let thread_key = accounts.thread.key();
    let thread_info = accounts.thread.to_account_info();

    let mut nonce_lamports = 0;
    let mut bond_to_holder = 0;
    if let Durability::Durable { nonce_account } = accounts.thread.durability {
        let nonce = accounts
            .nonce_account
            .as_ref()
            .ok_or(ThreadError::MissingNonceAccount)?;
        require_keys_eq!(
            nonce.key(),
            nonce_account,
            ThreadError::NonceAccountMismatch
        );
        let authority_home = authority_is_home(&thread_key, nonce);
        let lease = accounts.thread.lease;
        // A live lease blocks deletion. An expired one whose authority came back repays
        // its holder; otherwise its bond stays with the thread and so goes to the owner,
        // making up for the nonce account the holder kept.
        // A revoked lease's holder keeps its grace window to hand the authority back
        // and release, so the owner cannot revoke and delete in one transaction.
        if let Some(lease) = lease {
            require!(!lease.is_live(slot), ThreadError::LeaseHeld);
            require!(lease.is_settleable(slot), ThreadError::RevokeGraceNotOver);
        }
        let holder = match (lease, authority_home) {
            (Some(lease), true) => {
                let holder = accounts
                    .lease_holder
                    .as_ref()
                    .ok_or(ThreadError::MissingLeaseHolder)?;
                require_keys_eq!(holder.key(), lease.holder, ThreadError::NotLeaseHolder);
                Some((holder, lease.bond))
            }
            _ => None,
        };
        if authority_home {
            nonce_lamports = close_thread_nonce(
                &accounts.thread,
                &nonce.to_account_info(),
                &accounts.owner.to_account_info(),
                &NonceSysvars::new(
                    &accounts.recent_blockhashes,
                    &accounts.rent,
                    &accounts.system_program,
                ),
            )?;
        }
        // Direct lamport moves only after the last CPI that involves the thread: the
        // runtime checks lamport balance across a CPI boundary. The bond is at least a
        // nonce account's rent, so even an emptied holder wallet ends rent exempt.
        if let Some((holder, bond)) = holder {
            thread_info.sub_lamports(bond)?;
            holder.to_account_info().add_lamports(bond)?;
            bond_to_holder = bond;
        }
    }

    emit_cpi!(ThreadDeleted {
        thread: thread_key,
        owner: ctx.accounts.owner.key(),
        lamports: thread_info.lamports(),
        nonce_lamports,
        bond_to_holder,
    });
    Ok(())
}
