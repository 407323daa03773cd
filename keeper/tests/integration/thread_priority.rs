//! An owner's priority on its thread (`Thread::priority`) is what the keeper executes
//! it at, within the operator's floor and ceiling; a thread without one runs at the
//! keeper's default for its durability. Against the in-process bank, through the
//! executor the daemon runs.

#![cfg(feature = "bank")]
#![allow(deprecated)] // program-test 3.1 marks its items deprecated; they are what we run

use std::sync::Arc;

use crate::common::{executor, plan, world_with};
use keeper::chain::Chain;
use keeper::execution::builder::priority::ExecutionPriority;
use keeper::execution::executor::{ExecOutcome, ExecutorConfig};
use keeper::ops::metrics::Metrics;
use keeper::sandbox;
use keeper::store::Store;
use keeper::tracking::view::ThreadView;
use solana_sdk::signature::Signer;
use thread::client;
use thread::instructions::UpdateThreadArgs;
use thread::state::{ThreadPriority, Trigger};

#[tokio::test]
async fn the_owners_priority_is_honoured_within_the_keepers_floor_and_ceiling() {
    let plans = [
        plan("asks-critical", Trigger::Now, false),
        plan("asks-low", Trigger::Now, false),
        plan("asks-high", Trigger::Now, false),
        plan("asks-nothing", Trigger::Now, false),
    ];
    let world = world_with(&plans, 50_000_000).await;
    let asked = [
        Some(ThreadPriority::Critical),
        Some(ThreadPriority::Low),
        Some(ThreadPriority::High),
        None,
    ];
    let owner = world.owner.pubkey();
    for (thread, priority) in world.threads.iter().zip(asked) {
        let args = UpdateThreadArgs {
            priority: Some(priority),
            ..Default::default()
        };
        let ix = client::update_thread(&owner, &thread.key, args);
        sandbox::send(world.chain.as_ref(), &[ix], &world.owner, &[])
            .await
            .unwrap();
        let state = world.thread(&thread.key).await.unwrap().unwrap();
        assert_eq!(state.priority, priority);
        assert_eq!(ThreadView::of(&state).priority, priority);
    }

    // This keeper honours owners from Medium to High; its own default is Low.
    let config = ExecutorConfig {
        non_durable_priority: ExecutionPriority::Low,
        owner_priority_floor: ExecutionPriority::Medium,
        owner_priority_ceiling: ExecutionPriority::High,
        ..ExecutorConfig::default()
    };
    let store = Store::open_in_memory().unwrap();
    let chain: Arc<dyn Chain> = world.chain.clone();
    let executor = executor(chain, &world, store.clone(), Metrics::new(), config);
    let mut ran_at = Vec::new();
    for thread in &world.threads {
        let outcome = executor.execute(thread.key, 0).await;
        assert!(
            matches!(outcome, ExecOutcome::Submitted { .. }),
            "{outcome:?}"
        );
        ran_at.push(store.find(&thread.key, 0).unwrap().unwrap().priority);
    }
    assert_eq!(
        ran_at,
        [
            ExecutionPriority::High,   // Critical, capped at the ceiling
            ExecutionPriority::Medium, // Low, raised to the floor
            ExecutionPriority::High,   // as asked
            ExecutionPriority::Low,    // the keeper's default
        ]
    );
    // The daemon's admission (degradation) judges from the index's view the same way.
    assert_eq!(
        executor.effective_priority(false, Some(ThreadPriority::Critical)),
        ExecutionPriority::High
    );
}
