//! `/ready` judges the real nonce accounts: ready while the keeper's leased nonce is as
//! it should be, not ready (naming the nonce check) once its authority is moved away
//! behind the keeper's back.

use std::time::Duration;

use localnet::examples::{create_thread, funded_owner, send};
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signer::Signer;
use solana_system_interface::instruction::authorize_nonce_account;
use thread::state::{Durability, Trigger};

use crate::harness::{eventually, thread_state, Keeper, KeeperSetup, Localnet};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_follows_the_leased_nonce_account_on_chain() {
    let localnet = Localnet::start();
    let rpc = localnet.rpc();
    let owner = funded_owner(&rpc, 10_000_000_000).await.unwrap();
    let every_5s = Trigger::Interval {
        seconds: 5,
        skippable: true,
    };
    let durable = create_thread(&rpc, &owner, "durable", every_5s, true)
        .await
        .unwrap();
    let Durability::Durable { nonce_account } =
        thread_state(&rpc, &durable).await.unwrap().durability
    else {
        panic!("created durable");
    };

    let mut setup = KeeperSetup::against(&localnet);
    // Lease upkeep runs every reconcile: keep it from reacting to the change before
    // /ready has been asked.
    setup.daemon = vec!["reconcile_ms = 60000".into()];
    let keeper = Keeper::start(&setup);
    eventually(
        Duration::from_secs(60),
        "the lease is held and /ready is 200",
        || async {
            let leased = thread_state(&rpc, &durable)
                .await
                .and_then(|t| t.lease)
                .is_some_and(|lease| lease.holder == localnet.keeper);
            leased && keeper.ready().is_some_and(|(status, _)| status == 200)
        },
    )
    .await;

    // The keeper's own key (the authority during the lease) hands the nonce to a
    // stranger, as a leaked key or another process on the same key could.
    let stranger = Pubkey::new_unique();
    let keeper_key = localnet.keeper_signer();
    let ix = authorize_nonce_account(&nonce_account, &keeper_key.pubkey(), &stranger);
    send(&rpc, &[ix], &[&keeper_key]).await.unwrap();

    eventually(
        Duration::from_secs(30),
        "/ready fails naming the nonce accounts",
        || async {
            keeper.ready().is_some_and(|(status, body)| {
                status == 503 && body.to_string().contains(&nonce_account.to_string())
            })
        },
    )
    .await;
    assert!(keeper.stop().success());
}
