//! Golden vectors of `ThreadResponse`, the answer a stored instruction's program returns,
//! for the TypeScript SDK (`app/test/golden-responses.test.mjs`), which decodes each,
//! re-encodes it byte for byte and builds some from scratch:
//! `app/test/golden/thread-responses.json`, one per action kind.
//! `THREAD_UPDATE_GOLDEN=1` rewrites.

use serde_json::{json, Value};
use solana_sdk::pubkey::Pubkey;
use thread::state::{ThreadAccountMeta, ThreadAction, ThreadInstruction, ThreadResponse, Trigger};

use super::golden::check_golden;

const THREAD_RESPONSES: &str = "../app/test/golden/thread-responses.json";

fn responses() -> Value {
    let instruction = ThreadInstruction {
        program_id: Pubkey::new_from_array([4; 32]),
        accounts: vec![ThreadAccountMeta {
            pubkey: Pubkey::new_from_array([5; 32]),
            is_signer: true,
            is_writable: false,
        }],
        data: vec![1, 2, 3],
    };
    let vectors = [
        (
            "trigger/interval",
            ThreadAction::Trigger(Trigger::Interval {
                seconds: 120,
                skippable: true,
            }),
        ),
        (
            "trigger/timestamp",
            ThreadAction::Trigger(Trigger::Timestamp {
                unix_ts: 1_900_000_000,
            }),
        ),
        (
            "instructions",
            ThreadAction::Instructions(vec![instruction]),
        ),
        ("pause", ThreadAction::Pause),
        ("chain", ThreadAction::Chain),
        ("close", ThreadAction::Close),
    ];
    let entries: Vec<Value> = vectors
        .into_iter()
        .map(|(name, action)| {
            let bytes = ThreadResponse::new(action).encode();
            json!({
                "name": name,
                "data": bytes.iter().map(|b| format!("{b:02x}")).collect::<String>(),
            })
        })
        .collect();
    json!({ "responses": entries })
}

#[test]
fn thread_response_golden_file_matches_the_program() {
    check_golden(THREAD_RESPONSES, &responses());
}
