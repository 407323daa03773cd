//! The program's derived addresses, from the seeds the program itself uses.

use anchor_lang::prelude::Pubkey;

use crate::state::Thread;

/// The thread PDA of `owner` and `id`: `[Thread::SEED, owner, id]`. `None` when `id` is
/// no valid seed (over 32 bytes), an id the program refuses with `InvalidId`.
pub fn thread_address(owner: &Pubkey, id: &[u8]) -> Option<Pubkey> {
    Pubkey::try_find_program_address(&[Thread::SEED, owner.as_ref(), id], &crate::ID)
        .map(|(address, _bump)| address)
}

/// The PDA the program's `emit_cpi!` signs its event instructions with; every
/// instruction takes it. Anchor derives it at compile time, so this costs nothing.
pub fn event_authority() -> Pubkey {
    crate::EVENT_AUTHORITY_AND_BUMP.0
}
