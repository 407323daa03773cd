//! A nonce address someone funded before the thread's creation landed (anyone can send
//! lamports to an address seen in a pending transaction, and `create_account` refuses an
//! address with lamports). Creation takes such an address over: the nonce ends at exactly
//! its rent, any excess goes back to whoever pays for it, and the nonce anchors durable
//! executions as any other. An address that already holds data or belongs to another
//! program is someone's account and is refused by name, with nothing moved.

use solana_sdk::account::{Account, AccountSharedData};
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::{Keypair, Signer};
use solana_system_interface::instruction as system_instruction;
use thread::client::{self, NONCE_ACCOUNT_LEN};
use thread::errors::ThreadError;
use thread::state::{Durability, Trigger};
use thread_tests::{recorder, system_account, LAMPORTS_PER_SIGNATURE};

use crate::common::{env, Env};
use crate::durable::{Durable, LEASE_SLOTS, MAX_LEASE_SLOTS};

impl Env {
    /// Puts `account` at `address` directly (for states a transaction cannot produce,
    /// such as a system account below rent exemption).
    fn place(&mut self, address: &Pubkey, account: Account) {
        self.fx
            .ctx
            .set_account(address, &AccountSharedData::from(account));
    }

    /// The stranger sends `lamports` to `address`, as a front-runner would.
    async fn prefund(&mut self, address: &Pubkey, lamports: u64) {
        let stranger = self.stranger.insecure_clone();
        let ix = system_instruction::transfer(&stranger.pubkey(), address, lamports);
        self.send(&[ix], &[&stranger]).await.0.assert_ok();
    }

    /// Creates a durable `Now` thread `id` with its nonce at `nonce`; returns the thread,
    /// the owner's balance change beside the transaction fee, and the outcome.
    async fn create_at(
        &mut self,
        id: &str,
        nonce: &Keypair,
    ) -> (Durable, i128, thread_tests::Outcome) {
        let owner = self.owner.pubkey();
        let before = self.fx.balance(owner).await;
        let spec = self.spec(id, Trigger::Now);
        let (thread, _, outcome) = self
            .fx
            .create_durable_thread_at(spec, MAX_LEASE_SLOTS, nonce)
            .await;
        let after = self.fx.balance(owner).await;
        let d = Durable {
            thread,
            nonce: nonce.pubkey(),
        };
        (d, i128::from(after) - i128::from(before), outcome)
    }

    /// The nonce is the thread's, at exactly its rent, and anchors a durable execution.
    async fn assert_usable_nonce(&mut self, d: Durable) {
        let rent = self.fx.rent_for(NONCE_ACCOUNT_LEN).await;
        assert_eq!(self.fx.balance(d.nonce).await, rent);
        assert_eq!(
            self.fx.nonce(d.nonce).await.expect("initialized").authority,
            d.thread
        );
        assert_eq!(
            self.fx.thread(d.thread).await.durability,
            Durability::Durable {
                nonce_account: d.nonce
            }
        );
        let l = self.claim(d, LEASE_SLOTS).await;
        assert_eq!(l.bond, rent);
        let calls = self.calls().await;
        let tx = self.durable_exec_tx(d.thread).await;
        self.send_tx(tx).await.0.assert_ok();
        assert_eq!(self.calls().await, calls + 1);
        assert_eq!(self.fx.thread(d.thread).await.exec_count, 1);
    }
}

#[tokio::test]
async fn nonce_address_prefunded_with_a_few_lamports_is_topped_up_and_works() {
    let mut env = env().await;
    let nonce = Keypair::new();
    env.place(&nonce.pubkey(), system_account(1_000));
    let (d, _, outcome) = env.create_at("few", &nonce).await;
    outcome.assert_ok();
    env.assert_usable_nonce(d).await;
}

#[tokio::test]
async fn nonce_address_prefunded_beyond_rent_is_trimmed_and_the_excess_goes_to_the_payer() {
    let mut env = env().await;
    let rent = env.fx.rent_for(NONCE_ACCOUNT_LEN).await;
    let excess = 3_000_000;
    // Paid the same way without the pre-funding, for the owner's cost to compare with.
    let plain = Keypair::new();
    let (_, plain_cost, outcome) = env.create_at("plain", &plain).await;
    outcome.assert_ok();

    let nonce = Keypair::new();
    env.prefund(&nonce.pubkey(), rent + excess).await;
    let (d, cost, outcome) = env.create_at("rich", &nonce).await;
    outcome.assert_ok();
    // The owner paid no nonce rent and got the excess: rent + excess better off.
    assert_eq!(cost - plain_cost, i128::from(rent + excess));
    env.assert_usable_nonce(d).await;
}

#[tokio::test]
async fn nonce_address_holding_data_or_owned_elsewhere_is_refused_by_name() {
    let mut env = env().await;
    let rent = env.fx.rent_for(NONCE_ACCOUNT_LEN).await;
    let with_data = Account {
        lamports: rent,
        data: vec![1; NONCE_ACCOUNT_LEN],
        owner: solana_system_interface::program::ID,
        executable: false,
        rent_epoch: 0,
    };
    let owned_elsewhere = Account {
        lamports: rent,
        data: vec![],
        owner: recorder::ID,
        executable: false,
        rent_epoch: 0,
    };
    for (id, account) in [("data", with_data), ("foreign", owned_elsewhere)] {
        let nonce = Keypair::new();
        env.place(&nonce.pubkey(), account.clone());
        let (d, cost, outcome) = env.create_at(id, &nonce).await;
        outcome.assert_error(ThreadError::NonceAddressInUse);
        // Two signatures (owner, nonce key) and nothing else.
        assert_eq!(cost, -2 * i128::from(LAMPORTS_PER_SIGNATURE));
        assert!(env.fx.account(d.thread).await.is_none(), "no thread left");
        assert_eq!(env.fx.account(d.nonce).await, Some(account));
    }
}

#[tokio::test]
async fn rotation_to_a_prefunded_nonce_address_takes_it_over() {
    let mut env = env().await;
    let d = env.durable("rotate").await;
    // A nonce can be closed only once the blockhash it stores is no longer current.
    env.fx.warp_slots(1).await;
    let owner = env.owner.insecure_clone();
    let new_nonce = Keypair::new();
    env.place(&new_nonce.pubkey(), system_account(1_000));
    env.rotate(d, &owner, &new_nonce).await.0.assert_ok();
    let rotated = Durable {
        thread: d.thread,
        nonce: new_nonce.pubkey(),
    };
    assert!(env.fx.account(d.nonce).await.is_none());
    env.assert_usable_nonce(rotated).await;
}

#[tokio::test]
async fn forfeit_naming_the_callers_own_wallet_as_the_new_nonce_is_refused() {
    let mut env = env().await;
    let d = env.durable("own-wallet").await;
    let l = env.claim(d, 5).await;
    env.expire(&l).await;
    // The stranger would turn its whole wallet into the thread's nonce, so that every
    // keeper's bond must match it.
    let stranger = env.stranger.insecure_clone();
    let ix = client::forfeit_lease(
        &stranger.pubkey(),
        &l.thread,
        &env.owner.pubkey(),
        &l.nonce,
        &stranger.pubkey(),
    );
    let before = env.snapshot(d).await;
    env.assert_refused_for_fee(&[ix], &stranger, ThreadError::NonceAddressInUse, &before)
        .await;
}
