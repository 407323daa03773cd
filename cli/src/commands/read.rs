//! `list` and `show`: reading threads, never signing.

use anchor_lang::Discriminator;
use keeper::chain::{Chain, DataMatch};
use keeper::ops::explain::Explanation;
use solana_sdk::pubkey::Pubkey;
use thread::state::Thread;

use super::{fetch, rent, CommandError};
use crate::view::ThreadView;

/// Where a thread account's `owner` field starts: after Anchor's 8-byte discriminator and
/// the `version` and `bump` bytes that precede it in [`Thread`].
pub const OWNER_OFFSET: usize = 8 + 1 + 1;

/// The threads `owner` owns, found with a `memcmp` on the owner field, ordered by address.
/// Accounts that match but do not decode (another layout version) are left out.
pub async fn list(chain: &dyn Chain, owner: &Pubkey) -> Result<Vec<ThreadView>, CommandError> {
    let by_owner = DataMatch {
        offset: OWNER_OFFSET,
        bytes: owner.to_bytes().to_vec(),
    };
    let (_slot, accounts) = chain
        .get_program_accounts_matching(&thread::ID, Thread::DISCRIMINATOR, &[by_owner])
        .await?;
    let clock = chain.clock().await?;
    let rent = rent(chain).await?;
    let mut views: Vec<ThreadView> = accounts
        .iter()
        .filter_map(|keyed| {
            let thread = thread::client::decode_thread(&keyed.account.data).ok()?;
            Some(ThreadView::new(
                &keyed.pubkey,
                &thread,
                keyed.account.lamports,
                keyed.account.data.len(),
                &clock,
                &rent,
            ))
        })
        .collect();
    views.sort_by(|a, b| a.address.cmp(&b.address));
    Ok(views)
}

/// The decoded state of the thread at `address`.
pub async fn show(chain: &dyn Chain, address: &Pubkey) -> Result<ThreadView, CommandError> {
    let fetched = fetch(chain, address).await?;
    let clock = chain.clock().await?;
    let rent = rent(chain).await?;
    Ok(ThreadView::new(
        address,
        &fetched.thread,
        fetched.lamports,
        fetched.data_len,
        &clock,
        &rent,
    ))
}

/// Why the thread at `address` does or does not run, and what happens next (the
/// keeper's `explain`, as an owner sees it: from the chain alone).
pub async fn explain(chain: &dyn Chain, address: &Pubkey) -> Result<Explanation, CommandError> {
    let (_, explanation) =
        keeper::ops::explain::explain(chain, &thread::ID, address, None, None).await?;
    Ok(explanation)
}
