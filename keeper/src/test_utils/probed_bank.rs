//! The in-process bank behind a probe: one wrapper, used by the integration tests, the
//! benches and the load example, that forwards every `Chain` call to a shared `BankChain`
//! and records what the keeper asked of it.
//!
//! Owns: the counts and hooks around each call. Must not: change what the bank answers
//! (a test that wants faults wraps this in `FaultyChain`), or hold a lock across a call
//! into the bank.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use solana_sdk::account::Account;
use solana_sdk::clock::Clock;
use solana_sdk::hash::Hash;
use solana_sdk::instruction::Instruction;
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::{Keypair, Signature};
use solana_sdk::transaction::{TransactionError, VersionedTransaction};

use crate::chain::bank::BankChain;
use crate::chain::{Chain, ChainError, KeyedAccount, ProgramNotices, Simulation, TxStatus};
use crate::sandbox;

/// Told of each call as it passes, for harnesses that time stages of an execution (the
/// load example stamps read, simulate, send and sent per thread). Every method defaults
/// to nothing, so an observer names only the calls it cares about.
pub trait BankObserver: Send + Sync {
    /// Before `get_account(key)` reaches the bank.
    fn reading(&self, _key: &Pubkey) {}
    /// After a multiple-account or program-account read returned `count` accounts.
    fn accounts_returned(&self, _count: usize) {}
    /// Before a simulation reaches the bank.
    fn simulating(&self, _tx: &VersionedTransaction) {}
    /// Before a send reaches the bank.
    fn sending(&self, _tx: &VersionedTransaction) {}
    /// After the bank accepted a send.
    fn sent(&self, _tx: &VersionedTransaction) {}
}

/// One bank behind any number of endpoints, as RPC nodes of one cluster share a ledger:
/// every wrapper around the same `BankChain` sees the same record of sent transactions
/// and the same send order. Forwards every call (the program subscription included, so
/// the daemon's discovery gets pushed changes) and watches what the keeper asks:
///
/// - which accounts it reads one by one ([`ProbedBank::reads_of`]; the executor reads a
///   thread before it does anything with it);
/// - how many sends reached the bank ([`ProbedBank::sends`]), the signatures the bank
///   accepted ([`ProbedBank::sent`]) and the most sends under way at once
///   ([`ProbedBank::most_sending`]);
///
/// and can change the course of a send: make every send slow ([`ProbedBank::slow_sends`])
/// or land owner instructions right before the next one ([`ProbedBank::before_next_send`],
/// a change that lands between the keeper's build and its send).
pub struct ProbedBank {
    bank: Arc<BankChain>,
    observer: Option<Arc<dyn BankObserver>>,
    reads: Mutex<HashMap<Pubkey, u64>>,
    send_delay: Mutex<Duration>,
    before_next_send: Mutex<Option<(Vec<Instruction>, Keypair)>>,
    sends: AtomicU64,
    sent: Mutex<Vec<Signature>>,
    sending: AtomicUsize,
    most_sending: AtomicUsize,
}

impl ProbedBank {
    pub fn new(bank: Arc<BankChain>) -> Self {
        Self {
            bank,
            observer: None,
            reads: Mutex::default(),
            send_delay: Mutex::new(Duration::ZERO),
            before_next_send: Mutex::new(None),
            sends: AtomicU64::new(0),
            sent: Mutex::default(),
            sending: AtomicUsize::new(0),
            most_sending: AtomicUsize::new(0),
        }
    }

    /// Tells `observer` of every call from now on.
    pub fn observed_by(mut self, observer: Arc<dyn BankObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// `get_account` calls for each of `keys`.
    pub fn reads_of(&self, keys: &[Pubkey]) -> Vec<u64> {
        let reads = self.reads.lock().unwrap();
        keys.iter()
            .map(|k| reads.get(k).copied().unwrap_or(0))
            .collect()
    }

    /// Every send waits `delay` before it reaches the bank; the count of sends under way
    /// at once starts again from zero.
    pub fn slow_sends(&self, delay: Duration) {
        *self.send_delay.lock().unwrap() = delay;
        self.most_sending.store(0, Ordering::SeqCst);
    }

    /// The most sends under way at once since [`ProbedBank::slow_sends`] (or the start).
    pub fn most_sending(&self) -> usize {
        self.most_sending.load(Ordering::SeqCst)
    }

    /// Sends that reached the bank, whatever it answered.
    pub fn sends(&self) -> u64 {
        self.sends.load(Ordering::SeqCst)
    }

    /// Signatures of the sends the bank accepted, in order.
    pub fn sent(&self) -> Vec<Signature> {
        self.sent.lock().unwrap().clone()
    }

    /// The sends of [`ProbedBank::sent`] that failed on chain, with their errors. Every
    /// accepted send has a status: the bank runs it before it answers.
    pub async fn sent_that_failed(&self) -> Vec<(Signature, TransactionError)> {
        let sent = self.sent();
        let statuses = self.bank.signature_statuses(&sent).await.unwrap();
        sent.into_iter()
            .zip(statuses)
            .filter_map(|(signature, status)| {
                let status = status.expect("a sent transaction has a status");
                status.err.map(|err| (signature, err))
            })
            .collect()
    }

    /// The next send first lands `ixs`, signed and paid by `owner`.
    pub fn before_next_send(&self, ixs: Vec<Instruction>, owner: Keypair) {
        *self.before_next_send.lock().unwrap() = Some((ixs, owner));
    }

    fn observe(&self, tell: impl FnOnce(&dyn BankObserver)) {
        if let Some(observer) = &self.observer {
            tell(observer.as_ref());
        }
    }
}

/// One send under way; counted off when it ends, however it ends.
struct Sending<'a>(&'a AtomicUsize);

impl<'a> Sending<'a> {
    fn start(sending: &'a AtomicUsize, most: &AtomicUsize) -> Self {
        let now = sending.fetch_add(1, Ordering::SeqCst) + 1;
        most.fetch_max(now, Ordering::SeqCst);
        Self(sending)
    }
}

impl Drop for Sending<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[async_trait]
impl Chain for ProbedBank {
    fn endpoint(&self) -> &str {
        self.bank.endpoint()
    }
    async fn get_account(&self, key: &Pubkey) -> Result<Option<Account>, ChainError> {
        *self.reads.lock().unwrap().entry(*key).or_default() += 1;
        self.observe(|o| o.reading(key));
        self.bank.get_account(key).await
    }
    async fn get_multiple_accounts(
        &self,
        keys: &[Pubkey],
    ) -> Result<Vec<Option<Account>>, ChainError> {
        let accounts = self.bank.get_multiple_accounts(keys).await?;
        self.observe(|o| o.accounts_returned(accounts.len()));
        Ok(accounts)
    }
    async fn get_program_accounts(
        &self,
        program: &Pubkey,
        prefix: &[u8],
    ) -> Result<(u64, Vec<KeyedAccount>), ChainError> {
        let (slot, accounts) = self.bank.get_program_accounts(program, prefix).await?;
        self.observe(|o| o.accounts_returned(accounts.len()));
        Ok((slot, accounts))
    }
    async fn latest_blockhash(&self) -> Result<Hash, ChainError> {
        self.bank.latest_blockhash().await
    }
    async fn clock(&self) -> Result<Clock, ChainError> {
        self.bank.clock().await
    }
    async fn simulate(&self, tx: &VersionedTransaction) -> Result<Simulation, ChainError> {
        self.observe(|o| o.simulating(tx));
        self.bank.simulate(tx).await
    }
    async fn send(&self, tx: &VersionedTransaction) -> Result<Signature, ChainError> {
        let _sending = Sending::start(&self.sending, &self.most_sending);
        let delay = *self.send_delay.lock().unwrap();
        tokio::time::sleep(delay).await;
        let first = self.before_next_send.lock().unwrap().take();
        if let Some((ixs, owner)) = first {
            sandbox::send(&self.bank, &ixs, &owner, &[])
                .await
                .expect("the owner's instructions land");
        }
        self.sends.fetch_add(1, Ordering::SeqCst);
        self.observe(|o| o.sending(tx));
        let signature = self.bank.send(tx).await?;
        self.sent.lock().unwrap().push(signature);
        self.observe(|o| o.sent(tx));
        Ok(signature)
    }
    async fn signature_statuses(
        &self,
        signatures: &[Signature],
    ) -> Result<Vec<Option<TxStatus>>, ChainError> {
        self.bank.signature_statuses(signatures).await
    }
    async fn recent_prioritization_fees(
        &self,
        accounts: &[Pubkey],
    ) -> Result<Vec<u64>, ChainError> {
        self.bank.recent_prioritization_fees(accounts).await
    }
    async fn subscribe_program(
        &self,
        program: &Pubkey,
        prefix: &[u8],
    ) -> Result<ProgramNotices, ChainError> {
        self.bank.subscribe_program(program, prefix).await
    }
}
