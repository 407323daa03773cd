//! The profitability guard, run by the real daemon against the in-process bank: a thread
//! that pays less than its execution costs is not run (nothing sent, its nonce unspent),
//! counted in `keeper_unprofitable_total`, explained by `keeper explain`, and runs once
//! its owner raises the fee; a durable one-shot thread's lease transactions are part of
//! its cost; an operator's negative margin accepts the loss.

#![cfg(feature = "bank")]
#![allow(deprecated)] // program-test 3.1 marks its items deprecated; they are what we run

use std::sync::Arc;

use keeper::daemon::DaemonConfig;
use keeper::ops::explain::explain;
use keeper::ops::metrics::Metrics;
use keeper::sandbox::{self, World};
use keeper::store::Store;
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::Signer;
use thread::client;
use thread::instructions::UpdateThreadArgs;
use thread::state::Trigger;

use crate::common::{exec_count, fast_config, plan, wait_until, world_with, Running};

/// The bank's fee for one signature: what a non-durable execution costs there (its fee
/// market is empty, so no priority fee).
const BASE_FEE: u64 = 5_000;

async fn set_fee(world: &World, thread: &Pubkey, fee: u64) {
    let args = UpdateThreadArgs {
        fee_per_exec: Some(fee),
        ..Default::default()
    };
    let ix = client::update_thread(&world.owner.pubkey(), thread, args);
    sandbox::send(world.chain.as_ref(), &[ix], &world.owner, &[])
        .await
        .expect("fee updated");
}

fn guarded(min_margin_lamports: i64) -> DaemonConfig {
    let mut config = fast_config();
    config.executor.min_margin_lamports = min_margin_lamports;
    config.executor.unprofitable_recheck_secs = 1;
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thread_paying_less_than_its_execution_costs_waits_until_its_owner_pays_more() {
    let plans = [
        plan("pays", Trigger::Now, false),
        plan("underpays", Trigger::Now, false),
        plan("durable-underpays", Trigger::Now, true),
    ];
    let world = world_with(&plans, 50_000_000).await;
    let [pays, underpays, durable] = std::array::from_fn(|i| world.threads[i].key);
    set_fee(&world, &underpays, BASE_FEE - 1).await;
    // Enough for its own transaction, not for its lease's claim and release as well.
    set_fee(&world, &durable, BASE_FEE * 2).await;

    let store = Store::open_in_memory().unwrap();
    let metrics = Metrics::new();
    let running = Running::start(
        world.chain.clone(),
        &world,
        store.clone(),
        Arc::clone(&metrics),
        guarded(0),
    );
    wait_until!("the paying thread ran and both others were declined", 60, {
        world.advance(1, 1).await;
        exec_count(&world, &pays).await == 1
            && store.unprofitable(&underpays).unwrap().is_some()
            && store.unprofitable(&durable).unwrap().is_some()
    });
    assert!(metrics.unprofitable_total.get() >= 2);
    assert_eq!(exec_count(&world, &underpays).await, 0);
    assert_eq!(exec_count(&world, &durable).await, 0);
    assert!(
        store.find(&underpays, 0).unwrap().is_none(),
        "nothing recorded or sent"
    );

    let chain: &dyn keeper::chain::Chain = world.chain.as_ref();
    let me = Some(world.keeper.pubkey());
    let (verdict, _) = explain(chain, &thread::ID, &underpays, Some(&store), me)
        .await
        .unwrap();
    assert_eq!(verdict.kind(), "unprofitable", "{verdict}");
    let said = verdict.to_string();
    assert!(said.contains(&format!("pays {}", BASE_FEE - 1)), "{said}");
    assert!(said.contains(&format!("costs {BASE_FEE}")), "{said}");
    let durable_reason = store.unprofitable(&durable).unwrap().unwrap().reason;
    assert!(
        durable_reason.contains(&format!("{} lease share", 2 * BASE_FEE)),
        "{durable_reason}"
    );

    // The owner pays enough: the next pricing accepts it.
    set_fee(&world, &underpays, BASE_FEE).await;
    set_fee(&world, &durable, 3 * BASE_FEE).await;
    wait_until!("both ran once their fee covered the cost", 60, {
        world.advance(1, 1).await;
        exec_count(&world, &underpays).await == 1 && exec_count(&world, &durable).await == 1
    });
    let summary = running.stop().await;
    assert_eq!(summary.counts.confirmed, 3, "{summary:?}");
    assert_eq!(
        store.unprofitable(&underpays).unwrap(),
        None,
        "the note is cleared"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_may_accept_a_loss_with_a_negative_margin() {
    let world = world_with(&[plan("subsidised", Trigger::Now, false)], 50_000_000).await;
    let thread = world.threads[0].key;
    set_fee(&world, &thread, 0).await;
    let (running, store) = Running::on(&world, guarded(-(BASE_FEE as i64)));
    wait_until!("the free thread ran", 60, {
        world.advance(1, 1).await;
        exec_count(&world, &thread).await == 1
    });
    running.stop().await;
    assert_eq!(store.unprofitable(&thread).unwrap(), None);
}
