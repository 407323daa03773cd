//! Compute budget sizing: the unit limit from a simulation plus a margin, and the unit
//! price from recent prioritization fees on the accounts the transaction writes.

use serde::{Deserialize, Serialize};

use super::priority::ExecutionPriority;

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
}
