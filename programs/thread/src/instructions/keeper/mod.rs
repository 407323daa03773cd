//! Instructions keepers call to run threads and to hold a durable thread's nonce.

pub mod claim_lease;
pub mod exec_thread;
pub mod forfeit_lease;
pub mod release_lease;
pub mod renew_lease;
pub(crate) mod responses;

// See instructions/mod.rs for why these are glob re-exports.
#[allow(ambiguous_glob_reexports)]
pub use claim_lease::*;
#[allow(ambiguous_glob_reexports)]
pub use exec_thread::*;
#[allow(ambiguous_glob_reexports)]
pub use forfeit_lease::*;
#[allow(ambiguous_glob_reexports)]
pub use release_lease::*;
#[allow(ambiguous_glob_reexports)]
pub use renew_lease::*;
