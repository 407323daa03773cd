//! Durable and plain threads over JSON-RPC: each due time runs once, durable executions
//! advance the thread's nonce first, the lease is the keeper's while it runs and comes
//! back when it stops.

use std::time::Duration;

use localnet::examples::{create_thread, funded_owner};
use solana_sdk::pubkey::Pubkey;
use thread::client::NonceState;
use thread::state::{Durability, Trigger};

use crate::harness::{eventually, executed_at_least, thread_state, Keeper, KeeperSetup, Localnet};
use crate::judge::{each_due_time_ran_once, landed, store_rows};

/// `SystemInstruction::AdvanceNonceAccount`'s bincode tag.
const ADVANCE_NONCE_TAG: [u8; 4] = [4, 0, 0, 0];

fn every(seconds: i64) -> Trigger {
    Trigger::Interval {
        seconds,
        skippable: false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn durable_and_plain_threads_run_once_per_due_time_and_the_lease_comes_back() {
    let localnet = Localnet::start();
    let rpc = localnet.rpc();
    let owner = funded_owner(&rpc, 10_000_000_000).await.unwrap();
    let plain = create_thread(&rpc, &owner, "plain", every(3), false)
        .await
        .unwrap();
    let durable = create_thread(&rpc, &owner, "durable", every(4), true)
        .await
        .unwrap();
    let threads = [plain, durable];

    let setup = KeeperSetup::against(&localnet);
    let keeper = Keeper::start(&setup);
    eventually(
        Duration::from_secs(60),
        "the keeper holds the durable thread's lease",
        || async {
            thread_state(&rpc, &durable)
                .await
                .and_then(|t| t.lease)
                .is_some_and(|lease| lease.holder == localnet.keeper)
        },
    )
    .await;
    executed_at_least(&rpc, &threads, 3, Duration::from_secs(120)).await;
    eventually(
        Duration::from_secs(10),
        "/metrics counts the leased nonce",
        || async { keeper.metrics().contains("keeper_active_nonces 1") },
    )
    .await;
    let status = keeper.stop();
    assert!(status.success(), "keeper exit: {status}");

    let counts = each_due_time_ran_once(&rpc, &setup.store, &threads).await;
    assert!(counts.values().all(|&n| n >= 3), "{counts:?}");

    let durable_state = thread_state(&rpc, &durable).await.unwrap();
    assert!(
        durable_state.lease.is_none(),
        "the lease was handed back at shutdown"
    );
    let Durability::Durable { nonce_account } = durable_state.durability else {
        panic!("the durable thread lost its nonce account");
    };
    let nonce = rpc.get_account(&nonce_account).await.unwrap();
    let state = NonceState::parse(&nonce.data).expect("an initialized nonce account");
    assert_eq!(
        state.authority, durable,
        "the nonce authority is the thread's again"
    );

    let durable_rows: Vec<_> = landed(&rpc, &store_rows(&setup.store))
        .await
        .into_iter()
        .filter(|row| row.thread == durable)
        .collect();
    assert_eq!(durable_rows.len() as u64, counts[&durable]);
    for row in durable_rows {
        assert_advances_first(&row.tx, &nonce_account, &localnet.keeper);
    }
}

/// Instruction 0 of a durable execution advances the thread's nonce, with the keeper (the
/// lease holder) as the authority that signs it.
fn assert_advances_first(
    tx: &solana_sdk::transaction::VersionedTransaction,
    nonce: &Pubkey,
    keeper: &Pubkey,
) {
    let keys = tx.message.static_account_keys();
    let first = &tx.message.instructions()[0];
    assert_eq!(
        keys[first.program_id_index as usize],
        solana_sdk_ids::system_program::ID
    );
    assert_eq!(first.data[..4], ADVANCE_NONCE_TAG);
    assert_eq!(keys[first.accounts[0] as usize], *nonce);
    assert_eq!(keys[first.accounts[2] as usize], *keeper);
}
