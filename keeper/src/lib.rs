//! # keeper
//!
//! The off-chain half of the thread program: node operators run the `keeper`
//! binary to find the program's threads, watch their triggers and submit the
//! transactions that execute them, earning the threads' fees.
//!
//! What exists so far is what every later piece starts from:
//! - [`config`]: the one typed [`Config`], built in layers (defaults, the
//!   Solana CLI config, the keeper's TOML file, environment, flags) and
//!   validated once, with each value's source kept for display and errors;
//! - [`keypair`]: loading the keeper's signing key from a `solana-keygen`
//!   file, with a distinct error for each way that fails.
//!
//! - [`chain`]: chain access behind one trait, over JSON-RPC (`RpcChain`), an
//!   in-process bank (`BankChain`, feature `bank`) and a fault injector
//!   (`FaultyChain`) for tests;
//! - [`nonce_pool`]: exclusive, TTL-bounded use of the nonces this keeper holds
//!   leases for (`NonceLease`, released on drop);
//! - [`builder`]: the transaction builder of seed 003 (nonce-first instruction
//!   order, compute budget sizing, signing, `TxBuildOutput` holding the nonce
//!   guard until broadcast);
//! - [`metrics`]: the Prometheus registry.
//!
//! The binary offers `keeper config`, which prints the resolved configuration
//! and the keeper's public key. The daemon's subsystems (discovery,
//! scheduler, submitter, replay and dead-letter queues, health) come next.

pub mod breaker;
pub mod build_failures;
pub mod builder;
pub mod chain;
pub mod config;
pub mod daemon;
pub mod degradation;
pub mod discovery;
pub mod exec_ix;
pub mod executor;
pub mod failover;
pub mod health;
pub mod http;
pub mod index;
pub mod keypair;
pub mod leadership;
pub mod lease_ix;
pub mod leases;
pub mod metrics;
pub mod nonce_pool;
pub mod notify;
pub mod outage_log;
pub mod owner_ix;
pub mod retry;
#[cfg(feature = "bank")]
pub mod sandbox;
pub mod scheduler;
pub mod store;
pub mod view;

pub use config::{Config, ConfigError, Environment, Flags, Resolved, Source};
pub use keypair::{load_keypair, KeypairError};
