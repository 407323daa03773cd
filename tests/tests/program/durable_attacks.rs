//! Attacks on durable threads. The rules: only the live lease holder executes, and only
//! in a transaction made durable by the thread's own nonce; the bond is never spent on
//! fees or withdrawn; a lease ends only with the authority handed back (bond to the
//! holder) or after expiry by forfeit (bond to the owner, new nonce for the thread).
//! Every rejected attack asserts its error by number and that nothing moved but the
//! transaction fees it was charged (`Env::assert_only_fees`).

use solana_sdk::account::{Account, AccountSharedData};
use solana_sdk::instruction::Instruction;
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::{Keypair, Signer};
use solana_system_interface::instruction as system_instruction;
use thread::client::{self, NONCE_ACCOUNT_LEN};
use thread::errors::ThreadError;
use thread::state::{Durability, REVOKE_GRACE_SLOTS};
use thread_tests::recorder;

use crate::common::{env, Env, NonceEffect};
use crate::durable::{
    return_and_release, Leased, DEPOSIT, FEE_PER_EXEC, LEASE_SLOTS, MAX_LEASE_SLOTS, SHORT_LEASE,
};

impl Env {
    /// The durable `exec_thread` a well-behaved `executor` sends for the thread's state.
    async fn exec_ix(&mut self, thread: Pubkey, executor: &Pubkey) -> Instruction {
        let state = self.fx.thread(thread).await;
        client::exec_thread_after_advance(executor, &thread, &state)
    }
}

// ---------------------------------------------------------------------------------------
// exec_thread: who, when, and in what transaction
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn durable_exec_without_a_lease_is_rejected() {
    let mut env = env().await;
    let d = env.durable("nolease").await;
    let keeper = env.keeper.insecure_clone();
    let before = env.snapshot(d).await;
    let ix = env.exec_ix(d.thread, &keeper.pubkey()).await;
    env.assert_refused_for_fee(&[ix], &keeper, ThreadError::NoLease, &before)
        .await;
}

#[tokio::test]
async fn durable_exec_by_an_executor_without_the_lease_is_rejected() {
    let mut env = env().await;
    let l = env.leased("notmine", LEASE_SLOTS).await;
    let stranger = env.stranger.insecure_clone();
    let before = env.snapshot(l.durable()).await;
    let ix = env.exec_ix(l.thread, &stranger.pubkey()).await;
    env.assert_refused_for_fee(&[ix], &stranger, ThreadError::NotLeaseHolder, &before)
        .await;
}

#[tokio::test]
async fn durable_exec_after_the_lease_expired_is_rejected_and_still_spends_the_nonce() {
    let mut env = env().await;
    let l = env.leased("expired", SHORT_LEASE).await;
    // Signed while the lease is live, sent after it ran out.
    let tx = env.durable_exec_tx(l.thread).await;
    env.expire(&l).await;
    let before = env.snapshot(l.durable()).await;
    let (outcome, fee) = env.send_tx(tx).await;
    outcome.assert_error(ThreadError::LeaseExpired);
    env.assert_only_fees(
        &before,
        &[(env.keeper.pubkey(), fee)],
        NonceEffect::Advanced,
    )
    .await;
}

#[tokio::test]
async fn exec_with_no_nonce_advance_at_all_is_rejected() {
    let mut env = env().await;
    let l = env.leased("noadvance", LEASE_SLOTS).await;
    let keeper = env.keeper.insecure_clone();
    let before = env.snapshot(l.durable()).await;
    // Instruction 0 is the execution itself; not durable, so it needs a recent blockhash.
    let ix = env.exec_ix(l.thread, &keeper.pubkey()).await;
    let tx = env.fx.signed_tx(&[ix], &keeper).await;
    let (outcome, fee) = env.send_tx(tx).await;
    outcome.assert_error(ThreadError::MissingNonceAdvance);
    env.assert_only_fees(&before, &[(keeper.pubkey(), fee)], NonceEffect::Untouched)
        .await;
}

#[tokio::test]
async fn exec_whose_first_instruction_is_not_an_advance_is_rejected() {
    let mut env = env().await;
    let l = env.leased("budgetfirst", LEASE_SLOTS).await;
    let keeper = env.keeper.insecure_clone();
    let before = env.snapshot(l.durable()).await;
    // `process` puts a compute-budget instruction first.
    let ix = env.exec_ix(l.thread, &keeper.pubkey()).await;
    env.assert_refused_for_fee(&[ix], &keeper, ThreadError::MissingNonceAdvance, &before)
        .await;
}

#[tokio::test]
async fn exec_with_the_advance_not_first_is_rejected() {
    let mut env = env().await;
    let l = env.leased("advancesecond", LEASE_SLOTS).await;
    let keeper = env.keeper.insecure_clone();
    let before = env.snapshot(l.durable()).await;
    // A compute-budget instruction, then a real advance of the thread's nonce by its
    // authority, then the execution: the advance would succeed, but it is not instruction
    // 0, so the transaction is not durable and could be replayed under a new blockhash.
    let advance = system_instruction::advance_nonce_account(&l.nonce, &keeper.pubkey());
    let ix = env.exec_ix(l.thread, &keeper.pubkey()).await;
    env.assert_refused_for_fee(
        &[advance, ix],
        &keeper,
        ThreadError::MissingNonceAdvance,
        &before,
    )
    .await;
}

#[tokio::test]
async fn exec_advancing_another_nonce_is_rejected() {
    let mut env = env().await;
    let l = env.leased("othernonce", LEASE_SLOTS).await;
    let keeper = env.keeper.insecure_clone();
    // A nonce of the keeper's own, a real durable anchor the keeper controls.
    let other = env.fx.create_nonce_account(&keeper, &keeper.pubkey()).await;
    env.fx.warp_slots(1).await;
    let other_before = env.fx.nonce(other).await.unwrap();
    let before = env.snapshot(l.durable()).await;
    let ix = env.exec_ix(l.thread, &keeper.pubkey()).await;
    let tx = env
        .fx
        .durable_tx(other, &keeper.pubkey(), &[ix], &[&keeper])
        .await;
    let (outcome, fee) = env.send_tx(tx).await;
    outcome.assert_error(ThreadError::WrongNonceAdvanced);
    env.assert_only_fees(&before, &[(keeper.pubkey(), fee)], NonceEffect::Untouched)
        .await;
    // The failed durable transaction spent the nonce it did advance.
    assert_ne!(env.fx.nonce(other).await.unwrap().value, other_before.value);
}

#[tokio::test]
async fn durable_exec_without_the_instructions_sysvar_is_rejected() {
    let mut env = env().await;
    let l = env.leased("nosysvar", LEASE_SLOTS).await;
    let keeper = env.keeper.insecure_clone();
    let before = env.snapshot(l.durable()).await;
    let state = env.fx.thread(l.thread).await;
    let ix = client::exec_thread(&keeper.pubkey(), &l.thread, &state);
    let tx = env
        .fx
        .durable_tx(l.nonce, &keeper.pubkey(), &[ix], &[&keeper])
        .await;
    let (outcome, fee) = env.send_tx(tx).await;
    outcome.assert_error(ThreadError::MissingInstructionsSysvar);
    env.assert_only_fees(&before, &[(keeper.pubkey(), fee)], NonceEffect::Advanced)
        .await;
}

#[tokio::test]
async fn execution_signed_under_one_keepers_lease_cannot_land_under_the_next() {
    let mut env = env().await;
    let l = env.leased("handover", LEASE_SLOTS).await;
    let keeper = env.keeper.insecure_clone();
    let stranger = env.stranger.insecure_clone();
    // Signed by the first keeper, which then hands back without advancing the nonce;
    // the next keeper claims the same nonce value.
    let tx = env.durable_exec_tx(l.thread).await;
    env.send(&return_and_release(&keeper.pubkey(), &l), &[&keeper])
        .await
        .0
        .assert_ok();
    let bond = env.fx.balance(l.nonce).await;
    let ix = client::claim_lease(&stranger.pubkey(), &l.thread, &l.nonce, LEASE_SLOTS, bond);
    env.send(&[ix], &[&stranger]).await.0.assert_ok();
    assert_eq!(
        env.fx.nonce(l.nonce).await.unwrap().value,
        tx.message.recent_blockhash
    );

    let before = env.snapshot(l.durable()).await;
    let (outcome, _) = env.send_tx(tx).await;
    // The runtime refuses it before charging: the advance's signer is no longer the
    // nonce authority.
    assert_eq!(
        outcome.result,
        Err(solana_sdk::transaction::TransactionError::BlockhashNotFound)
    );
    env.assert_only_fees(&before, &[], NonceEffect::Untouched)
        .await;
}

#[tokio::test]
async fn exec_fee_never_dips_into_the_bond() {
    let mut env = env().await;
    // One lamport short of a fee above rent; the bond would cover it many times over.
    let mut spec = env.spec("broke", thread::state::Trigger::Now);
    spec.deposit = FEE_PER_EXEC - 1;
    let d = env.durable_with(spec).await;
    let l = env.claim(d, LEASE_SLOTS).await;
    assert!(l.bond > FEE_PER_EXEC);
    let tx = env.durable_exec_tx(l.thread).await;
    let before = env.snapshot(d).await;
    let (outcome, fee) = env.send_tx(tx).await;
    outcome.assert_error(ThreadError::InsufficientBalance);
    env.assert_only_fees(
        &before,
        &[(env.keeper.pubkey(), fee)],
        NonceEffect::Advanced,
    )
    .await;
    assert_eq!(env.fx.thread(l.thread).await.exec_count, 0);
}

// ---------------------------------------------------------------------------------------
// claim_lease
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn claim_on_a_non_durable_thread_is_rejected() {
    let mut env = env().await;
    let keeper = env.keeper.insecure_clone();
    let spec = env.spec("plain", thread::state::Trigger::Now);
    let (thread, outcome) = env.fx.create_thread(spec).await;
    outcome.assert_ok();
    let nonce = env.fx.create_nonce_account(&keeper, &thread).await;
    let d = crate::durable::Durable { thread, nonce };
    let before = env.snapshot(d).await;
    let bond = env.fx.balance(nonce).await;
    let ix = client::claim_lease(&keeper.pubkey(), &thread, &nonce, LEASE_SLOTS, bond);
    env.assert_refused_for_fee(&[ix], &keeper, ThreadError::NotDurable, &before)
        .await;
}

#[tokio::test]
async fn second_claim_while_a_lease_is_live_is_rejected() {
    let mut env = env().await;
    let l = env.leased("taken", LEASE_SLOTS).await;
    let stranger = env.stranger.insecure_clone();
    let before = env.snapshot(l.durable()).await;
    let bond = env.fx.balance(l.nonce).await * 2;
    let ix = client::claim_lease(&stranger.pubkey(), &l.thread, &l.nonce, LEASE_SLOTS, bond);
    env.assert_refused_for_fee(&[ix], &stranger, ThreadError::LeaseHeld, &before)
        .await;
}

#[tokio::test]
async fn claim_with_a_bond_below_the_nonce_lamports_is_rejected() {
    let mut env = env().await;
    let d = env.durable("cheap").await;
    let keeper = env.keeper.insecure_clone();
    let before = env.snapshot(d).await;
    let bond = env.fx.rent_for(NONCE_ACCOUNT_LEN).await - 1;
    let ix = client::claim_lease(&keeper.pubkey(), &d.thread, &d.nonce, LEASE_SLOTS, bond);
    env.assert_refused_for_fee(&[ix], &keeper, ThreadError::BondTooSmall, &before)
        .await;
}

#[tokio::test]
async fn claim_of_zero_slots_or_beyond_the_maximum_is_rejected() {
    let mut env = env().await;
    let d = env.durable("length").await;
    let keeper = env.keeper.insecure_clone();
    let bond = env.fx.balance(d.nonce).await;
    let before = env.snapshot(d).await;
    let mut fees = Vec::new();
    for slots in [0, MAX_LEASE_SLOTS + 1] {
        let ix = client::claim_lease(&keeper.pubkey(), &d.thread, &d.nonce, slots, bond);
        let (outcome, fee) = env.send(&[ix], &[&keeper]).await;
        outcome.assert_error(ThreadError::InvalidLeaseLength);
        fees.push((keeper.pubkey(), fee));
    }
    env.assert_only_fees(&before, &fees, NonceEffect::Untouched)
        .await;
    // The maximum itself is allowed.
    let ix = client::claim_lease(&keeper.pubkey(), &d.thread, &d.nonce, MAX_LEASE_SLOTS, bond);
    env.send(&[ix], &[&keeper]).await.0.assert_ok();
}

#[tokio::test]
async fn claim_with_a_look_alike_nonce_account_is_rejected() {
    let mut env = env().await;
    let d = env.durable("lookalike").await;
    let keeper = env.keeper.insecure_clone();
    // A real system nonce account whose authority is the thread PDA, but not the thread's.
    let fake = env.fx.create_nonce_account(&keeper, &d.thread).await;
    let fake_before = env.fx.account(fake).await;
    let before = env.snapshot(d).await;
    let bond = env.fx.balance(fake).await;
    let ix = client::claim_lease(&keeper.pubkey(), &d.thread, &fake, LEASE_SLOTS, bond);
    env.assert_refused_for_fee(&[ix], &keeper, ThreadError::NonceAccountMismatch, &before)
        .await;
    assert_eq!(env.fx.account(fake).await, fake_before);
}

/// The thread's nonce account replaced, in the bank, by an account with the same bytes
/// (authority: the thread) owned by another program. No transaction can produce it for
/// an honest owner's nonce (only the nonce keypair could create an account at that
/// address, once the nonce is closed); planted here to pin that the program reads a nonce
/// only from a system-owned account.
fn program_owned_look_alike(real: &Account) -> AccountSharedData {
    AccountSharedData::from(Account {
        owner: recorder::ID,
        ..real.clone()
    })
}

#[tokio::test]
async fn claim_on_a_program_owned_look_alike_at_the_nonce_address_is_rejected() {
    let mut env = env().await;
    let d = env.durable("planted").await;
    let keeper = env.keeper.insecure_clone();
    let real = env.fx.account(d.nonce).await.unwrap();
    assert_eq!(env.fx.nonce(d.nonce).await.unwrap().authority, d.thread);
    env.fx
        .ctx
        .set_account(&d.nonce, &program_owned_look_alike(&real));
    let before = env.snapshot(d).await;
    let ix = client::claim_lease(
        &keeper.pubkey(),
        &d.thread,
        &d.nonce,
        LEASE_SLOTS,
        real.lamports,
    );
    env.assert_refused_for_fee(&[ix], &keeper, ThreadError::InvalidNonceAccount, &before)
        .await;
}

// ---------------------------------------------------------------------------------------
// renew_lease
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn renew_extends_the_lease_from_now() {
    let mut env = env().await;
    let l = env.leased("renew", 50).await;
    env.fx.warp_slots(3).await;
    let keeper = env.keeper.insecure_clone();
    let keeper_before = env.fx.balance(keeper.pubkey()).await;
    let thread_before = env.fx.balance(l.thread).await;
    let lease_before = env.fx.thread(l.thread).await.lease.unwrap();
    let (outcome, fee) = env
        .send(
            &[client::renew_lease(
                &keeper.pubkey(),
                &l.thread,
                &l.nonce,
                200,
            )],
            &[&keeper],
        )
        .await;
    outcome.assert_ok();
    let slot = env.fx.clock().await.slot;
    let lease = env.fx.thread(l.thread).await.lease.unwrap();
    assert_eq!(lease.expires_slot, slot + 200);
    assert!(lease.expires_slot > l.expires_slot);
    assert_eq!(lease.claimed_slot, lease_before.claimed_slot);
    assert_eq!(lease.bond, lease_before.bond);
    assert_eq!(lease.holder, keeper.pubkey());
    assert_eq!(env.fx.balance(keeper.pubkey()).await, keeper_before - fee);
    assert_eq!(env.fx.balance(l.thread).await, thread_before);
}

#[tokio::test]
async fn renew_by_anyone_but_the_holder_is_rejected() {
    let mut env = env().await;
    let l = env.leased("renewer", 50).await;
    let stranger = env.stranger.insecure_clone();
    let before = env.snapshot(l.durable()).await;
    let ix = client::renew_lease(&stranger.pubkey(), &l.thread, &l.nonce, 50);
    env.assert_refused_for_fee(&[ix], &stranger, ThreadError::NotLeaseHolder, &before)
        .await;
}

#[tokio::test]
async fn renew_beyond_the_maximum_or_without_a_lease_is_rejected() {
    let mut env = env().await;
    let d = env.durable("renewlimits").await;
    let keeper = env.keeper.insecure_clone();
    let before = env.snapshot(d).await;
    let ix = client::renew_lease(&keeper.pubkey(), &d.thread, &d.nonce, 10);
    let (outcome, no_lease_fee) = env.send(&[ix], &[&keeper]).await;
    outcome.assert_error(ThreadError::NoLease);
    env.assert_only_fees(
        &before,
        &[(keeper.pubkey(), no_lease_fee)],
        NonceEffect::Untouched,
    )
    .await;

    let l = env.claim(d, 50).await;
    let before = env.snapshot(l.durable()).await;
    let mut fees = Vec::new();
    for slots in [0, MAX_LEASE_SLOTS + 1] {
        let ix = client::renew_lease(&keeper.pubkey(), &l.thread, &l.nonce, slots);
        let (outcome, fee) = env.send(&[ix], &[&keeper]).await;
        outcome.assert_error(ThreadError::InvalidLeaseLength);
        fees.push((keeper.pubkey(), fee));
    }
    env.assert_only_fees(&before, &fees, NonceEffect::Untouched)
        .await;
}

#[tokio::test]
async fn renew_after_the_lease_expired_is_rejected() {
    let mut env = env().await;
    let l = env.leased("lapsed", SHORT_LEASE).await;
    env.expire(&l).await;
    let keeper = env.keeper.insecure_clone();
    let before = env.snapshot(l.durable()).await;
    let ix = client::renew_lease(&keeper.pubkey(), &l.thread, &l.nonce, 50);
    env.assert_refused_for_fee(&[ix], &keeper, ThreadError::LeaseExpired, &before)
        .await;
}

#[tokio::test]
async fn holder_who_drained_the_nonce_cannot_renew_the_lease() {
    let mut env = env().await;
    let l = env.leased("hostage", 50).await;
    let keeper = env.keeper.insecure_clone();
    let lamports = env.fx.balance(l.nonce).await;
    let steal = system_instruction::withdraw_nonce_account(
        &l.nonce,
        &keeper.pubkey(),
        &keeper.pubkey(),
        lamports,
    );
    env.send(&[steal], &[&keeper]).await.0.assert_ok();
    let before = env.snapshot(l.durable()).await;
    let ix = client::renew_lease(&keeper.pubkey(), &l.thread, &l.nonce, 50);
    env.assert_refused_for_fee(&[ix], &keeper, ThreadError::InvalidNonceAccount, &before)
        .await;
}

// ---------------------------------------------------------------------------------------
// release_lease
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn release_without_returning_the_authority_is_rejected() {
    let mut env = env().await;
    let l = env.leased("keepauth", LEASE_SLOTS).await;
    let keeper = env.keeper.insecure_clone();
    let before = env.snapshot(l.durable()).await;
    let ix = client::release_lease(&keeper.pubkey(), &l.thread, &keeper.pubkey(), &l.nonce);
    env.assert_refused_for_fee(&[ix], &keeper, ThreadError::AuthorityNotReturned, &before)
        .await;
}

#[tokio::test]
async fn release_by_a_stranger_while_the_lease_is_live_is_rejected() {
    let mut env = env().await;
    let l = env.leased("live", LEASE_SLOTS).await;
    env.return_authority(&l).await;
    let stranger = env.stranger.insecure_clone();
    let keeper = env.keeper.pubkey();
    let before = env.snapshot(l.durable()).await;
    // Paying the real holder, and paying itself.
    let ix = client::release_lease(&stranger.pubkey(), &l.thread, &keeper, &l.nonce);
    let (outcome, fee_a) = env.send(&[ix], &[&stranger]).await;
    outcome.assert_error(ThreadError::NotLeaseHolder);
    let ix = client::release_lease(&stranger.pubkey(), &l.thread, &stranger.pubkey(), &l.nonce);
    let (outcome, fee_b) = env.send(&[ix], &[&stranger]).await;
    outcome.assert_error(ThreadError::NotLeaseHolder);
    env.assert_only_fees(
        &before,
        &[(stranger.pubkey(), fee_a), (stranger.pubkey(), fee_b)],
        NonceEffect::Untouched,
    )
    .await;
}

#[tokio::test]
async fn release_by_a_stranger_after_expiry_with_the_authority_returned_pays_the_holder() {
    let mut env = env().await;
    let l = env.lease_returned_and_expired("abandoned").await;
    let stranger = env.stranger.insecure_clone();
    let keeper = env.keeper.pubkey();
    let was = env.balances(l.durable()).await;
    let nonce_before = env.fx.account(l.nonce).await;
    let ix = client::release_lease(&stranger.pubkey(), &l.thread, &keeper, &l.nonce);
    let (outcome, fee) = env.send(&[ix], &[&stranger]).await;
    outcome.assert_ok();
    assert_eq!(env.fx.balance(keeper).await, was.keeper + l.bond);
    assert_eq!(env.fx.balance(stranger.pubkey()).await, was.stranger - fee);
    assert_eq!(env.fx.balance(l.thread).await, was.thread - l.bond);
    assert_eq!(env.fx.account(l.nonce).await, nonce_before);
    assert_eq!(env.fx.thread(l.thread).await.lease, None);
}

// ---------------------------------------------------------------------------------------
// A holder that keeps or drains the nonce: forfeit
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn holder_draining_the_nonce_cannot_release_and_forfeit_makes_the_owner_whole() {
    let mut env = env().await;
    let d = env.durable("theft").await;
    let nonce_rent = env.fx.rent_for(NONCE_ACCOUNT_LEN).await;
    let extra = 25_000;
    let l = env
        .claim_with_bond(d, SHORT_LEASE, nonce_rent + extra)
        .await;
    let owner_kp = env.owner.insecure_clone();
    let keeper = env.keeper.insecure_clone();
    let owner = owner_kp.pubkey();
    let before_theft = env.balances(l.durable()).await;
    let mut keeper_fees = 0;
    let mut owner_fees = 0;

    // The holder withdraws every lamport of the nonce, which closes it.
    let steal = system_instruction::withdraw_nonce_account(
        &l.nonce,
        &keeper.pubkey(),
        &keeper.pubkey(),
        nonce_rent,
    );
    let (outcome, fee) = env.send(&[steal], &[&keeper]).await;
    outcome.assert_ok();
    keeper_fees += fee;
    assert!(env.fx.account(l.nonce).await.is_none());

    // It cannot get its bond back.
    let before = env.snapshot(l.durable()).await;
    let ix = client::release_lease(&keeper.pubkey(), &l.thread, &keeper.pubkey(), &l.nonce);
    let (outcome, fee) = env.send(&[ix], &[&keeper]).await;
    outcome.assert_error(ThreadError::AuthorityNotReturned);
    keeper_fees += fee;
    env.assert_only_fees(&before, &[(keeper.pubkey(), fee)], NonceEffect::Untouched)
        .await;

    // The owner forfeits once the lease has run out, paying the new nonce's rent up front.
    env.expire(&l).await;
    let (outcome, fee, new_nonce) = env.forfeit(&l, &owner_kp).await;
    outcome.assert_ok();
    owner_fees += fee;

    let state = env.fx.thread(l.thread).await;
    assert_eq!(state.lease, None);
    assert_eq!(
        state.durability,
        Durability::Durable {
            nonce_account: new_nonce
        }
    );
    let fresh = env.fx.nonce(new_nonce).await.unwrap();
    assert_eq!(fresh.authority, l.thread);
    assert_eq!(env.fx.balance(new_nonce).await, nonce_rent);
    assert_eq!(env.fx.balance(l.thread).await, before_theft.thread - l.bond);
    // Rent out, repaid from the bond, the rest of the bond in: the owner gains `extra`
    // and a new nonce worth the one that was stolen.
    let owner_after = env.fx.balance(owner).await;
    assert_eq!(owner_after, before_theft.owner - owner_fees + extra);
    assert!(owner_after + owner_fees >= before_theft.owner);
    assert_eq!(
        env.fx.balance(keeper.pubkey()).await,
        before_theft.keeper + nonce_rent - keeper_fees
    );

    // The thread is usable again: another keeper claims the new nonce.
    let stranger = env.stranger.insecure_clone();
    let ix = client::claim_lease(
        &stranger.pubkey(),
        &l.thread,
        &new_nonce,
        LEASE_SLOTS,
        nonce_rent,
    );
    env.send(&[ix], &[&stranger]).await.0.assert_ok();
}

impl Env {
    /// Moves every lamport of `who` to the stranger: its wallet is closed (0 lamports).
    async fn empty_wallet(&mut self, who: &Keypair) {
        let to = self.stranger.pubkey();
        let balance = self.fx.balance(who.pubkey()).await;
        let probe = system_instruction::transfer(&who.pubkey(), &to, balance);
        let fee = self.fx.fee_for(&[probe], &who.pubkey()).await;
        let ix = system_instruction::transfer(&who.pubkey(), &to, balance - fee);
        self.fx.process(&[ix], &[who]).await.assert_ok();
        assert_eq!(self.fx.balance(who.pubkey()).await, 0);
    }

    /// A lease of `id` with a bond `extra` lamports above the nonce's, run out with the
    /// authority kept by the holder, and the owner's wallet emptied: ready to forfeit.
    async fn kept_lease_of_an_empty_owner(&mut self, id: &str, extra: u64) -> Leased {
        let d = self.durable(id).await;
        let bond = self.fx.balance(d.nonce).await + extra;
        let l = self.claim_with_bond(d, SHORT_LEASE, bond).await;
        self.expire(&l).await;
        let owner = self.owner.insecure_clone();
        self.empty_wallet(&owner).await;
        l
    }
}

#[tokio::test]
async fn forfeit_keeps_a_share_an_empty_owner_wallet_cannot_take_in_the_thread() {
    let mut env = env().await;
    // The owner's share (the bond above the new nonce's rent) is below what an empty
    // wallet needs to be rent exempt, so paying it would fail the whole transaction.
    let share = 25_000;
    let l = env.kept_lease_of_an_empty_owner("empty-owner", share).await;
    let owner_kp = env.owner.insecure_clone();
    let owner = owner_kp.pubkey();
    let stranger = env.stranger.insecure_clone();
    let was = env.balances(l.durable()).await;

    let (outcome, fee, new_nonce) = env.forfeit(&l, &stranger).await;
    outcome.assert_ok();
    let state = env.fx.thread(l.thread).await;
    assert_eq!(state.lease, None);
    assert_eq!(state.nonce_account().unwrap(), new_nonce);
    // The caller is repaid the new nonce's rent exactly; the owner's wallet is untouched;
    // the share stays in the thread.
    assert_eq!(env.fx.balance(stranger.pubkey()).await, was.stranger - fee);
    assert_eq!(env.fx.balance(owner).await, 0);
    assert_eq!(env.fx.balance(l.thread).await, was.thread - l.bond + share);

    // It is the owner's: with the bond gone it is ordinary balance to withdraw.
    let ix = system_instruction::transfer(&stranger.pubkey(), &owner, 1_000_000_000);
    env.send(&[ix], &[&stranger]).await.0.assert_ok();
    let owner_before = env.fx.balance(owner).await;
    let available = DEPOSIT - FEE_PER_EXEC + share;
    let ix = client::withdraw_thread(&owner, &l.thread, available);
    let (outcome, fee) = env.send(&[ix], &[&owner_kp]).await;
    outcome.assert_ok();
    assert_eq!(env.fx.balance(owner).await, owner_before + available - fee);
}

#[tokio::test]
async fn forfeit_pays_an_empty_owner_wallet_a_share_that_covers_its_rent() {
    let mut env = env().await;
    let share = 2_000_000;
    let l = env
        .kept_lease_of_an_empty_owner("empty-owner-rich", share)
        .await;
    let owner = env.owner.pubkey();
    let stranger = env.stranger.insecure_clone();
    let thread_before = env.fx.balance(l.thread).await;
    env.forfeit(&l, &stranger).await.0.assert_ok();
    assert_eq!(env.fx.balance(owner).await, share);
    assert_eq!(env.fx.balance(l.thread).await, thread_before - l.bond);
}

#[tokio::test]
async fn delete_and_release_repay_the_bond_to_an_emptied_holder_wallet() {
    let mut env = env().await;
    let by_delete = env.leased("empty-holder-delete", SHORT_LEASE).await;
    let by_release = env.leased("empty-holder-release", SHORT_LEASE).await;
    env.return_authority(&by_delete).await;
    env.return_authority(&by_release).await;
    env.expire(&by_release).await;
    let keeper = env.keeper.insecure_clone();
    let owner_kp = env.owner.insecure_clone();
    let stranger = env.stranger.insecure_clone();

    env.empty_wallet(&keeper).await;
    let ix = client::delete_thread(
        &owner_kp.pubkey(),
        &by_delete.thread,
        Some(by_delete.nonce),
        Some(keeper.pubkey()),
    );
    env.send(&[ix], &[&owner_kp]).await.0.assert_ok();
    assert_eq!(env.fx.balance(keeper.pubkey()).await, by_delete.bond);

    env.empty_wallet(&keeper).await;
    let ix = client::release_lease(
        &stranger.pubkey(),
        &by_release.thread,
        &keeper.pubkey(),
        &by_release.nonce,
    );
    env.send(&[ix], &[&stranger]).await.0.assert_ok();
    assert_eq!(env.fx.balance(keeper.pubkey()).await, by_release.bond);
}

#[tokio::test]
async fn release_is_not_fooled_by_a_program_owned_look_alike_of_a_drained_nonce() {
    let mut env = env().await;
    let d = env.durable("forged").await;
    // The nonce as the thread holds it: authority the thread.
    let home = env.fx.account(d.nonce).await.unwrap();
    let l = env.claim(d, SHORT_LEASE).await;
    let keeper = env.keeper.insecure_clone();
    let steal = system_instruction::withdraw_nonce_account(
        &l.nonce,
        &keeper.pubkey(),
        &keeper.pubkey(),
        home.lamports,
    );
    env.send(&[steal], &[&keeper]).await.0.assert_ok();
    env.fx
        .ctx
        .set_account(&l.nonce, &program_owned_look_alike(&home));

    let before = env.snapshot(l.durable()).await;
    let ix = client::release_lease(&keeper.pubkey(), &l.thread, &keeper.pubkey(), &l.nonce);
    env.assert_refused_for_fee(&[ix], &keeper, ThreadError::AuthorityNotReturned, &before)
        .await;

    // And forfeit still treats the authority as not returned.
    env.expire(&l).await;
    let owner_kp = env.owner.insecure_clone();
    env.forfeit(&l, &owner_kp).await.0.assert_ok();
}

#[tokio::test]
async fn forfeit_before_the_lease_expired_is_rejected() {
    let mut env = env().await;
    let l = env.leased("early", LEASE_SLOTS).await;
    let owner_kp = env.owner.insecure_clone();
    let owner = owner_kp.pubkey();
    let before = env.snapshot(l.durable()).await;
    let (outcome, fee, new_nonce) = env.forfeit(&l, &owner_kp).await;
    outcome.assert_error(ThreadError::LeaseNotExpired);
    env.assert_only_fees(&before, &[(owner, fee)], NonceEffect::Untouched)
        .await;
    assert!(env.fx.account(new_nonce).await.is_none());
}

#[tokio::test]
async fn forfeit_after_the_authority_was_returned_is_rejected() {
    let mut env = env().await;
    let l = env.lease_returned_and_expired("honest").await;
    // Anyone may call forfeit; here a stranger hoping for the rent repayment.
    let stranger = env.stranger.insecure_clone();
    let before = env.snapshot(l.durable()).await;
    let (outcome, fee, new_nonce) = env.forfeit(&l, &stranger).await;
    outcome.assert_error(ThreadError::AuthorityReturned);
    env.assert_only_fees(&before, &[(stranger.pubkey(), fee)], NonceEffect::Untouched)
        .await;
    assert!(env.fx.account(new_nonce).await.is_none());
}

// ---------------------------------------------------------------------------------------
// revoke_lease
// ---------------------------------------------------------------------------------------

impl Env {
    /// The owner revokes `l`; returns the slot it landed in.
    async fn revoke(&mut self, l: &Leased) -> u64 {
        let owner = self.owner.insecure_clone();
        let ix = client::revoke_lease(&owner.pubkey(), &l.thread);
        self.send(&[ix], &[&owner]).await.0.assert_ok();
        self.fx.clock().await.slot
    }

    /// The owner revokes `l`, then the bank moves to the last slot of the holder's
    /// grace window.
    async fn revoke_and_reach_the_last_grace_slot(&mut self, l: &Leased) {
        let revoked_at = self.revoke(l).await;
        self.fx.warp_slots(REVOKE_GRACE_SLOTS - 1).await;
        assert_eq!(
            self.fx.clock().await.slot,
            revoked_at + REVOKE_GRACE_SLOTS - 1
        );
    }

    /// A keeper claim of `id` whose bond is well above the nonce's lamports, so that an
    /// owner confiscating it would pocket the difference.
    async fn leased_with_a_rich_bond(&mut self, id: &str) -> Leased {
        let d = self.durable(id).await;
        let bond = self.fx.balance(d.nonce).await + RICH_BOND_EXTRA;
        self.claim_with_bond(d, LEASE_SLOTS, bond).await
    }
}

/// What a bond carries above the nonce's lamports in the confiscation tests.
const RICH_BOND_EXTRA: u64 = 5_000_000;

#[tokio::test]
async fn revoke_then_forfeit_in_one_transaction_is_refused_and_moves_nothing() {
    let mut env = env().await;
    let l = env.leased_with_a_rich_bond("confiscate-forfeit").await;
    let owner_kp = env.owner.insecure_clone();
    let owner = owner_kp.pubkey();
    let new_nonce = Keypair::new();
    let before = env.snapshot(l.durable()).await;
    let ixs = [
        client::revoke_lease(&owner, &l.thread),
        client::forfeit_lease(&owner, &l.thread, &owner, &l.nonce, &new_nonce.pubkey()),
    ];
    let (outcome, fee) = env.send(&ixs, &[&owner_kp, &new_nonce]).await;
    outcome.assert_error(ThreadError::RevokeGraceNotOver);
    env.assert_only_fees(&before, &[(owner, fee)], NonceEffect::Untouched)
        .await;
    assert!(env.fx.account(new_nonce.pubkey()).await.is_none());
    assert_eq!(
        env.fx.thread(l.thread).await.lease.unwrap().revoked_slot,
        None
    );
}

#[tokio::test]
async fn revoke_then_delete_in_one_transaction_is_refused_and_moves_nothing() {
    let mut env = env().await;
    let l = env.leased_with_a_rich_bond("confiscate-delete").await;
    let owner_kp = env.owner.insecure_clone();
    let owner = owner_kp.pubkey();
    let keeper = env.keeper.pubkey();
    // With and without naming the holder: neither settles a lease revoked this slot.
    for holder in [Some(keeper), None] {
        let before = env.snapshot(l.durable()).await;
        let ixs = [
            client::revoke_lease(&owner, &l.thread),
            client::delete_thread(&owner, &l.thread, Some(l.nonce), holder),
        ];
        let (outcome, fee) = env.send(&ixs, &[&owner_kp]).await;
        outcome.assert_error(ThreadError::RevokeGraceNotOver);
        env.assert_only_fees(&before, &[(owner, fee)], NonceEffect::Untouched)
            .await;
    }
    assert_eq!(
        env.fx.thread(l.thread).await.lease.unwrap().revoked_slot,
        None
    );
}

#[tokio::test]
async fn revoked_holder_can_neither_execute_nor_renew_nor_be_revoked_again() {
    let mut env = env().await;
    let l = env.leased("revoked-stop", LEASE_SLOTS).await;
    let keeper = env.keeper.insecure_clone();
    let revoked_at = env.revoke(&l).await;
    let lease = env.fx.thread(l.thread).await.lease.unwrap();
    assert_eq!(lease.expires_slot, revoked_at);
    assert_eq!(lease.revoked_slot, Some(revoked_at));
    assert_eq!(lease.settles_at(), revoked_at + REVOKE_GRACE_SLOTS);

    // An execution right after the revoke is refused; a durable one still spends the
    // nonce advance, and nothing else moves but its fee.
    env.fx.make_due(l.thread).await;
    let before = env.snapshot(l.durable()).await;
    let tx = env.durable_exec_tx(l.thread).await;
    let (outcome, fee) = env.send_tx(tx).await;
    outcome.assert_error(ThreadError::LeaseRevoked);
    env.assert_only_fees(&before, &[(keeper.pubkey(), fee)], NonceEffect::Advanced)
        .await;
    assert_eq!(env.calls().await, 0);

    let before = env.snapshot(l.durable()).await;
    let ix = client::renew_lease(&keeper.pubkey(), &l.thread, &l.nonce, 10);
    env.assert_refused_for_fee(&[ix], &keeper, ThreadError::LeaseRevoked, &before)
        .await;

    // A second revoke would restart the grace window.
    let owner_kp = env.owner.insecure_clone();
    let before = env.snapshot(l.durable()).await;
    let ix = client::revoke_lease(&owner_kp.pubkey(), &l.thread);
    env.assert_refused_for_fee(&[ix], &owner_kp, ThreadError::LeaseRevoked, &before)
        .await;
}

#[tokio::test]
async fn revoked_holder_returning_inside_the_grace_window_gets_its_whole_bond_back() {
    let mut env = env().await;
    let l = env.leased_with_a_rich_bond("revoked-honest").await;
    let owner = env.owner.pubkey();
    let keeper = env.keeper.insecure_clone();
    // The holder answers late, in the last slot of its window.
    env.revoke_and_reach_the_last_grace_slot(&l).await;
    let was = env.balances(l.durable()).await;
    let (outcome, fee) = env
        .send(&return_and_release(&keeper.pubkey(), &l), &[&keeper])
        .await;
    outcome.assert_ok();
    assert_eq!(
        env.fx.balance(keeper.pubkey()).await,
        was.keeper + l.bond - fee
    );
    assert_eq!(env.fx.balance(l.thread).await, was.thread - l.bond);
    assert_eq!(env.fx.balance(owner).await, was.owner);
    assert_eq!(env.fx.thread(l.thread).await.lease, None);
    assert_eq!(env.fx.nonce(l.nonce).await.unwrap().authority, l.thread);
}

#[tokio::test]
async fn release_by_a_stranger_inside_the_grace_window_still_pays_the_holder() {
    let mut env = env().await;
    let l = env.leased_with_a_rich_bond("revoked-returned").await;
    env.revoke(&l).await;
    // The holder hands the authority back but crashes before releasing.
    env.return_authority(&l).await;
    let stranger = env.stranger.insecure_clone();
    let keeper = env.keeper.pubkey();
    let keeper_before = env.fx.balance(keeper).await;
    let ix = client::release_lease(&stranger.pubkey(), &l.thread, &keeper, &l.nonce);
    env.send(&[ix], &[&stranger]).await.0.assert_ok();
    assert_eq!(env.fx.balance(keeper).await, keeper_before + l.bond);
    assert_eq!(env.fx.thread(l.thread).await.lease, None);
}

#[tokio::test]
async fn revoked_lease_is_forfeited_from_the_end_of_the_grace_window_as_before() {
    let mut env = env().await;
    let l = env.leased_with_a_rich_bond("revoked-kept").await;
    let owner_kp = env.owner.insecure_clone();
    let owner = owner_kp.pubkey();

    // One slot before the window ends: still the holder's.
    env.revoke_and_reach_the_last_grace_slot(&l).await;
    let before = env.snapshot(l.durable()).await;
    let (outcome, fee, _) = env.forfeit(&l, &owner_kp).await;
    outcome.assert_error(ThreadError::RevokeGraceNotOver);
    env.assert_only_fees(&before, &[(owner, fee)], NonceEffect::Untouched)
        .await;

    // From the window's end the holder that kept the authority is forfeited as any
    // expired lease is: the bond repays the new nonce's rent and the rest is the owner's.
    env.fx.warp_slots(1).await;
    let nonce_rent = env.fx.rent_for(NONCE_ACCOUNT_LEN).await;
    let was = env.balances(l.durable()).await;
    let (outcome, fee, new_nonce) = env.forfeit(&l, &owner_kp).await;
    outcome.assert_ok();
    let state = env.fx.thread(l.thread).await;
    assert_eq!(state.lease, None);
    assert_eq!(state.nonce_account().unwrap(), new_nonce);
    assert_eq!(env.fx.balance(l.thread).await, was.thread - l.bond);
    assert_eq!(
        env.fx.balance(owner).await,
        was.owner - fee - nonce_rent + l.bond
    );
}

#[tokio::test]
async fn revoke_by_anyone_but_the_owner_or_without_a_live_lease_is_rejected() {
    let mut env = env().await;
    let d = env.durable("revoke-none").await;
    let owner_kp = env.owner.insecure_clone();
    let ix = client::revoke_lease(&owner_kp.pubkey(), &d.thread);
    env.send(&[ix], &[&owner_kp])
        .await
        .0
        .assert_error(ThreadError::NoLease);

    let l = env.claim(d, LEASE_SLOTS).await;
    let stranger = env.stranger.insecure_clone();
    let before = env.snapshot(l.durable()).await;
    let mut ix = client::revoke_lease(&stranger.pubkey(), &l.thread);
    ix.accounts[0].pubkey = stranger.pubkey();
    env.assert_refused_for_fee(&[ix], &stranger, ThreadError::NotOwner, &before)
        .await;

    env.expire(&l).await;
    let ix = client::revoke_lease(&owner_kp.pubkey(), &l.thread);
    env.send(&[ix], &[&owner_kp])
        .await
        .0
        .assert_error(ThreadError::LeaseExpired);
}

// ---------------------------------------------------------------------------------------
// delete_thread with a lease
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn delete_with_a_live_lease_is_rejected() {
    let mut env = env().await;
    let l = env.leased("busy", LEASE_SLOTS).await;
    env.return_authority(&l).await;
    let owner_kp = env.owner.insecure_clone();
    let owner = owner_kp.pubkey();
    let before = env.snapshot(l.durable()).await;
    let keeper = env.keeper.pubkey();
    let ix = client::delete_thread(&owner, &l.thread, Some(l.nonce), Some(keeper));
    env.assert_refused_for_fee(&[ix], &owner_kp, ThreadError::LeaseHeld, &before)
        .await;
}

#[tokio::test]
async fn delete_after_expiry_with_the_authority_returned_repays_the_holder_and_closes_the_nonce() {
    let mut env = env().await;
    let l = env.lease_returned_and_expired("settle").await;
    let owner_kp = env.owner.insecure_clone();
    let owner = owner_kp.pubkey();
    let keeper = env.keeper.pubkey();
    let was = env.balances(l.durable()).await;
    let ix = client::delete_thread(&owner, &l.thread, Some(l.nonce), Some(keeper));
    let (outcome, fee) = env.send(&[ix], &[&owner_kp]).await;
    outcome.assert_ok();
    assert_eq!(env.fx.balance(keeper).await, was.keeper + l.bond);
    assert_eq!(
        env.fx.balance(owner).await,
        was.owner + was.thread - l.bond + was.nonce - fee
    );
    assert!(env.fx.account(l.thread).await.is_none());
    assert!(env.fx.account(l.nonce).await.is_none());
}

#[tokio::test]
async fn delete_after_expiry_with_the_authority_returned_needs_the_right_holder() {
    let mut env = env().await;
    let l = env.lease_returned_and_expired("settle").await;
    let owner_kp = env.owner.insecure_clone();
    let owner = owner_kp.pubkey();
    let before = env.snapshot(l.durable()).await;
    let ix = client::delete_thread(&owner, &l.thread, Some(l.nonce), None);
    let (outcome, fee_a) = env.send(&[ix], &[&owner_kp]).await;
    outcome.assert_error(ThreadError::MissingLeaseHolder);
    let ix = client::delete_thread(&owner, &l.thread, Some(l.nonce), Some(owner));
    let (outcome, fee_b) = env.send(&[ix], &[&owner_kp]).await;
    outcome.assert_error(ThreadError::NotLeaseHolder);
    env.assert_only_fees(
        &before,
        &[(owner, fee_a), (owner, fee_b)],
        NonceEffect::Untouched,
    )
    .await;
}

#[tokio::test]
async fn delete_after_expiry_without_the_authority_gives_the_bond_to_the_owner() {
    let mut env = env().await;
    let l = env.leased("kept", SHORT_LEASE).await;
    env.expire(&l).await;
    let owner_kp = env.owner.insecure_clone();
    let owner = owner_kp.pubkey();
    let keeper = env.keeper.pubkey();
    let was = env.balances(l.durable()).await;
    let nonce_before = env.fx.account(l.nonce).await;
    let ix = client::delete_thread(&owner, &l.thread, Some(l.nonce), Some(keeper));
    let (outcome, fee) = env.send(&[ix], &[&owner_kp]).await;
    outcome.assert_ok();
    // The whole thread, bond included, to the owner; the nonce stays with the holder.
    assert_eq!(env.fx.balance(owner).await, was.owner + was.thread - fee);
    assert!(was.thread >= l.bond);
    assert_eq!(env.fx.balance(keeper).await, was.keeper);
    assert!(env.fx.account(l.thread).await.is_none());
    assert_eq!(env.fx.account(l.nonce).await, nonce_before);
    assert_eq!(env.fx.nonce(l.nonce).await.unwrap().authority, keeper);
}

// ---------------------------------------------------------------------------------------
// The bond is never the owner's to withdraw
// ---------------------------------------------------------------------------------------

impl Env {
    /// The owner asks to withdraw more than `l`'s thread has available: refused with
    /// nothing moved but the owner's fee.
    async fn assert_withdraw_refused(&mut self, l: &Leased, amount: u64) {
        let owner_kp = self.owner.insecure_clone();
        let before = self.snapshot(l.durable()).await;
        let ix = client::withdraw_thread(&owner_kp.pubkey(), &l.thread, amount);
        self.assert_refused_for_fee(
            &[ix],
            &owner_kp,
            ThreadError::WithdrawExceedsAvailable,
            &before,
        )
        .await;
    }
}

#[tokio::test]
async fn withdraw_never_touches_the_bond() {
    let mut env = env().await;
    let l = env.leased("bonded", LEASE_SLOTS).await;
    let owner_kp = env.owner.insecure_clone();
    let owner = owner_kp.pubkey();
    let rent = {
        let len = env.fx.account(l.thread).await.unwrap().data.len();
        env.fx.rent_for(len).await
    };
    assert_eq!(env.fx.balance(l.thread).await, rent + DEPOSIT + l.bond);

    // Active: available is the deposit less one execution's fee; the bond is excluded.
    let available = DEPOSIT - FEE_PER_EXEC;
    env.assert_withdraw_refused(&l, available + 1).await;
    let owner_before = env.fx.balance(owner).await;
    let ix = client::withdraw_thread(&owner, &l.thread, available);
    let (outcome, fee) = env.send(&[ix], &[&owner_kp]).await;
    outcome.assert_ok();
    assert_eq!(env.fx.balance(owner).await, owner_before + available - fee);

    // Paused: the reserved fee is free too, and still not one lamport of the bond.
    env.send(&[client::pause_thread(&owner, &l.thread)], &[&owner_kp])
        .await
        .0
        .assert_ok();
    env.assert_withdraw_refused(&l, FEE_PER_EXEC + 1).await;
    let ix = client::withdraw_thread(&owner, &l.thread, FEE_PER_EXEC);
    env.send(&[ix], &[&owner_kp]).await.0.assert_ok();
    assert_eq!(env.fx.balance(l.thread).await, rent + l.bond);

    // The holder still gets its whole bond back.
    let keeper = env.keeper.insecure_clone();
    let keeper_before = env.fx.balance(keeper.pubkey()).await;
    let (outcome, fee) = env
        .send(&return_and_release(&keeper.pubkey(), &l), &[&keeper])
        .await;
    outcome.assert_ok();
    assert_eq!(
        env.fx.balance(keeper.pubkey()).await,
        keeper_before + l.bond - fee
    );
    assert_eq!(env.fx.balance(l.thread).await, rent);
}
