//! `create_thread_with_nonce`: the owner creates a durable thread together with its
//! nonce account, whose authority is the thread PDA.

use anchor_lang::prelude::*;

use crate::errors::ThreadError;
use crate::instructions::nonce_cpi::{create_thread_nonce, NonceSysvars};
use crate::instructions::owner::create_thread::{open_thread, CreateThreadArgs, NewThreadAccounts};
use crate::state::Durability;

/// Remaining accounts: as for `create_thread`.
#[event_cpi]
#[derive(Accounts)]
pub struct CreateThreadWithNonce<'info> {
    /// Owns the thread and pays its rent, deposit and the nonce account's rent.
    #[account(mut)]
    pub owner: Signer<'info>,
    /// CHECK: created by the handler at the PDA of (owner, id), as in `create_thread`.
    #[account(mut)]
    pub thread: UncheckedAccount<'info>,
    /// A fresh keypair account that becomes the thread's nonce account.
    #[account(mut)]
    pub nonce_account: Signer<'info>,
    /// CHECK: the recent blockhashes sysvar, which nonce initialization still takes.
    #[account(address = solana_sdk_ids::sysvar::recent_blockhashes::ID)]
    pub recent_blockhashes: UncheckedAccount<'info>,
    pub rent: Sysvar<'info, Rent>,
    pub system_program: Program<'info, System>,
}

pub fn handler<'info>(
    ctx: Context<'info, CreateThreadWithNonce<'info>>,
    args: CreateThreadArgs,
    max_lease_slots: u64,
) -> Result<()> {
    require!(max_lease_slots >= 1, ThreadError::InvalidLeaseLength);
    let accounts = &ctx.accounts;
    let opened = open_thread(
        NewThreadAccounts {
            owner: &accounts.owner.to_account_info(),
            thread: &accounts.thread.to_account_info(),
            system_program: &accounts.system_program.to_account_info(),
            remaining: ctx.remaining_accounts,
        },
        args,
        Durability::Durable {
            nonce_account: accounts.nonce_account.key(),
        },
        max_lease_slots,
    )?;
    create_thread_nonce(
        &accounts.owner.to_account_info(),
        &accounts.nonce_account.to_account_info(),
        &opened.key,
        &NonceSysvars::new(
            &accounts.recent_blockhashes,
            &accounts.rent,
            &accounts.system_program,
        ),
    )?;
    emit_cpi!(opened.event());
    Ok(())
}
