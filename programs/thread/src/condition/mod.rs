//! A `Condition` trigger's value and verdict, free of accounts: what a value source reads
//! from an account's bytes, how the value compares with the threshold, and whether a
//! thread is due, due for an arming run, or not due. `schedule` feeds it the watched
//! account on-chain; the keeper feeds it the same bytes to decide when to try, so both
//! judge alike.
//!
//! Must not: read the Clock or accounts itself, or log (the keeper runs it off-chain on
//! every tick); errors are [`ConditionError`], which the program names as `ThreadError`s.

pub mod pyth;
#[cfg(any(test, feature = "client"))]
pub mod text;

use std::cmp::Ordering;
use std::fmt;

use anchor_lang::prelude::Pubkey;

use crate::errors::ThreadError;
use crate::state::{Comparison, ValueSource};

/// Integer widths a `ValueSource::Integer` may read, in bytes.
pub const INTEGER_WIDTHS: [u8; 4] = [1, 2, 4, 8];
/// Largest magnitude of a `ValueSource::PythPrice` exponent: Pyth feeds use about -12..0,
/// and a bound keeps thresholds meaningful.
pub const MAX_EXPONENT: i32 = 18;

/// A value read from a watched account: `mantissa * 10^exponent`, with the time it was
/// published where the source has one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reading {
    pub mantissa: i128,
    pub exponent: i32,
    pub published_at: Option<i64>,
}

/// Why a value could not be read or used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConditionError {
    /// The data ends before the value (an integer past the end, a truncated price
    /// update, an account that does not exist).
    Unreadable { needed: usize, len: usize },
    /// Not the source the trigger names: wrong owner, not a `PriceUpdateV2`, another
    /// feed, or a price update that is only partially verified.
    Mismatch(&'static str),
    /// Published at `published_at`, more than `max_age_secs` before `now`.
    Stale {
        published_at: i64,
        max_age_secs: u32,
        now: i64,
    },
}

impl fmt::Display for ConditionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unreadable { needed, len } => write!(
                f,
                "the value needs {needed} bytes of data and the account has {len}"
            ),
            Self::Mismatch(what) => f.write_str(what),
            Self::Stale {
                published_at,
                max_age_secs,
                now,
            } => write!(
                f,
                "the price was published at {published_at}, {} s before {now}, more than \
                 the {max_age_secs} s allowed",
                now.saturating_sub(*published_at)
            ),
        }
    }
}

impl From<ConditionError> for ThreadError {
    fn from(error: ConditionError) -> Self {
        match error {
            ConditionError::Unreadable { .. } => ThreadError::ConditionValueUnreadable,
            ConditionError::Mismatch(_) => ThreadError::ConditionSourceMismatch,
            ConditionError::Stale { .. } => ThreadError::StaleConditionValue,
        }
    }
}

/// What a `Condition` thread should do with the value it sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// The condition is met: run the instructions.
    Fire,
    /// A disarmed crossing sees its value on the far side of the threshold: run no
    /// instructions, only record that (the thread becomes armed).
    Arm,
}

/// The parameters of a `Trigger::Condition` besides its address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Condition {
    pub source: ValueSource,
    pub comparison: Comparison,
    pub threshold: i64,
}

impl Condition {
    /// Refuses parameters that could never be read.
    pub fn validate(&self) -> Result<(), &'static str> {
        match self.source {
            ValueSource::Integer { width, .. } if !INTEGER_WIDTHS.contains(&width) => {
                Err("an integer's width must be 1, 2, 4 or 8 bytes")
            }
            ValueSource::PythPrice { exponent, .. } if exponent.abs() > MAX_EXPONENT => {
                Err("a price's exponent must be within -18..=18")
            }
            ValueSource::PythPrice {
                max_age_secs: 0, ..
            } => Err("a price's max_age_secs must be at least 1"),
            _ => Ok(()),
        }
    }

    /// The value in the account with `data` owned by `owner`, without judging its age.
    pub fn read(&self, data: &[u8], owner: &Pubkey) -> Result<Reading, ConditionError> {
        match self.source {
            ValueSource::Integer {
                offset,
                width,
                signed,
            } => read_integer(data, offset, width, signed),
            ValueSource::PythPrice { feed_id, .. } => {
                let update = pyth::PriceUpdate::decode(data, owner)?;
                if update.feed_id != feed_id {
                    return Err(ConditionError::Mismatch(
                        "the price update is for another feed than the trigger's feed_id",
                    ));
                }
                if !update.fully_verified {
                    return Err(ConditionError::Mismatch(
                        "the price update is only partially verified",
                    ));
                }
                Ok(Reading {
                    mantissa: i128::from(update.price),
                    exponent: update.exponent,
                    published_at: Some(update.publish_time),
                })
            }
        }
    }

    /// Refuses a reading older than the source allows at chain time `now`.
    pub fn check_fresh(&self, reading: &Reading, now: i64) -> Result<(), ConditionError> {
        let (ValueSource::PythPrice { max_age_secs, .. }, Some(published_at)) =
            (self.source, reading.published_at)
        else {
            return Ok(());
        };
        if now.saturating_sub(published_at) > i64::from(max_age_secs) {
            return Err(ConditionError::Stale {
                published_at,
                max_age_secs,
                now,
            });
        }
        Ok(())
    }

    /// Whether `reading` is on the threshold's side the comparison asks for.
    pub fn holds(&self, reading: &Reading) -> bool {
        let ordering = compare(
            reading.mantissa,
            reading.exponent,
            i128::from(self.threshold),
            self.threshold_exponent(),
        );
        match self.comparison {
            Comparison::AtLeast | Comparison::CrossesAbove => ordering != Ordering::Less,
            Comparison::AtMost | Comparison::CrossesBelow => ordering != Ordering::Greater,
        }
    }

    /// What a thread whose state is `armed` does on `reading`; `None`: not due.
    pub fn step(&self, armed: bool, reading: &Reading) -> Option<Step> {
        let holds = self.holds(reading);
        if !self.is_crossing() {
            return holds.then_some(Step::Fire);
        }
        match (armed, holds) {
            (true, true) => Some(Step::Fire),
            (false, false) => Some(Step::Arm),
            _ => None,
        }
    }

    /// Whether a thread that has just seen `reading` (at creation or after a run) is
    /// armed: a crossing is armed while its value is on the far side of the threshold.
    pub fn armed_after(&self, reading: &Reading) -> bool {
        !self.is_crossing() || !self.holds(reading)
    }

    fn is_crossing(&self) -> bool {
        matches!(
            self.comparison,
            Comparison::CrossesAbove | Comparison::CrossesBelow
        )
    }

    /// The power of ten the threshold counts in.
    pub fn threshold_exponent(&self) -> i32 {
        match self.source {
            ValueSource::Integer { .. } => 0,
            ValueSource::PythPrice { exponent, .. } => exponent,
        }
    }
}

fn read_integer(
    data: &[u8],
    offset: u32,
    width: u8,
    signed: bool,
) -> Result<Reading, ConditionError> {
    let start = usize::try_from(offset).unwrap_or(usize::MAX);
    let end = start.saturating_add(usize::from(width));
    let bytes = data.get(start..end).ok_or(ConditionError::Unreadable {
        needed: end,
        len: data.len(),
    })?;
    let mut word = if signed && bytes.last().is_some_and(|b| b & 0x80 != 0) {
        [0xff; 16]
    } else {
        [0; 16]
    };
    word.get_mut(..bytes.len())
        .ok_or(ConditionError::Mismatch("an integer wider than 16 bytes"))?
        .copy_from_slice(bytes);
    Ok(Reading {
        mantissa: i128::from_le_bytes(word),
        exponent: 0,
        published_at: None,
    })
}

/// Compares `a * 10^a_exp` with `b * 10^b_exp` exactly: the operand with the larger
/// exponent is scaled down to the other's. When that overflows an i128 its magnitude is
/// beyond any 64-bit mantissa, so its sign decides.
pub fn compare(a: i128, a_exp: i32, b: i128, b_exp: i32) -> Ordering {
    if a_exp < b_exp {
        return compare(b, b_exp, a, a_exp).reverse();
    }
    let scaled = 10i128
        .checked_pow(a_exp.abs_diff(b_exp))
        .and_then(|factor| a.checked_mul(factor));
    match scaled {
        Some(a) => a.cmp(&b),
        None if a == 0 => 0.cmp(&b),
        None if a > 0 => Ordering::Greater,
        None => Ordering::Less,
    }
}

#[cfg(test)]
mod tests;
