//! `make-durable`, `make-non-durable`, `rotate-nonce`, `revoke-lease`: the thread's nonce
//! account and the lease of its authority. New nonce accounts are fresh keypairs made
//! here; only their address matters afterwards (the thread PDA is the authority).

use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::{Keypair, Signer};
use thread::state::{Durability, Thread};

use super::{fetch_owned, land, CommandError, Owner, Written};
use crate::refusal::Refusal;

pub async fn make_durable(
    owner: Owner<'_>,
    address: &Pubkey,
    max_lease_slots: u64,
) -> Result<Written, CommandError> {
    if max_lease_slots == 0 {
        return Err(Refusal::new(
            "--max-lease-slots",
            "0: no keeper could ever hold the nonce authority",
            "use at least 1",
        )
        .into());
    }
    let fetched = fetch_owned(owner, address).await?;
    if let Durability::Durable { nonce_account } = fetched.thread.durability {
        return Err(Refusal::new(
            "ADDRESS",
            format!("the thread is already durable on nonce {nonce_account}"),
            "`threads rotate-nonce` to move it to a fresh nonce account",
        )
        .into());
    }
    let nonce = Keypair::new();
    let ix = thread::client::make_thread_durable(
        &owner.keypair.pubkey(),
        address,
        &nonce.pubkey(),
        max_lease_slots,
    );
    Ok(land(owner, "make-durable", address, &[&nonce], &[ix])
        .await?
        .with_nonce(&nonce.pubkey()))
}

pub async fn make_non_durable(owner: Owner<'_>, address: &Pubkey) -> Result<Written, CommandError> {
    let thread = fetch_owned(owner, address).await?.thread;
    let nonce = durable_without_lease(&thread)?;
    let ix = thread::client::make_thread_non_durable(&owner.keypair.pubkey(), address, &nonce);
    land(owner, "make-non-durable", address, &[], &[ix]).await
}

pub async fn rotate_nonce(owner: Owner<'_>, address: &Pubkey) -> Result<Written, CommandError> {
    let thread = fetch_owned(owner, address).await?.thread;
    let old = durable_without_lease(&thread)?;
    let new = Keypair::new();
    let ix =
        thread::client::rotate_thread_nonce(&owner.keypair.pubkey(), address, &old, &new.pubkey());
    Ok(land(owner, "rotate-nonce", address, &[&new], &[ix])
        .await?
        .with_nonce(&new.pubkey()))
}

/// Ends a keeper's live lease now; the keeper keeps a grace window to hand back the
/// nonce authority.
pub async fn revoke_lease(owner: Owner<'_>, address: &Pubkey) -> Result<Written, CommandError> {
    let thread = fetch_owned(owner, address).await?.thread;
    let slot = owner.chain.clock().await?.slot;
    match thread.lease {
        Some(lease) if lease.is_live(slot) => {}
        Some(lease) if lease.revoked_slot.is_some() => {
            return Err(Refusal::new(
                "ADDRESS",
                "the lease is already revoked",
                "wait for its holder to release it",
            )
            .into())
        }
        _ => {
            return Err(Refusal::new(
                "ADDRESS",
                "no keeper holds a live lease on this thread",
                "nothing to revoke",
            )
            .into())
        }
    }
    let ix = thread::client::revoke_lease(&owner.keypair.pubkey(), address);
    land(owner, "revoke-lease", address, &[], &[ix]).await
}

/// The nonce account of a durable thread no keeper holds: the program changes a nonce
/// only while its authority is home.
fn durable_without_lease(thread: &Thread) -> Result<Pubkey, Refusal> {
    let Durability::Durable { nonce_account } = thread.durability else {
        return Err(Refusal::new(
            "ADDRESS",
            "the thread is not durable",
            "`threads make-durable` it first",
        ));
    };
    if let Some(lease) = thread.lease {
        return Err(Refusal::new(
            "ADDRESS",
            format!(
                "keeper {} holds the nonce authority under a lease",
                lease.holder
            ),
            "`threads revoke-lease` and wait until the keeper releases it",
        ));
    }
    Ok(nonce_account)
}
