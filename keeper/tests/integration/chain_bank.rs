//! `BankChain` against a real Agave bank with the thread program loaded, and
//! `FaultyChain` over it: every `Chain` method, as the keeper will call them.

#![cfg(feature = "bank")]
#![allow(deprecated)] // program-test 3.1 marks its items deprecated; they are what we test against

use std::time::Duration;

use anchor_lang::{AccountDeserialize, Discriminator};
use keeper::chain::faulty::{Fault, FaultyChain, Op};
use keeper::chain::{Chain, ChainError, TxStatus};
use keeper::test_utils::bank::{BankChainExt, TestBank, STARTING_LAMPORTS};
use solana_sdk::account::Account;
use solana_sdk::hash::Hash;
use solana_sdk::instruction::{Instruction, InstructionError};
use solana_sdk::message::Message;
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::{Keypair, Signature, Signer};
use solana_sdk::transaction::{Transaction, TransactionError, VersionedTransaction};
use solana_system_interface::instruction as system_instruction;
use thread::errors::ThreadError;
use thread::state::{Thread, Trigger};

const SYSTEM_PROGRAM: Pubkey = anchor_lang::solana_program::system_program::ID;
const LAMPORTS_PER_SIGNATURE: u64 = 5_000;
const THREAD_DISCRIMINATOR: &[u8] = <Thread as Discriminator>::DISCRIMINATOR;

/// `create_thread` of a `Now` thread with id `id` whose one stored instruction moves a
/// lamport from the thread back to its owner; not sent.
fn now_thread_ix(bank: &TestBank, id: &str) -> (Pubkey, Instruction) {
    let (_, args) = bank.thread_args(id, Trigger::Now);
    bank.create_thread_ix(args)
}

/// `create_thread` that the program refuses: no stored instruction.
fn invalid_create_thread_ix(bank: &TestBank, id: &str) -> Instruction {
    let (_, mut args) = bank.thread_args(id, Trigger::Now);
    args.instructions.clear();
    bank.create_thread_ix(args).1
}

async fn owner_balance(bank: &TestBank) -> u64 {
    bank.chain.balance(&bank.owner.pubkey()).await
}

fn custom(error: ThreadError) -> InstructionError {
    InstructionError::Custom(u32::from(error))
}

#[tokio::test]
async fn reads_accounts_one_by_one_and_in_order() {
    let bank = TestBank::start().await;
    let owner = bank.owner.pubkey();
    let missing = Pubkey::new_unique();

    assert_eq!(bank.chain.endpoint(), "bank");
    let account = bank.chain.get_account(&owner).await.unwrap().unwrap();
    assert_eq!(account.lamports, STARTING_LAMPORTS);
    assert_eq!(account.owner, SYSTEM_PROGRAM);
    assert_eq!(bank.chain.get_account(&missing).await, Ok(None));

    let accounts = bank
        .chain
        .get_multiple_accounts(&[missing, owner, thread::ID])
        .await
        .unwrap();
    assert_eq!(accounts.len(), 3);
    assert_eq!(accounts[0], None);
    assert_eq!(accounts[1], Some(account));
    assert!(
        accounts[2].as_ref().is_some_and(|p| p.executable),
        "the program is loaded"
    );
    assert_eq!(bank.chain.get_multiple_accounts(&[]).await, Ok(vec![]));
}

#[tokio::test]
async fn clock_and_blockhash_follow_the_shared_context() {
    let bank = TestBank::start().await;
    let before = bank.chain.clock().await.unwrap();
    let blockhash = bank.chain.latest_blockhash().await.unwrap();
    assert_ne!(blockhash, Hash::default());

    bank.chain.warp_slots(100).await;
    let after = bank.chain.clock().await.unwrap();
    assert_eq!(after.slot, before.slot + 100);
    assert_ne!(bank.chain.latest_blockhash().await.unwrap(), blockhash);

    let mut clock = after.clone();
    clock.unix_timestamp = 2_000_000_000;
    bank.chain.context().lock().await.set_sysvar(&clock);
    assert_eq!(
        bank.chain.clock().await.unwrap().unix_timestamp,
        2_000_000_000
    );
}

#[tokio::test]
async fn send_lands_and_reports_a_confirmed_status() {
    let bank = TestBank::start().await;
    let (thread, ix) = now_thread_ix(&bank, "send");
    let tx = bank.signed_by_owner(&[ix]).await;

    let signature = bank.chain.send(&tx).await.unwrap();
    assert_eq!(signature, tx.signatures[0]);

    let slot = bank.chain.clock().await.unwrap().slot;
    let unknown = Signature::new_unique();
    let statuses = bank
        .chain
        .signature_statuses(&[signature, unknown])
        .await
        .unwrap();
    assert_eq!(
        statuses,
        vec![
            Some(TxStatus {
                slot,
                err: None,
                confirmed: true
            }),
            None
        ]
    );

    let account = bank.chain.get_account(&thread).await.unwrap().unwrap();
    assert_eq!(account.owner, thread::ID);
    let state = Thread::try_deserialize(&mut account.data.as_slice()).unwrap();
    assert_eq!(state.owner, bank.owner.pubkey());
}

#[tokio::test]
async fn failed_execution_is_sent_charged_and_reported_in_its_status() {
    let bank = TestBank::start().await;
    let owner = bank.owner.pubkey();
    let tx = bank
        .signed_by_owner(&[invalid_create_thread_ix(&bank, "empty")])
        .await;

    let signature = bank.chain.send(&tx).await.unwrap();
    let status = bank.chain.signature_statuses(&[signature]).await.unwrap()[0]
        .clone()
        .expect("a failed execution has a status");
    assert_eq!(
        status.err,
        Some(TransactionError::InstructionError(
            0,
            custom(ThreadError::NoInstructions)
        ))
    );
    assert!(status.confirmed);
    assert_eq!(
        bank.chain.balance(&owner).await,
        STARTING_LAMPORTS - LAMPORTS_PER_SIGNATURE,
        "the fee is charged"
    );
}

#[tokio::test]
async fn send_rejects_a_bad_signature_without_recording_it() {
    let bank = TestBank::start().await;
    let (thread, ix) = now_thread_ix(&bank, "forged");
    let mut tx = bank.signed_by_owner(&[ix]).await;
    tx.signatures[0] = Keypair::new().sign_message(&tx.message.serialize());

    assert_eq!(
        bank.chain.send(&tx).await,
        Err(ChainError::Rejected(TransactionError::SignatureFailure))
    );
    assert_eq!(
        bank.chain.signature_statuses(&tx.signatures).await,
        Ok(vec![None])
    );
    assert_eq!(bank.chain.get_account(&thread).await, Ok(None));
    assert_eq!(owner_balance(&bank).await, STARTING_LAMPORTS);
}

#[tokio::test]
async fn send_rejects_an_unknown_blockhash_without_recording_it() {
    let bank = TestBank::start().await;
    let (_, ix) = now_thread_ix(&bank, "stale");
    let tx: VersionedTransaction = Transaction::new_signed_with_payer(
        &[ix],
        Some(&bank.owner.pubkey()),
        &[&bank.owner],
        Hash::new_unique(),
    )
    .into();

    let err = bank.chain.send(&tx).await.unwrap_err();
    assert_eq!(
        err,
        ChainError::Rejected(TransactionError::BlockhashNotFound)
    );
    assert!(!err.is_retryable());
    assert_eq!(
        bank.chain.signature_statuses(&tx.signatures).await,
        Ok(vec![None])
    );
    assert_eq!(owner_balance(&bank).await, STARTING_LAMPORTS);
}

#[tokio::test]
async fn send_rejects_an_unfunded_fee_payer() {
    let bank = TestBank::start().await;
    let pauper = Keypair::new();
    let blockhash = bank.chain.latest_blockhash().await.unwrap();
    let tx: VersionedTransaction = Transaction::new_signed_with_payer(
        &[system_instruction::transfer(
            &pauper.pubkey(),
            &bank.owner.pubkey(),
            1,
        )],
        Some(&pauper.pubkey()),
        &[&pauper],
        blockhash,
    )
    .into();
    let err = bank.chain.send(&tx).await.unwrap_err();
    assert!(matches!(err, ChainError::Rejected(_)), "{err:?}");
    assert_eq!(
        bank.chain.signature_statuses(&tx.signatures).await,
        Ok(vec![None])
    );
}

#[tokio::test]
async fn resend_is_rejected_as_already_processed_and_keeps_the_first_status() {
    let bank = TestBank::start().await;
    let (_, ix) = now_thread_ix(&bank, "twice");
    let tx = bank.signed_by_owner(&[ix]).await;
    let signature = bank.chain.send(&tx).await.unwrap();
    let first = bank.chain.signature_statuses(&[signature]).await.unwrap();

    assert_eq!(
        bank.chain.send(&tx).await,
        Err(ChainError::Rejected(TransactionError::AlreadyProcessed))
    );
    assert_eq!(
        bank.chain.signature_statuses(&[signature]).await.unwrap(),
        first
    );
    assert!(first[0].as_ref().is_some_and(|s| s.err.is_none()));
}

#[tokio::test]
async fn program_accounts_are_found_by_the_thread_discriminator() {
    let bank = TestBank::start().await;
    let (a, ix_a) = now_thread_ix(&bank, "a");
    let (b, ix_b) = now_thread_ix(&bank, "b");
    bank.chain
        .send(&bank.signed_by_owner(&[ix_a]).await)
        .await
        .unwrap();
    bank.chain
        .send(&bank.signed_by_owner(&[ix_b]).await)
        .await
        .unwrap();
    let slot = bank.chain.clock().await.unwrap().slot;

    let (at, found) = bank
        .chain
        .get_program_accounts(&thread::ID, THREAD_DISCRIMINATOR)
        .await
        .unwrap();
    assert_eq!(at, slot);
    let mut expected = vec![a, b];
    expected.sort();
    let keys: Vec<Pubkey> = found.iter().map(|k| k.pubkey).collect();
    assert_eq!(
        keys, expected,
        "both threads, in address order, nothing else"
    );
    for keyed in &found {
        assert_eq!(keyed.account.owner, thread::ID);
        Thread::try_deserialize(&mut keyed.account.data.as_slice()).unwrap();
    }

    // Another prefix or another program: nothing.
    let (_, none) = bank
        .chain
        .get_program_accounts(&thread::ID, b"not a discriminator")
        .await
        .unwrap();
    assert!(none.is_empty());
    let (_, none) = bank
        .chain
        .get_program_accounts(&SYSTEM_PROGRAM, THREAD_DISCRIMINATOR)
        .await
        .unwrap();
    assert!(none.is_empty());
    // The empty prefix matches every account of the program it knows.
    let (_, all) = bank
        .chain
        .get_program_accounts(&thread::ID, &[])
        .await
        .unwrap();
    assert_eq!(all.len(), 2);
}

#[tokio::test]
async fn accounts_created_around_the_chain_are_found_once_watched() {
    let bank = TestBank::start().await;
    let (thread, ix) = now_thread_ix(&bank, "direct");
    let tx = bank.signed_by_owner(&[ix]).await;
    let context = bank.chain.context();
    let result = context
        .lock()
        .await
        .banks_client
        .process_transaction_with_metadata(tx.clone())
        .await
        .unwrap();
    result.result.unwrap();

    let (_, found) = bank
        .chain
        .get_program_accounts(&thread::ID, THREAD_DISCRIMINATOR)
        .await
        .unwrap();
    assert!(found.is_empty(), "not sent through the chain, not watched");

    bank.chain.watch(thread);
    assert_eq!(bank.chain.watched(), vec![thread]);
    let (_, found) = bank
        .chain
        .get_program_accounts(&thread::ID, THREAD_DISCRIMINATOR)
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].pubkey, thread);

    // Its status comes from the bank's status cache.
    let status = bank.chain.signature_statuses(&tx.signatures).await.unwrap()[0].clone();
    assert!(
        status.is_some_and(|s| s.err.is_none() && s.confirmed),
        "processed around the chain, still known to the bank"
    );
}

#[tokio::test]
async fn deleted_accounts_drop_out_of_program_accounts() {
    let bank = TestBank::start().await;
    let (thread, ix) = now_thread_ix(&bank, "gone");
    bank.chain
        .send(&bank.signed_by_owner(&[ix]).await)
        .await
        .unwrap();
    bank.chain.set_account(&thread, Account::default()).await;
    let (_, found) = bank
        .chain
        .get_program_accounts(&thread::ID, THREAD_DISCRIMINATOR)
        .await
        .unwrap();
    assert!(found.is_empty());
}

#[tokio::test]
async fn simulate_reports_units_and_logs_and_lands_nothing() {
    let bank = TestBank::start().await;
    let (thread, ix) = now_thread_ix(&bank, "sim");
    // An unknown blockhash and a signature that does not verify: both are ignored.
    let mut tx: VersionedTransaction = Transaction::new_signed_with_payer(
        &[ix],
        Some(&bank.owner.pubkey()),
        &[&bank.owner],
        Hash::new_unique(),
    )
    .into();
    tx.signatures[0] = Signature::default();

    let simulation = bank.chain.simulate(&tx).await.unwrap();
    assert_eq!(simulation.err, None, "{:#?}", simulation.logs);
    assert!(simulation.units_consumed > 0);
    assert!(
        simulation
            .logs
            .iter()
            .any(|l| l.contains(&thread::ID.to_string())),
        "{:#?}",
        simulation.logs
    );
    assert_eq!(bank.chain.get_account(&thread).await, Ok(None));
    assert_eq!(owner_balance(&bank).await, STARTING_LAMPORTS);
}

#[tokio::test]
async fn simulate_reports_the_program_error() {
    let bank = TestBank::start().await;
    let tx = bank
        .signed_by_owner(&[invalid_create_thread_ix(&bank, "bad")])
        .await;
    let simulation = bank.chain.simulate(&tx).await.unwrap();
    assert_eq!(
        simulation.err,
        Some(TransactionError::InstructionError(
            0,
            custom(ThreadError::NoInstructions)
        ))
    );
    assert!(simulation.units_consumed > 0);
    assert!(!simulation.logs.is_empty());
}

#[tokio::test]
async fn durable_transaction_is_sent_once_and_its_replay_rejected() {
    let bank = TestBank::start().await;
    let owner = bank.owner.pubkey();
    let nonce = bank.create_nonce(&owner).await;
    bank.chain.warp_slots(1).await;

    let (_, value) = bank.chain.nonce(&nonce).await;
    let recipient = Pubkey::new_unique();
    let message = Message::new_with_blockhash(
        &[
            system_instruction::advance_nonce_account(&nonce, &owner),
            system_instruction::transfer(&owner, &recipient, 1_000_000),
        ],
        Some(&owner),
        &value,
    );
    let durable: VersionedTransaction = Transaction::new(&[&bank.owner], message, value).into();

    let simulation = bank.chain.simulate(&durable).await.unwrap();
    assert_eq!(simulation.err, None, "{:#?}", simulation.logs);
    let signature = bank.chain.send(&durable).await.unwrap();
    assert!(
        bank.chain.signature_statuses(&[signature]).await.unwrap()[0]
            .as_ref()
            .is_some_and(|s| s.err.is_none())
    );
    assert_eq!(bank.chain.balance(&recipient).await, 1_000_000);

    bank.chain.warp_slots(1).await;
    let replay = bank.chain.send(&durable).await.unwrap_err();
    assert!(matches!(replay, ChainError::Rejected(_)), "{replay:?}");
    assert_eq!(bank.chain.balance(&recipient).await, 1_000_000, "paid once");
}

#[tokio::test]
async fn the_bank_has_no_fee_market() {
    let bank = TestBank::start().await;
    assert_eq!(
        bank.chain
            .recent_prioritization_fees(&[bank.owner.pubkey(), thread::ID])
            .await,
        Ok(vec![])
    );
}

#[tokio::test]
async fn payer_is_the_funded_genesis_key() {
    let bank = TestBank::start().await;
    let payer = bank.chain.payer().await;
    assert!(bank.chain.balance(&payer.pubkey()).await > 0);
}

// FaultyChain over a real bank: what each fault means for a transaction.

#[tokio::test]
async fn faulty_lost_answer_send_still_lands() {
    let bank = TestBank::start().await;
    let (thread, ix) = now_thread_ix(&bank, "lost");
    let tx = bank.signed_by_owner(&[ix]).await;
    let faulty = FaultyChain::new(bank.into_chain(), 7);
    faulty.script(Op::Send, [Some(Fault::LoseAnswer)]);

    let err = faulty.send(&tx).await.unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
    assert!(
        faulty.get_account(&thread).await.unwrap().is_some(),
        "it landed"
    );
    let status = faulty.signature_statuses(&tx.signatures).await.unwrap()[0].clone();
    assert!(status.is_some_and(|s| s.err.is_none()));
    // The keeper's retry of the same bytes is rejected as already processed.
    assert_eq!(
        faulty.send(&tx).await,
        Err(ChainError::Rejected(TransactionError::AlreadyProcessed))
    );
}

#[tokio::test]
async fn faulty_dropped_send_does_not_land_and_the_retry_does() {
    let bank = TestBank::start().await;
    let (thread, ix) = now_thread_ix(&bank, "dropped");
    let tx = bank.signed_by_owner(&[ix]).await;
    let faulty = FaultyChain::new(bank.into_chain(), 7);
    faulty.script(Op::Send, [Some(Fault::Drop)]);

    assert_eq!(faulty.send(&tx).await.unwrap_err().kind(), "unavailable");
    assert_eq!(faulty.get_account(&thread).await, Ok(None));
    assert_eq!(
        faulty.signature_statuses(&tx.signatures).await,
        Ok(vec![None])
    );

    assert_eq!(faulty.send(&tx).await, Ok(tx.signatures[0]));
    assert!(faulty.get_account(&thread).await.unwrap().is_some());
}

#[tokio::test]
async fn faulty_rpc_error_and_timeout_do_not_forward() {
    let bank = TestBank::start().await;
    let (thread, ix) = now_thread_ix(&bank, "timeout");
    let tx = bank.signed_by_owner(&[ix]).await;
    let faulty = FaultyChain::new(bank.into_chain(), 7);
    faulty.script(
        Op::Send,
        [
            Some(Fault::Rpc("node says no".into())),
            Some(Fault::Timeout(Duration::from_millis(10))),
        ],
    );
    assert_eq!(
        faulty.send(&tx).await,
        Err(ChainError::Rpc("node says no".into()))
    );
    assert_eq!(faulty.send(&tx).await.unwrap_err().kind(), "unavailable");
    assert_eq!(faulty.get_account(&thread).await, Ok(None));
    assert_eq!(faulty.forwarded(Op::Send), 0);
}
