//! Durable threads: real durable transactions anchored on the thread's nonce, under a
//! keeper's lease of the nonce authority.

use solana_sdk::signature::{Keypair, Signer};
use thread::state::{Thread, Trigger};
use thread_tests::durable::{claim_lease_ix, create_thread_with_nonce_ix};
use thread_tests::{system_account, ThreadSpec, STARTING_LAMPORTS};

use crate::common::{fixture_with_record, record_of};

#[tokio::test]
async fn durable_execution_lands_and_advances_the_nonce() {
    let (mut fx, record) = fixture_with_record().await;
    let owner = fx.owner.insecure_clone();
    let keeper = fx.executor.insecure_clone();
    let spec = ThreadSpec::new("durable", Trigger::Now, record).for_owner(&owner.pubkey());
    let (thread, _) = Thread::address(&owner.pubkey(), &spec.id);
    let nonce = Keypair::new();
    let ix = create_thread_with_nonce_ix(
        &owner.pubkey(),
        thread,
        &nonce.pubkey(),
        spec.into_args(),
        100_000,
    );
    fx.process(&[ix], &[&owner, &nonce]).await.assert_ok();
    let _ = (system_account(1), STARTING_LAMPORTS);

    let info = fx.nonce(nonce.pubkey()).await.unwrap();
    assert_eq!(info.authority, thread);

    let nonce_lamports = fx.balance(nonce.pubkey()).await;
    let ix = claim_lease_ix(
        &keeper.pubkey(),
        thread,
        &nonce.pubkey(),
        10_000,
        nonce_lamports,
    );
    fx.process(&[ix], &[&keeper]).await.assert_ok();
    assert_eq!(
        fx.nonce(nonce.pubkey()).await.unwrap().authority,
        keeper.pubkey()
    );

    fx.warp_slots(1).await;
    let tx = fx.durable_exec_tx(&keeper, thread).await;
    fx.warp_slots(300).await;
    let outcome = fx.process_tx(tx).await;
    outcome.assert_ok();
    assert_eq!(record_of(&mut fx, record).await.1, 1);
    assert_ne!(fx.nonce(nonce.pubkey()).await.unwrap().value, info.value);
}
