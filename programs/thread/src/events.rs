//! Events, one per state change, emitted by self-CPI (`emit_cpi!`) so they survive log
//! truncation and are readable from inner instructions. Changes carry `old` and `new`
//! so an indexer never has to diff accounts.

use anchor_lang::prelude::*;

use crate::state::{Due, Durability, RateLimit, ThreadAction, ThreadPriority, Trigger};

#[event]
pub struct ThreadCreated {
    pub thread: Pubkey,
    pub owner: Pubkey,
    pub id: Vec<u8>,
    pub trigger: Trigger,
    pub durability: Durability,
    pub fee_per_exec: u64,
    /// Lamports above rent the thread holds for fees after creation.
    pub deposit: u64,
    pub next_due: Due,
    pub priority: Option<ThreadPriority>,
    pub lookup_tables: Vec<Pubkey>,
}

#[event]
pub struct ThreadUpdated {
    pub thread: Pubkey,
    pub old_trigger: Trigger,
    pub new_trigger: Trigger,
    pub old_fee_per_exec: u64,
    pub new_fee_per_exec: u64,
    pub old_rate_limit: RateLimit,
    pub new_rate_limit: RateLimit,
    pub old_instructions_len: u8,
    pub new_instructions_len: u8,
    pub old_next_due: Due,
    pub new_next_due: Due,
    pub old_priority: Option<ThreadPriority>,
    pub new_priority: Option<ThreadPriority>,
    pub old_lookup_tables: Vec<Pubkey>,
    pub new_lookup_tables: Vec<Pubkey>,
}

/// A piece of a paused thread's instructions was written (`append_thread_instruction`).
#[event]
pub struct ThreadInstructionAppended {
    pub thread: Pubkey,
    /// Stored instructions after the piece.
    pub instructions_len: u8,
    /// Accounts and data bytes of the last instruction after the piece.
    pub last_accounts_len: u8,
    pub last_data_len: u16,
}

#[event]
pub struct ThreadPaused {
    pub thread: Pubkey,
}

#[event]
pub struct ThreadResumed {
    pub thread: Pubkey,
}

#[event]
pub struct ThreadExecuted {
    pub thread: Pubkey,
    pub executor: Pubkey,
    pub exec_count: u64,
    pub fee: u64,
    pub slot: u64,
    pub unix_ts: i64,
    pub old_next_due: Due,
    pub new_next_due: Due,
}

#[event]
pub struct ThreadWithdrawn {
    pub thread: Pubkey,
    pub owner: Pubkey,
    pub amount: u64,
    pub old_balance: u64,
    pub new_balance: u64,
}

#[event]
pub struct ThreadDeleted {
    pub thread: Pubkey,
    pub owner: Pubkey,
    /// Lamports of the thread account returned to the owner.
    pub lamports: u64,
    /// Lamports of the closed nonce account returned to the owner (durable threads).
    pub nonce_lamports: u64,
    /// Bond of an expired lease returned to its holder, whose authority was handed back.
    pub bond_to_holder: u64,
}

#[event]
pub struct DurabilityChanged {
    pub thread: Pubkey,
    pub old: Durability,
    pub new: Durability,
}

#[event]
pub struct NonceRotated {
    pub thread: Pubkey,
    pub old_nonce_account: Pubkey,
    pub new_nonce_account: Pubkey,
}

#[event]
pub struct LeaseClaimed {
    pub thread: Pubkey,
    pub holder: Pubkey,
    pub nonce_account: Pubkey,
    pub expires_slot: u64,
    pub bond: u64,
}

#[event]
pub struct LeaseRenewed {
    pub thread: Pubkey,
    pub holder: Pubkey,
    pub old_expires_slot: u64,
    pub new_expires_slot: u64,
}

#[event]
pub struct LeaseRevoked {
    pub thread: Pubkey,
    pub holder: Pubkey,
    pub old_expires_slot: u64,
    pub new_expires_slot: u64,
    /// First slot at which anyone but the holder may settle the lease (the end of the
    /// holder's grace window to hand the authority back).
    pub settles_at_slot: u64,
}

#[event]
pub struct LeaseReleased {
    pub thread: Pubkey,
    pub holder: Pubkey,
    pub bond: u64,
}

#[event]
pub struct LeaseForfeited {
    pub thread: Pubkey,
    pub holder: Pubkey,
    pub bond: u64,
    /// Part of the bond paid to the owner.
    pub to_owner: u64,
    /// Part of the bond repaying the caller for the new nonce account's rent.
    pub repaid_to_caller: u64,
    pub old_nonce_account: Pubkey,
    pub new_nonce_account: Pubkey,
    /// The owner's part, left in the thread (withdrawable by the owner) because paying
    /// it would have left the owner's wallet below rent exemption. Then `to_owner` is 0.
    pub kept_for_owner: u64,
}

/// A stored instruction's program answered its thread (see `state/response.rs`); emitted
/// before the `ThreadExecuted` of the same execution, once per answer, in order.
#[event]
pub struct ThreadResponded {
    pub thread: Pubkey,
    /// The stored instruction's program, whose return data this was.
    pub program_id: Pubkey,
    pub action: ThreadAction,
}

/// A thread closed by a `Close` response, after the execution that returned it.
#[event]
pub struct ThreadClosed {
    pub thread: Pubkey,
    pub owner: Pubkey,
    /// Lamports of the thread account paid to the owner.
    pub lamports: u64,
    /// A lease's bond paid back to its holder, the executor (durable threads).
    pub bond_to_holder: u64,
    /// A durable thread's nonce account, whose authority is now the owner's.
    pub nonce_account: Option<Pubkey>,
}
