//! The program's client side, behind the `client` feature (the on-chain program does not
//! carry it): everything an off-chain caller needs to talk to the program.
//!
//! Owns: the PDAs (`pda`), one builder per instruction (`owner`: what a thread's owner
//! signs; `lease`: the nonce-authority lease as a keeper drives it; `exec`: executions,
//! plain and durable), and reading the program's accounts and the nonce accounts it
//! relies on (`decode`), and the program as a native function (`native`). Every builder
//! takes the addresses a caller already holds and the instruction's arguments, fills in
//! sysvars, programs and PDAs itself, and returns plain `Instruction`s; Anchor's
//! generated `accounts::*`/`instruction::*` types give the account order and the data, so
//! a builder cannot drift from the program.
//!
//! Must not: sign, send, fetch accounts or choose fees: that is the caller's (the
//! keeper's builder, a test fixture, an owner's tool). Error numbers need nothing here:
//! `u32::from(ThreadError::X)` is the code the program returns.

/// An instruction of this program: Anchor's `accounts::$accounts` struct with the two
/// accounts `emit_cpi!` adds to every instruction filled in, then its data. Expands where
/// the fields are checked by the compiler against the program's own struct.
macro_rules! thread_instruction {
    ($accounts:ident { $($field:ident $(: $value:expr)?),* $(,)? }, $data:expr $(,)?) => {
        anchor_lang::solana_program::instruction::Instruction {
            program_id: crate::ID,
            accounts: anchor_lang::ToAccountMetas::to_account_metas(
                &crate::accounts::$accounts {
                    $($field $(: $value)?,)*
                    event_authority: crate::client::event_authority(),
                    program: crate::ID,
                },
                None,
            ),
            data: anchor_lang::InstructionData::data(&$data),
        }
    };
}

pub mod decode;
pub mod exec;
pub mod lease;
pub mod native;
pub mod owner;
pub mod pda;
pub mod pieces;

pub use decode::*;
pub use exec::*;
pub use lease::*;
pub use native::*;
pub use owner::*;
pub use pda::*;
pub use pieces::*;

use anchor_lang::prelude::{AccountMeta, Pubkey};

use crate::state::Trigger;

/// The remaining account a trigger needs: an `Account` or `Condition` trigger's watched
/// account, by address, read-only (the program reads it when the trigger is set and on
/// every execution).
fn watched_account(trigger: Option<&Trigger>) -> Option<AccountMeta> {
    match trigger? {
        Trigger::Account { address, .. } | Trigger::Condition { address, .. } => {
            Some(AccountMeta::new_readonly(*address, false))
        }
        _ => None,
    }
}

/// The system program, which several instructions take to create, resize or close.
const SYSTEM_PROGRAM: Pubkey = anchor_lang::system_program::ID;
