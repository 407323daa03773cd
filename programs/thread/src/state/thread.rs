//! The thread account: what to run, when, how it is paid for, and what it has done.

use anchor_lang::prelude::*;

use super::{Due, Durability, Lease, RateLimit, ThreadInstruction, ThreadPriority, Trigger};
use crate::errors::ThreadError;

/// Longest thread id, in bytes (one PDA seed).
pub const MAX_ID_LEN: usize = 32;
/// Most address lookup tables one thread may name.
pub const MAX_LOOKUP_TABLES: usize = 4;

/// A scheduled thread. PDA at `[Thread::SEED, owner, id]`; it signs its stored
/// instructions by `invoke_signed` and pays executors out of its own lamports.
#[account]
#[derive(InitSpace, Debug)]
pub struct Thread {
    /// Layout version; bumped whenever fields change so old accounts can be migrated.
    pub version: u8,
    /// Canonical bump of the thread PDA.
    pub bump: u8,
    /// Who created the thread and alone may change, drain or delete it.
    pub owner: Pubkey,
    /// Caller-chosen id, unique per owner, 1 to 32 bytes.
    #[max_len(MAX_ID_LEN)]
    pub id: Vec<u8>,
    /// What makes the thread due.
    pub trigger: Trigger,
    /// When the thread is next due, derived from the trigger.
    pub next_due: Due,
    /// For `Interval` and `Cron`: the scheduled fire time `next_due` was computed from,
    /// before jitter. The next fire time is derived from it, so jitter never accumulates.
    pub schedule_base: i64,
    /// Recent-blockhash or durable-nonce executions.
    pub durability: Durability,
    /// Longest lease of the nonce authority a keeper may claim or renew to, in slots
    /// (durable threads; set by the owner).
    pub max_lease_slots: u64,
    /// The keeper currently holding the nonce authority, with its bond. The bond's
    /// lamports sit in this account but are never spent on fees or withdrawn.
    pub lease: Option<Lease>,
    /// Lamports paid to the executor of each execution.
    pub fee_per_exec: u64,
    /// Execution budget per window of slots.
    pub rate_limit: RateLimit,
    /// First slot of the current rate-limit window.
    pub window_start_slot: u64,
    /// Executions within the current rate-limit window.
    pub execs_in_window: u32,
    /// A paused thread is never due.
    pub paused: bool,
    /// Completed executions.
    pub exec_count: u64,
    /// Slot of the last execution (0 before the first).
    pub last_exec_slot: u64,
    /// Unix time of the last execution (0 before the first).
    pub last_exec_at: i64,
    /// Unix time of creation.
    pub created_at: i64,
    /// Instructions run on every execution, in order. Their size is not part of
    /// `INIT_SPACE` (`max_len(0)` counts only the length prefix): `Thread::space_for` adds
    /// the real size, so a thread pays rent only for what it stores.
    #[max_len(0)]
    pub instructions: Vec<ThreadInstruction>,
    /// The owner's priority for executions; none: each keeper's default for the
    /// thread's durability. Appended in version 2, after the instructions.
    pub priority: Option<ThreadPriority>,
    /// Address lookup tables keepers build executions with (at most
    /// `MAX_LOOKUP_TABLES`). Appended in version 3; counted like the instructions, by
    /// `Thread::space`.
    #[max_len(0)]
    pub lookup_tables: Vec<Pubkey>,
}

impl Thread {
    /// Seed prefix of every thread PDA.
    pub const SEED: &'static [u8] = b"thread";
    /// Current layout version. 1: `Lease` gained `revoked_slot`. 2: `priority` appended.
    /// 3: `lookup_tables` appended.
    pub const VERSION: u8 = 3;

    /// Account size for a thread storing `instructions` and no lookup table,
    /// discriminator included.
    pub fn space_for(instructions: &[ThreadInstruction]) -> usize {
        Self::space_with(instructions, 0)
    }

    /// Account size for a thread storing `instructions` and `lookup_tables` tables.
    pub fn space_with(instructions: &[ThreadInstruction], lookup_tables: usize) -> usize {
        Self::DISCRIMINATOR
            .len()
            .saturating_add(Self::INIT_SPACE)
            .saturating_add(ThreadInstruction::list_space(instructions))
            .saturating_add(lookup_tables.saturating_mul(32))
    }

    /// Account size this thread needs as it stands.
    pub fn space(&self) -> usize {
        Self::space_with(&self.instructions, self.lookup_tables.len())
    }

    /// The thread PDA for `owner` and `id`.
    pub fn address(owner: &Pubkey, id: &[u8]) -> (Pubkey, u8) {
        Pubkey::find_program_address(&[Self::SEED, owner.as_ref(), id], &crate::ID)
    }

    /// This thread's address, from its stored seeds and bump (one hash, no bump search).
    pub fn key(&self) -> Result<Pubkey> {
        Pubkey::create_program_address(
            &[Self::SEED, self.owner.as_ref(), &self.id, &[self.bump]],
            &crate::ID,
        )
        .map_err(|_| error!(ThreadError::ThreadAddressMismatch))
    }

    /// Checks what every mutation must leave true. Called before a handler returns.
    pub fn invariant(&self) -> Result<()> {
        require!(
            !self.id.is_empty() && self.id.len() <= MAX_ID_LEN,
            ThreadError::InvalidId
        );
        ThreadInstruction::validate_list(&self.instructions, &self.key()?)?;
        require!(
            self.rate_limit.max_execs >= 1 && self.rate_limit.window_slots >= 1,
            ThreadError::InvalidRateLimit
        );
        require!(
            self.lease.is_none() || matches!(self.durability, Durability::Durable { .. }),
            ThreadError::NotDurable
        );
        require!(
            self.lookup_tables.len() <= MAX_LOOKUP_TABLES,
            ThreadError::TooManyLookupTables
        );
        Ok(())
    }

    /// Lamports this account must keep: rent exemption at its current size, plus a held
    /// lease's bond, which belongs to the keeper until the lease is settled.
    pub fn reserve(&self, info: &AccountInfo) -> Result<u64> {
        Ok(self.reserve_at(Rent::get()?.minimum_balance(info.data_len())))
    }

    /// [`Thread::reserve`] for an account whose rent-exempt minimum is `rent_minimum`:
    /// the rule clients apply to an account they read.
    pub fn reserve_at(&self, rent_minimum: u64) -> u64 {
        let bond = self.lease.map_or(0, |lease| lease.bond);
        rent_minimum.saturating_add(bond)
    }

    /// Lamports the owner may withdraw from a balance of `lamports` whose rent-exempt
    /// minimum is `rent_minimum`: everything above the reserve (rent and a held lease's
    /// bond), less one execution's fee while the thread is active, so an execution
    /// already in flight is not starved. Pausing first releases that fee. Clients call
    /// this too, so a tool's "you may withdraw" is the program's.
    pub fn withdrawable(&self, lamports: u64, rent_minimum: u64) -> u64 {
        let running_fee = if self.paused { 0 } else { self.fee_per_exec };
        lamports.saturating_sub(self.reserve_at(rent_minimum).saturating_add(running_fee))
    }

    /// The nonce account of a durable thread.
    pub fn nonce_account(&self) -> Result<Pubkey> {
        match self.durability {
            Durability::Durable { nonce_account } => Ok(nonce_account),
            Durability::NonDurable => err!(ThreadError::NotDurable),
        }
    }

    /// Runs `f` with the thread PDA's signer seeds.
    pub fn with_signer_seeds<R>(&self, f: impl FnOnce(&[&[u8]]) -> R) -> R {
        let bump = [self.bump];
        f(&[Self::SEED, self.owner.as_ref(), &self.id, &bump])
    }

    /// The slot the current rate-limit window ends at.
    fn window_end_slot(&self) -> u64 {
        self.window_start_slot
            .saturating_add(self.rate_limit.window_slots)
    }

    /// The slot before which [`Thread::record_in_window`] refuses another execution (a
    /// full window blocks until it ends); 0 while the window has room. A catch-up of
    /// several due times runs one per window, so it waits for slots, not seconds.
    pub fn rate_limited_until_slot(&self) -> u64 {
        if self.execs_in_window >= self.rate_limit.max_execs {
            self.window_end_slot()
        } else {
            0
        }
    }

    /// Counts one execution in the rate-limit window at `slot`, opening a new window when
    /// the current one has passed.
    pub fn record_in_window(&mut self, slot: u64) -> Result<()> {
        let window_end = self.window_end_slot();
        if slot >= window_end {
            self.window_start_slot = slot;
            self.execs_in_window = 0;
        }
        require!(
            self.execs_in_window < self.rate_limit.max_execs,
            ThreadError::RateLimited
        );
        self.execs_in_window = self
            .execs_in_window
            .checked_add(1)
            .ok_or(ThreadError::ArithmeticOverflow)?;
        Ok(())
    }
}
