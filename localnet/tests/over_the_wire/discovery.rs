//! How the keeper finds threads over the wire: `programSubscribe` notices a thread the
//! moment it is created; with the websocket refused, the reconcile scan still finds it.

use std::time::Duration;

use localnet::examples::{create_thread, funded_owner};
use thread::state::Trigger;

use crate::harness::{executed_at_least, free_port, Keeper, KeeperSetup, Localnet};
use crate::judge::each_due_time_ran_once;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thread_created_while_the_keeper_runs_is_executed_without_waiting_for_a_scan() {
    let localnet = Localnet::start();
    let rpc = localnet.rpc();
    let owner = funded_owner(&rpc, 10_000_000_000).await.unwrap();
    let mut setup = KeeperSetup::against(&localnet);
    // The start-up scan finds nothing and the next is ten minutes away: only the
    // subscription can bring the new thread in time.
    setup.daemon = vec!["reconcile_ms = 600000".into()];
    let keeper = Keeper::start(&setup);
    wait_until_subscribed(&keeper).await;

    let thread = create_thread(&rpc, &owner, "pushed", Trigger::Now, false)
        .await
        .unwrap();
    executed_at_least(&rpc, &[thread], 1, Duration::from_secs(30)).await;

    assert!(keeper.stop().success());
    each_due_time_ran_once(&rpc, &setup.store, &[thread]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_websocket_refused_the_reconcile_scan_finds_new_threads() {
    let localnet = Localnet::start();
    let rpc = localnet.rpc();
    let owner = funded_owner(&rpc, 10_000_000_000).await.unwrap();
    let mut setup = KeeperSetup::against(&localnet);
    setup.websocket_url = format!("ws://{}", free_port());
    setup.daemon = vec!["reconcile_ms = 2000".into()];
    let keeper = Keeper::start(&setup);

    let thread = create_thread(&rpc, &owner, "scanned", Trigger::Now, false)
        .await
        .unwrap();
    executed_at_least(&rpc, &[thread], 1, Duration::from_secs(60)).await;

    let log = keeper.log();
    assert!(keeper.stop().success());
    assert!(
        log.contains("no program subscription"),
        "the keeper says it runs on scans alone:\n{log}"
    );
    each_due_time_ran_once(&rpc, &setup.store, &[thread]).await;
}

/// The keeper logs the subscription once the websocket accepted it; until then a thread
/// created now could be found by the start-up scan instead.
async fn wait_until_subscribed(keeper: &Keeper) {
    crate::harness::eventually(
        Duration::from_secs(30),
        "the program subscription",
        || async { keeper.log().contains("program subscription open") },
    )
    .await;
}
