//! Instructions keepers call to run threads.

pub mod exec_thread;

pub use exec_thread::*;
