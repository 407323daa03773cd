//! Subcommands of the `keeper` binary that read and print, each a file (declared by
//! `main.rs`: these modules belong to the binary, not to the `keeper` library).

mod explain;

pub use explain::explain;
