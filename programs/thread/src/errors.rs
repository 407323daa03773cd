//! Every error the program returns. Clients match on the numbers (6000 + position), so
//! variants are only ever appended, never reordered or removed.

use anchor_lang::prelude::*;

#[error_code]
pub enum ThreadError {
    #[msg("Thread id must be 1 to 32 bytes")]
    InvalidId,
    #[msg("Thread account is not the PDA of this owner and id")]
    ThreadAddressMismatch,
    #[msg("A thread with this owner and id already exists")]
    ThreadAlreadyExists,
    #[msg("A thread must store at least one instruction")]
    NoInstructions,
    #[msg("Too many instructions: at most 8 per thread")]
    TooManyInstructions,
    #[msg("Too many accounts in one instruction: at most 32")]
    TooManyAccounts,
    #[msg("Instruction data too large: at most 1024 bytes")]
    InstructionDataTooLarge,
    #[msg("Stored instructions too large: at most 4096 bytes in total")]
    InstructionsTooLarge,
    #[msg("A thread may not invoke the thread program itself")]
    SelfInvocationNotAllowed,
    #[msg("Interval must be at least one second")]
    InvalidInterval,
    #[msg("Cron expression is malformed")]
    InvalidCron,
    #[msg("Cron schedule has no future fire time")]
    CronNeverFires,
    #[msg("Rate limit needs max_execs >= 1 and window_slots >= 1")]
    InvalidRateLimit,
    #[msg("Account trigger size must be 1 to 10240 bytes")]
    InvalidAccountTrigger,
    #[msg("The watched account of an Account trigger was not passed")]
    MissingTriggerAccount,
    #[msg("Only the thread's owner may do this")]
    NotOwner,
    #[msg("Thread is paused")]
    ThreadPaused,
    #[msg("Thread is not paused")]
    ThreadNotPaused,
    #[msg("Thread is not due yet")]
    ThreadNotDue,
    #[msg("Thread trigger has fired for the last time")]
    ThreadCompleted,
    #[msg("Thread rate limit reached for this slot window")]
    RateLimited,
    #[msg("Thread balance cannot pay the execution fee and stay rent exempt")]
    InsufficientBalance,
    #[msg("An account of a stored instruction was not passed")]
    MissingInstructionAccount,
    #[msg("A stored instruction needs a signer that did not sign")]
    MissingInstructionSigner,
    #[msg("A stored instruction needs an account writable that was passed read-only")]
    InstructionAccountNotWritable,
    #[msg("Durable execution needs the instructions sysvar account")]
    MissingInstructionsSysvar,
    #[msg("Withdrawal exceeds the balance above rent and the reserved fee")]
    WithdrawExceedsAvailable,
    #[msg("Arithmetic overflow")]
    ArithmeticOverflow,
    #[msg("Account has an unsupported layout version")]
    UnsupportedVersion,
    #[msg("Stored instructions may require no signature but the thread's own")]
    ForeignSigner,
    #[msg("Instruction 0 of a durable execution must advance the thread's nonce")]
    MissingNonceAdvance,
    #[msg("Instruction 0 advances a nonce account other than the thread's")]
    WrongNonceAdvanced,
    #[msg("Thread is not durable")]
    NotDurable,
    #[msg("Thread is already durable")]
    AlreadyDurable,
    #[msg("Nonce account is not the thread's nonce account")]
    NonceAccountMismatch,
    #[msg("Nonce account is not an initialized system nonce account")]
    InvalidNonceAccount,
    #[msg("A lease is held on this thread; release or forfeit it first")]
    LeaseHeld,
    #[msg("Thread has no lease")]
    NoLease,
    #[msg("Only the lease holder may do this")]
    NotLeaseHolder,
    #[msg("Lease has expired")]
    LeaseExpired,
    #[msg("Lease has not expired yet")]
    LeaseNotExpired,
    #[msg("Lease length must be 1 slot up to the thread's max_lease_slots")]
    InvalidLeaseLength,
    #[msg("Bond must be at least the nonce account's lamports")]
    BondTooSmall,
    #[msg("Nonce authority has not been handed back to the thread")]
    AuthorityNotReturned,
    #[msg("Nonce authority is back with the thread; release the lease instead")]
    AuthorityReturned,
    #[msg("The thread's nonce account was not passed")]
    MissingNonceAccount,
    #[msg("The lease holder's account was not passed")]
    MissingLeaseHolder,
    #[msg("Lease was revoked by the owner: hand the nonce authority back and release it")]
    LeaseRevoked,
    #[msg("A revoked lease's holder still has its grace window to hand the authority back; settle it after revoked_slot + REVOKE_GRACE_SLOTS")]
    RevokeGraceNotOver,
    #[msg("Nonce account address holds data or belongs to another program; use a fresh keypair")]
    NonceAddressInUse,
    #[msg("Return data carries the thread-response tag but is not a valid ThreadResponse")]
    InvalidThreadResponse,
    #[msg("ThreadResponse version is not one this program reads (1)")]
    UnsupportedResponseVersion,
    #[msg("Closing a thread needs its owner (writable) and, when durable, its nonce account (writable) and the system program among the remaining accounts")]
    MissingCloseAccount,
    #[msg("Too many lookup tables: at most 4 per thread")]
    TooManyLookupTables,
    #[msg("A lookup table is named twice")]
    DuplicateLookupTable,
    #[msg("Each lookup table must be passed among the remaining accounts")]
    MissingLookupTable,
    #[msg("Not a live address lookup table (wrong owner, uninitialized or deactivated)")]
    InvalidLookupTable,
    #[msg("Invalid condition trigger: an integer's width must be 1, 2, 4 or 8; a price's exponent within -18..=18 and max_age_secs at least 1; the account must not be the thread")]
    InvalidConditionTrigger,
    #[msg("The condition's account is not its source: a Pyth price needs a fully verified PriceUpdateV2 of the trigger's feed, owned by the Pyth receiver")]
    ConditionSourceMismatch,
    #[msg("The condition's value lies past the end of the account's data")]
    ConditionValueUnreadable,
    #[msg("The condition's price is older than its max_age_secs")]
    StaleConditionValue,
}
