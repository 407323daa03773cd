//! What a client needs in the IDL to resolve accounts that Anchor's derive cannot say.
//!
//! Owns: one more section for `scripts/idl.py` to merge, printed by a test beside
//! Anchor's own `__anchor_private_print_idl_*` tests: the thread PDA of the two create
//! instructions, and the fixed addresses of the event authority and the program, the two
//! accounts `#[event_cpi]` adds to every instruction (its address constraint is an
//! expression Anchor's IDL build does not evaluate).
//!
//! The create instructions carry no seeds constraint on purpose: Anchor derives a seeds
//! constraint's PDA before the handler runs, and an over-long id aborts that derivation
//! without an error code, where the handler refuses it as `InvalidId` and then checks the
//! address itself (`ThreadAddressMismatch`). So the seeds reach the IDL from here, built
//! from `Thread::SEED`, and nothing on-chain changes.
//!
//! Must not: change what the program checks, or describe an account the derive already
//! describes (`scripts/idl.py` refuses to overwrite what Anchor emitted).

use anchor_lang::idl::serde_json::{self, json};
use anchor_lang::idl::types::{IdlPda, IdlSeed, IdlSeedAccount, IdlSeedArg, IdlSeedConst};

use crate::state::Thread;

/// The instructions that create a thread at `[Thread::SEED, owner, args.id]`.
const CREATING_INSTRUCTIONS: [&str; 2] = ["create_thread", "create_thread_with_nonce"];

fn new_thread_pda() -> IdlPda {
    IdlPda {
        seeds: vec![
            IdlSeed::Const(IdlSeedConst {
                value: Thread::SEED.to_vec(),
            }),
            IdlSeed::Account(IdlSeedAccount {
                path: "owner".into(),
                account: None,
            }),
            IdlSeed::Arg(IdlSeedArg {
                path: "args.id".into(),
            }),
        ],
        program: None,
    }
}

#[test]
fn print_idl_resolution() {
    let section = json!({
        "pdas": CREATING_INSTRUCTIONS.map(|instruction| json!({
            "instruction": instruction,
            "account": "thread",
            "pda": new_thread_pda(),
        })),
        "addresses": {
            "event_authority": crate::EVENT_AUTHORITY_AND_BUMP.0.to_string(),
            "program": crate::ID.to_string(),
        },
    });
    let body = serde_json::to_string_pretty(&section)
        .unwrap_or_else(|e| panic!("the resolution section must serialize: {e}"));
    println!("--- IDL begin resolution ---\n{body}\n--- IDL end resolution ---");
}
