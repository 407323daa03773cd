//! Writing a thread whose instructions do not fit one transaction: the list is cut into
//! [`InstructionPiece`]s of at most a byte budget each. The thread is created with the
//! first piece and paused in the same transaction (so no keeper runs a list half
//! written), each further piece is appended by `append_thread_instruction`, and the last
//! transaction resumes it. [`create_in_pieces`] plans those transactions' instructions;
//! the caller signs and sends them in order.

use anchor_lang::prelude::Pubkey;
use anchor_lang::solana_program::instruction::Instruction;
use anchor_lang::Space;

use super::{append_thread_instruction, pause_thread, resume_thread};
use crate::instructions::InstructionPiece;
use crate::state::{ThreadAccountMeta, ThreadInstruction};

/// Bytes a piece spends besides its accounts and data: the program id and two length
/// prefixes for a new instruction (a continuation has no program id, but one more enum
/// tag; counted alike to keep the arithmetic simple and conservative).
const PIECE_OVERHEAD: usize = 32 + 4 + 4 + 1;

/// The smallest budget: room for one account.
pub const MIN_PIECE_BUDGET: usize = PIECE_OVERHEAD + ThreadAccountMeta::INIT_SPACE;

/// Why a list cannot be cut into pieces of a budget.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PiecesError {
    BudgetTooSmall { budget: usize },
    NoInstructions,
}

impl std::fmt::Display for PiecesError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::BudgetTooSmall { budget } => write!(
                f,
                "a piece budget of {budget} bytes holds no account; use at least {MIN_PIECE_BUDGET}"
            ),
            Self::NoInstructions => f.write_str("a thread stores at least one instruction"),
        }
    }
}

impl std::error::Error for PiecesError {}

/// Cuts `instructions` into pieces of at most `budget` bytes of program id, accounts and
/// data each, in order: every instruction starts with an [`InstructionPiece::Instruction`]
/// (as many of its accounts as fit, then its data) and continues with
/// [`InstructionPiece::Continuation`]s; a piece holds data only once all of its
/// instruction's accounts are written. Applied in order, they rebuild the list exactly.
pub fn in_pieces(
    instructions: &[ThreadInstruction],
    budget: usize,
) -> Result<Vec<InstructionPiece>, PiecesError> {
    let meta = ThreadAccountMeta::INIT_SPACE;
    if budget < MIN_PIECE_BUDGET {
        return Err(PiecesError::BudgetTooSmall { budget });
    }
    let room = budget.saturating_sub(PIECE_OVERHEAD);
    if instructions.is_empty() {
        return Err(PiecesError::NoInstructions);
    }
    let mut pieces = Vec::new();
    for instruction in instructions {
        let (mut accounts, mut data) =
            (instruction.accounts.as_slice(), instruction.data.as_slice());
        let mut first = true;
        while first || !accounts.is_empty() || !data.is_empty() {
            let taken_accounts = accounts.len().min(room.checked_div(meta).unwrap_or(0));
            let left = room.saturating_sub(taken_accounts.saturating_mul(meta));
            let taken_data = if taken_accounts == accounts.len() {
                data.len().min(left)
            } else {
                0
            };
            let (these_accounts, rest_accounts) = accounts.split_at(taken_accounts);
            let (this_data, rest_data) = data.split_at(taken_data);
            pieces.push(if first {
                InstructionPiece::Instruction {
                    instruction: ThreadInstruction {
                        program_id: instruction.program_id,
                        accounts: these_accounts.to_vec(),
                        data: this_data.to_vec(),
                    },
                }
            } else {
                InstructionPiece::Continuation {
                    accounts: these_accounts.to_vec(),
                    data: this_data.to_vec(),
                }
            });
            (accounts, data, first) = (rest_accounts, rest_data, false);
        }
    }
    Ok(pieces)
}

/// The transactions that write a thread in pieces, each a list of instructions the
/// owner signs, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PiecewiseCreation {
    /// The thread's creation or update (built by the caller from the first
    /// instruction), then `pause_thread` when there are appends and the thread was not
    /// already paused.
    pub create: Vec<Instruction>,
    /// One `append_thread_instruction` per transaction; the last also resumes the
    /// thread when the first transaction paused it.
    pub appends: Vec<Vec<Instruction>>,
}

/// Plans writing `instructions` into the thread at `thread` in pieces of `budget` bytes:
/// `create` builds the creation instruction (plain or durable) from the first piece's
/// one-instruction list.
pub fn create_in_pieces(
    owner: &Pubkey,
    thread: &Pubkey,
    instructions: &[ThreadInstruction],
    budget: usize,
    create: impl FnOnce(Vec<ThreadInstruction>) -> Instruction,
) -> Result<PiecewiseCreation, PiecesError> {
    write_in_pieces(owner, thread, instructions, budget, false, create)
}

/// Plans writing `instructions` into a new or existing thread in pieces of `budget`
/// bytes: `first` builds the creation or update from the first piece's one-instruction
/// list. A thread the owner has `already_paused` is neither paused again (the program
/// would refuse it) nor resumed at the end: it stays as the owner left it.
pub fn write_in_pieces(
    owner: &Pubkey,
    thread: &Pubkey,
    instructions: &[ThreadInstruction],
    budget: usize,
    already_paused: bool,
    first: impl FnOnce(Vec<ThreadInstruction>) -> Instruction,
) -> Result<PiecewiseCreation, PiecesError> {
    let mut pieces = in_pieces(instructions, budget)?.into_iter();
    let first_instruction = match pieces.next() {
        Some(InstructionPiece::Instruction { instruction }) => instruction,
        _ => return Err(PiecesError::NoInstructions),
    };
    let mut appends: Vec<Vec<Instruction>> = pieces
        .map(|piece| vec![append_thread_instruction(owner, thread, piece)])
        .collect();
    let mut create = vec![first(vec![first_instruction])];
    match appends.last_mut() {
        Some(last) if !already_paused => {
            create.push(pause_thread(owner, thread));
            last.push(resume_thread(owner, thread));
        }
        // One piece after all, or a thread the owner keeps paused: nothing to pause for.
        _ => {}
    }
    Ok(PiecewiseCreation { create, appends })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instruction(program: u8, accounts: usize, data: usize) -> ThreadInstruction {
        ThreadInstruction {
            program_id: Pubkey::new_from_array([program; 32]),
            accounts: (0..accounts)
                .map(|i| ThreadAccountMeta {
                    pubkey: Pubkey::new_from_array([u8::try_from(i).unwrap(); 32]),
                    is_signer: false,
                    is_writable: i % 2 == 0,
                })
                .collect(),
            data: (0..data).map(|i| u8::try_from(i % 251).unwrap()).collect(),
        }
    }

    /// What the program does with pieces, in order.
    fn rebuild(pieces: &[InstructionPiece]) -> Vec<ThreadInstruction> {
        let mut list: Vec<ThreadInstruction> = Vec::new();
        for piece in pieces {
            match piece {
                InstructionPiece::Instruction { instruction } => list.push(instruction.clone()),
                InstructionPiece::Continuation { accounts, data } => {
                    let last = list.last_mut().unwrap();
                    last.accounts.extend(accounts.iter().cloned());
                    last.data.extend(data.iter().cloned());
                }
            }
        }
        list
    }

    fn size(piece: &InstructionPiece) -> usize {
        let (accounts, data) = match piece {
            InstructionPiece::Instruction { instruction } => {
                (instruction.accounts.len(), instruction.data.len())
            }
            InstructionPiece::Continuation { accounts, data } => (accounts.len(), data.len()),
        };
        PIECE_OVERHEAD + accounts * ThreadAccountMeta::INIT_SPACE + data
    }

    #[test]
    fn pieces_rebuild_the_list_exactly_within_the_budget() {
        let lists = [
            vec![instruction(1, 32, 1_000)],
            vec![
                instruction(1, 3, 10),
                instruction(2, 0, 0),
                instruction(3, 20, 600),
            ],
            vec![instruction(4, 0, 1_024)],
        ];
        for list in lists {
            for budget in [PIECE_OVERHEAD + 34, 100, 300, 641, 5_000] {
                let pieces = in_pieces(&list, budget).unwrap();
                assert_eq!(rebuild(&pieces), list, "budget {budget}");
                assert!(pieces.iter().all(|p| size(p) <= budget), "budget {budget}");
                let starts = pieces
                    .iter()
                    .filter(|p| matches!(p, InstructionPiece::Instruction { .. }))
                    .count();
                assert_eq!(starts, list.len(), "one start per instruction");
            }
        }
    }

    #[test]
    fn a_budget_without_room_for_an_account_or_an_empty_list_is_refused() {
        let list = [instruction(1, 1, 0)];
        assert_eq!(
            in_pieces(&list, PIECE_OVERHEAD + 33),
            Err(PiecesError::BudgetTooSmall {
                budget: PIECE_OVERHEAD + 33
            })
        );
        assert_eq!(in_pieces(&[], 500), Err(PiecesError::NoInstructions));
    }

    #[test]
    fn a_creation_pauses_first_and_the_last_append_resumes() {
        let (owner, thread) = (Pubkey::new_unique(), Pubkey::new_unique());
        let marker = |list: Vec<ThreadInstruction>| Instruction {
            program_id: Pubkey::default(),
            accounts: vec![],
            data: vec![u8::try_from(list.len()).unwrap()],
        };
        let plan =
            create_in_pieces(&owner, &thread, &[instruction(1, 30, 0)], 300, marker).unwrap();
        assert_eq!(plan.create.len(), 2);
        assert_eq!(plan.create[1], pause_thread(&owner, &thread));
        assert!(plan.appends.iter().all(|tx| !tx.is_empty()));
        assert_eq!(
            plan.appends.last().unwrap().last().unwrap(),
            &resume_thread(&owner, &thread)
        );

        let small =
            create_in_pieces(&owner, &thread, &[instruction(1, 2, 0)], 300, marker).unwrap();
        assert_eq!(small.create.len(), 1, "one piece: no pause");
        assert!(small.appends.is_empty());
    }

    #[test]
    fn a_thread_already_paused_is_neither_paused_again_nor_resumed() {
        let (owner, thread) = (Pubkey::new_unique(), Pubkey::new_unique());
        let marker = |_: Vec<ThreadInstruction>| Instruction {
            program_id: Pubkey::default(),
            accounts: vec![],
            data: vec![],
        };
        let list = [instruction(1, 30, 0)];
        let plan = write_in_pieces(&owner, &thread, &list, 300, true, marker).unwrap();
        let running = write_in_pieces(&owner, &thread, &list, 300, false, marker).unwrap();
        assert_eq!(plan.create, running.create[..1]);
        assert_eq!(plan.appends.len(), running.appends.len());
        assert!(plan.appends.len() > 1);
        assert!(plan.appends.iter().all(|tx| tx.len() == 1));
    }
}
