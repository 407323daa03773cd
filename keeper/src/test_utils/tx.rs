//! Reading a built transaction back as instructions, for tests that assert what the
//! keeper put in it.

use solana_sdk::instruction::{AccountMeta, Instruction};
use solana_sdk::transaction::VersionedTransaction;

/// The instructions of a compiled message, with their account metas.
pub fn decoded(tx: &VersionedTransaction) -> Vec<Instruction> {
    let message = &tx.message;
    let keys = message.static_account_keys();
    message
        .instructions()
        .iter()
        .map(|ix| Instruction {
            program_id: keys[usize::from(ix.program_id_index)],
            accounts: ix
                .accounts
                .iter()
                .map(|&i| {
                    let i = usize::from(i);
                    AccountMeta {
                        pubkey: keys[i],
                        is_signer: message.is_signer(i),
                        is_writable: message.is_maybe_writable(i, None),
                    }
                })
                .collect(),
            data: ix.data.clone(),
        })
        .collect()
}
