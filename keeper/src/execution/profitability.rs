//! The profitability guard: whether executing a thread pays this keeper, so a keeper
//! never runs at a loss unless its operator says so.
//!
//! What an execution costs the keeper: the built transaction's fee (the base fee of each
//! signature and the priority fee the builder chose), plus, for a durable thread, its
//! share of the lease transactions that make the execution possible: a recurring thread
//! renews its lease once per renewal period, shared by the executions within it; a
//! one-shot thread (claim, then release) bears both alone. A lease transaction is priced
//! like the execution's (one signature at the same unit price), which the keeper's own
//! lease transactions are, within their smaller compute budget.
//!
//! Owns: the cost model and the verdict. Must not: build, send, hold a thread back or
//! record anything (the executor does).

use std::fmt;

use thread::cron::CronSchedule;
use thread::state::{Durability, Thread, Trigger};

/// How long a slot lasts on a cluster, for turning a trigger's period into slots.
const MS_PER_SLOT: u64 = 400;

/// What one execution costs this keeper, in lamports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExecutionCost {
    /// The execution transaction's fee.
    pub transaction: u64,
    /// The execution's share of its lease transactions (durable threads).
    pub lease_share: u64,
}

impl ExecutionCost {
    /// The cost of an execution of `state` whose transaction pays `transaction_fee`,
    /// under leases renewed every `renewal_slots` slots.
    pub fn of(state: &Thread, transaction_fee: u64, renewal_slots: u64) -> Self {
        let lease_share = match state.durability {
            Durability::NonDurable => 0,
            Durability::Durable { .. } => {
                lease_share(&state.trigger, transaction_fee, renewal_slots)
            }
        };
        Self {
            transaction: transaction_fee,
            lease_share,
        }
    }

    pub fn total(&self) -> u64 {
        self.transaction.saturating_add(self.lease_share)
    }
}

/// Why an execution is declined: what it pays, what it costs, and the margin asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unprofitable {
    pub fee_per_exec: u64,
    pub cost: ExecutionCost,
    pub min_margin: i64,
}

impl fmt::Display for Unprofitable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unprofitable: the thread pays {} lamports, the execution costs {} ({} transaction + {} lease share) and this keeper asks a margin of {} (daemon.executor.min_margin_lamports); the owner can raise fee_per_exec",
            self.fee_per_exec,
            self.cost.total(),
            self.cost.transaction,
            self.cost.lease_share,
            self.min_margin,
        )
    }
}

/// `Ok` when `fee_per_exec` covers `cost` with at least `min_margin` lamports to spare
/// (a negative margin accepts that much loss).
pub fn judge(fee_per_exec: u64, cost: ExecutionCost, min_margin: i64) -> Result<(), Unprofitable> {
    let margin = i128::from(fee_per_exec) - i128::from(cost.total());
    if margin >= i128::from(min_margin) {
        return Ok(());
    }
    Err(Unprofitable {
        fee_per_exec,
        cost,
        min_margin,
    })
}

/// The share of one execution in the lease transactions of a durable thread on `trigger`.
fn lease_share(trigger: &Trigger, transaction_fee: u64, renewal_slots: u64) -> u64 {
    match period_secs(trigger) {
        // A one-shot thread is claimed for, and released after, its one execution.
        None => transaction_fee.saturating_mul(2),
        Some(period) => {
            let renewal_ms = renewal_slots.max(1).saturating_mul(MS_PER_SLOT);
            let executions = (renewal_ms / period.max(1).saturating_mul(1_000)).max(1);
            transaction_fee.div_ceil(executions)
        }
    }
}

/// Seconds between a recurring trigger's executions; `None` for a one-shot trigger. An
/// `Account` trigger has no known period: it counts as one execution per renewal.
fn period_secs(trigger: &Trigger) -> Option<u64> {
    match trigger {
        Trigger::Interval { seconds, .. } => Some(u64::try_from(*seconds).unwrap_or(1)),
        Trigger::Cron { schedule, .. } => Some(cron_period_secs(schedule)),
        Trigger::Account { .. } => Some(u64::MAX),
        Trigger::Now | Trigger::Timestamp { .. } | Trigger::Slot { .. } | Trigger::Epoch { .. } => {
            None
        }
    }
}

/// The shortest gap between a cron schedule's next few fire times from now, in seconds
/// (the busiest stretch sets the price); a schedule that does not parse counts as firing
/// once per renewal.
fn cron_period_secs(schedule: &str) -> u64 {
    const SAMPLES: usize = 4;
    let Ok(cron) = CronSchedule::parse(schedule) else {
        return u64::MAX;
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    let mut fires = Vec::with_capacity(SAMPLES);
    let mut after = now;
    while fires.len() < SAMPLES {
        let Some(next) = cron.next_after(after) else {
            break;
        };
        fires.push(next);
        after = next;
    }
    fires
        .windows(2)
        .filter_map(|pair| u64::try_from(pair[1] - pair[0]).ok())
        .min()
        .unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_utils::thread::ThreadFixture;
    use solana_sdk::pubkey::Pubkey;

    fn durable(trigger: Trigger) -> Thread {
        let mut thread = ThreadFixture::new().thread;
        thread.trigger = trigger;
        thread.durability = Durability::Durable {
            nonce_account: Pubkey::new_unique(),
        };
        thread
    }

    #[test]
    fn a_non_durable_execution_costs_its_transaction() {
        let thread = ThreadFixture::new().thread;
        let cost = ExecutionCost::of(&thread, 7_000, 1_000);
        assert_eq!(
            cost,
            ExecutionCost {
                transaction: 7_000,
                lease_share: 0
            }
        );
    }

    #[test]
    fn lease_transactions_are_shared_by_the_executions_of_a_renewal_period() {
        // 1,000 slots are 400 s: 40 executions every 10 s share one renewal.
        let every_10s = Trigger::Interval {
            seconds: 10,
            skippable: true,
        };
        assert_eq!(
            ExecutionCost::of(&durable(every_10s), 5_000, 1_000).lease_share,
            125
        );
        // An hourly thread renews more often than it runs: one renewal per execution.
        let hourly = Trigger::Interval {
            seconds: 3_600,
            skippable: true,
        };
        assert_eq!(
            ExecutionCost::of(&durable(hourly), 5_000, 1_000).lease_share,
            5_000
        );
        // A one-shot thread bears its claim and its release.
        assert_eq!(
            ExecutionCost::of(&durable(Trigger::Now), 5_000, 1_000).lease_share,
            10_000
        );
        let watching = Trigger::Account {
            address: Pubkey::new_unique(),
            offset: 0,
            size: 8,
        };
        assert_eq!(
            ExecutionCost::of(&durable(watching), 5_000, 1_000).lease_share,
            5_000
        );
        // Every 20 s by cron: 20 executions per 400 s renewal.
        let cron = Trigger::Cron {
            schedule: "*/20 * * * * *".into(),
            skippable: true,
            jitter: 0,
        };
        assert_eq!(
            ExecutionCost::of(&durable(cron), 5_000, 1_000).lease_share,
            250
        );
    }

    #[test]
    fn the_margin_decides_and_the_reason_names_every_figure() {
        let cost = ExecutionCost {
            transaction: 5_000,
            lease_share: 21,
        };
        assert!(judge(5_021, cost, 0).is_ok(), "breaking even is not a loss");
        assert!(judge(5_020, cost, -1).is_ok(), "a keeper may accept a loss");
        let declined = judge(5_020, cost, 0).unwrap_err();
        let reason = declined.to_string();
        for figure in [
            "pays 5020",
            "costs 5021",
            "5000 transaction",
            "21 lease share",
            "margin of 0",
        ] {
            assert!(reason.contains(figure), "{figure}: {reason}");
        }
        assert!(
            judge(6_000, cost, 1_000).is_err(),
            "979 to spare is under 1,000"
        );
        assert!(judge(u64::MAX, cost, i64::MAX).is_ok());
    }
}
