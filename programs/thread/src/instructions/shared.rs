//! Account plumbing shared by several handlers.

use anchor_lang::prelude::*;
use anchor_lang::system_program;

use crate::schedule::Watched;
use crate::state::Trigger;

/// The account with `key` among `accounts`, matched by address so a caller cannot swap
/// one account for another by position.
pub fn find_account<'a, 'info>(
    accounts: &'a [AccountInfo<'info>],
    key: &Pubkey,
) -> Option<&'a AccountInfo<'info>> {
    accounts.iter().find(|info| info.key == key)
}

/// Runs `f` with the account an `Account` or `Condition` trigger watches (looked up in
/// `accounts` by address), or with `None` for every other trigger and when it is not
/// passed.
pub fn with_watched<R>(
    trigger: &Trigger,
    accounts: &[AccountInfo],
    f: impl FnOnce(Option<Watched>) -> Result<R>,
) -> Result<R> {
    let (Trigger::Account { address, .. } | Trigger::Condition { address, .. }) = trigger else {
        return f(None);
    };
    match find_account(accounts, address) {
        Some(info) => {
            let data = info.try_borrow_data()?;
            f(Some(Watched {
                data: &data,
                owner: info.owner,
            }))
        }
        None => f(None),
    }
}

/// Creates a program-owned account at a PDA, funded with `lamports`. An address that was
/// pre-funded by someone else (to block creation) is topped up, allocated and assigned
/// instead, as `create_account` would refuse it.
pub fn create_pda_account<'info>(
    payer: &AccountInfo<'info>,
    target: &AccountInfo<'info>,
    system_program: &AccountInfo<'info>,
    space: usize,
    lamports: u64,
    owner: &Pubkey,
    signer_seeds: &[&[u8]],
) -> Result<()> {
    let space_u64 = u64::try_from(space).map_err(|_| ProgramError::InvalidAccountData)?;
    let signer = &[signer_seeds];
    let existing = target.lamports();
    if existing == 0 {
        return system_program::create_account(
            CpiContext::new_with_signer(
                system_program.key(),
                system_program::CreateAccount {
                    from: payer.clone(),
                    to: target.clone(),
                },
                signer,
            ),
            lamports,
            space_u64,
            owner,
        );
    }
    let top_up = lamports.saturating_sub(existing);
    if top_up > 0 {
        system_program::transfer(
            CpiContext::new(
                system_program.key(),
                system_program::Transfer {
                    from: payer.clone(),
                    to: target.clone(),
                },
            ),
            top_up,
        )?;
    }
    system_program::allocate(
        CpiContext::new_with_signer(
            system_program.key(),
            system_program::Allocate {
                account_to_allocate: target.clone(),
            },
            signer,
        ),
        space_u64,
    )?;
    system_program::assign(
        CpiContext::new_with_signer(
            system_program.key(),
            system_program::Assign {
                account_to_assign: target.clone(),
            },
            signer,
        ),
        owner,
    )
}

/// Whether `wallet` can be credited `amount` without the runtime rejecting the whole
/// transaction: an account must end a transaction rent exempt at its size (or empty), and
/// an executable account's balance may not change. A forfeit or deletion must never fail
/// because of whom it pays, so a payer asks first and keeps what cannot be paid.
pub fn can_receive(wallet: &AccountInfo, amount: u64) -> Result<bool> {
    if amount == 0 {
        return Ok(true);
    }
    if wallet.executable {
        return Ok(false);
    }
    let after = wallet
        .lamports()
        .checked_add(amount)
        .ok_or(crate::errors::ThreadError::ArithmeticOverflow)?;
    Ok(after >= Rent::get()?.minimum_balance(wallet.data_len()))
}
