//! Durable automation threads.
//!
//! A thread is a PDA (`[Thread::SEED, owner, id]`) that stores instructions and a
//! trigger. Its life: the owner creates and funds it (`create_thread`); keepers watch
//! its `next_due` and, once due, call `exec_thread`, which runs the stored instructions
//! signed by the thread PDA, pays the keeper `fee_per_exec` and moves `next_due` on; the
//! owner may `update_thread`, `pause_thread`/`resume_thread`, `withdraw_thread` unspent
//! fees, and `delete_thread` to close it and recover every lamport.

use anchor_lang::prelude::*;

pub mod cron;
pub mod errors;
pub mod events;
pub mod instructions;
pub mod schedule;
pub mod state;

use instructions::*;

declare_id!("Ft6MdnsXTQt94meJ2SY1pe8UX5ZncJ5V3TVd8XR5rydz");

#[program]
pub mod thread {
    use super::*;

    /// Creates a non-durable thread, funded with rent plus `args.deposit` for fees.
    pub fn create_thread<'info>(
        ctx: Context<'info, CreateThread<'info>>,
        args: CreateThreadArgs,
    ) -> Result<()> {
        create_thread::handler(ctx, args)
    }

    /// Changes a thread's trigger, instructions, fee or rate limit (owner only).
    pub fn update_thread<'info>(
        ctx: Context<'info, UpdateThread<'info>>,
        args: UpdateThreadArgs,
    ) -> Result<()> {
        update_thread::handler(ctx, args)
    }

    /// Stops executions until `resume_thread` (owner only).
    pub fn pause_thread(ctx: Context<SetPaused>) -> Result<()> {
        pause_thread::pause(ctx)
    }

    /// Lets a paused thread execute again (owner only).
    pub fn resume_thread(ctx: Context<SetPaused>) -> Result<()> {
        pause_thread::resume(ctx)
    }

    /// Runs a due thread's instructions and pays the executor its fee (anyone).
    pub fn exec_thread<'info>(ctx: Context<'info, ExecThread<'info>>) -> Result<()> {
        exec_thread::handler(ctx)
    }

    /// Moves `amount` of unspent fee deposit back to the owner (owner only).
    pub fn withdraw_thread(ctx: Context<WithdrawThread>, amount: u64) -> Result<()> {
        withdraw_thread::handler(ctx, amount)
    }

    /// Closes the thread; every lamport goes to the owner (owner only).
    pub fn delete_thread(ctx: Context<DeleteThread>) -> Result<()> {
        delete_thread::handler(ctx)
    }
}
