//! A thread's whole life through its owner's instructions (create, update, pause, resume,
//! withdraw, delete) and the executor's fee: every success path with the fields it stores
//! and its lamports exact to the lamport (rent and fees asked of the bank), every failure
//! path by error number, every event with its fields, and an outsider attacking each
//! owner-only instruction.

use anchor_lang::error::ErrorCode as AnchorErrorCode;
use anchor_lang::{AnchorDeserialize, Discriminator};
use solana_sdk::instruction::Instruction;
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::{Keypair, Signer};
use thread::client;
use thread::errors::ThreadError;
use thread::events::{
    ThreadCreated, ThreadDeleted, ThreadExecuted, ThreadPaused, ThreadResumed, ThreadUpdated,
    ThreadWithdrawn,
};
use thread::instructions::{CreateThreadArgs, UpdateThreadArgs};
use thread::state::{
    Due, Durability, RateLimit, Thread, ThreadAccountMeta, ThreadInstruction, Trigger,
    MAX_ACCOUNTS_PER_INSTRUCTION, MAX_ID_LEN, MAX_INSTRUCTIONS, MAX_INSTRUCTIONS_SPACE,
    MAX_INSTRUCTION_DATA,
};
use thread_tests::{recorder, Fixture, Outcome, ThreadSpec, LAMPORTS_PER_SIGNATURE};

use crate::common::{env, record_of, Env};

// ---------------------------------------------------------------------------------------
// Setup
// ---------------------------------------------------------------------------------------

/// The fixture, the recorder account the threads write, and a funded attacker who owns
/// no thread: what the tests of an owner's instructions work with.
async fn bank_with_attacker() -> (Fixture, Pubkey, Keypair) {
    let Env {
        fx,
        record,
        stranger,
        ..
    } = env().await;
    (fx, record, stranger)
}

/// A recorder call signed by `thread` that adds `amount` to `record`.
fn record_call(thread: Pubkey, record: Pubkey, amount: u64) -> ThreadInstruction {
    ThreadInstruction::from(recorder::record_ix(thread, record, amount))
}

/// A stored instruction of a given shape, only ever validated, never run.
fn sized_ix(accounts: usize, data: usize) -> ThreadInstruction {
    ThreadInstruction {
        program_id: recorder::ID,
        accounts: (0..accounts)
            .map(|_| ThreadAccountMeta {
                pubkey: Pubkey::new_unique(),
                is_signer: false,
                is_writable: false,
            })
            .collect(),
        data: vec![0xAB; data],
    }
}

/// `n` zero-account instructions whose serialized sizes add up to exactly `total` bytes.
fn list_of_total_size(n: usize, total: usize) -> Vec<ThreadInstruction> {
    let overhead = sized_ix(0, 0).space();
    let data = total - n * overhead;
    let mut list: Vec<_> = (0..n).map(|_| sized_ix(0, data / n)).collect();
    list[0].data.extend(vec![0xCD; data % n]);
    assert_eq!(ThreadInstruction::list_space(&list), total);
    list
}

/// Default create arguments: a `Now` thread that records one call, fee 1000, deposit
/// 1_000_000, one execution per slot.
fn default_args(fx: &Fixture, record: Pubkey, id: &str) -> CreateThreadArgs {
    ThreadSpec::new(id, Trigger::Now, record)
        .for_owner(&fx.owner.pubkey())
        .into_args()
}

/// Sends `create_thread` as the fixture's owner, to the PDA of (owner, id) when the id
/// is a valid seed and to an unrelated address otherwise.
async fn create(fx: &mut Fixture, args: CreateThreadArgs) -> (Pubkey, Outcome) {
    let owner = fx.owner.insecure_clone();
    let thread = if (1..=MAX_ID_LEN).contains(&args.id.len()) {
        Thread::address(&owner.pubkey(), &args.id).0
    } else {
        Pubkey::new_unique()
    };
    let ix = client::create_thread(&owner.pubkey(), &thread, args);
    (thread, fx.process(&[ix], &[&owner]).await)
}

/// Creates the default thread `id` and returns its address.
async fn create_default(fx: &mut Fixture, record: Pubkey, id: &str) -> Pubkey {
    let args = default_args(fx, record, id);
    let (thread, outcome) = create(fx, args).await;
    outcome.assert_ok();
    thread
}

/// Asserts `create_thread` with `args` fails with `expected` and leaves no account.
async fn assert_create_rejected(fx: &mut Fixture, args: CreateThreadArgs, expected: ThreadError) {
    let (thread, outcome) = create(fx, args).await;
    outcome.assert_error(expected);
    assert!(fx.account(thread).await.is_none(), "no thread was created");
}

/// Processes `ix` signed by the fixture's owner.
async fn as_owner(fx: &mut Fixture, ix: Instruction) -> Outcome {
    let owner = fx.owner.insecure_clone();
    fx.process(&[ix], &[&owner]).await
}

/// The fee the bank charges for `ix` with one signature, which must be the documented
/// per-signature fee (no priority fee is ever set).
async fn fee_of(fx: &mut Fixture, ix: &Instruction, payer: &Pubkey) -> u64 {
    let fee = fx.fee_for(std::slice::from_ref(ix), payer).await;
    assert_eq!(
        fee, LAMPORTS_PER_SIGNATURE,
        "one signature, no priority fee"
    );
    fee
}

/// The fee the executor's `exec_thread` of `thread` costs it (one signature).
async fn exec_fee(fx: &mut Fixture, thread: Pubkey) -> u64 {
    let executor = fx.executor.pubkey();
    let state = fx.thread(thread).await;
    fee_of(
        fx,
        &client::exec_thread(&executor, &thread, &state),
        &executor,
    )
    .await
}

/// Creates the default thread `id` paying `fee_per_exec` from a deposit of `deposit`.
async fn create_funded(
    fx: &mut Fixture,
    record: Pubkey,
    id: &str,
    fee_per_exec: u64,
    deposit: u64,
) -> Pubkey {
    let mut args = default_args(fx, record, id);
    args.fee_per_exec = fee_per_exec;
    args.deposit = deposit;
    let (thread, outcome) = create(fx, args).await;
    outcome.assert_ok();
    thread
}

/// Creates the default thread `id` and pauses it, as its owner.
async fn create_paused(fx: &mut Fixture, record: Pubkey, id: &str) -> Pubkey {
    let owner = fx.owner.pubkey();
    let thread = create_default(fx, record, id).await;
    as_owner(fx, client::pause_thread(&owner, &thread))
        .await
        .assert_ok();
    thread
}

/// Simulates `ix` signed by the owner and returns the one event of type `E` it emits.
async fn owner_event<E: AnchorDeserialize + Discriminator>(fx: &mut Fixture, ix: Instruction) -> E {
    let owner = fx.owner.insecure_clone();
    fx.simulate_one_event::<E>(&[ix], &[&owner]).await
}

/// Rent-exempt minimum of the thread account at its current size.
async fn rent_of(fx: &mut Fixture, thread: Pubkey) -> u64 {
    let len = fx.account(thread).await.unwrap().data.len();
    fx.rent_for(len).await
}

// ---------------------------------------------------------------------------------------
// create_thread
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn create_stores_every_field_and_first_due_time() {
    let Env { mut fx, record, .. } = env().await;
    let owner = fx.owner.pubkey();
    let (expected_key, bump) = Thread::address(&owner, b"stored");
    let instructions = vec![record_call(expected_key, record, 5)];
    let args = CreateThreadArgs {
        id: b"stored".to_vec(),
        trigger: Trigger::Interval {
            seconds: 60,
            skippable: true,
        },
        instructions: instructions.clone(),
        fee_per_exec: 2_500,
        rate_limit: RateLimit {
            max_execs: 3,
            window_slots: 10,
        },
        deposit: 777_777,
        priority: None,
        lookup_tables: vec![],
    };
    let (thread, outcome) = create(&mut fx, args).await;
    outcome.assert_ok();
    assert_eq!(thread, expected_key);

    let clock = fx.clock().await;
    let t = fx.thread(thread).await;
    assert_eq!(t.version, Thread::VERSION);
    assert_eq!(t.bump, bump);
    assert_eq!(t.owner, owner);
    assert_eq!(t.id, b"stored".to_vec());
    assert_eq!(
        t.trigger,
        Trigger::Interval {
            seconds: 60,
            skippable: true
        }
    );
    assert_eq!(
        t.next_due,
        Due::At {
            unix_ts: clock.unix_timestamp + 60
        }
    );
    assert_eq!(t.schedule_base, clock.unix_timestamp + 60);
    assert_eq!(t.durability, Durability::NonDurable);
    assert_eq!(t.fee_per_exec, 2_500);
    assert_eq!(
        t.rate_limit,
        RateLimit {
            max_execs: 3,
            window_slots: 10
        }
    );
    assert_eq!(t.window_start_slot, clock.slot);
    assert_eq!(t.execs_in_window, 0);
    assert!(!t.paused);
    assert_eq!(t.exec_count, 0);
    assert_eq!(t.last_exec_slot, 0);
    assert_eq!(t.last_exec_at, 0);
    assert_eq!(t.created_at, clock.unix_timestamp);
    assert_eq!(t.instructions, instructions);

    let account = fx.account(thread).await.unwrap();
    assert_eq!(account.owner, thread::ID);
}

#[tokio::test]
async fn create_charges_owner_exactly_rent_deposit_and_tx_fee() {
    let Env { mut fx, record, .. } = env().await;
    let owner = fx.owner.pubkey();
    let args = default_args(&fx, record, "paid");
    let deposit = args.deposit;
    let space = Thread::space_for(&args.instructions);
    let rent = fx.rent_for(space).await;
    let (thread, _) = Thread::address(&owner, b"paid");
    let ix = client::create_thread(&owner, &thread, args.clone());
    let fee = fee_of(&mut fx, &ix, &owner).await;
    let before = fx.balance(owner).await;

    as_owner(&mut fx, ix).await.assert_ok();

    assert_eq!(fx.balance(owner).await, before - rent - deposit - fee);
    let account = fx.account(thread).await.unwrap();
    assert_eq!(account.lamports, rent + deposit);
    assert_eq!(account.data.len(), space);
}

#[tokio::test]
async fn create_accepts_ids_of_1_and_32_bytes() {
    let Env { mut fx, record, .. } = env().await;
    for id in ["a", &"x".repeat(MAX_ID_LEN)] {
        let args = default_args(&fx, record, id);
        let (thread, outcome) = create(&mut fx, args).await;
        outcome.assert_ok();
        assert_eq!(fx.thread(thread).await.id, id.as_bytes());
    }
}

#[tokio::test]
async fn create_rejects_empty_id() {
    let Env { mut fx, record, .. } = env().await;
    let mut args = default_args(&fx, record, "x");
    args.id = vec![];
    // The empty id is a valid seed, so send it to its real PDA: the id check still wins.
    let owner = fx.owner.pubkey();
    let (thread, _) = Thread::address(&owner, &[]);
    let outcome = as_owner(&mut fx, client::create_thread(&owner, &thread, args)).await;
    outcome.assert_error(ThreadError::InvalidId);
    assert!(fx.account(thread).await.is_none());
}

#[tokio::test]
async fn create_rejects_33_byte_id() {
    let Env { mut fx, record, .. } = env().await;
    let mut args = default_args(&fx, record, "x");
    args.id = vec![b'x'; MAX_ID_LEN + 1];
    assert_create_rejected(&mut fx, args, ThreadError::InvalidId).await;
}

#[tokio::test]
async fn create_rejects_no_instructions() {
    let Env { mut fx, record, .. } = env().await;
    let mut args = default_args(&fx, record, "none");
    args.instructions = vec![];
    assert_create_rejected(&mut fx, args, ThreadError::NoInstructions).await;
}

#[tokio::test]
async fn create_accepts_8_instructions_and_rejects_9() {
    let Env { mut fx, record, .. } = env().await;
    let owner = fx.owner.pubkey();
    for (id, n) in [("eight", MAX_INSTRUCTIONS), ("nine", MAX_INSTRUCTIONS + 1)] {
        let (thread, _) = Thread::address(&owner, id.as_bytes());
        let mut args = default_args(&fx, record, id);
        args.instructions = (0..n)
            .map(|i| record_call(thread, record, i as u64))
            .collect();
        if n == MAX_INSTRUCTIONS {
            create(&mut fx, args).await.1.assert_ok();
            assert_eq!(fx.thread(thread).await.instructions.len(), n);
        } else {
            assert_create_rejected(&mut fx, args, ThreadError::TooManyInstructions).await;
        }
    }
}

#[tokio::test]
async fn create_accepts_32_accounts_in_one_instruction_and_rejects_33() {
    let Env { mut fx, record, .. } = env().await;
    let mut args = default_args(&fx, record, "acc32");
    args.instructions = vec![sized_ix(MAX_ACCOUNTS_PER_INSTRUCTION, 8)];
    create(&mut fx, args).await.1.assert_ok();

    let mut args = default_args(&fx, record, "acc33");
    args.instructions = vec![sized_ix(MAX_ACCOUNTS_PER_INSTRUCTION + 1, 8)];
    assert_create_rejected(&mut fx, args, ThreadError::TooManyAccounts).await;
}

#[tokio::test]
async fn create_accepts_1024_data_bytes_and_rejects_1025() {
    let Env { mut fx, record, .. } = env().await;
    let mut args = default_args(&fx, record, "data1024");
    args.instructions = vec![sized_ix(1, MAX_INSTRUCTION_DATA)];
    create(&mut fx, args).await.1.assert_ok();

    let mut args = default_args(&fx, record, "data1025");
    args.instructions = vec![sized_ix(1, MAX_INSTRUCTION_DATA + 1)];
    assert_create_rejected(&mut fx, args, ThreadError::InstructionDataTooLarge).await;
}

#[tokio::test]
async fn create_rejects_five_instructions_of_1000_bytes() {
    let Env { mut fx, record, .. } = env().await;
    let mut args = default_args(&fx, record, "5x1000");
    args.instructions = (0..5).map(|_| sized_ix(0, 1000)).collect();
    assert!(ThreadInstruction::list_space(&args.instructions) > MAX_INSTRUCTIONS_SPACE);
    assert_create_rejected(&mut fx, args, ThreadError::InstructionsTooLarge).await;
}

#[tokio::test]
async fn create_accepts_exactly_4096_instruction_bytes_and_rejects_4097() {
    let Env { mut fx, record, .. } = env().await;
    let mut args = default_args(&fx, record, "4096");
    args.instructions = list_of_total_size(4, MAX_INSTRUCTIONS_SPACE);
    let space = Thread::space_for(&args.instructions);
    let (thread, outcome) = create(&mut fx, args).await;
    outcome.assert_ok();
    assert_eq!(fx.account(thread).await.unwrap().data.len(), space);

    let mut args = default_args(&fx, record, "4097");
    args.instructions = list_of_total_size(4, MAX_INSTRUCTIONS_SPACE + 1);
    assert_create_rejected(&mut fx, args, ThreadError::InstructionsTooLarge).await;
}

#[tokio::test]
async fn create_rejects_instruction_targeting_thread_program() {
    let Env { mut fx, record, .. } = env().await;
    let mut args = default_args(&fx, record, "self");
    let mut reentry = sized_ix(0, 8);
    reentry.program_id = thread::ID;
    args.instructions.push(reentry);
    assert_create_rejected(&mut fx, args, ThreadError::SelfInvocationNotAllowed).await;
}

#[tokio::test]
async fn create_rejects_interval_below_one_second() {
    let Env { mut fx, record, .. } = env().await;
    for (id, seconds) in [("zero", 0), ("negative", -5)] {
        let mut args = default_args(&fx, record, id);
        args.trigger = Trigger::Interval {
            seconds,
            skippable: false,
        };
        assert_create_rejected(&mut fx, args, ThreadError::InvalidInterval).await;
    }
}

#[tokio::test]
async fn create_rejects_zero_rate_limit_execs_or_window() {
    let Env { mut fx, record, .. } = env().await;
    for (id, max_execs, window_slots) in [("execs0", 0, 10), ("window0", 5, 0)] {
        let mut args = default_args(&fx, record, id);
        args.rate_limit = RateLimit {
            max_execs,
            window_slots,
        };
        assert_create_rejected(&mut fx, args, ThreadError::InvalidRateLimit).await;
    }
}

#[tokio::test]
async fn create_twice_with_same_owner_and_id_fails_already_exists() {
    let Env { mut fx, record, .. } = env().await;
    let owner = fx.owner.pubkey();
    let thread = create_default(&mut fx, record, "twice").await;
    let before_thread = fx.account(thread).await.unwrap();
    let before_owner = fx.balance(owner).await;

    let mut args = default_args(&fx, record, "twice");
    args.deposit = 5;
    let ix = client::create_thread(&owner, &thread, args);
    let fee = fee_of(&mut fx, &ix, &owner).await;
    as_owner(&mut fx, ix)
        .await
        .assert_error(ThreadError::ThreadAlreadyExists);

    assert_eq!(fx.account(thread).await.unwrap(), before_thread);
    assert_eq!(fx.balance(owner).await, before_owner - fee);
}

#[tokio::test]
async fn create_rejects_thread_account_that_is_not_pda_of_owner_and_id() {
    let (mut fx, record, attacker) = bank_with_attacker().await;
    let owner = fx.owner.pubkey();
    let args = default_args(&fx, record, "mine");

    // An arbitrary address, and the PDA of the same owner under another id.
    for wrong in [Pubkey::new_unique(), Thread::address(&owner, b"other").0] {
        let ix = client::create_thread(&owner, &wrong, args.clone());
        as_owner(&mut fx, ix)
            .await
            .assert_error(ThreadError::ThreadAddressMismatch);
        assert!(fx.account(wrong).await.is_none());
    }

    // An attacker squatting the owner's PDA by naming it as his own thread.
    let (victim_pda, _) = Thread::address(&owner, b"mine");
    let ix = client::create_thread(&attacker.pubkey(), &victim_pda, args.clone());
    fx.process(&[ix], &[&attacker])
        .await
        .assert_error(ThreadError::ThreadAddressMismatch);
    assert!(fx.account(victim_pda).await.is_none());

    // The owner can still create it.
    let (thread, outcome) = create(&mut fx, args).await;
    outcome.assert_ok();
    assert_eq!(thread, victim_pda);
}

#[tokio::test]
async fn create_succeeds_on_address_prefunded_by_attacker() {
    let (mut fx, record, attacker) = bank_with_attacker().await;
    let owner = fx.owner.pubkey();
    let (thread, _) = Thread::address(&owner, b"prefunded");
    let prefund = fx.rent_for(0).await + 7;
    let transfer =
        solana_system_interface::instruction::transfer(&attacker.pubkey(), &thread, prefund);
    fx.process(&[transfer], &[&attacker]).await.assert_ok();
    assert_eq!(fx.balance(thread).await, prefund);

    let args = default_args(&fx, record, "prefunded");
    let deposit = args.deposit;
    let space = Thread::space_for(&args.instructions);
    let rent = fx.rent_for(space).await;
    let ix = client::create_thread(&owner, &thread, args);
    let fee = fee_of(&mut fx, &ix, &owner).await;
    let before = fx.balance(owner).await;
    as_owner(&mut fx, ix).await.assert_ok();

    // The owner tops up only what the attacker did not already give.
    assert_eq!(
        fx.balance(owner).await,
        before - (rent + deposit - prefund) - fee
    );
    let account = fx.account(thread).await.unwrap();
    assert_eq!(account.lamports, rent + deposit);
    assert_eq!(account.data.len(), space);
    assert_eq!(account.owner, thread::ID);
    assert_eq!(fx.thread(thread).await.owner, owner);
    fx.exec(thread).await.assert_ok();
}

#[tokio::test]
async fn create_succeeds_on_address_prefunded_beyond_rent_and_deposit() {
    let (mut fx, record, attacker) = bank_with_attacker().await;
    let owner = fx.owner.pubkey();
    let (thread, _) = Thread::address(&owner, b"rich");
    let args = default_args(&fx, record, "rich");
    let rent = fx.rent_for(Thread::space_for(&args.instructions)).await;
    let prefund = rent + args.deposit + 12_345;
    let transfer =
        solana_system_interface::instruction::transfer(&attacker.pubkey(), &thread, prefund);
    fx.process(&[transfer], &[&attacker]).await.assert_ok();

    let ix = client::create_thread(&owner, &thread, args);
    let fee = fee_of(&mut fx, &ix, &owner).await;
    let before = fx.balance(owner).await;
    as_owner(&mut fx, ix).await.assert_ok();

    // Nothing to top up: the owner pays the transaction fee only, the gift stays.
    assert_eq!(fx.balance(owner).await, before - fee);
    assert_eq!(fx.balance(thread).await, prefund);
    assert_eq!(fx.thread(thread).await.owner, owner);
}

// ---------------------------------------------------------------------------------------
// exec_thread: the fee
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn exec_pays_executor_exactly_fee_per_exec() {
    let Env { mut fx, record, .. } = env().await;
    let thread = create_funded(&mut fx, record, "fee", 4_321, 1_000_000).await;
    let executor = fx.executor.pubkey();
    let fee = exec_fee(&mut fx, thread).await;
    let before_executor = fx.balance(executor).await;
    let before_thread = fx.balance(thread).await;

    fx.exec(thread).await.assert_ok();

    assert_eq!(fx.balance(executor).await, before_executor + 4_321 - fee);
    assert_eq!(fx.balance(thread).await, before_thread - 4_321);
    assert_eq!(record_of(&mut fx, record).await, (thread, 1, 1));
}

#[tokio::test]
async fn exec_with_balance_below_fee_fails_insufficient_balance_and_moves_nothing() {
    let Env { mut fx, record, .. } = env().await;
    let thread = create_funded(&mut fx, record, "poor", 1_000, 999).await;
    let executor = fx.executor.pubkey();
    let state_before = fx.account(thread).await.unwrap();
    let record_before = record_of(&mut fx, record).await;
    let fee = exec_fee(&mut fx, thread).await;
    let before_executor = fx.balance(executor).await;

    fx.exec(thread)
        .await
        .assert_error(ThreadError::InsufficientBalance);

    // The thread (lamports and data) and the record are untouched; the executor paid
    // only the failed transaction's fee.
    assert_eq!(fx.account(thread).await.unwrap(), state_before);
    assert_eq!(record_of(&mut fx, record).await, record_before);
    assert_eq!(record_before.1, 0);
    assert_eq!(fx.balance(executor).await, before_executor - fee);
}

#[tokio::test]
async fn exec_spends_deposit_down_to_rent_exactly() {
    let Env { mut fx, record, .. } = env().await;
    let thread = create_funded(&mut fx, record, "exact", 1_000, 1_000).await;
    fx.exec(thread).await.assert_ok();
    let rent = rent_of(&mut fx, thread).await;
    assert_eq!(fx.balance(thread).await, rent);
}

// ---------------------------------------------------------------------------------------
// update_thread
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn update_by_non_owner_fails_not_owner() {
    let (mut fx, record, attacker) = bank_with_attacker().await;
    let thread = create_default(&mut fx, record, "upd").await;
    let before = fx.account(thread).await.unwrap();
    let args = UpdateThreadArgs {
        fee_per_exec: Some(u64::MAX),
        instructions: Some(vec![record_call(thread, record, 1_000)]),
        ..Default::default()
    };
    let ix = client::update_thread(&attacker.pubkey(), &thread, args);
    fx.process(&[ix], &[&attacker])
        .await
        .assert_error(ThreadError::NotOwner);
    assert_eq!(fx.account(thread).await.unwrap(), before);
}

#[tokio::test]
async fn update_changes_trigger_fee_and_rate_limit() {
    let Env { mut fx, record, .. } = env().await;
    let owner = fx.owner.pubkey();
    let thread = create_default(&mut fx, record, "upd").await;
    fx.warp_slots(5).await;
    let before = fx.thread(thread).await;
    let before_lamports = fx.balance(thread).await;
    let before_len = fx.account(thread).await.unwrap().data.len();
    let new_rate = RateLimit {
        max_execs: 4,
        window_slots: 20,
    };
    let args = UpdateThreadArgs {
        trigger: Some(Trigger::Interval {
            seconds: 30,
            skippable: false,
        }),
        instructions: None,
        fee_per_exec: Some(9_999),
        rate_limit: Some(new_rate),
        priority: None,
        lookup_tables: None,
    };
    let ix = client::update_thread(&owner, &thread, args);
    let fee = fee_of(&mut fx, &ix, &owner).await;
    let before_owner = fx.balance(owner).await;
    as_owner(&mut fx, ix).await.assert_ok();

    let clock = fx.clock().await;
    let after = fx.thread(thread).await;
    assert_eq!(
        after.trigger,
        Trigger::Interval {
            seconds: 30,
            skippable: false
        }
    );
    assert_eq!(
        after.next_due,
        Due::At {
            unix_ts: clock.unix_timestamp + 30
        }
    );
    assert_eq!(after.schedule_base, clock.unix_timestamp + 30);
    assert_eq!(after.fee_per_exec, 9_999);
    assert_eq!(after.rate_limit, new_rate);
    assert_eq!(after.window_start_slot, clock.slot);
    assert!(after.window_start_slot > before.window_start_slot);
    assert_eq!(after.execs_in_window, 0);
    // Untouched: instructions, identity, counters; no resize, no lamports moved.
    assert_eq!(after.instructions, before.instructions);
    assert_eq!((after.owner, &after.id), (before.owner, &before.id));
    assert_eq!(after.created_at, before.created_at);
    assert_eq!(fx.account(thread).await.unwrap().data.len(), before_len);
    assert_eq!(fx.balance(thread).await, before_lamports);
    assert_eq!(fx.balance(owner).await, before_owner - fee);
}

#[tokio::test]
async fn update_with_no_fields_changes_nothing() {
    let Env { mut fx, record, .. } = env().await;
    let thread = create_default(&mut fx, record, "noop").await;
    let before = fx.account(thread).await.unwrap();
    let owner = fx.owner.pubkey();
    let ix = client::update_thread(&owner, &thread, UpdateThreadArgs::default());
    as_owner(&mut fx, ix).await.assert_ok();
    assert_eq!(fx.account(thread).await.unwrap(), before);
}

/// Replaces the instructions of `thread` by `to` and checks the owner pays (or is
/// refunded) exactly the rent difference plus the transaction fee, the account is resized
/// to `Thread::space_for(to)`, and the fee balance above rent is unchanged. Returns the
/// rent before and after.
async fn assert_resize_exact(
    fx: &mut Fixture,
    thread: Pubkey,
    to: Vec<ThreadInstruction>,
) -> (u64, u64) {
    let owner = fx.owner.pubkey();
    let old_len = fx.account(thread).await.unwrap().data.len();
    let new_len = Thread::space_for(&to);
    let old_rent = fx.rent_for(old_len).await;
    let new_rent = fx.rent_for(new_len).await;
    let before_thread = fx.balance(thread).await;
    let before_owner = fx.balance(owner).await;
    let args = UpdateThreadArgs {
        instructions: Some(to.clone()),
        ..Default::default()
    };
    let ix = client::update_thread(&owner, &thread, args);
    let fee = fee_of(fx, &ix, &owner).await;
    as_owner(fx, ix).await.assert_ok();

    let after_thread = fx.balance(thread).await;
    let after_owner = fx.balance(owner).await;
    // Owner: -fee - (new_rent - old_rent), in signed arithmetic so both directions hold.
    assert_eq!(
        after_owner as i128,
        before_owner as i128 - fee as i128 - (new_rent as i128 - old_rent as i128)
    );
    assert_eq!(
        after_thread as i128,
        before_thread as i128 + (new_rent as i128 - old_rent as i128)
    );
    assert_eq!(
        after_thread - new_rent,
        before_thread - old_rent,
        "fee balance"
    );
    assert_eq!(fx.account(thread).await.unwrap().data.len(), new_len);
    assert_eq!(fx.thread(thread).await.instructions, to);
    (old_rent, new_rent)
}

#[tokio::test]
async fn update_growing_instructions_charges_owner_exact_rent_difference() {
    let Env { mut fx, record, .. } = env().await;
    let thread = create_default(&mut fx, record, "grow").await;
    let to = vec![
        record_call(thread, record, 1),
        record_call(thread, record, 2),
        record_call(thread, record, 3),
    ];
    let (old_rent, new_rent) = assert_resize_exact(&mut fx, thread, to).await;
    assert!(new_rent > old_rent);

    // The grown account still deserializes and runs all three calls.
    fx.exec(thread).await.assert_ok();
    assert_eq!(record_of(&mut fx, record).await, (thread, 3, 6));
}

#[tokio::test]
async fn update_can_grow_to_the_full_instruction_space_in_one_update() {
    let Env { mut fx, record, .. } = env().await;
    let thread = create_default(&mut fx, record, "max").await;
    let mut to = vec![record_call(thread, record, 1)];
    let rest = MAX_INSTRUCTIONS_SPACE - ThreadInstruction::list_space(&to);
    to.extend(list_of_total_size(4, rest));
    assert_eq!(ThreadInstruction::list_space(&to), MAX_INSTRUCTIONS_SPACE);
    let (old_rent, new_rent) = assert_resize_exact(&mut fx, thread, to).await;
    assert!(new_rent > old_rent);
}

#[tokio::test]
async fn update_shrinking_instructions_refunds_owner_exact_rent_difference() {
    let Env { mut fx, record, .. } = env().await;
    let owner = fx.owner.pubkey();
    let (thread, _) = Thread::address(&owner, b"shrink");
    let mut args = default_args(&fx, record, "shrink");
    args.instructions = vec![
        record_call(thread, record, 1),
        record_call(thread, record, 2),
        sized_ix(4, 900),
    ];
    create(&mut fx, args).await.1.assert_ok();

    let to = vec![record_call(thread, record, 10)];
    let (old_rent, new_rent) = assert_resize_exact(&mut fx, thread, to).await;
    assert!(new_rent < old_rent);

    fx.exec(thread).await.assert_ok();
    assert_eq!(record_of(&mut fx, record).await, (thread, 1, 10));
}

#[tokio::test]
async fn update_rejects_invalid_instructions_with_their_error() {
    let Env { mut fx, record, .. } = env().await;
    let owner = fx.owner.pubkey();
    let thread = create_default(&mut fx, record, "bad").await;
    let before = fx.account(thread).await.unwrap();
    let mut reentry = sized_ix(0, 8);
    reentry.program_id = thread::ID;
    let cases: Vec<(Vec<ThreadInstruction>, ThreadError)> = vec![
        (vec![], ThreadError::NoInstructions),
        (
            (0..=MAX_INSTRUCTIONS)
                .map(|i| record_call(thread, record, i as u64))
                .collect(),
            ThreadError::TooManyInstructions,
        ),
        (
            vec![sized_ix(MAX_ACCOUNTS_PER_INSTRUCTION + 1, 0)],
            ThreadError::TooManyAccounts,
        ),
        (
            vec![sized_ix(0, MAX_INSTRUCTION_DATA + 1)],
            ThreadError::InstructionDataTooLarge,
        ),
        (
            (0..5).map(|_| sized_ix(0, 1000)).collect(),
            ThreadError::InstructionsTooLarge,
        ),
        (
            vec![record_call(thread, record, 1), reentry],
            ThreadError::SelfInvocationNotAllowed,
        ),
    ];
    for (instructions, expected) in cases {
        let args = UpdateThreadArgs {
            instructions: Some(instructions),
            ..Default::default()
        };
        let ix = client::update_thread(&owner, &thread, args);
        let fee = fee_of(&mut fx, &ix, &owner).await;
        let before_owner = fx.balance(owner).await;
        as_owner(&mut fx, ix).await.assert_error(expected);
        assert_eq!(fx.account(thread).await.unwrap(), before);
        assert_eq!(fx.balance(owner).await, before_owner - fee);
    }
}

#[tokio::test]
async fn update_rejects_invalid_trigger_and_rate_limit() {
    let Env { mut fx, record, .. } = env().await;
    let owner = fx.owner.pubkey();
    let thread = create_default(&mut fx, record, "bad").await;
    let before = fx.account(thread).await.unwrap();
    let cases = [
        (
            UpdateThreadArgs {
                trigger: Some(Trigger::Interval {
                    seconds: 0,
                    skippable: true,
                }),
                ..Default::default()
            },
            ThreadError::InvalidInterval,
        ),
        (
            UpdateThreadArgs {
                rate_limit: Some(RateLimit {
                    max_execs: 0,
                    window_slots: 1,
                }),
                ..Default::default()
            },
            ThreadError::InvalidRateLimit,
        ),
        (
            UpdateThreadArgs {
                rate_limit: Some(RateLimit {
                    max_execs: 1,
                    window_slots: 0,
                }),
                ..Default::default()
            },
            ThreadError::InvalidRateLimit,
        ),
    ];
    for (args, expected) in cases {
        let ix = client::update_thread(&owner, &thread, args);
        as_owner(&mut fx, ix).await.assert_error(expected);
        assert_eq!(fx.account(thread).await.unwrap(), before);
    }
}

// ---------------------------------------------------------------------------------------
// pause_thread / resume_thread
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn paused_thread_cannot_execute_until_resumed() {
    let Env { mut fx, record, .. } = env().await;
    let owner = fx.owner.pubkey();
    let thread = create_default(&mut fx, record, "pause").await;

    as_owner(&mut fx, client::pause_thread(&owner, &thread))
        .await
        .assert_ok();
    assert!(fx.thread(thread).await.paused);
    let before = fx.balance(thread).await;
    fx.exec(thread)
        .await
        .assert_error(ThreadError::ThreadPaused);
    assert_eq!(record_of(&mut fx, record).await.1, 0);
    assert_eq!(fx.balance(thread).await, before);

    as_owner(&mut fx, client::resume_thread(&owner, &thread))
        .await
        .assert_ok();
    assert!(!fx.thread(thread).await.paused);
    fx.exec(thread).await.assert_ok();
    assert_eq!(record_of(&mut fx, record).await, (thread, 1, 1));
}

#[tokio::test]
async fn pausing_a_paused_thread_fails_thread_paused() {
    let Env { mut fx, record, .. } = env().await;
    let owner = fx.owner.pubkey();
    let thread = create_paused(&mut fx, record, "pause2").await;
    as_owner(&mut fx, client::pause_thread(&owner, &thread))
        .await
        .assert_error(ThreadError::ThreadPaused);
    assert!(fx.thread(thread).await.paused);
}

#[tokio::test]
async fn resuming_an_active_thread_fails_thread_not_paused() {
    let Env { mut fx, record, .. } = env().await;
    let owner = fx.owner.pubkey();
    let thread = create_default(&mut fx, record, "resume").await;
    as_owner(&mut fx, client::resume_thread(&owner, &thread))
        .await
        .assert_error(ThreadError::ThreadNotPaused);
    assert!(!fx.thread(thread).await.paused);
}

#[tokio::test]
async fn pause_and_resume_by_non_owner_fail_not_owner() {
    let (mut fx, record, attacker) = bank_with_attacker().await;
    let owner = fx.owner.pubkey();
    let thread = create_default(&mut fx, record, "grief").await;

    fx.process(
        &[client::pause_thread(&attacker.pubkey(), &thread)],
        &[&attacker],
    )
    .await
    .assert_error(ThreadError::NotOwner);
    assert!(!fx.thread(thread).await.paused);

    as_owner(&mut fx, client::pause_thread(&owner, &thread))
        .await
        .assert_ok();
    fx.process(
        &[client::resume_thread(&attacker.pubkey(), &thread)],
        &[&attacker],
    )
    .await
    .assert_error(ThreadError::NotOwner);
    assert!(fx.thread(thread).await.paused);
}

// ---------------------------------------------------------------------------------------
// withdraw_thread
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn withdraw_from_active_thread_keeps_rent_and_one_fee() {
    let Env { mut fx, record, .. } = env().await;
    let owner = fx.owner.pubkey();
    let thread = create_default(&mut fx, record, "wd").await;
    let fee_per_exec = fx.thread(thread).await.fee_per_exec;
    let rent = rent_of(&mut fx, thread).await;
    let lamports = fx.balance(thread).await;
    let available = lamports - rent - fee_per_exec;

    as_owner(
        &mut fx,
        client::withdraw_thread(&owner, &thread, available + 1),
    )
    .await
    .assert_error(ThreadError::WithdrawExceedsAvailable);
    assert_eq!(fx.balance(thread).await, lamports);

    let ix = client::withdraw_thread(&owner, &thread, available);
    let fee = fee_of(&mut fx, &ix, &owner).await;
    let before_owner = fx.balance(owner).await;
    as_owner(&mut fx, ix).await.assert_ok();
    assert_eq!(fx.balance(owner).await, before_owner + available - fee);
    assert_eq!(fx.balance(thread).await, rent + fee_per_exec);

    as_owner(&mut fx, client::withdraw_thread(&owner, &thread, 1))
        .await
        .assert_error(ThreadError::WithdrawExceedsAvailable);

    // The reserved fee still pays the next execution, down to rent exactly.
    fx.exec(thread).await.assert_ok();
    assert_eq!(fx.balance(thread).await, rent);
}

#[tokio::test]
async fn withdraw_from_paused_thread_releases_fee_reserve_down_to_rent() {
    let Env { mut fx, record, .. } = env().await;
    let owner = fx.owner.pubkey();
    let thread = create_paused(&mut fx, record, "wdp").await;
    let rent = rent_of(&mut fx, thread).await;
    let available = fx.balance(thread).await - rent;

    as_owner(
        &mut fx,
        client::withdraw_thread(&owner, &thread, available + 1),
    )
    .await
    .assert_error(ThreadError::WithdrawExceedsAvailable);

    let ix = client::withdraw_thread(&owner, &thread, available);
    let fee = fee_of(&mut fx, &ix, &owner).await;
    let before_owner = fx.balance(owner).await;
    as_owner(&mut fx, ix).await.assert_ok();
    assert_eq!(fx.balance(owner).await, before_owner + available - fee);
    assert_eq!(fx.balance(thread).await, rent);

    // Resumed with nothing above rent, it cannot pay an executor.
    as_owner(&mut fx, client::resume_thread(&owner, &thread))
        .await
        .assert_ok();
    fx.exec(thread)
        .await
        .assert_error(ThreadError::InsufficientBalance);
    assert_eq!(fx.balance(thread).await, rent);
}

#[tokio::test]
async fn withdraw_by_non_owner_fails_not_owner() {
    let (mut fx, record, attacker) = bank_with_attacker().await;
    let thread = create_default(&mut fx, record, "steal").await;
    let before = fx.balance(thread).await;
    let ix = client::withdraw_thread(&attacker.pubkey(), &thread, 1);
    fx.process(&[ix], &[&attacker])
        .await
        .assert_error(ThreadError::NotOwner);
    assert_eq!(fx.balance(thread).await, before);
}

#[tokio::test]
async fn withdraw_without_owner_signature_fails() {
    let (mut fx, record, attacker) = bank_with_attacker().await;
    let owner = fx.owner.pubkey();
    let thread = create_default(&mut fx, record, "unsigned").await;
    let before = fx.balance(thread).await;
    let mut ix = client::withdraw_thread(&owner, &thread, 1);
    ix.accounts[0].is_signer = false;
    let outcome = fx.process(&[ix], &[&attacker]).await;
    outcome.assert_anchor_error(AnchorErrorCode::AccountNotSigner);
    assert_eq!(fx.balance(thread).await, before);
}

// ---------------------------------------------------------------------------------------
// delete_thread
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn delete_returns_every_lamport_to_owner_and_closes_account() {
    let Env { mut fx, record, .. } = env().await;
    let owner = fx.owner.pubkey();
    let thread = create_default(&mut fx, record, "del").await;
    fx.exec(thread).await.assert_ok();
    let lamports = fx.balance(thread).await;
    let ix = client::delete_thread(&owner, &thread, None, None);
    let fee = fee_of(&mut fx, &ix, &owner).await;
    let before_owner = fx.balance(owner).await;

    as_owner(&mut fx, ix).await.assert_ok();

    assert_eq!(fx.balance(owner).await, before_owner + lamports - fee);
    assert!(fx.account(thread).await.is_none());
    assert_eq!(fx.balance(thread).await, 0);

    // Nothing is left to execute.
    let executor = fx.executor.insecure_clone();
    let outcome = fx
        .process(
            &[client::exec_thread_bare(&executor.pubkey(), &thread, false)],
            &[&executor],
        )
        .await;
    outcome.assert_anchor_error(AnchorErrorCode::AccountNotInitialized);
}

#[tokio::test]
async fn deleted_thread_id_can_be_created_again() {
    let Env { mut fx, record, .. } = env().await;
    let owner = fx.owner.pubkey();
    let thread = create_default(&mut fx, record, "again").await;
    as_owner(&mut fx, client::delete_thread(&owner, &thread, None, None))
        .await
        .assert_ok();
    let again = create_default(&mut fx, record, "again").await;
    assert_eq!(again, thread);
    fx.exec(thread).await.assert_ok();
    assert_eq!(record_of(&mut fx, record).await, (thread, 1, 1));
}

#[tokio::test]
async fn delete_by_non_owner_fails_not_owner() {
    let (mut fx, record, attacker) = bank_with_attacker().await;
    let thread = create_default(&mut fx, record, "nodel").await;
    let before = fx.account(thread).await.unwrap();
    fx.process(
        &[client::delete_thread(
            &attacker.pubkey(),
            &thread,
            None,
            None,
        )],
        &[&attacker],
    )
    .await
    .assert_error(ThreadError::NotOwner);
    assert_eq!(fx.account(thread).await.unwrap(), before);
}

#[tokio::test]
async fn delete_without_owner_signature_fails() {
    let (mut fx, record, attacker) = bank_with_attacker().await;
    let owner = fx.owner.pubkey();
    let thread = create_default(&mut fx, record, "unsigned").await;
    let before = fx.account(thread).await.unwrap();
    let mut ix = client::delete_thread(&owner, &thread, None, None);
    ix.accounts[0].is_signer = false;
    let outcome = fx.process(&[ix], &[&attacker]).await;
    outcome.assert_anchor_error(AnchorErrorCode::AccountNotSigner);
    assert_eq!(fx.account(thread).await.unwrap(), before);
}

// ---------------------------------------------------------------------------------------
// Events
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn create_emits_thread_created() {
    let Env { mut fx, record, .. } = env().await;
    let owner = fx.owner.pubkey();
    let mut args = default_args(&fx, record, "ev");
    args.trigger = Trigger::Slot { slot: 1_000 };
    args.fee_per_exec = 1_234;
    args.deposit = 56_789;
    let (thread, _) = Thread::address(&owner, b"ev");
    let ix = client::create_thread(&owner, &thread, args);
    let e = &owner_event::<ThreadCreated>(&mut fx, ix).await;
    assert_eq!(e.thread, thread);
    assert_eq!(e.owner, owner);
    assert_eq!(e.id, b"ev".to_vec());
    assert_eq!(e.trigger, Trigger::Slot { slot: 1_000 });
    assert_eq!(e.durability, Durability::NonDurable);
    assert_eq!(e.fee_per_exec, 1_234);
    assert_eq!(e.deposit, 56_789);
    assert_eq!(e.next_due, Due::AtSlot { slot: 1_000 });
}

#[tokio::test]
async fn update_emits_old_and_new_values() {
    let Env { mut fx, record, .. } = env().await;
    let owner = fx.owner.pubkey();
    let thread = create_default(&mut fx, record, "ev").await;
    let new_rate = RateLimit {
        max_execs: 2,
        window_slots: 7,
    };
    let args = UpdateThreadArgs {
        trigger: Some(Trigger::Epoch { epoch: 9 }),
        instructions: Some(vec![
            record_call(thread, record, 1),
            record_call(thread, record, 2),
        ]),
        fee_per_exec: Some(2_000),
        rate_limit: Some(new_rate),
        priority: None,
        lookup_tables: None,
    };
    let ix = client::update_thread(&owner, &thread, args);
    let e = &owner_event::<ThreadUpdated>(&mut fx, ix).await;
    assert_eq!(e.thread, thread);
    assert_eq!(e.old_trigger, Trigger::Now);
    assert_eq!(e.new_trigger, Trigger::Epoch { epoch: 9 });
    assert_eq!(e.old_fee_per_exec, 1_000);
    assert_eq!(e.new_fee_per_exec, 2_000);
    assert_eq!(e.old_rate_limit, RateLimit::default());
    assert_eq!(e.new_rate_limit, new_rate);
    assert_eq!(e.old_instructions_len, 1);
    assert_eq!(e.new_instructions_len, 2);
    assert_eq!(e.old_next_due, Due::Immediately);
    assert_eq!(e.new_next_due, Due::AtEpoch { epoch: 9 });
}

#[tokio::test]
async fn pause_and_resume_emit_their_events() {
    let Env { mut fx, record, .. } = env().await;
    let owner_kp = fx.owner.insecure_clone();
    let owner = owner_kp.pubkey();
    let thread = create_default(&mut fx, record, "ev").await;

    let paused = fx
        .simulate_events::<ThreadPaused>(&[client::pause_thread(&owner, &thread)], &[&owner_kp])
        .await;
    assert_eq!(paused.len(), 1);
    assert_eq!(paused[0].thread, thread);

    as_owner(&mut fx, client::pause_thread(&owner, &thread))
        .await
        .assert_ok();
    let resumed = fx
        .simulate_events::<ThreadResumed>(&[client::resume_thread(&owner, &thread)], &[&owner_kp])
        .await;
    assert_eq!(resumed.len(), 1);
    assert_eq!(resumed[0].thread, thread);
}

#[tokio::test]
async fn exec_emits_thread_executed() {
    let Env { mut fx, record, .. } = env().await;
    let executor_kp = fx.executor.insecure_clone();
    let executor = executor_kp.pubkey();
    let thread = create_default(&mut fx, record, "ev").await;
    let state = fx.thread(thread).await;
    let clock = fx.clock().await;
    let e = &fx
        .simulate_one_event::<ThreadExecuted>(
            &[client::exec_thread(&executor, &thread, &state)],
            &[&executor_kp],
        )
        .await;
    assert_eq!(e.thread, thread);
    assert_eq!(e.executor, executor);
    assert_eq!(e.exec_count, 1);
    assert_eq!(e.fee, state.fee_per_exec);
    assert_eq!(e.slot, clock.slot);
    assert_eq!(e.unix_ts, clock.unix_timestamp);
    assert_eq!(e.old_next_due, Due::Immediately);
    assert_eq!(e.new_next_due, Due::Never);
}

#[tokio::test]
async fn withdraw_emits_amount_and_balances() {
    let Env { mut fx, record, .. } = env().await;
    let owner = fx.owner.pubkey();
    let thread = create_default(&mut fx, record, "ev").await;
    let balance = fx.balance(thread).await;
    let ix = client::withdraw_thread(&owner, &thread, 40_000);
    let e = &owner_event::<ThreadWithdrawn>(&mut fx, ix).await;
    assert_eq!(e.thread, thread);
    assert_eq!(e.owner, owner);
    assert_eq!(e.amount, 40_000);
    assert_eq!(e.old_balance, balance);
    assert_eq!(e.new_balance, balance - 40_000);
}

#[tokio::test]
async fn delete_emits_lamports_returned() {
    let Env { mut fx, record, .. } = env().await;
    let owner = fx.owner.pubkey();
    let thread = create_default(&mut fx, record, "ev").await;
    let balance = fx.balance(thread).await;
    let ix = client::delete_thread(&owner, &thread, None, None);
    let e = &owner_event::<ThreadDeleted>(&mut fx, ix).await;
    assert_eq!(e.thread, thread);
    assert_eq!(e.owner, owner);
    assert_eq!(e.lamports, balance);
}
