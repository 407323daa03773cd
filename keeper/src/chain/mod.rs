//! Chain access behind one narrow trait, so the keeper's logic runs unchanged against
//! JSON-RPC in production (`RpcChain`) and an in-process Agave bank in tests and the
//! sandbox (`BankChain`). Only what the keeper needs is here; each method maps onto one
//! RPC call.

use async_trait::async_trait;
use solana_sdk::account::Account;
use solana_sdk::clock::Clock;
use solana_sdk::hash::Hash;
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::Signature;
use solana_sdk::transaction::{TransactionError, VersionedTransaction};
use tokio::sync::mpsc;

#[cfg(feature = "bank")]
pub mod bank;
pub mod breaker;
pub mod decode;
pub mod failover;
#[cfg(any(test, feature = "test_utils"))]
pub mod faulty;
pub mod pubsub;
pub mod reads;
pub mod rpc;
pub mod transport;

/// What went wrong talking to the chain. Kinds map onto metric labels (`kind()`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    /// The endpoint could not be reached or did not answer in time: worth retrying,
    /// possibly elsewhere.
    #[error("chain endpoint unavailable: {0}")]
    Unavailable(String),
    /// The endpoint answered with an error for this request.
    #[error("chain request failed: {0}")]
    Rpc(String),
    /// The transaction was rejected before execution (bad signature, unknown or
    /// advanced blockhash/nonce, insufficient funds for fee, ...).
    #[error("transaction rejected: {0}")]
    Rejected(TransactionError),
}

impl ChainError {
    /// Stable label for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            ChainError::Unavailable(_) => "unavailable",
            ChainError::Rpc(_) => "rpc",
            ChainError::Rejected(_) => "rejected",
        }
    }

    /// Whether the same request may succeed if tried again.
    pub fn is_retryable(&self) -> bool {
        matches!(self, ChainError::Unavailable(_))
    }
}

/// The outcome of simulating a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Simulation {
    /// `None` when the transaction would succeed.
    pub err: Option<TransactionError>,
    pub logs: Vec<String>,
    pub units_consumed: u64,
}

/// A landed (or failed) transaction's status as the chain reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxStatus {
    pub slot: u64,
    /// `None` when the transaction succeeded.
    pub err: Option<TransactionError>,
    /// Reached at least `confirmed` commitment.
    pub confirmed: bool,
}

/// A program account and its address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyedAccount {
    pub pubkey: Pubkey,
    pub account: Account,
}

/// Bytes an account's data must hold at `offset`: a `memcmp` filter of
/// `getProgramAccounts`, for narrowing a view by a field (a thread's owner) rather than
/// by the prefix alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataMatch {
    pub offset: usize,
    pub bytes: Vec<u8>,
}

impl DataMatch {
    /// Whether `data` holds these bytes at this offset (data too short never does).
    pub fn matches(&self, data: &[u8]) -> bool {
        self.offset
            .checked_add(self.bytes.len())
            .and_then(|end| data.get(self.offset..end))
            == Some(self.bytes.as_slice())
    }
}

/// What a program subscription ([`Chain::subscribe_program`]) pushes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProgramNotice {
    /// The subscription is (again) in place. Every `Connected` after the first means the
    /// stream was re-established and changes in between may have been missed: take a
    /// full view to catch up.
    Connected,
    /// An account changed at `slot`. An account that no longer matches the subscription
    /// (closed, reassigned, zero lamports) means it is gone; the bank reports those, an
    /// RPC node usually does not (a full view catches them).
    Account { slot: u64, keyed: KeyedAccount },
}

/// The receiving end of a program subscription; dropping it ends the subscription.
pub type ProgramNotices = mpsc::UnboundedReceiver<ProgramNotice>;

/// Everything the keeper asks of the chain.
#[async_trait]
pub trait Chain: Send + Sync {
    /// A human-readable name of the endpoint, for logs and metric labels.
    fn endpoint(&self) -> &str;

    async fn get_account(&self, key: &Pubkey) -> Result<Option<Account>, ChainError>;

    /// [`Chain::get_account`] with the slot the answer was read at, so that an answer
    /// can be judged by its age: "not found" from a node behind the read a decision
    /// rests on proves nothing. The default reads the clock first, a lower bound of the
    /// account read's slot on one node; endpoints that report the read's own slot
    /// (`getAccountInfo`'s context) override it.
    async fn get_account_with_slot(
        &self,
        key: &Pubkey,
    ) -> Result<(u64, Option<Account>), ChainError> {
        let slot = self.clock().await?.slot;
        Ok((slot, self.get_account(key).await?))
    }

    /// Accounts in the order of `keys`; `None` for the ones that do not exist.
    async fn get_multiple_accounts(
        &self,
        keys: &[Pubkey],
    ) -> Result<Vec<Option<Account>>, ChainError>;

    /// Accounts owned by `program` whose data starts with `prefix` (a discriminator),
    /// with the slot the view was taken at.
    async fn get_program_accounts(
        &self,
        program: &Pubkey,
        prefix: &[u8],
    ) -> Result<(u64, Vec<KeyedAccount>), ChainError>;

    /// [`Chain::get_program_accounts`] narrowed further by `matches`. The default
    /// filters the prefix view here; an endpoint that can filter where the accounts live
    /// (JSON-RPC's `memcmp`) overrides it, so only matching accounts cross the wire.
    async fn get_program_accounts_matching(
        &self,
        program: &Pubkey,
        prefix: &[u8],
        matches: &[DataMatch],
    ) -> Result<(u64, Vec<KeyedAccount>), ChainError> {
        let (slot, mut accounts) = self.get_program_accounts(program, prefix).await?;
        accounts.retain(|keyed| matches.iter().all(|m| m.matches(&keyed.account.data)));
        Ok((slot, accounts))
    }

    async fn latest_blockhash(&self) -> Result<Hash, ChainError>;

    /// The Clock sysvar: slot, epoch and unix time as the chain sees them.
    async fn clock(&self) -> Result<Clock, ChainError>;

    /// Simulates without verifying signatures and with the blockhash replaced by a recent
    /// one, so nothing (a nonce included) is consumed.
    async fn simulate(&self, tx: &VersionedTransaction) -> Result<Simulation, ChainError>;

    /// Submits without waiting for confirmation.
    async fn send(&self, tx: &VersionedTransaction) -> Result<Signature, ChainError>;

    /// Statuses in the order of `signatures`; `None` for ones the chain does not know.
    async fn signature_statuses(
        &self,
        signatures: &[Signature],
    ) -> Result<Vec<Option<TxStatus>>, ChainError>;

    /// Recent prioritization fees (micro-lamports per CU) paid by transactions that wrote
    /// `accounts`, one sample per recent slot. Empty when the chain has no fee market.
    async fn recent_prioritization_fees(&self, accounts: &[Pubkey])
        -> Result<Vec<u64>, ChainError>;

    /// Pushes changes to the accounts owned by `program` whose data start with `prefix`
    /// (`programSubscribe`) until the receiver is dropped. `Ok` once the first
    /// subscription is in place (its first notice is [`ProgramNotice::Connected`]); the
    /// implementation re-establishes a dropped stream by itself and says so with another
    /// `Connected`. The stream is a hint that makes changes arrive sooner, never the only
    /// source: notices can be missed, so callers keep reconciling with full views.
    /// Chains that cannot push say so with an error (the default).
    async fn subscribe_program(
        &self,
        program: &Pubkey,
        prefix: &[u8],
    ) -> Result<ProgramNotices, ChainError> {
        let _ = (program, prefix);
        Err(ChainError::Rpc(format!(
            "{} cannot push account changes",
            self.endpoint()
        )))
    }
}
