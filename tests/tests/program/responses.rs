//! Thread responses in the bank: a stored instruction's program answers through return
//! data (the `responder` example program), and the thread follows: a counter that
//! reschedules itself, a DCA that stretches its own interval, new instructions, pause, a
//! chain bounded by the rate limit, and close (plain and durable). Answers that are not
//! the stored program's are ignored; malicious ones are refused by name with nothing
//! moved.

use anchor_lang::prelude::Pubkey;
use solana_sdk::account::Account;
use solana_sdk::instruction::Instruction;
use solana_sdk::signature::Signer;
use solana_system_interface::instruction as system_instruction;
use thread::client;
use thread::errors::ThreadError;
use thread::events::{ThreadClosed, ThreadResponded};
use thread::state::{
    Due, RateLimit, Thread, ThreadAction, ThreadInstruction, ThreadResponse, Trigger,
};
use thread_tests::recorder;

use crate::common::{genesis, Env};
use crate::durable::LEASE_SLOTS;

/// A bank with a responder counter account, and its address.
async fn env_with_counter() -> (Env, Pubkey) {
    let (env, [counter, _]) = env_with_counters().await;
    (env, counter)
}

/// A bank with two responder counter accounts.
async fn env_with_counters() -> (Env, [Pubkey; 2]) {
    let mut g = genesis();
    let counters = [Pubkey::new_unique(), Pubkey::new_unique()];
    for counter in counters {
        g.pt.add_account(counter, responder_account(vec![0; responder::Counter::LEN]));
    }
    (g.start().await, counters)
}

fn responder_account(data: Vec<u8>) -> Account {
    Account {
        lamports: 1_000_000_000,
        data,
        owner: responder::ID,
        executable: false,
        rent_epoch: 0,
    }
}

/// The stored instruction that answers `action`, verbatim.
fn answering(action: ThreadAction) -> Instruction {
    responder::echo(&responder::ID, &ThreadResponse::new(action).encode())
}

impl Env {
    /// Creates a thread of the owner's running `ixs` on `trigger`; creation must succeed.
    async fn thread_running(
        &mut self,
        id: &str,
        trigger: Trigger,
        ixs: Vec<Instruction>,
    ) -> Pubkey {
        let spec = self.thread_spec(id, trigger, ixs);
        let (thread, outcome) = self.fx.create_thread(spec).await;
        outcome.assert_ok();
        thread
    }

    fn thread_spec(
        &self,
        id: &str,
        trigger: Trigger,
        ixs: Vec<Instruction>,
    ) -> thread_tests::ThreadSpec {
        let mut spec = self.spec(id, trigger);
        spec.instructions = ixs.into_iter().map(ThreadInstruction::from).collect();
        spec
    }

    async fn runs(&mut self, counter: Pubkey) -> u64 {
        let account = self.fx.account(counter).await.expect("counter");
        responder::Counter::read(&account.data)
            .expect("counter data")
            .runs
    }

    async fn now(&mut self) -> i64 {
        self.fx.clock().await.unix_timestamp
    }

    /// A new account holding `answer` for `responder::echo_account`, placed in the
    /// running bank (an answer naming the thread depends on the owner's key).
    fn answer_account(&mut self, answer: &[u8]) -> Pubkey {
        let account = Pubkey::new_unique();
        let data = responder_account(responder::answer_account_data(answer));
        self.fx.ctx.set_account(&account, &data.into());
        account
    }

    /// A slot later (the default rate limit allows one execution a slot), at the thread's
    /// next due time if that is still to come.
    async fn next_run(&mut self, thread: Pubkey) {
        self.fx.warp_slots(1).await;
        self.fx.make_due(thread).await;
    }

    /// The events of type `E` the keeper's execution of `thread` would emit.
    async fn exec_events<E: anchor_lang::AnchorDeserialize + anchor_lang::Discriminator>(
        &mut self,
        thread: Pubkey,
    ) -> Vec<E> {
        let state = self.fx.thread(thread).await;
        let keeper = self.keeper.insecure_clone();
        let ix = client::exec_thread(&keeper.pubkey(), &thread, &state);
        self.fx.simulate_events::<E>(&[ix], &[&keeper]).await
    }
}

#[tokio::test]
async fn a_counter_reschedules_itself_after_every_run() {
    let (mut env, counter) = env_with_counter().await;
    let thread = env
        .thread_running(
            "ticker",
            Trigger::Now,
            vec![responder::reschedule(&counter, 30)],
        )
        .await;

    let answered = env.exec_events::<ThreadResponded>(thread).await;
    assert_eq!(answered.len(), 1);
    assert_eq!(answered[0].program_id, responder::ID);
    assert!(matches!(
        answered[0].action,
        ThreadAction::Trigger(Trigger::Timestamp { .. })
    ));

    for run in 1..=3 {
        let now = env.now().await;
        env.fx.exec(thread).await.assert_ok();
        assert_eq!(env.runs(counter).await, run);
        let state = env.fx.thread(thread).await;
        assert_eq!(state.trigger, Trigger::Timestamp { unix_ts: now + 30 });
        assert_eq!(state.next_due, Due::At { unix_ts: now + 30 });
        env.fx.warp_slots(1).await;
        env.fx
            .exec(thread)
            .await
            .assert_error(ThreadError::ThreadNotDue);
        env.next_run(thread).await;
    }
}

#[tokio::test]
async fn a_dca_doubles_its_own_interval_up_to_its_cap() {
    let (mut env, counter) = env_with_counter().await;
    let every_minute = Trigger::Interval {
        seconds: 60,
        skippable: true,
    };
    let thread = env
        .thread_running("dca", every_minute, vec![responder::dca(&counter, 60, 200)])
        .await;
    for expected in [60, 120, 200, 200] {
        env.next_run(thread).await;
        let now = env.now().await;
        env.fx.exec(thread).await.assert_ok();
        let state = env.fx.thread(thread).await;
        assert_eq!(
            state.trigger,
            Trigger::Interval {
                seconds: expected,
                skippable: true
            }
        );
        assert_eq!(
            state.next_due,
            Due::At {
                unix_ts: now + expected
            }
        );
    }
    assert_eq!(env.runs(counter).await, 4);
}

/// The thread `owner` keeps at `id`, and recorder calls it signs, adding `amount`.
fn recorder_calls(
    owner: &Pubkey,
    id: &[u8],
    record: Pubkey,
    amount: u64,
    count: usize,
) -> Vec<ThreadInstruction> {
    let (thread, _) = Thread::address(owner, id);
    vec![ThreadInstruction::from(recorder::record_ix(thread, record, amount)); count]
}

#[tokio::test]
async fn new_instructions_run_from_the_next_execution_and_the_thread_pays_their_rent() {
    // The answer is kept in an account, so it can be larger than the stored instruction.
    let (mut env, _) = env_with_counter().await;
    let record = env.record;
    let calls = recorder_calls(&env.owner.pubkey(), b"swap", record, 5, 4);
    let answer = ThreadResponse::new(ThreadAction::Instructions(calls.clone())).encode();
    let answer_account = env.answer_account(&answer);
    let mut spec = env.thread_spec(
        "swap",
        Trigger::Interval {
            seconds: 60,
            skippable: true,
        },
        vec![responder::echo_account(&answer_account)],
    );
    spec.deposit = 10_000_000;
    let (thread, outcome) = env.fx.create_thread(spec).await;
    outcome.assert_ok();
    env.next_run(thread).await;
    let before = env.fx.balance(thread).await;
    let old_size = env.fx.account(thread).await.unwrap().data.len();
    env.fx.exec(thread).await.assert_ok();

    let state = env.fx.thread(thread).await;
    assert_eq!(state.instructions, calls);
    let new_size = env.fx.account(thread).await.unwrap().data.len();
    assert_eq!(new_size, state.space());
    assert!(new_size > old_size);
    // The account grew within its own balance: only the fee left it, and the larger
    // rent is held back from what the owner may withdraw.
    let after = env.fx.balance(thread).await;
    assert_eq!(before - after, state.fee_per_exec);
    assert!(after >= env.fx.rent_for(new_size).await);
    assert_eq!(env.record_of(record).await.1, 0, "nothing recorded yet");

    env.next_run(thread).await;
    env.fx.exec(thread).await.assert_ok();
    assert_eq!(
        env.record_of(record).await,
        (thread, 4, 20),
        "the new instructions ran"
    );
}

#[tokio::test]
async fn new_instructions_the_thread_cannot_afford_are_refused_with_nothing_moved() {
    let (mut env, _) = env_with_counter().await;
    let mut calls = recorder_calls(&env.owner.pubkey(), b"poor", env.record, 5, 1);
    calls[0].data = vec![1; 900];
    let answer = ThreadResponse::new(ThreadAction::Instructions(calls)).encode();
    let answer_account = env.answer_account(&answer);
    let mut spec = env.thread_spec(
        "poor",
        Trigger::Now,
        vec![responder::echo_account(&answer_account)],
    );
    // Enough for the fee and a little more, not for 900 more bytes of rent.
    spec.deposit = spec.fee_per_exec + 1_000;
    let (thread, outcome) = env.fx.create_thread(spec).await;
    outcome.assert_ok();
    let before = env.snapshot(thread).await;
    env.fx
        .exec(thread)
        .await
        .assert_error(ThreadError::InsufficientBalance);
    env.assert_unchanged(&before).await;
}

#[tokio::test]
async fn a_pause_answer_pauses_after_the_run_and_the_owner_resumes() {
    let (mut env, _) = env_with_counter().await;
    let thread = env
        .thread_running(
            "pauser",
            Trigger::Interval {
                seconds: 60,
                skippable: true,
            },
            vec![answering(ThreadAction::Pause)],
        )
        .await;
    env.next_run(thread).await;
    env.fx.exec(thread).await.assert_ok();
    let state = env.fx.thread(thread).await;
    assert!(state.paused);
    assert_eq!(state.exec_count, 1);
    env.next_run(thread).await;
    env.fx
        .exec(thread)
        .await
        .assert_error(ThreadError::ThreadPaused);

    let owner = env.owner.insecure_clone();
    let resume = client::resume_thread(&owner.pubkey(), &thread);
    env.fx.process(&[resume], &[&owner]).await.assert_ok();
    env.fx.exec(thread).await.assert_ok();
}

#[tokio::test]
async fn a_chain_of_ten_runs_is_bounded_by_the_rate_limit_and_resumes_the_schedule() {
    let (mut env, counter) = env_with_counter().await;
    let hourly = Trigger::Interval {
        seconds: 3_600,
        skippable: false,
    };
    let mut spec = env.thread_spec("batches", hourly, vec![responder::chain(&counter, 10)]);
    spec.rate_limit = RateLimit {
        max_execs: 4,
        window_slots: 20,
    };
    let (thread, outcome) = env.fx.create_thread(spec).await;
    outcome.assert_ok();
    env.fx.make_due(thread).await;
    let Due::At { unix_ts: first_due } = env.fx.thread(thread).await.next_due else {
        panic!("an interval thread is due at a time");
    };

    let mut refused = 0;
    while env.runs(counter).await < 10 {
        let outcome = env.fx.exec(thread).await;
        if outcome.custom_code() == Some(u32::from(ThreadError::RateLimited)) {
            refused += 1;
            env.fx.warp_slots(20).await;
            continue;
        }
        outcome.assert_ok();
        let state = env.fx.thread(thread).await;
        assert!(state.execs_in_window <= 4);
    }
    assert_eq!(refused, 2, "ten runs at four per window wait twice");
    let state = env.fx.thread(thread).await;
    assert_eq!(state.exec_count, 10);
    assert_eq!(
        state.next_due,
        Due::At {
            unix_ts: first_due + 3_600
        },
        "the chain took no due time of the schedule"
    );
    env.fx
        .exec(thread)
        .await
        .assert_error(ThreadError::ThreadNotDue);
}

#[tokio::test]
async fn a_close_answer_pays_every_lamport_to_the_owner() {
    let (mut env, _) = env_with_counter().await;
    let thread = env
        .thread_running("closer", Trigger::Now, vec![answering(ThreadAction::Close)])
        .await;
    let closed = env.exec_events::<ThreadClosed>(thread).await;
    assert_eq!(closed.len(), 1);
    let owner_before = env.fx.balance(env.owner.pubkey()).await;
    let thread_lamports = env.fx.balance(thread).await;
    let fee = env.fx.thread(thread).await.fee_per_exec;
    env.fx.exec(thread).await.assert_ok();

    assert!(env.fx.account(thread).await.is_none(), "thread closed");
    assert_eq!(
        env.fx.balance(env.owner.pubkey()).await,
        owner_before + thread_lamports - fee
    );
    assert_eq!(closed[0].lamports, thread_lamports - fee);
    assert_eq!(
        (closed[0].bond_to_holder, closed[0].nonce_account),
        (0, None)
    );
}

#[tokio::test]
async fn a_close_without_the_owner_account_is_refused_by_name() {
    let (mut env, _) = env_with_counter().await;
    let thread = env
        .thread_running("closer", Trigger::Now, vec![answering(ThreadAction::Close)])
        .await;
    let before = env.snapshot(thread).await;
    let keeper = env.keeper.insecure_clone();
    let state = env.fx.thread(thread).await;
    let mut ix = client::exec_thread(&keeper.pubkey(), &thread, &state);
    for meta in &mut ix.accounts {
        if meta.pubkey == env.owner.pubkey() {
            meta.is_writable = false;
        }
    }
    let outcome = env.fx.process(&[ix], &[&keeper]).await;
    outcome.assert_error(ThreadError::MissingCloseAccount);
    env.assert_unchanged(&before).await;
}

#[tokio::test]
async fn only_the_stored_programs_own_tagged_answer_counts() {
    let (mut env, counter) = env_with_counter().await;
    let close = ThreadResponse::new(ThreadAction::Close).encode();
    // A program the stored one calls answers `Close`: not the stored program's answer.
    let nested = responder::relay(
        &responder::ID,
        &responder::OTHER_ID,
        &[&[responder::Op::Echo as u8], close.as_slice()].concat(),
    );
    // Untagged return data is an ordinary return value.
    let plain = responder::echo(&responder::ID, b"42");
    // An answer, then an instruction of the same program that answers nothing: the
    // first answer is not read twice.
    let pause = answering(ThreadAction::Pause);
    let silent = responder::chain(&counter, 1);
    let thread = env
        .thread_running("ignored", Trigger::Now, vec![nested, plain, pause, silent])
        .await;

    let answered = env.exec_events::<ThreadResponded>(thread).await;
    assert_eq!(answered.len(), 1);
    assert_eq!(answered[0].action, ThreadAction::Pause);
    env.fx.exec(thread).await.assert_ok();
    let state = env.fx.thread(thread).await;
    assert_eq!((state.exec_count, state.paused), (1, true));
}

/// Each malicious answer: the error it must be refused with.
fn malicious_answers(thread: Pubkey, record: Pubkey) -> Vec<(&'static str, Vec<u8>, ThreadError)> {
    let encode = |action| ThreadResponse::new(action).encode();
    let mut foreign = ThreadInstruction::from(recorder::record_ix(thread, record, 1));
    foreign.accounts.push(thread::state::ThreadAccountMeta {
        pubkey: Pubkey::new_unique(),
        is_signer: true,
        is_writable: true,
    });
    let mut self_target = ThreadInstruction::from(recorder::record_ix(thread, record, 1));
    self_target.program_id = thread::ID;
    let tiny = ThreadInstruction::from(Instruction::new_with_bytes(recorder::ID, &[], vec![]));
    let mut truncated = encode(ThreadAction::Pause);
    truncated.truncate(ThreadResponse::TAG.len() + 1);
    let mut newer = encode(ThreadAction::Pause);
    newer[ThreadResponse::TAG.len()] = ThreadResponse::VERSION + 1;
    vec![
        (
            "foreign signer",
            encode(ThreadAction::Instructions(vec![foreign])),
            ThreadError::ForeignSigner,
        ),
        (
            "the thread program as target",
            encode(ThreadAction::Instructions(vec![self_target])),
            ThreadError::SelfInvocationNotAllowed,
        ),
        (
            "too many instructions",
            encode(ThreadAction::Instructions(vec![tiny; 9])),
            ThreadError::TooManyInstructions,
        ),
        (
            "no instructions",
            encode(ThreadAction::Instructions(vec![])),
            ThreadError::NoInstructions,
        ),
        (
            "a trigger watching the thread itself",
            encode(ThreadAction::Trigger(Trigger::Account {
                address: thread,
                offset: 0,
                size: 8,
            })),
            ThreadError::InvalidAccountTrigger,
        ),
        (
            "an interval of zero",
            encode(ThreadAction::Trigger(Trigger::Interval {
                seconds: 0,
                skippable: true,
            })),
            ThreadError::InvalidInterval,
        ),
        (
            "a truncated answer",
            truncated,
            ThreadError::InvalidThreadResponse,
        ),
        (
            "a newer version",
            newer,
            ThreadError::UnsupportedResponseVersion,
        ),
    ]
}

#[tokio::test]
async fn malicious_answers_are_refused_by_name_and_nothing_moves() {
    let (mut env, _) = env_with_counter().await;
    let owner = env.owner.pubkey();
    let kinds = malicious_answers(Pubkey::default(), env.record).len();
    for index in 0..kinds {
        let id = format!("evil-{index}");
        let (thread, _) = Thread::address(&owner, id.as_bytes());
        let (what, answer, error) = malicious_answers(thread, env.record).swap_remove(index);
        let ix = responder::echo(&responder::ID, &answer);
        let thread = env.thread_running(&id, Trigger::Now, vec![ix]).await;
        let before = env.snapshot(thread).await;
        let outcome = env.fx.exec(thread).await;
        assert_eq!(
            outcome.custom_code(),
            Some(u32::from(error)),
            "{what}: {:?}",
            outcome.logs
        );
        env.assert_unchanged(&before).await;
    }
}

// ---------------------------------------------------------------------------------------
// Durable threads
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn a_durable_thread_follows_its_answers_and_closes_to_owner_and_holder() {
    let (mut env, [counter, batches]) = env_with_counters().await;
    let spec = env.thread_spec(
        "durable-ticker",
        Trigger::Now,
        vec![
            responder::reschedule(&counter, 30),
            responder::chain(&batches, 2),
        ],
    );
    let d = env.durable_with(spec).await;
    let l = env.claim(d, LEASE_SLOTS).await;

    // Run 1: rescheduled 30 s out, and chained (two runs per batch): due at once.
    let tx = env.durable_exec_tx(l.thread).await;
    env.send_tx(tx).await.0.assert_ok();
    let state = env.fx.thread(l.thread).await;
    assert!(matches!(state.trigger, Trigger::Timestamp { .. }));
    assert_eq!(state.next_due, Due::Immediately);
    assert_eq!(env.runs(counter).await, 1);

    // Run 2 (the chained one): the counter reaches a multiple of 2, no chain: the new
    // timestamp, which the reschedule answer moved again.
    env.fx.warp_slots(1).await;
    let tx = env.durable_exec_tx(l.thread).await;
    env.send_tx(tx).await.0.assert_ok();
    let state = env.fx.thread(l.thread).await;
    assert!(matches!(state.next_due, Due::At { .. }));
    assert_eq!(state.exec_count, 2);

    // Now the thread answers Close.
    let owner = env.owner.insecure_clone();
    let close = client::update_thread(
        &owner.pubkey(),
        &l.thread,
        thread::instructions::UpdateThreadArgs {
            instructions: Some(vec![ThreadInstruction::from(answering(
                ThreadAction::Close,
            ))]),
            trigger: Some(Trigger::Now),
            ..Default::default()
        },
    );
    env.fx.process(&[close], &[&owner]).await.assert_ok();
    env.fx.warp_slots(1).await;
    let owner_before = env.fx.balance(owner.pubkey()).await;
    let keeper_before = env.fx.balance(env.keeper.pubkey()).await;
    let thread_lamports = env.fx.balance(l.thread).await;
    let fee = env.fx.thread(l.thread).await.fee_per_exec;
    let tx = env.durable_exec_tx(l.thread).await;
    let (outcome, tx_fee) = env.send_tx(tx).await;
    outcome.assert_ok();

    assert!(env.fx.account(l.thread).await.is_none(), "thread closed");
    assert_eq!(
        env.fx.balance(env.keeper.pubkey()).await,
        keeper_before - tx_fee + fee + l.bond,
        "the holder is paid the fee and its bond back"
    );
    assert_eq!(
        env.fx.balance(owner.pubkey()).await,
        owner_before + thread_lamports - fee - l.bond
    );
    let nonce = env.fx.nonce(l.nonce).await.expect("nonce account kept");
    assert_eq!(
        nonce.authority,
        owner.pubkey(),
        "the nonce is the owner's now"
    );

    // The owner can take the nonce account's lamports.
    let nonce_lamports = env.fx.balance(l.nonce).await;
    env.fx.warp_slots(1).await;
    let withdraw = system_instruction::withdraw_nonce_account(
        &l.nonce,
        &owner.pubkey(),
        &owner.pubkey(),
        nonce_lamports,
    );
    env.fx.process(&[withdraw], &[&owner]).await.assert_ok();
    assert!(env.fx.account(l.nonce).await.is_none());
}

#[tokio::test]
async fn a_durable_close_without_its_nonce_account_is_refused_by_name() {
    let (mut env, _) = env_with_counter().await;
    let spec = env.thread_spec(
        "durable-closer",
        Trigger::Now,
        vec![answering(ThreadAction::Close)],
    );
    let d = env.durable_with(spec).await;
    let l = env.claim(d, LEASE_SLOTS).await;
    let keeper = env.keeper.insecure_clone();
    let state = env.fx.thread(l.thread).await;
    let [_advance, mut exec] =
        client::durable_exec_thread(&keeper.pubkey(), &l.thread, &state).expect("durable");
    exec.accounts
        .retain(|meta| meta.pubkey != anchor_lang::system_program::ID);
    let tx = env
        .fx
        .durable_tx(l.nonce, &keeper.pubkey(), &[exec], &[&keeper])
        .await;
    let (outcome, _) = env.send_tx(tx).await;
    outcome.assert_error(ThreadError::MissingCloseAccount);
    assert!(env.fx.account(l.thread).await.is_some());
}
