//! `create_thread`: the owner creates a non-durable thread and funds its fees.

use anchor_lang::prelude::*;

use crate::errors::ThreadError;
use crate::events::ThreadCreated;
use crate::instructions::owner::lookup_tables::validate_lookup_tables;
use crate::instructions::shared::{create_pda_account, with_watched};
use crate::schedule::{self, ChainTime};
use crate::state::{
    Durability, RateLimit, Thread, ThreadInstruction, ThreadPriority, Trigger, MAX_ID_LEN,
};

#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug, PartialEq, Eq)]
pub struct CreateThreadArgs {
    /// Caller-chosen id, 1 to 32 bytes, unique per owner.
    pub id: Vec<u8>,
    pub trigger: Trigger,
    pub instructions: Vec<ThreadInstruction>,
    /// Lamports paid to the executor of each execution.
    pub fee_per_exec: u64,
    pub rate_limit: RateLimit,
    /// Lamports beyond rent moved into the thread to pay for executions.
    pub deposit: u64,
    /// How urgently keepers should handle executions; none: their default.
    pub priority: Option<ThreadPriority>,
    /// Address lookup tables keepers build executions with (at most 4), each passed
    /// among the remaining accounts.
    pub lookup_tables: Vec<Pubkey>,
}

/// Remaining accounts: for an `Account` or `Condition` trigger, the watched account (by
/// address), so that only changes after creation make the thread due (a crossing starts
/// armed only from the far side of its threshold); each lookup table.
#[event_cpi]
#[derive(Accounts)]
pub struct CreateThread<'info> {
    /// Owns the thread and pays its rent and deposit.
    #[account(mut)]
    pub owner: Signer<'info>,
    /// CHECK: created by the handler once the id is known to be a valid seed; the address
    /// is checked against the PDA of (owner, id) there. Anchor's `init` would derive the
    /// PDA before any check and abort without an error code on an over-long id.
    #[account(mut)]
    pub thread: UncheckedAccount<'info>,
    pub system_program: Program<'info, System>,
}

pub fn handler<'info>(
    ctx: Context<'info, CreateThread<'info>>,
    args: CreateThreadArgs,
) -> Result<()> {
    let opened = open_thread(
        NewThreadAccounts {
            owner: &ctx.accounts.owner.to_account_info(),
            thread: &ctx.accounts.thread.to_account_info(),
            system_program: &ctx.accounts.system_program.to_account_info(),
            remaining: ctx.remaining_accounts,
        },
        args,
        Durability::NonDurable,
        0,
    )?;
    emit_cpi!(opened.event());
    Ok(())
}

/// The accounts every thread creation needs.
pub struct NewThreadAccounts<'a, 'info> {
    pub owner: &'a AccountInfo<'info>,
    pub thread: &'a AccountInfo<'info>,
    pub system_program: &'a AccountInfo<'info>,
    /// Where an `Account` or `Condition` trigger's watched account is looked up.
    pub remaining: &'a [AccountInfo<'info>],
}

/// A thread just written to its account.
pub struct OpenedThread {
    pub key: Pubkey,
    pub thread: Thread,
    /// Lamports above rent the thread holds for fees: more than the requested deposit
    /// when someone had pre-funded the address.
    pub fee_balance: u64,
}

impl OpenedThread {
    pub fn event(self) -> ThreadCreated {
        ThreadCreated {
            thread: self.key,
            owner: self.thread.owner,
            id: self.thread.id,
            trigger: self.thread.trigger,
            durability: self.thread.durability,
            fee_per_exec: self.thread.fee_per_exec,
            deposit: self.fee_balance,
            priority: self.thread.priority,
            next_due: self.thread.next_due,
            lookup_tables: self.thread.lookup_tables,
        }
    }
}

/// Validates `args`, then creates and funds the thread account at the PDA of (owner, id)
/// and writes the thread. Shared by `create_thread` and `create_thread_with_nonce`.
pub fn open_thread(
    accounts: NewThreadAccounts,
    args: CreateThreadArgs,
    durability: Durability,
    max_lease_slots: u64,
) -> Result<OpenedThread> {
    require!(
        !args.id.is_empty() && args.id.len() <= MAX_ID_LEN,
        ThreadError::InvalidId
    );
    schedule::validate(&args.trigger)?;
    require!(
        args.rate_limit.max_execs >= 1 && args.rate_limit.window_slots >= 1,
        ThreadError::InvalidRateLimit
    );
    let (key, bump) = Thread::address(accounts.owner.key, &args.id);
    require_keys_eq!(
        key,
        *accounts.thread.key,
        ThreadError::ThreadAddressMismatch
    );
    ThreadInstruction::validate_list(&args.instructions, &key)?;
    validate_lookup_tables(&args.lookup_tables, accounts.remaining)?;
    require!(
        accounts.thread.data_is_empty() && accounts.thread.owner == &System::id(),
        ThreadError::ThreadAlreadyExists
    );

    let now = ChainTime::from(&Clock::get()?);
    let next = with_watched(&args.trigger, accounts.remaining, |watched| {
        schedule::initial(&args.trigger, &key, now, watched)
    })?;
    let thread = Thread {
        version: Thread::VERSION,
        bump,
        owner: *accounts.owner.key,
        id: args.id,
        trigger: args.trigger,
        next_due: next.due,
        schedule_base: next.base,
        durability,
        max_lease_slots,
        lease: None,
        fee_per_exec: args.fee_per_exec,
        rate_limit: args.rate_limit,
        window_start_slot: now.slot,
        execs_in_window: 0,
        paused: false,
        exec_count: 0,
        last_exec_slot: 0,
        last_exec_at: 0,
        created_at: now.unix_ts,
        instructions: args.instructions,
        priority: args.priority,
        lookup_tables: args.lookup_tables,
    };
    thread.invariant()?;

    let space = thread.space();
    let rent = Rent::get()?.minimum_balance(space);
    let lamports = rent
        .checked_add(args.deposit)
        .ok_or(ThreadError::ArithmeticOverflow)?;
    thread.with_signer_seeds(|seeds| {
        create_pda_account(
            accounts.owner,
            accounts.thread,
            accounts.system_program,
            space,
            lamports,
            &crate::ID,
            seeds,
        )
    })?;
    thread.try_serialize(&mut &mut accounts.thread.try_borrow_mut_data()?[..])?;
    Ok(OpenedThread {
        key,
        fee_balance: accounts.thread.lamports().saturating_sub(rent),
        thread,
    })
}
