//! Durable threads in the test bank: creating them, nonce inspection, and durable
//! execution transactions as a keeper signs them: instruction 0 advances the thread's
//! nonce with the keeper as authority, and the blockhash is the nonce value.

use anchor_lang::prelude::Pubkey;
use solana_sdk::hash::Hash;
use solana_sdk::instruction::Instruction;
use solana_sdk::signature::{Keypair, Signer};
use solana_sdk::transaction::Transaction;
use solana_system_interface::instruction as system_instruction;
use thread::client::{self, NonceData, NONCE_ACCOUNT_LEN};
use thread::state::{Due, Thread};

use crate::{Fixture, Outcome, ThreadSpec};

/// The authority and value of an initialized nonce account.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NonceInfo {
    pub authority: Pubkey,
    pub value: Hash,
}

impl Fixture {
    /// The nonce account's state, or `None` when it is closed or not initialized.
    pub async fn nonce(&mut self, nonce: Pubkey) -> Option<NonceInfo> {
        let account = self.account(nonce).await?;
        let state = NonceData::parse(&account.data)?.initialized()?;
        Some(NonceInfo {
            authority: state.authority,
            value: Hash::new_from_array(state.durable_nonce),
        })
    }

    /// Signs `ixs` as a durable transaction on `nonce`: instruction 0 advances it with
    /// `authority`, the blockhash is its current value; `signers[0]` pays.
    pub async fn durable_tx(
        &mut self,
        nonce: Pubkey,
        authority: &Pubkey,
        ixs: &[Instruction],
        signers: &[&Keypair],
    ) -> Transaction {
        let value = self.nonce(nonce).await.expect("initialized nonce").value;
        let mut all = vec![system_instruction::advance_nonce_account(&nonce, authority)];
        all.extend_from_slice(ixs);
        Transaction::new_signed_with_payer(&all, Some(&signers[0].pubkey()), signers, value)
    }

    /// A durable `exec_thread` of `thread` by `keeper`, the lease holder, signed now and
    /// valid for as long as the nonce is not advanced.
    pub async fn durable_exec_tx(&mut self, keeper: &Keypair, thread: Pubkey) -> Transaction {
        let state = self.thread(thread).await;
        let value = self
            .nonce(nonce_of(&state))
            .await
            .expect("initialized nonce")
            .value;
        let ixs =
            client::durable_exec_thread(&keeper.pubkey(), &thread, &state).expect("durable thread");
        Transaction::new_signed_with_payer(&ixs, Some(&keeper.pubkey()), &[keeper], value)
    }
}

/// The nonce account of a durable thread.
pub fn nonce_of(state: &Thread) -> Pubkey {
    state.nonce_account().expect("durable thread")
}

impl Fixture {
    /// Creates a durable thread from `spec` (owner: `self.owner`, who pays) with a fresh
    /// nonce account; returns the thread, the nonce account and the outcome.
    pub async fn create_durable_thread(
        &mut self,
        spec: ThreadSpec,
        max_lease_slots: u64,
    ) -> (Pubkey, Pubkey, Outcome) {
        self.create_durable_thread_at(spec, max_lease_slots, &Keypair::new())
            .await
    }

    /// As `create_durable_thread`, with the nonce account at `nonce`'s address (which a
    /// test may have prepared, e.g. pre-funded).
    pub async fn create_durable_thread_at(
        &mut self,
        spec: ThreadSpec,
        max_lease_slots: u64,
        nonce: &Keypair,
    ) -> (Pubkey, Pubkey, Outcome) {
        let owner = self.owner.insecure_clone();
        let (thread, _) = Thread::address(&owner.pubkey(), &spec.id);
        let ix = client::create_thread_with_nonce(
            &owner.pubkey(),
            &thread,
            &nonce.pubkey(),
            spec.into_args(),
            max_lease_slots,
        );
        let outcome = self.process(&[ix], &[&owner, nonce]).await;
        (thread, nonce.pubkey(), outcome)
    }

    /// A plain system nonce account (not a thread's) with `authority`, funded by `payer`
    /// at the Rent sysvar's price for 80 bytes.
    pub async fn create_nonce_account(&mut self, payer: &Keypair, authority: &Pubkey) -> Pubkey {
        let nonce = Keypair::new();
        let lamports = self.rent_for(NONCE_ACCOUNT_LEN).await;
        let ixs = system_instruction::create_nonce_account(
            &payer.pubkey(),
            &nonce.pubkey(),
            authority,
            lamports,
        );
        self.process(&ixs, &[payer, &nonce]).await.assert_ok();
        nonce.pubkey()
    }

    /// The fee the bank charges for a signed transaction. Fees do not depend on the
    /// blockhash, so the message is priced with the latest one (a durable transaction's
    /// nonce value is not in the blockhash queue).
    pub async fn fee_of_tx(&mut self, tx: &Transaction) -> u64 {
        let mut message = tx.message.clone();
        message.recent_blockhash = self.latest_blockhash().await;
        self.fee_for_message(message).await
    }

    /// Moves the clock's unix time forward to the thread's next due time when that is a
    /// time still in the future, so an `Interval` thread can run again.
    pub async fn make_due(&mut self, thread: Pubkey) {
        if let Due::At { unix_ts } = self.thread(thread).await.next_due {
            if self.clock().await.unix_timestamp < unix_ts {
                self.set_unix_time(unix_ts).await;
            }
        }
    }
}
