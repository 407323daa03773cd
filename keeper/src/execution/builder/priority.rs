//! The policy that picks a build's priority when the caller is vague.

use serde::{Deserialize, Serialize};

/// The priority type is the store's: every persisted execution carries one.
pub use crate::store::ExecutionPriority;

/// How a build's priority is chosen when the caller is vague.
///
/// - A build that names no priority gets `default`.
/// - A nonce-enforced (durable) build that ends up `Low` is raised to `durable_floor`:
///   durable threads are the ones whose owners chose reliability over cost, so a caller
///   passing the cheapest priority to a durable execution is taken to mean "default",
///   since a durable thread's owner chose reliability over cost. `None` turns this off.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriorityPolicy {
    pub default: ExecutionPriority,
    pub durable_floor: Option<ExecutionPriority>,
}

impl Default for PriorityPolicy {
    fn default() -> Self {
        Self {
            default: ExecutionPriority::Medium,
            durable_floor: Some(ExecutionPriority::Critical),
        }
    }
}

impl PriorityPolicy {
    pub fn effective(
        &self,
        requested: Option<ExecutionPriority>,
        enforce_nonce: bool,
    ) -> ExecutionPriority {
        let chosen = requested.unwrap_or(self.default);
        match (enforce_nonce, chosen, self.durable_floor) {
            (true, ExecutionPriority::Low, Some(floor)) => floor,
            _ => chosen,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replay_delays_match_the_durability_seed() {
        let delays: Vec<u64> = ExecutionPriority::ALL
            .iter()
            .map(|p| p.replay_delay().as_secs())
            .collect();
        assert_eq!(delays, [60, 30, 10, 5]);
    }

    #[test]
    fn durable_low_is_raised_to_critical_by_default() {
        let policy = PriorityPolicy::default();
        assert_eq!(
            policy.effective(Some(ExecutionPriority::Low), true),
            ExecutionPriority::Critical
        );
    }

    #[test]
    fn non_durable_low_stays_low() {
        let policy = PriorityPolicy::default();
        assert_eq!(
            policy.effective(Some(ExecutionPriority::Low), false),
            ExecutionPriority::Low
        );
    }

    #[test]
    fn explicit_priorities_above_low_are_kept_for_durable_builds() {
        let policy = PriorityPolicy::default();
        for p in [
            ExecutionPriority::Medium,
            ExecutionPriority::High,
            ExecutionPriority::Critical,
        ] {
            assert_eq!(policy.effective(Some(p), true), p);
        }
    }

    #[test]
    fn unnamed_priority_takes_the_configured_default() {
        let policy = PriorityPolicy {
            default: ExecutionPriority::High,
            durable_floor: None,
        };
        assert_eq!(policy.effective(None, false), ExecutionPriority::High);
        assert_eq!(policy.effective(None, true), ExecutionPriority::High);
    }

    #[test]
    fn a_low_default_is_raised_for_durable_builds_too() {
        let policy = PriorityPolicy {
            default: ExecutionPriority::Low,
            durable_floor: Some(ExecutionPriority::High),
        };
        assert_eq!(policy.effective(None, true), ExecutionPriority::High);
        assert_eq!(policy.effective(None, false), ExecutionPriority::Low);
    }

    #[test]
    fn the_floor_can_be_turned_off() {
        let policy = PriorityPolicy {
            default: ExecutionPriority::Medium,
            durable_floor: None,
        };
        assert_eq!(
            policy.effective(Some(ExecutionPriority::Low), true),
            ExecutionPriority::Low
        );
    }
}
