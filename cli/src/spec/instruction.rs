//! The `[[instructions]]` of a spec: program, accounts and data of each instruction the
//! thread runs, checked against the program's caps and its signing rule (the program can
//! sign only as the thread), to the program's `ThreadInstruction`s.

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use solana_sdk::pubkey::Pubkey;
use thread::state::{
    ThreadAccountMeta, ThreadInstruction, MAX_ACCOUNTS_PER_INSTRUCTION, MAX_INSTRUCTIONS,
    MAX_INSTRUCTIONS_SPACE, MAX_INSTRUCTION_DATA,
};

use super::pubkey;
use crate::refusal::Refusal;

/// The word that stands for the thread's own address in an account's `pubkey`: the PDA
/// follows from the owner and the id, so a spec need not spell it out.
pub const THREAD_WORD: &str = "thread";

const DATA_FORMS: &str =
    "prefix the bytes with their encoding: \"hex:0a1b\", \"base64:Chs=\", \"base58:3yZ\" or \"utf8:text\"";

/// One instruction as written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstructionSpec {
    pub program: String,
    #[serde(default)]
    pub accounts: Vec<AccountSpec>,
    /// `hex:`, `base64:`, `base58:` or `utf8:` and the bytes; none: empty data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
}

/// One account of an instruction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountSpec {
    /// An address, or `thread` for the thread itself.
    pub pubkey: String,
    #[serde(default)]
    pub is_signer: bool,
    #[serde(default)]
    pub is_writable: bool,
}

impl InstructionSpec {
    /// A stored instruction in spec words (data as base64).
    pub fn from_instruction(ix: &ThreadInstruction) -> Self {
        Self {
            program: ix.program_id.to_string(),
            accounts: ix
                .accounts
                .iter()
                .map(|meta| AccountSpec {
                    pubkey: meta.pubkey.to_string(),
                    is_signer: meta.is_signer,
                    is_writable: meta.is_writable,
                })
                .collect(),
            data: (!ix.data.is_empty()).then(|| {
                format!(
                    "base64:{}",
                    base64::engine::general_purpose::STANDARD.encode(&ix.data)
                )
            }),
        }
    }
}

/// The instruction list of the thread at `thread`, with every check the program makes.
pub fn to_instructions(
    specs: &[InstructionSpec],
    thread: &Pubkey,
) -> Result<Vec<ThreadInstruction>, Refusal> {
    if specs.is_empty() || specs.len() > MAX_INSTRUCTIONS {
        return Err(Refusal::new(
            "instructions",
            format!(
                "{} given; a thread runs 1 to {MAX_INSTRUCTIONS}",
                specs.len()
            ),
            "give at least one [[instructions]] table and at most eight",
        ));
    }
    let instructions = specs
        .iter()
        .enumerate()
        .map(|(i, spec)| to_instruction(&format!("instructions[{i}]"), spec, thread))
        .collect::<Result<Vec<_>, _>>()?;
    let space = ThreadInstruction::list_space(&instructions);
    if space > MAX_INSTRUCTIONS_SPACE {
        return Err(Refusal::new(
            "instructions",
            format!("{space} bytes stored; a thread stores at most {MAX_INSTRUCTIONS_SPACE}"),
            "store fewer accounts or less data",
        ));
    }
    Ok(instructions)
}

fn to_instruction(
    field: &str,
    spec: &InstructionSpec,
    thread: &Pubkey,
) -> Result<ThreadInstruction, Refusal> {
    let program_id = pubkey(&format!("{field}.program"), &spec.program)?;
    if program_id == thread::ID {
        return Err(Refusal::new(
            format!("{field}.program"),
            "is the thread program itself, which a thread may not call",
            "target another program",
        ));
    }
    if spec.accounts.len() > MAX_ACCOUNTS_PER_INSTRUCTION {
        return Err(Refusal::new(
            format!("{field}.accounts"),
            format!(
                "{} accounts; at most {MAX_ACCOUNTS_PER_INSTRUCTION}",
                spec.accounts.len()
            ),
            "split the work into more instructions",
        ));
    }
    let accounts = spec
        .accounts
        .iter()
        .enumerate()
        .map(|(j, account)| to_meta(&format!("{field}.accounts[{j}]"), account, thread))
        .collect::<Result<Vec<_>, _>>()?;
    let data_field = format!("{field}.data");
    let data = match &spec.data {
        None => Vec::new(),
        Some(text) => decode_data(&data_field, text)?,
    };
    if data.len() > MAX_INSTRUCTION_DATA {
        return Err(Refusal::new(
            data_field,
            format!("{} bytes; at most {MAX_INSTRUCTION_DATA}", data.len()),
            "shorten the data",
        ));
    }
    Ok(ThreadInstruction {
        program_id,
        accounts,
        data,
    })
}

fn to_meta(field: &str, spec: &AccountSpec, thread: &Pubkey) -> Result<ThreadAccountMeta, Refusal> {
    let key = if spec.pubkey == THREAD_WORD {
        *thread
    } else {
        pubkey(&format!("{field}.pubkey"), &spec.pubkey)?
    };
    if spec.is_signer && key != *thread {
        return Err(Refusal::new(
            format!("{field}.is_signer"),
            format!(
                "{key} is marked signer, but the program can sign only as the thread ({thread})"
            ),
            "set is_signer = false, or use pubkey = \"thread\" for the account that must sign",
        ));
    }
    Ok(ThreadAccountMeta {
        pubkey: key,
        is_signer: spec.is_signer,
        is_writable: spec.is_writable,
    })
}

/// Instruction data from its prefixed text form.
fn decode_data(field: &str, text: &str) -> Result<Vec<u8>, Refusal> {
    let bad = |encoding: &str, e: &dyn std::fmt::Display| {
        Refusal::new(field, format!("is not valid {encoding} ({e})"), DATA_FORMS)
    };
    let Some((encoding, body)) = text.split_once(':') else {
        return Err(Refusal::new(field, "names no encoding", DATA_FORMS));
    };
    match encoding {
        "hex" => decode_hex(body).map_err(|e| bad("hex", &e)),
        "base64" => base64::engine::general_purpose::STANDARD
            .decode(body)
            .map_err(|e| bad("base64", &e)),
        "base58" => bs58::decode(body).into_vec().map_err(|e| bad("base58", &e)),
        "utf8" => Ok(body.as_bytes().to_vec()),
        other => Err(Refusal::new(
            field,
            format!("unknown encoding {other:?}"),
            DATA_FORMS,
        )),
    }
}

fn decode_hex(text: &str) -> Result<Vec<u8>, String> {
    if !text.len().is_multiple_of(2) {
        return Err("an odd number of digits".into());
    }
    (0..text.len())
        .step_by(2)
        .map(|i| {
            text.get(i..i + 2)
                .and_then(|pair| u8::from_str_radix(pair, 16).ok())
                .ok_or_else(|| {
                    format!(
                        "{:?} at {i} is not a hex byte",
                        text.get(i..i + 2).unwrap_or("")
                    )
                })
        })
        .collect()
}
