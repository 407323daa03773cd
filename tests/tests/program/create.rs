use solana_sdk::signature::Signer;
use thread::state::{Due, Trigger};
use thread_tests::ThreadSpec;

use crate::common::{fixture_with_record, record_of};

#[tokio::test]
async fn now_thread_runs_its_instruction_once() {
    let (mut fx, record) = fixture_with_record().await;
    let owner = fx.owner.pubkey();
    let spec = ThreadSpec::new("now", Trigger::Now, record).for_owner(&owner);
    let (thread, outcome) = fx.create_thread(spec).await;
    outcome.assert_ok();
    assert_eq!(fx.thread(thread).await.next_due, Due::Immediately);

    fx.exec(thread).await.assert_ok();
    let (authority, calls, _) = record_of(&mut fx, record).await;
    assert_eq!((authority, calls), (thread, 1));
    assert_eq!(fx.thread(thread).await.next_due, Due::Never);

    fx.exec(thread)
        .await
        .assert_error(thread::errors::ThreadError::ThreadCompleted);
}
