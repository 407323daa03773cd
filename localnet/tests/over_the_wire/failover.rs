//! Two JSON-RPC URLs for the same validator, the first through a proxy the test cuts
//! and restores: the keeper keeps executing through the second, its breaker for the
//! first opens (`keeper_rpc_breaker_state` 2), and when the first is back the breaker
//! closes and traffic returns to it.

use std::time::Duration;

use localnet::examples::{create_thread, funded_owner};
use thread::state::Trigger;

use crate::harness::{eventually, executed_at_least, thread_state, Keeper, KeeperSetup, Localnet};
use crate::judge::each_due_time_ran_once;
use crate::proxy::Proxy;

/// The breaker's probes start 30 s after it opened; two good ones close it.
const BREAKER_RECOVERY: Duration = Duration::from_secs(90);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_endpoint_is_left_for_the_other_and_taken_back_once_restored() {
    let localnet = Localnet::start();
    let rpc = localnet.rpc();
    let owner = funded_owner(&rpc, 10_000_000_000).await.unwrap();
    let thread = create_thread(
        &rpc,
        &owner,
        "every-2s",
        Trigger::Interval {
            seconds: 2,
            skippable: true,
        },
        false,
    )
    .await
    .unwrap();

    let mut proxy = Proxy::start(localnet.rpc_addr());
    let mut setup = KeeperSetup::against(&localnet);
    setup.rpc_url = proxy.url();
    setup.fallback_urls = vec![localnet.rpc_url.clone()];
    let keeper = Keeper::start(&setup);
    let primary = breaker_line(&proxy.url());
    executed_at_least(&rpc, &[thread], 2, Duration::from_secs(60)).await;
    assert!(
        keeper.metrics().contains(&format!("{primary} 0")),
        "{}",
        keeper.metrics()
    );

    proxy.cut();
    eventually(
        Duration::from_secs(60),
        "the cut endpoint's breaker opens",
        || async { keeper.metrics().contains(&format!("{primary} 2")) },
    )
    .await;
    let during_cut = thread_state(&rpc, &thread).await.unwrap().exec_count;
    executed_at_least(&rpc, &[thread], during_cut + 3, Duration::from_secs(60)).await;

    proxy.restore();
    let before_restore = proxy.forwarded();
    eventually(
        BREAKER_RECOVERY,
        "the restored endpoint's breaker closes",
        || async { keeper.metrics().contains(&format!("{primary} 0")) },
    )
    .await;
    eventually(
        Duration::from_secs(30),
        "calls go to the restored endpoint",
        || async { proxy.forwarded() > before_restore + 10_000 },
    )
    .await;

    assert!(keeper.stop().success());
    each_due_time_ran_once(&rpc, &setup.store, &[thread]).await;
}

/// The metric line of one endpoint's breaker, without its value.
fn breaker_line(endpoint: &str) -> String {
    format!("keeper_rpc_breaker_state{{endpoint=\"{endpoint}\"}}")
}
