//! Trigger arithmetic, free of accounts: when a trigger is first due, whether it is due
//! now, and when it is due after an execution. Handlers feed it the Clock and the
//! watched account; everything here is pure so it is tested without a bank.

use anchor_lang::prelude::*;
use solana_sha256_hasher::hashv;

use crate::condition::{Condition, ConditionError, Reading, Step};
use crate::cron::CronSchedule;
use crate::errors::ThreadError;
use crate::state::{Due, Trigger, MAX_WATCHED_BYTES};

/// The account an `Account` or `Condition` trigger watches, as passed in.
#[derive(Clone, Copy, Debug)]
pub struct Watched<'a> {
    pub data: &'a [u8],
    pub owner: &'a Pubkey,
}

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
        Trigger::Condition { .. } => condition_of(trigger)
            .map_or(Ok(()), |(_, condition)| condition.validate())
            .map_err(|why| {
                msg!("invalid condition trigger: {}", why);
                error!(ThreadError::InvalidConditionTrigger)
            })?,
        Trigger::Now | Trigger::Timestamp { .. } | Trigger::Slot { .. } | Trigger::Epoch { .. } => {
        }
    }
    Ok(())
}

/// The first due time of a trigger set at `now`. `watched` is the account an `Account` or
/// `Condition` trigger watches: only later changes make an `Account` trigger due, and a
/// crossing is armed when its value starts on the far side of the threshold. A condition
/// whose value cannot be read is refused here, when the owner can still fix it; its age
/// is not judged until it is due.
pub fn initial(
    trigger: &Trigger,
    thread: &Pubkey,
    now: ChainTime,
    watched: Option<Watched>,
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
            let watched = watched.ok_or(ThreadError::MissingTriggerAccount)?;
            NextDue::plain(Due::OnChange {
                last_hash: hash_range(watched.data, *offset, *size),
            })
        }
        Trigger::Condition { address, .. } => {
            require_keys_neq!(*address, *thread, ThreadError::InvalidConditionTrigger);
            let (condition, reading) = read_condition(trigger, watched)?;
            NextDue::plain(Due::OnCondition {
                armed: condition.armed_after(&reading),
            })
        }
    })
}

/// What an execution at `now` does when `due` has arrived: run the instructions
/// ([`Step::Fire`]) or, for a disarmed crossing back on the far side, only arm
/// ([`Step::Arm`]); `ThreadNotDue` when it has not arrived. `watched` is the current
/// state of an `Account` or `Condition` trigger's account.
pub fn check_due(
    due: &Due,
    trigger: &Trigger,
    now: ChainTime,
    watched: Option<Watched>,
) -> Result<Step> {
    if let Due::OnCondition { armed } = due {
        let (condition, reading) = read_condition(trigger, watched)?;
        condition
            .check_fresh(&reading, now.unix_ts)
            .map_err(condition_error)?;
        return condition
            .step(*armed, &reading)
            .ok_or_else(|| error!(ThreadError::ThreadNotDue));
    }
    let arrived = match due {
        Due::Immediately => true,
        Due::At { unix_ts } => now.unix_ts >= *unix_ts,
        Due::AtSlot { slot } => now.slot >= *slot,
        Due::AtEpoch { epoch } => now.epoch >= *epoch,
        Due::OnChange { last_hash } => {
            let Trigger::Account { offset, size, .. } = trigger else {
                return err!(ThreadError::ThreadNotDue);
            };
            let watched = watched.ok_or(ThreadError::MissingTriggerAccount)?;
            hash_range(watched.data, *offset, *size) != *last_hash
        }
        Due::OnCondition { .. } => false,
        Due::Never => return err!(ThreadError::ThreadCompleted),
    };
    require!(arrived, ThreadError::ThreadNotDue);
    Ok(Step::Fire)
}

/// The `Condition` of a trigger, with its address; `None` for other triggers.
pub fn condition_of(trigger: &Trigger) -> Option<(Pubkey, Condition)> {
    match trigger {
        Trigger::Condition {
            address,
            source,
            comparison,
            threshold,
        } => Some((
            *address,
            Condition {
                source: *source,
                comparison: *comparison,
                threshold: *threshold,
            },
        )),
        _ => None,
    }
}

/// The condition of `trigger` and its value in `watched`, refusing by name a trigger
/// that is not a condition, a missing account and an unreadable value.
fn read_condition(trigger: &Trigger, watched: Option<Watched>) -> Result<(Condition, Reading)> {
    let (_, condition) = condition_of(trigger).ok_or(ThreadError::ThreadNotDue)?;
    let watched = watched.ok_or(ThreadError::MissingTriggerAccount)?;
    let reading = condition
        .read(watched.data, watched.owner)
        .map_err(condition_error)?;
    Ok((condition, reading))
}

fn condition_error(error: ConditionError) -> Error {
    msg!("condition trigger: {}", error);
    ThreadError::from(error).into()
}

/// `schedule_base` of a chained `Interval` or `Cron` thread whose schedule had no fire
/// time left: the execution after the chained one makes it `Never` again.
pub const NO_FIRE_TIME: i64 = i64::MAX;

/// The due time after an execution whose program answered `Chain`: due at once, outside
/// the schedule. For `Interval` and `Cron` the base keeps the schedule's `scheduled` next
/// fire time, which the chained execution resumes (see [`after_execution`]); every other
/// trigger derives its next due time without a base.
pub fn chained(trigger: &Trigger, scheduled: NextDue) -> NextDue {
    let base = match (trigger, scheduled.due) {
        (Trigger::Interval { .. } | Trigger::Cron { .. }, Due::Never) => NO_FIRE_TIME,
        (Trigger::Interval { .. } | Trigger::Cron { .. }, _) => scheduled.base,
        _ => 0,
    };
    NextDue {
        due: Due::Immediately,
        base,
    }
}

/// The due time after an execution at `now` of a thread that was due at `current`.
/// Each execution consumes exactly one due time, so no due time runs twice. A chained
/// execution (due `Immediately` under a schedule) consumes none: the schedule resumes at
/// the fire time it kept.
pub fn after_execution(
    trigger: &Trigger,
    current: NextDue,
    thread: &Pubkey,
    now: ChainTime,
    watched: Option<Watched>,
) -> Result<NextDue> {
    if current.due == Due::Immediately {
        match trigger {
            Trigger::Interval { .. } | Trigger::Cron { .. } if current.base == NO_FIRE_TIME => {
                return Ok(NextDue::plain(Due::Never))
            }
            Trigger::Interval { .. } => return Ok(NextDue::at(current.base, current.base)),
            Trigger::Cron { jitter, .. } => {
                let due = checked_add(current.base, jitter_offset(thread, current.base, *jitter))?;
                return Ok(NextDue::at(current.base, due));
            }
            _ => {}
        }
    }
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
            let watched = watched.ok_or(ThreadError::MissingTriggerAccount)?;
            NextDue::plain(Due::OnChange {
                last_hash: hash_range(watched.data, *offset, *size),
            })
        }
        Trigger::Condition { .. } => {
            let (condition, reading) = read_condition(trigger, watched)?;
            NextDue::plain(Due::OnCondition {
                armed: condition.armed_after(&reading),
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

#[cfg(test)]
mod tests {
    use super::*;

    const THREAD: Pubkey = Pubkey::new_from_array([3; 32]);

    fn at(unix_ts: i64) -> ChainTime {
        ChainTime {
            unix_ts,
            slot: 0,
            epoch: 0,
        }
    }

    /// Runs `trigger` from its first due time: `chain_at` lists the executions (by index)
    /// whose program answered `Chain`; each execution happens at its due time (a chained
    /// one one second after the previous). Returns every execution's time.
    fn run(trigger: &Trigger, executions: usize, chain_at: &[usize]) -> Vec<i64> {
        let mut current = initial(trigger, &THREAD, at(1_000), None).unwrap();
        let mut last = 1_000;
        let mut times = Vec::new();
        for index in 0..executions {
            let now = match current.due {
                Due::At { unix_ts } => unix_ts,
                Due::Immediately => last + 1,
                other => panic!("not due: {other:?}"),
            };
            times.push(now);
            last = now;
            let next = after_execution(trigger, current, &THREAD, at(now), None).unwrap();
            current = if chain_at.contains(&index) {
                chained(trigger, next)
            } else {
                next
            };
        }
        times
    }

    #[test]
    fn a_chain_adds_executions_and_the_schedule_resumes_where_it_was() {
        for skippable in [false, true] {
            let interval = Trigger::Interval {
                seconds: 100,
                skippable,
            };
            assert_eq!(run(&interval, 4, &[]), vec![1_100, 1_200, 1_300, 1_400]);
            assert_eq!(
                run(&interval, 6, &[0, 1]),
                vec![1_100, 1_101, 1_102, 1_200, 1_300, 1_400],
                "skippable: {skippable}"
            );
        }
        let cron = Trigger::Cron {
            schedule: "0 * * * * *".into(),
            skippable: false,
            jitter: 7,
        };
        let plain = run(&cron, 3, &[]);
        let chained_run = run(&cron, 5, &[0, 1]);
        assert_eq!(chained_run[0], plain[0]);
        assert_eq!(chained_run[1..3], [plain[0] + 1, plain[0] + 2]);
        assert_eq!(chained_run[3..], plain[1..], "jittered fire times resumed");
    }

    #[test]
    fn a_chained_one_shot_runs_once_more_then_never() {
        let trigger = Trigger::Timestamp { unix_ts: 1_500 };
        let first = initial(&trigger, &THREAD, at(1_000), None).unwrap();
        let next = after_execution(&trigger, first, &THREAD, at(1_500), None).unwrap();
        assert_eq!(next.due, Due::Never);
        let chained = chained(&trigger, next);
        assert_eq!(chained.due, Due::Immediately);
        check_due(&chained.due, &trigger, at(1_501), None).unwrap();
        let after = after_execution(&trigger, chained, &THREAD, at(1_501), None).unwrap();
        assert_eq!(after.due, Due::Never);
    }

    #[test]
    fn a_chained_cron_with_no_fire_time_left_ends_never() {
        let trigger = Trigger::Cron {
            schedule: "0 0 0 1 1 * 2030".into(),
            skippable: false,
            jitter: 0,
        };
        let exhausted = NextDue::plain(Due::Never);
        let chained = chained(&trigger, exhausted);
        assert_eq!(chained.base, NO_FIRE_TIME);
        let after = after_execution(&trigger, chained, &THREAD, at(2_000_000_000), None).unwrap();
        assert_eq!(after.due, Due::Never);
    }
}
