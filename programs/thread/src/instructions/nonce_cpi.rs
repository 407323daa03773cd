//! System-program CPIs on a thread's nonce account, shared by the durable instructions.

use anchor_lang::prelude::*;
use anchor_lang::system_program;

use crate::errors::ThreadError;
use crate::nonce::{NonceState, NONCE_ACCOUNT_LEN};
use crate::state::Thread;

/// The sysvar accounts the system program's nonce instructions still take.
pub struct NonceSysvars<'a, 'info> {
    pub recent_blockhashes: &'a AccountInfo<'info>,
    pub rent: &'a AccountInfo<'info>,
    pub system_program: &'a AccountInfo<'info>,
}

/// Creates `nonce` (a fresh keypair account that signs the transaction), rent exempt at
/// the Rent sysvar's price, with the thread PDA `thread` as its authority.
pub fn create_thread_nonce<'info>(
    payer: &AccountInfo<'info>,
    nonce: &AccountInfo<'info>,
    thread: &Pubkey,
    sysvars: &NonceSysvars<'_, 'info>,
) -> Result<u64> {
    let lamports = Rent::get()?.minimum_balance(NONCE_ACCOUNT_LEN);
    system_program::create_nonce_account(
        CpiContext::new(
            sysvars.system_program.key(),
            system_program::CreateNonceAccount {
                from: payer.clone(),
                nonce: nonce.clone(),
                recent_blockhashes: sysvars.recent_blockhashes.clone(),
                rent: sysvars.rent.clone(),
            },
        ),
        lamports,
        thread,
    )?;
    Ok(lamports)
}

/// Withdraws every lamport of the thread's nonce account to `to`, which closes it. The
/// thread PDA signs as the nonce authority, so the authority must be back with it.
pub fn close_thread_nonce<'info>(
    thread: &Account<'info, Thread>,
    nonce: &AccountInfo<'info>,
    to: &AccountInfo<'info>,
    sysvars: &NonceSysvars<'_, 'info>,
) -> Result<u64> {
    let state = NonceState::read(nonce).ok_or(ThreadError::InvalidNonceAccount)?;
    require_keys_eq!(
        state.authority,
        thread.key(),
        ThreadError::AuthorityNotReturned
    );
    let lamports = nonce.lamports();
    thread.with_signer_seeds(|seeds| {
        system_program::withdraw_nonce_account(
            CpiContext::new_with_signer(
                sysvars.system_program.key(),
                system_program::WithdrawNonceAccount {
                    nonce: nonce.clone(),
                    to: to.clone(),
                    recent_blockhashes: sysvars.recent_blockhashes.clone(),
                    rent: sysvars.rent.clone(),
                    authorized: thread.to_account_info(),
                },
                &[seeds],
            ),
            lamports,
        )
    })?;
    Ok(lamports)
}

/// Makes `new_authority` the nonce authority, the thread PDA signing as the current one.
pub fn lend_thread_nonce<'info>(
    thread: &Account<'info, Thread>,
    nonce: &AccountInfo<'info>,
    new_authority: &Pubkey,
    system_program_info: &AccountInfo<'info>,
) -> Result<()> {
    thread.with_signer_seeds(|seeds| {
        system_program::authorize_nonce_account(
            CpiContext::new_with_signer(
                system_program_info.key(),
                system_program::AuthorizeNonceAccount {
                    nonce: nonce.clone(),
                    authorized: thread.to_account_info(),
                },
                &[seeds],
            ),
            new_authority,
        )
    })
}

/// Whether the nonce authority is with the thread PDA. A closed, drained or foreign
/// account counts as not returned.
pub fn authority_is_home(thread: &Pubkey, nonce: &AccountInfo) -> bool {
    NonceState::read(nonce).is_some_and(|state| state.authority == *thread)
}
