//! Threads naming more accounts than a legacy transaction holds, run by the real daemon
//! against the in-process bank: with an address lookup table holding those accounts they
//! execute (v0 messages, durable and not); with no table, a table holding none of them,
//! or a table deactivated after it was attached, the due time reaches the dead-letter
//! queue with a reason that says what to fix.

#![cfg(feature = "bank")]
#![allow(deprecated)] // program-test 3.1 marks its items deprecated; they are what we run

use keeper::chain::Chain;
use keeper::ops::explain::explain;
use keeper::sandbox::{self, World};
use keeper::test_utils::bank::BankChainExt;
use keeper::test_utils::lookup_table::table_account;
use solana_sdk::instruction::{AccountMeta, Instruction};
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::{Keypair, Signer};
use thread::client;
use thread::instructions::CreateThreadArgs;
use thread::state::{RateLimit, Thread, ThreadInstruction, Trigger};

use crate::common::{fast_config, wait_until, Running};

/// Accounts each thread names: more than a legacy transaction's 1,232 bytes can list
/// (32 bytes each), in two stored instructions of the responder (whose echo ignores them).
const ACCOUNTS: usize = 40;

fn many_accounts() -> Vec<Pubkey> {
    (0..ACCOUNTS).map(|_| Pubkey::new_unique()).collect()
}

/// Two responder echoes naming `accounts` between them, read-only.
fn naming(accounts: &[Pubkey]) -> Vec<ThreadInstruction> {
    accounts
        .chunks(ACCOUNTS / 2)
        .map(|chunk| {
            let mut ix: Instruction = responder::echo(&responder::ID, b"");
            ix.accounts = chunk
                .iter()
                .map(|key| AccountMeta::new_readonly(*key, false))
                .collect();
            ThreadInstruction::from(ix)
        })
        .collect()
}

/// Creates the owner's thread `id` naming `accounts`, with `tables`, durable or not, and
/// lets the chain's watcher see it.
async fn create(
    world: &World,
    id: &str,
    accounts: &[Pubkey],
    tables: &[Pubkey],
    durable: bool,
) -> Pubkey {
    let owner = world.owner.pubkey();
    let (thread, _) = Thread::address(&owner, id.as_bytes());
    let args = CreateThreadArgs {
        id: id.as_bytes().to_vec(),
        trigger: Trigger::Now,
        instructions: naming(accounts),
        fee_per_exec: sandbox::SANDBOX_FEE_PER_EXEC,
        rate_limit: RateLimit::default(),
        deposit: 50_000_000,
        priority: None,
        lookup_tables: tables.to_vec(),
    };
    if durable {
        let nonce = Keypair::new();
        let ix = client::create_thread_with_nonce(&owner, &thread, &nonce.pubkey(), args, 10_000);
        sandbox::send(world.chain.as_ref(), &[ix], &world.owner, &[&nonce])
            .await
            .expect("durable thread created");
        world.chain.watch(nonce.pubkey());
    } else {
        let ix = client::create_thread(&owner, &thread, args);
        sandbox::send(world.chain.as_ref(), &[ix], &world.owner, &[])
            .await
            .expect("thread created");
    }
    world.chain.watch(thread);
    thread
}

async fn exec_count(world: &World, thread: &Pubkey) -> u64 {
    world
        .thread(thread)
        .await
        .unwrap()
        .map_or(0, |state| state.exec_count)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn threads_too_large_for_a_legacy_transaction_run_through_their_lookup_table() {
    let world = World::start().await.expect("bank starts");
    let accounts = many_accounts();
    let table = Pubkey::new_unique();
    world
        .chain
        .set_account(&table, table_account(&accounts, None))
        .await;
    world.advance(1, 0).await; // a table is usable from the slot after its last extension
    let plain = create(&world, "wide", &accounts, &[table], false).await;
    let durable = create(&world, "wide-durable", &accounts, &[table], true).await;

    let (running, store) = Running::on(&world, fast_config());
    wait_until!("both wide threads ran", 60, {
        world.advance(1, 1).await;
        exec_count(&world, &plain).await == 1 && exec_count(&world, &durable).await == 1
    });
    let summary = running.stop().await;
    assert_eq!(summary.counts.confirmed, 2, "{summary:?}");
    for thread in [plain, durable] {
        let row = store.find(&thread, 0).unwrap().expect("recorded");
        let tx: solana_sdk::transaction::VersionedTransaction =
            bincode::deserialize(&row.transaction).unwrap();
        let tables = tx.message.address_table_lookups().unwrap_or_default();
        assert_eq!(tables.len(), 1, "a v0 message through the table");
        assert_eq!(tables[0].account_key, table);
    }
    assert_eq!(summary.counts.dead, 0, "{summary:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tables_that_do_not_make_it_fit_dead_letter_the_due_time_with_the_reason() {
    let world = World::start().await.expect("bank starts");
    let accounts = many_accounts();
    let unrelated = Pubkey::new_unique();
    let fading = Pubkey::new_unique();
    world
        .chain
        .set_account(&unrelated, table_account(&many_accounts(), None))
        .await;
    world
        .chain
        .set_account(&fading, table_account(&accounts, None))
        .await;
    world.advance(1, 0).await;
    let without = create(&world, "no-table", &accounts, &[], false).await;
    let elsewhere = create(&world, "table-elsewhere", &accounts, &[unrelated], true).await;
    let deactivated = create(&world, "table-deactivated", &accounts, &[fading], false).await;
    // Deactivated after the owner attached it: the program cannot know, the keeper must.
    let slot = world.chain.clock().await.unwrap().slot;
    world
        .chain
        .set_account(&fading, table_account(&accounts, Some(slot)))
        .await;

    let mut config = fast_config();
    config.executor.max_retries = 2;
    let (running, store) = Running::on(&world, config);
    wait_until!("all three dead-lettered", 60, {
        world.advance(1, 1).await;
        store.dlq_len().unwrap() == 3
    });
    let summary = running.stop().await;
    let letters = store.dlq_list(10).unwrap();
    let reason = |thread: &Pubkey| {
        letters
            .iter()
            .find(|letter| letter.thread == *thread)
            .map(|letter| letter.reason.clone())
            .unwrap_or_else(|| panic!("no dead letter for {thread}: {letters:?}"))
    };
    let too_large = reason(&without);
    assert!(
        too_large.contains("over the 1232 a transaction may have"),
        "{too_large}"
    );
    // Every account it names (the thread's own among them, which a table may hold too).
    assert!(
        too_large.contains("accounts no table of the thread holds"),
        "{too_large}"
    );
    assert!(too_large.contains(" more"), "{too_large}");
    let not_held = reason(&elsewhere);
    assert!(
        not_held.contains("accounts no table of the thread holds"),
        "{not_held}"
    );
    let gone = reason(&deactivated);
    assert!(
        gone.contains(&format!("lookup table {fading} is deactivated")),
        "{gone}"
    );
    for thread in [without, elsewhere, deactivated] {
        assert_eq!(exec_count(&world, &thread).await, 0, "nothing ran");
    }
    // `keeper explain` names the tables and the dead letter's reason.
    let me = Some(world.keeper.pubkey());
    let (verdict, explanation) = explain(
        world.chain.as_ref(),
        &thread::ID,
        &deactivated,
        Some(&store),
        me,
    )
    .await
    .unwrap();
    assert_eq!(verdict.kind(), "dead_lettered", "{verdict}");
    assert!(verdict.to_string().contains("is deactivated"), "{verdict}");
    assert_eq!(explanation.lookup_tables, vec![fading.to_string()]);
    let text = explanation.to_text();
    assert!(text.contains(&format!("lookup tables {fading}")), "{text}");
    assert_eq!(summary.counts.confirmed, 0, "{summary:?}");
}
