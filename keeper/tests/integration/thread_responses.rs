//! Threads that steer themselves (thread responses), run by the real daemon against the
//! in-process bank: the keeper follows each answer from the thread it reads back, with no
//! case of its own for them: a counter that reschedules itself, chains that run several
//! executions per due time, and threads that close themselves, durable and not.

#![cfg(feature = "bank")]
#![allow(deprecated)] // program-test 3.1 marks its items deprecated; they are what we run

use std::time::Duration;

use keeper::chain::Chain;
use keeper::sandbox::{PlanWork, ThreadPlan, World};
use keeper::test_utils::bank::BankChainExt;
use solana_sdk::signature::Signer;
use thread::client::NonceData;
use thread::state::{Due, ThreadAction, Trigger};

use crate::common::{confirmed, fast_config, plan, Running};

const DEPOSIT: u64 = 50_000_000;

fn steering(label: &str, durable: bool, work: PlanWork) -> ThreadPlan {
    ThreadPlan {
        work,
        ..plan(label, Trigger::Now, durable)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_follows_threads_that_reschedule_chain_and_close_themselves() {
    let plans = [
        steering("ticker", false, PlanWork::Reschedule { seconds: 3 }),
        steering("batches", false, PlanWork::Chain { runs: 4 }),
        steering("durable-batches", true, PlanWork::Chain { runs: 3 }),
        steering("closer", false, PlanWork::Answer(ThreadAction::Close)),
        steering(
            "durable-closer",
            true,
            PlanWork::Answer(ThreadAction::Close),
        ),
    ];
    let mut world = World::start().await.expect("bank starts");
    world
        .create(&plans, DEPOSIT)
        .await
        .expect("threads created");
    let [ticker, batches, durable_batches, closer, durable_closer] =
        std::array::from_fn(|i| world.threads[i].key);
    let durable_nonce = world
        .thread(&durable_closer)
        .await
        .unwrap()
        .unwrap()
        .nonce_account()
        .unwrap();
    let owner = world.owner.pubkey();
    let owner_before = world.chain.balance(&owner).await;

    let (running, store) = Running::on(&world, fast_config());
    let runs = |state: Option<thread::state::Thread>| state.map(|s| (s.exec_count, s.next_due));
    let mut done = false;
    for _ in 0..120 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        world.advance(1, 1).await;
        let ticks = world
            .thread(&ticker)
            .await
            .unwrap()
            .map_or(0, |s| s.exec_count);
        let finished = runs(world.thread(&batches).await.unwrap()) == Some((4, Due::Never))
            && runs(world.thread(&durable_batches).await.unwrap()) == Some((3, Due::Never));
        let closed = world.thread(&closer).await.unwrap().is_none()
            && world.thread(&durable_closer).await.unwrap().is_none();
        if ticks >= 4 && finished && closed {
            done = true;
            break;
        }
    }
    let summary = running.stop().await;
    assert!(done, "not every thread followed its answers: {summary:?}");

    // The counter reset its own trigger after every run.
    let state = world.thread(&ticker).await.unwrap().unwrap();
    assert!(
        matches!(state.trigger, Trigger::Timestamp { .. }),
        "{:?}",
        state.trigger
    );
    // Every execution once: the chains ran their batch, the closers once each.
    for (thread, count) in [
        (batches, 4),
        (durable_batches, 3),
        (closer, 1),
        (durable_closer, 1),
    ] {
        for exec_count in 0..count {
            assert!(
                confirmed(&store, &thread, exec_count),
                "{thread} #{exec_count}"
            );
        }
        assert!(
            !confirmed(&store, &thread, count),
            "{thread} ran past its answers"
        );
    }
    assert_eq!(summary.counts.dead, 0, "{summary:?}");
    assert_eq!(summary.counts.superseded, 0, "{summary:?}");
    assert!(summary.leases_left.is_empty(), "{summary:?}");

    // The closers paid their owner back and the durable one handed its nonce over.
    assert!(world.chain.balance(&owner).await > owner_before);
    let nonce = world
        .chain
        .get_account(&durable_nonce)
        .await
        .unwrap()
        .expect("nonce kept");
    let authority = NonceData::parse(&nonce.data)
        .and_then(|data| data.initialized())
        .expect("an initialized nonce")
        .authority;
    assert_eq!(authority, owner);
}
