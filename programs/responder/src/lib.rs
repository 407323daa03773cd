//! An example program that answers the threads running it, through return data (see the
//! thread program's `state/response.rs`). Loaded natively beside the thread program in
//! the keeper's bank (the sandbox shows it) and in the tests.
//!
//! Each instruction is an op byte and its arguments (little-endian); ops 0-2 count their
//! runs in a [`Counter`] account this program owns, passed first and writable:
//!
//! - [`Op::Reschedule`]: a counter that reschedules itself `seconds` after each run.
//! - [`Op::Dca`]: a dollar-cost-averaging buyer whose interval doubles after each buy,
//!   up to a cap: the thread's trigger follows.
//! - [`Op::Chain`]: work in batches: each due time runs `runs` executions in a chain.
//! - [`Op::Echo`]: returns its argument bytes verbatim (any answer, well-formed or not).
//! - [`Op::Relay`]: calls another program with the given data and answers nothing
//!   itself, so the return data the thread sees is the callee's.
//! - [`Op::EchoAccount`]: returns the bytes kept in its first account (a little-endian
//!   `u16` length, then the bytes): an answer larger than the instruction that gives it.

use anchor_lang::prelude::{pubkey, AccountInfo, Clock, Pubkey, SolanaSysvar};
use anchor_lang::solana_program::entrypoint::ProgramResult;
use anchor_lang::solana_program::instruction::{AccountMeta, Instruction};
use anchor_lang::solana_program::program::invoke;
use anchor_lang::solana_program::program_error::ProgramError;
use solana_program::program::set_return_data;
use thread::state::{ThreadAction, ThreadResponse, Trigger};

/// Where the banks load this program.
pub const ID: Pubkey = pubkey!("Responder1111111111111111111111111111111111");
/// A second copy, for tests of answers left behind by a program the stored one calls.
pub const OTHER_ID: Pubkey = pubkey!("Responder2111111111111111111111111111111111");

/// The ops, by their first data byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Op {
    Reschedule = 0,
    Dca = 1,
    Chain = 2,
    Echo = 3,
    Relay = 4,
    EchoAccount = 5,
}

/// Run count and the unix time of the last run: 16 bytes at the start of the account.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counter {
    pub runs: u64,
    pub last_run_at: i64,
}

impl Counter {
    pub const LEN: usize = 16;

    pub fn read(data: &[u8]) -> Option<Self> {
        let runs = u64::from_le_bytes(data.get(0..8)?.try_into().ok()?);
        let last_run_at = i64::from_le_bytes(data.get(8..16)?.try_into().ok()?);
        Some(Self { runs, last_run_at })
    }

    fn write(&self, data: &mut [u8]) -> Result<(), ProgramError> {
        let target = data
            .get_mut(0..Self::LEN)
            .ok_or(ProgramError::AccountDataTooSmall)?;
        target[..8].copy_from_slice(&self.runs.to_le_bytes());
        target[8..].copy_from_slice(&self.last_run_at.to_le_bytes());
        Ok(())
    }
}

/// Creates `counter`, a fresh keypair's account (it signs), as a [`Counter`] this
/// program owns, paid by `payer` with `lamports` (its rent exemption).
pub fn create_counter(payer: &Pubkey, counter: &Pubkey, lamports: u64) -> Instruction {
    anchor_lang::solana_program::system_instruction::create_account(
        payer,
        counter,
        lamports,
        Counter::LEN as u64,
        &ID,
    )
}

/// `Reschedule`: count a run on `counter`, then be due again `seconds` after it.
pub fn reschedule(counter: &Pubkey, seconds: i64) -> Instruction {
    counting(counter, Op::Reschedule, &seconds.to_le_bytes())
}

/// `Dca`: count a buy on `counter`; the interval after the n-th buy is
/// `first_seconds * 2^(n-1)`, at most `max_seconds`.
pub fn dca(counter: &Pubkey, first_seconds: i64, max_seconds: i64) -> Instruction {
    let args = [first_seconds.to_le_bytes(), max_seconds.to_le_bytes()].concat();
    counting(counter, Op::Dca, &args)
}

/// `Chain`: count a run on `counter`, answering `Chain` until a multiple of `runs`.
pub fn chain(counter: &Pubkey, runs: u64) -> Instruction {
    counting(counter, Op::Chain, &runs.to_le_bytes())
}

/// `Echo` on `program` (this program's [`ID`] or [`OTHER_ID`]): return `answer` as is.
pub fn echo(program: &Pubkey, answer: &[u8]) -> Instruction {
    Instruction::new_with_bytes(*program, &[&[Op::Echo as u8], answer].concat(), vec![])
}

/// `Relay` on `program`: call `callee` with `data` and answer nothing itself.
pub fn relay(program: &Pubkey, callee: &Pubkey, data: &[u8]) -> Instruction {
    let args = [&[Op::Relay as u8], callee.as_ref(), data].concat();
    Instruction::new_with_bytes(
        *program,
        &args,
        vec![AccountMeta::new_readonly(*callee, false)],
    )
}

/// `EchoAccount`: return the answer kept in `answer_account` (see [`answer_account_data`]).
pub fn echo_account(answer_account: &Pubkey) -> Instruction {
    Instruction::new_with_bytes(
        ID,
        &[Op::EchoAccount as u8],
        vec![AccountMeta::new_readonly(*answer_account, false)],
    )
}

/// The data of an account `EchoAccount` answers `answer` from.
pub fn answer_account_data(answer: &[u8]) -> Vec<u8> {
    let len = u16::try_from(answer.len()).unwrap_or(u16::MAX);
    [&len.to_le_bytes(), answer].concat()
}

fn counting(counter: &Pubkey, op: Op, args: &[u8]) -> Instruction {
    Instruction::new_with_bytes(
        ID,
        &[&[op as u8], args].concat(),
        vec![AccountMeta::new(*counter, false)],
    )
}

pub fn process(program_id: &Pubkey, accounts: &[AccountInfo], data: &[u8]) -> ProgramResult {
    let (&op, args) = data
        .split_first()
        .ok_or(ProgramError::InvalidInstructionData)?;
    match op {
        op if op == Op::Echo as u8 => {
            set_return_data(args);
            Ok(())
        }
        op if op == Op::EchoAccount as u8 => {
            let account = accounts.first().ok_or(ProgramError::NotEnoughAccountKeys)?;
            let data = account.try_borrow_data()?;
            let len = data
                .get(..2)
                .map(|bytes| usize::from(u16::from_le_bytes([bytes[0], bytes[1]])))
                .ok_or(ProgramError::InvalidAccountData)?;
            let answer = data
                .get(2..2 + len)
                .ok_or(ProgramError::InvalidAccountData)?;
            set_return_data(answer);
            Ok(())
        }
        op if op == Op::Relay as u8 => {
            let callee = args
                .get(..32)
                .and_then(|key| Pubkey::try_from(key).ok())
                .ok_or(ProgramError::InvalidInstructionData)?;
            let inner = Instruction::new_with_bytes(callee, &args[32..], vec![]);
            invoke(&inner, accounts)
        }
        op => {
            let action = count_and_answer(program_id, accounts, op, args)?;
            if let Some(action) = action {
                set_return_data(&ThreadResponse::new(action).encode());
            }
            Ok(())
        }
    }
}

fn count_and_answer(
    program_id: &Pubkey,
    accounts: &[AccountInfo],
    op: u8,
    args: &[u8],
) -> Result<Option<ThreadAction>, ProgramError> {
    let counter = accounts.first().ok_or(ProgramError::NotEnoughAccountKeys)?;
    if counter.owner != program_id || !counter.is_writable {
        return Err(ProgramError::IncorrectProgramId);
    }
    let now = Clock::get()?.unix_timestamp;
    let mut data = counter.try_borrow_mut_data()?;
    let mut state = Counter::read(&data).ok_or(ProgramError::AccountDataTooSmall)?;
    state.runs = state.runs.saturating_add(1);
    state.last_run_at = now;
    state.write(&mut data)?;
    let word = |index: usize| -> Result<[u8; 8], ProgramError> {
        args.get(index * 8..index * 8 + 8)
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or(ProgramError::InvalidInstructionData)
    };
    Ok(match op {
        op if op == Op::Reschedule as u8 => {
            let seconds = i64::from_le_bytes(word(0)?);
            Some(ThreadAction::Trigger(Trigger::Timestamp {
                unix_ts: now.saturating_add(seconds),
            }))
        }
        op if op == Op::Dca as u8 => {
            let first = i64::from_le_bytes(word(0)?);
            let max = i64::from_le_bytes(word(1)?);
            Some(ThreadAction::Trigger(Trigger::Interval {
                seconds: dca_interval(first, max, state.runs),
                skippable: true,
            }))
        }
        op if op == Op::Chain as u8 => {
            let runs = u64::from_le_bytes(word(0)?).max(1);
            (state.runs % runs != 0).then_some(ThreadAction::Chain)
        }
        _ => return Err(ProgramError::InvalidInstructionData),
    })
}

/// The interval after the `buys`-th buy: `first * 2^(buys-1)`, capped at `max`.
pub fn dca_interval(first: i64, max: i64, buys: u64) -> i64 {
    let doublings = u32::try_from(buys.saturating_sub(1))
        .unwrap_or(u32::MAX)
        .min(62);
    first.saturating_mul(1_i64 << doublings).min(max)
}
