//! Thread specs: the TOML or JSON files an owner writes to create or update a thread, and
//! their validation into the program's instruction arguments.
//!
//! Owns: the file formats (`CreateSpec`, `UpdateSpec`, and the trigger and instruction
//! tables in `trigger.rs` and `instruction.rs`), reading them (by extension: `.toml` or
//! `.json`), and every check that can be made before signing, each failing with a
//! [`Refusal`] that names the field and a fix. The program checks all of it again; these
//! checks exist so that a mistake costs no fee and says what to change.
//!
//! Must not: touch the chain or the keypair, or write to the spec file.

mod condition;
mod instruction;
mod trigger;

pub use instruction::{AccountSpec, InstructionSpec, THREAD_WORD};
pub use trigger::TriggerSpec;

use std::path::Path;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use solana_sdk::pubkey::Pubkey;
use thread::instructions::{CreateThreadArgs, UpdateThreadArgs};
use thread::state::{RateLimit, ThreadPriority, MAX_ID_LEN};

use crate::refusal::Refusal;

/// How long a durable thread lets a keeper hold its nonce authority when the spec does
/// not say: about an hour of 400 ms slots, well above a keeper's usual lease, so keepers
/// renew rather than re-claim.
pub const DEFAULT_MAX_LEASE_SLOTS: u64 = 9_000;

/// Where the spec format is shown in full, for fixes that need more than a line.
const FORMAT_HINT: &str = "see cli/examples/daily-memo.toml for the spec format";

/// A new thread, as written in a spec file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateSpec {
    /// 1 to 32 bytes of UTF-8, unique among the owner's threads.
    pub id: String,
    pub trigger: TriggerSpec,
    pub instructions: Vec<InstructionSpec>,
    /// Lamports paid to the keeper of each execution.
    pub fee_per_exec: u64,
    /// Lamports beyond rent moved into the thread to pay for executions.
    pub deposit: u64,
    #[serde(default)]
    pub rate_limit: Option<RateLimitSpec>,
    /// low, medium, high or critical; none: each keeper's default.
    #[serde(default)]
    pub priority: Option<String>,
    /// Executions on the thread's own durable nonce rather than a recent blockhash.
    #[serde(default)]
    pub durable: bool,
    /// Durable threads: the longest lease of the nonce authority a keeper may hold.
    #[serde(default)]
    pub max_lease_slots: Option<u64>,
    /// Address lookup tables keepers build executions with (at most 4), for a thread
    /// whose accounts do not fit a legacy transaction.
    #[serde(default)]
    pub lookup_tables: Vec<String>,
}

/// Changes to a thread; what is left out stays as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateSpec {
    #[serde(default)]
    pub trigger: Option<TriggerSpec>,
    #[serde(default)]
    pub instructions: Option<Vec<InstructionSpec>>,
    #[serde(default)]
    pub fee_per_exec: Option<u64>,
    #[serde(default)]
    pub rate_limit: Option<RateLimitSpec>,
    /// A priority, or `default` for each keeper's default.
    #[serde(default)]
    pub priority: Option<String>,
    /// New lookup tables; `[]` removes them all.
    #[serde(default)]
    pub lookup_tables: Option<Vec<String>>,
}

/// Executions allowed per window of slots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitSpec {
    pub max_execs: u32,
    pub window_slots: u64,
}

/// A create spec checked against everything the program will check, for `owner`.
#[derive(Debug, Clone)]
pub struct CreatePlan {
    /// The thread PDA of the owner and the id.
    pub thread: Pubkey,
    pub args: CreateThreadArgs,
    /// `Some(max_lease_slots)` for a durable thread.
    pub durable: Option<u64>,
}

impl CreateSpec {
    /// Every check the program would make, before anything is signed.
    pub fn plan(&self, owner: &Pubkey) -> Result<CreatePlan, Refusal> {
        let id = self.id.as_bytes();
        if id.is_empty() || id.len() > MAX_ID_LEN {
            return Err(Refusal::new(
                "id",
                format!("{} bytes long; an id is 1 to {MAX_ID_LEN} bytes", id.len()),
                "choose a shorter id (it is one seed of the thread's address)",
            ));
        }
        let thread = thread::client::thread_address(owner, id).ok_or_else(|| {
            Refusal::new(
                "id",
                "no thread address derives from it",
                "choose another id",
            )
        })?;
        let trigger = self.trigger.to_trigger("trigger")?;
        let instructions = instruction::to_instructions(&self.instructions, &thread)?;
        if self.fee_per_exec > self.deposit {
            return Err(Refusal::new(
                "fee_per_exec",
                format!(
                    "{} lamports is above the deposit of {}: the thread could not pay for one execution",
                    self.fee_per_exec, self.deposit
                ),
                "raise `deposit` to at least `fee_per_exec` (a multiple pays for that many executions)",
            ));
        }
        let durable = match (self.durable, self.max_lease_slots) {
            (false, Some(_)) => {
                return Err(Refusal::new(
                    "max_lease_slots",
                    "set on a thread that is not durable",
                    "add `durable = true` or remove `max_lease_slots`",
                ))
            }
            (false, None) => None,
            (true, Some(0)) => {
                return Err(Refusal::new(
                    "max_lease_slots",
                    "0: no keeper could ever hold the nonce authority",
                    format!("use at least 1 (default {DEFAULT_MAX_LEASE_SLOTS})"),
                ))
            }
            (true, slots) => Some(slots.unwrap_or(DEFAULT_MAX_LEASE_SLOTS)),
        };
        Ok(CreatePlan {
            thread,
            args: CreateThreadArgs {
                id: id.to_vec(),
                trigger,
                instructions,
                fee_per_exec: self.fee_per_exec,
                rate_limit: rate_limit("rate_limit", self.rate_limit)?.unwrap_or_default(),
                deposit: self.deposit,
                priority: self
                    .priority
                    .as_deref()
                    .map(|p| priority("priority", p))
                    .transpose()?,
                lookup_tables: lookup_tables(&self.lookup_tables)?,
            },
            durable,
        })
    }
}

impl UpdateSpec {
    /// The update's arguments for the thread at `thread`, checked before signing.
    pub fn plan(&self, thread: &Pubkey) -> Result<UpdateThreadArgs, Refusal> {
        let args = UpdateThreadArgs {
            trigger: self
                .trigger
                .as_ref()
                .map(|t| t.to_trigger("trigger"))
                .transpose()?,
            instructions: self
                .instructions
                .as_ref()
                .map(|ixs| instruction::to_instructions(ixs, thread))
                .transpose()?,
            fee_per_exec: self.fee_per_exec,
            rate_limit: rate_limit("rate_limit", self.rate_limit)?,
            priority: self
                .priority
                .as_deref()
                .map(|p| match p {
                    "default" => Ok(None),
                    p => priority("priority", p).map(Some),
                })
                .transpose()?,
            lookup_tables: self
                .lookup_tables
                .as_deref()
                .map(lookup_tables)
                .transpose()?,
        };
        let unchanged = args.trigger.is_none()
            && args.instructions.is_none()
            && args.fee_per_exec.is_none()
            && args.rate_limit.is_none()
            && args.priority.is_none()
            && args.lookup_tables.is_none();
        if unchanged {
            return Err(Refusal::new(
                "update",
                "nothing to change",
                "give a spec with at least one of trigger, instructions, fee_per_exec, rate_limit, priority, lookup_tables, or the matching flags",
            ));
        }
        Ok(args)
    }
}

/// A rate limit the program accepts (both numbers at least 1).
pub fn rate_limit(field: &str, spec: Option<RateLimitSpec>) -> Result<Option<RateLimit>, Refusal> {
    let Some(spec) = spec else { return Ok(None) };
    if spec.max_execs == 0 || spec.window_slots == 0 {
        return Err(Refusal::new(
            field,
            "max_execs and window_slots must both be at least 1",
            "e.g. max_execs = 1, window_slots = 1 (one execution per slot)",
        ));
    }
    Ok(Some(RateLimit {
        max_execs: spec.max_execs,
        window_slots: spec.window_slots,
    }))
}

/// A priority by its name.
pub fn priority(field: &str, name: &str) -> Result<ThreadPriority, Refusal> {
    match name {
        "low" => Ok(ThreadPriority::Low),
        "medium" => Ok(ThreadPriority::Medium),
        "high" => Ok(ThreadPriority::High),
        "critical" => Ok(ThreadPriority::Critical),
        other => Err(Refusal::new(
            field,
            format!("unknown priority {other:?}"),
            "use low, medium, high or critical",
        )),
    }
}

/// The name [`priority`] reads.
pub fn priority_name(priority: ThreadPriority) -> &'static str {
    match priority {
        ThreadPriority::Low => "low",
        ThreadPriority::Medium => "medium",
        ThreadPriority::High => "high",
        ThreadPriority::Critical => "critical",
    }
}

/// Reads a spec file, TOML or JSON by its extension. The file is only read.
pub fn load<T: DeserializeOwned>(path: &Path) -> Result<T, Refusal> {
    let field = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| {
        Refusal::new(
            &field,
            format!("cannot be read: {e}"),
            "give the path of a readable spec file",
        )
    })?;
    match path.extension().and_then(|e| e.to_str()) {
        Some("toml") => toml::from_str(&text).map_err(|e| {
            let line = e
                .span()
                .map(|span| text[..span.start.min(text.len())].lines().count().max(1));
            let at = line.map(|l| format!(" (line {l})")).unwrap_or_default();
            Refusal::new(
                &field,
                format!("is not a valid spec{at}: {}", e.message()),
                FORMAT_HINT,
            )
        }),
        Some("json") => serde_json::from_str(&text)
            .map_err(|e| Refusal::new(&field, format!("is not a valid spec: {e}"), FORMAT_HINT)),
        _ => Err(Refusal::new(
            &field,
            "is neither .toml nor .json",
            "name the spec file with a .toml or .json extension",
        )),
    }
}

/// The `lookup_tables` of a spec, each a base58 address named by its index on refusal.
fn lookup_tables(texts: &[String]) -> Result<Vec<Pubkey>, Refusal> {
    texts
        .iter()
        .enumerate()
        .map(|(index, text)| pubkey(&format!("lookup_tables[{index}]"), text))
        .collect()
}

/// A base58 public key, or a refusal naming `field`.
pub fn pubkey(field: &str, text: &str) -> Result<Pubkey, Refusal> {
    text.parse().map_err(|_| {
        Refusal::new(
            field,
            format!("{text:?} is not a public key"),
            "write a base58 address (32 bytes), as `solana address` prints one",
        )
    })
}
