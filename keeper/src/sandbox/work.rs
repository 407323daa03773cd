//! What a sandbox thread runs: a memo its PDA signs (shows the thread signing by CPI)
//! and, for the threads that steer themselves, the example `responder` program's answer
//! (a counter that reschedules itself, a DCA that stretches its interval, a chain, or any
//! answer verbatim).
//!
//! Owns: turning a plan's work into stored instructions, and the counter account a
//! counting op writes. Must not: send anything or create threads (`World::create`).

use solana_sdk::instruction::{AccountMeta, Instruction};
use solana_sdk::pubkey::Pubkey;
use solana_sdk::rent::Rent;
use solana_sdk::signature::{Keypair, Signer};
use thread::state::{ThreadAction, ThreadInstruction, ThreadResponse};

/// SPL Memo v3, loaded in every program-test bank: it checks that every account it is
/// given signed, so a memo signed by the thread PDA shows the PDA signing by CPI.
pub const MEMO_PROGRAM: Pubkey = solana_sdk::pubkey!("MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr");

/// What a planned thread does on each execution, after its memo.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum PlanWork {
    /// The memo alone.
    #[default]
    Memo,
    /// A counter that reschedules itself `seconds` after each run.
    Reschedule { seconds: i64 },
    /// A DCA buyer whose interval doubles after each buy from `first_seconds` up to
    /// `max_seconds`.
    Dca {
        first_seconds: i64,
        max_seconds: i64,
    },
    /// `runs` executions per due time, chained.
    Chain { runs: u64 },
    /// This answer, after every run.
    Answer(ThreadAction),
}

/// A memo signed by `thread` (the PDA signature comes from `invoke_signed`).
pub fn memo_signed_by(thread: &Pubkey, label: &str) -> Instruction {
    Instruction {
        program_id: MEMO_PROGRAM,
        accounts: vec![AccountMeta::new_readonly(*thread, true)],
        data: format!("sandbox thread {label}").into_bytes(),
    }
}

/// A planned thread's stored instructions, and the accounts to create before it (a
/// counting op's counter, which signs its own creation).
pub struct PlannedWork {
    pub setup: Option<(Instruction, Keypair)>,
    pub instructions: Vec<ThreadInstruction>,
}

/// What the thread at `thread` stores for `work`; a counting op's fresh counter account
/// is paid by `payer` (at the sandbox bank's default rent) in `setup`.
pub fn plan_work(work: &PlanWork, thread: &Pubkey, label: &str, payer: &Pubkey) -> PlannedWork {
    let counter = Keypair::new();
    let answer = match work {
        PlanWork::Memo => None,
        PlanWork::Reschedule { seconds } => {
            Some(responder::reschedule(&counter.pubkey(), *seconds))
        }
        PlanWork::Dca {
            first_seconds,
            max_seconds,
        } => Some(responder::dca(
            &counter.pubkey(),
            *first_seconds,
            *max_seconds,
        )),
        PlanWork::Chain { runs } => Some(responder::chain(&counter.pubkey(), *runs)),
        PlanWork::Answer(action) => Some(responder::echo(
            &responder::ID,
            &ThreadResponse::new(action.clone()).encode(),
        )),
    };
    let counts = answer.as_ref().is_some_and(|ix| {
        ix.accounts
            .iter()
            .any(|meta| meta.pubkey == counter.pubkey())
    });
    let setup = counts.then(|| {
        let lamports = Rent::default().minimum_balance(responder::Counter::LEN);
        (
            responder::create_counter(payer, &counter.pubkey(), lamports),
            counter,
        )
    });
    PlannedWork {
        setup,
        instructions: std::iter::once(memo_signed_by(thread, label))
            .chain(answer)
            .map(ThreadInstruction::from)
            .collect(),
    }
}
