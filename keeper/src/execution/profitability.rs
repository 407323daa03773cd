//! The profitability guard: whether executing a thread pays this keeper, so a keeper
//! never runs at a loss unless its operator says so.
//!
//! What an execution costs the keeper: the built transaction's fee (the base fee of each
//! signature and the priority fee the builder chose), plus, for a durable thread, its
//! share of the lease transactions that make the execution possible. A thread that runs
//! more often than its lease lasts keeps the lease and renews it: each execution bears
//! its part of the renewals over its period. One that runs less often (or once, or on an
//! account change, whose period is unknown) has its lease handed back after each run and
//! claimed anew for the next: claim and release, two transactions, per execution. A lease
//! transaction is priced like the execution's (one signature at the same unit price),
//! which the keeper's own lease transactions are, within their smaller compute budget.
//!
//! Owns: the cost model and the verdict. Must not: build, send, hold a thread back or
//! record anything (the executor does).

use std::fmt;

use solana_sdk::clock::DEFAULT_MS_PER_SLOT;
use thread::cron::CronSchedule;
use thread::state::{Durability, Thread, Trigger};

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
    /// under the keeper's `leases`.
    pub fn of(state: &Thread, transaction_fee: u64, leases: LeaseCadence) -> Self {
        LeaseShare::of(state, leases).cost(transaction_fee)
    }

    pub fn total(&self) -> u64 {
        self.transaction.saturating_add(self.lease_share)
    }
}

/// What part of its lease transactions an execution of a thread bears, known from the
/// thread before its transaction is built (the executor takes it before the build, so
/// the thread need not be kept for the price).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeaseShare {
    /// A non-durable thread: none.
    None,
    /// A thread that runs within a lease: its period's part of a renewal.
    Renewals { period_ms: u64, renewal_ms: u64 },
    /// A thread whose lease is claimed for each execution and handed back after.
    ClaimAndRelease,
}

impl LeaseShare {
    /// The share of `state`'s executions under the keeper's `leases`: within a lease, its
    /// period's part of the renewals; a thread running less often than a lease lasts,
    /// once, or on an account change (period unknown), its own claim and release.
    pub fn of(state: &Thread, leases: LeaseCadence) -> Self {
        if matches!(state.durability, Durability::NonDurable) {
            return LeaseShare::None;
        }
        let Some(period_ms) = period_secs(&state.trigger).map(|secs| secs.saturating_mul(1_000))
        else {
            return LeaseShare::ClaimAndRelease;
        };
        if period_ms >= leases.lease_slots.saturating_mul(DEFAULT_MS_PER_SLOT) {
            return LeaseShare::ClaimAndRelease;
        }
        LeaseShare::Renewals {
            period_ms,
            renewal_ms: leases
                .renewal_slots
                .max(1)
                .saturating_mul(DEFAULT_MS_PER_SLOT),
        }
    }

    /// The cost of an execution whose transaction pays `transaction_fee`, a lease
    /// transaction priced like it.
    pub fn cost(self, transaction_fee: u64) -> ExecutionCost {
        let claim_and_release = transaction_fee.saturating_mul(2);
        let lease_share = match self {
            LeaseShare::None => 0,
            LeaseShare::ClaimAndRelease => claim_and_release,
            LeaseShare::Renewals {
                period_ms,
                renewal_ms,
            } => {
                let share = (u128::from(transaction_fee) * u128::from(period_ms))
                    .div_ceil(u128::from(renewal_ms.max(1)));
                u64::try_from(share)
                    .unwrap_or(u64::MAX)
                    .min(claim_and_release)
            }
        };
        ExecutionCost {
            transaction: transaction_fee,
            lease_share,
        }
    }
}

/// How a keeper holds a thread's lease: claimed for `lease_slots`, renewed every
/// `renewal_slots` while the thread runs within it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeaseCadence {
    pub lease_slots: u64,
    pub renewal_slots: u64,
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

/// Seconds between a recurring trigger's executions; `None` for a one-shot trigger, and
/// for an `Account` trigger, whose period is unknown (each of its executions is priced
/// as if its lease were claimed for it).
fn period_secs(trigger: &Trigger) -> Option<u64> {
    match trigger {
        Trigger::Interval { seconds, .. } => Some(u64::try_from(*seconds).unwrap_or(1)),
        Trigger::Cron { schedule, .. } => Some(cron_period_secs(schedule)),
        Trigger::Account { .. }
        | Trigger::Condition { .. }
        | Trigger::Now
        | Trigger::Timestamp { .. }
        | Trigger::Slot { .. }
        | Trigger::Epoch { .. } => None,
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

    /// The keeper's default leases: 1,500 slots, renewed every 1,000.
    const LEASES: LeaseCadence = LeaseCadence {
        lease_slots: 1_500,
        renewal_slots: 1_000,
    };

    #[test]
    fn a_non_durable_execution_costs_its_transaction() {
        let thread = ThreadFixture::new().thread;
        let cost = ExecutionCost::of(&thread, 7_000, LEASES);
        assert_eq!(
            cost,
            ExecutionCost {
                transaction: 7_000,
                lease_share: 0
            }
        );
    }

    #[test]
    fn a_durable_execution_bears_its_part_of_the_lease_transactions() {
        let share = |trigger| ExecutionCost::of(&durable(trigger), 5_000, LEASES).lease_share;
        let every = |seconds| Trigger::Interval {
            seconds,
            skippable: true,
        };
        // Renewals every 400 s: an execution every 10 s bears 10/400 of one.
        assert_eq!(share(every(10)), 125);
        assert_eq!(share(every(60)), 750);
        // 500 s is within the 600 s lease: 1.25 renewals per execution.
        assert_eq!(share(every(500)), 6_250);
        // Longer than the lease: handed back and claimed anew for each execution.
        assert_eq!(share(every(600)), 10_000);
        assert_eq!(share(every(86_400)), 10_000);
        assert_eq!(
            share(Trigger::Now),
            10_000,
            "a one-shot: its claim and release"
        );
        let watching = Trigger::Account {
            address: Pubkey::new_unique(),
            offset: 0,
            size: 8,
        };
        assert_eq!(
            share(watching),
            10_000,
            "no known period: priced as claimed for it"
        );
        let cron = Trigger::Cron {
            schedule: "*/20 * * * * *".into(),
            skippable: true,
            jitter: 0,
        };
        assert_eq!(share(cron), 250);
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
