//! The `Condition` trigger in the bank: each comparison against a value the test writes
//! into an account (a plain integer, and a Pyth `PriceUpdateV2` built from its published
//! layout), crossings across executions with their arming runs, stale prices refused,
//! wrong accounts refused by name with nothing moved, and a condition that stays true
//! paced by the rate limit.

use keeper::test_utils::bank::data_account;
use keeper::test_utils::thread::u64_condition;
use solana_sdk::instruction::AccountMeta;
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::Signer;
use thread::client;
use thread::condition::pyth::{PriceUpdate, RECEIVER_PROGRAM_ID};
use thread::errors::ThreadError;
use thread::state::{Comparison, Due, RateLimit, Thread, Trigger, ValueSource};
use thread_tests::{Fixture, Outcome, ThreadSpec};

use crate::common::{fixture_with_record, record_of};

/// The program that owns the value account (any program: its data is what counts).
const VALUE_OWNER: Pubkey = Pubkey::new_from_array([42; 32]);
/// Where the value account keeps its u64.
const VALUE_OFFSET: u32 = 8;
const FEED: [u8; 32] = [0xef; 32];
/// The feed's own exponent: prices are written in units of 10^-8.
const PRICE_EXPONENT: i32 = -8;

/// A bank with a record the threads write, an integer value account and a price account.
struct Conditions {
    fx: Fixture,
    record: Pubkey,
    value: Pubkey,
    price: Pubkey,
}

impl Conditions {
    async fn new() -> Self {
        let (fx, record) = fixture_with_record().await;
        let mut env = Self {
            fx,
            record,
            value: Pubkey::new_unique(),
            price: Pubkey::new_unique(),
        };
        env.set_value(0);
        let now = env.now().await;
        env.set_price(150, now);
        env
    }

    async fn now(&mut self) -> i64 {
        self.fx.clock().await.unix_timestamp
    }

    /// Writes `value` as the u64 at [`VALUE_OFFSET`] of the value account.
    fn set_value(&mut self, value: u64) {
        let mut data = vec![0xAA; 24];
        data[8..16].copy_from_slice(&value.to_le_bytes());
        self.place(self.value, data, VALUE_OWNER);
    }

    /// Writes a fully verified price update of [`FEED`]: `whole` units, published at
    /// `publish_time`.
    fn set_price(&mut self, whole: i64, publish_time: i64) {
        self.set_update(PriceUpdate {
            feed_id: FEED,
            price: whole * 100_000_000,
            exponent: PRICE_EXPONENT,
            publish_time,
            fully_verified: true,
        });
    }

    fn set_update(&mut self, update: PriceUpdate) {
        let data = update.encode(&Pubkey::new_unique(), 1);
        self.place(self.price, data, RECEIVER_PROGRAM_ID);
    }

    fn place(&mut self, address: Pubkey, data: Vec<u8>, owner: Pubkey) {
        let account = data_account(data, owner);
        self.fx.ctx.set_account(&address, &account.into());
    }

    fn integer(&self, comparison: Comparison, threshold: i64) -> Trigger {
        u64_condition(self.value, VALUE_OFFSET, comparison, threshold)
    }

    /// A condition on the price in cents (exponent -2), at most `max_age_secs` old.
    fn price_in_cents(&self, comparison: Comparison, cents: i64, max_age_secs: u32) -> Trigger {
        Trigger::Condition {
            address: self.price,
            source: ValueSource::PythPrice {
                feed_id: FEED,
                exponent: -2,
                max_age_secs,
            },
            comparison,
            threshold: cents,
        }
    }

    async fn create(&mut self, id: &str, trigger: Trigger, rate_limit: RateLimit) -> Pubkey {
        let (thread, outcome) = self.try_create(id, trigger, rate_limit).await;
        outcome.assert_ok();
        thread
    }

    async fn try_create(
        &mut self,
        id: &str,
        trigger: Trigger,
        rate_limit: RateLimit,
    ) -> (Pubkey, Outcome) {
        let owner = self.fx.owner.pubkey();
        let mut spec = ThreadSpec::new(id, trigger, self.record).for_owner(&owner);
        spec.rate_limit = rate_limit;
        self.fx.create_thread(spec).await
    }

    async fn calls(&mut self) -> u64 {
        record_of(&mut self.fx, self.record).await.1
    }

    async fn due(&mut self, thread: Pubkey) -> Due {
        self.fx.thread(thread).await.next_due
    }

    /// Executes `thread` in a fresh slot (out of the last execution's rate window).
    async fn exec_next_slot(&mut self, thread: Pubkey) -> Outcome {
        self.fx.warp_slots(1).await;
        self.fx.exec(thread).await
    }

    /// The thread's account, the executor's balance and the record, to show a refusal
    /// moved nothing.
    async fn snapshot(&mut self, thread: Pubkey) -> (Vec<u8>, u64, u64, u64) {
        let account = self.fx.account(thread).await.unwrap();
        let executor = self.fx.executor.pubkey();
        (
            account.data,
            account.lamports,
            self.fx.balance(executor).await,
            self.calls().await,
        )
    }

    /// Executes `thread`, expects `error`, and checks nothing moved but the executor's
    /// transaction fee.
    async fn refused(&mut self, thread: Pubkey, error: ThreadError) {
        self.fx.warp_slots(1).await;
        let (data, lamports, _, calls) = self.snapshot(thread).await;
        self.fx.exec(thread).await.assert_error(error);
        let (data_after, lamports_after, _, calls_after) = self.snapshot(thread).await;
        assert_eq!(data_after, data, "{error:?}: the thread is unchanged");
        assert_eq!(lamports_after, lamports, "{error:?}: no fee was paid");
        assert_eq!(calls_after, calls, "{error:?}: no instruction ran");
    }
}

fn per_slot() -> RateLimit {
    RateLimit::default()
}

#[tokio::test]
async fn level_comparisons_run_while_they_hold() {
    let mut c = Conditions::new().await;
    let at_least = c
        .create("at-least", c.integer(Comparison::AtLeast, 10), per_slot())
        .await;
    let at_most = c
        .create("at-most", c.integer(Comparison::AtMost, 10), per_slot())
        .await;
    assert_eq!(c.due(at_least).await, Due::OnCondition { armed: true });

    c.set_value(9);
    c.refused(at_least, ThreadError::ThreadNotDue).await;
    c.exec_next_slot(at_most).await.assert_ok();
    assert_eq!(c.calls().await, 1);

    c.set_value(10);
    c.exec_next_slot(at_least).await.assert_ok();
    c.exec_next_slot(at_most).await.assert_ok();
    assert_eq!(c.calls().await, 3, "10 is both at least and at most 10");

    c.set_value(11);
    c.exec_next_slot(at_least).await.assert_ok();
    c.refused(at_most, ThreadError::ThreadNotDue).await;
    assert_eq!(c.calls().await, 4);
    assert_eq!(c.due(at_least).await, Due::OnCondition { armed: true });
}

#[tokio::test]
async fn a_condition_that_stays_true_is_paced_by_the_rate_limit() {
    let mut c = Conditions::new().await;
    c.set_value(50);
    let every_10_slots = RateLimit {
        max_execs: 1,
        window_slots: 10,
    };
    let thread = c
        .create("steady", c.integer(Comparison::AtLeast, 10), every_10_slots)
        .await;
    c.exec_next_slot(thread).await.assert_ok();
    for _ in 0..3 {
        c.refused(thread, ThreadError::RateLimited).await;
    }
    c.fx.warp_slots(10).await;
    c.fx.exec(thread).await.assert_ok();
    c.refused(thread, ThreadError::RateLimited).await;
    assert_eq!(c.calls().await, 2, "once per window while the value holds");
    assert_eq!(c.fx.thread(thread).await.exec_count, 2);
}

#[tokio::test]
async fn a_crossing_fires_once_per_crossing_and_rearms_in_a_run_without_instructions() {
    let mut c = Conditions::new().await;
    c.set_value(50);
    let thread = c
        .create(
            "cross",
            c.integer(Comparison::CrossesAbove, 100),
            per_slot(),
        )
        .await;
    assert_eq!(
        c.due(thread).await,
        Due::OnCondition { armed: true },
        "seen below"
    );

    c.set_value(99);
    c.refused(thread, ThreadError::ThreadNotDue).await;
    c.set_value(150);
    c.exec_next_slot(thread).await.assert_ok();
    assert_eq!(c.calls().await, 1);
    assert_eq!(c.due(thread).await, Due::OnCondition { armed: false });

    // Still above: no second firing for the same crossing.
    c.set_value(200);
    c.refused(thread, ThreadError::ThreadNotDue).await;

    // Back below: an arming run, paid like an execution, that runs no instruction.
    c.set_value(80);
    let executor = c.fx.executor.pubkey();
    let before = c.fx.balance(executor).await;
    let fee = c.fx.thread(thread).await.fee_per_exec;
    c.exec_next_slot(thread).await.assert_ok();
    let state = c.fx.thread(thread).await;
    assert_eq!(state.next_due, Due::OnCondition { armed: true });
    assert_eq!(state.exec_count, 2, "an arming run counts as an execution");
    assert_eq!(c.calls().await, 1, "and runs no instruction");
    let paid = c.fx.balance(executor).await + thread_tests::LAMPORTS_PER_SIGNATURE - before;
    assert!(
        paid >= fee,
        "the executor is paid the fee ({paid} of {fee}, less compute)"
    );
    c.refused(thread, ThreadError::ThreadNotDue).await;

    // The next crossing fires again, exactly at the threshold.
    c.set_value(100);
    c.exec_next_slot(thread).await.assert_ok();
    assert_eq!(c.calls().await, 2);
}

#[tokio::test]
async fn a_crossing_created_on_the_near_side_must_first_see_the_far_side() {
    let mut c = Conditions::new().await;
    c.set_value(50);
    let thread = c
        .create(
            "below",
            c.integer(Comparison::CrossesBelow, 100),
            per_slot(),
        )
        .await;
    assert_eq!(
        c.due(thread).await,
        Due::OnCondition { armed: false },
        "already below"
    );
    c.refused(thread, ThreadError::ThreadNotDue).await;
    c.set_value(120);
    c.exec_next_slot(thread).await.assert_ok();
    assert_eq!(c.calls().await, 0, "the arming run");
    c.set_value(90);
    c.exec_next_slot(thread).await.assert_ok();
    assert_eq!(c.calls().await, 1, "crossed below");
}

#[tokio::test]
async fn a_pyth_price_condition_runs_on_a_fresh_price_and_refuses_a_stale_one() {
    let mut c = Conditions::new().await;
    let now = c.now().await;
    c.set_price(149, now);
    let thread = c
        .create(
            "price",
            c.price_in_cents(Comparison::CrossesAbove, 15_000, 60),
            per_slot(),
        )
        .await;
    assert_eq!(c.due(thread).await, Due::OnCondition { armed: true });
    c.refused(thread, ThreadError::ThreadNotDue).await;

    // 150.00000000 at exponent -8 is exactly 15000 cents, but published 61 s ago.
    let now = c.now().await;
    c.set_price(150, now - 61);
    c.refused(thread, ThreadError::StaleConditionValue).await;
    c.set_price(150, now - 60);
    c.exec_next_slot(thread).await.assert_ok();
    assert_eq!(c.calls().await, 1);
}

#[tokio::test]
async fn a_condition_on_an_account_that_is_not_its_source_is_refused_by_name() {
    let mut c = Conditions::new().await;
    let now = c.now().await;
    c.set_price(200, now);
    let thread = c
        .create(
            "guarded",
            c.price_in_cents(Comparison::AtLeast, 15_000, 600),
            per_slot(),
        )
        .await;

    // A look-alike owned by another program, another feed, a partial verification.
    let real = c.fx.account(c.price).await.unwrap();
    c.place(c.price, real.data.clone(), VALUE_OWNER);
    c.refused(thread, ThreadError::ConditionSourceMismatch)
        .await;
    let good = PriceUpdate {
        feed_id: FEED,
        price: 200 * 100_000_000,
        exponent: PRICE_EXPONENT,
        publish_time: now,
        fully_verified: true,
    };
    c.set_update(PriceUpdate {
        feed_id: [1; 32],
        ..good
    });
    c.refused(thread, ThreadError::ConditionSourceMismatch)
        .await;
    c.set_update(PriceUpdate {
        fully_verified: false,
        ..good
    });
    c.refused(thread, ThreadError::ConditionSourceMismatch)
        .await;
    // Truncated below the price.
    c.place(c.price, real.data[..60].to_vec(), RECEIVER_PROGRAM_ID);
    c.refused(thread, ThreadError::ConditionValueUnreadable)
        .await;

    // Another account passed where the watched one belongs: matched by address, so it
    // is missing.
    c.set_update(good);
    let executor = c.fx.executor.insecure_clone();
    let state = c.fx.thread(thread).await;
    let mut ix = client::exec_thread(&executor.pubkey(), &thread, &state);
    for meta in &mut ix.accounts {
        if meta.pubkey == c.price {
            *meta = AccountMeta::new_readonly(c.value, false);
        }
    }
    c.fx.warp_slots(1).await;
    c.fx.process(&[ix], &[&executor])
        .await
        .assert_error(ThreadError::MissingTriggerAccount);

    c.exec_next_slot(thread).await.assert_ok();
    assert_eq!(c.calls().await, 1, "the real source runs it");
}

#[tokio::test]
async fn conditions_that_could_never_be_read_are_refused_at_creation() {
    let mut c = Conditions::new().await;
    let owner = c.fx.owner.pubkey();
    let integer = |width, offset| Trigger::Condition {
        address: c.value,
        source: ValueSource::Integer {
            offset,
            width,
            signed: false,
        },
        comparison: Comparison::AtLeast,
        threshold: 1,
    };
    let (thread_of_self, _) = Thread::address(&owner, b"self");
    let watching_itself = Trigger::Condition {
        address: thread_of_self,
        source: ValueSource::Integer {
            offset: 0,
            width: 8,
            signed: false,
        },
        comparison: Comparison::AtLeast,
        threshold: 1,
    };
    let cases = [
        ("width", integer(3, 8), ThreadError::InvalidConditionTrigger),
        (
            "past-end",
            integer(8, 20),
            ThreadError::ConditionValueUnreadable,
        ),
        (
            "self",
            watching_itself,
            ThreadError::InvalidConditionTrigger,
        ),
        (
            "no-age",
            c.price_in_cents(Comparison::AtLeast, 1, 0),
            ThreadError::InvalidConditionTrigger,
        ),
        (
            // A plain account where a price update belongs.
            "not-a-price",
            Trigger::Condition {
                address: c.value,
                source: ValueSource::PythPrice {
                    feed_id: FEED,
                    exponent: -2,
                    max_age_secs: 60,
                },
                comparison: Comparison::AtLeast,
                threshold: 1,
            },
            ThreadError::ConditionSourceMismatch,
        ),
    ];
    for (id, trigger, error) in cases {
        let (thread, outcome) = c.try_create(id, trigger, per_slot()).await;
        outcome.assert_error(error);
        assert!(
            c.fx.account(thread).await.is_none(),
            "{id}: nothing created"
        );
    }

    // Without the watched account among the remaining accounts.
    let spec =
        ThreadSpec::new("unpassed", c.integer(Comparison::AtLeast, 1), c.record).for_owner(&owner);
    let (thread, _) = Thread::address(&owner, &spec.id);
    let mut ix = client::create_thread(&owner, &thread, spec.into_args());
    ix.accounts.retain(|meta| meta.pubkey != c.value);
    let signer = c.fx.owner.insecure_clone();
    c.fx.process(&[ix], &[&signer])
        .await
        .assert_error(ThreadError::MissingTriggerAccount);
}

#[tokio::test]
async fn an_update_to_a_condition_trigger_arms_it_from_the_current_value() {
    let mut c = Conditions::new().await;
    let thread = c
        .create("later", Trigger::Slot { slot: u64::MAX }, per_slot())
        .await;
    c.set_value(500);
    let owner = c.fx.owner.insecure_clone();
    let ix = client::update_thread(
        &owner.pubkey(),
        &thread,
        thread::instructions::UpdateThreadArgs {
            trigger: Some(c.integer(Comparison::CrossesBelow, 100)),
            ..Default::default()
        },
    );
    c.fx.process(&[ix], &[&owner]).await.assert_ok();
    assert_eq!(c.due(thread).await, Due::OnCondition { armed: true });
    c.set_value(100);
    c.exec_next_slot(thread).await.assert_ok();
    assert_eq!(c.calls().await, 1);
}
