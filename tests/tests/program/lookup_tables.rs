//! Address lookup tables an owner attaches to a thread (`create_thread`,
//! `update_thread`): stored, paid for by the owner like instructions, and every table
//! that is not a live lookup table refused by name with nothing created or moved.
//! Executions with them (v0 messages through the keeper) are in the keeper's
//! `lookup_tables` tests.

use keeper::test_utils::lookup_table::{table_account, uninitialized_table_account};
use solana_sdk::account::Account;
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::Signer;
use thread::client;
use thread::errors::ThreadError;
use thread::events::{ThreadCreated, ThreadUpdated};
use thread::instructions::UpdateThreadArgs;
use thread::state::{Thread, Trigger, MAX_LOOKUP_TABLES};
use thread_tests::system_account;

use crate::common::{genesis, Env};

/// Live tables, plus one of each kind of account that is not a usable table.
struct Tables {
    live: Vec<Pubkey>,
    deactivated: Pubkey,
    uninitialized: Pubkey,
    foreign: Pubkey,
}

async fn env_with_tables() -> (Env, Tables) {
    let mut g = genesis();
    let mut place = |account: Account| {
        let key = Pubkey::new_unique();
        g.pt.add_account(key, account);
        key
    };
    let live = (0..=MAX_LOOKUP_TABLES)
        .map(|_| place(table_account(&[Pubkey::new_unique()], None)))
        .collect();
    let tables = Tables {
        live,
        deactivated: place(table_account(&[Pubkey::new_unique()], Some(1))),
        uninitialized: place(uninitialized_table_account()),
        foreign: place(system_account(1_000_000_000)),
    };
    (g.start().await, tables)
}

impl Env {
    fn args_with_tables(
        &self,
        id: &str,
        tables: Vec<Pubkey>,
    ) -> thread::instructions::CreateThreadArgs {
        let mut args = self.spec(id, Trigger::Now).into_args();
        args.lookup_tables = tables;
        args
    }
}

#[tokio::test]
async fn an_owner_attaches_tables_at_creation_and_pays_for_their_space() {
    let (mut env, tables) = env_with_tables().await;
    let owner = env.owner.insecure_clone();
    let chosen = tables.live[..2].to_vec();
    let args = env.args_with_tables("with-tables", chosen.clone());
    let (thread, _) = Thread::address(&owner.pubkey(), &args.id);
    let ix = client::create_thread(&owner.pubkey(), &thread, args);
    let created: ThreadCreated = env
        .fx
        .simulate_one_event(std::slice::from_ref(&ix), &[&owner])
        .await;
    assert_eq!(created.lookup_tables, chosen);
    env.fx.process(&[ix], &[&owner]).await.assert_ok();

    let state = env.fx.thread(thread).await;
    assert_eq!(state.lookup_tables, chosen);
    let size = env.fx.account(thread).await.unwrap().data.len();
    assert_eq!(size, Thread::space_with(&state.instructions, 2));
    assert_eq!(size, Thread::space_for(&state.instructions) + 64);
}

#[tokio::test]
async fn an_update_replaces_or_clears_the_tables_and_the_rent_follows() {
    let (mut env, tables) = env_with_tables().await;
    let owner = env.owner.insecure_clone();
    let spec = env.spec("changing", Trigger::Now);
    let (thread, outcome) = env.fx.create_thread(spec).await;
    outcome.assert_ok();
    let bare = env.fx.account(thread).await.unwrap();

    for (tables, extra) in [
        (tables.live[..MAX_LOOKUP_TABLES].to_vec(), 128),
        (vec![], 0),
    ] {
        let args = UpdateThreadArgs {
            lookup_tables: Some(tables.clone()),
            ..Default::default()
        };
        let ix = client::update_thread(&owner.pubkey(), &thread, args);
        let event: ThreadUpdated = env
            .fx
            .simulate_one_event(std::slice::from_ref(&ix), &[&owner])
            .await;
        assert_eq!(event.new_lookup_tables, tables);
        env.fx.process(&[ix], &[&owner]).await.assert_ok();
        let account = env.fx.account(thread).await.unwrap();
        assert_eq!(env.fx.thread(thread).await.lookup_tables, tables);
        assert_eq!(account.data.len(), bare.data.len() + extra);
        // The fee balance is untouched: the owner paid (or got back) the rent difference.
        let rent_now = env.fx.rent_for(account.data.len()).await;
        let rent_bare = env.fx.rent_for(bare.data.len()).await;
        assert_eq!(account.lamports - rent_now, bare.lamports - rent_bare);
    }
}

#[tokio::test]
async fn tables_that_cannot_be_used_are_refused_by_name_and_nothing_is_created() {
    let (mut env, tables) = env_with_tables().await;
    let owner = env.owner.insecure_clone();
    let first = tables.live[0];
    let cases = [
        (
            "too many",
            tables.live.clone(),
            None,
            ThreadError::TooManyLookupTables,
        ),
        (
            "twice",
            vec![first, first],
            None,
            ThreadError::DuplicateLookupTable,
        ),
        (
            "not passed",
            vec![first],
            Some(first),
            ThreadError::MissingLookupTable,
        ),
        (
            "deactivated",
            vec![tables.deactivated],
            None,
            ThreadError::InvalidLookupTable,
        ),
        (
            "uninitialized",
            vec![tables.uninitialized],
            None,
            ThreadError::InvalidLookupTable,
        ),
        (
            "not a table",
            vec![tables.foreign],
            None,
            ThreadError::InvalidLookupTable,
        ),
    ];
    for (index, (what, chosen, withheld, error)) in cases.into_iter().enumerate() {
        let args = env.args_with_tables(&format!("refused-{index}"), chosen.clone());
        let (thread, _) = Thread::address(&owner.pubkey(), &args.id);
        let mut ix = client::create_thread(&owner.pubkey(), &thread, args);
        if let Some(withheld) = withheld {
            ix.accounts.retain(|meta| meta.pubkey != withheld);
        }
        let outcome = env.fx.process(&[ix], &[&owner]).await;
        assert_eq!(outcome.custom_code(), Some(u32::from(error)), "{what}");
        assert!(env.fx.account(thread).await.is_none(), "{what}: created");

        // The same tables on an existing thread: refused, the thread as it was.
        let spec = env.spec(&format!("existing-{index}"), Trigger::Now);
        let (existing, outcome) = env.fx.create_thread(spec).await;
        outcome.assert_ok();
        let before = env.snapshot(existing).await;
        let args = UpdateThreadArgs {
            lookup_tables: Some(chosen),
            ..Default::default()
        };
        let mut ix = client::update_thread(&owner.pubkey(), &existing, args);
        if let Some(withheld) = withheld {
            ix.accounts.retain(|meta| meta.pubkey != withheld);
        }
        let outcome = env.fx.process(&[ix], &[&owner]).await;
        assert_eq!(
            outcome.custom_code(),
            Some(u32::from(error)),
            "update: {what}"
        );
        env.assert_unchanged(&before).await;
    }
}
