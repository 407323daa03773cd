//! System-program CPIs on a thread's nonce account, shared by the durable instructions.

use anchor_lang::prelude::*;
use anchor_lang::solana_program::instruction::{AccountMeta, Instruction};
use anchor_lang::solana_program::program::invoke;
use anchor_lang::solana_program::system_instruction::SystemInstruction;
use anchor_lang::system_program;

use crate::errors::ThreadError;
use crate::nonce::{NonceState, NONCE_ACCOUNT_LEN};
use crate::state::Thread;

/// The sysvar accounts the system program's nonce instructions still take.
pub struct NonceSysvars<'info> {
    pub recent_blockhashes: AccountInfo<'info>,
    pub rent: AccountInfo<'info>,
    pub system_program: AccountInfo<'info>,
}

impl<'info> NonceSysvars<'info> {
    /// From the accounts of an instruction that touches a nonce, which all carry them.
    pub fn new(
        recent_blockhashes: &UncheckedAccount<'info>,
        rent: &Sysvar<'info, Rent>,
        system_program: &Program<'info, System>,
    ) -> Self {
        Self {
            recent_blockhashes: recent_blockhashes.to_account_info(),
            rent: rent.to_account_info(),
            system_program: system_program.to_account_info(),
        }
    }
}

/// Creates `nonce` (a fresh keypair account that signs the transaction), holding exactly
/// the Rent sysvar's price for 80 bytes, with the thread PDA `thread` as its authority.
/// Returns the lamports `payer` put in.
///
/// Anyone can send lamports to an address they see in a pending transaction, and the
/// system program's `create_account` refuses an address with lamports. So a pre-funded
/// address is taken over instead: lamports above rent go back to `payer` (the nonce key
/// signs the transfer), any shortfall is topped up, then the account is allocated and
/// initialized. An address that already holds data or belongs to another program is
/// someone's account and is refused by name.
pub fn create_thread_nonce<'info>(
    payer: &AccountInfo<'info>,
    nonce: &AccountInfo<'info>,
    thread: &Pubkey,
    sysvars: &NonceSysvars<'info>,
) -> Result<u64> {
    let lamports = Rent::get()?.minimum_balance(NONCE_ACCOUNT_LEN);
    let existing = nonce.lamports();
    if existing == 0 {
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
        return Ok(lamports);
    }
    // The payer's own wallet is not a fresh address: it would become the nonce with all
    // its lamports (the excess cannot be sent back to itself), raising every keeper's
    // bond to match.
    require!(
        nonce.data_is_empty() && nonce.owner == &System::id() && nonce.key != payer.key,
        ThreadError::NonceAddressInUse
    );
    let transfer = |from: &AccountInfo<'info>, to: &AccountInfo<'info>, amount: u64| {
        system_program::transfer(
            CpiContext::new(
                sysvars.system_program.key(),
                system_program::Transfer {
                    from: from.clone(),
                    to: to.clone(),
                },
            ),
            amount,
        )
    };
    let excess = existing.saturating_sub(lamports);
    let top_up = lamports.saturating_sub(existing);
    if excess > 0 {
        transfer(nonce, payer, excess)?;
    }
    if top_up > 0 {
        transfer(payer, nonce, top_up)?;
    }
    system_program::allocate(
        CpiContext::new(
            sysvars.system_program.key(),
            system_program::Allocate {
                account_to_allocate: nonce.clone(),
            },
        ),
        NONCE_ACCOUNT_LEN as u64,
    )?;
    let initialize = Instruction::new_with_bincode(
        system_program::ID,
        &SystemInstruction::InitializeNonceAccount(*thread),
        vec![
            AccountMeta::new(nonce.key(), false),
            AccountMeta::new_readonly(sysvars.recent_blockhashes.key(), false),
            AccountMeta::new_readonly(sysvars.rent.key(), false),
        ],
    );
    invoke(
        &initialize,
        &[
            nonce.clone(),
            sysvars.recent_blockhashes.clone(),
            sysvars.rent.clone(),
        ],
    )?;
    Ok(top_up)
}

/// Withdraws every lamport of the thread's nonce account to `to`, which closes it. The
/// thread PDA signs as the nonce authority, so the authority must be back with it.
pub fn close_thread_nonce<'info>(
    thread: &Account<'info, Thread>,
    nonce: &AccountInfo<'info>,
    to: &AccountInfo<'info>,
    sysvars: &NonceSysvars<'info>,
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
