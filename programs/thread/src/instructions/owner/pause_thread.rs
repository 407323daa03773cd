//! `pause_thread` and `resume_thread`: the owner stops and restarts executions.

use anchor_lang::prelude::*;

use crate::errors::ThreadError;
use crate::events::{ThreadPaused, ThreadResumed};
use crate::instructions::owner::OwnedThread;

pub fn pause(ctx: Context<OwnedThread>) -> Result<()> {
    let thread = &mut ctx.accounts.thread;
    require!(!thread.paused, ThreadError::ThreadPaused);
    thread.paused = true;
    thread.invariant()?;
    emit_cpi!(ThreadPaused {
        thread: ctx.accounts.thread.key()
    });
    Ok(())
}

/// Missed due times are not replayed one by one on resume beyond what the trigger allows:
/// a skippable schedule runs once and moves past now, a non-skippable one catches up.
pub fn resume(ctx: Context<OwnedThread>) -> Result<()> {
    let thread = &mut ctx.accounts.thread;
    require!(thread.paused, ThreadError::ThreadNotPaused);
    thread.paused = false;
    thread.invariant()?;
    emit_cpi!(ThreadResumed {
        thread: ctx.accounts.thread.key()
    });
    Ok(())
}
