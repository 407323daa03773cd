//! [`NonceAccountsCheck`]: every nonce account this keeper relies on exists, belongs to
//! the system program, is an initialized nonce whose authority is the expected one, and
//! holds at least the rent-exempt minimum for its 80 bytes; and the set of accounts it
//! watches ([`WatchedNonces`]), kept by the lease code.
//!
//! Owns the `keeper_invalid_nonces` gauge. Must not: repair an account (the lease code
//! does, on its next round), or judge anything but the nonce accounts.

use parking_lot::RwLock;
use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use solana_sdk::account::Account;
use solana_sdk::pubkey::Pubkey;
use solana_sdk::rent::Rent;
use thread::client::NonceData;

use super::check::{HealthCheck, HealthStatus};
use crate::chain::{Chain, ChainError};
use crate::ops::metrics::Metrics;
use thread::client::NONCE_ACCOUNT_LEN;

/// Why a nonce account cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum NonceProblem {
    #[error("account does not exist")]
    Missing,
    #[error("owned by {owner}, not the system program")]
    WrongOwner { owner: Pubkey },
    #[error("not a nonce account ({len} bytes of data)")]
    NotNonce { len: usize },
    #[error("nonce account is not initialized")]
    Uninitialized,
    #[error("authority is {actual}, expected {expected}")]
    WrongAuthority { expected: Pubkey, actual: Pubkey },
    #[error("balance of {lamports} lamports is below the rent-exempt minimum of {minimum}")]
    BelowRentExempt { lamports: u64, minimum: u64 },
}

impl NonceProblem {
    /// Stable label for logs and metrics.
    pub fn kind(&self) -> &'static str {
        self.into()
    }
}

/// Checks one nonce account (`None`: it does not exist), in the order the problems are
/// listed in [`NonceProblem`]; the first one found is reported.
pub fn validate_nonce_account(
    account: Option<&Account>,
    expected_authority: &Pubkey,
    rent_exempt_minimum: u64,
) -> Result<(), NonceProblem> {
    let account = account.ok_or(NonceProblem::Missing)?;
    if account.owner != solana_sdk_ids::system_program::ID {
        return Err(NonceProblem::WrongOwner {
            owner: account.owner,
        });
    }
    let not_nonce = NonceProblem::NotNonce {
        len: account.data.len(),
    };
    let authority = NonceData::parse(&account.data)
        .ok_or(not_nonce)?
        .initialized()
        .ok_or(NonceProblem::Uninitialized)?
        .authority;
    if authority != *expected_authority {
        return Err(NonceProblem::WrongAuthority {
            expected: *expected_authority,
            actual: authority,
        });
    }
    if account.lamports < rent_exempt_minimum {
        return Err(NonceProblem::BelowRentExempt {
            lamports: account.lamports,
            minimum: rent_exempt_minimum,
        });
    }
    Ok(())
}

/// The nonce accounts to check, each with the authority it must have: a shared handle,
/// updated at run time as leases are claimed (`insert`) and released (`remove`). Clones
/// share the same set.
#[derive(Clone, Debug, Default)]
pub struct WatchedNonces(Arc<RwLock<BTreeMap<Pubkey, Pubkey>>>);

impl WatchedNonces {
    pub fn new() -> Self {
        Self::default()
    }

    /// Watches `nonce`, which must have `authority`; replaces its previous authority.
    pub fn insert(&self, nonce: Pubkey, authority: Pubkey) {
        self.write().insert(nonce, authority);
    }

    /// Stops watching `nonce`; its expected authority, if it was watched.
    pub fn remove(&self, nonce: &Pubkey) -> Option<Pubkey> {
        self.write().remove(nonce)
    }

    /// Replaces the whole set.
    pub fn replace(&self, nonces: impl IntoIterator<Item = (Pubkey, Pubkey)>) {
        *self.write() = nonces.into_iter().collect();
    }

    /// `(nonce account, expected authority)` pairs, in address order.
    pub fn snapshot(&self) -> Vec<(Pubkey, Pubkey)> {
        self.read().iter().map(|(n, a)| (*n, *a)).collect()
    }

    pub fn len(&self) -> usize {
        self.read().len()
    }

    pub fn is_empty(&self) -> bool {
        self.read().is_empty()
    }

    fn read(&self) -> parking_lot::RwLockReadGuard<'_, BTreeMap<Pubkey, Pubkey>> {
        // Nothing panics while holding the lock half-way through an update.
        self.0.read()
    }

    fn write(&self) -> parking_lot::RwLockWriteGuard<'_, BTreeMap<Pubkey, Pubkey>> {
        self.0.write()
    }
}

/// Every watched nonce account is usable (see [`validate_nonce_account`]). Critical: a
/// broken nonce stops every durable execution of its thread. Sets `keeper_invalid_nonces` after each scan that could read the chain
/// (a failed read leaves the gauge as it was and fails the check).
///
/// The rent-exempt minimum comes from the chain, not a constant: the check reads the
/// Rent sysvar account in the same `get_multiple_accounts` call as the nonce accounts
/// (so the [`Chain`] trait needs no rent method and the check costs one request), and
/// computes `Rent::minimum_balance(80)`. [`NonceAccountsCheck::with_rent_exempt_minimum`]
/// fixes the minimum instead, for callers that already know it.
pub struct NonceAccountsCheck {
    chain: Arc<dyn Chain>,
    metrics: Arc<Metrics>,
    watched: WatchedNonces,
    rent_exempt_minimum: Option<u64>,
}

impl NonceAccountsCheck {
    /// Checks the accounts in `watched` (keep a clone to update it).
    pub fn new(chain: Arc<dyn Chain>, metrics: Arc<Metrics>, watched: WatchedNonces) -> Self {
        Self {
            chain,
            metrics,
            watched,
            rent_exempt_minimum: None,
        }
    }

    /// Uses `lamports` as the rent-exempt minimum instead of reading the Rent sysvar.
    pub fn with_rent_exempt_minimum(mut self, lamports: u64) -> Self {
        self.rent_exempt_minimum = Some(lamports);
        self
    }

    /// The shared set of accounts this check watches.
    pub fn watched(&self) -> &WatchedNonces {
        &self.watched
    }

    /// Reads the watched accounts (and the Rent sysvar unless the minimum is fixed) and
    /// returns the invalid ones with their problem, in address order, and how many were
    /// checked. Updates `keeper_invalid_nonces` when the read succeeds.
    pub async fn scan(&self) -> Result<(usize, Vec<(Pubkey, NonceProblem)>), ChainError> {
        let watched = self.watched.snapshot();
        if watched.is_empty() {
            self.metrics.invalid_nonces.set(0);
            return Ok((0, Vec::new()));
        }
        let mut keys: Vec<Pubkey> = watched.iter().map(|(nonce, _)| *nonce).collect();
        if self.rent_exempt_minimum.is_none() {
            keys.push(solana_sdk_ids::sysvar::rent::ID);
        }
        let mut accounts = self.chain.get_multiple_accounts(&keys).await?;
        if accounts.len() != keys.len() {
            return Err(ChainError::Rpc(format!(
                "asked for {} accounts, got {}",
                keys.len(),
                accounts.len()
            )));
        }
        let minimum = match self.rent_exempt_minimum {
            Some(minimum) => minimum,
            None => {
                let rent = accounts
                    .pop()
                    .flatten()
                    .ok_or_else(|| ChainError::Rpc("the Rent sysvar account is missing".into()))?;
                let rent: Rent = bincode::deserialize(&rent.data)
                    .map_err(|e| ChainError::Rpc(format!("the Rent sysvar is unreadable: {e}")))?;
                rent.minimum_balance(NONCE_ACCOUNT_LEN)
            }
        };
        let invalid: Vec<(Pubkey, NonceProblem)> = watched
            .iter()
            .zip(&accounts)
            .filter_map(|((nonce, authority), account)| {
                validate_nonce_account(account.as_ref(), authority, minimum)
                    .err()
                    .map(|problem| (*nonce, problem))
            })
            .collect();
        self.metrics
            .invalid_nonces
            .set(i64::try_from(invalid.len()).unwrap_or(i64::MAX));
        Ok((watched.len(), invalid))
    }
}

#[async_trait]
impl HealthCheck for NonceAccountsCheck {
    fn name(&self) -> &str {
        "nonce_accounts"
    }

    /// Unhealthy when any account is invalid (each named with its problem) or the chain
    /// could not be read; metrics `checked` and `invalid` (the latter only when read).
    async fn check(&self) -> HealthStatus {
        match self.scan().await {
            Ok((checked, invalid)) if invalid.is_empty() => {
                HealthStatus::healthy(format!("{checked} nonce {} valid", accounts(checked)))
                    .with_metric("checked", checked as f64)
                    .with_metric("invalid", 0.0)
            }
            Ok((checked, invalid)) => {
                let details: Vec<String> = invalid
                    .iter()
                    .map(|(nonce, problem)| format!("{nonce}: {problem}"))
                    .collect();
                HealthStatus::unhealthy(format!(
                    "{} of {checked} nonce {} invalid: {}",
                    invalid.len(),
                    accounts(checked),
                    details.join("; ")
                ))
                .with_metric("checked", checked as f64)
                .with_metric("invalid", invalid.len() as f64)
            }
            Err(error) => {
                HealthStatus::unhealthy(format!("could not read the nonce accounts: {error}"))
                    .with_metric("checked", 0.0)
            }
        }
    }
}

fn accounts(count: usize) -> &'static str {
    if count == 1 {
        "account"
    } else {
        "accounts"
    }
}
