//! Lease upkeep, as the daemon runs it: this keeper's nonce-authority leases handed
//! back when they are of no more use to it.
//!
//! Owns which threads a pass looks at (those the index shows leased to this keeper, and
//! those [`LeaseManager`] remembers), the periodic tidy pass ([`run_upkeep`]), and handing
//! every lease back at once within a deadline ([`hand_back_all`]), reading each thread
//! afresh: whenever this keeper stops leading ([`hand_back_on_step_down`]) and at
//! shutdown, when the daemon says. Must not: build or send lease transactions
//! ([`LeaseManager`] does), or decide leadership (it only watches it).

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use solana_sdk::pubkey::Pubkey;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::execution::leases::LeaseManager;
use crate::leadership::{LeaderState, Leadership};
use crate::periodic::Every;
use crate::tracking::discovery::{read_index, SharedIndex};

/// What [`hand_back_all`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HandedBack {
    /// Leases released, their authority handed back.
    pub released: usize,
    /// Threads whose lease is still this keeper's (not confirmed handed back by the
    /// deadline, or refused): they expire on chain.
    pub left: Vec<Pubkey>,
}

/// Every `every` until `stop`, tidies this keeper's leases ([`LeaseManager::tidy`]):
/// hands back a lease it has no use for before it lapses into a forfeit, and empties
/// old nonce accounts it is still the authority of.
pub async fn run_upkeep(
    leases: Arc<LeaseManager>,
    index: SharedIndex,
    me: Pubkey,
    every: Duration,
    stop: impl Future<Output = ()>,
) {
    let mut every = Every::new(every, stop);
    while every.tick().await {
        let mut threads = read_index(&index).threads_leased_by(&me);
        threads.extend(leases.remembered_threads());
        threads.sort();
        threads.dedup();
        // Stopping cuts a pass short: shutdown hands every lease back anyway.
        if let Some(Err(e)) = every.unless_stopped(leases.tidy(&threads)).await {
            tracing::debug!(kind = e.kind(), error = %e, "lease upkeep pass failed; trying again later");
        }
    }
}

/// Hands back every lease the index shows this keeper holding, reading each thread
/// afresh, all at once: one slow confirmation must not hold up the others, and whatever
/// is not confirmed by `by` is left to expire (the transaction may still land; the chain
/// settles it).
pub async fn hand_back_all(
    leases: &Arc<LeaseManager>,
    index: &SharedIndex,
    me: Pubkey,
    by: Instant,
) -> HandedBack {
    let ours = read_index(index).threads_leased_by(&me);
    let mut pending: BTreeSet<Pubkey> = ours.iter().copied().collect();
    let mut released = 0;
    let mut set = JoinSet::new();
    for thread in ours {
        let leases = leases.clone();
        set.spawn(async move { (thread, leases.release(&thread).await) });
    }
    loop {
        match tokio::time::timeout_at(by, set.join_next()).await {
            Ok(Some(Ok((thread, Ok(true))))) => {
                pending.remove(&thread);
                released += 1;
            }
            Ok(Some(Ok((thread, Ok(false))))) => {
                pending.remove(&thread);
            }
            Ok(Some(Ok((thread, Err(e))))) => {
                tracing::warn!(%thread, kind = e.kind(), error = %e, "could not hand the lease back; it will expire")
            }
            Ok(Some(Err(_))) => {} // a panicked hand-back: its thread stays in `pending`
            Ok(None) => break,
            Err(_) => {
                set.abort_all();
                for thread in &pending {
                    tracing::warn!(%thread, "lease not handed back before the deadline; it will expire");
                }
                break;
            }
        }
    }
    HandedBack {
        released,
        left: pending.into_iter().collect(),
    }
}

/// Whenever this keeper stops leading (but keeps running), hands its durable threads'
/// on-chain leases back, so the new leader need not wait for them to expire.
pub async fn hand_back_on_step_down(
    leadership: Leadership,
    leases: Arc<LeaseManager>,
    index: SharedIndex,
    me: Pubkey,
    stop: impl Future<Output = ()>,
) {
    tokio::pin!(stop);
    let mut states = leadership.watch();
    let mut led = states.borrow_and_update().is_leader();
    loop {
        tokio::select! {
            biased;
            _ = &mut stop => return,
            changed = states.changed() => {
                if changed.is_err() {
                    return; // the campaign is over: shutdown hands leases back
                }
            }
        }
        let state = states.borrow_and_update().clone();
        let leads = state.is_leader();
        if led && !leads && !matches!(state, LeaderState::Stopped) {
            let by = Instant::now() + leases.confirm_timeout();
            let HandedBack { released, left } = hand_back_all(&leases, &index, me, by).await;
            tracing::info!(
                released,
                left = left.len(),
                state = state.as_str(),
                "no longer leading: on-chain leases handed back"
            );
        }
        led = leads;
    }
}

#[cfg(test)]
mod tests {
    use solana_sdk::signature::{Keypair, Signer};

    use super::*;
    use crate::chain::faulty::{Fault, FaultyChain, Op};
    use crate::chain::Chain;
    use crate::execution::leases::LeaseConfig;
    use crate::execution::nonce_pool::NoncePool;
    use crate::test_utils::thread::ThreadFixture;
    use crate::tracking::discovery::shared_index;
    use crate::tracking::discovery::tests::StubChain;

    /// A keeper whose index shows one thread leased to it, over `chain`.
    fn keeper_with_one_lease(
        chain: Arc<dyn Chain>,
    ) -> (Arc<LeaseManager>, SharedIndex, Pubkey, Pubkey) {
        let keypair = Arc::new(Keypair::new());
        let me = keypair.pubkey();
        let leases = Arc::new(LeaseManager::new(
            chain,
            keypair,
            NoncePool::new(Duration::from_secs(30)),
            LeaseConfig::default(),
        ));
        let index = shared_index();
        let thread = Pubkey::new_unique();
        let leased = ThreadFixture::new().durable().leased_to(me);
        index.write().upsert(thread, 1, &leased.data());
        (leases, index, me, thread)
    }

    #[tokio::test]
    async fn a_thread_gone_from_the_chain_has_no_lease_left_to_hand_back() {
        let chain: Arc<dyn Chain> = Arc::new(StubChain::new());
        let (leases, index, me, _) = keeper_with_one_lease(chain);
        let by = Instant::now() + Duration::from_secs(5);
        let handed = hand_back_all(&leases, &index, me, by).await;
        assert_eq!(handed, HandedBack::default());
    }

    #[tokio::test]
    async fn a_thread_that_cannot_be_read_keeps_its_lease_and_is_reported_left() {
        let faulty = FaultyChain::new(StubChain::new(), 1);
        faulty.script(Op::GetAccount, [Some(Fault::Drop)]);
        let chain: Arc<dyn Chain> = Arc::new(faulty);
        let (leases, index, me, thread) = keeper_with_one_lease(chain);
        let by = Instant::now() + Duration::from_secs(3_600);
        let handed = hand_back_all(&leases, &index, me, by).await;
        assert_eq!(handed.released, 0);
        assert_eq!(handed.left, vec![thread]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_hand_back_still_under_way_at_the_deadline_is_left_to_expire() {
        let faulty = FaultyChain::new(StubChain::new(), 1);
        faulty.script(
            Op::GetAccount,
            [Some(Fault::Timeout(Duration::from_secs(86_400)))],
        );
        let chain: Arc<dyn Chain> = Arc::new(faulty);
        let (leases, index, me, thread) = keeper_with_one_lease(chain);
        let start = Instant::now();
        let by = start + Duration::from_secs(2);
        let handed = hand_back_all(&leases, &index, me, by).await;
        assert_eq!(handed.left, vec![thread]);
        assert_eq!(
            start.elapsed(),
            Duration::from_secs(2),
            "not a moment past `by`"
        );
    }
}
