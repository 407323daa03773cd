//! Durable threads through real durable transactions anchored on the thread's nonce,
//! under a keeper's lease of the nonce authority: the lease cycle exact to the lamport, a
//! signed execution that outlives blockhash expiry, replay of a landed execution, the
//! durability lifecycle (rotate, non-durable, durable again, delete) and the events.
//! Attacks on the lease and on durable execution are in `durable_attacks`; the setup and
//! the "nothing moved but fees" snapshot here are shared with it.

use solana_compute_budget_interface::ComputeBudgetInstruction;
use solana_sdk::instruction::Instruction;
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::{Keypair, Signer};
use solana_sdk::transaction::{Transaction, TransactionError};
use solana_system_interface::instruction as system_instruction;
use thread::client::{self, NONCE_ACCOUNT_LEN};
use thread::errors::ThreadError;
use thread::events::{
    DurabilityChanged, LeaseClaimed, LeaseForfeited, LeaseReleased, LeaseRenewed, NonceRotated,
    ThreadDeleted,
};
use thread::state::{Durability, Lease, Thread, Trigger};
use thread_tests::{Outcome, ThreadSpec, LAMPORTS_PER_SIGNATURE};

use crate::common::{env, record_of, Env, NonceEffect, Snapshot, Watched};

// ---------------------------------------------------------------------------------------
// Durable threads and leases, shared with durable_attacks and prefunded_nonce
// ---------------------------------------------------------------------------------------

/// `max_lease_slots` of every test thread.
pub(crate) const MAX_LEASE_SLOTS: u64 = 100_000;
/// Lease length of an ordinary claim: long enough to outlast several epochs of warmup.
pub(crate) const LEASE_SLOTS: u64 = 10_000;
/// A lease short enough to run out in a test.
pub(crate) const SHORT_LEASE: u64 = 5;
/// What `ThreadSpec::new` sets.
pub(crate) const FEE_PER_EXEC: u64 = 1_000;
pub(crate) const DEPOSIT: u64 = 1_000_000;

/// A durable thread and its nonce account.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Durable {
    pub thread: Pubkey,
    pub nonce: Pubkey,
}

/// A durable thread under the keeper's lease.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Leased {
    pub thread: Pubkey,
    pub nonce: Pubkey,
    pub bond: u64,
    pub expires_slot: u64,
}

impl Leased {
    pub fn durable(&self) -> Durable {
        Durable {
            thread: self.thread,
            nonce: self.nonce,
        }
    }
}

impl From<Durable> for Watched {
    fn from(d: Durable) -> Self {
        Watched {
            thread: d.thread,
            nonce: Some(d.nonce),
        }
    }
}

impl Env {
    /// A thread storing one recorder call on `self.record`, signed by the thread PDA.
    pub fn spec(&self, id: &str, trigger: Trigger) -> ThreadSpec {
        ThreadSpec::new(id, trigger, self.record).for_owner(&self.owner.pubkey())
    }

    /// A durable `Now` thread; creation must succeed.
    pub async fn durable(&mut self, id: &str) -> Durable {
        let spec = self.spec(id, Trigger::Now);
        self.durable_with(spec).await
    }

    pub async fn durable_with(&mut self, spec: ThreadSpec) -> Durable {
        let (thread, nonce, outcome) = self.fx.create_durable_thread(spec, MAX_LEASE_SLOTS).await;
        outcome.assert_ok();
        Durable { thread, nonce }
    }

    /// The keeper claims `d` for `slots` with the smallest bond (the nonce's lamports),
    /// then a slot passes so that the nonce, created or last advanced in this slot, can
    /// be advanced by a durable transaction.
    pub async fn claim(&mut self, d: Durable, slots: u64) -> Leased {
        let bond = self.fx.balance(d.nonce).await;
        self.claim_with_bond(d, slots, bond).await
    }

    pub async fn claim_with_bond(&mut self, d: Durable, slots: u64, bond: u64) -> Leased {
        let keeper = self.keeper.insecure_clone();
        let ix = client::claim_lease(&keeper.pubkey(), &d.thread, &d.nonce, slots, bond);
        self.fx.process(&[ix], &[&keeper]).await.assert_ok();
        let lease = self.fx.thread(d.thread).await.lease.expect("lease claimed");
        self.fx.warp_slots(1).await;
        Leased {
            thread: d.thread,
            nonce: d.nonce,
            bond,
            expires_slot: lease.expires_slot,
        }
    }

    /// A durable `Now` thread under the keeper's lease of `slots` slots.
    pub async fn leased(&mut self, id: &str, slots: u64) -> Leased {
        let d = self.durable(id).await;
        self.claim(d, slots).await
    }

    /// Sends `ixs` (`signers[0]` pays) and returns the outcome with the fee the bank
    /// charges for them, asked of the bank.
    pub async fn send(&mut self, ixs: &[Instruction], signers: &[&Keypair]) -> (Outcome, u64) {
        let fee = self.fx.fee_for(ixs, &signers[0].pubkey()).await;
        (self.fx.process(ixs, signers).await, fee)
    }

    /// Sends `ixs` signed and paid for by `payer`, expects the program to refuse them with
    /// `error`, and checks that nothing moved since `before` but `payer`'s fee.
    pub async fn assert_refused_for_fee(
        &mut self,
        ixs: &[Instruction],
        payer: &Keypair,
        error: ThreadError,
        before: &Snapshot,
    ) {
        let (outcome, fee) = self.send(ixs, &[payer]).await;
        outcome.assert_error(error);
        self.assert_only_fees(before, &[(payer.pubkey(), fee)], NonceEffect::Untouched)
            .await;
    }

    /// Sends a signed transaction, after checking its signatures (the bank's
    /// `process_transaction_with_metadata` does not), with the fee the bank charges.
    pub async fn send_tx(&mut self, tx: Transaction) -> (Outcome, u64) {
        tx.verify().expect("every signature is valid");
        let fee = self.fx.fee_of_tx(&tx).await;
        (self.fx.process_tx(tx).await, fee)
    }

    /// The keeper's durable execution of `thread`, signed now.
    pub async fn durable_exec_tx(&mut self, thread: Pubkey) -> Transaction {
        let keeper = self.keeper.insecure_clone();
        self.fx.durable_exec_tx(&keeper, thread).await
    }

    pub async fn calls(&mut self) -> u64 {
        record_of(&mut self.fx, self.record).await.1
    }

    /// Moves the bank past `l`'s expiry.
    pub async fn expire(&mut self, l: &Leased) {
        let slot = self.fx.clock().await.slot;
        self.fx
            .warp_slots(l.expires_slot.saturating_sub(slot) + 1)
            .await;
        assert!(self.fx.clock().await.slot >= l.expires_slot);
    }

    /// The keeper hands the nonce authority back to the thread without releasing.
    pub async fn return_authority(&mut self, l: &Leased) {
        let keeper = self.keeper.insecure_clone();
        let ix = client::return_nonce_authority(&l.nonce, &keeper.pubkey(), &l.thread);
        self.fx.process(&[ix], &[&keeper]).await.assert_ok();
    }

    /// A short lease of `id` whose holder handed the authority back and then let it run
    /// out without releasing: anyone may settle it now.
    pub async fn lease_returned_and_expired(&mut self, id: &str) -> Leased {
        let l = self.leased(id, SHORT_LEASE).await;
        self.return_authority(&l).await;
        self.expire(&l).await;
        l
    }

    /// `caller` forfeits `l` on the owner's behalf onto a fresh nonce account: the
    /// outcome, `caller`'s fee and the fresh nonce's address (an account only if the
    /// forfeit landed).
    pub async fn forfeit(&mut self, l: &Leased, caller: &Keypair) -> (Outcome, u64, Pubkey) {
        let new_nonce = Keypair::new();
        let owner = self.owner.pubkey();
        let ix = client::forfeit_lease(
            &caller.pubkey(),
            &l.thread,
            &owner,
            &l.nonce,
            &new_nonce.pubkey(),
        );
        let (outcome, fee) = self.send(&[ix], &[caller, &new_nonce]).await;
        (outcome, fee, new_nonce.pubkey())
    }

    /// `caller` moves `d`'s thread onto the nonce account `new_nonce` creates: the outcome
    /// and `caller`'s fee.
    pub async fn rotate(
        &mut self,
        d: Durable,
        caller: &Keypair,
        new_nonce: &Keypair,
    ) -> (Outcome, u64) {
        let ix =
            client::rotate_thread_nonce(&caller.pubkey(), &d.thread, &d.nonce, &new_nonce.pubkey());
        self.send(&[ix], &[caller, new_nonce]).await
    }

    /// The lamports of the owner, the keeper, the stranger, and `d`'s thread and nonce.
    pub async fn balances(&mut self, d: Durable) -> Balances {
        Balances {
            owner: self.fx.balance(self.owner.pubkey()).await,
            keeper: self.fx.balance(self.keeper.pubkey()).await,
            stranger: self.fx.balance(self.stranger.pubkey()).await,
            thread: self.fx.balance(d.thread).await,
            nonce: self.fx.balance(d.nonce).await,
        }
    }
}

/// Lamports of everyone the end of a lease or of a thread can pay, read at one moment,
/// for tests to state how each moved.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Balances {
    pub owner: u64,
    pub keeper: u64,
    pub stranger: u64,
    pub thread: u64,
    pub nonce: u64,
}

/// Hands the nonce authority back to the thread and releases the lease, signed by the
/// holder; both in one transaction.
pub(crate) fn return_and_release(holder: &Pubkey, l: &Leased) -> Vec<Instruction> {
    client::return_and_release(holder, &l.thread, holder, &l.nonce, true)
}

/// How many newer blockhashes a transaction's blockhash may have behind it and still be
/// accepted (the bank's `MAX_PROCESSING_AGE`).
const BLOCKHASH_MAX_AGE: u64 = 150;

/// An `Interval` trigger the tests move the clock to (`Fixture::make_due`).
fn every_minute() -> Trigger {
    Trigger::Interval {
        seconds: 60,
        skippable: true,
    }
}

// ---------------------------------------------------------------------------------------
// The lease cycle
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn lease_cycle_create_claim_exec_release_is_exact_to_the_lamport() {
    let mut env = env().await;
    let (owner, keeper) = (env.owner.pubkey(), env.keeper.pubkey());
    let spec = env.spec("cycle", Trigger::Now);
    let space = Thread::space_for(&spec.instructions);
    let thread_rent = env.fx.rent_for(space).await;
    let nonce_rent = env.fx.rent_for(NONCE_ACCOUNT_LEN).await;
    let owner_start = env.fx.balance(owner).await;
    let keeper_start = env.fx.balance(keeper).await;

    // Create: the owner pays thread rent, deposit, the nonce's rent and two signatures.
    let nonce_kp = Keypair::new();
    let nonce = nonce_kp.pubkey();
    let (thread, _) = Thread::address(&owner, b"cycle");
    let ix = client::create_thread_with_nonce(
        &owner,
        &thread,
        &nonce,
        spec.into_args(),
        MAX_LEASE_SLOTS,
    );
    let owner_kp = env.owner.insecure_clone();
    let (outcome, create_fee) = env.send(&[ix], &[&owner_kp, &nonce_kp]).await;
    outcome.assert_ok();
    assert_eq!(create_fee, 2 * LAMPORTS_PER_SIGNATURE);
    assert_eq!(
        env.fx.balance(owner).await,
        owner_start - thread_rent - DEPOSIT - nonce_rent - create_fee
    );
    let thread_account = env.fx.account(thread).await.unwrap();
    assert_eq!(thread_account.data.len(), space);
    assert_eq!(thread_account.lamports, thread_rent + DEPOSIT);
    let nonce_account = env.fx.account(nonce).await.unwrap();
    assert_eq!(nonce_account.lamports, nonce_rent);
    assert_eq!(nonce_account.data.len(), NONCE_ACCOUNT_LEN);
    assert_eq!(nonce_account.owner, solana_system_interface::program::ID);
    let created = env.fx.nonce(nonce).await.unwrap();
    assert_eq!(created.authority, thread);
    let state = env.fx.thread(thread).await;
    assert_eq!(
        state.durability,
        Durability::Durable {
            nonce_account: nonce
        }
    );
    assert_eq!(state.max_lease_slots, MAX_LEASE_SLOTS);
    assert_eq!(state.lease, None);

    // Claim: the bond (the least allowed, the nonce's lamports) moves keeper -> thread and
    // the keeper becomes the nonce authority; the nonce value does not move.
    let keeper_kp = env.keeper.insecure_clone();
    let bond = nonce_rent;
    let ix = client::claim_lease(&keeper, &thread, &nonce, LEASE_SLOTS, bond);
    let (outcome, claim_fee) = env.send(&[ix], &[&keeper_kp]).await;
    outcome.assert_ok();
    let slot = env.fx.clock().await.slot;
    assert_eq!(
        env.fx.thread(thread).await.lease,
        Some(Lease {
            holder: keeper,
            claimed_slot: slot,
            expires_slot: slot + LEASE_SLOTS,
            bond,
            revoked_slot: None,
        })
    );
    assert_eq!(
        env.fx.balance(keeper).await,
        keeper_start - bond - claim_fee
    );
    assert_eq!(env.fx.balance(thread).await, thread_rent + DEPOSIT + bond);
    assert_eq!(env.fx.balance(nonce).await, nonce_rent);
    let lent = env.fx.nonce(nonce).await.unwrap();
    assert_eq!(lent.authority, keeper);
    assert_eq!(lent.value, created.value);

    // Durable execution, built and signed by the keeper: the stored call runs, the nonce
    // advances, the keeper earns fee_per_exec less its transaction fee, the bond stays.
    env.fx.warp_slots(1).await;
    let keeper_before = env.fx.balance(keeper).await;
    let tx = env.durable_exec_tx(thread).await;
    assert_eq!(tx.message.recent_blockhash, created.value);
    let (outcome, exec_fee) = env.send_tx(tx).await;
    outcome.assert_ok();
    assert_eq!(exec_fee, LAMPORTS_PER_SIGNATURE);
    assert_eq!(env.calls().await, 1);
    assert_eq!(record_of(&mut env.fx, env.record).await.0, thread);
    let state = env.fx.thread(thread).await;
    assert_eq!(state.exec_count, 1);
    assert_eq!(state.lease.unwrap().bond, bond);
    let advanced = env.fx.nonce(nonce).await.unwrap();
    assert_ne!(advanced.value, created.value);
    assert_eq!(advanced.authority, keeper);
    assert_eq!(env.fx.balance(nonce).await, nonce_rent);
    assert_eq!(
        env.fx.balance(keeper).await,
        keeper_before + FEE_PER_EXEC - exec_fee
    );
    assert_eq!(
        env.fx.balance(thread).await,
        thread_rent + DEPOSIT + bond - FEE_PER_EXEC
    );

    // Return the authority and release in one transaction: the bond comes back exactly.
    let leased = Leased {
        thread,
        nonce,
        bond,
        expires_slot: slot + LEASE_SLOTS,
    };
    let (outcome, release_fee) = env
        .send(&return_and_release(&keeper, &leased), &[&keeper_kp])
        .await;
    outcome.assert_ok();
    assert_eq!(env.fx.nonce(nonce).await.unwrap().authority, thread);
    assert_eq!(env.fx.thread(thread).await.lease, None);
    assert_eq!(
        env.fx.balance(thread).await,
        thread_rent + DEPOSIT - FEE_PER_EXEC
    );
    assert_eq!(env.fx.balance(nonce).await, nonce_rent);
    assert_eq!(
        env.fx.balance(keeper).await,
        keeper_start + FEE_PER_EXEC - claim_fee - exec_fee - release_fee
    );
    assert_eq!(
        env.fx.balance(owner).await,
        owner_start - thread_rent - DEPOSIT - nonce_rent - create_fee
    );
}

#[tokio::test]
async fn signed_durable_execution_lands_after_blockhash_expiry_and_epochs() {
    let mut env = env().await;
    let l = env.leased("durable", LEASE_SLOTS).await;
    let value = env.fx.nonce(l.nonce).await.unwrap().value;
    let tx = env.durable_exec_tx(l.thread).await;
    // A transaction signed at the same moment against the latest blockhash, to show
    // that blockhash has expired by the time the durable one is sent.
    let keeper = env.keeper.insecure_clone();
    let transfer = system_instruction::transfer(&keeper.pubkey(), &env.stranger.pubkey(), 1);
    let plain = env.fx.signed_tx(&[transfer], &keeper).await;
    let signed_at = env.fx.clock().await;

    // A warp registers one blockhash, and a blockhash expires by count: step past the
    // age limit one slot at a time, then jump several epochs.
    for _ in 0..=BLOCKHASH_MAX_AGE {
        env.fx.warp_slots(1).await;
    }
    env.fx.warp_to_epoch(signed_at.epoch + 5).await;
    let now = env.fx.clock().await;
    assert!(now.epoch >= signed_at.epoch + 5);
    assert!(now.slot > signed_at.slot + BLOCKHASH_MAX_AGE);
    assert!(now.slot < l.expires_slot, "the lease still holds");
    let (outcome, fee) = env.send_tx(plain).await;
    assert_eq!(outcome.result, Err(TransactionError::BlockhashNotFound));
    assert_eq!(fee, LAMPORTS_PER_SIGNATURE);

    let keeper_before = env.fx.balance(env.keeper.pubkey()).await;
    let (outcome, fee) = env.send_tx(tx).await;
    outcome.assert_ok();
    assert_eq!(env.calls().await, 1);
    assert_eq!(env.fx.thread(l.thread).await.exec_count, 1);
    assert_eq!(env.fx.thread(l.thread).await.last_exec_slot, now.slot);
    assert_ne!(env.fx.nonce(l.nonce).await.unwrap().value, value);
    assert_eq!(
        env.fx.balance(env.keeper.pubkey()).await,
        keeper_before + FEE_PER_EXEC - fee
    );
}

#[tokio::test]
async fn landed_durable_execution_cannot_be_replayed_and_replays_pay_no_fee() {
    let mut env = env().await;
    let spec = env.spec("replay", every_minute());
    let d = env.durable_with(spec).await;
    let l = env.claim(d, LEASE_SLOTS).await;
    let keeper = env.keeper.insecure_clone();
    let old_value = env.fx.nonce(l.nonce).await.unwrap().value;

    env.fx.make_due(l.thread).await;
    let tx = env.durable_exec_tx(l.thread).await;
    env.send_tx(tx.clone()).await.0.assert_ok();
    assert_eq!(env.fx.thread(l.thread).await.exec_count, 1);

    // Due again a slot later, so that only the spent nonce stands between a replay and
    // a second execution.
    env.fx.warp_slots(1).await;
    env.fx.make_due(l.thread).await;
    let before = env.snapshot(d).await;
    let state = env.fx.thread(l.thread).await;
    let [advance, exec] =
        client::durable_exec_thread(&keeper.pubkey(), &l.thread, &state).expect("durable");

    // The same bytes again.
    let (outcome, _) = env.send_tx(tx).await;
    assert_eq!(outcome.result, Err(TransactionError::BlockhashNotFound));
    // The same execution against the old nonce value, paid by someone else.
    let other_payer = Transaction::new_signed_with_payer(
        &[advance.clone(), exec.clone()],
        Some(&env.stranger.pubkey()),
        &[&env.stranger, &keeper],
        old_value,
    );
    let (outcome, _) = env.send_tx(other_payer).await;
    assert_eq!(outcome.result, Err(TransactionError::BlockhashNotFound));
    // And with a priority fee, so its signature differs.
    let priced = Transaction::new_signed_with_payer(
        &[
            advance,
            ComputeBudgetInstruction::set_compute_unit_price(1),
            exec,
        ],
        Some(&keeper.pubkey()),
        &[&keeper],
        old_value,
    );
    let (outcome, _) = env.send_tx(priced).await;
    assert_eq!(outcome.result, Err(TransactionError::BlockhashNotFound));
    env.assert_only_fees(&before, &[], NonceEffect::Untouched)
        .await;

    // What stopped them was the nonce: a freshly signed execution lands.
    let tx = env.durable_exec_tx(l.thread).await;
    env.send_tx(tx).await.0.assert_ok();
    assert_eq!(env.fx.thread(l.thread).await.exec_count, 2);
    assert_eq!(env.calls().await, 2);
}

// ---------------------------------------------------------------------------------------
// Durability lifecycle
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn durability_lifecycle_returns_every_lamport_to_the_owner() {
    let mut env = env().await;
    let owner_kp = env.owner.insecure_clone();
    let keeper_kp = env.keeper.insecure_clone();
    let (owner, keeper) = (owner_kp.pubkey(), keeper_kp.pubkey());
    let nonce_rent = env.fx.rent_for(NONCE_ACCOUNT_LEN).await;
    let owner_start = env.fx.balance(owner).await;
    let keeper_start = env.fx.balance(keeper).await;
    let mut owner_fees = 0;
    let mut keeper_fees = 0;

    // Create durable, lease, execute durably (which advances the nonce), give it back.
    let spec = env.spec("life", every_minute());
    let thread_rent = env.fx.rent_for(Thread::space_for(&spec.instructions)).await;
    let first_nonce = Keypair::new();
    let (thread, _) = Thread::address(&owner, b"life");
    let ix = client::create_thread_with_nonce(
        &owner,
        &thread,
        &first_nonce.pubkey(),
        spec.into_args(),
        MAX_LEASE_SLOTS,
    );
    let (outcome, fee) = env.send(&[ix], &[&owner_kp, &first_nonce]).await;
    outcome.assert_ok();
    owner_fees += fee;
    let d = Durable {
        thread,
        nonce: first_nonce.pubkey(),
    };
    let keeper_before_claim = env.fx.balance(keeper).await;
    let l = env.claim(d, LEASE_SLOTS).await;
    keeper_fees += keeper_before_claim - env.fx.balance(keeper).await - l.bond;
    let created_value = env.fx.nonce(d.nonce).await.unwrap().value;
    env.fx.make_due(thread).await;
    let tx = env.durable_exec_tx(thread).await;
    let (outcome, fee) = env.send_tx(tx).await;
    outcome.assert_ok();
    keeper_fees += fee;
    assert_ne!(env.fx.nonce(d.nonce).await.unwrap().value, created_value);
    let (outcome, fee) = env
        .send(&return_and_release(&keeper, &l), &[&keeper_kp])
        .await;
    outcome.assert_ok();
    keeper_fees += fee;

    // Rotate: a new nonce (authority: the thread), the old one closed to the owner.
    env.fx.warp_slots(1).await;
    let second_nonce = Keypair::new();
    let owner_before = env.fx.balance(owner).await;
    let (outcome, fee) = env.rotate(d, &owner_kp, &second_nonce).await;
    outcome.assert_ok();
    owner_fees += fee;
    assert_eq!(fee, 2 * LAMPORTS_PER_SIGNATURE);
    // The new nonce's rent out, the old one's back in: only the fee is left.
    assert_eq!(env.fx.balance(owner).await, owner_before - fee);
    assert!(env.fx.account(d.nonce).await.is_none(), "old nonce closed");
    assert_eq!(env.fx.balance(second_nonce.pubkey()).await, nonce_rent);
    assert_eq!(
        env.fx.nonce(second_nonce.pubkey()).await.unwrap().authority,
        thread
    );
    assert_eq!(
        env.fx.thread(thread).await.durability,
        Durability::Durable {
            nonce_account: second_nonce.pubkey()
        }
    );

    // Non-durable: the nonce closed, its lamports to the owner; a plain execution runs.
    env.fx.warp_slots(1).await;
    let owner_before = env.fx.balance(owner).await;
    let ix = client::make_thread_non_durable(&owner, &thread, &second_nonce.pubkey());
    let (outcome, fee) = env.send(&[ix], &[&owner_kp]).await;
    outcome.assert_ok();
    owner_fees += fee;
    assert_eq!(env.fx.balance(owner).await, owner_before + nonce_rent - fee);
    assert!(env.fx.account(second_nonce.pubkey()).await.is_none());
    assert_eq!(
        env.fx.thread(thread).await.durability,
        Durability::NonDurable
    );
    env.fx.make_due(thread).await;
    let keeper_before = env.fx.balance(keeper).await;
    let state = env.fx.thread(thread).await;
    let ix = client::exec_thread(&keeper, &thread, &state);
    let (outcome, fee) = env.send(&[ix], &[&keeper_kp]).await;
    outcome.assert_ok();
    keeper_fees += fee;
    assert_eq!(
        env.fx.balance(keeper).await,
        keeper_before + FEE_PER_EXEC - fee
    );
    assert_eq!(env.calls().await, 2);

    // Durable again, with a new lease limit.
    let third_nonce = Keypair::new();
    let owner_before = env.fx.balance(owner).await;
    let ix = client::make_thread_durable(&owner, &thread, &third_nonce.pubkey(), 500);
    let (outcome, fee) = env.send(&[ix], &[&owner_kp, &third_nonce]).await;
    outcome.assert_ok();
    owner_fees += fee;
    assert_eq!(env.fx.balance(owner).await, owner_before - nonce_rent - fee);
    let state = env.fx.thread(thread).await;
    assert_eq!(
        state.durability,
        Durability::Durable {
            nonce_account: third_nonce.pubkey()
        }
    );
    assert_eq!(state.max_lease_slots, 500);
    assert_eq!(
        env.fx.nonce(third_nonce.pubkey()).await.unwrap().authority,
        thread
    );

    // Delete: thread and nonce lamports all back to the owner.
    env.fx.warp_slots(1).await;
    let owner_before = env.fx.balance(owner).await;
    let thread_lamports = env.fx.balance(thread).await;
    assert_eq!(thread_lamports, thread_rent + DEPOSIT - 2 * FEE_PER_EXEC);
    let ix = client::delete_thread(&owner, &thread, Some(third_nonce.pubkey()), None);
    let (outcome, fee) = env.send(&[ix], &[&owner_kp]).await;
    outcome.assert_ok();
    owner_fees += fee;
    assert_eq!(
        env.fx.balance(owner).await,
        owner_before + thread_lamports + nonce_rent - fee
    );
    assert!(env.fx.account(thread).await.is_none());
    assert!(env.fx.account(third_nonce.pubkey()).await.is_none());

    // Every lamport: the owner is down only its fees and the two executions it paid for.
    assert_eq!(
        env.fx.balance(owner).await,
        owner_start - owner_fees - 2 * FEE_PER_EXEC
    );
    assert_eq!(
        env.fx.balance(keeper).await,
        keeper_start + 2 * FEE_PER_EXEC - keeper_fees
    );
}

#[tokio::test]
async fn rotate_and_make_non_durable_are_refused_while_a_lease_is_held() {
    let mut env = env().await;
    let l = env.leased("held", LEASE_SLOTS).await;
    let owner_kp = env.owner.insecure_clone();
    let owner = owner_kp.pubkey();
    let before = env.snapshot(l.durable()).await;

    let new_nonce = Keypair::new();
    let (outcome, rotate_fee) = env.rotate(l.durable(), &owner_kp, &new_nonce).await;
    outcome.assert_error(ThreadError::LeaseHeld);
    assert!(env.fx.account(new_nonce.pubkey()).await.is_none());

    let ix = client::make_thread_non_durable(&owner, &l.thread, &l.nonce);
    let (outcome, fee) = env.send(&[ix], &[&owner_kp]).await;
    outcome.assert_error(ThreadError::LeaseHeld);

    env.assert_only_fees(
        &before,
        &[(owner, rotate_fee), (owner, fee)],
        NonceEffect::Untouched,
    )
    .await;
}

#[tokio::test]
async fn make_thread_durable_on_a_durable_thread_is_rejected() {
    let mut env = env().await;
    let d = env.durable("twice").await;
    let owner_kp = env.owner.insecure_clone();
    let before = env.snapshot(d).await;
    let nonce = Keypair::new();
    let ix = client::make_thread_durable(&owner_kp.pubkey(), &d.thread, &nonce.pubkey(), 10);
    let (outcome, fee) = env.send(&[ix], &[&owner_kp, &nonce]).await;
    outcome.assert_error(ThreadError::AlreadyDurable);
    assert!(env.fx.account(nonce.pubkey()).await.is_none());
    env.assert_only_fees(&before, &[(owner_kp.pubkey(), fee)], NonceEffect::Untouched)
        .await;
}

#[tokio::test]
async fn durability_changes_by_anyone_but_the_owner_are_rejected() {
    let mut env = env().await;
    let d = env.durable("mine").await;
    env.fx.warp_slots(1).await;
    let stranger_kp = env.stranger.insecure_clone();
    let stranger = stranger_kp.pubkey();
    let before = env.snapshot(d).await;
    let mut fees = Vec::new();

    let new_nonce = Keypair::new();
    let (outcome, fee) = env.rotate(d, &stranger_kp, &new_nonce).await;
    outcome.assert_error(ThreadError::NotOwner);
    fees.push((stranger, fee));
    assert!(env.fx.account(new_nonce.pubkey()).await.is_none());

    let ix = client::make_thread_non_durable(&stranger, &d.thread, &d.nonce);
    let (outcome, fee) = env.send(&[ix], &[&stranger_kp]).await;
    outcome.assert_error(ThreadError::NotOwner);
    fees.push((stranger, fee));
    env.assert_only_fees(&before, &fees, NonceEffect::Untouched)
        .await;

    // And on a non-durable thread, making it durable.
    let spec = env.spec("plain", Trigger::Now);
    let (plain, outcome) = env.fx.create_thread(spec).await;
    outcome.assert_ok();
    let plain_before = env.fx.account(plain).await;
    let stranger_before = env.fx.balance(stranger).await;
    let ix = client::make_thread_durable(&stranger, &plain, &new_nonce.pubkey(), 10);
    let (outcome, fee) = env.send(&[ix], &[&stranger_kp, &new_nonce]).await;
    outcome.assert_error(ThreadError::NotOwner);
    assert_eq!(env.fx.account(plain).await, plain_before);
    assert!(env.fx.account(new_nonce.pubkey()).await.is_none());
    assert_eq!(env.fx.balance(stranger).await, stranger_before - fee);
}

// ---------------------------------------------------------------------------------------
// Events (simulated; never of an execution, which needs a durable transaction)
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn claim_renew_and_release_emit_lease_events() {
    let mut env = env().await;
    let d = env.durable("ev").await;
    let keeper_kp = env.keeper.insecure_clone();
    let keeper = keeper_kp.pubkey();
    let bond = env.fx.balance(d.nonce).await + 7;

    let slot = env.fx.clock().await.slot;
    let ix = client::claim_lease(&keeper, &d.thread, &d.nonce, 40, bond);
    let e = &env
        .fx
        .simulate_one_event::<LeaseClaimed>(&[ix], &[&keeper_kp])
        .await;
    assert_eq!(e.thread, d.thread);
    assert_eq!(e.holder, keeper);
    assert_eq!(e.nonce_account, d.nonce);
    assert_eq!(e.expires_slot, slot + 40);
    assert_eq!(e.bond, bond);

    let l = env.claim_with_bond(d, 40, bond).await;
    let slot = env.fx.clock().await.slot;
    let ix = client::renew_lease(&keeper, &d.thread, &d.nonce, 90);
    let e = &env
        .fx
        .simulate_one_event::<LeaseRenewed>(&[ix], &[&keeper_kp])
        .await;
    assert_eq!(e.thread, d.thread);
    assert_eq!(e.holder, keeper);
    assert_eq!(e.old_expires_slot, l.expires_slot);
    assert_eq!(e.new_expires_slot, slot + 90);

    let e = &env
        .fx
        .simulate_one_event::<LeaseReleased>(&return_and_release(&keeper, &l), &[&keeper_kp])
        .await;
    assert_eq!(e.thread, d.thread);
    assert_eq!(e.holder, keeper);
    assert_eq!(e.bond, bond);
}

#[tokio::test]
async fn forfeit_emits_the_split_of_the_bond() {
    let mut env = env().await;
    let d = env.durable("ev").await;
    let nonce_rent = env.fx.balance(d.nonce).await;
    let bond = nonce_rent + 12_345;
    let l = env.claim_with_bond(d, 5, bond).await;
    env.fx.warp_slots(10).await;
    let owner_kp = env.owner.insecure_clone();
    let owner = owner_kp.pubkey();
    let new_nonce = Keypair::new();
    let ix = client::forfeit_lease(&owner, &l.thread, &owner, &l.nonce, &new_nonce.pubkey());
    let e = &env
        .fx
        .simulate_one_event::<LeaseForfeited>(&[ix], &[&owner_kp, &new_nonce])
        .await;
    assert_eq!(e.thread, l.thread);
    assert_eq!(e.holder, env.keeper.pubkey());
    assert_eq!(e.bond, bond);
    assert_eq!(e.repaid_to_caller, nonce_rent);
    assert_eq!(e.to_owner, 12_345);
    assert_eq!(e.old_nonce_account, l.nonce);
    assert_eq!(e.new_nonce_account, new_nonce.pubkey());
}

#[tokio::test]
async fn rotate_and_durability_changes_emit_old_and_new() {
    let mut env = env().await;
    let d = env.durable("ev").await;
    env.fx.warp_slots(1).await;
    let owner_kp = env.owner.insecure_clone();
    let owner = owner_kp.pubkey();

    let new_nonce = Keypair::new();
    let ix = client::rotate_thread_nonce(&owner, &d.thread, &d.nonce, &new_nonce.pubkey());
    let events = env
        .fx
        .simulate_events::<NonceRotated>(&[ix], &[&owner_kp, &new_nonce])
        .await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].thread, d.thread);
    assert_eq!(events[0].old_nonce_account, d.nonce);
    assert_eq!(events[0].new_nonce_account, new_nonce.pubkey());

    let ix = client::make_thread_non_durable(&owner, &d.thread, &d.nonce);
    let events = env
        .fx
        .simulate_events::<DurabilityChanged>(std::slice::from_ref(&ix), &[&owner_kp])
        .await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].thread, d.thread);
    assert_eq!(
        events[0].old,
        Durability::Durable {
            nonce_account: d.nonce
        }
    );
    assert_eq!(events[0].new, Durability::NonDurable);

    env.fx.process(&[ix], &[&owner_kp]).await.assert_ok();
    let ix = client::make_thread_durable(&owner, &d.thread, &new_nonce.pubkey(), 10);
    let events = env
        .fx
        .simulate_events::<DurabilityChanged>(&[ix], &[&owner_kp, &new_nonce])
        .await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].thread, d.thread);
    assert_eq!(events[0].old, Durability::NonDurable);
    assert_eq!(
        events[0].new,
        Durability::Durable {
            nonce_account: new_nonce.pubkey()
        }
    );
}

#[tokio::test]
async fn delete_emits_the_nonce_lamports_returned() {
    let mut env = env().await;
    let d = env.durable("ev").await;
    env.fx.warp_slots(1).await;
    let owner_kp = env.owner.insecure_clone();
    let owner = owner_kp.pubkey();
    let thread_lamports = env.fx.balance(d.thread).await;
    let nonce_lamports = env.fx.balance(d.nonce).await;
    let ix = client::delete_thread(&owner, &d.thread, Some(d.nonce), None);
    let e = &env
        .fx
        .simulate_one_event::<ThreadDeleted>(&[ix], &[&owner_kp])
        .await;
    assert_eq!(e.thread, d.thread);
    assert_eq!(e.owner, owner);
    assert_eq!(e.lamports, thread_lamports);
    assert_eq!(e.nonce_lamports, nonce_lamports);
    assert_eq!(e.bond_to_holder, 0);
}

#[tokio::test]
async fn delete_after_an_unreturned_lease_emits_the_bond_kept_with_the_thread() {
    let mut env = env().await;
    let l = env.leased("ev", 5).await;
    env.fx.warp_slots(10).await;
    let owner_kp = env.owner.insecure_clone();
    let owner = owner_kp.pubkey();
    let thread_lamports = env.fx.balance(l.thread).await;
    let ix = client::delete_thread(&owner, &l.thread, Some(l.nonce), None);
    let e = &env
        .fx
        .simulate_one_event::<ThreadDeleted>(&[ix], &[&owner_kp])
        .await;
    assert_eq!(e.thread, l.thread);
    assert_eq!(e.lamports, thread_lamports, "the bond goes to the owner");
    assert_eq!(e.nonce_lamports, 0, "the holder kept the nonce");
    assert_eq!(e.bond_to_holder, 0);
}

#[tokio::test]
async fn delete_after_an_expired_lease_emits_nonce_lamports_and_bond_to_holder() {
    let mut env = env().await;
    let l = env.leased("ev", 5).await;
    let keeper_kp = env.keeper.insecure_clone();
    let keeper = keeper_kp.pubkey();
    let ix = client::return_nonce_authority(&l.nonce, &keeper, &l.thread);
    env.fx.process(&[ix], &[&keeper_kp]).await.assert_ok();
    env.fx.warp_slots(10).await;

    let owner_kp = env.owner.insecure_clone();
    let owner = owner_kp.pubkey();
    let thread_lamports = env.fx.balance(l.thread).await;
    let nonce_lamports = env.fx.balance(l.nonce).await;
    let ix = client::delete_thread(&owner, &l.thread, Some(l.nonce), Some(keeper));
    let e = &env
        .fx
        .simulate_one_event::<ThreadDeleted>(&[ix], &[&owner_kp])
        .await;
    assert_eq!(e.thread, l.thread);
    assert_eq!(e.owner, owner);
    assert_eq!(e.lamports, thread_lamports - l.bond);
    assert_eq!(e.nonce_lamports, nonce_lamports);
    assert_eq!(e.bond_to_holder, l.bond);
}
