//! The one-line verdict of `keeper explain`: why a thread does or does not run, and what
//! happens next. The first condition that holds wins, blocking ones first: a paused or
//! dead-lettered thread is that whatever its schedule says.
//!
//! Due-ness is the program's own rule (`thread::schedule::check_due`), so the verdict
//! cannot disagree with what `exec_thread` would do.

use std::fmt;

use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::Signature;
use thread::condition::Step;
use thread::schedule::{check_due, condition_of, ChainTime, Watched};
use thread::state::{Due, Trigger};

use super::facts::{Facts, NonceFacts};
use super::time::{relative, sol, utc};
use crate::store::ExecState;

/// Why a thread runs or does not.
#[derive(Debug, Clone, PartialEq, Eq, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum Verdict {
    Paused,
    DeadLettered {
        id: i64,
        reason: String,
    },
    Finished,
    NonceUnusable {
        nonce: Pubkey,
        problem: String,
    },
    CannotPayFee {
        short_by: u64,
    },
    /// Sent (or being sent) and not yet confirmed.
    InFlight {
        signature: Signature,
    },
    ReplayPending {
        at: i64,
        attempt: u32,
        attempts: u32,
        last_error: Option<String>,
    },
    LeasedByOther {
        holder: Pubkey,
        until_slot: u64,
    },
    RateLimited {
        until_slot: u64,
    },
    WatchedAccountMissing {
        address: Pubkey,
    },
    NotDue(Waiting),
    DueNow {
        durable: bool,
    },
    /// A crossing seen back on the far side of its threshold: due for a run that only
    /// re-arms it (no instructions; the fee is paid).
    DueToArm {
        durable: bool,
    },
    /// Due, and declined by this keeper because it would not pay for itself.
    Unprofitable {
        reason: String,
        declined_at: i64,
    },
}

/// What a thread that is not due waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Waiting {
    Time {
        unix_ts: i64,
        now: i64,
    },
    Slot {
        slot: u64,
        now: u64,
    },
    Epoch {
        epoch: u64,
        now: u64,
    },
    Change {
        address: Pubkey,
        offset: u32,
        size: u32,
    },
    /// A `Condition` trigger's value is not (yet) what it waits for; `state` says what
    /// the value is and what it waits for, or why it cannot be used.
    Condition {
        address: Pubkey,
        state: String,
    },
    /// A next due time its trigger cannot make (an account written by something other
    /// than this program's current version): `check_due` refuses it for good.
    Mismatch {
        due: String,
    },
}

impl Verdict {
    /// The verdict on `facts`.
    pub fn of(facts: &Facts) -> Self {
        let thread = &facts.thread;
        let current = facts
            .keeper
            .as_ref()
            .and_then(|keeper| Some((keeper.current(thread.exec_count)?, keeper)));
        if thread.paused {
            return Verdict::Paused;
        }
        if let Some((row, keeper)) = current {
            if row.state == ExecState::Dead {
                let (id, reason) = match &keeper.dead_letter {
                    Some(letter) => (letter.id, letter.reason.clone()),
                    None => (row.id, row.last_error.clone().unwrap_or_default()),
                };
                return Verdict::DeadLettered { id, reason };
            }
        }
        if thread.next_due == Due::Never {
            return Verdict::Finished;
        }
        if let Some(verdict) = nonce_verdict(facts) {
            return verdict;
        }
        if facts.spare() < thread.fee_per_exec {
            return Verdict::CannotPayFee {
                short_by: thread.fee_per_exec - facts.spare(),
            };
        }
        if let Some((row, _)) = current {
            match row.state {
                ExecState::Sent => {
                    return Verdict::InFlight {
                        signature: row.signature,
                    }
                }
                ExecState::Pending if row.retry_count == 0 && row.last_error.is_none() => {
                    return Verdict::InFlight {
                        signature: row.signature,
                    }
                }
                ExecState::Pending => {
                    return Verdict::ReplayPending {
                        at: row.next_attempt_at,
                        attempt: row.retry_count,
                        attempts: row.max_retries.saturating_add(1),
                        last_error: row.last_error.clone(),
                    }
                }
                _ => {}
            }
        }
        if let (Some(lease), Some(me)) = (thread.lease, facts.me) {
            if lease.holder != me && lease.is_live(facts.clock.slot) {
                return Verdict::LeasedByOther {
                    holder: lease.holder,
                    until_slot: lease.expires_slot,
                };
            }
        }
        let window_end = thread
            .window_start_slot
            .saturating_add(thread.rate_limit.window_slots);
        if thread.execs_in_window >= thread.rate_limit.max_execs && facts.clock.slot < window_end {
            return Verdict::RateLimited {
                until_slot: window_end,
            };
        }
        match (due_verdict(facts), declined_now(facts)) {
            (Verdict::DueNow { .. }, Some(declined)) => declined,
            (verdict, _) => verdict,
        }
    }
}

/// The decline this keeper noted for the due time the chain shows next.
fn declined_now(facts: &Facts) -> Option<Verdict> {
    let declined = facts.keeper.as_ref()?.declined.as_ref()?;
    (declined.exec_count == facts.thread.exec_count).then(|| Verdict::Unprofitable {
        reason: declined.reason.clone(),
        declined_at: declined.declined_at,
    })
}

/// A durable thread whose nonce no keeper can advance.
fn nonce_verdict(facts: &Facts) -> Option<Verdict> {
    let nonce = facts.thread.nonce_account().ok()?;
    let unusable = |problem: String| Some(Verdict::NonceUnusable { nonce, problem });
    match facts.nonce.as_ref()? {
        NonceFacts::Missing => unusable("does not exist".into()),
        NonceFacts::NotANonce => unusable("holds no initialized nonce".into()),
        NonceFacts::Initialized { authority, .. } => {
            // Free: the thread PDA holds the authority; leased: its holder does.
            let expected = facts.thread.lease.map_or(facts.address, |l| l.holder);
            (*authority != expected).then(|| Verdict::NonceUnusable {
                nonce,
                problem: format!("has authority {authority}, not {expected}"),
            })
        }
    }
}

fn due_verdict(facts: &Facts) -> Verdict {
    let (thread, clock) = (&facts.thread, &facts.clock);
    let now = ChainTime {
        slot: clock.slot,
        unix_ts: clock.unix_timestamp,
        epoch: clock.epoch,
    };
    if let (Trigger::Account { address, .. } | Trigger::Condition { address, .. }, Some(None)) =
        (&thread.trigger, &facts.watched)
    {
        return Verdict::WatchedAccountMissing { address: *address };
    }
    let watched = facts
        .watched
        .as_ref()
        .and_then(|account| account.as_ref())
        .map(|account| account.as_watched());
    let durable = facts.nonce.is_some();
    match check_due(&thread.next_due, &thread.trigger, now, watched) {
        Ok(Step::Fire) => Verdict::DueNow { durable },
        Ok(Step::Arm) => Verdict::DueToArm { durable },
        Err(_) => Verdict::NotDue(match (thread.next_due, thread.trigger.clone()) {
            (Due::At { unix_ts }, _) => Waiting::Time {
                unix_ts,
                now: clock.unix_timestamp,
            },
            (Due::AtSlot { slot }, _) => Waiting::Slot {
                slot,
                now: clock.slot,
            },
            (Due::AtEpoch { epoch }, _) => Waiting::Epoch {
                epoch,
                now: clock.epoch,
            },
            (
                _,
                Trigger::Account {
                    address,
                    offset,
                    size,
                },
            ) => Waiting::Change {
                address,
                offset,
                size,
            },
            (Due::OnCondition { armed }, Trigger::Condition { address, .. }) => {
                Waiting::Condition {
                    address,
                    state: condition_state(&thread.trigger, armed, watched, now.unix_ts),
                }
            }
            // Only a change-watching due time on a trigger that watches nothing is left;
            // a reader reports what it found rather than trusting the writer.
            (due, _) => Waiting::Mismatch {
                due: format!("{due:?}"),
            },
        }),
    }
}

/// What a condition that is not due sees: its value and what it waits for, a price too
/// old, or why the value cannot be read (which no waiting fixes).
fn condition_state(trigger: &Trigger, armed: bool, watched: Option<Watched>, now: i64) -> String {
    let (Some((_, condition)), Some(watched)) = (condition_of(trigger), watched) else {
        return "its account was not read".into();
    };
    match condition.read(watched.data, watched.owner) {
        Err(error) => format!(
            "cannot run: its value cannot be read ({error}); `threads update` with a trigger that fits the account"
        ),
        Ok(reading) => match condition.check_fresh(&reading, now) {
            Err(error) => format!("waiting for a fresh price: {error}"),
            Ok(()) => format!(
                "the value is {}, waiting for {}",
                reading.text(),
                condition.goal_text(armed)
            ),
        },
    }
}

/// Slots take about 400 ms: enough to say "in about N min" of a slot wait.
const MS_PER_SLOT: i64 = 400;

impl Verdict {
    /// A stable label, for JSON and tests.
    pub fn kind(&self) -> &'static str {
        self.into()
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Paused => write!(f, "paused by the owner; `threads resume` runs it again"),
            Verdict::DeadLettered { id, reason } => {
                write!(f, "dead-lettered: {reason}; keeper dlq retry {id}")
            }
            Verdict::Finished => write!(
                f,
                "finished: its trigger has no due time left; `threads update` with a new trigger runs it again"
            ),
            Verdict::NonceUnusable { nonce, problem } => write!(
                f,
                "cannot run: its nonce account {nonce} {problem}, so no keeper can advance it; `threads rotate-nonce` gives it a new one"
            ),
            Verdict::CannotPayFee { short_by } => write!(
                f,
                "cannot pay its fee: deposit {} SOL more",
                sol(*short_by)
            ),
            Verdict::InFlight { signature } => {
                write!(f, "being executed: {signature} is sent and not yet confirmed")
            }
            Verdict::ReplayPending {
                at,
                attempt,
                attempts,
                last_error,
            } => write!(
                f,
                "attempt {attempt} of {attempts} failed ({}); tried again at {}",
                last_error.as_deref().unwrap_or("no error recorded"),
                utc(*at)
            ),
            Verdict::LeasedByOther { holder, until_slot } => write!(
                f,
                "lease held by {holder} until slot {until_slot}: only that keeper executes it"
            ),
            Verdict::RateLimited { until_slot } => {
                write!(f, "rate limit reached: runs again from slot {until_slot}")
            }
            Verdict::WatchedAccountMissing { address } => write!(
                f,
                "cannot run: its watched account {address} does not exist"
            ),
            Verdict::NotDue(Waiting::Time { unix_ts, now }) => write!(
                f,
                "not due until {} ({})",
                utc(*unix_ts),
                relative(unix_ts.saturating_sub(*now))
            ),
            Verdict::NotDue(Waiting::Slot { slot, now }) => {
                let slots = i64::try_from(slot.saturating_sub(*now)).unwrap_or(i64::MAX);
                write!(
                    f,
                    "not due until slot {slot} (now {now}; about {})",
                    relative(slots.saturating_mul(MS_PER_SLOT) / 1000)
                )
            }
            Verdict::NotDue(Waiting::Epoch { epoch, now }) => {
                write!(f, "not due until epoch {epoch} (now {now})")
            }
            Verdict::NotDue(Waiting::Change {
                address,
                offset,
                size,
            }) => write!(
                f,
                "waiting for bytes {offset}..{} of {address} to change",
                u64::from(*offset) + u64::from(*size)
            ),
            Verdict::NotDue(Waiting::Condition { address, state }) => {
                write!(f, "waiting on {address}: {state}")
            }
            Verdict::NotDue(Waiting::Mismatch { due }) => write!(
                f,
                "cannot run: its next due time {due} does not fit its trigger; `threads update` with a new trigger resets it"
            ),
            Verdict::Unprofitable {
                reason,
                declined_at,
            } => write!(
                f,
                "due, but not run by this keeper since {}: {reason}",
                utc(*declined_at)
            ),
            Verdict::DueNow { durable: false } => write!(f, "due now, will run on the next tick"),
            Verdict::DueNow { durable: true } => write!(
                f,
                "due now, will run on the next tick (on its nonce, under a keeper's lease)"
            ),
            Verdict::DueToArm { durable } => write!(
                f,
                "due now for an arming run: its value is back on the far side of the threshold, so the next crossing can fire (no instructions run; the fee is paid){}",
                if *durable { "; on its nonce, under a keeper's lease" } else { "" }
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use solana_sdk::clock::Clock;
    use solana_sdk::pubkey::Pubkey;
    use thread::state::{Due, Trigger};

    use super::*;
    use crate::ops::explain::facts::KeeperFacts;
    use crate::test_utils::thread::ThreadFixture;

    /// Facts of an unleased, non-durable, funded `thread`, read at slot 10.
    fn facts(due: Due, trigger: Trigger) -> Facts {
        let mut thread = ThreadFixture::new().due(due).thread;
        thread.trigger = trigger;
        Facts {
            address: Pubkey::new_unique(),
            thread,
            balance: 1_000_000_000,
            rent_minimum: 0,
            clock: Clock {
                slot: 10,
                ..Clock::default()
            },
            nonce: None,
            watched: None,
            keeper: None,
            me: None,
        }
    }

    #[test]
    fn a_due_time_its_trigger_cannot_make_is_reported_not_trusted() {
        let verdict = Verdict::of(&facts(Due::OnChange { last_hash: [0; 32] }, Trigger::Now));
        assert!(
            matches!(&verdict, Verdict::NotDue(Waiting::Mismatch { due }) if due.starts_with("OnChange")),
            "{verdict:?}"
        );
        assert!(verdict
            .to_string()
            .starts_with("cannot run: its next due time OnChange"));
    }

    #[test]
    fn extreme_times_read_as_far_off_rather_than_overflowing() {
        let timestamp = Trigger::Timestamp { unix_ts: i64::MAX };
        let far_off = facts(Due::At { unix_ts: i64::MAX }, timestamp);
        let verdict = Verdict::of(&far_off);
        assert!(verdict.to_string().contains("(in "), "{verdict}");
        let explanation = crate::ops::explain::Explanation::new(&far_off, &verdict);
        assert!(
            explanation.next_due.contains("unix time"),
            "{}",
            explanation.next_due
        );
    }

    #[test]
    fn a_due_time_this_keeper_declined_reads_as_unprofitable_until_it_moves_on() {
        let mut declined = facts(Due::Immediately, Trigger::Now);
        let reason = "unprofitable: the thread pays 1000 lamports, the execution costs 5000";
        declined.keeper = Some(KeeperFacts {
            declined: Some(crate::store::Declined {
                exec_count: declined.thread.exec_count,
                reason: reason.into(),
                declined_at: 1_800_000_000,
            }),
            ..KeeperFacts::default()
        });
        let verdict = Verdict::of(&declined);
        assert_eq!(verdict.kind(), "unprofitable");
        assert!(verdict.to_string().contains(reason), "{verdict}");

        // A decline of an earlier due time says nothing of this one.
        declined.thread.exec_count += 1;
        assert_eq!(Verdict::of(&declined).kind(), "due_now");
    }
}
