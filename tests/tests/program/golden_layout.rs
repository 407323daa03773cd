//! Golden vectors of the program's byte layouts for the TypeScript SDK (app/), which
//! decodes each and re-encodes it byte for byte (`app/test/golden-layout.test.mjs`):
//!
//! - `app/test/golden/instruction-data.json`: the data of every instruction, with
//!   `create_thread` once per trigger kind, `update_thread` once per field (the
//!   priority both reset to the keepers' default and set) and
//!   `append_thread_instruction` once per piece kind;
//! - `app/test/golden/thread-accounts.json`: `Thread` account data as the program stores
//!   it (padded with zeros to its allocated space), durable and not, one per `Due` kind,
//!   with the fields an owner reads and the execution a keeper builds for it.
//!
//! The files are committed; this test fails when the Rust side no longer produces them,
//! so a layout change that forgets the SDK fails CI. `THREAD_UPDATE_GOLDEN=1` rewrites.

use anchor_lang::{AccountSerialize, InstructionData};
use serde_json::{json, Value};
use solana_sdk::pubkey::Pubkey;
use thread::client;
use thread::instruction as ix;
use thread::instructions::{CreateThreadArgs, InstructionPiece, UpdateThreadArgs};
use thread::state::{
    Comparison, Due, Durability, Lease, RateLimit, Thread, ThreadAccountMeta, ThreadInstruction,
    ThreadPriority, Trigger, ValueSource,
};

use super::golden::{check_golden, entry};

const INSTRUCTION_DATA: &str = "../app/test/golden/instruction-data.json";
const THREAD_ACCOUNTS: &str = "../app/test/golden/thread-accounts.json";

fn key(byte: u8) -> Pubkey {
    Pubkey::new_from_array([byte; 32])
}

/// Every trigger kind, named as the SDK's `Trigger` builders are.
fn every_trigger() -> Vec<(&'static str, Trigger)> {
    vec![
        ("now", Trigger::Now),
        (
            "timestamp",
            Trigger::Timestamp {
                unix_ts: 1_900_000_000,
            },
        ),
        (
            "interval",
            Trigger::Interval {
                seconds: 90,
                skippable: true,
            },
        ),
        (
            "cron",
            Trigger::Cron {
                schedule: "0 */5 * * * *".into(),
                skippable: false,
                jitter: 15,
            },
        ),
        ("slot", Trigger::Slot { slot: 5_000 }),
        ("epoch", Trigger::Epoch { epoch: 12 }),
        (
            "account",
            Trigger::Account {
                address: key(8),
                offset: 8,
                size: 32,
            },
        ),
        (
            "conditionInteger",
            Trigger::Condition {
                address: key(8),
                source: ValueSource::Integer {
                    offset: 64,
                    width: 8,
                    signed: true,
                },
                comparison: Comparison::CrossesBelow,
                threshold: -250,
            },
        ),
        ("conditionPythPrice", pyth_condition()),
    ]
}

/// A price condition: at least 150.00 of the feed `[0xef; 32]`, a minute old at most.
fn pyth_condition() -> Trigger {
    Trigger::Condition {
        address: key(11),
        source: ValueSource::PythPrice {
            feed_id: [0xef; 32],
            exponent: -2,
            max_age_secs: 60,
        },
        comparison: Comparison::AtLeast,
        threshold: 15_000,
    }
}

/// Two stored instructions: one the thread signs, one with a read-only account and
/// more data.
fn stored(thread: &Pubkey) -> Vec<ThreadInstruction> {
    vec![
        ThreadInstruction {
            program_id: key(4),
            accounts: vec![
                ThreadAccountMeta {
                    pubkey: *thread,
                    is_signer: true,
                    is_writable: true,
                },
                ThreadAccountMeta {
                    pubkey: key(5),
                    is_signer: false,
                    is_writable: true,
                },
            ],
            data: vec![1, 2, 3],
        },
        ThreadInstruction {
            program_id: key(9),
            accounts: vec![ThreadAccountMeta {
                pubkey: key(5),
                is_signer: false,
                is_writable: false,
            }],
            data: (0..40).collect(),
        },
    ]
}

fn create_args(id: &[u8], trigger: Trigger, priority: Option<ThreadPriority>) -> CreateThreadArgs {
    let thread = Thread::address(&key(1), id).0;
    CreateThreadArgs {
        id: id.to_vec(),
        trigger,
        instructions: stored(&thread),
        fee_per_exec: 5_000,
        rate_limit: RateLimit {
            max_execs: 3,
            window_slots: 20,
        },
        deposit: 2_000_000,
        priority,
        lookup_tables: vec![],
    }
}

fn data_entry(name: &str, instruction: &str, data: Vec<u8>) -> Value {
    json!({ "name": name, "instruction": instruction, "data": hex(&data) })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn instruction_data() -> Value {
    let mut entries = Vec::new();
    for (kind, trigger) in every_trigger() {
        let args = create_args(b"golden", trigger, None);
        entries.push(data_entry(
            &format!("createThread/{kind}"),
            "createThread",
            ix::CreateThread { args }.data(),
        ));
    }
    entries.push(data_entry(
        "createThreadWithNonce",
        "createThreadWithNonce",
        ix::CreateThreadWithNonce {
            args: create_args(
                b"golden-durable",
                Trigger::Now,
                Some(ThreadPriority::Critical),
            ),
            max_lease_slots: 150,
        }
        .data(),
    ));
    let thread = Thread::address(&key(1), b"golden").0;
    let updates = [
        ("nothing", UpdateThreadArgs::default()),
        (
            "trigger",
            UpdateThreadArgs {
                trigger: Some(Trigger::Epoch { epoch: 99 }),
                ..UpdateThreadArgs::default()
            },
        ),
        (
            "instructions",
            UpdateThreadArgs {
                instructions: Some(stored(&thread)),
                ..UpdateThreadArgs::default()
            },
        ),
        (
            "feePerExec",
            UpdateThreadArgs {
                fee_per_exec: Some(u64::MAX),
                ..UpdateThreadArgs::default()
            },
        ),
        (
            "rateLimit",
            UpdateThreadArgs {
                rate_limit: Some(RateLimit {
                    max_execs: u32::MAX,
                    window_slots: 1,
                }),
                ..UpdateThreadArgs::default()
            },
        ),
        (
            "priorityReset",
            UpdateThreadArgs {
                priority: Some(None),
                ..UpdateThreadArgs::default()
            },
        ),
        (
            "prioritySet",
            UpdateThreadArgs {
                priority: Some(Some(ThreadPriority::Medium)),
                ..UpdateThreadArgs::default()
            },
        ),
        (
            "everything",
            UpdateThreadArgs {
                trigger: Some(Trigger::Interval {
                    seconds: -1,
                    skippable: false,
                }),
                instructions: Some(stored(&thread)),
                fee_per_exec: Some(0),
                rate_limit: Some(RateLimit {
                    max_execs: 1,
                    window_slots: 1,
                }),
                priority: Some(None),
                lookup_tables: Some(vec![key(9), key(10)]),
            },
        ),
    ];
    for (name, args) in updates {
        entries.push(data_entry(
            &format!("updateThread/{name}"),
            "updateThread",
            ix::UpdateThread { args }.data(),
        ));
    }
    let [first, second] = <[ThreadInstruction; 2]>::try_from(stored(&thread)).unwrap();
    let pieces = [
        (
            "instruction",
            InstructionPiece::Instruction { instruction: first },
        ),
        (
            "continuation",
            InstructionPiece::Continuation {
                accounts: second.accounts,
                data: second.data,
            },
        ),
    ];
    for (name, piece) in pieces {
        entries.push(data_entry(
            &format!("appendThreadInstruction/{name}"),
            "appendThreadInstruction",
            ix::AppendThreadInstruction { piece }.data(),
        ));
    }
    let plain = [
        ("pauseThread", ix::PauseThread {}.data()),
        ("resumeThread", ix::ResumeThread {}.data()),
        ("execThread", ix::ExecThread {}.data()),
        (
            "withdrawThread",
            ix::WithdrawThread {
                amount: 1_234_567_890,
            }
            .data(),
        ),
        ("deleteThread", ix::DeleteThread {}.data()),
        (
            "makeThreadDurable",
            ix::MakeThreadDurable {
                max_lease_slots: 300,
            }
            .data(),
        ),
        ("makeThreadNonDurable", ix::MakeThreadNonDurable {}.data()),
        ("rotateThreadNonce", ix::RotateThreadNonce {}.data()),
        ("revokeLease", ix::RevokeLease {}.data()),
        (
            "claimLease",
            ix::ClaimLease {
                slots: 300,
                bond: 1_447_680,
            }
            .data(),
        ),
        ("renewLease", ix::RenewLease { slots: 450 }.data()),
        ("releaseLease", ix::ReleaseLease {}.data()),
        ("forfeitLease", ix::ForfeitLease {}.data()),
    ];
    for (name, data) in plain {
        entries.push(data_entry(name, name, data));
    }
    json!({ "instructions": entries })
}

/// A thread of owner `key(1)` as `create_thread` would leave it after some executions;
/// the cases below change what they are about.
fn base_thread(id: &[u8], trigger: Trigger, next_due: Due) -> Thread {
    let (address, bump) = Thread::address(&key(1), id);
    Thread {
        version: Thread::VERSION,
        bump,
        owner: key(1),
        id: id.to_vec(),
        trigger,
        next_due,
        schedule_base: 1_899_999_900,
        durability: Durability::NonDurable,
        max_lease_slots: 0,
        lease: None,
        fee_per_exec: 5_000,
        rate_limit: RateLimit {
            max_execs: 3,
            window_slots: 20,
        },
        window_start_slot: 1_000,
        execs_in_window: 1,
        paused: false,
        exec_count: 7,
        last_exec_slot: 1_010,
        last_exec_at: 1_899_999_700,
        created_at: 1_800_000_000,
        instructions: stored(&address),
        priority: None,
        lookup_tables: vec![],
    }
}

fn threads() -> Vec<(&'static str, Thread)> {
    let mut durable = base_thread(
        b"golden-durable",
        Trigger::Account {
            address: key(8),
            offset: 8,
            size: 32,
        },
        Due::OnChange { last_hash: [9; 32] },
    );
    durable.durability = Durability::Durable {
        nonce_account: key(2),
    };
    durable.max_lease_slots = 300;
    durable.lease = Some(Lease {
        holder: key(7),
        claimed_slot: 1_000,
        expires_slot: 1_300,
        bond: 1_447_680,
        revoked_slot: Some(1_200),
    });
    durable.priority = Some(ThreadPriority::High);
    durable.paused = true;
    durable.lookup_tables = vec![key(9), key(10)];

    let mut finished = base_thread(
        b"finished",
        Trigger::Timestamp {
            unix_ts: 1_899_999_700,
        },
        Due::Never,
    );
    finished.exec_count = 1;
    finished.priority = Some(ThreadPriority::Low);

    let mut fresh = base_thread(b"now", Trigger::Now, Due::Immediately);
    fresh.exec_count = 0;
    fresh.last_exec_slot = 0;
    fresh.last_exec_at = 0;

    vec![
        (
            "nonDurableCron",
            base_thread(
                b"golden-plain",
                Trigger::Cron {
                    schedule: "0 */5 * * * *".into(),
                    skippable: true,
                    jitter: 30,
                },
                Due::At {
                    unix_ts: 1_900_000_000,
                },
            ),
        ),
        ("durableAccountLeased", durable),
        (
            "slot",
            base_thread(
                b"slot",
                Trigger::Slot { slot: 5_000 },
                Due::AtSlot { slot: 5_000 },
            ),
        ),
        (
            "epoch",
            base_thread(
                b"epoch",
                Trigger::Epoch { epoch: 12 },
                Due::AtEpoch { epoch: 12 },
            ),
        ),
        ("fresh", fresh),
        ("finished", finished),
        (
            "conditionToArm",
            base_thread(
                b"condition",
                pyth_condition(),
                Due::OnCondition { armed: false },
            ),
        ),
    ]
}

fn next_due(due: &Due) -> Value {
    match due {
        Due::Immediately => json!({ "kind": "immediately" }),
        Due::At { unix_ts } => json!({ "kind": "at", "unixTs": unix_ts.to_string() }),
        Due::AtSlot { slot } => json!({ "kind": "atSlot", "slot": slot.to_string() }),
        Due::AtEpoch { epoch } => json!({ "kind": "atEpoch", "epoch": epoch.to_string() }),
        Due::OnChange { last_hash } => json!({ "kind": "onChange", "lastHash": hex(last_hash) }),
        Due::OnCondition { armed } => json!({ "kind": "onCondition", "armed": armed }),
        Due::Never => json!({ "kind": "never" }),
    }
}

/// The balance the view of each golden thread is read with.
const LAMPORTS: u64 = 10_000_000;
/// The rent-exempt minimum the view of each golden thread is read with.
const RENT_MINIMUM: u64 = 3_000_000;

/// What an owner reads of `thread`, in the SDK's names (u64s as strings), holding
/// [`LAMPORTS`] with a rent-exempt minimum of [`RENT_MINIMUM`].
fn expected_view(thread: &Thread) -> Value {
    let reserved = thread.reserve_at(RENT_MINIMUM);
    let spare = LAMPORTS.saturating_sub(reserved);
    let priority = thread.priority.map(|p| match p {
        ThreadPriority::Low => "low",
        ThreadPriority::Medium => "medium",
        ThreadPriority::High => "high",
        ThreadPriority::Critical => "critical",
    });
    let nonce_account = match thread.durability {
        Durability::Durable { nonce_account } => Some(nonce_account.to_string()),
        Durability::NonDurable => None,
    };
    json!({
        "owner": thread.owner.to_string(),
        "id": hex(&thread.id),
        "nextDue": next_due(&thread.next_due),
        "paused": thread.paused,
        "execCount": thread.exec_count.to_string(),
        "lastExecAt": thread.last_exec_at.to_string(),
        "createdAt": thread.created_at.to_string(),
        "feePerExec": thread.fee_per_exec.to_string(),
        "priority": priority,
        "durable": nonce_account.is_some(),
        "nonceAccount": nonce_account,
        "maxLeaseSlots": thread.max_lease_slots.to_string(),
        "lease": thread.lease.map(|lease| json!({
            "holder": lease.holder.to_string(),
            "claimedSlot": lease.claimed_slot.to_string(),
            "expiresSlot": lease.expires_slot.to_string(),
            "bond": lease.bond.to_string(),
            "revokedSlot": lease.revoked_slot.map(|slot| slot.to_string()),
        })),
        "instructions": thread.instructions.len(),
        "lookupTables": thread.lookup_tables.iter().map(Pubkey::to_string).collect::<Vec<_>>(),
        "lamports": LAMPORTS.to_string(),
        "rentExemptMinimum": RENT_MINIMUM.to_string(),
        "reserved": reserved.to_string(),
        "spare": spare.to_string(),
        "withdrawable": thread.withdrawable(LAMPORTS, RENT_MINIMUM).to_string(),
        "runway": spare.checked_div(thread.fee_per_exec).map(|n| n.to_string()),
    })
}

fn thread_accounts() -> Value {
    let executor = key(7);
    let entries: Vec<Value> = threads()
        .into_iter()
        .map(|(name, thread)| {
            let address = Thread::address(&thread.owner, &thread.id).0;
            let space = thread.space();
            let mut data = Vec::with_capacity(space);
            thread.try_serialize(&mut data).unwrap();
            assert!(data.len() <= space, "{name}: {} > {space}", data.len());
            data.resize(space, 0);
            let execution: Vec<Value> =
                match client::durable_exec_thread(&executor, &address, &thread) {
                    Some(ixs) => ixs
                        .into_iter()
                        .map(|ix| entry(name, &address, ix))
                        .collect(),
                    None => vec![entry(
                        name,
                        &address,
                        client::exec_thread(&executor, &address, &thread),
                    )],
                };
            json!({
                "name": name,
                "address": address.to_string(),
                "space": space,
                "data": hex(&data),
                "expect": expected_view(&thread),
                "executor": executor.to_string(),
                "execution": execution,
            })
        })
        .collect();
    json!({ "threads": entries, "leaseInstructions": lease_instructions() })
}

/// The lease as a keeper (`key(7)`) drives it on the durable thread (nonce `key(2)`),
/// and as anyone else (`key(6)`) settles it once it expired (`key(3)`: a forfeit's new
/// nonce account).
fn lease_instructions() -> Vec<Value> {
    let (keeper, nonce, new_nonce, anyone) = (key(7), key(2), key(3), key(6));
    let thread = Thread::address(&key(1), b"golden-durable").0;
    let mut entries = vec![
        entry(
            "claimLease",
            &thread,
            client::claim_lease(&keeper, &thread, &nonce, 300, 1_447_680),
        ),
        entry(
            "renewLease",
            &thread,
            client::renew_lease(&keeper, &thread, &nonce, 450),
        ),
    ];
    let release = client::return_and_release(&keeper, &thread, &keeper, &nonce, true);
    entries.extend(
        release
            .into_iter()
            .map(|ix| entry("returnAndRelease", &thread, ix)),
    );
    entries.push(entry(
        "releaseLease",
        &thread,
        client::release_lease(&anyone, &thread, &keeper, &nonce),
    ));
    entries.push(entry(
        "forfeitLease",
        &thread,
        client::forfeit_lease(&anyone, &thread, &key(1), &nonce, &new_nonce),
    ));
    entries
}

#[test]
fn instruction_data_golden_file_matches_the_program() {
    check_golden(INSTRUCTION_DATA, &instruction_data());
}

#[test]
fn thread_account_golden_file_matches_the_program() {
    check_golden(THREAD_ACCOUNTS, &thread_accounts());
}
