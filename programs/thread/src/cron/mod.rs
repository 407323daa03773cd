#![cfg_attr(
    not(test),
    deny(
        clippy::arithmetic_side_effects,
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]
//! Cron schedules for threads: parsing a cron expression into fixed-size bitsets and finding the
//! next fire time after a unix timestamp (UTC).
//!
//! This code runs inside the Solana runtime, so it carries its own calendar math (Howard Hinnant's
//! civil/days conversions) instead of a clock or a date crate, never allocates, cannot panic on
//! any input and bounds every loop. Schedules only exist within 1970..=2099: that caps the month
//! walk at 130 years and keeps every intermediate value far away from overflow.
//!
//! `parse.rs` owns the grammar (an expression to one bitset per field), `calendar.rs` the date
//! arithmetic; this file owns the schedule and the search for its next fire time. The lints
//! above hold for all three.

mod calendar;
mod parse;
#[cfg(test)]
mod tests;

use core::fmt;

use calendar::{civil_from_days, days_from_civil, days_in_month, to_timestamp, weekday};

/// First year a schedule can fire in; timestamps before 1970 are rejected rather than handled
/// with negative-day arithmetic nobody needs on-chain.
const MIN_YEAR: i64 = 1970;
/// Last year a schedule can fire in (the usual cron year field limit).
const MAX_YEAR: i64 = 2099;
/// 2099-12-31T23:59:59Z, the last second `next_after` can return.
const MAX_TIMESTAMP: i64 = 4_102_444_799;
const SECONDS_PER_DAY: i64 = 86_400;

/// Bits for the year field: 130 years do not fit in a `u128`, so three words, bit `i` = 1970 + i.
type Bits = [u64; 3];

/// Every year 1970..=2099: two full words plus the two remaining years (2098, 2099).
const ALL_YEARS: Bits = [u64::MAX, u64::MAX, 0b11];

/// A parsed cron schedule: one bitset per field. Small, Copy, no heap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CronSchedule {
    /// Bit s = second s (0..=59).
    seconds: u64,
    /// Bit m = minute m (0..=59).
    minutes: u64,
    /// Bit h = hour h (0..=23).
    hours: u32,
    /// Bit d = day of month d (1..=31).
    days_of_month: u32,
    /// Bit m = month m (1..=12).
    months: u16,
    /// Bit w = weekday w (0 = Sunday ..= 6 = Saturday); a 7 in the expression lands on bit 0.
    days_of_week: u8,
    /// Bit i = year 1970 + i.
    years: Bits,
    /// Vixie cron: when both day fields are restricted a day matches if either does, so the
    /// matcher has to know which fields were written as `*`/`?` and not just their bits.
    dom_restricted: bool,
    dow_restricted: bool,
}

/// Why an expression was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CronError {
    /// Not 5, 6 or 7 fields, or an `@` macro followed by more fields.
    WrongFieldCount,
    /// An empty item in a comma-separated list, e.g. `1,,2`.
    EmptyField,
    /// A token that should be a number or name is neither (e.g. `1x`, `?` outside the day fields).
    InvalidNumber,
    /// A number outside the field's range.
    OutOfRange,
    /// A range whose start is after its end, or with a missing or extra bound.
    InvalidRange,
    /// A step that is zero, missing, not a number, or wider than the field.
    InvalidStep,
    /// A name that is not a month/weekday name valid in this field, or an unknown `@` macro.
    UnknownName,
    /// Syntax from other cron dialects that is not implemented: `L`, `W`, `#`, `@reboot`.
    Unsupported,
    /// Longer than [`CronSchedule::MAX_LEN`] bytes.
    TooLong,
}

impl fmt::Display for CronError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CronError::WrongFieldCount => "cron: expected 5, 6 or 7 fields",
            CronError::EmptyField => "cron: empty list item",
            CronError::InvalidNumber => "cron: invalid number",
            CronError::OutOfRange => "cron: value out of range",
            CronError::InvalidRange => "cron: invalid range",
            CronError::InvalidStep => "cron: invalid step",
            CronError::UnknownName => "cron: unknown name",
            CronError::Unsupported => "cron: unsupported syntax (L, W, #, @reboot)",
            CronError::TooLong => "cron: expression too long",
        })
    }
}

impl std::error::Error for CronError {}

impl CronSchedule {
    /// The smallest fire time strictly greater than `after` (unix seconds, UTC), or None when the
    /// schedule never fires again (e.g. years restricted to the past) or `after` is outside
    /// 1970..=2099.
    pub fn next_after(&self, after: i64) -> Option<i64> {
        if !(0..=MAX_TIMESTAMP).contains(&after) {
            return None;
        }
        let start = after.checked_add(1)?;
        let day_number = start.checked_div_euclid(SECONDS_PER_DAY)?;
        let second_of_day = start.checked_rem_euclid(SECONDS_PER_DAY)?;
        let (year, month, day) = civil_from_days(day_number)?;
        let second_of_day = u32::try_from(second_of_day).ok()?;
        let hour = second_of_day.checked_div(3600)?;
        let minute = second_of_day.checked_rem(3600)?.checked_div(60)?;
        let second = second_of_day.checked_rem(60)?;

        if self.day_matches(year, month, day)? {
            if let Some((h, m, s)) = self.time_at_or_after(hour, minute, second) {
                return to_timestamp(year, month, day, h, m, s);
            }
        }
        let (year, month, day) = self.next_day_after(year, month, day)?;
        to_timestamp(
            year,
            month,
            day,
            first_bit(u64::from(self.hours))?,
            first_bit(self.minutes)?,
            first_bit(self.seconds)?,
        )
    }

    fn day_matches(&self, year: i64, month: u32, day: u32) -> Option<bool> {
        if !self.has_year(year) || !has_bit(u64::from(self.months), month) {
            return Some(false);
        }
        Some(has_bit(u64::from(self.day_mask(year, month)?), day))
    }

    /// Earliest time of day at or after `hour:minute:second` allowed by the time fields.
    fn time_at_or_after(&self, hour: u32, minute: u32, second: u32) -> Option<(u32, u32, u32)> {
        let hours = u64::from(self.hours);
        if has_bit(hours, hour) {
            if has_bit(self.minutes, minute) {
                if let Some(s) = next_bit(self.seconds, second) {
                    return Some((hour, minute, s));
                }
            }
            if let Some(m) = next_bit(self.minutes, minute.checked_add(1)?) {
                return Some((hour, m, first_bit(self.seconds)?));
            }
        }
        let h = next_bit(hours, hour.checked_add(1)?)?;
        Some((h, first_bit(self.minutes)?, first_bit(self.seconds)?))
    }

    /// First matching date strictly after the given one. Walks candidate months only (bit scans
    /// over the month mask), picking the day inside each month with one mask, so even a
    /// never-matching schedule costs at most 130 * 12 month checks.
    fn next_day_after(&self, year: i64, month: u32, day: u32) -> Option<(i64, u32, u32)> {
        let mut year = year;
        let mut first_month = month;
        let mut first_day = day.checked_add(1)?;
        while year <= MAX_YEAR {
            if self.has_year(year) {
                let mut months = u64::from(self.months) & bits_from(first_month);
                while let Some(m) = first_bit(months) {
                    let from = if m == first_month { first_day } else { 1 };
                    let days = u64::from(self.day_mask(year, m)?) & bits_from(from);
                    if let Some(d) = first_bit(days) {
                        return Some((year, m, d));
                    }
                    months = clear_lowest_bit(months);
                }
            }
            year = year.checked_add(1)?;
            first_month = 1;
            first_day = 1;
        }
        None
    }

    /// Days of `month` that match, as bits 1..=31.
    fn day_mask(&self, year: i64, month: u32) -> Option<u32> {
        let length = days_in_month(year, month)?;
        // Bits 1..=length: shifting u32::MAX down leaves length + 1 low bits, then drop bit 0.
        let in_month = u32::MAX.checked_shr(31u32.checked_sub(length)?)? & !1;
        let first_weekday = weekday(days_from_civil(year, month, 1)?)?;

        // Rotate the weekday bits so bit k means "the weekday of day k + 1", then repeat that
        // week five times to cover 35 days and shift it onto the day-of-month bit positions.
        let week = u64::from(self.days_of_week) & 0x7f;
        let rotated = (week.checked_shr(first_weekday)?
            | week.checked_shl(7u32.checked_sub(first_weekday)?)?)
            & 0x7f;
        let month_of_weeks = rotated | rotated << 7 | rotated << 14 | rotated << 21 | rotated << 28;
        let by_weekday = u32::try_from((month_of_weeks << 1) & u64::from(u32::MAX)).ok()?;

        let selected = match (self.dom_restricted, self.dow_restricted) {
            (true, true) => self.days_of_month | by_weekday,
            (true, false) => self.days_of_month,
            (false, true) => by_weekday,
            (false, false) => u32::MAX,
        };
        Some(selected & in_month)
    }

    fn has_year(&self, year: i64) -> bool {
        let Some(index) = year
            .checked_sub(MIN_YEAR)
            .and_then(|i| u32::try_from(i).ok())
        else {
            return false;
        };
        let word = usize::try_from(index >> 6)
            .ok()
            .and_then(|w| self.years.get(w))
            .copied()
            .unwrap_or(0);
        has_bit(word, index & 63)
    }
}

fn has_bit(mask: u64, index: u32) -> bool {
    mask.checked_shr(index).unwrap_or(0) & 1 == 1
}

/// Mask of bits `from..64`; empty when `from` is past the top.
fn bits_from(from: u32) -> u64 {
    u64::MAX.checked_shl(from).unwrap_or(0)
}

fn first_bit(mask: u64) -> Option<u32> {
    (mask != 0).then(|| mask.trailing_zeros())
}

/// Lowest set bit of `mask` at position `from` or above.
fn next_bit(mask: u64, from: u32) -> Option<u32> {
    first_bit(mask & bits_from(from))
}

fn clear_lowest_bit(mask: u64) -> u64 {
    // For mask == 0 the wrap is harmless: 0 & anything is 0.
    mask & mask.wrapping_sub(1)
}
