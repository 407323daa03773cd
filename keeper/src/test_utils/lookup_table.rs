//! Address lookup table accounts for tests, written by the table program's own
//! serializer and placed straight into a bank: the runtime resolves a v0 message against
//! them as against tables the program created.

use solana_address_lookup_table_interface::state::{AddressLookupTable, LookupTableMeta};
use solana_sdk::account::Account;
use solana_sdk::pubkey::Pubkey;
use std::borrow::Cow;

/// A table holding `addresses`, last extended at slot 0 (so usable from slot 1 on),
/// deactivated at `deactivated_at` if given.
pub fn table_account(addresses: &[Pubkey], deactivated_at: Option<u64>) -> Account {
    let meta = LookupTableMeta {
        deactivation_slot: deactivated_at.unwrap_or(u64::MAX),
        ..LookupTableMeta::new(Pubkey::new_unique())
    };
    let data = AddressLookupTable {
        meta,
        addresses: Cow::Borrowed(addresses),
    }
    .serialize_for_tests()
    .expect("a table serializes");
    Account {
        lamports: 1_000_000_000,
        data,
        owner: solana_sdk_ids::address_lookup_table::ID,
        executable: false,
        rent_epoch: 0,
    }
}

/// The same bytes with the state tag of an uninitialized table.
pub fn uninitialized_table_account() -> Account {
    let mut account = table_account(&[], None);
    account.data[..4].copy_from_slice(&0u32.to_le_bytes());
    account
}
