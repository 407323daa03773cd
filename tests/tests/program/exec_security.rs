//! Attacks on `exec_thread`. The rule: an executor runs what the owner stored and nothing
//! else. The thread PDA signs only stored instructions, stored accounts and privileges are
//! enforced by address, the fee goes only to the signing executor, and one due time runs
//! once. Every rejected attack also checks that nothing moved: the records, the thread
//! account (lamports, exec_count, every byte) and, where it matters, the other balances.

use crate::common::{env, fixture_with_record, genesis, record_of, Env, Genesis, Snapshot};
use anchor_lang::error::ErrorCode as AnchorError;
use solana_program_test::BanksClientError;
use solana_sdk::account::Account;
use solana_sdk::instruction::{AccountMeta, Instruction};
use solana_sdk::message::Message;
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::{Keypair, Signer};
use solana_sdk::transaction::{Transaction, TransactionError};
use solana_system_interface::instruction as system_instruction;
use solana_system_interface::program::ID as SYSTEM_PROGRAM;
use thread::client;
use thread::errors::ThreadError;
use thread::state::{
    Due, Durability, RateLimit, Thread, ThreadAccountMeta, ThreadInstruction, Trigger,
};
use thread_tests::{
    hand_built_thread, recorder, system_account, Outcome, ThreadSpec, LAMPORTS_PER_SIGNATURE,
    STARTING_LAMPORTS,
};

/// What `ThreadSpec::new` stores: one recorder call adding 1, signed by the thread PDA.
const STORED_AMOUNT: u64 = 1;

impl Env {
    /// The fixture's executor, the keeper that sends every honest execution.
    fn executor(&self) -> Keypair {
        self.keeper.insecure_clone()
    }

    /// Creates a thread owned by the fixture owner; the creation must succeed.
    async fn create(&mut self, spec: ThreadSpec) -> Pubkey {
        let (thread, outcome) = self.fx.create_thread(spec).await;
        outcome.assert_ok();
        thread
    }

    /// A thread storing one recorder call on `self.record`, signed by the thread PDA.
    async fn recorder_thread(&mut self, id: &str, trigger: Trigger) -> Pubkey {
        let spec = ThreadSpec::new(id, trigger, self.record).for_owner(&self.owner.pubkey());
        self.create(spec).await
    }

    /// The `exec_thread` a well-behaved executor sends for `thread`'s current state.
    async fn honest_exec_ix(&mut self, thread: Pubkey) -> Instruction {
        let state = self.fx.thread(thread).await;
        client::exec_thread(&self.executor().pubkey(), &thread, &state)
    }

    /// Sends `ixs` signed and paid for by the executor.
    async fn send_as_executor(&mut self, ixs: &[Instruction]) -> Outcome {
        let executor = self.executor();
        self.fx.process(ixs, &[&executor]).await
    }

    /// The honest `exec_thread` for `thread`, with the meta of the record its stored
    /// call writes changed by `edit`.
    async fn exec_ix_with_record_meta(
        &mut self,
        thread: Pubkey,
        edit: impl FnOnce(&mut AccountMeta),
    ) -> Instruction {
        let record = self.record;
        let mut ix = self.honest_exec_ix(thread).await;
        edit(ix.accounts.iter_mut().find(|m| m.pubkey == record).unwrap());
        ix
    }

    /// Sends, as the executor, the `exec_thread` a client builds from `state` for the
    /// account at `address` (placed at genesis, whatever it holds).
    async fn exec_placed(&mut self, address: Pubkey, state: &Thread) -> Outcome {
        let ix = client::exec_thread(&self.executor().pubkey(), &address, state);
        self.send_as_executor(&[ix]).await
    }

    /// Sends `ixs` as the executor, expects the program to refuse them with `error`, and
    /// checks that the thread and the records are as they were in `before`.
    async fn assert_refused(&mut self, ixs: &[Instruction], error: ThreadError, before: &Snapshot) {
        self.send_as_executor(ixs).await.assert_error(error);
        self.assert_unchanged(before).await;
    }
}

impl Genesis {
    /// A thread of a fresh owner at its own PDA storing one recorder call on `record`,
    /// to change before it is placed.
    fn recorder_thread_state(&self, id: &[u8]) -> (Pubkey, Thread) {
        let owner = Pubkey::new_unique();
        let (address, bump) = Thread::address(&owner, id);
        let stored = recorder::record_ix(address, self.record, 1);
        (address, hand_built_thread(owner, id, bump, vec![stored]))
    }
}

/// A thread with default settings storing `instructions`.
fn spec(id: &str, trigger: Trigger, instructions: Vec<Instruction>) -> ThreadSpec {
    ThreadSpec::running(
        id,
        trigger,
        instructions.into_iter().map(Into::into).collect(),
    )
}

/// Panics unless the transaction failed with this Anchor framework error, and unless
/// Anchor still numbers it `number`: clients match these refusals by number.
fn assert_anchor_error(outcome: &Outcome, expected: AnchorError, number: u32) {
    assert_eq!(expected as u32, number, "Anchor renumbered its error");
    outcome.assert_anchor_error(expected);
}

fn seeded(thread: &Pubkey, seed: &str) -> Pubkey {
    Pubkey::create_with_seed(thread, seed, &SYSTEM_PROGRAM).unwrap()
}

fn transfer_with_seed(thread: &Pubkey, seed: &str, to: &Pubkey, lamports: u64) -> Instruction {
    system_instruction::transfer_with_seed(
        &seeded(thread, seed),
        thread,
        seed.to_string(),
        &SYSTEM_PROGRAM,
        to,
        lamports,
    )
}

// ---------------------------------------------------------------------------------------
// Real CPI: what the owner stored runs, signed by the thread PDA.
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn thread_pda_signs_its_stored_recorder_call() {
    let mut env = env().await;
    let thread = env.recorder_thread("rec", Trigger::Now).await;

    let ix = env.honest_exec_ix(thread).await;
    env.send_as_executor(&[ix]).await.assert_ok();

    assert_eq!(
        env.record_of(env.record).await,
        (thread, 1, STORED_AMOUNT),
        "the recorder saw the thread PDA sign"
    );
    assert_eq!(env.fx.thread(thread).await.exec_count, 1);
}

#[tokio::test]
async fn thread_pda_signs_its_stored_system_transfer_with_seed() {
    let mut g = genesis();
    let owner = Keypair::new();
    g.pt.add_account(owner.pubkey(), system_account(STARTING_LAMPORTS));
    let (thread, _) = Thread::address(&owner.pubkey(), b"xfer");
    let from = seeded(&thread, "pay");
    let to = Pubkey::new_unique();
    g.pt.add_account(from, system_account(5_000_000));
    let mut env = g.start().await;

    let stored = transfer_with_seed(&thread, "pay", &to, 2_000_000);
    assert!(stored.accounts[1].is_signer && stored.accounts[1].pubkey == thread);
    let ix = client::create_thread(
        &owner.pubkey(),
        &thread,
        spec("xfer", Trigger::Now, vec![stored]).into_args(),
    );
    env.fx.process(&[ix], &[&owner]).await.assert_ok();

    let ix = env.honest_exec_ix(thread).await;
    env.send_as_executor(&[ix]).await.assert_ok();

    assert_eq!(env.fx.balance(to).await, 2_000_000);
    assert_eq!(env.fx.balance(from).await, 3_000_000);
}

#[tokio::test]
async fn thread_runs_all_stored_instructions_in_order() {
    // a -> b, then a recorder call, then b -> c: the last transfer spends what the first
    // delivered, so it only succeeds if the instructions run in the stored order.
    let mut g = genesis();
    let owner = Keypair::new();
    g.pt.add_account(owner.pubkey(), system_account(STARTING_LAMPORTS));
    let (thread, _) = Thread::address(&owner.pubkey(), b"order");
    let (a, b, c) = (
        seeded(&thread, "a"),
        seeded(&thread, "b"),
        Pubkey::new_unique(),
    );
    g.pt.add_account(a, system_account(3_000_000));
    let record = g.record;
    let mut env = g.start().await;

    let stored = vec![
        transfer_with_seed(&thread, "a", &b, 2_000_000),
        recorder::record_ix(thread, record, 5),
        transfer_with_seed(&thread, "b", &c, 2_000_000),
    ];
    let ix = client::create_thread(
        &owner.pubkey(),
        &thread,
        spec("order", Trigger::Now, stored).into_args(),
    );
    env.fx.process(&[ix], &[&owner]).await.assert_ok();

    let ix = env.honest_exec_ix(thread).await;
    env.send_as_executor(&[ix]).await.assert_ok();

    assert_eq!(env.fx.balance(a).await, 1_000_000);
    assert_eq!(env.fx.balance(b).await, 0);
    assert_eq!(env.fx.balance(c).await, 2_000_000);
    assert_eq!(env.record_of(record).await, (thread, 1, 5));
}

// ---------------------------------------------------------------------------------------
// Inner accounts: found by address, with the stored privileges, or the exec fails.
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn missing_inner_account_is_rejected() {
    let mut env = env().await;
    let thread = env.recorder_thread("missing", Trigger::Now).await;
    let before = env.snapshot(thread).await;

    let mut ix = env.honest_exec_ix(thread).await;
    ix.accounts.retain(|m| m.pubkey != env.record);
    env.assert_refused(&[ix], ThreadError::MissingInstructionAccount, &before)
        .await;
}

#[tokio::test]
async fn substituted_inner_account_is_rejected_and_left_untouched() {
    let mut env = env().await;
    let thread = env.recorder_thread("swap", Trigger::Now).await;
    let before = env.snapshot(thread).await;

    let stranger_record = env.stranger_record;
    let ix = env
        .exec_ix_with_record_meta(thread, |meta| meta.pubkey = stranger_record)
        .await;
    env.assert_refused(&[ix], ThreadError::MissingInstructionAccount, &before)
        .await;
    assert_eq!(env.record_of(env.stranger_record).await.1, 0);
}

#[tokio::test]
async fn extra_accounts_do_not_reach_the_stored_instruction() {
    let mut env = env().await;
    let thread = env.recorder_thread("extra", Trigger::Now).await;
    let before = env.record_of(env.stranger_record).await;

    // The attacker's record placed first among the remaining accounts, writable: the
    // stored instruction still gets the stored record, found by address.
    let mut ix = env.honest_exec_ix(thread).await;
    ix.accounts
        .insert(4, AccountMeta::new(env.stranger_record, false));
    env.send_as_executor(&[ix]).await.assert_ok();

    assert_eq!(env.record_of(env.record).await, (thread, 1, STORED_AMOUNT));
    assert_eq!(env.record_of(env.stranger_record).await, before);
}

#[tokio::test]
async fn missing_program_account_is_rejected() {
    let mut env = env().await;
    let thread = env.recorder_thread("noprog", Trigger::Now).await;
    let before = env.snapshot(thread).await;

    let mut ix = env.honest_exec_ix(thread).await;
    ix.accounts.retain(|m| m.pubkey != recorder::ID);
    env.assert_refused(&[ix], ThreadError::MissingInstructionAccount, &before)
        .await;
}

#[tokio::test]
async fn writable_inner_account_passed_read_only_is_rejected() {
    let mut env = env().await;
    let thread = env.recorder_thread("ro", Trigger::Now).await;
    let before = env.snapshot(thread).await;

    let ix = env
        .exec_ix_with_record_meta(thread, |meta| meta.is_writable = false)
        .await;
    env.assert_refused(&[ix], ThreadError::InstructionAccountNotWritable, &before)
        .await;
}

#[tokio::test]
async fn stored_cosigner_is_refused_at_create() {
    let mut env = env().await;
    let cosigner = Keypair::new();
    let stored = recorder::record_ix(cosigner.pubkey(), env.record, 1);
    let (thread, outcome) = env
        .fx
        .create_thread(spec("cosig", Trigger::Now, vec![stored]))
        .await;
    outcome.assert_error(ThreadError::ForeignSigner);
    assert!(env.fx.account(thread).await.is_none());
}

#[tokio::test]
async fn stored_cosigner_is_refused_at_update() {
    let mut env = env().await;
    let thread = env.recorder_thread("cosig-up", Trigger::Now).await;
    let before = env.snapshot(thread).await;
    let cosigner = Keypair::new();
    let args = thread::instructions::UpdateThreadArgs {
        instructions: Some(vec![ThreadInstruction::from(recorder::record_ix(
            cosigner.pubkey(),
            env.record,
            1,
        ))]),
        ..Default::default()
    };
    let owner = env.fx.owner.insecure_clone();
    let ix = client::update_thread(&owner.pubkey(), &thread, args);
    env.fx
        .process(&[ix], &[&owner])
        .await
        .assert_error(ThreadError::ForeignSigner);
    env.assert_unchanged(&before).await;
}

#[tokio::test]
async fn exec_refuses_a_stored_foreign_signer_even_when_it_signed() {
    // Creation refuses such threads; this builds one by hand, as an older layout or a
    // future bug might, to show exec never lends a signature it does not own.
    let mut g = genesis();
    let cosigner = Keypair::new();
    let owner = Pubkey::new_unique();
    let (thread, bump) = Thread::address(&owner, b"raw-cosig");
    let stored = recorder::record_ix(cosigner.pubkey(), g.record, 1);
    let state = hand_built_thread(owner, b"raw-cosig", bump, vec![stored]);
    g.place_thread(thread, &state);
    let mut env = g.start().await;
    let before = env.snapshot(thread).await;

    let mut ix = env.honest_exec_ix(thread).await;
    ix.accounts
        .iter_mut()
        .find(|m| m.pubkey == cosigner.pubkey())
        .unwrap()
        .is_signer = true;
    let executor = env.executor();
    env.fx
        .process(&[ix], &[&executor, &cosigner])
        .await
        .assert_error(ThreadError::MissingInstructionSigner);
    env.assert_unchanged(&before).await;
}

// ---------------------------------------------------------------------------------------
// The thread PDA signs nothing but its stored instructions.
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn thread_pda_cannot_sign_a_top_level_instruction() {
    let mut env = env().await;
    let thread = env.recorder_thread("top", Trigger::Now).await;
    let before = env.snapshot(thread).await;

    // exec_thread, then the attacker's own recorder call naming the thread PDA as its
    // signer, hoping the PDA's signature from the first carries over.
    let executor = env.executor();
    let smuggled = recorder::record_ix(thread, env.stranger_record, 1_000);
    assert!(smuggled.accounts[0].is_signer);
    let exec = env.honest_exec_ix(thread).await;
    let message = Message::new(&[exec, smuggled], Some(&executor.pubkey()));
    assert_eq!(
        message.header.num_required_signatures, 2,
        "executor and thread PDA"
    );
    let blockhash = env.fx.latest_blockhash().await;
    let mut tx = Transaction::new_unsigned(message);
    // No key can sign for a PDA; the executor signs its own slot, the PDA's stays empty.
    tx.try_partial_sign(&[&executor], blockhash).unwrap();
    assert_eq!(tx.verify(), Err(TransactionError::SignatureFailure));

    // The signature-verifying path (what a validator's sigverify stage does).
    let result = env.fx.ctx.banks_client.process_transaction(tx).await;
    assert!(
        matches!(
            result,
            Err(BanksClientError::TransactionError(
                TransactionError::SignatureFailure
            ))
        ),
        "got {result:?}"
    );

    env.assert_unchanged(&before).await;
}

#[tokio::test]
async fn junk_appended_to_exec_data_is_ignored() {
    // exec_thread takes no arguments: Anchor decodes the empty argument struct and ignores
    // trailing bytes, so the executor has no way to pass data to the stored instruction.
    let mut env = env().await;
    let thread = env.recorder_thread("junk", Trigger::Now).await;

    let mut ix = env.honest_exec_ix(thread).await;
    ix.data.extend_from_slice(&999_999u64.to_le_bytes());
    ix.data.extend_from_slice(&[0xff; 64]);
    env.send_as_executor(&[ix]).await.assert_ok();

    assert_eq!(env.record_of(env.record).await, (thread, 1, STORED_AMOUNT));
    assert_eq!(env.record_of(env.stranger_record).await.1, 0);
}

// ---------------------------------------------------------------------------------------
// The fee.
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn fee_goes_to_the_signing_executor_only() {
    let mut env = env().await;
    let mut spec = ThreadSpec::new("fee", Trigger::Now, env.record).for_owner(&env.owner.pubkey());
    spec.fee_per_exec = 12_345;
    let thread = env.create(spec).await;

    // A third party pays the transaction fee so every balance change is exact.
    let payer = env.stranger.insecure_clone();
    let executor = env.executor();
    let thread_before = env.fx.balance(thread).await;
    let executor_before = env.fx.balance(executor.pubkey()).await;
    let payer_before = env.fx.balance(payer.pubkey()).await;

    let ix = env.honest_exec_ix(thread).await;
    env.fx
        .process(&[ix], &[&payer, &executor])
        .await
        .assert_ok();

    assert_eq!(
        env.fx.balance(executor.pubkey()).await,
        executor_before + 12_345
    );
    assert_eq!(env.fx.balance(thread).await, thread_before - 12_345);
    assert_eq!(
        env.fx.balance(payer.pubkey()).await,
        payer_before - 2 * LAMPORTS_PER_SIGNATURE
    );
}

#[tokio::test]
async fn executor_that_did_not_sign_is_rejected() {
    let mut env = env().await;
    let thread = env.recorder_thread("nosig", Trigger::Now).await;
    let before = env.snapshot(thread).await;
    let named = env.executor().pubkey();
    let named_before = env.fx.balance(named).await;

    // The attacker pays and names an executor account whose signature it does not have.
    let mut ix = env.honest_exec_ix(thread).await;
    assert_eq!(ix.accounts[0].pubkey, named);
    ix.accounts[0].is_signer = false;
    let attacker = env.stranger.insecure_clone();
    let outcome = env.fx.process(&[ix], &[&attacker]).await;
    assert_anchor_error(&outcome, AnchorError::AccountNotSigner, 3010);

    env.assert_unchanged(&before).await;
    assert_eq!(env.fx.balance(named).await, named_before);
}

// ---------------------------------------------------------------------------------------
// The thread account itself.
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn account_of_another_program_as_thread_is_rejected() {
    let mut env = env().await;
    let record = env.record;
    let before = env.fx.account(record).await.unwrap();

    let ix = client::exec_thread_bare(&env.executor().pubkey(), &record, false);
    let outcome = env.send_as_executor(&[ix]).await;
    assert_anchor_error(&outcome, AnchorError::AccountOwnedByWrongProgram, 3007);

    assert_eq!(env.fx.account(record).await.unwrap(), before);
}

#[tokio::test]
async fn thread_program_account_that_is_not_a_thread_is_rejected() {
    let mut g = genesis();
    let impostor = Pubkey::new_unique();
    g.pt.add_account(
        impostor,
        Account {
            lamports: 1_000_000_000,
            data: vec![0xab; 256],
            owner: thread::ID,
            executable: false,
            rent_epoch: 0,
        },
    );
    let mut env = g.start().await;
    let before = env.fx.account(impostor).await.unwrap();

    let ix = client::exec_thread_bare(&env.executor().pubkey(), &impostor, false);
    let outcome = env.send_as_executor(&[ix]).await;
    assert_anchor_error(&outcome, AnchorError::AccountDiscriminatorMismatch, 3002);

    assert_eq!(env.fx.account(impostor).await.unwrap(), before);
}

#[tokio::test]
async fn forged_thread_off_its_pda_cannot_sign_as_the_victim() {
    // A Thread-shaped account at an address that is not its PDA, copying a victim's
    // owner, id and bump: were the address not checked against the seeds, invoke_signed
    // would sign as the victim's thread for instructions the victim never stored.
    let mut g = genesis();
    let victim_owner = Pubkey::new_unique();
    let (victim_thread, bump) = Thread::address(&victim_owner, b"victim");
    let forged_at = Pubkey::new_unique();
    let forged = hand_built_thread(
        victim_owner,
        b"victim",
        bump,
        vec![recorder::record_ix(victim_thread, g.stranger_record, 1_000)],
    );
    g.place_thread(forged_at, &forged);
    let mut env = g.start().await;
    let before = env.snapshot(forged_at).await;

    let outcome = env.exec_placed(forged_at, &forged).await;
    assert_anchor_error(&outcome, AnchorError::ConstraintSeeds, 2006);

    env.assert_unchanged(&before).await;
}

#[tokio::test]
async fn thread_whose_fields_name_another_owner_is_rejected() {
    // A thread at owner A's PDA whose stored owner is B: its seeds derive B's PDA, not the
    // address it sits at.
    let mut g = genesis();
    let (owner_a, owner_b) = (Pubkey::new_unique(), Pubkey::new_unique());
    let (address_a, _) = Thread::address(&owner_a, b"t");
    let (address_b, bump_b) = Thread::address(&owner_b, b"t");
    let state = hand_built_thread(
        owner_b,
        b"t",
        bump_b,
        vec![recorder::record_ix(address_b, g.record, 1)],
    );
    g.place_thread(address_a, &state);
    let mut env = g.start().await;
    let before = env.snapshot(address_a).await;

    let outcome = env.exec_placed(address_a, &state).await;
    assert_anchor_error(&outcome, AnchorError::ConstraintSeeds, 2006);

    env.assert_unchanged(&before).await;
}

#[tokio::test]
async fn thread_of_unknown_layout_version_is_rejected() {
    let mut g = genesis();
    let (address, mut state) = g.recorder_thread_state(b"v1");
    state.version = Thread::VERSION + 1;
    g.place_thread(address, &state);
    let mut env = g.start().await;
    let before = env.snapshot(address).await;

    let outcome = env.exec_placed(address, &state).await;
    outcome.assert_error(ThreadError::UnsupportedVersion);
    env.assert_unchanged(&before).await;
}

#[tokio::test]
async fn paused_thread_is_not_executed() {
    let mut env = env().await;
    let thread = env.recorder_thread("paused", Trigger::Now).await;
    let owner = env.fx.owner.insecure_clone();
    env.fx
        .process(&[client::pause_thread(&owner.pubkey(), &thread)], &[&owner])
        .await
        .assert_ok();
    let before = env.snapshot(thread).await;

    let ix = env.honest_exec_ix(thread).await;
    env.assert_refused(&[ix], ThreadError::ThreadPaused, &before)
        .await;
}

#[tokio::test]
async fn durable_thread_exec_without_a_lease_is_rejected() {
    // Written at genesis with a nonce account that does not exist: the lease check comes
    // first, so no nonce is needed to show it.
    let mut g = genesis();
    let (address, mut state) = g.recorder_thread_state(b"durable");
    state.durability = Durability::Durable {
        nonce_account: Pubkey::new_unique(),
    };
    g.place_thread(address, &state);
    let mut env = g.start().await;
    let before = env.snapshot(address).await;

    let outcome = env.exec_placed(address, &state).await;
    outcome.assert_error(ThreadError::NoLease);
    env.assert_unchanged(&before).await;
}

// ---------------------------------------------------------------------------------------
// One due time, one execution.
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn thread_not_yet_due_is_rejected() {
    let mut env = env().await;
    let now = env.fx.clock().await.unix_timestamp;
    let thread = env
        .recorder_thread(
            "later",
            Trigger::Timestamp {
                unix_ts: now + 3_600,
            },
        )
        .await;
    let before = env.snapshot(thread).await;

    let ix = env.honest_exec_ix(thread).await;
    env.assert_refused(&[ix], ThreadError::ThreadNotDue, &before)
        .await;
}

#[tokio::test]
async fn now_thread_cannot_run_twice() {
    let mut env = env().await;
    let thread = env.recorder_thread("twice", Trigger::Now).await;
    let ix = env.honest_exec_ix(thread).await;
    env.send_as_executor(std::slice::from_ref(&ix))
        .await
        .assert_ok();
    // A later slot, so the default one-per-slot rate limit is not what stops it.
    env.fx.warp_slots(1).await;
    let before = env.snapshot(thread).await;

    env.assert_refused(&[ix], ThreadError::ThreadCompleted, &before)
        .await;
    assert_eq!(env.record_of(env.record).await, (thread, 1, STORED_AMOUNT));
}

#[tokio::test]
async fn now_thread_twice_in_one_transaction_fails_as_a_whole() {
    let mut env = env().await;
    let mut spec = ThreadSpec::new("dup", Trigger::Now, env.record).for_owner(&env.owner.pubkey());
    spec.rate_limit = RateLimit {
        max_execs: 10,
        window_slots: 1,
    };
    let thread = env.create(spec).await;
    let before = env.snapshot(thread).await;

    let ix = env.honest_exec_ix(thread).await;
    let outcome = env.send_as_executor(&[ix.clone(), ix]).await;
    outcome.assert_error(ThreadError::ThreadCompleted);
    // Instruction 0 is the compute-budget instruction; the second exec_thread fails.
    assert!(matches!(
        outcome.result,
        Err(TransactionError::InstructionError(2, _))
    ));

    env.assert_unchanged(&before).await;
}

#[tokio::test]
async fn interval_thread_cannot_run_twice_for_one_due_time() {
    let mut env = env().await;
    let trigger = Trigger::Interval {
        seconds: 60,
        skippable: false,
    };
    let thread = env.recorder_thread("interval", trigger).await;
    let due = env.fx.thread(thread).await.schedule_base;

    env.fx.set_unix_time(due).await;
    let ix = env.honest_exec_ix(thread).await;
    env.send_as_executor(std::slice::from_ref(&ix))
        .await
        .assert_ok();
    assert_eq!(
        env.fx.thread(thread).await.next_due,
        Due::At { unix_ts: due + 60 }
    );

    // A later slot (the rate limit allows one exec per slot), the same due time.
    env.fx.warp_slots(1).await;
    env.fx.set_unix_time(due + 59).await;
    let before = env.snapshot(thread).await;
    env.assert_refused(&[ix], ThreadError::ThreadNotDue, &before)
        .await;
    assert_eq!(env.record_of(env.record).await.1, 1);
}

#[tokio::test]
async fn rate_limit_stops_catch_up_within_its_window() {
    let mut env = env().await;
    let mut spec = ThreadSpec::new(
        "rate",
        Trigger::Interval {
            seconds: 10,
            skippable: false,
        },
        env.record,
    )
    .for_owner(&env.owner.pubkey());
    spec.rate_limit = RateLimit {
        max_execs: 2,
        window_slots: 10,
    };
    let thread = env.create(spec).await;
    let base = env.fx.thread(thread).await.schedule_base;
    // A hundred periods behind: every exec below is due on its own.
    let late = base + 1_000;
    env.fx.set_unix_time(late).await;

    let ix = env.honest_exec_ix(thread).await;
    env.send_as_executor(std::slice::from_ref(&ix))
        .await
        .assert_ok();
    env.send_as_executor(std::slice::from_ref(&ix))
        .await
        .assert_ok();
    let before = env.snapshot(thread).await;
    env.send_as_executor(std::slice::from_ref(&ix))
        .await
        .assert_error(ThreadError::RateLimited);
    env.assert_unchanged(&before).await;

    env.fx.warp_slots(10).await;
    env.fx.set_unix_time(late).await;
    env.send_as_executor(&[ix]).await.assert_ok();
    assert_eq!(env.fx.thread(thread).await.exec_count, 3);
    assert_eq!(env.record_of(env.record).await.1, 3);
}

// ---------------------------------------------------------------------------------------
// Balance.
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn thread_that_cannot_pay_the_fee_is_rejected() {
    let mut env = env().await;
    let mut spec = ThreadSpec::new("poor", Trigger::Now, env.record).for_owner(&env.owner.pubkey());
    spec.fee_per_exec = 1_000;
    spec.deposit = 999;
    let thread = env.create(spec).await;
    let before = env.snapshot(thread).await;

    let ix = env.honest_exec_ix(thread).await;
    env.assert_refused(&[ix], ThreadError::InsufficientBalance, &before)
        .await;
}

#[tokio::test]
async fn thread_may_spend_its_deposit_down_to_rent() {
    let mut env = env().await;
    let mut spec =
        ThreadSpec::new("exact", Trigger::Now, env.record).for_owner(&env.owner.pubkey());
    spec.fee_per_exec = 1_000;
    spec.deposit = 1_000;
    let thread = env.create(spec).await;

    let ix = env.honest_exec_ix(thread).await;
    env.send_as_executor(&[ix]).await.assert_ok();

    let account = env.fx.account(thread).await.unwrap();
    assert_eq!(account.lamports, env.fx.rent_for(account.data.len()).await);
}

// ---------------------------------------------------------------------------------------
// An owner cannot make an executor's transaction pay for the owner's instructions.
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn stored_instruction_cannot_spend_the_fee_payers_signature() {
    let mut g = genesis();
    let fee_payer = Keypair::new();
    g.pt.add_account(fee_payer.pubkey(), system_account(STARTING_LAMPORTS));
    let mut env = g.start().await;
    let owner = env.owner.pubkey();
    let stored = system_instruction::transfer(&fee_payer.pubkey(), &owner, 1_000_000_000);
    let (thread, outcome) = env
        .fx
        .create_thread(spec("drain", Trigger::Now, vec![stored]))
        .await;
    outcome.assert_error(ThreadError::ForeignSigner);
    assert!(env.fx.account(thread).await.is_none());
}

#[tokio::test]
async fn stored_instruction_cannot_spend_the_executors_signature() {
    let mut env = env().await;
    let owner = env.owner.pubkey();
    let executor = env.executor();
    let stored = system_instruction::transfer(&executor.pubkey(), &owner, 1_000_000_000);
    let (thread, outcome) = env
        .fx
        .create_thread(spec("drain-x", Trigger::Now, vec![stored]))
        .await;
    outcome.assert_error(ThreadError::ForeignSigner);
    assert!(env.fx.account(thread).await.is_none());
}

/// A stored instruction may name the executor's key (an owner running its own keeper and
/// paying itself). Clients pass the executor once, as the fee payee (the keeper's builder
/// leaves it out of the remaining accounts), and the program finds it there.
#[tokio::test]
async fn stored_instruction_naming_the_executor_runs_with_the_executor_passed_once() {
    let (mut fx, record) = fixture_with_record().await;
    let executor = fx.executor.insecure_clone();
    let owner = fx.owner.pubkey();
    let mut spec = ThreadSpec::new("pays-its-keeper", Trigger::Now, record).for_owner(&owner);
    spec.instructions[0].accounts.push(ThreadAccountMeta {
        pubkey: executor.pubkey(),
        is_signer: false,
        is_writable: true,
    });
    let (thread, outcome) = fx.create_thread(spec).await;
    outcome.assert_ok();
    let state = fx.thread(thread).await;
    let ix = client::exec_thread(&executor.pubkey(), &thread, &state);
    let named = ix
        .accounts
        .iter()
        .filter(|m| m.pubkey == executor.pubkey())
        .count();
    assert_eq!(named, 1, "the executor is passed once");
    let before = fx.balance(executor.pubkey()).await;
    let tx_fee = fx
        .fee_for(std::slice::from_ref(&ix), &executor.pubkey())
        .await;
    fx.process(&[ix], &[&executor]).await.assert_ok();
    assert_eq!(record_of(&mut fx, record).await.1, 1);
    assert_eq!(fx.thread(thread).await.exec_count, 1);
    assert_eq!(
        fx.balance(executor.pubkey()).await,
        before - tx_fee + state.fee_per_exec
    );
}
