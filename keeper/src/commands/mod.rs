//! Subcommands of the `keeper` binary with more to them than a call, each a file (declared by
//! `main.rs`: these modules belong to the binary, not to the `keeper` library).

mod dlq;
mod explain;
mod sandbox;

pub use dlq::dlq;
pub use explain::explain;
pub use sandbox::{sandbox, SandboxRun};
