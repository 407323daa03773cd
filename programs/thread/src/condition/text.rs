//! Conditions in words, for clients (`keeper explain`, the sandbox, the owner CLI): the
//! same phrasing everywhere a person reads a `Condition` trigger.

use std::fmt;

use super::{Condition, Reading};
use crate::state::{Comparison, ValueSource};

/// `mantissa * 10^exponent` in decimal: `15000, -2` is `150.00`, `15, 3` is `15000`.
pub fn decimal(mantissa: i128, exponent: i32) -> String {
    let sign = if mantissa < 0 { "-" } else { "" };
    let digits = mantissa.unsigned_abs().to_string();
    if exponent >= 0 {
        let zeros = "0".repeat(usize::try_from(exponent).unwrap_or(0));
        return format!("{sign}{digits}{zeros}");
    }
    let places = usize::try_from(exponent.unsigned_abs()).unwrap_or(0);
    let padded = format!("{digits:0>width$}", width = places.saturating_add(1));
    let (whole, fraction) = padded.split_at(padded.len().saturating_sub(places));
    format!("{sign}{whole}.{fraction}")
}

impl Condition {
    /// The threshold in decimal, in the units the value is compared in.
    pub fn threshold_text(&self) -> String {
        decimal(i128::from(self.threshold), self.threshold_exponent())
    }

    /// What the comparison waits for when the thread is `armed` or not: `at least 10`,
    /// `back below 10, then crossing above it`.
    pub fn goal_text(&self, armed: bool) -> String {
        let threshold = self.threshold_text();
        match (self.comparison, armed) {
            (Comparison::AtLeast, _) => format!("at least {threshold}"),
            (Comparison::AtMost, _) => format!("at most {threshold}"),
            (Comparison::CrossesAbove, true) => format!("crossing above {threshold}"),
            (Comparison::CrossesBelow, true) => format!("crossing below {threshold}"),
            (Comparison::CrossesAbove, false) => {
                format!("back below {threshold} (to re-arm), then crossing above it")
            }
            (Comparison::CrossesBelow, false) => {
                format!("back above {threshold} (to re-arm), then crossing below it")
            }
        }
    }
}

impl Reading {
    /// The value in decimal.
    pub fn text(&self) -> String {
        decimal(self.mantissa, self.exponent)
    }
}

/// `u64 at byte 8`, `Pyth price of feed 0a1b2c3d… (at most 60 s old)`.
impl fmt::Display for ValueSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ValueSource::Integer {
                offset,
                width,
                signed,
            } => {
                let kind = if *signed { 'i' } else { 'u' };
                write!(f, "{kind}{} at byte {offset}", u32::from(*width) * 8)
            }
            ValueSource::PythPrice {
                feed_id,
                max_age_secs,
                ..
            } => {
                let feed: String = feed_id.iter().take(4).map(|b| format!("{b:02x}")).collect();
                write!(
                    f,
                    "Pyth price of feed {feed}… (at most {max_age_secs} s old)"
                )
            }
        }
    }
}

/// `u64 at byte 8 at least 10`, `Pyth price of feed … crosses above 150.00`.
impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let threshold = self.threshold_text();
        let comparison = match self.comparison {
            Comparison::AtLeast => "is at least",
            Comparison::AtMost => "is at most",
            Comparison::CrossesAbove => "crosses above",
            Comparison::CrossesBelow => "crosses below",
        };
        write!(f, "{} {comparison} {threshold}", self.source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_place_the_point_by_the_exponent() {
        assert_eq!(decimal(15_000, -2), "150.00");
        assert_eq!(decimal(5, -3), "0.005");
        assert_eq!(decimal(-5, -3), "-0.005");
        assert_eq!(decimal(15, 3), "15000");
        assert_eq!(decimal(0, 0), "0");
        assert_eq!(decimal(i128::from(u64::MAX), 0), u64::MAX.to_string());
    }

    #[test]
    fn conditions_read_as_sentences() {
        let counter = Condition {
            source: ValueSource::Integer {
                offset: 8,
                width: 8,
                signed: false,
            },
            comparison: Comparison::AtLeast,
            threshold: 10,
        };
        assert_eq!(counter.to_string(), "u64 at byte 8 is at least 10");
        let price = Condition {
            source: ValueSource::PythPrice {
                feed_id: [0xab; 32],
                exponent: -2,
                max_age_secs: 60,
            },
            comparison: Comparison::CrossesAbove,
            threshold: 15_000,
        };
        assert_eq!(
            price.to_string(),
            "Pyth price of feed abababab… (at most 60 s old) crosses above 150.00"
        );
        assert_eq!(
            price.goal_text(false),
            "back below 150.00 (to re-arm), then crossing above it"
        );
    }
}
