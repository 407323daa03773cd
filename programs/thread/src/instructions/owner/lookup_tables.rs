//! Checks of the address lookup tables an owner sets on a thread (`create_thread`,
//! `update_thread`). Keepers build v0 messages with them, so a thread naming more
//! accounts than a legacy transaction holds still runs. The program never reads them at
//! execution (the runtime resolves them); it only checks, when they are set, that each
//! is a live table, so a mistake is named at once rather than at the first execution.

use anchor_lang::prelude::*;

use crate::errors::ThreadError;
use crate::instructions::shared::find_account;
use crate::state::MAX_LOOKUP_TABLES;

/// Bytes of a lookup table's header before its addresses (the table program's
/// `LOOKUP_TABLE_META_SIZE`): a `u32` state tag (1: a table), then the deactivation slot.
const TABLE_HEADER_LEN: usize = 56;
/// The state tag of an initialized table.
const TABLE_TAG: [u8; 4] = 1u32.to_le_bytes();

/// Checks an owner's list of lookup tables: at most [`MAX_LOOKUP_TABLES`], none twice,
/// each passed among `accounts`, owned by the lookup table program and not deactivated.
pub fn validate_lookup_tables(tables: &[Pubkey], accounts: &[AccountInfo]) -> Result<()> {
    require!(
        tables.len() <= MAX_LOOKUP_TABLES,
        ThreadError::TooManyLookupTables
    );
    for (index, table) in tables.iter().enumerate() {
        require!(
            !tables[..index].contains(table),
            ThreadError::DuplicateLookupTable
        );
        let info = find_account(accounts, table).ok_or_else(|| {
            msg!("lookup table {} was not passed", table);
            error!(ThreadError::MissingLookupTable)
        })?;
        require!(is_live_table(info)?, ThreadError::InvalidLookupTable);
    }
    Ok(())
}

/// Whether `info` is an initialized lookup table that has not been deactivated.
fn is_live_table(info: &AccountInfo) -> Result<bool> {
    if info.owner != &solana_sdk_ids::address_lookup_table::ID {
        msg!("{} is not a lookup table (owner {})", info.key, info.owner);
        return Ok(false);
    }
    let data = info.try_borrow_data()?;
    let Some(header) = data.get(..TABLE_HEADER_LEN) else {
        return Ok(false);
    };
    let mut slot = [0u8; 8];
    slot.copy_from_slice(header.get(4..12).unwrap_or(&[0; 8]));
    let deactivation_slot = u64::from_le_bytes(slot);
    if header.get(..4) != Some(&TABLE_TAG[..]) || deactivation_slot != u64::MAX {
        msg!(
            "lookup table {} is not initialized or is deactivated",
            info.key
        );
        return Ok(false);
    }
    Ok(true)
}
