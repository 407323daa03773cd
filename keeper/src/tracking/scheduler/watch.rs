//! Whether a thread that watches an account is due on that account's state: the
//! scheduler's copy of `exec_thread`'s check, from the same functions of the program
//! crate, so the keeper tries exactly when the program would accept.
//!
//! Owns: the verdict for `OnChange` (the watched range no longer hashes to `last_hash`;
//! a missing account hashes as empty data) and `OnCondition` (the value reads, is fresh
//! at the latest chain time, and the comparison fires or arms). Must not: keep state or
//! read the chain.

use thread::schedule::{hash_range, Watched};
use thread::state::Due;

use super::Schedule;
use crate::tracking::view::LooksFor;

/// Whether `schedule` is due when its watched account is `account` (`None`: it does not
/// exist) at chain time `now`; `None` when the schedule does not watch an account.
pub fn due_on(schedule: &Schedule, account: Option<Watched>, now: i64) -> Option<bool> {
    let watch = schedule.watch?;
    match (schedule.due, watch.looks_for) {
        (Due::OnChange { last_hash }, LooksFor::Change { offset, size }) => {
            let data = account.map(|a| a.data).unwrap_or_default();
            Some(hash_range(data, offset, size) != last_hash)
        }
        (Due::OnCondition { armed }, LooksFor::Condition(condition)) => {
            let Some(account) = account else {
                return Some(false);
            };
            let due = condition
                .read(account.data, account.owner)
                .and_then(|reading| condition.check_fresh(&reading, now).map(|()| reading))
                .map(|reading| condition.step(armed, &reading).is_some());
            if let Err(error) = due {
                tracing::debug!(address = %watch.address, %error, "condition not evaluable");
            }
            Some(due.unwrap_or(false))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use solana_sdk::pubkey::Pubkey;
    use thread::condition::pyth::{PriceUpdate, RECEIVER_PROGRAM_ID};
    use thread::condition::Condition;
    use thread::state::{Comparison, ValueSource};

    use super::super::tests::{keys, seen};
    use super::super::Scheduler;
    use super::*;
    use crate::tracking::scheduler::tests::clock;
    use crate::tracking::view::Watch;

    const FEED: [u8; 32] = [4; 32];

    fn on_condition(address: Pubkey, condition: Condition, armed: bool) -> Schedule {
        Schedule {
            exec_count: 0,
            due: Due::OnCondition { armed },
            paused: false,
            watch: Some(Watch {
                address,
                looks_for: LooksFor::Condition(condition),
            }),
            rate_limited_until_slot: 0,
        }
    }

    fn counter(comparison: Comparison) -> Condition {
        Condition {
            source: ValueSource::Integer {
                offset: 0,
                width: 8,
                signed: false,
            },
            comparison,
            threshold: 10,
        }
    }

    fn price_update(price: i64, publish_time: i64) -> Vec<u8> {
        PriceUpdate {
            feed_id: FEED,
            price,
            exponent: -8,
            publish_time,
            fully_verified: true,
        }
        .encode(&Pubkey::new_unique(), 1)
    }

    #[test]
    fn level_and_crossing_conditions_are_due_as_the_program_decides() {
        let mut s = Scheduler::default();
        let address = Pubkey::new_unique();
        let k = keys(4);
        s.upsert(
            k[0],
            on_condition(address, counter(Comparison::AtLeast), true),
        );
        s.upsert(
            k[1],
            on_condition(address, counter(Comparison::AtMost), true),
        );
        s.upsert(
            k[2],
            on_condition(address, counter(Comparison::CrossesAbove), true),
        );
        s.upsert(
            k[3],
            on_condition(address, counter(Comparison::CrossesAbove), false),
        );
        assert_eq!(s.watched_accounts(), vec![address]);
        assert_eq!(s.account_trigger_threads(), 4);

        s.observe(&address, seen(&5u64.to_le_bytes()));
        // At most 10: due. An armed crossing below: not yet. A disarmed one below: due to arm.
        assert_eq!(s.tick(&clock(0, 0, 0)), vec![k[1], k[3]]);
        s.observe(&address, seen(&10u64.to_le_bytes()));
        let mut due = s.tick(&clock(0, 0, 0));
        due.sort();
        let mut expected = vec![k[0], k[1], k[2]];
        expected.sort();
        assert_eq!(due, expected, "10 is at least and at most 10, and crosses");
        // Too short to hold the integer, or gone: not due.
        s.observe(&address, seen(&[1, 2, 3]));
        assert!(s.tick(&clock(0, 0, 0)).is_empty());
        s.observe(&address, None);
        assert!(s.tick(&clock(0, 0, 0)).is_empty());
    }

    #[test]
    fn a_price_is_due_only_fresh_from_the_receiver_and_of_its_feed() {
        let condition = Condition {
            source: ValueSource::PythPrice {
                feed_id: FEED,
                exponent: -2,
                max_age_secs: 30,
            },
            comparison: Comparison::AtMost,
            threshold: 10_000,
        };
        let schedule = on_condition(Pubkey::new_unique(), condition, true);
        let cheap = price_update(99 * 100_000_000, 1_000);
        let receiver = |data| {
            Some(Watched {
                data,
                owner: &RECEIVER_PROGRAM_ID,
            })
        };
        assert_eq!(due_on(&schedule, receiver(&cheap), 1_030), Some(true));
        assert_eq!(
            due_on(&schedule, receiver(&cheap), 1_031),
            Some(false),
            "stale"
        );
        assert_eq!(
            due_on(&schedule, seen(&cheap), 1_000),
            Some(false),
            "not the receiver's"
        );
        let dear = price_update(101 * 100_000_000, 1_000);
        assert_eq!(due_on(&schedule, receiver(&dear), 1_000), Some(false));
        let mut other_feed = cheap.clone();
        other_feed[41] ^= 1;
        assert_eq!(due_on(&schedule, receiver(&other_feed), 1_000), Some(false));
    }
}
