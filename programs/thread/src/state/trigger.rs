//! What makes a thread due, and when it is due next.

use anchor_lang::prelude::*;

use crate::cron::CronSchedule;

/// Longest cron expression a thread stores, in bytes.
pub const MAX_CRON_LEN: usize = CronSchedule::MAX_LEN;
/// Largest byte range an `Account` trigger may watch: the range is hashed on every
/// execution attempt, so it is bounded to keep that cost predictable.
pub const MAX_WATCHED_BYTES: u32 = 10_240;

/// The condition that makes a thread due.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug, PartialEq, Eq, InitSpace)]
pub enum Trigger {
    /// Due once, as soon as it is created.
    Now,
    /// Due once, at or after this unix time (seconds, the bank's Clock).
    Timestamp { unix_ts: i64 },
    /// Due every `seconds`, the first time `seconds` after creation. When `skippable`,
    /// missed periods are dropped and the next one is the first after the execution;
    /// otherwise every missed period is executed in turn.
    Interval { seconds: i64, skippable: bool },
    /// Due at each fire time of a 5, 6 or 7-field cron expression (UTC), delayed by a
    /// per-fire deterministic jitter in `0..=jitter` seconds so that many threads on the
    /// same schedule do not land in the same slot. `skippable` as for `Interval`.
    Cron {
        #[max_len(MAX_CRON_LEN)]
        schedule: String,
        skippable: bool,
        jitter: u32,
    },
    /// Due once, at or after this slot.
    Slot { slot: u64 },
    /// Due once, at or after the first slot of this epoch.
    Epoch { epoch: u64 },
    /// Due whenever the bytes `offset..offset + size` of `address` hash differently
    /// from the last execution (or from creation). A range past the end of the data is
    /// clipped, so an account that grows or shrinks counts as a change.
    Account {
        address: Pubkey,
        offset: u32,
        size: u32,
    },
    /// Due when the value `source` reads from `address` compares to `threshold` as
    /// `comparison` says, checked by `exec_thread` on the account passed in (matched by
    /// address). A level comparison (`AtLeast`, `AtMost`) is due as long as it holds, so
    /// the rate limit paces it; a crossing is due once per crossing (see [`Comparison`]).
    Condition {
        address: Pubkey,
        source: ValueSource,
        comparison: Comparison,
        threshold: i64,
    },
}

/// Where a `Condition` trigger reads its value (`crate::condition` reads it).
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Copy, Debug, PartialEq, Eq, InitSpace)]
pub enum ValueSource {
    /// A little-endian integer of `width` bytes (1, 2, 4 or 8) at `offset` of the
    /// account's data, two's complement when `signed`: a token amount, a vault's health,
    /// any program's counter. The threshold is in the same units.
    Integer {
        offset: u32,
        width: u8,
        signed: bool,
    },
    /// The price of a Pyth pull-oracle `PriceUpdateV2` account: owned by the Pyth receiver
    /// program, fully verified, of the feed `feed_id`, published at most `max_age_secs`
    /// before the execution. The threshold is in units of `10^exponent` (exponent -2 and
    /// threshold 15_000: a price of 150.00), compared exactly with the price at its own
    /// exponent.
    PythPrice {
        feed_id: [u8; 32],
        exponent: i32,
        max_age_secs: u32,
    },
}

/// How a `Condition` trigger's value is compared with its threshold.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Copy, Debug, PartialEq, Eq, InitSpace)]
pub enum Comparison {
    /// Due while `value >= threshold`.
    AtLeast,
    /// Due while `value <= threshold`.
    AtMost,
    /// Due once when the value reaches `threshold` from below: the thread must have seen
    /// it below (at creation, at its last execution, or in an arming run) first.
    CrossesAbove,
    /// Due once when the value reaches `threshold` from above, likewise.
    CrossesBelow,
}

/// When a thread is next due, in the unit its trigger uses. The keeper schedules from
/// this field alone; `exec_thread` checks it against the Clock or the watched account.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Copy, Debug, PartialEq, Eq, InitSpace)]
pub enum Due {
    /// Executable now (a `Now` trigger that has not run).
    Immediately,
    /// At or after this unix time (`Timestamp`, `Interval`, `Cron` with its jitter).
    At { unix_ts: i64 },
    /// At or after this slot.
    AtSlot { slot: u64 },
    /// At or after this epoch.
    AtEpoch { epoch: u64 },
    /// When the watched range no longer hashes to `last_hash`.
    OnChange { last_hash: [u8; 32] },
    /// When a `Condition` trigger's comparison is met. `armed` is whether the thread has
    /// seen its value on the far side of the threshold since it last fired: a crossing
    /// fires only when armed, and a disarmed crossing whose value is back on the far side
    /// is due for an arming run (no instructions, the fee paid) that sets it. Level
    /// comparisons are always armed.
    OnCondition { armed: bool },
    /// A one-shot trigger that has run, or a cron schedule with no fire time left. Only
    /// `update_thread` with a new trigger makes the thread due again.
    Never,
}

/// How many executions a thread allows within a window of slots.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Copy, Debug, PartialEq, Eq, InitSpace)]
pub struct RateLimit {
    /// Executions allowed per window; at least 1.
    pub max_execs: u32,
    /// Window length in slots; at least 1.
    pub window_slots: u64,
}

impl Default for RateLimit {
    /// One execution per slot: catch-up of a non-skippable schedule still proceeds, one
    /// period per slot, but a burst cannot drain the thread in a single block.
    fn default() -> Self {
        Self {
            max_execs: 1,
            window_slots: 1,
        }
    }
}

/// Whether executions use a recent blockhash or the thread's durable nonce.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Copy, Debug, PartialEq, Eq, InitSpace)]
pub enum Durability {
    /// Executions carry a recent blockhash and expire after ~150 blocks.
    NonDurable,
    /// Executions are durable transactions anchored on this nonce account, which the
    /// thread PDA owns as nonce authority.
    Durable { nonce_account: Pubkey },
}
