//! `pause`, `resume`, `update`, `withdraw`, `delete`: changes to a thread's schedule,
//! contents and funds, each refused before signing when the thread's state already says
//! the program would refuse it.

use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::Signer;
use thread::instructions::UpdateThreadArgs;
use thread::state::{Durability, ThreadInstruction};

use super::{fetch_owned, land, pieces, rent, CommandError, Owner, Written};
use crate::refusal::Refusal;
use crate::spec::UpdateSpec;
use crate::submit::fits_one_transaction;

pub async fn pause(owner: Owner<'_>, address: &Pubkey) -> Result<Written, CommandError> {
    refuse_if_paused_is(
        owner,
        address,
        true,
        "the thread is already paused",
        "`threads resume` it instead",
    )
    .await?;
    let ix = thread::client::pause_thread(&owner.keypair.pubkey(), address);
    land(owner, "pause", address, &[], &[ix]).await
}

pub async fn resume(owner: Owner<'_>, address: &Pubkey) -> Result<Written, CommandError> {
    refuse_if_paused_is(
        owner,
        address,
        false,
        "the thread is not paused",
        "nothing to resume; `threads pause` stops it",
    )
    .await?;
    let ix = thread::client::resume_thread(&owner.keypair.pubkey(), address);
    land(owner, "resume", address, &[], &[ix]).await
}

/// Refuses, naming `problem` and `fix`, when the owner's thread already is (`paused`)
/// what the command would make it.
async fn refuse_if_paused_is(
    owner: Owner<'_>,
    address: &Pubkey,
    paused: bool,
    problem: &str,
    fix: &str,
) -> Result<(), CommandError> {
    if fetch_owned(owner, address).await?.thread.paused == paused {
        return Err(Refusal::new("ADDRESS", problem, fix).into());
    }
    Ok(())
}

/// Applies `spec`'s changes; what it leaves out stays.
pub async fn update(
    owner: Owner<'_>,
    address: &Pubkey,
    spec: &UpdateSpec,
) -> Result<Written, CommandError> {
    let args = spec.plan(address)?;
    let paused = fetch_owned(owner, address).await?.thread.paused;
    let signer = owner.keypair.pubkey();
    let ix = thread::client::update_thread(&signer, address, args.clone());
    let instructions = match args.instructions.clone() {
        Some(instructions) if !fits_one_transaction(&signer, std::slice::from_ref(&ix)) => {
            instructions
        }
        _ => return land(owner, "update", address, &[], &[ix]).await,
    };
    // New instructions too large for one transaction: the update carries the first
    // piece and pauses the thread, the rest are appended, the last append resumes it.
    let first = |first: Vec<ThreadInstruction>| {
        let args = UpdateThreadArgs {
            instructions: Some(first),
            ..args.clone()
        };
        thread::client::update_thread(&signer, address, args)
    };
    let planned = pieces::plan(&signer, address, &instructions, paused, &first)?;
    let (signature, transactions) = pieces::write(owner, address, &[], planned).await?;
    Ok(Written::new("update", address, &signature).with_transactions(transactions))
}

/// Moves `amount` lamports of the thread's spare balance back to the owner.
pub async fn withdraw(
    owner: Owner<'_>,
    address: &Pubkey,
    amount: u64,
) -> Result<Written, CommandError> {
    let fetched = fetch_owned(owner, address).await?;
    let rent = rent(owner.chain).await?;
    let withdrawable = fetched
        .thread
        .withdrawable(fetched.lamports, rent.minimum_balance(fetched.data_len));
    if amount == 0 || amount > withdrawable {
        return Err(Refusal::new(
            "AMOUNT",
            format!("{amount} lamports; the thread can give back 1 to {withdrawable} (its balance above rent, any lease bond and, while it runs, one execution's fee)"),
            "withdraw at most the `withdrawable` that `threads show` prints (pause the thread first to free the fee it keeps); `threads delete` returns everything",
        )
        .into());
    }
    let ix = thread::client::withdraw_thread(&owner.keypair.pubkey(), address, amount);
    land(owner, "withdraw", address, &[], &[ix]).await
}

/// Closes the thread (and its nonce account), returning every lamport to the owner.
pub async fn delete(owner: Owner<'_>, address: &Pubkey) -> Result<Written, CommandError> {
    let fetched = fetch_owned(owner, address).await?;
    let thread = &fetched.thread;
    if let Some(lease) = thread.lease {
        let slot = owner.chain.clock().await?.slot;
        if !lease.is_settleable(slot) {
            return Err(Refusal::new(
                "ADDRESS",
                format!(
                    "keeper {} holds the thread's nonce authority until slot {} (now {slot})",
                    lease.holder,
                    lease.settles_at()
                ),
                "`threads revoke-lease` it and delete once its grace window has passed, or wait for the keeper to release it",
            )
            .into());
        }
    }
    let nonce = match thread.durability {
        Durability::Durable { nonce_account } => Some(nonce_account),
        Durability::NonDurable => None,
    };
    let holder = thread.lease.map(|lease| lease.holder);
    let ix = thread::client::delete_thread(&owner.keypair.pubkey(), address, nonce, holder);
    land(owner, "delete", address, &[], &[ix]).await
}
