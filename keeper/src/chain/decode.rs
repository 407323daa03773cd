//! Decoding a node's JSON-RPC account values into the keeper's types, shared by the
//! HTTP calls ([`super::rpc`]) and the websocket notifications ([`super::pubsub`]).
//!
//! Owns: what a malformed value is (an endpoint failure, [`ChainError::Unavailable`], so
//! the breaker counts it) and how much of it an error repeats (an excerpt). Must not:
//! make requests.

use solana_rpc_client_api::response::{RpcKeyedAccount, UiAccount};
use solana_sdk::account::Account;
use solana_sdk::pubkey::Pubkey;

use super::transport::excerpt;
use super::{ChainError, KeyedAccount};

/// An answer of the wrong shape from a node the keeper cannot tell apart here (see
/// [`super::rpc::RpcChain`]).
pub fn malformed(what: String) -> ChainError {
    ChainError::Unavailable(format!("malformed answer: {}", excerpt(&what)))
}

pub fn decode_account(key: &Pubkey, account: &UiAccount) -> Result<Account, ChainError> {
    account
        .decode::<Account>()
        .ok_or_else(|| malformed(format!("undecodable account data for {key}")))
}

pub fn keyed_account(keyed: RpcKeyedAccount) -> Result<KeyedAccount, ChainError> {
    let pubkey = keyed
        .pubkey
        .parse::<Pubkey>()
        .map_err(|e| malformed(format!("bad pubkey {:?}: {e}", keyed.pubkey)))?;
    let account = decode_account(&pubkey, &keyed.account)?;
    Ok(KeyedAccount { pubkey, account })
}
