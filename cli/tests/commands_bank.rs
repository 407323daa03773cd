//! Every owner command, run as the binary runs it but against an in-process Agave bank:
//! the program's own handlers decide, and each test reads the outcome back from the bank.

mod common;

use common::{address, assert_refused, nonce, spec, trigger, Bench, DEPOSIT, FEE};
use keeper::chain::reads::ThreadReadError;
use keeper::test_utils::bank::{data_account, BankChainExt};
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::Signer;
use thread::state::{Comparison, Durability, Trigger, ValueSource};
use thread_cli::commands::{self, CommandError, OWNER_OFFSET};
use thread_cli::spec::{AccountSpec, RateLimitSpec, TriggerSpec, UpdateSpec};
use thread_cli::submit::submit;

async fn stored(bench: &Bench, thread: &Pubkey) -> thread::state::Thread {
    let account = keeper::chain::Chain::get_account(&bench.chain, thread)
        .await
        .expect("read")
        .expect("thread exists");
    thread::client::decode_thread(&account.data).expect("decodes")
}

#[tokio::test]
async fn create_stores_every_trigger_kind_at_the_owner_and_id_pda() {
    let bench = Bench::start().await;
    let watched = bench.other.pubkey();
    // A condition reads its value when it is created: an account holding a u64 at byte 8.
    let value = Pubkey::new_unique();
    let value_account = data_account(
        [[0u8; 8], 5u64.to_le_bytes()].concat(),
        Pubkey::new_unique(),
    );
    bench.chain.set_account(&value, value_account).await;
    let cases: Vec<(TriggerSpec, Trigger)> = vec![
        (trigger("now"), Trigger::Now),
        (
            TriggerSpec {
                unix_ts: Some(4_000_000_000),
                ..trigger("timestamp")
            },
            Trigger::Timestamp {
                unix_ts: 4_000_000_000,
            },
        ),
        (
            TriggerSpec {
                at: Some("2030-01-01T00:00:00Z".into()),
                ..trigger("timestamp")
            },
            Trigger::Timestamp {
                unix_ts: 1_893_456_000,
            },
        ),
        (
            TriggerSpec {
                seconds: Some(60),
                skippable: Some(false),
                ..trigger("interval")
            },
            Trigger::Interval {
                seconds: 60,
                skippable: false,
            },
        ),
        (
            TriggerSpec {
                schedule: Some("0 */15 * * * *".into()),
                jitter: Some(5),
                ..trigger("cron")
            },
            Trigger::Cron {
                schedule: "0 */15 * * * *".into(),
                skippable: true,
                jitter: 5,
            },
        ),
        (
            TriggerSpec {
                slot: Some(1_000_000),
                ..trigger("slot")
            },
            Trigger::Slot { slot: 1_000_000 },
        ),
        (
            TriggerSpec {
                epoch: Some(9),
                ..trigger("epoch")
            },
            Trigger::Epoch { epoch: 9 },
        ),
        (
            TriggerSpec {
                address: Some(watched.to_string()),
                size: Some(8),
                ..trigger("account")
            },
            Trigger::Account {
                address: watched,
                offset: 0,
                size: 8,
            },
        ),
        (
            TriggerSpec {
                address: Some(value.to_string()),
                source: Some("integer".into()),
                offset: Some(8),
                comparison: Some("crosses_above".into()),
                threshold: Some(1_000),
                ..trigger("condition")
            },
            Trigger::Condition {
                address: value,
                source: ValueSource::Integer {
                    offset: 8,
                    width: 8,
                    signed: false,
                },
                comparison: Comparison::CrossesAbove,
                threshold: 1_000,
            },
        ),
    ];
    for (i, (trigger_spec, expected)) in cases.into_iter().enumerate() {
        let id = format!("kind-{i}");
        let written = bench.create(&spec(&id, trigger_spec)).await;
        let thread = address(&written);
        assert_eq!(
            Some(thread),
            thread::client::thread_address(&bench.owner.pubkey(), id.as_bytes())
        );
        let stored = stored(&bench, &thread).await;
        assert_eq!(stored.trigger, expected, "{id}");
        assert_eq!(stored.durability, Durability::NonDurable);
        assert_eq!(stored.fee_per_exec, FEE);
        assert!(written.nonce_account.is_none());
    }
}

#[tokio::test]
async fn create_writes_a_thread_too_large_for_one_transaction_in_pieces() {
    let bench = Bench::start().await;
    for durable in [false, true] {
        let id = format!("wide-{durable}");
        let mut wide = spec(&id, trigger("now"));
        wide.durable = durable;
        wide.instructions[0]
            .accounts
            .extend((0..31).map(|_| AccountSpec {
                pubkey: Pubkey::new_unique().to_string(),
                is_signer: false,
                is_writable: false,
            }));
        wide.instructions[0].data = Some(format!("hex:{}", "ab".repeat(400)));
        let expected = wide.plan(&bench.owner.pubkey()).unwrap().args.instructions;
        let written = bench.create(&wide).await;
        assert!(
            written.transactions.is_some_and(|n| n >= 3),
            "{id}: {written:?}"
        );
        let stored = stored(&bench, &address(&written)).await;
        assert_eq!(stored.instructions, expected, "{id}: written exactly");
        assert!(!stored.paused, "{id}: resumed once written");
        assert_eq!(
            matches!(stored.durability, Durability::Durable { .. }),
            durable,
            "{id}"
        );
    }
}

#[tokio::test]
async fn update_writes_instructions_too_large_for_one_transaction_in_pieces() {
    let bench = Bench::start().await;
    let mut wide = spec("wide-update", trigger("now")).instructions;
    wide[0].accounts.extend((0..31).map(|_| AccountSpec {
        pubkey: Pubkey::new_unique().to_string(),
        is_signer: false,
        is_writable: true,
    }));
    wide[0].data = Some(format!("hex:{}", "cd".repeat(300)));
    for paused in [false, true] {
        let id = format!("grows-{paused}");
        let thread = address(&bench.create(&spec(&id, trigger("now"))).await);
        if paused {
            commands::pause(bench.owner(), &thread).await.unwrap();
        }
        let update = UpdateSpec {
            instructions: Some(wide.clone()),
            fee_per_exec: Some(9_000),
            ..UpdateSpec::default()
        };
        let written = commands::update(bench.owner(), &thread, &update)
            .await
            .unwrap();
        assert!(written.transactions.is_some_and(|n| n >= 3), "{written:?}");
        let stored = stored(&bench, &thread).await;
        let expected = update.plan(&thread).unwrap().instructions.unwrap();
        assert_eq!(
            stored.instructions, expected,
            "paused {paused}: written exactly"
        );
        assert_eq!(stored.fee_per_exec, 9_000);
        assert_eq!(stored.paused, paused, "left as the owner had it");
    }
}

#[tokio::test]
async fn create_durable_makes_its_own_nonce_account_owned_by_the_thread() {
    let bench = Bench::start().await;
    let mut durable = spec("durable", trigger("now"));
    durable.durable = true;
    durable.max_lease_slots = Some(500);
    let written = bench.create(&durable).await;
    let nonce = nonce(&written);
    let stored = stored(&bench, &address(&written)).await;
    assert_eq!(
        stored.durability,
        Durability::Durable {
            nonce_account: nonce
        }
    );
    assert_eq!(stored.max_lease_slots, 500);
    let nonce_account = keeper::chain::Chain::get_account(&bench.chain, &nonce)
        .await
        .unwrap()
        .unwrap();
    let data =
        thread::client::NonceState::parse(&nonce_account.data).expect("an initialized nonce");
    assert_eq!(data.authority, address(&written));
}

#[tokio::test]
async fn list_finds_only_the_owners_threads_and_show_decodes_one() {
    let bench = Bench::start().await;
    let a = address(&bench.create(&spec("a", trigger("now"))).await);
    let b = address(
        &bench
            .create(&spec(
                "b",
                TriggerSpec {
                    seconds: Some(30),
                    ..trigger("interval")
                },
            ))
            .await,
    );
    thread_cli::commands::create(bench.as_other(), &spec("theirs", trigger("now")))
        .await
        .expect("the other key creates its own");

    let listed = commands::list(&bench.chain, &bench.owner.pubkey())
        .await
        .unwrap();
    let mut expected = vec![a.to_string(), b.to_string()];
    expected.sort();
    assert_eq!(
        listed.iter().map(|v| v.address.clone()).collect::<Vec<_>>(),
        expected
    );
    let account = keeper::chain::Chain::get_account(&bench.chain, &a)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        &account.data[OWNER_OFFSET..OWNER_OFFSET + 32],
        bench.owner.pubkey().as_ref()
    );

    let view = commands::show(&bench.chain, &b).await.unwrap();
    let json = serde_json::to_value(&view).unwrap();
    assert_eq!(json["id"], "b");
    assert_eq!(json["trigger"]["kind"], "interval");
    assert_eq!(json["trigger"]["seconds"], 30);
    assert_eq!(json["next_due"]["kind"], "at");
    assert!(json["next_due"]["utc"]
        .as_str()
        .unwrap()
        .ends_with("+00:00"));
    assert!(json["next_due"]["local"].is_string());
    assert_eq!(json["paused"], false);
    assert_eq!(json["exec_count"], 0);
    assert_eq!(json["durable"], false);
    assert!(json["lease"].is_null());
    // The deposit above rent pays DEPOSIT / FEE executions.
    assert_eq!(json["spare"], DEPOSIT);
    assert_eq!(json["runway"], DEPOSIT / FEE);
    assert_eq!(json["balance"], view.reserved + DEPOSIT);
}

#[tokio::test]
async fn pause_then_resume_flip_the_stored_flag_and_a_second_of_either_is_refused() {
    let bench = Bench::start().await;
    let thread = address(&bench.create(&spec("p", trigger("now"))).await);
    let paused = commands::pause(bench.owner(), &thread).await.unwrap();
    assert_eq!(paused.command, "pause");
    assert!(stored(&bench, &thread).await.paused);
    assert_refused(commands::pause(bench.owner(), &thread).await, "ADDRESS");
    commands::resume(bench.owner(), &thread).await.unwrap();
    assert!(!stored(&bench, &thread).await.paused);
    assert_refused(commands::resume(bench.owner(), &thread).await, "ADDRESS");
}

#[tokio::test]
async fn update_changes_only_what_it_names() {
    let bench = Bench::start().await;
    let thread = address(&bench.create(&spec("u", trigger("now"))).await);
    let update = UpdateSpec {
        trigger: Some(TriggerSpec {
            schedule: Some("@hourly".into()),
            ..trigger("cron")
        }),
        fee_per_exec: Some(7_000),
        rate_limit: Some(RateLimitSpec {
            max_execs: 3,
            window_slots: 10,
        }),
        priority: Some("critical".into()),
        ..UpdateSpec::default()
    };
    commands::update(bench.owner(), &thread, &update)
        .await
        .unwrap();
    let stored = stored(&bench, &thread).await;
    assert!(matches!(stored.trigger, Trigger::Cron { ref schedule, .. } if schedule == "@hourly"));
    assert_eq!(stored.fee_per_exec, 7_000);
    assert_eq!(
        (stored.rate_limit.max_execs, stored.rate_limit.window_slots),
        (3, 10)
    );
    assert_eq!(
        stored.priority,
        Some(thread::state::ThreadPriority::Critical)
    );
    assert_eq!(stored.instructions.len(), 1, "instructions untouched");
}

/// The CLI's limit is the program's: `show`'s `withdrawable` lands exactly (one
/// execution's fee stays in a running thread, nothing once it is paused), and a lamport
/// more is refused before anything is signed.
#[tokio::test]
async fn withdraw_takes_exactly_what_the_program_allows_and_refuses_more_unsigned() {
    let bench = Bench::start().await;
    let thread = address(&bench.create(&spec("w", trigger("now"))).await);
    let chain = &bench.chain;
    let shown = commands::show(chain, &thread).await.unwrap();
    assert_eq!(
        shown.withdrawable,
        shown.spare - FEE,
        "a running thread keeps a fee"
    );

    let before = bench.lamports(&thread).await;
    assert_refused(
        commands::withdraw(bench.owner(), &thread, shown.withdrawable + 1).await,
        "AMOUNT",
    );
    assert_eq!(bench.lamports(&thread).await, before, "nothing sent");
    commands::withdraw(bench.owner(), &thread, shown.withdrawable)
        .await
        .unwrap();
    assert_eq!(bench.lamports(&thread).await, before - shown.withdrawable);

    commands::pause(bench.owner(), &thread).await.unwrap();
    let paused = commands::show(chain, &thread).await.unwrap();
    assert_eq!((paused.spare, paused.withdrawable), (FEE, FEE));
    commands::withdraw(bench.owner(), &thread, paused.withdrawable)
        .await
        .unwrap();
    assert_eq!(commands::show(chain, &thread).await.unwrap().spare, 0);
}

#[tokio::test]
async fn delete_closes_plain_and_durable_threads_with_their_nonce() {
    let bench = Bench::start().await;
    let plain = address(&bench.create(&spec("plain", trigger("now"))).await);
    let mut durable_spec = spec("durable", trigger("now"));
    durable_spec.durable = true;
    let written = bench.create(&durable_spec).await;
    let durable = address(&written);
    let nonce = nonce(&written);
    for thread in [plain, durable] {
        commands::delete(bench.owner(), &thread).await.unwrap();
        assert!(!bench.exists(&thread).await);
    }
    assert!(!bench.exists(&nonce).await);
    let gone = commands::show(&bench.chain, &plain).await.unwrap_err();
    assert!(matches!(gone, CommandError::Thread(ThreadReadError::NotFound(key)) if key == plain));
}

#[tokio::test]
async fn durability_commands_create_rotate_and_close_the_nonce() {
    let bench = Bench::start().await;
    let thread = address(&bench.create(&spec("d", trigger("now"))).await);
    let first = nonce(
        &commands::make_durable(bench.owner(), &thread, 700)
            .await
            .unwrap(),
    );
    assert_eq!(
        stored(&bench, &thread).await.durability,
        Durability::Durable {
            nonce_account: first
        }
    );
    assert_refused(
        commands::make_durable(bench.owner(), &thread, 700).await,
        "ADDRESS",
    );

    let second = nonce(
        &commands::rotate_nonce(bench.owner(), &thread)
            .await
            .unwrap(),
    );
    assert_ne!(first, second);
    assert!(
        !bench.exists(&first).await,
        "the old nonce account is closed"
    );
    assert_eq!(
        stored(&bench, &thread).await.durability,
        Durability::Durable {
            nonce_account: second
        }
    );

    commands::make_non_durable(bench.owner(), &thread)
        .await
        .unwrap();
    assert_eq!(
        stored(&bench, &thread).await.durability,
        Durability::NonDurable
    );
    assert!(!bench.exists(&second).await);
    assert_refused(
        commands::rotate_nonce(bench.owner(), &thread).await,
        "ADDRESS",
    );
}

#[tokio::test]
async fn revoke_lease_ends_a_keepers_live_lease_and_blocks_an_early_delete() {
    let bench = Bench::start().await;
    let mut durable = spec("leased", trigger("now"));
    durable.durable = true;
    let written = bench.create(&durable).await;
    let thread = address(&written);
    let nonce = nonce(&written);
    assert_refused(
        commands::revoke_lease(bench.owner(), &thread).await,
        "ADDRESS",
    );

    let keeper = &bench.other;
    let claim = thread::client::claim_lease(&keeper.pubkey(), &thread, &nonce, 100, 10_000_000);
    submit(&bench.chain, keeper, &[], &[claim])
        .await
        .expect("the keeper claims a lease");
    let view = commands::show(&bench.chain, &thread).await.unwrap();
    assert!(view.lease.as_ref().is_some_and(|lease| lease.live));

    assert_refused(commands::delete(bench.owner(), &thread).await, "ADDRESS");
    commands::revoke_lease(bench.owner(), &thread)
        .await
        .unwrap();
    let lease = stored(&bench, &thread)
        .await
        .lease
        .expect("still unsettled");
    assert!(lease.revoked_slot.is_some());
}

#[tokio::test]
async fn a_stranger_is_refused_before_signing() {
    let bench = Bench::start().await;
    let thread = address(&bench.create(&spec("mine", trigger("now"))).await);
    let before = bench.lamports(&bench.other.pubkey()).await;
    assert_refused(
        commands::pause(bench.as_other(), &thread).await,
        "--keypair",
    );
    assert_eq!(
        bench.lamports(&bench.other.pubkey()).await,
        before,
        "no fee paid"
    );
}

/// `threads explain`: the keeper's verdict as an owner sees it, from the chain alone.
#[tokio::test]
async fn explain_gives_the_verdict_from_the_chain_alone() {
    let bench = Bench::start().await;
    let thread = address(&bench.create(&spec("explained", trigger("now"))).await);
    let explanation = commands::explain(&bench.chain, &thread).await.unwrap();
    assert_eq!(explanation.verdict.kind, "due_now");
    assert_eq!(explanation.address, thread.to_string());

    commands::pause(bench.owner(), &thread).await.unwrap();
    let explanation = commands::explain(&bench.chain, &thread).await.unwrap();
    assert_eq!(explanation.verdict.kind, "paused");
    assert!(explanation
        .to_text()
        .ends_with("verdict       paused by the owner; `threads resume` runs it again\n"));

    let nothing = Pubkey::new_unique();
    let missing = commands::explain(&bench.chain, &nothing).await.unwrap_err();
    assert!(
        missing.to_string().contains(&nothing.to_string()),
        "{missing}"
    );
}

/// Lookup tables named in a spec reach the thread (the program checks each is a live
/// table), `show` lists them, and an update with `[]` takes them off.
#[tokio::test]
async fn lookup_tables_in_a_spec_are_attached_shown_and_removed() {
    let bench = Bench::start().await;
    let table = Pubkey::new_unique();
    let account = keeper::test_utils::lookup_table::table_account(&[Pubkey::new_unique()], None);
    keeper::test_utils::bank::BankChainExt::set_account(&bench.chain, &table, account).await;
    let mut with_table = spec("wide", trigger("now"));
    with_table.lookup_tables = vec![table.to_string()];
    let thread = address(&bench.create(&with_table).await);
    assert_eq!(stored(&bench, &thread).await.lookup_tables, vec![table]);
    let view = commands::show(&bench.chain, &thread).await.unwrap();
    assert_eq!(view.lookup_tables, vec![table.to_string()]);
    assert!(
        view.to_text().contains(&format!("lookup tables   {table}")),
        "{}",
        view.to_text()
    );

    let clear = UpdateSpec {
        lookup_tables: Some(vec![]),
        ..UpdateSpec::default()
    };
    commands::update(bench.owner(), &thread, &clear)
        .await
        .unwrap();
    assert!(stored(&bench, &thread).await.lookup_tables.is_empty());
}
