//! Address lookup tables over JSON-RPC: a durable thread whose accounts sit in a table
//! made by the lookup table program itself (create, then extend) runs through the real
//! keeper: every execution is a v0 message through that table, which the validator
//! resolves (the nonce account among the static keys), each due time once.
//!
//! The thread names 40 accounts: more than a legacy transaction holds, and more than one
//! creation transaction carries (each is 34 bytes of instruction data there), so it is
//! written in pieces (`client::create_in_pieces`: created paused with the first piece,
//! the rest appended, resumed), each transaction within the validator's packet limit.

use std::time::Duration;

use localnet::examples::{funded_owner, send};
use solana_address_lookup_table_interface::instruction::{
    create_lookup_table, extend_lookup_table,
};
use solana_commitment_config::CommitmentConfig;
use solana_sdk::instruction::{AccountMeta, Instruction};
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::Keypair;
use solana_sdk::signer::Signer;
use thread::instructions::CreateThreadArgs;
use thread::state::{RateLimit, Thread, ThreadInstruction, Trigger};

use crate::harness::{executed_at_least, Keeper, KeeperSetup, Localnet};
use crate::judge::{each_due_time_ran_once, landed, store_rows};

/// More accounts than a legacy transaction (or one creation transaction) holds.
const ACCOUNTS: usize = 40;
/// Bytes of accounts and data a piece writes.
const PIECE_BUDGET: usize = 500;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_durable_thread_runs_through_its_lookup_table_as_v0_messages() {
    let localnet = Localnet::start();
    let rpc = localnet.rpc();
    let owner = funded_owner(&rpc, 10_000_000_000).await.unwrap();
    let accounts: Vec<Pubkey> = (0..ACCOUNTS).map(|_| Pubkey::new_unique()).collect();

    // The table, as its owner makes one: derived from a recent finalized slot, then
    // extended.
    let recent = rpc
        .get_slot_with_commitment(CommitmentConfig::finalized())
        .await
        .unwrap();
    let (create, table) = create_lookup_table(owner.pubkey(), owner.pubkey(), recent);
    send(&rpc, &[create], &[&owner]).await.unwrap();
    for chunk in accounts.chunks(ACCOUNTS / 2) {
        let extend =
            extend_lookup_table(table, owner.pubkey(), Some(owner.pubkey()), chunk.to_vec());
        send(&rpc, &[extend], &[&owner]).await.unwrap();
    }
    // Addresses are usable from the slot after the one that added them.
    tokio::time::sleep(Duration::from_secs(2)).await;

    let (thread, _) = Thread::address(&owner.pubkey(), b"wide");
    let instructions = accounts
        .chunks(ACCOUNTS / 2)
        .map(|chunk| {
            let mut echo: Instruction = responder::echo(&responder::ID, b"");
            echo.accounts = chunk
                .iter()
                .map(|key| AccountMeta::new_readonly(*key, false))
                .collect();
            ThreadInstruction::from(echo)
        })
        .collect();
    let instructions: Vec<ThreadInstruction> = instructions;
    let args = CreateThreadArgs {
        id: b"wide".to_vec(),
        trigger: Trigger::Interval {
            seconds: 3,
            skippable: true,
        },
        instructions: vec![],
        fee_per_exec: 20_000,
        rate_limit: RateLimit::default(),
        deposit: 100_000_000,
        priority: None,
        lookup_tables: vec![table],
    };
    let nonce = Keypair::new();
    let pieces = thread::client::create_in_pieces(
        &owner.pubkey(),
        &thread,
        &instructions,
        PIECE_BUDGET,
        |first| {
            let args = CreateThreadArgs {
                instructions: first,
                ..args.clone()
            };
            thread::client::create_thread_with_nonce(
                &owner.pubkey(),
                &thread,
                &nonce.pubkey(),
                args,
                10_000,
            )
        },
    )
    .unwrap();
    send(&rpc, &pieces.create, &[&owner, &nonce]).await.unwrap();
    for append in &pieces.appends {
        send(&rpc, append, &[&owner]).await.unwrap();
    }
    let stored = crate::harness::thread_state(&rpc, &thread).await.unwrap();
    assert_eq!(
        stored.instructions, instructions,
        "written exactly, in pieces"
    );
    assert!(!stored.paused);

    let setup = KeeperSetup::against(&localnet);
    let keeper = Keeper::start(&setup);
    executed_at_least(&rpc, &[thread], 2, Duration::from_secs(120)).await;
    assert!(keeper.stop().success());
    let counts = each_due_time_ran_once(&rpc, &setup.store, &[thread]).await;
    assert!(counts.values().all(|&n| n >= 2), "{counts:?}");

    let executions = landed(&rpc, &store_rows(&setup.store)).await;
    assert!(executions.len() >= 2);
    for execution in executions {
        let lookups = execution
            .tx
            .message
            .address_table_lookups()
            .unwrap_or_default();
        assert_eq!(lookups.len(), 1, "a v0 message through the thread's table");
        assert_eq!(lookups[0].account_key, table);
        let nonce_static = execution
            .tx
            .message
            .static_account_keys()
            .contains(&nonce.pubkey());
        assert!(nonce_static, "the nonce account is a static key");
    }
}
