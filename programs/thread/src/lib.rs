//! Durable automation threads.
//!
//! A thread is a PDA (`[Thread::SEED, owner, id]`) that stores instructions and a
//! trigger. Its life: the owner creates and funds it (`create_thread`); keepers watch
//! its `next_due` and, once due, call `exec_thread`, which runs the stored instructions
//! signed by the thread PDA, pays the keeper `fee_per_exec` and moves `next_due` on; the
//! owner may `update_thread`, `pause_thread`/`resume_thread`, `withdraw_thread` unspent
//! fees, and `delete_thread` to close it and recover every lamport.
//!
//! Durable threads (`create_thread_with_nonce`) execute as durable transactions anchored
//! on a nonce account the thread PDA owns. Since a PDA cannot sign a transaction, a
//! keeper leases the nonce authority (`claim_lease`, `renew_lease`, `release_lease`)
//! against a bond that `forfeit_lease` pays to the owner if the authority is not handed
//! back; the owner may `revoke_lease`, which leaves the holder a grace window to hand it
//! back first; see `state/lease.rs`.

// The crate's lints keep on-chain code from panicking or overflowing (Cargo.toml and
// cron/mod.rs); tests may. The pass without cfg(test) still checks every line that ships.
#![cfg_attr(
    test,
    allow(
        clippy::arithmetic_side_effects,
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing
    )
)]

use anchor_lang::prelude::*;

#[cfg(feature = "client")]
pub mod client;
pub mod condition;
pub mod cron;
pub mod errors;
pub mod events;
#[cfg(all(test, feature = "idl-build"))]
mod idl;
pub mod instructions;
pub mod nonce;
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

    /// Creates a durable thread and its nonce account (authority: the thread PDA). Keepers
    /// lease the nonce authority for at most `max_lease_slots` slots at a time.
    pub fn create_thread_with_nonce<'info>(
        ctx: Context<'info, CreateThreadWithNonce<'info>>,
        args: CreateThreadArgs,
        max_lease_slots: u64,
    ) -> Result<()> {
        create_thread_with_nonce::handler(ctx, args, max_lease_slots)
    }

    /// Changes a thread's trigger, instructions, fee or rate limit (owner only).
    pub fn update_thread<'info>(
        ctx: Context<'info, UpdateThread<'info>>,
        args: UpdateThreadArgs,
    ) -> Result<()> {
        update_thread::handler(ctx, args)
    }

    /// Adds a piece to a paused thread's stored instructions: a new instruction, or more
    /// accounts and data for the last one, for lists too large for one transaction (owner
    /// only; the owner pays the rent of the larger account).
    pub fn append_thread_instruction(
        ctx: Context<UpdateThread>,
        piece: InstructionPiece,
    ) -> Result<()> {
        append_instruction::handler(ctx, piece)
    }

    /// Stops executions until `resume_thread` (owner only).
    pub fn pause_thread(ctx: Context<OwnedThread>) -> Result<()> {
        pause_thread::pause(ctx)
    }

    /// Lets a paused thread execute again (owner only).
    pub fn resume_thread(ctx: Context<OwnedThread>) -> Result<()> {
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

    /// Closes the thread (and a durable thread's nonce account); every lamport goes to the
    /// owner (owner only). Refused while a lease is live; an expired lease is settled (a
    /// revoked one only after its grace window).
    pub fn delete_thread(ctx: Context<DeleteThread>) -> Result<()> {
        delete_thread::handler(ctx)
    }

    /// Gives a non-durable thread a nonce account, making its executions durable.
    pub fn make_thread_durable(
        ctx: Context<MakeThreadDurable>,
        max_lease_slots: u64,
    ) -> Result<()> {
        durability::make_durable(ctx, max_lease_slots)
    }

    /// Closes a durable thread's nonce account; executions use recent blockhashes again.
    pub fn make_thread_non_durable(ctx: Context<MakeThreadNonDurable>) -> Result<()> {
        durability::make_non_durable(ctx)
    }

    /// Moves a durable thread to a new nonce account and closes the old one.
    pub fn rotate_thread_nonce(ctx: Context<RotateThreadNonce>) -> Result<()> {
        durability::rotate(ctx)
    }

    /// Ends a live lease now (owner only): executions and renewals stop at once, and the
    /// holder has `REVOKE_GRACE_SLOTS` slots to hand the authority back and release before
    /// the lease can be forfeited.
    pub fn revoke_lease(ctx: Context<OwnedThread>) -> Result<()> {
        revoke_lease::handler(ctx)
    }

    /// A keeper takes the nonce authority for `slots` slots, posting `bond` lamports.
    pub fn claim_lease(ctx: Context<ClaimLease>, slots: u64, bond: u64) -> Result<()> {
        claim_lease::handler(ctx, slots, bond)
    }

    /// The holder extends its live lease to `slots` slots from now.
    pub fn renew_lease(ctx: Context<RenewLease>, slots: u64) -> Result<()> {
        renew_lease::handler(ctx, slots)
    }

    /// Ends a lease whose nonce authority is back with the thread; the bond goes back to
    /// the holder (the holder any time, anyone after expiry or revoke).
    pub fn release_lease(ctx: Context<ReleaseLease>) -> Result<()> {
        release_lease::handler(ctx)
    }

    /// After an expired lease kept the nonce authority: the bond pays the owner and the
    /// thread moves to a new nonce account (anyone).
    pub fn forfeit_lease(ctx: Context<ForfeitLease>) -> Result<()> {
        forfeit_lease::handler(ctx)
    }
}
