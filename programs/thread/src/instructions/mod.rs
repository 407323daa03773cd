//! One instruction a file, grouped by who calls it.

pub mod keeper;
pub mod nonce_cpi;
pub mod owner;
pub mod shared;

// Anchor's #[program] finds each Accounts struct's generated client module at the crate
// root, hence the glob re-exports; the per-file `handler` names they also carry are
// never called through the globs.
#[allow(ambiguous_glob_reexports)]
pub use keeper::*;
#[allow(ambiguous_glob_reexports)]
pub use owner::*;
