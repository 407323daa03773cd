//! The program as a plain Rust function, for runtimes that run it natively instead of as
//! SBF: solana-program-test's `processor!` (the keeper's bank, the tests) and the
//! localnet validator, which registers it as a builtin.

use anchor_lang::prelude::{AccountInfo, Pubkey};
use anchor_lang::solana_program::entrypoint::ProgramResult;

/// `crate::entry` with the signature `processor!` expects. Anchor ties the program id, the
/// accounts slice, its elements and the data to one lifetime; a native runtime hands them
/// out with independent ones, all of which outlive this call, so unifying them to the
/// shortest is sound.
pub fn native_entry<'a, 'b, 'c, 'd>(
    program_id: &'a Pubkey,
    accounts: &'b [AccountInfo<'c>],
    data: &'d [u8],
) -> ProgramResult {
    // SAFETY: see above; every reference lives for the whole call.
    let accounts: &'b [AccountInfo<'b>] = unsafe { std::mem::transmute(accounts) };
    let program_id: &'b Pubkey = unsafe { std::mem::transmute(program_id) };
    let data: &'b [u8] = unsafe { std::mem::transmute(data) };
    crate::entry(program_id, accounts, data)
}
