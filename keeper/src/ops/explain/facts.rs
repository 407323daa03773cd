//! What `keeper explain` reads before it judges: the thread, its balance against rent,
//! the cluster's clock, a durable thread's nonce account, an `Account` or `Condition`
//! trigger's watched account and, given a store, the keeper's rows for the thread. Reads only.

use solana_sdk::clock::Clock;
use solana_sdk::hash::Hash;
use solana_sdk::pubkey::Pubkey;
use thread::schedule::Watched;
use thread::state::{Durability, Thread, Trigger};

use crate::chain::reads::{read_rent, read_thread, ThreadAccount, ThreadReadError};
use crate::chain::{Chain, ChainError};
use crate::execution::builder::parse_nonce;
use crate::store::{DeadLetter, Declined, Execution, Store, StoreError};

/// How many of the thread's executions the keeper's side shows.
pub const RECENT_EXECUTIONS: usize = 5;

/// Why there is nothing to explain.
#[derive(Debug, thiserror::Error)]
pub enum ExplainError {
    #[error(transparent)]
    Thread(#[from] ThreadReadError),
    #[error(transparent)]
    Chain(#[from] ChainError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A durable thread's nonce account, as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NonceFacts {
    Missing,
    /// The account exists but holds no initialized nonce.
    NotANonce,
    Initialized {
        authority: Pubkey,
        value: Hash,
    },
}

/// The keeper's side of the thread, from its store.
#[derive(Debug, Clone, Default)]
pub struct KeeperFacts {
    /// The thread's executions, newest due time first.
    pub recent: Vec<Execution>,
    /// The dead letter of the execution for the current due time, if it has one.
    pub dead_letter: Option<DeadLetter>,
    /// The latest due time this keeper declined as unprofitable, if any.
    pub declined: Option<Declined>,
}

impl KeeperFacts {
    /// The row of the due time the chain shows next (`exec_count`).
    pub fn current(&self, exec_count: u64) -> Option<&Execution> {
        self.recent
            .iter()
            .find(|row| row.exec_count_at_build == exec_count)
    }
}

/// Everything a verdict rests on.
#[derive(Debug, Clone)]
pub struct Facts {
    pub address: Pubkey,
    pub thread: Thread,
    pub balance: u64,
    /// The rent-exempt minimum of the thread account's size.
    pub rent_minimum: u64,
    pub clock: Clock,
    /// A durable thread's nonce account; `None` for a non-durable thread.
    pub nonce: Option<NonceFacts>,
    /// An `Account` or `Condition` trigger's watched account (`Some(None)`: the account
    /// is missing).
    pub watched: Option<Option<WatchedAccount>>,
    /// The keeper's rows, when a store was given.
    pub keeper: Option<KeeperFacts>,
    /// The keeper asking, when known: a live lease held by another key blocks it.
    pub me: Option<Pubkey>,
}

/// The state of a watched account the program's checks read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchedAccount {
    pub data: Vec<u8>,
    pub owner: Pubkey,
}

impl WatchedAccount {
    pub fn as_watched(&self) -> Watched<'_> {
        Watched {
            data: &self.data,
            owner: &self.owner,
        }
    }
}

impl Facts {
    /// The balance above rent and a held lease's bond: what pays fees.
    pub fn spare(&self) -> u64 {
        self.balance.saturating_sub(self.reserved())
    }

    /// What the account must keep: rent exemption and a held lease's bond.
    pub fn reserved(&self) -> u64 {
        self.thread.reserve_at(self.rent_minimum)
    }

    /// Reads the thread at `address` and what its verdict needs.
    pub async fn read(
        chain: &dyn Chain,
        program: &Pubkey,
        address: &Pubkey,
        store: Option<&Store>,
        me: Option<Pubkey>,
    ) -> Result<Self, ExplainError> {
        let ThreadAccount {
            thread,
            lamports,
            data_len,
        } = read_thread(chain, program, address).await?;
        let rent = read_rent(chain).await?;
        let clock = chain.clock().await?;
        let nonce = match thread.durability {
            Durability::Durable { nonce_account } => Some(read_nonce(chain, &nonce_account).await?),
            Durability::NonDurable => None,
        };
        let watched = match thread.trigger {
            Trigger::Account { address, .. } | Trigger::Condition { address, .. } => {
                Some(chain.get_account(&address).await?.map(|a| WatchedAccount {
                    data: a.data,
                    owner: a.owner,
                }))
            }
            _ => None,
        };
        let keeper = match store {
            Some(store) => Some(read_store(store, address, thread.exec_count)?),
            None => None,
        };
        Ok(Self {
            address: *address,
            balance: lamports,
            rent_minimum: rent.minimum_balance(data_len),
            thread,
            clock,
            nonce,
            watched,
            keeper,
            me,
        })
    }
}

async fn read_nonce(chain: &dyn Chain, nonce: &Pubkey) -> Result<NonceFacts, ChainError> {
    Ok(match chain.get_account(nonce).await? {
        None => NonceFacts::Missing,
        Some(account) => match parse_nonce(&account.data) {
            Some((authority, value)) => NonceFacts::Initialized { authority, value },
            None => NonceFacts::NotANonce,
        },
    })
}

fn read_store(store: &Store, thread: &Pubkey, exec_count: u64) -> Result<KeeperFacts, StoreError> {
    let recent = store.executions_of_thread(thread, RECENT_EXECUTIONS)?;
    let dead_letter = match recent
        .iter()
        .find(|row| row.exec_count_at_build == exec_count)
    {
        Some(row) => store.dead_letter_of_execution(row.id)?,
        None => None,
    };
    Ok(KeeperFacts {
        recent,
        dead_letter,
        declined: store.unprofitable(thread)?,
    })
}
