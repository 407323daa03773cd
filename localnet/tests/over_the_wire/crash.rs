//! kill -9 of the keeper mid-run, then a restart on the same store: the due times that
//! passed while it was down all run (the triggers do not skip), none runs twice, and the
//! durable thread's lease, left behind by the dead keeper, is taken up again.

use std::time::Duration;

use localnet::examples::{create_thread, funded_owner};
use thread::state::{Due, Trigger};

use crate::harness::{eventually, executed_at_least, thread_state, Keeper, KeeperSetup, Localnet};
use crate::judge::each_due_time_ran_once;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keeper_killed_mid_run_and_restarted_loses_and_doubles_nothing() {
    let localnet = Localnet::start();
    let rpc = localnet.rpc();
    let owner = funded_owner(&rpc, 10_000_000_000).await.unwrap();
    let every_2s = Trigger::Interval {
        seconds: 2,
        skippable: false,
    };
    let plain = create_thread(&rpc, &owner, "plain", every_2s.clone(), false)
        .await
        .unwrap();
    let durable = create_thread(&rpc, &owner, "durable", every_2s, true)
        .await
        .unwrap();
    let threads = [plain, durable];
    let setup = KeeperSetup::against(&localnet);

    let first = Keeper::start(&setup);
    executed_at_least(&rpc, &threads, 2, Duration::from_secs(90)).await;
    first.kill_9();
    let at_kill = thread_state(&rpc, &plain).await.unwrap().exec_count;
    // Due times pile up while nobody executes.
    tokio::time::sleep(Duration::from_secs(8)).await;

    let second = Keeper::start(&setup);
    executed_at_least(&rpc, &threads, at_kill + 6, Duration::from_secs(120)).await;
    for thread in threads {
        eventually(
            Duration::from_secs(60),
            "the thread caught up with its due times",
            || async {
                let clock = rpc.get_block_time(rpc.get_slot().await.unwrap()).await;
                let state = thread_state(&rpc, &thread).await.unwrap();
                match (state.next_due, clock) {
                    (Due::At { unix_ts }, Ok(now)) => unix_ts + 4 >= now,
                    _ => false,
                }
            },
        )
        .await;
    }
    assert!(second.stop().success());
    each_due_time_ran_once(&rpc, &setup.store, &threads).await;
    assert!(thread_state(&rpc, &durable).await.unwrap().lease.is_none());
}
