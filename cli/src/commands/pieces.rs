//! Writing a thread's instructions when they do not fit one transaction, for `create` and
//! `update`: `thread::client::write_in_pieces` cuts them (the first piece goes into the
//! creation or update, which pauses the thread in the same transaction; the rest are
//! appended one transaction each; the last resumes it), at the largest piece budget whose
//! every transaction fits. Progress goes to stderr; a failure part way names what was
//! written and how to recover.

use solana_sdk::instruction::Instruction;
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::{Keypair, Signature};
use thread::client::{write_in_pieces, PiecewiseCreation};
use thread::state::ThreadInstruction;

use super::{CommandError, Owner};
use crate::refusal::Refusal;
use crate::submit::{fits_one_transaction, submit};

/// Bytes of accounts and data per piece tried first, then smaller until every
/// transaction fits (the trigger, lookup tables and a durable thread's nonce accounts
/// take room in the first one too).
const PIECE_BUDGETS: [usize; 6] = [700, 600, 500, 400, 300, 200];

/// The transactions writing `instructions` into `thread`: `first` builds the creation or
/// update from the first piece's one-instruction list. A thread the owner already paused
/// is neither paused again nor resumed at the end.
pub fn plan(
    signer: &Pubkey,
    thread: &Pubkey,
    instructions: &[ThreadInstruction],
    already_paused: bool,
    first: &dyn Fn(Vec<ThreadInstruction>) -> Instruction,
) -> Result<PiecewiseCreation, CommandError> {
    for budget in PIECE_BUDGETS {
        let Ok(pieces) =
            write_in_pieces(signer, thread, instructions, budget, already_paused, first)
        else {
            continue;
        };
        let all_fit = fits_one_transaction(signer, &pieces.create)
            && pieces
                .appends
                .iter()
                .all(|append| fits_one_transaction(signer, append));
        if all_fit {
            return Ok(pieces);
        }
    }
    Err(Refusal::new(
        "lookup_tables",
        "the first transaction does not fit even with the instructions written in pieces",
        "set fewer lookup tables in the same command (add them later with `threads update`)",
    )
    .into())
}

/// Sends `pieces` in order and returns the first transaction's signature and how many
/// transactions it took.
pub async fn write(
    owner: Owner<'_>,
    thread: &Pubkey,
    extra: &[&Keypair],
    pieces: PiecewiseCreation,
) -> Result<(Signature, usize), CommandError> {
    let total = pieces.appends.len() + 1;
    eprintln!("the thread's instructions do not fit one transaction: writing them in {total} transactions");
    let signature = submit(owner.chain, owner.keypair, extra, &pieces.create).await?;
    eprintln!("1/{total}: written, the thread paused while the rest is");
    for (i, append) in pieces.appends.iter().enumerate() {
        let written = i + 2;
        if let Err(source) = submit(owner.chain, owner.keypair, &[], append).await {
            return Err(CommandError::PartlyWritten {
                thread: *thread,
                written: written - 1,
                total,
                source: Box::new(source),
            });
        }
        eprintln!("{written}/{total}: written");
    }
    Ok((signature, total))
}
