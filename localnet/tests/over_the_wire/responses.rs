//! Thread responses over JSON-RPC: a thread whose program answers through return data
//! (the responder example, loaded natively beside the thread program) is followed by the
//! keeper as the validator applies each answer: a counter that reschedules itself, and a
//! durable thread that closes itself, paying its owner and handing over its nonce. A
//! condition thread watches the counter and runs once, when its count crosses 2: the
//! keeper reads the account over RPC and judges it as the program does.

use std::time::Duration;

use localnet::examples::{create_thread_running, funded_owner, responder_counter};
use solana_sdk::signer::Signer;
use thread::client::NonceState;
use thread::state::{Comparison, Due, ThreadAction, ThreadResponse, Trigger, ValueSource};

use crate::harness::{eventually, executed_at_least, thread_state, Keeper, KeeperSetup, Localnet};
use crate::judge::each_due_time_ran_once;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_keeper_follows_a_self_rescheduling_thread_a_condition_on_it_and_a_durable_one_that_closes_itself(
) {
    let localnet = Localnet::start();
    let rpc = localnet.rpc();
    let owner = funded_owner(&rpc, 10_000_000_000).await.unwrap();
    let counter = responder_counter(&rpc, &owner).await.unwrap();
    let ticker = create_thread_running(
        &rpc,
        &owner,
        "ticker",
        Trigger::Now,
        false,
        &[responder::reschedule(&counter, 2)],
    )
    .await
    .unwrap();
    let crosses_two = Trigger::Condition {
        address: counter,
        source: ValueSource::Integer {
            offset: 0,
            width: 8,
            signed: false,
        },
        comparison: Comparison::CrossesAbove,
        threshold: 2,
    };
    let watcher = create_thread_running(
        &rpc,
        &owner,
        "at-two",
        crosses_two,
        false,
        &[responder::echo(
            &responder::ID,
            b"untagged: an ordinary return value",
        )],
    )
    .await
    .unwrap();
    let close = ThreadResponse::new(ThreadAction::Close).encode();
    let closer = create_thread_running(
        &rpc,
        &owner,
        "closer",
        Trigger::Now,
        true,
        &[responder::echo(&responder::ID, &close)],
    )
    .await
    .unwrap();
    let nonce = thread_state(&rpc, &closer)
        .await
        .unwrap()
        .nonce_account()
        .unwrap();

    let setup = KeeperSetup::against(&localnet);
    let keeper = Keeper::start(&setup);
    executed_at_least(&rpc, &[ticker], 3, Duration::from_secs(120)).await;
    executed_at_least(&rpc, &[watcher], 1, Duration::from_secs(60)).await;
    eventually(
        Duration::from_secs(60),
        "the durable thread closed itself",
        || async { rpc.get_account(&closer).await.is_err() },
    )
    .await;
    assert!(keeper.stop().success());

    let state = thread_state(&rpc, &ticker).await.unwrap();
    assert!(
        matches!(state.trigger, Trigger::Timestamp { .. }),
        "the counter's answers set its trigger: {:?}",
        state.trigger
    );
    let counted = rpc.get_account(&counter).await.unwrap();
    let runs = responder::Counter::read(&counted.data).unwrap().runs;
    assert_eq!(runs, state.exec_count, "one answer per execution");
    each_due_time_ran_once(&rpc, &setup.store, &[ticker]).await;
    let watched = thread_state(&rpc, &watcher).await.unwrap();
    assert_eq!(
        (watched.exec_count, watched.next_due),
        (1, Due::OnCondition { armed: false }),
        "one run for the one crossing; the count only grows"
    );

    let nonce_account = rpc.get_account(&nonce).await.unwrap();
    let authority = NonceState::parse(&nonce_account.data).unwrap().authority;
    assert_eq!(
        authority,
        owner.pubkey(),
        "the closed thread's nonce is the owner's"
    );
}
