//! Trigger arithmetic, free of accounts: when a trigger is first due, whether it is due
//! now, and when it is due after an execution. Handlers feed it the Clock and the
//! watched account's bytes; everything here is pure so it is tested without a bank.

use anchor_lang::prelude::*;
use solana_sha256_hasher::hashv;

use crate::cron::CronSchedule;
use crate::errors::ThreadError;
use crate::state::{Due, Trigger, MAX_WATCHED_BYTES};

/// The chain's notion of now, from the Clock sysvar.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChainTime {
    pub unix_ts: i64,
    pub slot: u64,
    pub epoch: u64,
}

impl From<&Clock> for ChainTime {
    fn from(clock: &Clock) -> Self {
        Self {
            unix_ts: clock.unix_timestamp,
            slot: clock.slot,
            epoch: clock.epoch,
        }
    }
}

/// A trigger's next due time together with the unjittered schedule base it came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NextDue {
    pub due: Due,
    pub base: i64,
}

impl NextDue {
    fn at(base: i64, due_ts: i64) -> Self {
        Self {
            due: Due::At { unix_ts: due_ts },
            base,
        }
    }

    fn plain(due: Due) -> Self {
        Self { due, base: 0 }
    }
}

/// Rejects triggers that could never be evaluated.
pub fn validate(trigger: &Trigger) -> Result<()> {
    match trigger {
        Trigger::Interval { seconds, .. } => {
            require!(*seconds >= 1, ThreadError::InvalidInterval)
        }
        Trigger::Cron { schedule, .. } => {
            parse_cron(schedule)?;
        }
        Trigger::Account { size, .. } => require!(
            *size >= 1 && *size <= MAX_WATCHED_BYTES,
            ThreadError::InvalidAccountTrigger
        ),
        Trigger::Now | Trigger::Timestamp { .. } | Trigger::Slot { .. } | Trigger::Epoch { .. } => {
        }
    }
    Ok(())
}

/// The first due time of a trigger set at `now`. `watched` is the data of the account an
/// `Account` trigger watches, so that only later changes make it due.
pub fn initial(
    trigger: &Trigger,
    thread: &Pubkey,
    now: ChainTime,
    watched: Option<&[u8]>,
) -> Result<NextDue> {
    validate(trigger)?;
    Ok(match trigger {
        Trigger::Now => NextDue::plain(Due::Immediately),
        Trigger::Timestamp { unix_ts } => NextDue::at(*unix_ts, *unix_ts),
        Trigger::Interval { seconds, .. } => {
            let base = checked_add(now.unix_ts, *seconds)?;
            NextDue::at(base, base)
        }
        Trigger::Cron {
            schedule, jitter, ..
        } => cron_fire_after(schedule, *jitter, thread, now.unix_ts)?
            .ok_or(ThreadError::CronNeverFires)?,
        Trigger::Slot { slot } => NextDue::plain(Due::AtSlot { slot: *slot }),
        Trigger::Epoch { epoch } => NextDue::plain(Due::AtEpoch { epoch: *epoch }),
        Trigger::Account {
            address,
            offset,
            size,
        } => {
            // A thread watching itself would be woken by its own bookkeeping forever.
            require_keys_neq!(*address, *thread, ThreadError::InvalidAccountTrigger);
            let data = watched.ok_or(ThreadError::MissingTriggerAccount)?;
            NextDue::plain(Due::OnChange {
                last_hash: hash_range(data, *offset, *size),
            })
        }
    })
}

/// Succeeds when `due` has arrived at `now`; `watched` is the current data of an
/// `Account` trigger's account.
pub fn check_due(
    due: &Due,
    trigger: &Trigger,
    now: ChainTime,
    watched: Option<&[u8]>,
) -> Result<()> {
    let arrived = match due {
        Due::Immediately => true,
        Due::At { unix_ts } => now.unix_ts >= *unix_ts,
        Due::AtSlot { slot } => now.slot >= *slot,
        Due::AtEpoch { epoch } => now.epoch >= *epoch,
        Due::OnChange { last_hash } => {
            let Trigger::Account { offset, size, .. } = trigger else {
                return err!(ThreadError::ThreadNotDue);
            };
            let data = watched.ok_or(ThreadError::MissingTriggerAccount)?;
            hash_range(data, *offset, *size) != *last_hash
        }
        Due::Never => return err!(ThreadError::ThreadCompleted),
    };
    require!(arrived, ThreadError::ThreadNotDue);
    Ok(())
}

/// The due time after an execution at `now` of a thread that was due at `current`.
/// Each execution consumes exactly one due time, so no due time runs twice.
pub fn after_execution(
    trigger: &Trigger,
    current: NextDue,
    thread: &Pubkey,
    now: ChainTime,
    watched: Option<&[u8]>,
) -> Result<NextDue> {
    Ok(match trigger {
        Trigger::Now | Trigger::Timestamp { .. } | Trigger::Slot { .. } | Trigger::Epoch { .. } => {
            NextDue::plain(Due::Never)
        }
        Trigger::Interval { seconds, skippable } => {
            let base = if *skippable {
                // The first period boundary strictly after now, on the original grid.
                let elapsed = now.unix_ts.saturating_sub(current.base).max(0);
                let periods = elapsed
                    .checked_div(*seconds)
                    .and_then(|p| p.checked_add(1))
                    .ok_or(ThreadError::ArithmeticOverflow)?;
                checked_add(
                    current.base,
                    seconds
                        .checked_mul(periods)
                        .ok_or(ThreadError::ArithmeticOverflow)?,
                )?
            } else {
                checked_add(current.base, *seconds)?
            };
            NextDue::at(base, base)
        }
        Trigger::Cron {
            schedule,
            skippable,
            jitter,
        } => {
            let from = if *skippable {
                now.unix_ts.max(current.base)
            } else {
                current.base
            };
            cron_fire_after(schedule, *jitter, thread, from)?.unwrap_or(NextDue::plain(Due::Never))
        }
        Trigger::Account { offset, size, .. } => {
            let data = watched.ok_or(ThreadError::MissingTriggerAccount)?;
            NextDue::plain(Due::OnChange {
                last_hash: hash_range(data, *offset, *size),
            })
        }
    })
}

/// SHA-256 of `data[offset..offset + size]`, clipped to the data's length.
pub fn hash_range(data: &[u8], offset: u32, size: u32) -> [u8; 32] {
    let start = usize::try_from(offset)
        .unwrap_or(usize::MAX)
        .min(data.len());
    let end = usize::try_from(offset.saturating_add(size))
        .unwrap_or(usize::MAX)
        .min(data.len());
    let range = data.get(start..end).unwrap_or_default();
    hashv(&[range]).to_bytes()
}

/// Deterministic jitter for one fire time of one thread, in `0..=max`. Derived from the
/// thread key and the fire time so every keeper computes the same value, and different
/// threads on one schedule spread out.
pub fn jitter_offset(thread: &Pubkey, base: i64, max: u32) -> i64 {
    if max == 0 {
        return 0;
    }
    let digest = hashv(&[thread.as_ref(), &base.to_le_bytes()]).to_bytes();
    let mut word = [0u8; 8];
    word.copy_from_slice(digest.get(..8).unwrap_or(&[0; 8]));
    let span = u64::from(max).saturating_add(1);
    i64::try_from(u64::from_le_bytes(word).checked_rem(span).unwrap_or(0)).unwrap_or(0)
}

fn parse_cron(schedule: &str) -> Result<CronSchedule> {
    CronSchedule::parse(schedule).map_err(|e| {
        msg!("invalid cron expression {:?}: {}", schedule, e);
        error!(ThreadError::InvalidCron)
    })
}

fn cron_fire_after(
    schedule: &str,
    jitter: u32,
    thread: &Pubkey,
    after: i64,
) -> Result<Option<NextDue>> {
    let cron = parse_cron(schedule)?;
    let Some(base) = cron.next_after(after) else {
        return Ok(None);
    };
    let due = checked_add(base, jitter_offset(thread, base, jitter))?;
    Ok(Some(NextDue::at(base, due)))
}

fn checked_add(a: i64, b: i64) -> Result<i64> {
    a.checked_add(b)
        .ok_or_else(|| error!(ThreadError::ArithmeticOverflow))
}
