//! [`InvalidSetting`]: a value of the keeper's TOML file that the keeper cannot run with,
//! named by its full key, and the range checks every `[daemon.*]` table makes.
//!
//! Owns the error's shape (`daemon.rpc.timeout_ms = 0: expected 100 to 120000
//! milliseconds`) and the wording of the common checks, so that every table words them
//! the same. Must not: know any table's keys or bounds; each table owns its own and
//! checks them in its own module.

use std::fmt::Display;
use std::ops::RangeInclusive;

/// A setting the keeper cannot run with.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field} = {value}: {reason}")]
pub struct InvalidSetting {
    /// The key's full path in the keeper's TOML file (`daemon.workers`,
    /// `daemon.leases.lease_slots`).
    pub field: &'static str,
    /// The offending value, as it would be written in the file.
    pub value: String,
    /// What was expected.
    pub reason: String,
}

impl InvalidSetting {
    pub fn new(field: &'static str, value: impl ToString, reason: impl Into<String>) -> Self {
        Self {
            field,
            value: value.to_string(),
            reason: reason.into(),
        }
    }
}

/// `value` of `field` within `range`, or why not ("expected 1 to 60000").
pub fn within<T: PartialOrd + Display>(
    field: &'static str,
    value: T,
    range: RangeInclusive<T>,
) -> Result<(), InvalidSetting> {
    if range.contains(&value) {
        return Ok(());
    }
    let reason = format!("expected {} to {}", range.start(), range.end());
    Err(InvalidSetting::new(field, value, reason))
}

/// `value` of `field` not zero, or why not: a count or batch of nothing does nothing.
pub fn at_least_1(field: &'static str, value: u64) -> Result<(), InvalidSetting> {
    match value {
        0 => Err(InvalidSetting::new(field, value, "expected at least 1")),
        _ => Ok(()),
    }
}

/// Makes one setting of a valid `T` bad, in the tables of cases the tests walk through.
#[cfg(test)]
pub type Spoil<T> = fn(&mut T);

/// What `validate` says of `T`'s defaults once `spoil` has made one of them bad: the
/// tests of every table ask this, each of its own keys.
#[cfg(test)]
pub fn refusal<T: Default>(
    spoil: impl FnOnce(&mut T),
    validate: impl Fn(&T) -> Result<(), InvalidSetting>,
) -> InvalidSetting {
    let mut settings = T::default();
    spoil(&mut settings);
    validate(&settings).expect_err("expected a bad setting")
}

/// Asserts that `validate` refuses `field` set (by `set`) far above `range`, naming the
/// key and the range, and allows the range's top: every period has an upper bound.
#[cfg(test)]
pub fn assert_bounded<T: Default>(
    field: &str,
    range: RangeInclusive<u64>,
    set: impl Fn(&mut T, u64),
    validate: impl Fn(&T) -> Result<(), InvalidSetting>,
) {
    let err = refusal(|settings| set(settings, u64::MAX), &validate);
    assert_eq!(err.field, field);
    let (least, most) = (range.start(), range.end());
    assert_eq!(err.reason, format!("expected {least} to {most}"));
    let mut settings = T::default();
    set(&mut settings, *most);
    assert_eq!(validate(&settings), Ok(()), "{field} = {most}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_out_of_range_is_named_with_the_range_and_the_bounds_are_allowed() {
        let err = within("daemon.tick_ms", 0u64, 1..=60_000).unwrap_err();
        assert_eq!(err.to_string(), "daemon.tick_ms = 0: expected 1 to 60000");
        assert_eq!(within("daemon.tick_ms", 1u64, 1..=60_000), Ok(()));
        assert_eq!(within("daemon.tick_ms", 60_000u64, 1..=60_000), Ok(()));
        assert!(within("daemon.tick_ms", 60_001u64, 1..=60_000).is_err());
    }

    #[test]
    fn zero_is_refused_where_at_least_one_is_needed() {
        let err = at_least_1("daemon.executor.replay_batch", 0).unwrap_err();
        assert_eq!(
            err.to_string(),
            "daemon.executor.replay_batch = 0: expected at least 1"
        );
        assert_eq!(at_least_1("daemon.executor.replay_batch", 1), Ok(()));
    }
}
