//! Compute budget sizing: the unit limit from a simulation plus a margin, and the unit
//! price from recent prioritization fees on the accounts the transaction writes.

use serde::{Deserialize, Serialize};
use solana_sdk::message::VersionedMessage;

use super::order::ComputeBudget;
use super::priority::ExecutionPriority;

/// The base fee of one signature, in lamports.
pub const LAMPORTS_PER_SIGNATURE: u64 = 5_000;

/// What a transaction with `message` pays when it lands: the base fee of each required
/// signature, plus the priority fee (its unit price times the unit limit it asked for,
/// not the units it used, rounded up to a lamport).
pub fn fee_of(message: &VersionedMessage) -> u64 {
    let budget = budget_of(message);
    let signatures = u64::from(message.header().num_required_signatures);
    let priority =
        (u128::from(budget.unit_price) * u128::from(budget.unit_limit)).div_ceil(1_000_000);
    signatures * LAMPORTS_PER_SIGNATURE + u64::try_from(priority).unwrap_or(u64::MAX)
}

/// The compute budget `message` asks for (0 for what it does not set). `ComputeBudget`
/// instructions are read by their one-byte tag: 2 sets the unit limit (u32), 3 the unit
/// price (u64).
pub fn budget_of(message: &VersionedMessage) -> ComputeBudget {
    let keys = message.static_account_keys();
    let mut budget = ComputeBudget {
        unit_limit: 0,
        unit_price: 0,
    };
    for ix in message.instructions() {
        let program = keys.get(usize::from(ix.program_id_index));
        if program != Some(&solana_sdk_ids::compute_budget::ID) {
            continue;
        }
        match ix.data.split_first() {
            Some((2, rest)) if rest.len() >= 4 => {
                budget.unit_limit = u32::from_le_bytes(rest[..4].try_into().unwrap());
            }
            Some((3, rest)) if rest.len() >= 8 => {
                budget.unit_price = u64::from_le_bytes(rest[..8].try_into().unwrap());
            }
            _ => {}
        }
    }
    budget
}

/// Most compute units a transaction may request.
pub const MAX_COMPUTE_UNIT_LIMIT: u32 = 1_400_000;

/// How compute units and their price are chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ComputeConfig {
    /// Percent added to the simulated units.
    pub margin_percent: u32,
    /// Floor of the unit limit, for transactions whose simulation reports very little.
    pub min_unit_limit: u32,
    /// Percentile (0..=100) of recent prioritization fees taken as the market price.
    pub fee_percentile: u8,
    /// Highest unit price ever paid, in micro-lamports per unit.
    pub max_unit_price: u64,
}

impl Default for ComputeConfig {
    fn default() -> Self {
        Self {
            margin_percent: 20,
            min_unit_limit: 20_000,
            fee_percentile: 75,
            max_unit_price: 1_000_000,
        }
    }
}

impl ComputeConfig {
    /// Unit limit for a transaction that simulated at `units_consumed`.
    pub fn unit_limit(&self, units_consumed: u64) -> u32 {
        let with_margin = units_consumed.saturating_mul(100 + u64::from(self.margin_percent)) / 100;
        let limit = u32::try_from(with_margin).unwrap_or(u32::MAX);
        limit.clamp(
            self.min_unit_limit.min(MAX_COMPUTE_UNIT_LIMIT),
            MAX_COMPUTE_UNIT_LIMIT,
        )
    }

    /// Unit price from recent fee samples: the configured percentile, scaled by the
    /// priority, capped. No samples (no fee market, or an idle account) means no price.
    pub fn unit_price(&self, samples: &[u64], priority: ExecutionPriority) -> u64 {
        let Some(market) = percentile(samples, self.fee_percentile) else {
            return 0;
        };
        let scaled = market.saturating_mul(priority.price_percent()) / 100;
        scaled.min(self.max_unit_price)
    }
}

/// Nearest-rank percentile; `None` for no samples.
fn percentile(samples: &[u64], pct: u8) -> Option<u64> {
    if samples.is_empty() {
        return None;
    }
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    let pct = usize::from(pct.min(100));
    let rank = (pct * sorted.len()).div_ceil(100).max(1);
    sorted.get(rank - 1).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_adds_the_margin() {
        let c = ComputeConfig::default();
        assert_eq!(c.unit_limit(100_000), 120_000);
    }

    #[test]
    fn limit_is_clamped_to_floor_and_ceiling() {
        let c = ComputeConfig::default();
        assert_eq!(c.unit_limit(5), 20_000);
        assert_eq!(c.unit_limit(2_000_000), MAX_COMPUTE_UNIT_LIMIT);
        assert_eq!(c.unit_limit(u64::MAX), MAX_COMPUTE_UNIT_LIMIT);
    }

    #[test]
    fn no_samples_means_no_price() {
        assert_eq!(
            ComputeConfig::default().unit_price(&[], ExecutionPriority::Critical),
            0
        );
    }

    #[test]
    fn price_is_the_percentile_scaled_by_priority() {
        let c = ComputeConfig::default();
        let samples: Vec<u64> = (1..=100).collect();
        assert_eq!(c.unit_price(&samples, ExecutionPriority::Medium), 75);
        assert_eq!(c.unit_price(&samples, ExecutionPriority::Low), 37);
        assert_eq!(c.unit_price(&samples, ExecutionPriority::High), 112);
        assert_eq!(c.unit_price(&samples, ExecutionPriority::Critical), 150);
    }

    #[test]
    fn price_is_capped() {
        let c = ComputeConfig {
            max_unit_price: 100,
            ..Default::default()
        };
        assert_eq!(c.unit_price(&[10_000], ExecutionPriority::Critical), 100);
    }

    #[test]
    fn percentile_edges() {
        assert_eq!(percentile(&[5], 0), Some(5));
        assert_eq!(percentile(&[3, 1, 2], 100), Some(3));
        assert_eq!(percentile(&[3, 1, 2], 50), Some(2));
    }

    #[test]
    fn the_fee_is_each_signature_plus_the_price_of_the_units_asked_for() {
        use super::super::order::{ordered_instructions, ComputeBudget};
        use solana_sdk::message::{v0, VersionedMessage};
        use solana_sdk::pubkey::Pubkey;

        let payer = Pubkey::new_unique();
        let message = |unit_price| {
            let ixs = ordered_instructions(
                None,
                ComputeBudget {
                    unit_limit: 200_001,
                    unit_price,
                },
                &[],
            );
            VersionedMessage::V0(
                v0::Message::try_compile(&payer, &ixs, &[], Default::default()).unwrap(),
            )
        };
        assert_eq!(fee_of(&message(0)), 5_000, "no price instruction");
        // 1 000 micro-lamports a unit for 200 001 units: 200.001 lamports, rounded up.
        assert_eq!(fee_of(&message(1_000)), 5_000 + 201);
    }
}
