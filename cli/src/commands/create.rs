//! `create`: a thread from a spec, durable ones with a nonce keypair made here (its
//! address is all that is kept: the thread PDA is the nonce's authority, so the keypair
//! is never needed again).
//!
//! A thread whose instructions do not fit one transaction is written in pieces
//! (`thread::client::create_in_pieces`): created with the first piece and paused in one
//! transaction, the rest appended one transaction each, the last resuming it. Progress
//! goes to stderr; a failure part way names what was written and how to start over.

use solana_sdk::instruction::Instruction;
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::{Keypair, Signer};
use thread::client::{create_in_pieces, PiecewiseCreation};
use thread::state::ThreadInstruction;

use super::{CommandError, Owner, Written};
use crate::refusal::Refusal;
use crate::spec::CreateSpec;
use crate::submit::{fits_one_transaction, submit};

/// Bytes of accounts and data per piece tried first, then smaller until the creation
/// transaction fits (its trigger, lookup tables and a durable thread's nonce accounts
/// take room too).
const PIECE_BUDGETS: [usize; 6] = [700, 600, 500, 400, 300, 200];

pub async fn create(owner: Owner<'_>, spec: &CreateSpec) -> Result<Written, CommandError> {
    let signer = owner.keypair.pubkey();
    let plan = spec.plan(&signer)?;
    if let Some(existing) = owner.chain.get_account(&plan.thread).await? {
        if existing.owner == thread::ID {
            return Err(Refusal::new(
                "id",
                format!("you already have a thread {:?} at {}", spec.id, plan.thread),
                "choose another id, or `threads delete` the existing thread first",
            )
            .into());
        }
    }
    let nonce = plan.durable.map(|_| Keypair::new());
    let args = plan.args.clone();
    let build = |instructions: Vec<ThreadInstruction>| {
        let args = thread::instructions::CreateThreadArgs {
            instructions,
            ..args.clone()
        };
        match (&nonce, plan.durable) {
            (Some(nonce), Some(max_lease_slots)) => thread::client::create_thread_with_nonce(
                &signer,
                &plan.thread,
                &nonce.pubkey(),
                args,
                max_lease_slots,
            ),
            _ => thread::client::create_thread(&signer, &plan.thread, args),
        }
    };
    let extra: Vec<&Keypair> = nonce.iter().collect();
    let whole = build(plan.args.instructions.clone());
    let written = if fits_one_transaction(&signer, std::slice::from_ref(&whole)) {
        let signature = submit(owner.chain, owner.keypair, &extra, &[whole]).await?;
        Written::new("create", &plan.thread, &signature)
    } else {
        let pieces = plan_pieces(&signer, &plan.thread, &plan.args.instructions, &build)?;
        write_in_pieces(owner, &plan.thread, &extra, pieces).await?
    };
    Ok(match &nonce {
        Some(nonce) => written.with_nonce(&nonce.pubkey()),
        None => written,
    })
}

/// The largest piece budget whose every transaction fits.
fn plan_pieces(
    signer: &Pubkey,
    thread: &Pubkey,
    instructions: &[ThreadInstruction],
    build: &dyn Fn(Vec<ThreadInstruction>) -> Instruction,
) -> Result<PiecewiseCreation, CommandError> {
    for budget in PIECE_BUDGETS {
        let Ok(pieces) = create_in_pieces(signer, thread, instructions, budget, build) else {
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
        "the creation transaction does not fit even with its instructions written in pieces",
        "use fewer lookup tables at creation (add them later with `threads update`)",
    )
    .into())
}

async fn write_in_pieces(
    owner: Owner<'_>,
    thread: &Pubkey,
    extra: &[&Keypair],
    pieces: PiecewiseCreation,
) -> Result<Written, CommandError> {
    let total = pieces.appends.len() + 1;
    eprintln!("the thread's instructions do not fit one transaction: writing them in {total} transactions");
    let signature = submit(owner.chain, owner.keypair, extra, &pieces.create).await?;
    eprintln!("1/{total}: created {thread}, paused while it is written");
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
    Ok(Written::new("create", thread, &signature).with_transactions(total))
}
