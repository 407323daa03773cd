//! The replay loop obeys an operating mode's admission rule (Degraded runs only High and
//! Critical executions): an execution waiting for replay whose priority is not admitted
//! stays due and untouched, and is replayed once admitted. Against the in-process bank,
//! through the executor the daemon runs.

#![cfg(feature = "bank")]
#![allow(deprecated)] // program-test 3.1 marks its items deprecated; they are what we run

use std::sync::Arc;
use std::time::Duration;

use crate::common::{exec_count, executor, plan, world_with};
use keeper::chain::Chain;
use keeper::execution::builder::priority::ExecutionPriority;
use keeper::execution::executor::ExecutorConfig;
use keeper::store::{ExecState, NewExecution, Store};
use solana_sdk::signature::Signature;
use thread::state::Trigger;

/// Fee deposit of the thread.
const DEPOSIT: u64 = 50_000_000;

#[tokio::test]
async fn a_replay_the_mode_does_not_admit_waits_and_runs_once_admitted() {
    let world = world_with(&[plan("now", Trigger::Now, false)], DEPOSIT).await;
    let thread = world.threads[0].key;
    let chain: Arc<dyn Chain> = world.chain.clone();
    let store = Store::open_in_memory().unwrap();
    let executor = executor(
        chain,
        &world,
        store.clone(),
        keeper::ops::metrics::Metrics::new(),
        ExecutorConfig::default(),
    );
    // A Medium execution of the thread's first due time waits for replay (its stored
    // transaction unusable, so a replay rebuilds it).
    let id = store
        .persist(NewExecution {
            thread,
            exec_count_at_build: 0,
            nonce_account: None,
            nonce_value: None,
            signature: Signature::default(),
            transaction: Vec::new(),
            priority: ExecutionPriority::Medium,
            max_retries: 3,
            context: None,
            due_at: None,
        })
        .unwrap();

    let essential_only = |priority: ExecutionPriority| priority >= ExecutionPriority::High;
    assert_eq!(executor.replay_tick_admitting(essential_only).await, 0);
    let row = store.get(id).unwrap().unwrap();
    assert_eq!((row.state, row.retry_count), (ExecState::Pending, 0));
    assert_eq!(executor.in_flight_len(), 0, "nothing sent");
    assert_eq!(exec_count(&world, &thread).await, 0);

    assert_eq!(executor.replay_tick_admitting(|_| true).await, 1);
    for _ in 0..100 {
        executor.confirm_tick().await.unwrap();
        if store.get(id).unwrap().unwrap().state == ExecState::Confirmed {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(store.get(id).unwrap().unwrap().state, ExecState::Confirmed);
    assert_eq!(exec_count(&world, &thread).await, 1);
}
