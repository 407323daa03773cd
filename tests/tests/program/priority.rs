//! An owner's priority for its thread's executions: set at creation, changed or cleared
//! by `update_thread` (only by the owner), carried in the events as `{old, new}`, and
//! stored in the version-2 layout.

use solana_sdk::signature::{Keypair, Signer};
use thread::client;
use thread::errors::ThreadError;
use thread::events::{ThreadCreated, ThreadUpdated};
use thread::instructions::UpdateThreadArgs;
use thread::state::{Thread, ThreadPriority, Trigger};
use thread_tests::ThreadSpec;

use crate::common::fixture_with_record;

#[tokio::test]
async fn an_owner_sets_changes_and_clears_its_threads_priority() {
    let (mut fx, record) = fixture_with_record().await;
    let owner = fx.owner.insecure_clone();
    let mut spec = ThreadSpec::new("urgent", Trigger::Now, record).for_owner(&owner.pubkey());
    spec.priority = Some(ThreadPriority::High);
    let (thread, _) = Thread::address(&owner.pubkey(), &spec.id);
    let create = client::create_thread(&owner.pubkey(), &thread, spec.clone().into_args());
    let created = fx
        .simulate_events::<ThreadCreated>(std::slice::from_ref(&create), &[&owner])
        .await;
    assert_eq!(created[0].priority, Some(ThreadPriority::High));
    fx.process(&[create], &[&owner]).await.assert_ok();
    let state = fx.thread(thread).await;
    assert_eq!(state.version, Thread::VERSION);
    assert_eq!(state.priority, Some(ThreadPriority::High));
    assert_eq!(
        fx.account(thread).await.unwrap().data.len(),
        Thread::space_for(&state.instructions)
    );

    let raise = UpdateThreadArgs {
        priority: Some(Some(ThreadPriority::Critical)),
        ..Default::default()
    };
    let ix = client::update_thread(&owner.pubkey(), &thread, raise);
    let updated = fx
        .simulate_events::<ThreadUpdated>(std::slice::from_ref(&ix), &[&owner])
        .await;
    assert_eq!(
        (updated[0].old_priority, updated[0].new_priority),
        (Some(ThreadPriority::High), Some(ThreadPriority::Critical))
    );
    fx.process(&[ix], &[&owner]).await.assert_ok();
    assert_eq!(
        fx.thread(thread).await.priority,
        Some(ThreadPriority::Critical)
    );

    // An update that names no priority leaves it as it is.
    let fee_only = UpdateThreadArgs {
        fee_per_exec: Some(2_000),
        ..Default::default()
    };
    let ix = client::update_thread(&owner.pubkey(), &thread, fee_only);
    fx.process(&[ix], &[&owner]).await.assert_ok();
    assert_eq!(
        fx.thread(thread).await.priority,
        Some(ThreadPriority::Critical)
    );

    let clear = UpdateThreadArgs {
        priority: Some(None),
        ..Default::default()
    };
    let ix = client::update_thread(&owner.pubkey(), &thread, clear);
    fx.process(&[ix], &[&owner]).await.assert_ok();
    assert_eq!(fx.thread(thread).await.priority, None);
}

#[tokio::test]
async fn only_the_owner_may_change_the_priority() {
    let (mut fx, record) = fixture_with_record().await;
    let owner = fx.owner.insecure_clone();
    let spec = ThreadSpec::new("mine", Trigger::Now, record).for_owner(&owner.pubkey());
    let (thread, outcome) = fx.create_thread(spec).await;
    outcome.assert_ok();
    let stranger = Keypair::new();
    let payer = fx.executor.insecure_clone();
    let raise = UpdateThreadArgs {
        priority: Some(Some(ThreadPriority::Critical)),
        ..Default::default()
    };
    // The stranger signs as the owner; the executor pays the fee.
    let ix = client::update_thread(&stranger.pubkey(), &thread, raise);
    fx.process(&[ix], &[&payer, &stranger])
        .await
        .assert_error(ThreadError::NotOwner);
    assert_eq!(fx.thread(thread).await.priority, None);
}
