//! Reading a built transaction back as instructions, for tests that assert what the
//! keeper put in it: the builder's unit tests and its flows through a real bank share
//! these, so both hold a durable execution to the same shape.

use anchor_lang::InstructionData;
use solana_compute_budget_interface::ComputeBudgetInstruction;
use solana_sdk::instruction::{AccountMeta, Instruction};
use solana_sdk::pubkey::Pubkey;
use solana_sdk::transaction::VersionedTransaction;
use solana_system_interface::instruction::SystemInstruction;

use crate::execution::builder::order::sanity_check;
use crate::execution::builder::TxBuildOutput;

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

/// Whether `ix` is `AdvanceNonceAccount` of `nonce` (writable), with the recent
/// blockhashes sysvar, signed by `authority`.
pub fn is_advance_of(ix: &Instruction, nonce: &Pubkey, authority: &Pubkey) -> bool {
    ix.program_id == solana_sdk_ids::system_program::ID
        && matches!(
            bincode::deserialize::<SystemInstruction>(&ix.data),
            Ok(SystemInstruction::AdvanceNonceAccount)
        )
        && ix.accounts.len() == 3
        && ix.accounts[0].pubkey == *nonce
        && ix.accounts[0].is_writable
        && ix.accounts[1].pubkey == solana_sdk_ids::sysvar::recent_blockhashes::ID
        && ix.accounts[2].pubkey == *authority
        && ix.accounts[2].is_signer
}

/// Decodes a built durable execution: advance of `nonce` by `keeper`, the unit limit, the
/// unit price (when non-zero), then `exec_thread` of `thread` by `keeper` with the
/// instructions sysvar; the order passes the builder's own sanity check and `keeper` is
/// the only signer.
pub fn assert_durable_exec_order(
    output: &TxBuildOutput,
    nonce: &Pubkey,
    keeper: &Pubkey,
    thread: &Pubkey,
) {
    let ixs = decoded(&output.tx);
    let budget = output.budget;
    let expected_len = 3 + usize::from(budget.unit_price > 0);
    assert_eq!(ixs.len(), expected_len, "{ixs:?}");
    assert!(is_advance_of(&ixs[0], nonce, keeper), "{:?}", ixs[0]);
    assert_eq!(
        ixs[1],
        ComputeBudgetInstruction::set_compute_unit_limit(budget.unit_limit)
    );
    if budget.unit_price > 0 {
        assert_eq!(
            ixs[2],
            ComputeBudgetInstruction::set_compute_unit_price(budget.unit_price)
        );
    }
    let exec = &ixs[expected_len - 1];
    assert_eq!(exec.program_id, thread::ID);
    assert_eq!(exec.data, thread::instruction::ExecThread {}.data());
    assert_eq!(exec.accounts[0].pubkey, *keeper);
    assert!(exec.accounts[0].is_signer);
    assert_eq!(exec.accounts[1].pubkey, *thread);
    assert!(exec
        .accounts
        .iter()
        .any(|m| m.pubkey == solana_sdk_ids::sysvar::instructions::ID));
    assert_eq!(sanity_check(&ixs, Some(nonce)), Ok(()));
    assert_eq!(output.required_signers(), &[*keeper]);
}
