//! A second, tiny program loaded beside the thread program in tests, to show that a
//! thread can call any program by CPI. `record` requires `authority` to sign and writes into a
//! record account it owns: the last signer, a call count and a running total.

use anchor_lang::prelude::{AccountInfo, Pubkey};
use anchor_lang::solana_program::entrypoint::ProgramResult;
use anchor_lang::solana_program::program_error::ProgramError;
use solana_sdk::account::Account;
use solana_sdk::instruction::{AccountMeta, Instruction};

pub const ID: Pubkey = Pubkey::new_from_array([7; 32]);
/// authority (32) + calls (8) + total (8).
pub const RECORD_LEN: usize = 48;

/// The instruction: `authority` signs, `record` is written, `amount` is added to total.
pub fn record_ix(authority: Pubkey, record: Pubkey, amount: u64) -> Instruction {
    Instruction {
        program_id: ID,
        accounts: vec![
            AccountMeta::new_readonly(authority, true),
            AccountMeta::new(record, false),
        ],
        data: amount.to_le_bytes().to_vec(),
    }
}

/// A fresh record account, owned by the recorder.
pub fn record_account() -> Account {
    Account {
        lamports: 1_000_000_000,
        data: vec![0; RECORD_LEN],
        owner: ID,
        executable: false,
        rent_epoch: 0,
    }
}

/// Decoded record: (last authority, calls, total).
pub fn read_record(data: &[u8]) -> (Pubkey, u64, u64) {
    let authority = Pubkey::try_from(&data[0..32]).unwrap();
    let calls = u64::from_le_bytes(data[32..40].try_into().unwrap());
    let total = u64::from_le_bytes(data[40..48].try_into().unwrap());
    (authority, calls, total)
}

pub fn process(program_id: &Pubkey, accounts: &[AccountInfo], data: &[u8]) -> ProgramResult {
    let [authority, record, ..] = accounts else {
        return Err(ProgramError::NotEnoughAccountKeys);
    };
    if !authority.is_signer {
        return Err(ProgramError::MissingRequiredSignature);
    }
    if record.owner != program_id || !record.is_writable {
        return Err(ProgramError::IncorrectProgramId);
    }
    let amount = u64::from_le_bytes(
        data.try_into()
            .map_err(|_| ProgramError::InvalidInstructionData)?,
    );
    let mut bytes = record.try_borrow_mut_data()?;
    let (_, calls, total) = read_record(&bytes);
    bytes[0..32].copy_from_slice(authority.key.as_ref());
    bytes[32..40].copy_from_slice(&(calls + 1).to_le_bytes());
    bytes[40..48].copy_from_slice(&(total + amount).to_le_bytes());
    Ok(())
}
