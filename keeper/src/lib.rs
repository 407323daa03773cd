//! # keeper
//!
//! The off-chain half of the thread program: node operators run the `keeper` binary to
//! find the program's threads, execute each due time once, and survive RPC outages,
//! expired blockhashes, crashes and restarts without losing or doubling an execution.
//!
//! A thread travels through the wings in order:
//! - [`chain`]: the one `Chain` trait and everything that talks to a cluster (JSON-RPC
//!   with its bounded transport and websocket, failover and circuit breakers, the
//!   in-process bank and the fault injector for tests);
//! - [`tracking`]: from program accounts to "this thread is due" (discovery, the index
//!   and its fixed-size views, the scheduler);
//! - [`execution`]: from "due" to a confirmed execution (the worker pool, executor,
//!   transaction builder, nonce pool, authority leases and their upkeep, backoff);
//! - [`store`]: the SQLite record of every signed execution and the dead-letter queue;
//! - [`ops`]: what an operator watches (health, the HTTP endpoints, metrics, operating
//!   modes, outage logging, dead-letter notifications);
//! - [`leadership`]: which keeper of a fleet acts;
//! - [`daemon`]: wiring and the order of start-up and shutdown, its loops on the one
//!   [`periodic`] cadence; [`config`] (each table validating itself) and [`keypair`]:
//!   what the binary reads at start;
//! - `test_utils` (tests and the `test_utils` feature only): harness shared by tests.

pub mod chain;
pub mod config;
pub mod daemon;
pub mod execution;
pub mod fleet;
pub mod keypair;
pub mod leadership;
pub mod ops;
pub mod periodic;
#[cfg(feature = "bank")]
pub mod sandbox;
pub mod signals;
pub mod store;
#[cfg(any(test, feature = "test_utils"))]
pub mod test_utils;
pub mod tracking;

pub use config::{Config, ConfigError, Environment, Flags, Resolved, Source};
pub use keypair::{load_keypair, KeypairError};
