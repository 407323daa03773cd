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
//! The binary offers `keeper config`, which prints the resolved configuration
//! and the keeper's public key. The daemon's subsystems (discovery,
//! scheduler, transaction builder, submitter, replay and dead-letter queues,
//! health, metrics) are not written yet.

pub mod config;
pub mod keypair;

pub use config::{Config, ConfigError, Environment, Flags, Resolved, Source};
pub use keypair::{load_keypair, KeypairError};
