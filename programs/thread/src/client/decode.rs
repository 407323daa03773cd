//! Reading the program's accounts and the nonce accounts it relies on from raw bytes.
//!
//! The nonce layout is the program's own (`crate::nonce`), re-exported here, so the
//! program, the keeper and the tests read nonce accounts one way.

use anchor_lang::AccountDeserialize;

use crate::state::Thread;

pub use crate::nonce::{NonceData, NonceState, NONCE_ACCOUNT_LEN};

/// A thread account's data: checks the discriminator, then decodes.
pub fn decode_thread(data: &[u8]) -> anchor_lang::Result<Thread> {
    Thread::try_deserialize(&mut &data[..])
}
