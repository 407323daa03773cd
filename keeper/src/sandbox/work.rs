//! What a sandbox thread runs: a memo its PDA signs (shows the thread signing by CPI)
//! and, for the threads that steer themselves, the example `responder` program's answer
//! (a counter that reschedules itself, a DCA that stretches its interval, a chain, or any
//! answer verbatim).
//!
//! Owns: turning a plan's work into stored instructions, and the counter account a
//! counting op writes. Must not: create threads (`World::create`).

use solana_sdk::instruction::{AccountMeta, Instruction};
use solana_sdk::pubkey::Pubkey;
use solana_sdk::rent::Rent;
use solana_sdk::signature::{Keypair, Signer};
use solana_system_interface::instruction as system_instruction;
use thread::state::{ThreadAction, ThreadInstruction, ThreadResponse};

use super::world::{send, World, MEMO_PROGRAM};
use crate::chain::ChainError;

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

impl World {
    /// The instructions the thread at `thread` stores for `work`; a counting op gets a
    /// fresh counter account, created here.
    pub(super) async fn instructions_for(
        &self,
        work: &PlanWork,
        thread: &Pubkey,
        label: &str,
    ) -> Result<Vec<ThreadInstruction>, ChainError> {
        let answer = match work {
            PlanWork::Memo => None,
            PlanWork::Reschedule { seconds } => {
                Some(responder::reschedule(&self.new_counter().await?, *seconds))
            }
            PlanWork::Dca {
                first_seconds,
                max_seconds,
            } => Some(responder::dca(
                &self.new_counter().await?,
                *first_seconds,
                *max_seconds,
            )),
            PlanWork::Chain { runs } => Some(responder::chain(&self.new_counter().await?, *runs)),
            PlanWork::Answer(action) => Some(responder::echo(
                &responder::ID,
                &ThreadResponse::new(action.clone()).encode(),
            )),
        };
        Ok(std::iter::once(memo_signed_by(thread, label))
            .chain(answer)
            .map(ThreadInstruction::from)
            .collect())
    }

    /// A rent-exempt counter account the responder owns, paid by the owner (the sandbox's
    /// bank charges the default rent).
    async fn new_counter(&self) -> Result<Pubkey, ChainError> {
        let counter = Keypair::new();
        let space = responder::Counter::LEN;
        let lamports = Rent::default().minimum_balance(space);
        let create = system_instruction::create_account(
            &self.owner.pubkey(),
            &counter.pubkey(),
            lamports,
            space as u64,
            &responder::ID,
        );
        send(self.chain.as_ref(), &[create], &self.owner, &[&counter]).await?;
        Ok(counter.pubkey())
    }
}
