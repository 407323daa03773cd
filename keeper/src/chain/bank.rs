//! [`BankChain`]: the [`Chain`] over an in-process Agave bank (`solana-program-test`)
//! with the thread program loaded natively, for tests, benchmarks and the sandbox.
//!
//! Owns the shared [`ProgramTestContext`] (tests keep warping slots and setting the clock
//! through [`BankChain::context`]), the record of what was sent through it, and the set
//! of addresses [`Chain::get_program_accounts`] can see.
//!
//! Must not: pretend to be a cluster it is not. The bank has no fee market (so
//! [`Chain::recent_prioritization_fees`] is empty), and no account index. The banks
//! client has no `getProgramAccounts` and `ProgramTestContext` keeps its `BankForks`
//! private in 3.1.12, so program accounts are found by scanning a set of *known
//! addresses*: every static account key of a transaction that executed through
//! [`Chain::send`], plus the ones registered with [`BankChain::watch`]. An account created
//! any other way (at genesis, or by a transaction processed straight through the context)
//! is invisible to that scan until it is watched. Keys loaded from address lookup tables
//! are not tracked.
//!
//! [`Chain::subscribe_program`] works like a node's `programSubscribe` for what goes
//! through [`Chain::send`]: after each executed transaction, every writable static key
//! that matches a subscription is pushed with its new state, and one that matched before
//! and no longer does (closed, reassigned) is pushed once more as it now is, so the
//! subscriber learns it is gone.

#![allow(deprecated)] // program-test 3.1 marks its items deprecated; they are what we run

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use parking_lot::Mutex as StdMutex;

use async_trait::async_trait;
use solana_banks_client::{BanksClient, BanksClientError};
use solana_banks_interface::{BanksTransactionResultWithMetadata, TransactionConfirmationStatus};
use solana_program_test::{processor, ProgramTest, ProgramTestContext};
use solana_sdk::account::Account;
use solana_sdk::clock::Clock;
use solana_sdk::hash::Hash;
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::{Keypair, Signature};
use solana_sdk::transaction::{TransactionError, VersionedTransaction};
use tokio::sync::Mutex;

use super::{Chain, ChainError, KeyedAccount, ProgramNotice, ProgramNotices, Simulation, TxStatus};

/// A bank with the thread program loaded natively (no SBF build needed), and the example
/// program whose instructions answer their threads (`responder`). Add accounts and
/// programs to it before [`BankChain::start`].
pub fn program_test() -> ProgramTest {
    let mut pt = ProgramTest::new(
        "thread",
        thread::ID,
        processor!(thread::client::native_entry),
    );
    pt.prefer_bpf(false);
    pt.add_program("responder", responder::ID, processor!(responder::process));
    pt
}

/// The [`Chain`] over a running program-test bank.
pub struct BankChain {
    context: Arc<Mutex<ProgramTestContext>>,
    /// A clone of the context's client: requests need no lock on the context, so a test
    /// holding it (to warp, say) does not stall the keeper.
    banks: BanksClient,
    /// Addresses `get_program_accounts` scans (see the module docs).
    known: StdMutex<BTreeSet<Pubkey>>,
    /// Outcomes of transactions that executed through `send`.
    landed: StdMutex<HashMap<Signature, TxStatus>>,
    /// Sends are processed one at a time, as a leader sequences them. Without it,
    /// concurrent sends that write the same account (every keeper transaction writes its
    /// fee payer) fail with `AccountInUse`, which a real cluster never returns.
    sequencer: tokio::sync::Mutex<()>,
    /// Taken shared by everything that runs transactions in the bank (`send`,
    /// `simulate`) and exclusively by [`BankChain::pause_transactions`].
    gate: tokio::sync::RwLock<()>,
    /// Program subscriptions, fed after each executed transaction.
    subscribers: StdMutex<Vec<Subscriber>>,
}

/// One [`Chain::subscribe_program`] caller.
struct Subscriber {
    program: Pubkey,
    prefix: Vec<u8>,
    notices: tokio::sync::mpsc::UnboundedSender<ProgramNotice>,
    /// Accounts last pushed as matching: the ones whose end must be pushed too.
    matching: BTreeSet<Pubkey>,
}

impl Subscriber {
    fn matches(&self, account: &Account) -> bool {
        account.lamports > 0
            && account.owner == self.program
            && account.data.starts_with(&self.prefix)
    }

    /// Pushes `account`'s new state if it matches or used to; `false` once the
    /// receiver is gone.
    fn offer(&mut self, slot: u64, pubkey: Pubkey, account: &Option<Account>) -> bool {
        let now = account.as_ref().is_some_and(|a| self.matches(a));
        let before = if now {
            !self.matching.insert(pubkey)
        } else {
            self.matching.remove(&pubkey)
        };
        if !now && !before {
            return true;
        }
        let keyed = KeyedAccount {
            pubkey,
            account: account.clone().unwrap_or_default(),
        };
        self.notices
            .send(ProgramNotice::Account { slot, keyed })
            .is_ok()
    }
}

impl BankChain {
    /// Starts `pt` (usually [`program_test`] plus the test's accounts).
    pub async fn start(pt: ProgramTest) -> Self {
        Self::new(pt.start_with_context().await)
    }

    /// Wraps a started context.
    pub fn new(context: ProgramTestContext) -> Self {
        let banks = context.banks_client.clone();
        Self::with_client(Arc::new(Mutex::new(context)), banks)
    }

    /// Wraps a context that someone else keeps a handle on too.
    pub async fn from_shared(context: Arc<Mutex<ProgramTestContext>>) -> Self {
        let banks = context.lock().await.banks_client.clone();
        Self::with_client(context, banks)
    }

    /// `context` and a client of its banks, with nothing known or landed yet.
    fn with_client(context: Arc<Mutex<ProgramTestContext>>, banks: BanksClient) -> Self {
        Self {
            context,
            banks,
            known: StdMutex::new(BTreeSet::new()),
            landed: StdMutex::new(HashMap::new()),
            sequencer: tokio::sync::Mutex::new(()),
            gate: tokio::sync::RwLock::new(()),
            subscribers: StdMutex::new(Vec::new()),
        }
    }

    /// The context, to warp slots, set the clock or store accounts directly. While a
    /// keeper may be running, do that under [`BankChain::pause_transactions`].
    pub fn context(&self) -> Arc<Mutex<ProgramTestContext>> {
        self.context.clone()
    }

    /// Holds [`Chain::send`] and [`Chain::simulate`] back until the guard drops, once
    /// those under way are done. Take it around anything that freezes or replaces the
    /// working bank (`warp_to_slot`, `set_sysvar`) while a keeper runs on another thread:
    /// a transaction committing into a bank that a warp has just frozen panics inside
    /// the banks server (and its `send` never returns), and a simulation running while
    /// a warp creates the next bank can deadlock with it on the program cache's lock.
    pub async fn pause_transactions(&self) -> tokio::sync::RwLockWriteGuard<'_, ()> {
        self.gate.write().await
    }

    /// The genesis mint keypair: funded, the usual fee payer of a test.
    pub async fn payer(&self) -> Keypair {
        self.context.lock().await.payer.insecure_clone()
    }

    /// Makes `key` visible to [`Chain::get_program_accounts`] (when its owner and data
    /// match), for accounts that did not come into being through [`Chain::send`].
    pub fn watch(&self, key: Pubkey) {
        lock(&self.known).insert(key);
    }

    /// The addresses [`Chain::get_program_accounts`] scans, in order.
    pub fn watched(&self) -> Vec<Pubkey> {
        lock(&self.known).iter().copied().collect()
    }

    /// Pushes the writable accounts of an executed `tx` to the subscriptions they
    /// concern (see the module docs). Accounts that cannot be read are skipped: the
    /// stream is a hint, and the next full view has them.
    async fn push_changes(&self, slot: u64, tx: &VersionedTransaction) {
        if lock(&self.subscribers).is_empty() {
            return;
        }
        let keys = tx.message.static_account_keys();
        let mut changed = Vec::new();
        for (i, key) in keys.iter().enumerate() {
            if tx.message.is_maybe_writable(i, None) {
                if let Ok(account) = self.banks.get_account(*key).await {
                    changed.push((*key, account));
                }
            }
        }
        lock(&self.subscribers).retain_mut(|subscriber| {
            changed
                .iter()
                .all(|(key, account)| subscriber.offer(slot, *key, account))
        });
    }
}

fn lock<T>(mutex: &StdMutex<T>) -> parking_lot::MutexGuard<'_, T> {
    // Nothing that holds these locks can panic half-way through an update.
    mutex.lock()
}

/// Transport failures are `Unavailable`, transaction errors `Rejected`, the rest `Rpc`.
fn chain_error(error: BanksClientError) -> ChainError {
    match error {
        BanksClientError::Io(e) => ChainError::Unavailable(e.to_string()),
        BanksClientError::RpcError(e) => ChainError::Unavailable(e.to_string()),
        BanksClientError::TransactionError(e) => ChainError::Rejected(e),
        BanksClientError::SimulationError { err, .. } => ChainError::Rejected(err),
        BanksClientError::ClientError(e) => ChainError::Rpc(e.to_string()),
    }
}

#[async_trait]
impl Chain for BankChain {
    fn endpoint(&self) -> &str {
        "bank"
    }

    async fn get_account(&self, key: &Pubkey) -> Result<Option<Account>, ChainError> {
        self.banks.get_account(*key).await.map_err(chain_error)
    }

    async fn get_multiple_accounts(
        &self,
        keys: &[Pubkey],
    ) -> Result<Vec<Option<Account>>, ChainError> {
        let mut accounts = Vec::with_capacity(keys.len());
        for key in keys {
            accounts.push(self.get_account(key).await?);
        }
        Ok(accounts)
    }

    /// Scans the known addresses (see the module docs), in address order. The slot is
    /// taken before the scan, so the accounts are at least as new as it says.
    async fn get_program_accounts(
        &self,
        program: &Pubkey,
        prefix: &[u8],
    ) -> Result<(u64, Vec<KeyedAccount>), ChainError> {
        let slot = self.banks.get_root_slot().await.map_err(chain_error)?;
        let known = self.watched();
        let mut found = Vec::new();
        for pubkey in known {
            if let Some(account) = self.get_account(&pubkey).await? {
                if account.owner == *program && account.data.starts_with(prefix) {
                    found.push(KeyedAccount { pubkey, account });
                }
            }
        }
        Ok((slot, found))
    }

    async fn latest_blockhash(&self) -> Result<Hash, ChainError> {
        self.banks.get_latest_blockhash().await.map_err(chain_error)
    }

    async fn clock(&self) -> Result<Clock, ChainError> {
        self.banks.get_sysvar::<Clock>().await.map_err(chain_error)
    }

    /// Simulates with the blockhash replaced by the latest one; the bank's simulation
    /// does not verify signatures.
    async fn simulate(&self, tx: &VersionedTransaction) -> Result<Simulation, ChainError> {
        let mut tx = tx.clone();
        let blockhash = self.latest_blockhash().await?;
        tx.message.set_recent_blockhash(blockhash);
        let _gate = self.gate.read().await;
        let simulation = self
            .banks
            .simulate_transaction(tx)
            .await
            .map_err(chain_error)?;
        let err = match simulation.result {
            Some(result) => result.err(),
            None => return Err(ChainError::Rpc("simulation returned no result".into())),
        };
        let (logs, units_consumed) = simulation
            .simulation_details
            .map(|details| (details.logs, details.units_consumed))
            .unwrap_or_default();
        Ok(Simulation {
            err,
            logs,
            units_consumed,
        })
    }

    /// Verifies the signatures (as an RPC node does before forwarding), then executes the
    /// transaction in the working bank and records its outcome for
    /// [`Chain::signature_statuses`] (slot: the current one, confirmed at once). A
    /// transaction that fails during execution is still `Ok`: its fee was charged and its
    /// error is in its status. One rejected before execution (bad signature, unknown
    /// blockhash, already processed, no funds for the fee, ...) is
    /// [`ChainError::Rejected`] and is not recorded. Unlike an RPC node with preflight
    /// off, a byte-identical resend is therefore `Rejected(AlreadyProcessed)`, while the
    /// first outcome stays recorded.
    async fn send(&self, tx: &VersionedTransaction) -> Result<Signature, ChainError> {
        let signature = *tx
            .signatures
            .first()
            .ok_or(ChainError::Rejected(TransactionError::SanitizeFailure))?;
        if tx.verify_with_results().iter().any(|ok| !ok) {
            return Err(ChainError::Rejected(TransactionError::SignatureFailure));
        }
        let _turn = self.sequencer.lock().await;
        // After the turn: a pause then waits for this send only, not for the queue.
        let _gate = self.gate.read().await;
        let BanksTransactionResultWithMetadata { result, metadata } = self
            .banks
            .process_transaction_with_metadata(tx.clone())
            .await
            .map_err(chain_error)?;
        if metadata.is_none() {
            // Not committed: rejected before execution.
            return Err(ChainError::Rejected(
                result.err().unwrap_or(TransactionError::SanitizeFailure),
            ));
        }
        let slot = self.banks.get_root_slot().await.map_err(chain_error)?;
        lock(&self.known).extend(tx.message.static_account_keys().iter().copied());
        // Still in this send's turn: the states pushed are the ones it left.
        self.push_changes(slot, tx).await;
        lock(&self.landed).insert(
            signature,
            TxStatus {
                slot,
                err: result.err(),
                confirmed: true,
            },
        );
        Ok(signature)
    }

    /// What [`Chain::send`] recorded; for other signatures (transactions processed
    /// straight through the context) the bank's status cache.
    async fn signature_statuses(
        &self,
        signatures: &[Signature],
    ) -> Result<Vec<Option<TxStatus>>, ChainError> {
        let mut statuses = Vec::with_capacity(signatures.len());
        for signature in signatures {
            let recorded = lock(&self.landed).get(signature).cloned();
            let status = match recorded {
                Some(status) => Some(status),
                None => self
                    .banks
                    .get_transaction_status(*signature)
                    .await
                    .map_err(chain_error)?
                    .map(|status| TxStatus {
                        slot: status.slot,
                        confirmed: matches!(
                            status.confirmation_status,
                            Some(
                                TransactionConfirmationStatus::Confirmed
                                    | TransactionConfirmationStatus::Finalized
                            )
                        ),
                        err: status.err,
                    }),
            };
            statuses.push(status);
        }
        Ok(statuses)
    }

    /// Always empty: the bank has no fee market, so there is nothing to sample.
    async fn recent_prioritization_fees(
        &self,
        _accounts: &[Pubkey],
    ) -> Result<Vec<u64>, ChainError> {
        Ok(Vec::new())
    }

    /// Pushes what [`Chain::send`] changes from now on (see the module docs). The stream
    /// never drops, so `Connected` comes once.
    async fn subscribe_program(
        &self,
        program: &Pubkey,
        prefix: &[u8],
    ) -> Result<ProgramNotices, ChainError> {
        let (notices, receiver) = tokio::sync::mpsc::unbounded_channel();
        let _ = notices.send(ProgramNotice::Connected);
        // Taken in a send's turn, so no transaction is half-pushed to the newcomer.
        let _turn = self.sequencer.lock().await;
        let mut subscriber = Subscriber {
            program: *program,
            prefix: prefix.to_vec(),
            notices,
            matching: BTreeSet::new(),
        };
        // What matches already: its closing must be pushed too.
        for key in self.watched() {
            if let Some(account) = self.get_account(&key).await? {
                if subscriber.matches(&account) {
                    subscriber.matching.insert(key);
                }
            }
        }
        lock(&self.subscribers).push(subscriber);
        Ok(receiver)
    }
}
