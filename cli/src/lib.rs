//! # thread-cli
//!
//! `threads`, the thread owner's command line: create a thread from a TOML or JSON spec,
//! list and inspect one's threads, pause, resume, update, fund and delete them, and manage
//! their durable nonce and its lease, against any cluster the Solana CLI config names.
//!
//! A command travels: [`settings`] (flags over the Solana CLI config) -> [`spec`] (the
//! owner's file, checked as the program would, refusing with a [`Refusal`] before
//! anything is signed) -> [`commands`] (read the thread, build with `thread::client`,
//! sign and land through [`submit`]) -> [`view`] (what `show` and `list` print). Every
//! command takes a `Chain`, so the tests run the very same functions against an
//! in-process bank that the binary runs against JSON-RPC.

pub mod commands;
pub mod program_error;
pub mod refusal;
pub mod settings;
pub mod spec;
pub mod submit;
pub mod view;

pub use refusal::Refusal;
