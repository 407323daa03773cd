//! The owner instructions as the program's Rust builders make them, written to
//! `app/test/golden/owner-instructions.json`: the TypeScript client, loading only the
//! committed IDL, must build the same accounts and bytes (`app/test/idl-resolution.test.mjs`).
//! A thread written in pieces goes to `app/test/golden/pieces.json`, which the SDK's
//! `createThreadInPieces` must reproduce transaction for transaction.
//!
//! The file is committed; this test fails when the builders no longer produce it, so a
//! change to an instruction's accounts or arguments reaches the TypeScript side through
//! review. `THREAD_UPDATE_GOLDEN=1` rewrites it instead.
//!
//! The arguments are fixed here and restated in the TypeScript test (from the keys this
//! file records): the instruction data proves both sides encode the same arguments.

use std::path::PathBuf;

use serde_json::{json, Value};
use solana_sdk::instruction::Instruction;
use solana_sdk::pubkey::Pubkey;
use thread::client;
use thread::instructions::{CreateThreadArgs, InstructionPiece, UpdateThreadArgs};
use thread::state::{
    RateLimit, Thread, ThreadAccountMeta, ThreadInstruction, ThreadPriority, Trigger,
};

const GOLDEN: &str = "../app/test/golden/owner-instructions.json";

/// Fixed keys, so the file only changes when an instruction does.
struct GoldenKeys {
    owner: Pubkey,
    nonce: Pubkey,
    new_nonce: Pubkey,
    target_program: Pubkey,
    target_account: Pubkey,
    lookup_table: Pubkey,
}

impl GoldenKeys {
    fn new() -> Self {
        Self {
            owner: Pubkey::new_from_array([1; 32]),
            nonce: Pubkey::new_from_array([2; 32]),
            new_nonce: Pubkey::new_from_array([3; 32]),
            target_program: Pubkey::new_from_array([4; 32]),
            target_account: Pubkey::new_from_array([5; 32]),
            lookup_table: Pubkey::new_from_array([9; 32]),
        }
    }

    fn to_json(&self) -> Value {
        json!({
            "owner": self.owner.to_string(),
            "nonce": self.nonce.to_string(),
            "newNonce": self.new_nonce.to_string(),
            "targetProgram": self.target_program.to_string(),
            "targetAccount": self.target_account.to_string(),
            "lookupTable": self.lookup_table.to_string(),
        })
    }

    /// The instruction both created threads store: one writable account, three bytes.
    fn stored_instruction(&self) -> ThreadInstruction {
        ThreadInstruction {
            program_id: self.target_program,
            accounts: vec![ThreadAccountMeta {
                pubkey: self.target_account,
                is_signer: false,
                is_writable: true,
            }],
            data: vec![1, 2, 3],
        }
    }
}

fn create_args(keys: &GoldenKeys, id: &[u8], trigger: Trigger) -> CreateThreadArgs {
    CreateThreadArgs {
        id: id.to_vec(),
        trigger,
        instructions: vec![keys.stored_instruction()],
        fee_per_exec: 5_000,
        rate_limit: RateLimit {
            max_execs: 2,
            window_slots: 10,
        },
        deposit: 1_000_000,
        priority: Some(ThreadPriority::High),
        lookup_tables: vec![keys.lookup_table],
    }
}

pub(crate) fn entry(name: &str, thread: &Pubkey, ix: Instruction) -> Value {
    let mut entry = json!({ "name": name, "thread": thread.to_string() });
    if let (Some(entry), Value::Object(fields)) = (entry.as_object_mut(), instruction_json(&ix)) {
        entry.extend(fields);
    }
    entry
}

/// An instruction as the golden files write one: program id, keys, hex data.
fn instruction_json(ix: &Instruction) -> Value {
    json!({
        "programId": ix.program_id.to_string(),
        "keys": ix.accounts.iter().map(|meta| json!({
            "pubkey": meta.pubkey.to_string(),
            "isSigner": meta.is_signer,
            "isWritable": meta.is_writable,
        })).collect::<Vec<_>>(),
        "data": ix.data.iter().map(|b| format!("{b:02x}")).collect::<String>(),
    })
}

fn golden() -> Value {
    let keys = GoldenKeys::new();
    let owner = &keys.owner;
    let plain = Thread::address(owner, b"golden-plain").0;
    let durable = Thread::address(owner, b"golden-durable").0;
    let cron = Trigger::Cron {
        schedule: "0 */5 * * * *".into(),
        skippable: true,
        jitter: 30,
    };
    let interval = Trigger::Interval {
        seconds: 3_600,
        skippable: false,
    };
    let update = UpdateThreadArgs {
        trigger: Some(Trigger::Timestamp {
            unix_ts: 1_900_000_000,
        }),
        instructions: None,
        fee_per_exec: Some(7_500),
        rate_limit: None,
        // `Some(None)` (back to the keepers' default) has no encoding in the Anchor TS
        // client, whose nested options both read `null`; a set priority has.
        priority: Some(Some(ThreadPriority::Low)),
        lookup_tables: Some(vec![keys.lookup_table]),
    };
    let instructions = vec![
        entry(
            "createThread",
            &plain,
            client::create_thread(owner, &plain, create_args(&keys, b"golden-plain", cron)),
        ),
        entry(
            "createThreadWithNonce",
            &durable,
            client::create_thread_with_nonce(
                owner,
                &durable,
                &keys.nonce,
                create_args(&keys, b"golden-durable", interval),
                150,
            ),
        ),
        entry(
            "updateThread",
            &plain,
            client::update_thread(owner, &plain, update),
        ),
        entry(
            "appendThreadInstruction",
            &plain,
            client::append_thread_instruction(
                owner,
                &plain,
                InstructionPiece::Continuation {
                    accounts: keys.stored_instruction().accounts,
                    data: vec![4, 5, 6],
                },
            ),
        ),
        entry("pauseThread", &plain, client::pause_thread(owner, &plain)),
        entry("resumeThread", &plain, client::resume_thread(owner, &plain)),
        entry(
            "withdrawThread",
            &plain,
            client::withdraw_thread(owner, &plain, 250_000),
        ),
        entry(
            "deleteThread",
            &plain,
            client::delete_thread(owner, &plain, None, None),
        ),
        entry(
            "deleteDurableThread",
            &durable,
            client::delete_thread(owner, &durable, Some(keys.nonce), None),
        ),
        entry(
            "makeThreadDurable",
            &plain,
            client::make_thread_durable(owner, &plain, &keys.nonce, 300),
        ),
        entry(
            "makeThreadNonDurable",
            &durable,
            client::make_thread_non_durable(owner, &durable, &keys.nonce),
        ),
        entry(
            "rotateThreadNonce",
            &durable,
            client::rotate_thread_nonce(owner, &durable, &keys.nonce, &keys.new_nonce),
        ),
        entry(
            "revokeLease",
            &durable,
            client::revoke_lease(owner, &durable),
        ),
    ];
    json!({ "keys": keys.to_json(), "instructions": instructions })
}

#[test]
fn owner_instruction_golden_file_matches_the_rust_builders() {
    check_golden(GOLDEN, &golden());
}

const PIECES_GOLDEN: &str = "../app/test/golden/pieces.json";
/// The byte budget of each piece in the pieces golden file.
const PIECE_BUDGET: usize = 300;

/// A thread written in pieces (`client::create_in_pieces`): the list, the budget, and
/// every transaction's instructions, for the SDK's `createThreadInPieces` to match.
fn pieces_golden() -> Value {
    let keys = GoldenKeys::new();
    let owner = &keys.owner;
    let thread = Thread::address(owner, b"golden-wide").0;
    let wide = ThreadInstruction {
        program_id: keys.target_program,
        accounts: (10..30u8)
            .map(|byte| ThreadAccountMeta {
                pubkey: Pubkey::new_from_array([byte; 32]),
                is_signer: false,
                is_writable: byte % 2 == 0,
            })
            .collect(),
        data: (0..=255).chain(0..44).collect(),
    };
    let list = vec![keys.stored_instruction(), wide];
    let cron = Trigger::Cron {
        schedule: "0 */5 * * * *".into(),
        skippable: true,
        jitter: 30,
    };
    let plan = client::create_in_pieces(owner, &thread, &list, PIECE_BUDGET, |first| {
        let args = CreateThreadArgs {
            instructions: first,
            ..create_args(&keys, b"golden-wide", cron)
        };
        client::create_thread(owner, &thread, args)
    })
    .expect("the list cuts into pieces");
    let plain = |ixs: &[Instruction]| {
        ixs.iter()
            .map(|ix| entry("piece", &thread, ix.clone()))
            .collect::<Vec<_>>()
    };
    json!({
        "keys": keys.to_json(),
        "budget": PIECE_BUDGET,
        "instructions": list
            .iter()
            .map(|ix| instruction_json(&Instruction::from(ix)))
            .collect::<Vec<_>>(),
        "create": plain(&plan.create),
        "appends": plan.appends.iter().map(|tx| plain(tx)).collect::<Vec<_>>(),
    })
}

#[test]
fn pieces_golden_file_matches_the_rust_client() {
    check_golden(PIECES_GOLDEN, &pieces_golden());
}

/// Compares `value` with the committed golden file at `relative` (from this crate), or
/// rewrites the file under `THREAD_UPDATE_GOLDEN=1`.
pub(crate) fn check_golden(relative: &str, value: &Value) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(relative);
    let fresh = serde_json::to_string_pretty(value).unwrap() + "\n";
    if std::env::var_os("THREAD_UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &fresh).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{} unreadable ({e}): run with THREAD_UPDATE_GOLDEN=1",
            path.display()
        )
    });
    assert!(
        committed == fresh,
        "{} differs from the Rust side: rerun with THREAD_UPDATE_GOLDEN=1, review the diff \
         and make app/ agree",
        path.display()
    );
}
