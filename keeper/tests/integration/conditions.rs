//! Condition threads run by the real daemon against the in-process bank: the scheduler
//! reads the watched accounts each tick and judges them as `exec_thread` does, so a
//! crossing runs once per crossing (with its arming run between), a price condition runs
//! on a fresh price only, and nothing is sent that the program would refuse.

#![cfg(feature = "bank")]
#![allow(deprecated)] // program-test 3.1 marks its items deprecated; they are what we run

use std::time::Duration;

use keeper::chain::Chain;
use keeper::sandbox::World;
use keeper::test_utils::bank::{data_account, BankChainExt};
use keeper::test_utils::thread::u64_condition;
use solana_sdk::pubkey::Pubkey;
use thread::condition::pyth::{PriceUpdate, RECEIVER_PROGRAM_ID};
use thread::state::{Comparison, Due, Trigger, ValueSource};

use crate::common::{confirmed, fast_config, plan, Running};

const DEPOSIT: u64 = 50_000_000;
const FEED: [u8; 32] = [0x5e; 32];
const PRICE_MAX_AGE_SECS: u32 = 30;

async fn place(world: &World, address: Pubkey, data: Vec<u8>, owner: Pubkey) {
    world
        .chain
        .set_account(&address, data_account(data, owner))
        .await;
}

async fn set_value(world: &World, address: Pubkey, value: u64) {
    place(
        world,
        address,
        value.to_le_bytes().to_vec(),
        Pubkey::new_unique(),
    )
    .await;
}

/// A price of `whole` units (exponent -8), published `age_secs` before the bank's now.
async fn set_price(world: &World, address: Pubkey, whole: i64, age_secs: i64) {
    let now = world.chain.clock().await.unwrap().unix_timestamp;
    let update = PriceUpdate {
        feed_id: FEED,
        price: whole * 100_000_000,
        exponent: -8,
        publish_time: now - age_secs,
        fully_verified: true,
    };
    place(
        world,
        address,
        update.encode(&Pubkey::new_unique(), 1),
        RECEIVER_PROGRAM_ID,
    )
    .await;
}

async fn state(world: &World, thread: &Pubkey) -> (u64, Due) {
    let state = world.chain.thread_state(thread).await;
    (state.exec_count, state.next_due)
}

/// Advances the bank a slot and a second at a time for `secs`, or until `done` holds.
async fn run_until<F, Fut>(world: &World, secs: u64, mut done: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..secs * 4 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        world.advance(1, 0).await;
        if done().await {
            return true;
        }
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_runs_conditions_on_each_crossing_and_only_on_fresh_prices() {
    let mut world = World::start().await.expect("bank starts");
    let (value, price) = (Pubkey::new_unique(), Pubkey::new_unique());
    set_value(&world, value, 50).await;
    set_price(&world, price, 90, 0).await;
    let crossing = u64_condition(value, 0, Comparison::CrossesAbove, 100);
    let cheap = Trigger::Condition {
        address: price,
        source: ValueSource::PythPrice {
            feed_id: FEED,
            exponent: -2,
            max_age_secs: PRICE_MAX_AGE_SECS,
        },
        comparison: Comparison::AtMost,
        threshold: 10_000,
    };
    world
        .create(
            &[
                plan("crossing", crossing, false),
                plan("cheap", cheap, true),
            ],
            DEPOSIT,
        )
        .await
        .expect("threads created");
    let [crossing, cheap] = std::array::from_fn(|i| world.threads[i].key);
    let (running, store) = Running::on(&world, fast_config());

    // The price holds: the durable thread runs (again and again, a slot apart); the
    // crossing waits below its threshold.
    let cheap_runs = run_until(&world, 20, || async { state(&world, &cheap).await.0 >= 2 }).await;
    assert!(cheap_runs, "a fresh price at most 100.00 runs the thread");
    assert_eq!(
        state(&world, &crossing).await,
        (0, Due::OnCondition { armed: true })
    );

    // Crossing above: exactly one run, however long it stays above.
    set_value(&world, value, 150).await;
    assert!(
        run_until(&world, 20, || async {
            state(&world, &crossing).await.0 == 1
        })
        .await
    );
    run_until(&world, 2, || async { false }).await;
    assert_eq!(
        state(&world, &crossing).await,
        (1, Due::OnCondition { armed: false })
    );

    // Back below: the arming run; above again: the second firing.
    set_value(&world, value, 80).await;
    assert!(
        run_until(&world, 20, || async {
            state(&world, &crossing).await == (2, Due::OnCondition { armed: true })
        })
        .await
    );
    set_value(&world, value, 120).await;
    assert!(
        run_until(&world, 20, || async {
            state(&world, &crossing).await.0 == 3
        })
        .await
    );

    // A stale price stops the durable thread, and so does a price above 100.00: the
    // keeper sends nothing for it meanwhile.
    set_price(&world, price, 90, i64::from(PRICE_MAX_AGE_SECS) + 1).await;
    run_until(&world, 2, || async { false }).await;
    let (stopped_at, _) = state(&world, &cheap).await;
    run_until(&world, 3, || async { false }).await;
    assert_eq!(state(&world, &cheap).await.0, stopped_at, "stale: not run");
    set_price(&world, price, 101, 0).await;
    run_until(&world, 3, || async { false }).await;
    assert_eq!(
        state(&world, &cheap).await.0,
        stopped_at,
        "too dear: not run"
    );
    let attempt = store.find(&cheap, stopped_at).unwrap();
    assert!(
        attempt.is_none(),
        "nothing persisted or sent for it: {attempt:?}"
    );
    set_price(&world, price, 95, 0).await;
    assert!(
        run_until(&world, 20, || async {
            state(&world, &cheap).await.0 > stopped_at
        })
        .await
    );

    let summary = running.stop().await;
    for exec_count in 0..3 {
        assert!(
            confirmed(&store, &crossing, exec_count),
            "crossing #{exec_count}"
        );
    }
    assert_eq!(summary.counts.dead, 0, "{summary:?}");
    assert_eq!(summary.counts.superseded, 0, "{summary:?}");
    assert!(summary.leases_left.is_empty(), "{summary:?}");
}
