//! Nonce hygiene, against the program in a real bank: the lease manager hands back a
//! lease it has no use for (the thread is not due before the lease expires; the owner
//! revoked it) with its whole bond, before it can lapse into a forfeit, and empties an
//! old nonce account it is still the authority of once the thread has moved on; its
//! transactions are built like executions.

use std::sync::Arc;
use std::time::Duration;

use crate::common::{
    every, fast_config, plan, state, wait_until, world_with, ProbedBank, Running, TestClock,
};
use keeper::chain::faulty::{Fault, FaultyChain, Op};
use keeper::chain::Chain;
use keeper::execution::leases::{HandBack, LeaseConfig, LeaseManager, LeaseStatus};
use keeper::execution::nonce_pool::NoncePool;
use keeper::ops::metrics::Metrics;
use keeper::sandbox::{self, World};
use keeper::test_utils::bank::BankChainExt;
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::{Keypair, Signer};
use thread::client;
use thread::state::{Due, Trigger};

const DEPOSIT: u64 = 50_000_000;
/// What one transaction signed by one key costs in the bank (no priority fee).
const FEE: u64 = 5_000;

fn manager(world: &World) -> LeaseManager {
    LeaseManager::new(
        world.chain.clone(),
        world.keeper.clone(),
        NoncePool::new(Duration::from_secs(30)),
        LeaseConfig::default(),
    )
}

/// Claims a lease on the world's only thread; returns (thread, nonce, bond).
async fn claim(world: &World, leases: &LeaseManager) -> (Pubkey, Pubkey, u64) {
    let thread = world.threads[0].key;
    let slot = world.clock().await.unwrap().slot;
    let status = leases
        .ensure(&thread, &state(world, &thread).await, slot)
        .await
        .expect("lease claimed");
    let LeaseStatus::Held { nonce, .. } = status else {
        panic!("not held: {status:?}");
    };
    let lease = state(world, &thread).await.lease.expect("leased");
    assert_eq!(lease.holder, world.keeper.pubkey());
    assert_eq!(world.chain.nonce(&nonce).await.0, world.keeper.pubkey());
    (thread, nonce, lease.bond)
}

/// An hourly thread under a lease of 1 500 slots (10 minutes): the lease would lapse
/// before the thread is due, so the keeper hands it back at once, and gets the whole
/// bond back (it paid two transaction fees, nothing more).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_not_needed_before_it_expires_is_handed_back_with_its_whole_bond() {
    let world = world_with(&[plan("durable-hourly", every(3_600), true)], DEPOSIT).await;
    let leases = manager(&world);
    let me = world.keeper.pubkey();
    let before = world.chain.balance(&me).await;
    let (thread, nonce, bond) = claim(&world, &leases).await;
    assert!(bond > 0);
    assert_eq!(world.chain.balance(&me).await, before - bond - FEE);

    let tidied = leases.tidy(&[thread]).await.expect("tidy");

    assert_eq!(tidied.handed_back, [(thread, HandBack::NotDueWithinLease)]);
    assert_eq!(state(&world, &thread).await.lease, None);
    assert_eq!(world.chain.nonce(&nonce).await.0, thread, "authority home");
    assert_eq!(
        world.chain.balance(&me).await,
        before - 2 * FEE,
        "the whole bond came back"
    );
}

/// A thread due every minute keeps its ten-minute lease.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_the_thread_needs_is_kept() {
    let world = world_with(&[plan("durable-every-minute", every(60), true)], DEPOSIT).await;
    let leases = manager(&world);
    let (thread, _, _) = claim(&world, &leases).await;

    let tidied = leases.tidy(&[thread]).await.expect("tidy");

    assert_eq!(tidied, Default::default());
    let lease = state(&world, &thread).await.lease.expect("still leased");
    assert_eq!(lease.holder, world.keeper.pubkey());
}

/// The owner revokes the lease while the authority is the keeper's: the keeper hands
/// the authority back and releases, and its bond comes back instead of being forfeited.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_lease_is_released_with_its_whole_bond() {
    let world = world_with(&[plan("durable-every-minute", every(60), true)], DEPOSIT).await;
    let leases = manager(&world);
    let me = world.keeper.pubkey();
    let before = world.chain.balance(&me).await;
    let (thread, nonce, _) = claim(&world, &leases).await;
    let owner = world.owner.pubkey();
    sandbox::send(
        &world.chain,
        &[client::revoke_lease(&owner, &thread)],
        &world.owner,
        &[],
    )
    .await
    .expect("revoked");

    let tidied = leases.tidy(&[thread]).await.expect("tidy");

    assert_eq!(tidied.handed_back, [(thread, HandBack::Lapsed)]);
    assert_eq!(state(&world, &thread).await.lease, None);
    assert_eq!(world.chain.nonce(&nonce).await.0, thread);
    assert_eq!(world.chain.balance(&me).await, before - 2 * FEE);
}

/// The keeper's lease lapses with the authority still its own and the owner forfeits
/// it: the thread moves to a new nonce, the old one is left with the keeper as its
/// authority. The keeper withdraws all of its lamports to itself; nobody else could.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_forfeit_the_old_nonce_is_withdrawn_to_the_keeper() {
    let world = world_with(&[plan("durable-every-minute", every(60), true)], DEPOSIT).await;
    let leases = manager(&world);
    let me = world.keeper.pubkey();
    let (thread, old_nonce, _) = claim(&world, &leases).await;
    world
        .advance(LeaseConfig::default().lease_slots + 10, 700)
        .await;
    let owner = world.owner.pubkey();
    let new_nonce = Keypair::new();
    let forfeit = client::forfeit_lease(&owner, &thread, &owner, &old_nonce, &new_nonce.pubkey());
    sandbox::send(&world.chain, &[forfeit], &world.owner, &[&new_nonce])
        .await
        .expect("forfeited");
    assert_eq!(
        state(&world, &thread).await.nonce_account().unwrap(),
        new_nonce.pubkey()
    );
    let left = world.chain.balance(&old_nonce).await;
    assert!(left > 0);
    let before = world.chain.balance(&me).await;
    assert_eq!(leases.remembered_threads(), [thread]);

    let tidied = leases
        .tidy(&leases.remembered_threads())
        .await
        .expect("tidy");

    assert_eq!(tidied.withdrawn, [(old_nonce, left)]);
    assert_eq!(tidied.handed_back, []);
    assert_eq!(
        world.chain.balance(&old_nonce).await,
        0,
        "the old nonce is emptied"
    );
    assert_eq!(world.chain.balance(&me).await, before + left - FEE);
    // Done with it: the next pass has nothing left to do.
    assert_eq!(leases.remembered_threads(), Vec::<Pubkey>::new());
    let again = leases.tidy(&[thread]).await.expect("tidy");
    assert_eq!(again, Default::default());
}

/// The keeper's lease lapses with the authority still its own (long past any grace a
/// revocation might leave) and the owner deletes the thread: the thread is gone, its
/// nonce account left with the keeper as authority. The keeper withdraws its lamports to
/// itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_deletion_the_nonce_left_with_the_keeper_is_withdrawn() {
    let world = world_with(&[plan("durable-every-minute", every(60), true)], DEPOSIT).await;
    let leases = manager(&world);
    let me = world.keeper.pubkey();
    let (thread, nonce, _) = claim(&world, &leases).await;
    let owner = world.owner.pubkey();
    world.advance(50_000, 20_000).await;
    sandbox::send(
        &world.chain,
        &[client::delete_thread(
            &owner,
            &thread,
            Some(nonce),
            Some(me),
        )],
        &world.owner,
        &[],
    )
    .await
    .expect("deleted");
    assert!(world.thread(&thread).await.unwrap().is_none(), "deleted");
    let left = world.chain.balance(&nonce).await;
    assert!(left > 0, "the nonce stayed with the keeper");
    let before = world.chain.balance(&me).await;

    let tidied = leases
        .tidy(&leases.remembered_threads())
        .await
        .expect("tidy");

    assert_eq!(tidied.withdrawn, [(nonce, left)]);
    assert_eq!(world.chain.balance(&nonce).await, 0);
    assert_eq!(world.chain.balance(&me).await, before + left - FEE);
}

/// The running daemon does this on its own: a durable one-shot thread runs, is done
/// (`Never`), and its lease comes back home while the keeper keeps running, not at its
/// shutdown or as a forfeit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_hands_back_a_done_threads_lease_while_it_runs() {
    let world = world_with(&[plan("durable-once", Trigger::Now, true)], DEPOSIT).await;
    let thread = world.threads[0].key;
    let run = Running::start(
        world.chain.clone(),
        &world,
        TestClock::new().memory_store(),
        Metrics::new(),
        fast_config(),
    );
    wait_until!("the thread ran and its lease came back", 30, {
        let s = state(&world, &thread).await;
        s.exec_count == 1 && s.next_due == Due::Never && s.lease.is_none()
    });
    let nonce = state(&world, &thread).await.nonce_account().unwrap();
    assert_eq!(world.chain.nonce(&nonce).await.0, thread);
    let summary = run.stop().await;
    assert_eq!(summary.leases_released, 0, "nothing left for the shutdown");
    assert_eq!(summary.leases_left, []);
}

/// Lease transactions are built as executions are: sized by a simulation and priced from
/// recent fees before anything is sent, so a build that fails sends nothing and costs
/// nothing; the next pass claims the lease.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_transaction_is_simulated_and_priced_before_it_is_sent() {
    let world = world_with(&[plan("durable-every-minute", every(60), true)], DEPOSIT).await;
    let faulty = Arc::new(FaultyChain::new(ProbedBank::new(world.chain.clone()), 5));
    faulty.script(Op::Simulate, [Some(Fault::Rpc("no simulation".into()))]);
    let chain: Arc<dyn Chain> = faulty.clone();
    let leases = LeaseManager::new(
        chain,
        world.keeper.clone(),
        NoncePool::new(Duration::from_secs(30)),
        LeaseConfig::default(),
    );
    let thread = world.threads[0].key;
    let me = world.keeper.pubkey();
    let before = world.chain.balance(&me).await;
    let slot = world.clock().await.unwrap().slot;

    let refused = leases
        .ensure(&thread, &state(&world, &thread).await, slot)
        .await;
    assert_eq!(refused.map_err(|e| e.kind()), Err("rpc"));
    assert_eq!(faulty.forwarded(Op::Send), 0, "nothing sent");
    assert_eq!(world.chain.balance(&me).await, before, "nothing paid");

    let status = leases
        .ensure(&thread, &state(&world, &thread).await, slot)
        .await;
    assert!(matches!(status, Ok(LeaseStatus::Held { .. })), "{status:?}");
    assert_eq!(faulty.forwarded(Op::Simulate), 1);
    assert_eq!(faulty.forwarded(Op::RecentPrioritizationFees), 1);
    assert_eq!(faulty.forwarded(Op::Send), 1);
    assert_eq!(
        world.chain.balance(&me).await,
        before - FEE - state(&world, &thread).await.lease.unwrap().bond
    );
}

/// A lease manager for the world's keeper over `chain`, under `config`.
fn manager_over(world: &World, chain: Arc<dyn Chain>, config: LeaseConfig) -> LeaseManager {
    LeaseManager::new(
        chain,
        world.keeper.clone(),
        NoncePool::new(Duration::from_secs(30)),
        config,
    )
}

/// Leases short enough to walk past in a test: 100 slots, renewed below 50 left, released
/// and claimed anew below 20.
const SHORT: LeaseConfig = LeaseConfig {
    lease_slots: 100,
    renew_below_slots: 50,
    renew_margin_slots: 20,
    confirm_timeout_secs: 30,
};

/// The keeper touches one thread's lease from several places at once: a worker making
/// sure of it before executing, the upkeep pass handing a lapsed one back, a step-down
/// handing everything back. Each decides from its own read; two decisions from one read
/// would send two transactions where the chain takes one. Run together on a lapsed lease,
/// they take turns and each reads afresh: nothing is refused, in simulation or on chain,
/// and the workers end up holding a live lease (the thread is due within it, so the
/// upkeep pass, reading after them, keeps it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keepers_lease_operations_on_one_thread_take_turns_and_none_is_refused() {
    let world = world_with(&[plan("durable-every-10s", every(10), true)], DEPOSIT).await;
    let probed = Arc::new(ProbedBank::new(world.chain.clone()));
    let leases = manager_over(&world, probed.clone(), SHORT);
    let (thread, _, _) = claim(&world, &leases).await;
    world.advance(SHORT.lease_slots + 5, 1).await;
    let lapsed = state(&world, &thread).await;
    let slot = world.clock().await.unwrap().slot;
    assert!(!lapsed.lease.unwrap().is_live(slot), "the lease lapsed");

    let ours = [thread];
    let (tidied, ensured, again) = tokio::join!(
        leases.tidy(&ours),
        leases.ensure(&thread, &lapsed, slot),
        leases.ensure(&thread, &lapsed, slot),
    );

    let tidied = tidied.expect("tidy");
    assert_eq!(tidied.failed, 0, "{tidied:?}");
    for status in [ensured, again] {
        assert!(matches!(status, Ok(LeaseStatus::Held { .. })), "{status:?}");
    }
    assert_eq!(probed.sent_that_failed().await, []);
    let lease = state(&world, &thread).await.lease.expect("leased");
    assert_eq!(lease.holder, world.keeper.pubkey());
    assert!(lease.is_live(world.clock().await.unwrap().slot));
}

/// A lease of ours is renewed while enough of it is left for the renewal to land in
/// time (one fee, the bond stays); with fewer than `renew_margin_slots` left, a renewal
/// could land after the lease expired and fail, so it is released and claimed anew
/// instead (two fees, the bond comes back and goes out again).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_is_renewed_in_time_and_one_too_near_its_end_is_claimed_anew() {
    let world = world_with(&[plan("durable-every-minute", every(60), true)], DEPOSIT).await;
    let probed = Arc::new(ProbedBank::new(world.chain.clone()));
    let leases = manager_over(&world, probed.clone(), SHORT);
    let me = world.keeper.pubkey();
    let (thread, nonce, _) = claim(&world, &leases).await;

    let ensure_with_left = |left: u64| {
        let (world, leases) = (&world, &leases);
        async move {
            let expires = state(world, &thread).await.lease.unwrap().expires_slot;
            let now = world.clock().await.unwrap().slot;
            world.advance(expires - left - now, 1).await;
            let before = world.chain.balance(&me).await;
            let slot = world.clock().await.unwrap().slot;
            let status = leases
                .ensure(&thread, &state(world, &thread).await, slot)
                .await
                .expect("ensured");
            let lease = state(world, &thread).await.lease.expect("leased");
            assert_eq!(
                status,
                LeaseStatus::Held {
                    nonce,
                    expires_slot: lease.expires_slot
                }
            );
            assert_eq!(
                lease.expires_slot,
                slot + SHORT.lease_slots,
                "a whole lease"
            );
            assert_eq!(lease.holder, me);
            before - world.chain.balance(&me).await
        }
    };

    assert_eq!(ensure_with_left(30).await, FEE, "renewed: one transaction");
    assert_eq!(
        ensure_with_left(10).await,
        2 * FEE,
        "released and claimed anew: two transactions, the bond back and out again"
    );
    assert_eq!(probed.sent_that_failed().await, []);
}
