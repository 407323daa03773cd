//! Instructions only the thread's owner may call.

pub mod append_instruction;
pub mod create_thread;
pub mod create_thread_with_nonce;
pub mod delete_thread;
pub mod durability;
pub(crate) mod lookup_tables;
pub mod owned_thread;
pub mod pause_thread;
pub mod revoke_lease;
pub mod update_thread;
pub mod withdraw_thread;

// See instructions/mod.rs for why these are glob re-exports.
#[allow(ambiguous_glob_reexports)]
pub use append_instruction::*;
#[allow(ambiguous_glob_reexports)]
pub use create_thread::*;
#[allow(ambiguous_glob_reexports)]
pub use create_thread_with_nonce::*;
#[allow(ambiguous_glob_reexports)]
pub use delete_thread::*;
#[allow(ambiguous_glob_reexports)]
pub use durability::*;
#[allow(ambiguous_glob_reexports)]
pub use owned_thread::*;
#[allow(ambiguous_glob_reexports)]
pub use pause_thread::*;
#[allow(ambiguous_glob_reexports)]
pub use update_thread::*;
#[allow(ambiguous_glob_reexports)]
pub use withdraw_thread::*;
