//! `keeper explain`, every verdict, against the in-process bank: threads made and moved
//! by real transactions (and, for a nonce account or a watched account an operator
//! removed, by setting the account), and the keeper's side from a real store holding
//! the execution the keeper would have built.

use solana_sdk::account::Account;
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::Signer;
use solana_sdk::transaction::{Transaction, VersionedTransaction};
use solana_system_interface::instruction as system_instruction;

use keeper::chain::Chain;
use keeper::ops::explain::{explain, Verdict, Waiting};
use keeper::sandbox::memo_signed_by;
use keeper::store::{ExecutionPriority, NewExecution, Store};
use keeper::test_utils::bank::{data_account, BankChainExt, TestBank};
use keeper::test_utils::thread::u64_condition;
use thread::client;
use thread::condition::pyth::{PriceUpdate, RECEIVER_PROGRAM_ID};
use thread::instructions::CreateThreadArgs;
use thread::state::{Comparison, RateLimit, ThreadInstruction, Trigger, ValueSource};

/// The verdict on `thread`, with the explanation's text, for an owner (no store).
async fn judged(bank: &TestBank, thread: &Pubkey) -> (Verdict, String) {
    judged_with(bank, thread, None, None).await
}

async fn judged_with(
    bank: &TestBank,
    thread: &Pubkey,
    store: Option<&Store>,
    me: Option<Pubkey>,
) -> (Verdict, String) {
    let (verdict, explanation) = explain(bank.chain.as_ref(), &thread::ID, thread, store, me)
        .await
        .expect("explained");
    assert_eq!(explanation.verdict.kind, verdict.kind());
    let text = explanation.to_text();
    assert!(
        text.trim_end()
            .ends_with(&format!("verdict       {verdict}")),
        "the text ends with the verdict: {text}"
    );
    (verdict, text)
}

/// `create_thread` arguments for `id` whose stored instruction can run: a memo the
/// thread signs.
fn runnable(bank: &TestBank, id: &str, trigger: Trigger) -> CreateThreadArgs {
    let (thread, mut args) = bank.thread_args(id, trigger);
    args.instructions = vec![ThreadInstruction::from(memo_signed_by(&thread, id))];
    args
}

/// Runs `thread` once as the bank's keeper (not durable), at its due time.
async fn execute(bank: &TestBank, thread: &Pubkey) {
    bank.chain.make_due(thread).await;
    let state = bank.chain.thread_state(thread).await;
    let ix = client::exec_thread(&bank.keeper(), thread, &state);
    bank.process(&[ix], &[&bank.keeper]).await;
}

#[tokio::test]
async fn a_due_thread_runs_on_the_next_tick_and_its_runway_is_its_deposit_over_its_fee() {
    let bank = TestBank::start().await;
    let thread = bank.create_thread("now", Trigger::Now).await;
    let (verdict, text) = judged(&bank, &thread).await;
    assert_eq!(verdict, Verdict::DueNow { durable: false });
    assert_eq!(verdict.to_string(), "due now, will run on the next tick");
    // 1 000 000 lamports deposited, 1 000 a run.
    assert!(text.contains("runway        1000 executions\n"), "{text}");

    let durable = bank
        .create_durable_thread_with(bank.thread_args("durable", Trigger::Now).1, 100)
        .await;
    let (verdict, text) = judged(&bank, &durable.thread).await;
    assert_eq!(verdict, Verdict::DueNow { durable: true });
    assert!(
        text.contains(&format!("(authority {}", durable.thread)),
        "the nonce's authority is the thread: {text}"
    );
}

#[tokio::test]
async fn a_thread_waiting_for_its_time_slot_epoch_or_change_says_until_when() {
    let bank = TestBank::start().await;
    let clock = bank.chain.clock().await.unwrap();
    let at = clock.unix_timestamp + 180;
    let cases = [
        ("time", Trigger::Timestamp { unix_ts: at }),
        (
            "slot",
            Trigger::Slot {
                slot: clock.slot + 1_000,
            },
        ),
        (
            "epoch",
            Trigger::Epoch {
                epoch: clock.epoch + 5,
            },
        ),
    ];
    for (id, trigger) in cases {
        let thread = bank.create_thread(id, trigger).await;
        let (verdict, _) = judged(&bank, &thread).await;
        let Verdict::NotDue(waiting) = &verdict else {
            panic!("{id}: {verdict:?}");
        };
        match (id, waiting) {
            ("time", Waiting::Time { unix_ts, .. }) => {
                assert_eq!(*unix_ts, at);
                assert!(verdict.to_string().ends_with("(in 3 min)"), "{verdict}");
            }
            ("slot", Waiting::Slot { slot, .. }) => assert_eq!(*slot, clock.slot + 1_000),
            ("epoch", Waiting::Epoch { epoch, .. }) => assert_eq!(*epoch, clock.epoch + 5),
            _ => panic!("{id}: {waiting:?}"),
        }
    }

    // A nonce account's value is what an `Account` trigger watches here.
    let watched = bank.create_nonce(&bank.owner.pubkey()).await;
    let trigger = Trigger::Account {
        address: watched,
        offset: 40,
        size: 32,
    };
    let thread = bank.create_thread("change", trigger).await;
    let (verdict, _) = judged(&bank, &thread).await;
    assert_eq!(
        verdict.to_string(),
        format!("waiting for bytes 40..72 of {watched} to change")
    );

    // The watched account removed: no execution can pass it.
    bank.chain.set_account(&watched, Account::default()).await;
    let (verdict, _) = judged(&bank, &thread).await;
    assert_eq!(verdict, Verdict::WatchedAccountMissing { address: watched });
}

#[tokio::test]
async fn a_condition_says_its_value_and_what_it_waits_for_or_why_it_cannot_run() {
    let bank = TestBank::start().await;
    let value = Pubkey::new_unique();
    let set = |amount: u64| data_account(amount.to_le_bytes().to_vec(), Pubkey::new_unique());
    bank.chain.set_account(&value, set(50)).await;
    let trigger = u64_condition(value, 0, Comparison::CrossesAbove, 100);
    let thread = bank
        .create_thread_with(runnable(&bank, "cross", trigger))
        .await;
    let (verdict, text) = judged(&bank, &thread).await;
    assert_eq!(
        verdict.to_string(),
        format!("waiting on {value}: the value is 50, waiting for crossing above 100")
    );
    assert!(
        text.contains(&format!(
            "when the u64 at byte 0 crosses above 100 (account {value})"
        )),
        "{text}"
    );

    bank.chain.set_account(&value, set(100)).await;
    assert_eq!(
        judged(&bank, &thread).await.0,
        Verdict::DueNow { durable: false }
    );
    execute(&bank, &thread).await;
    bank.chain.warp_slots(1).await;
    let (verdict, _) = judged(&bank, &thread).await;
    assert!(
        verdict
            .to_string()
            .ends_with("waiting for back below 100 (to re-arm), then crossing above it"),
        "{verdict}"
    );
    bank.chain.set_account(&value, set(99)).await;
    let (verdict, _) = judged(&bank, &thread).await;
    assert_eq!(verdict, Verdict::DueToArm { durable: false });
    assert_eq!(verdict.kind(), "due_to_arm");

    bank.chain
        .set_account(&value, data_account(vec![1, 2], Pubkey::new_unique()))
        .await;
    let (verdict, _) = judged(&bank, &thread).await;
    assert!(
        verdict.to_string().contains(
            "cannot run: its value cannot be read (the value needs 8 bytes of data and the account has 2)"
        ),
        "{verdict}"
    );
    bank.chain.set_account(&value, Account::default()).await;
    assert_eq!(
        judged(&bank, &thread).await.0,
        Verdict::WatchedAccountMissing { address: value }
    );

    // A price: its age is judged against the cluster's clock.
    let price = Pubkey::new_unique();
    let now = bank.chain.clock().await.unwrap().unix_timestamp;
    let update = |publish_time| PriceUpdate {
        feed_id: [3; 32],
        price: 12_345,
        exponent: -2,
        publish_time,
        fully_verified: true,
    };
    let place =
        |publish_time| data_account(update(publish_time).encode(&price, 1), RECEIVER_PROGRAM_ID);
    bank.chain.set_account(&price, place(now)).await;
    let trigger = Trigger::Condition {
        address: price,
        source: ValueSource::PythPrice {
            feed_id: [3; 32],
            exponent: 0,
            max_age_secs: 10,
        },
        comparison: Comparison::AtLeast,
        threshold: 200,
    };
    let thread = bank.create_thread("price", trigger).await;
    let (verdict, _) = judged(&bank, &thread).await;
    assert!(
        verdict
            .to_string()
            .ends_with("the value is 123.45, waiting for at least 200"),
        "{verdict}"
    );
    bank.chain.set_account(&price, place(now - 11)).await;
    let (verdict, _) = judged(&bank, &thread).await;
    assert!(
        verdict
            .to_string()
            .contains("waiting for a fresh price: the price was published at"),
        "{verdict}"
    );
}

#[tokio::test]
async fn a_paused_thread_and_a_finished_one_say_so_before_their_schedule() {
    let bank = TestBank::start().await;
    let paused = bank.create_thread("paused", Trigger::Now).await;
    bank.pause_thread(paused).await;
    assert_eq!(judged(&bank, &paused).await.0, Verdict::Paused);

    let once = bank
        .create_thread_with(runnable(&bank, "once", Trigger::Now))
        .await;
    execute(&bank, &once).await;
    let (verdict, text) = judged(&bank, &once).await;
    assert_eq!(verdict, Verdict::Finished);
    assert!(text.contains("next due      never (finished)"), "{text}");
}

#[tokio::test]
async fn a_thread_that_cannot_pay_its_fee_says_how_much_to_deposit() {
    let bank = TestBank::start().await;
    let mut args = runnable(
        &bank,
        "poor",
        Trigger::Interval {
            seconds: 1,
            skippable: true,
        },
    );
    args.deposit = args.fee_per_exec;
    let thread = bank.create_thread_with(args).await;
    execute(&bank, &thread).await;
    bank.chain.make_due(&thread).await;
    let (verdict, _) = judged(&bank, &thread).await;
    assert_eq!(verdict, Verdict::CannotPayFee { short_by: 1_000 });
    assert_eq!(
        verdict.to_string(),
        "cannot pay its fee: deposit 0.000001 SOL more"
    );
}

#[tokio::test]
async fn a_full_rate_limit_window_says_from_which_slot_it_runs_again() {
    let bank = TestBank::start().await;
    let mut args = runnable(
        &bank,
        "limited",
        Trigger::Interval {
            seconds: 1,
            skippable: true,
        },
    );
    args.rate_limit = RateLimit {
        max_execs: 1,
        window_slots: 1_000,
    };
    let thread = bank.create_thread_with(args).await;
    execute(&bank, &thread).await;
    bank.chain.make_due(&thread).await;
    let state = bank.chain.thread_state(&thread).await;
    assert_eq!(
        judged(&bank, &thread).await.0,
        Verdict::RateLimited {
            until_slot: state.window_start_slot + 1_000
        }
    );
}

/// A durable thread whose lease the bank's keeper claimed.
async fn leased(bank: &TestBank, id: &str) -> (Pubkey, Pubkey) {
    let durable = bank
        .create_durable_thread_with(bank.thread_args(id, Trigger::Now).1, 100)
        .await;
    let bond = bank.chain.balance(&durable.nonce).await;
    let claim = client::claim_lease(&bank.keeper(), &durable.thread, &durable.nonce, 100, bond);
    bank.process(&[claim], &[&bank.keeper]).await;
    (durable.thread, durable.nonce)
}

#[tokio::test]
async fn a_lease_held_by_another_keeper_blocks_this_one_but_not_the_holder() {
    let bank = TestBank::start().await;
    let (thread, _) = leased(&bank, "leased").await;
    let someone_else = Pubkey::new_unique();
    let (verdict, text) = judged_with(&bank, &thread, None, Some(someone_else)).await;
    let Verdict::LeasedByOther { holder, .. } = verdict else {
        panic!("{verdict:?}");
    };
    assert_eq!(holder, bank.keeper());
    assert!(text.contains("(live, bond"), "{text}");
    let (verdict, _) = judged_with(&bank, &thread, None, Some(bank.keeper())).await;
    assert_eq!(verdict, Verdict::DueNow { durable: true });
}

#[tokio::test]
async fn a_nonce_no_keeper_can_advance_is_named_with_its_problem() {
    let bank = TestBank::start().await;
    // The holder hands the nonce authority to a stranger behind the program's back.
    let (thread, nonce) = leased(&bank, "moved").await;
    let stranger = Pubkey::new_unique();
    let moved = system_instruction::authorize_nonce_account(&nonce, &bank.keeper(), &stranger);
    bank.process(&[moved], &[&bank.keeper]).await;
    let (verdict, _) = judged(&bank, &thread).await;
    assert_eq!(
        verdict,
        Verdict::NonceUnusable {
            nonce,
            problem: format!("has authority {stranger}, not {}", bank.keeper()),
        }
    );

    // The nonce account gone, or holding something else.
    for (account, problem) in [
        (Account::default(), "does not exist"),
        (
            Account::new(1_000_000, 80, &solana_sdk_ids::system_program::ID),
            "holds no initialized nonce",
        ),
    ] {
        bank.chain.set_account(&nonce, account).await;
        let (verdict, _) = judged(&bank, &thread).await;
        assert_eq!(
            verdict,
            Verdict::NonceUnusable {
                nonce,
                problem: problem.into()
            }
        );
    }
}

/// The keeper's row for `thread`'s next due time: the execution it would send, signed,
/// persisted in `store` as the executor does before sending.
async fn persisted(bank: &TestBank, store: &Store, thread: &Pubkey, max_retries: u32) -> i64 {
    let state = bank.chain.thread_state(thread).await;
    let ix = client::exec_thread(&bank.keeper(), thread, &state);
    let blockhash = bank.chain.latest_blockhash().await.unwrap();
    let tx: VersionedTransaction = Transaction::new_signed_with_payer(
        &[ix],
        Some(&bank.keeper()),
        &[&*bank.keeper],
        blockhash,
    )
    .into();
    let new = NewExecution::from_transaction(
        *thread,
        state.exec_count,
        &tx,
        None,
        ExecutionPriority::Medium,
        max_retries,
    )
    .unwrap();
    store.persist(new).unwrap()
}

#[tokio::test]
async fn with_the_store_the_keepers_side_says_in_flight_replaying_or_dead_lettered() {
    let bank = TestBank::start().await;
    let store = Store::open_in_memory().unwrap();
    let me = Some(bank.keeper());

    let sent = bank.create_thread("sent", Trigger::Now).await;
    let id = persisted(&bank, &store, &sent, 3).await;
    assert!(matches!(
        judged_with(&bank, &sent, Some(&store), me).await.0,
        Verdict::InFlight { .. }
    ));
    store.mark_sent(id, store.now()).unwrap();
    let (verdict, text) = judged_with(&bank, &sent, Some(&store), me).await;
    let row = store.get(id).unwrap().unwrap();
    assert_eq!(
        verdict,
        Verdict::InFlight {
            signature: row.signature
        }
    );
    assert!(
        text.contains("keeper        run #1 sent (attempt 1"),
        "{text}"
    );

    let failing = bank.create_thread("failing", Trigger::Now).await;
    let id = persisted(&bank, &store, &failing, 3).await;
    let at = store.now() + 30;
    store
        .schedule_retry(id, at, "simulation failed: InsufficientBalance")
        .unwrap();
    let (verdict, _) = judged_with(&bank, &failing, Some(&store), me).await;
    assert_eq!(
        verdict,
        Verdict::ReplayPending {
            at,
            attempt: 1,
            attempts: 4,
            last_error: Some("simulation failed: InsufficientBalance".into()),
        }
    );

    let dead = bank.create_thread("dead", Trigger::Now).await;
    let id = persisted(&bank, &store, &dead, 0).await;
    store
        .schedule_retry(id, store.now(), "refused: ThreadPaused")
        .unwrap();
    let letter = store.dlq_list(10).unwrap().remove(0);
    let (verdict, text) = judged_with(&bank, &dead, Some(&store), me).await;
    assert_eq!(
        verdict.to_string(),
        format!(
            "dead-lettered: refused: ThreadPaused; keeper dlq retry {}",
            letter.id
        )
    );
    assert!(text.contains("dead letter   #"), "{text}");

    // The owner's view of the same thread knows nothing of the keeper.
    assert_eq!(
        judged(&bank, &dead).await.0,
        Verdict::DueNow { durable: false }
    );
}

#[tokio::test]
async fn an_address_that_holds_no_thread_is_an_error_naming_it() {
    let bank = TestBank::start().await;
    let nothing = Pubkey::new_unique();
    let err = explain(bank.chain.as_ref(), &thread::ID, &nothing, None, None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains(&nothing.to_string()), "{err}");
    let owner = bank.owner.pubkey();
    let err = explain(bank.chain.as_ref(), &thread::ID, &owner, None, None)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("is not a thread of program"),
        "{err}"
    );
}
