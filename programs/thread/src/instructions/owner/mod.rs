//! Instructions only the thread's owner may call.

pub mod create_thread;
pub mod delete_thread;
pub mod pause_thread;
pub mod update_thread;
pub mod withdraw_thread;

// Anchor's #[program] finds each Accounts struct's generated client module at the crate
// root, hence the glob re-exports; the per-file `handler` names they also carry are
// never called through the globs.
#[allow(ambiguous_glob_reexports)]
pub use create_thread::*;
#[allow(ambiguous_glob_reexports)]
pub use delete_thread::*;
#[allow(ambiguous_glob_reexports)]
pub use pause_thread::*;
#[allow(ambiguous_glob_reexports)]
pub use update_thread::*;
#[allow(ambiguous_glob_reexports)]
pub use withdraw_thread::*;
