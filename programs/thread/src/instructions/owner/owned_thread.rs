//! The accounts of an owner's instruction that touches nothing but the thread itself:
//! `pause_thread`, `resume_thread` and `revoke_lease` share them, so the owner and
//! version checks are written once for all three.

use anchor_lang::prelude::*;

use crate::errors::ThreadError;
use crate::state::Thread;

#[event_cpi]
#[derive(Accounts)]
pub struct OwnedThread<'info> {
    pub owner: Signer<'info>,
    #[account(
        mut,
        seeds = [Thread::SEED, thread.owner.as_ref(), thread.id.as_ref()],
        bump = thread.bump,
        has_one = owner @ ThreadError::NotOwner,
        constraint = thread.version == Thread::VERSION @ ThreadError::UnsupportedVersion,
    )]
    pub thread: Account<'info, Thread>,
}
