//! `create`: a thread from a spec, durable ones with a nonce keypair made here (its
//! address is all that is kept: the thread PDA is the nonce's authority, so the keypair
//! is never needed again).

use solana_sdk::signature::{Keypair, Signer};

use super::{CommandError, Owner, Written};
use crate::refusal::Refusal;
use crate::spec::CreateSpec;
use crate::submit::submit;

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
    match plan.durable {
        None => {
            let ix = thread::client::create_thread(&signer, &plan.thread, plan.args);
            let signature = submit(owner.chain, owner.keypair, &[], &[ix]).await?;
            Ok(Written::new("create", &plan.thread, &signature))
        }
        Some(max_lease_slots) => {
            let nonce = Keypair::new();
            let ix = thread::client::create_thread_with_nonce(
                &signer,
                &plan.thread,
                &nonce.pubkey(),
                plan.args,
                max_lease_slots,
            );
            let signature = submit(owner.chain, owner.keypair, &[&nonce], &[ix]).await?;
            Ok(Written::new("create", &plan.thread, &signature).with_nonce(&nonce.pubkey()))
        }
    }
}
