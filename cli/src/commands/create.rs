//! `create`: a thread from a spec, durable ones with a nonce keypair made here (its
//! address is all that is kept: the thread PDA is the nonce's authority, so the keypair
//! is never needed again).
//!
//! A thread whose instructions do not fit one transaction is written in pieces
//! (`pieces.rs`): created with the first piece and paused in one transaction, the rest
//! appended one transaction each, the last resuming it.

use solana_sdk::signature::{Keypair, Signer};
use thread::state::ThreadInstruction;

use super::{pieces, CommandError, Owner, Written};
use crate::refusal::Refusal;
use crate::spec::CreateSpec;
use crate::submit::{fits_one_transaction, submit};

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
        let planned = pieces::plan(
            &signer,
            &plan.thread,
            &plan.args.instructions,
            false,
            &build,
        )?;
        let (signature, transactions) = pieces::write(owner, &plan.thread, &extra, planned).await?;
        Written::new("create", &plan.thread, &signature).with_transactions(transactions)
    };
    Ok(match &nonce {
        Some(nonce) => written.with_nonce(&nonce.pubkey()),
        None => written,
    })
}
