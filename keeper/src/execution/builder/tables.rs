//! The address lookup tables a thread names (`Thread::lookup_tables`), read from the
//! chain and checked before a build uses them, and the size a compiled transaction may
//! have.
//!
//! Owns: turning table accounts into what a v0 message compiles against, refusing a
//! table that is missing, foreign or deactivated by name, and naming what a transaction
//! over the packet limit would need its tables to hold. Must not: decide what to do about
//! a refusal (the executor does, from `BuildError::is_thread_fault`).

use solana_address_lookup_table_interface::state::AddressLookupTable;
use solana_sdk::message::{AddressLookupTableAccount, VersionedMessage};
use solana_sdk::pubkey::Pubkey;

pub use super::error::MAX_TRANSACTION_BYTES;
use super::BuildError;
use crate::chain::Chain;

/// The tables `tables` as a v0 message compiles against them, read in one batch. The
/// durable nonce `nonce` is kept out of every table, so a durable transaction names its
/// nonce account among its static keys, where the runtime reads it before any lookup.
pub async fn fetch(
    chain: &dyn Chain,
    tables: &[Pubkey],
    nonce: Option<&Pubkey>,
) -> Result<Vec<AddressLookupTableAccount>, BuildError> {
    let accounts = chain.get_multiple_accounts(tables).await?;
    tables
        .iter()
        .zip(accounts)
        .map(|(table, account)| {
            let refuse = |problem: String| BuildError::LookupTable {
                table: *table,
                problem,
            };
            let account = account.ok_or_else(|| refuse("does not exist".into()))?;
            if account.owner != solana_sdk_ids::address_lookup_table::ID {
                return Err(refuse(format!(
                    "is not a lookup table (owned by {})",
                    account.owner
                )));
            }
            let parsed = AddressLookupTable::deserialize(&account.data)
                .map_err(|e| refuse(format!("does not decode as a lookup table ({e})")))?;
            if parsed.meta.deactivation_slot != u64::MAX {
                return Err(refuse(format!(
                    "is deactivated (since slot {}): its owner must attach a live one",
                    parsed.meta.deactivation_slot
                )));
            }
            let addresses = parsed
                .addresses
                .iter()
                .filter(|address| Some(*address) != nonce)
                .copied()
                .collect();
            Ok(AddressLookupTableAccount {
                key: *table,
                addresses,
            })
        })
        .collect()
}

/// Refuses a transaction over one packet, naming the accounts it carries in full that no
/// table in `tables` holds: what the thread's tables would have to hold for it to fit.
pub fn check_size(
    message: &VersionedMessage,
    bytes: u64,
    tables: &[AddressLookupTableAccount],
) -> Result<(), BuildError> {
    if bytes <= MAX_TRANSACTION_BYTES {
        return Ok(());
    }
    let signers = usize::from(message.header().num_required_signatures);
    let programs: Vec<&Pubkey> = message
        .instructions()
        .iter()
        .filter_map(|ix| {
            message
                .static_account_keys()
                .get(usize::from(ix.program_id_index))
        })
        .collect();
    let outside_tables = message
        .static_account_keys()
        .iter()
        .skip(signers)
        .filter(|key| !programs.contains(key))
        .filter(|key| !tables.iter().any(|table| table.addresses.contains(key)))
        .copied()
        .collect();
    Err(BuildError::TooLarge {
        bytes,
        outside_tables,
    })
}
