//! The keeper over the wire: `localnet` (a real validator serving JSON-RPC and PubSub)
//! and the real `keeper` binary, each a separate process, as an operator runs them.
//! Executions are judged on chain (the thread's `exec_count`, signature statuses, the
//! nonce account) and in the keeper's store, never by the keeper's own word.
//!
//! Each test starts its own validator (~1.6 GB, two cores busy), so they run one at a
//! time: `scripts/localnet.sh test` passes `--test-threads=1` and builds the keeper
//! binary first.

mod harness;
mod judge;
mod proxy;

mod crash;
mod discovery;
mod exactly_once;
mod failover;
mod ledger;
mod lookup_tables;
mod owner_cli;
mod readiness;
mod responses;
mod sdk;
