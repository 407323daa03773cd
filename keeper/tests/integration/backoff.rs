//! Backoff in the executor, against the in-process bank: a send the endpoint does not
//! answer is tried again within the attempt (exponential, jittered, bounded), and the
//! replay queue waits longer before each replay of the same execution, from the
//! priority's base up to a cap.

#![cfg(feature = "bank")]
#![allow(deprecated)] // program-test 3.1 marks its items deprecated; they are what we run

use std::sync::Arc;
use std::time::Duration;

use crate::common::{
    confirm_until_confirmed, exec_count, executor, plan, world_with, ProbedBank, TestClock,
};
use keeper::chain::faulty::{Fault, FaultRates, FaultyChain, Op};
use keeper::chain::Chain;
use keeper::execution::executor::{ExecOutcome, ExecutorConfig};
use keeper::execution::retry::RetryStrategy;
use keeper::ops::metrics::Metrics;
use keeper::store::ExecState;
use thread::state::Trigger;

const DEPOSIT: u64 = 50_000_000;

fn quick_send_retry(max_attempts: u32) -> RetryStrategy {
    RetryStrategy {
        initial_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(40),
        multiplier: 2.0,
        max_attempts,
        jitter: 0.1,
    }
}

#[tokio::test]
async fn a_send_the_endpoint_does_not_answer_is_tried_again_within_the_attempt() {
    let world = world_with(&[plan("now", Trigger::Now, false)], DEPOSIT).await;
    let thread = world.threads[0].key;
    let faulty = Arc::new(FaultyChain::new(ProbedBank::new(world.chain.clone()), 1));
    // The first two sends get no answer and never reach the bank; the third lands.
    faulty.script(Op::Send, [Some(Fault::Drop), Some(Fault::Drop), None]);
    let metrics = Metrics::new();
    let config = ExecutorConfig {
        send_retry: quick_send_retry(3),
        ..ExecutorConfig::default()
    };
    let store = keeper::store::Store::open_in_memory().unwrap();
    let chain: Arc<dyn Chain> = faulty.clone();
    let executor = executor(chain, &world, store.clone(), metrics.clone(), config).with_seed(3);

    let outcome = executor.execute(thread, 0).await;
    assert!(
        matches!(outcome, ExecOutcome::Submitted { .. }),
        "{outcome:?}"
    );
    assert_eq!(faulty.forwarded(Op::Send), 1, "one send reached the bank");
    assert_eq!(metrics.send_retries_total.get(), 2);
    let row = store.find(&thread, 0).unwrap().unwrap();
    assert_eq!(row.retry_count, 0, "no replay was needed");
    confirm_until_confirmed(&executor, &store, &thread, 0).await;
    assert_eq!(exec_count(&world, &thread).await, 1);
}

#[tokio::test]
async fn a_resend_after_a_lost_answer_runs_the_due_time_once() {
    let world = world_with(&[plan("now", Trigger::Now, false)], DEPOSIT).await;
    let thread = world.threads[0].key;
    let faulty = Arc::new(FaultyChain::new(ProbedBank::new(world.chain.clone()), 2));
    // The first send lands but its answer is lost; the resend meets the landed one.
    faulty.script(Op::Send, [Some(Fault::LoseAnswer), None]);
    let config = ExecutorConfig {
        send_retry: quick_send_retry(3),
        ..ExecutorConfig::default()
    };
    let store = keeper::store::Store::open_in_memory().unwrap();
    let chain: Arc<dyn Chain> = faulty.clone();
    let executor = executor(chain, &world, store.clone(), Metrics::new(), config);

    let outcome = executor.execute(thread, 0).await;
    assert!(
        matches!(outcome, ExecOutcome::Submitted { .. }),
        "{outcome:?}"
    );
    assert!(store.find(&thread, 0).unwrap().is_some(), "persisted");
    confirm_until_confirmed(&executor, &store, &thread, 0).await;
    assert_eq!(exec_count(&world, &thread).await, 1);
}

#[tokio::test]
async fn replays_wait_longer_each_time_from_the_priority_base_up_to_the_cap() {
    let world = world_with(&[plan("now", Trigger::Now, false)], DEPOSIT).await;
    let thread = world.threads[0].key;
    // No send is ever answered.
    let faulty = Arc::new(
        FaultyChain::new(ProbedBank::new(world.chain.clone()), 4).rates(
            Op::Send,
            FaultRates {
                drop: 1.0,
                ..FaultRates::default()
            },
        ),
    );
    let clock = TestClock::new();
    let store = clock.memory_store();
    let config = ExecutorConfig {
        send_retry: quick_send_retry(1),
        max_retries: 20,
        replay_max_delay_secs: 600,
        ..ExecutorConfig::default()
    };
    // Non-durable executions run at Medium: a 30 s base.
    let chain: Arc<dyn Chain> = faulty.clone();
    let executor = executor(chain, &world, store.clone(), Metrics::new(), config).with_seed(5);

    let outcome = executor.execute(thread, 0).await;
    assert!(
        matches!(outcome, ExecOutcome::Deferred { .. }),
        "{outcome:?}"
    );
    let id = store.find(&thread, 0).unwrap().unwrap().id;
    let mut delays = Vec::new();
    for _ in 0..7 {
        let row = store.get(id).unwrap().unwrap();
        assert_eq!(row.state, ExecState::Pending);
        delays.push(row.next_attempt_at - clock.now());
        // Not replayed a second early; replayed (and failed again) at its time.
        clock.advance(row.next_attempt_at - clock.now() - 1);
        executor.replay_tick().await;
        assert_eq!(
            store.get(id).unwrap().unwrap().retry_count,
            row.retry_count,
            "replayed early"
        );
        clock.advance(1);
        executor.replay_tick().await;
        assert_eq!(
            store.get(id).unwrap().unwrap().retry_count,
            row.retry_count + 1
        );
    }
    let expected = [30.0, 60.0, 120.0, 240.0, 480.0, 600.0, 600.0];
    for (n, (got, want)) in delays.iter().zip(expected).enumerate() {
        assert!(
            (want * 0.9 - 1.0..=want * 1.1 + 1.0).contains(&(*got as f64)),
            "replay {n}: waited {got} s, expected {want} s ± 10 %: {delays:?}"
        );
    }
    assert_eq!(exec_count(&world, &thread).await, 0);
}
