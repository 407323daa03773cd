//! `localnet`: a local Solana validator (solana-test-validator 3.1.12, in process) that
//! serves standard JSON-RPC, PubSub and a faucet, with the thread program loaded natively
//! as a builtin on every bank. It lets the keeper and any client meet the program over the
//! wire exactly as they would meet a cluster, without an SBF toolchain.
//!
//! Limits (the README says them too): the program runs as native code, not SBF, so
//! compute units, stack limits and program logs differ from a cluster's (`msg!` goes to
//! the validator's stdout, not to transaction logs). Judge executions by account state.
//!
//! Modules: `options` (what the operator asks for), `validator` (start, register the
//! program, stop), `faucet` (airdrops on loopback), `keys` (keypair files), `examples`
//! (threads created over JSON-RPC for a demo), `ready` (the file scripts and tests wait
//! for).

pub mod examples;
pub mod faucet;
pub mod keys;
pub mod options;
pub mod ready;
pub mod validator;
