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

use core::fmt;

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

/// How one field is written and which bits its values land on.
struct FieldSpec {
    min: u32,
    max: u32,
    /// Upper end of `*` and `a/n`. Only day of week differs from `max`: 7 is accepted as an
    /// explicit Sunday, but `*/2` or `1/2` must not wrap past Saturday onto Sunday again.
    implicit_max: u32,
    names: &'static [&'static str],
    /// Value of `names[0]`.
    first_name_value: u32,
    /// Value stored at bit 0; lets the years share the bit code with the small fields.
    bit_base: u32,
    allows_question: bool,
    seven_is_sunday: bool,
}

const MONTH_NAMES: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const DAY_NAMES: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

const fn numeric(min: u32, max: u32) -> FieldSpec {
    FieldSpec {
        min,
        max,
        implicit_max: max,
        names: &[],
        first_name_value: 0,
        bit_base: 0,
        allows_question: false,
        seven_is_sunday: false,
    }
}

const SECONDS: FieldSpec = numeric(0, 59);
const MINUTES: FieldSpec = numeric(0, 59);
const HOURS: FieldSpec = numeric(0, 23);
const DAYS_OF_MONTH: FieldSpec = FieldSpec {
    allows_question: true,
    ..numeric(1, 31)
};
const MONTHS: FieldSpec = FieldSpec {
    names: &MONTH_NAMES,
    first_name_value: 1,
    ..numeric(1, 12)
};
const DAYS_OF_WEEK: FieldSpec = FieldSpec {
    implicit_max: 6,
    names: &DAY_NAMES,
    allows_question: true,
    seven_is_sunday: true,
    ..numeric(0, 7)
};
const YEARS: FieldSpec = FieldSpec {
    bit_base: 1970,
    ..numeric(1970, 2099)
};

const MACROS: [(&str, Option<&str>); 8] = [
    ("@yearly", Some("0 0 1 1 *")),
    ("@annually", Some("0 0 1 1 *")),
    ("@monthly", Some("0 0 1 * *")),
    ("@weekly", Some("0 0 * * 0")),
    ("@daily", Some("0 0 * * *")),
    ("@midnight", Some("0 0 * * *")),
    ("@hourly", Some("0 * * * *")),
    // Known from Vixie cron but meaningless for a schedule evaluated on-chain.
    ("@reboot", None),
];

impl CronSchedule {
    /// Longest accepted expression in bytes; bounds parse cost and the size of stored strings.
    pub const MAX_LEN: usize = 64;

    /// Parses a 5-field (`min hour dom month dow`), 6-field (`sec ...`) or 7-field
    /// (`sec ... year`) expression, or one of the `@` macros.
    pub fn parse(expr: &str) -> Result<CronSchedule, CronError> {
        if expr.len() > Self::MAX_LEN {
            return Err(CronError::TooLong);
        }
        let mut tokens = expr.split_ascii_whitespace();
        if let Some(first) = tokens.next() {
            if first.starts_with('@') {
                if tokens.next().is_some() {
                    return Err(CronError::WrongFieldCount);
                }
                return match MACROS
                    .iter()
                    .find(|(name, _)| name.eq_ignore_ascii_case(first))
                {
                    Some((_, Some(expansion))) => parse_fields(expansion),
                    Some((_, None)) => Err(CronError::Unsupported),
                    None => Err(CronError::UnknownName),
                };
            }
        }
        parse_fields(expr)
    }

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

fn parse_fields(expr: &str) -> Result<CronSchedule, CronError> {
    let mut fields = [""; 7];
    let mut count = 0usize;
    for token in expr.split_ascii_whitespace() {
        if let Some(slot) = fields.get_mut(count) {
            *slot = token;
        }
        count = count.saturating_add(1);
    }
    let [f0, f1, f2, f3, f4, f5, f6] = fields;
    let (sec, min, hour, dom, month, dow, year) = match count {
        5 => ("0", f0, f1, f2, f3, f4, None),
        6 => (f0, f1, f2, f3, f4, f5, None),
        7 => (f0, f1, f2, f3, f4, f5, Some(f6)),
        _ => return Err(CronError::WrongFieldCount),
    };
    let [seconds, ..] = parse_field(sec, &SECONDS)?;
    let [minutes, ..] = parse_field(min, &MINUTES)?;
    let [hours, ..] = parse_field(hour, &HOURS)?;
    let [days_of_month, ..] = parse_field(dom, &DAYS_OF_MONTH)?;
    let [months, ..] = parse_field(month, &MONTHS)?;
    let [days_of_week, ..] = parse_field(dow, &DAYS_OF_WEEK)?;
    let years = match year {
        Some(text) => parse_field(text, &YEARS)?,
        None => ALL_YEARS,
    };
    let narrow = |_| CronError::OutOfRange;
    Ok(CronSchedule {
        seconds,
        minutes,
        hours: u32::try_from(hours).map_err(narrow)?,
        days_of_month: u32::try_from(days_of_month).map_err(narrow)?,
        months: u16::try_from(months).map_err(narrow)?,
        days_of_week: u8::try_from(days_of_week).map_err(narrow)?,
        years,
        dom_restricted: !is_unrestricted(dom),
        dow_restricted: !is_unrestricted(dow),
    })
}

/// Only a bare `*`/`?` leaves a day field unrestricted; unlike Vixie's "starts with `*`" test,
/// `*/2` counts as a restriction, because it does restrict.
fn is_unrestricted(field: &str) -> bool {
    field == "*" || field == "?"
}

fn parse_field(text: &str, spec: &FieldSpec) -> Result<Bits, CronError> {
    if text == "?" {
        if !spec.allows_question {
            return Err(CronError::InvalidNumber);
        }
        return parse_field("*", spec);
    }
    let mut bits = [0u64; 3];
    for item in text.split(',') {
        if item.is_empty() {
            return Err(CronError::EmptyField);
        }
        let (first, last, step) = parse_item(item, spec)?;
        // Values stay within min..=max of the field (at most 130 of them), so this ends quickly.
        let mut value = first;
        loop {
            let value_bit = if spec.seven_is_sunday && value == 7 {
                0
            } else {
                value
            };
            set_bit(
                &mut bits,
                value_bit
                    .checked_sub(spec.bit_base)
                    .ok_or(CronError::OutOfRange)?,
            )?;
            match value.checked_add(step) {
                Some(next) if next <= last => value = next,
                _ => break,
            }
        }
    }
    Ok(bits)
}

/// One list item as (first, last, step).
fn parse_item(item: &str, spec: &FieldSpec) -> Result<(u32, u32, u32), CronError> {
    if item.contains('#') {
        return Err(CronError::Unsupported);
    }
    let (range, step) = match item.split_once('/') {
        Some((range, step)) => (range, Some(parse_step(step, spec)?)),
        None => (item, None),
    };
    let (first, last) = if range == "*" {
        (spec.min, spec.implicit_max)
    } else if let Some((a, b)) = range.split_once('-') {
        if a.is_empty() || b.is_empty() || b.contains('-') {
            return Err(CronError::InvalidRange);
        }
        let first = parse_value(a, spec)?;
        let last = parse_value(b, spec)?;
        if first > last {
            return Err(CronError::InvalidRange);
        }
        (first, last)
    } else {
        let value = parse_value(range, spec)?;
        match step {
            Some(_) => (value, spec.implicit_max.max(value)),
            None => (value, value),
        }
    };
    Ok((first, last, step.unwrap_or(1)))
}

fn parse_step(text: &str, spec: &FieldSpec) -> Result<u32, CronError> {
    // A step wider than the whole field can only ever select its first value, which is almost
    // certainly a typo (`*/60` for seconds), so it is rejected instead of silently accepted.
    let span = spec
        .implicit_max
        .checked_sub(spec.min)
        .and_then(|s| s.checked_add(1))
        .ok_or(CronError::InvalidStep)?;
    match parse_decimal(text) {
        Some(step) if (1..=span).contains(&step) => Ok(step),
        _ => Err(CronError::InvalidStep),
    }
}

fn parse_value(token: &str, spec: &FieldSpec) -> Result<u32, CronError> {
    if !token.is_empty() && token.bytes().all(|b| b.is_ascii_digit()) {
        return match parse_decimal(token) {
            Some(value) if (spec.min..=spec.max).contains(&value) => Ok(value),
            _ => Err(CronError::OutOfRange),
        };
    }
    if let Some(index) = spec
        .names
        .iter()
        .position(|name| name.eq_ignore_ascii_case(token))
    {
        return u32::try_from(index)
            .ok()
            .and_then(|i| i.checked_add(spec.first_name_value))
            .ok_or(CronError::UnknownName);
    }
    let is_l_or_w = |b: u8| matches!(b.to_ascii_uppercase(), b'L' | b'W');
    if !token.is_empty()
        && token.bytes().all(|b| b.is_ascii_digit() || is_l_or_w(b))
        && token.bytes().any(is_l_or_w)
    {
        return Err(CronError::Unsupported);
    }
    if !token.is_empty() && token.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err(CronError::UnknownName);
    }
    Err(CronError::InvalidNumber)
}

/// None on empty input, a non-digit or u32 overflow.
fn parse_decimal(text: &str) -> Option<u32> {
    if text.is_empty() {
        return None;
    }
    text.chars().try_fold(0u32, |acc, c| {
        acc.checked_mul(10)?.checked_add(c.to_digit(10)?)
    })
}

fn set_bit(bits: &mut Bits, index: u32) -> Result<(), CronError> {
    let word = usize::try_from(index >> 6)
        .ok()
        .and_then(|w| bits.get_mut(w))
        .ok_or(CronError::OutOfRange)?;
    *word |= 1u64.checked_shl(index & 63).unwrap_or(0);
    Ok(())
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

fn is_leap_year(year: i64) -> bool {
    year.rem_euclid(4) == 0 && (year.rem_euclid(100) != 0 || year.rem_euclid(400) == 0)
}

fn days_in_month(year: i64, month: u32) -> Option<u32> {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => Some(31),
        4 | 6 | 9 | 11 => Some(30),
        2 if is_leap_year(year) => Some(29),
        2 => Some(28),
        _ => None,
    }
}

/// 0 = Sunday; day 0 (1970-01-01) was a Thursday.
fn weekday(days: i64) -> Option<u32> {
    u32::try_from(days.checked_add(4)?.checked_rem_euclid(7)?).ok()
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: u32, day: u32) -> Option<i64> {
    let month = i64::from(month);
    let day = i64::from(day);
    // Years start in March so the leap day is the last day of the (shifted) year.
    let year = if month <= 2 {
        year.checked_sub(1)?
    } else {
        year
    };
    let era = year.checked_div_euclid(400)?;
    let year_of_era = year.checked_rem_euclid(400)?;
    let shifted_month = if month > 2 {
        month.checked_sub(3)?
    } else {
        month.checked_add(9)?
    };
    let day_of_year = shifted_month
        .checked_mul(153)?
        .checked_add(2)?
        .checked_div(5)?
        .checked_add(day)?
        .checked_sub(1)?;
    let day_of_era = year_of_era
        .checked_mul(365)?
        .checked_add(year_of_era.checked_div(4)?)?
        .checked_sub(year_of_era.checked_div(100)?)?
        .checked_add(day_of_year)?;
    era.checked_mul(146_097)?
        .checked_add(day_of_era)?
        .checked_sub(719_468)
}

/// Proleptic Gregorian (year, month, day) of a day count since 1970-01-01 (Howard Hinnant's
/// `civil_from_days`).
fn civil_from_days(days: i64) -> Option<(i64, u32, u32)> {
    let days = days.checked_add(719_468)?;
    let era = days.checked_div_euclid(146_097)?;
    let day_of_era = days.checked_rem_euclid(146_097)?;
    let year_of_era = day_of_era
        .checked_sub(day_of_era.checked_div(1460)?)?
        .checked_add(day_of_era.checked_div(36_524)?)?
        .checked_sub(day_of_era.checked_div(146_096)?)?
        .checked_div(365)?;
    let day_of_year = day_of_era.checked_sub(
        year_of_era
            .checked_mul(365)?
            .checked_add(year_of_era.checked_div(4)?)?
            .checked_sub(year_of_era.checked_div(100)?)?,
    )?;
    let shifted_month = day_of_year
        .checked_mul(5)?
        .checked_add(2)?
        .checked_div(153)?;
    let day = day_of_year
        .checked_sub(
            shifted_month
                .checked_mul(153)?
                .checked_add(2)?
                .checked_div(5)?,
        )?
        .checked_add(1)?;
    let month = if shifted_month < 10 {
        shifted_month.checked_add(3)?
    } else {
        shifted_month.checked_sub(9)?
    };
    let year = year_of_era.checked_add(era.checked_mul(400)?)?;
    let year = if month <= 2 {
        year.checked_add(1)?
    } else {
        year
    };
    Some((year, u32::try_from(month).ok()?, u32::try_from(day).ok()?))
}

fn to_timestamp(
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
) -> Option<i64> {
    let second_of_day = hour
        .checked_mul(3600)?
        .checked_add(minute.checked_mul(60)?)?
        .checked_add(second)?;
    days_from_civil(year, month, day)?
        .checked_mul(SECONDS_PER_DAY)?
        .checked_add(i64::from(second_of_day))
}

#[cfg(test)]
#[allow(
    clippy::arithmetic_side_effects,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]
mod tests {
    use super::*;
    use chrono::{DateTime, Datelike, NaiveDate, Timelike};

    fn at(year: i32, month: u32, day: u32, hour: u32, minute: u32, second: u32) -> i64 {
        NaiveDate::from_ymd_opt(year, month, day)
            .and_then(|d| d.and_hms_opt(hour, minute, second))
            .map(|dt| dt.and_utc().timestamp())
            .unwrap_or_else(|| panic!("bad date {year}-{month}-{day} {hour}:{minute}:{second}"))
    }

    fn parse(expr: &str) -> CronSchedule {
        CronSchedule::parse(expr).unwrap_or_else(|e| panic!("{expr:?} should parse: {e}"))
    }

    fn err(expr: &str) -> CronError {
        match CronSchedule::parse(expr) {
            Ok(s) => panic!("{expr:?} should not parse, got {s:?}"),
            Err(e) => e,
        }
    }

    fn next(expr: &str, after: i64) -> Option<i64> {
        parse(expr).next_after(after)
    }

    fn mask(values: impl IntoIterator<Item = u32>) -> u64 {
        values.into_iter().fold(0, |m, v| m | 1 << v)
    }

    fn years(values: impl IntoIterator<Item = u32>) -> Bits {
        let mut bits = [0; 3];
        for v in values {
            set_bit(&mut bits, v - 1970).unwrap();
        }
        bits
    }

    // ---- parse: grammar ----

    #[test]
    fn parse_five_fields_fires_at_second_zero() {
        let s = parse("* * * * *");
        assert_eq!(s.seconds, 1);
        assert_eq!(s.minutes, mask(0..60));
        assert_eq!(u64::from(s.hours), mask(0..24));
        assert_eq!(u64::from(s.days_of_month), mask(1..32));
        assert_eq!(u64::from(s.months), mask(1..13));
        assert_eq!(u64::from(s.days_of_week), mask(0..7));
        assert_eq!(s.years, ALL_YEARS);
        assert_eq!(s.years, years(1970..2100));
        assert!(!s.dom_restricted && !s.dow_restricted);
    }

    #[test]
    fn parse_six_fields_has_seconds_first() {
        let s = parse("5 4 3 2 1 0");
        assert_eq!(s.seconds, mask([5]));
        assert_eq!(s.minutes, mask([4]));
        assert_eq!(u64::from(s.hours), mask([3]));
        assert_eq!(u64::from(s.days_of_month), mask([2]));
        assert_eq!(u64::from(s.months), mask([1]));
        assert_eq!(u64::from(s.days_of_week), mask([0]));
        assert_eq!(s.years, ALL_YEARS);
    }

    #[test]
    fn parse_seven_fields_has_year_last() {
        let s = parse("0 0 0 1 1 ? 1970,2024-2026,2099");
        assert_eq!(s.years, years([1970, 2024, 2025, 2026, 2099]));
        assert_eq!(parse("0 0 0 1 1 ? *").years, ALL_YEARS);
        assert_eq!(
            parse("0 0 0 1 1 ? 2090/3").years,
            years([2090, 2093, 2096, 2099])
        );
        assert_eq!(parse("0 0 0 1 1 ? */50").years, years([1970, 2020, 2070]));
    }

    #[test]
    fn parse_whitespace_is_flexible() {
        assert_eq!(parse("  1\t2 \n 3  4   5 "), parse("1 2 3 4 5"));
    }

    #[test]
    fn parse_star_selects_whole_field() {
        assert_eq!(parse("* * * * * *").seconds, mask(0..60));
    }

    #[test]
    fn parse_question_mark_in_day_fields_means_star() {
        let q = parse("0 0 ? * MON");
        assert_eq!(u64::from(q.days_of_month), mask(1..32));
        assert!(!q.dom_restricted && q.dow_restricted);
        let q = parse("0 0 15 * ?");
        assert_eq!(u64::from(q.days_of_week), mask(0..7));
        assert!(q.dom_restricted && !q.dow_restricted);
    }

    #[test]
    fn parse_list() {
        assert_eq!(parse("1,5,59 * * * *").minutes, mask([1, 5, 59]));
        assert_eq!(
            parse("1,3-5,*/20 * * * *").minutes,
            mask([0, 1, 3, 4, 5, 20, 40])
        );
    }

    #[test]
    fn parse_range() {
        assert_eq!(parse("10-15 * * * *").minutes, mask(10..=15));
        assert_eq!(u64::from(parse("* 7-7 * * *").hours), mask([7]));
    }

    #[test]
    fn parse_star_step() {
        assert_eq!(parse("*/15 * * * *").minutes, mask([0, 15, 30, 45]));
        assert_eq!(
            u64::from(parse("0 0 */10 * *").days_of_month),
            mask([1, 11, 21, 31])
        );
        assert_eq!(u64::from(parse("0 0 1 */5 *").months), mask([1, 6, 11]));
    }

    #[test]
    fn parse_range_step() {
        assert_eq!(parse("10-30/7 * * * *").minutes, mask([10, 17, 24]));
        assert_eq!(parse("5-8/60 * * * *").minutes, mask([5]));
    }

    #[test]
    fn parse_value_step_runs_to_field_max() {
        assert_eq!(parse("50/3 * * * *").minutes, mask([50, 53, 56, 59]));
        assert_eq!(u64::from(parse("0 20/2 * * *").hours), mask([20, 22]));
    }

    #[test]
    fn parse_month_names_case_insensitive() {
        assert_eq!(
            u64::from(parse("0 0 1 jan,Feb,DEC *").months),
            mask([1, 2, 12])
        );
        assert_eq!(u64::from(parse("0 0 1 MAR-may *").months), mask(3..=5));
        assert_eq!(
            u64::from(parse("0 0 1 jan-dec/3 *").months),
            mask([1, 4, 7, 10])
        );
        assert_eq!(u64::from(parse("0 0 1 2-APR *").months), mask(2..=4));
    }

    #[test]
    fn parse_weekday_names_case_insensitive() {
        assert_eq!(
            u64::from(parse("0 0 * * mon-FRI").days_of_week),
            mask(1..=5)
        );
        assert_eq!(
            u64::from(parse("0 0 * * Sun,sat").days_of_week),
            mask([0, 6])
        );
        assert_eq!(
            u64::from(parse("0 0 * * SUN-SAT/2").days_of_week),
            mask([0, 2, 4, 6])
        );
    }

    #[test]
    fn parse_day_of_week_seven_is_sunday() {
        assert_eq!(parse("0 0 * * 7"), parse("0 0 * * 0"));
        assert_eq!(
            u64::from(parse("0 0 * * 5-7").days_of_week),
            mask([0, 5, 6])
        );
        assert_eq!(
            u64::from(parse("0 0 * * FRI-7").days_of_week),
            mask([0, 5, 6])
        );
        // Implicit ranges stop at Saturday, so a step never wraps onto Sunday twice.
        assert_eq!(
            u64::from(parse("0 0 * * */3").days_of_week),
            mask([0, 3, 6])
        );
        assert_eq!(u64::from(parse("0 0 * * 1/3").days_of_week), mask([1, 4]));
        assert_eq!(u64::from(parse("0 0 * * 7/3").days_of_week), mask([0]));
    }

    #[test]
    fn parse_day_restriction_flags() {
        let s = parse("0 0 */2 * *");
        assert!(s.dom_restricted && !s.dow_restricted);
        let s = parse("0 0 1 * 1");
        assert!(s.dom_restricted && s.dow_restricted);
    }

    #[test]
    fn parse_macros() {
        assert_eq!(parse("@yearly"), parse("0 0 1 1 *"));
        assert_eq!(parse("@annually"), parse("0 0 1 1 *"));
        assert_eq!(parse("@monthly"), parse("0 0 1 * *"));
        assert_eq!(parse("@weekly"), parse("0 0 * * 0"));
        assert_eq!(parse("@daily"), parse("0 0 * * *"));
        assert_eq!(parse("@midnight"), parse("0 0 * * *"));
        assert_eq!(parse("@hourly"), parse("0 * * * *"));
        assert_eq!(parse("  @HOURLY "), parse("0 * * * *"));
    }

    #[test]
    fn parse_accepts_exactly_max_len() {
        let years: Vec<String> = (2030..2040).map(|y| y.to_string()).collect();
        let expr = format!("   0 0 0 1 1 ? {}", years.join(","));
        assert_eq!(expr.len(), CronSchedule::MAX_LEN);
        assert_eq!(parse(&expr).years, super::tests::years(2030..2040));
        assert_eq!(err(&format!(" {expr}")), CronError::TooLong);
    }

    // ---- parse: every error ----

    #[test]
    fn error_wrong_field_count() {
        for expr in [
            "",
            "   ",
            "* * * *",
            "* * * * * * * *",
            "@daily *",
            "@hourly 0 * * * *",
        ] {
            assert_eq!(err(expr), CronError::WrongFieldCount, "{expr:?}");
        }
    }

    #[test]
    fn error_empty_field() {
        for expr in ["1,,2 * * * *", ", * * * *", "1, * * * *", ",1 * * * *"] {
            assert_eq!(err(expr), CronError::EmptyField, "{expr:?}");
        }
    }

    #[test]
    fn error_invalid_number() {
        for expr in [
            "1x * * * *",
            "/5 * * * *",
            "? * * * *",
            "* ? * * *",
            "0 0 1 ? *",
            "*-5 * * * *",
            "1,? * * * *",
            "+1 * * * *",
            "0 0 ?? * *",
            "é * * * *",
        ] {
            assert_eq!(err(expr), CronError::InvalidNumber, "{expr:?}");
        }
    }

    #[test]
    fn error_out_of_range() {
        for expr in [
            "60 * * * *",
            "* 24 * * *",
            "* * 0 * *",
            "* * 32 * *",
            "* * * 0 *",
            "* * * 13 *",
            "* * * * 8",
            "60 * * * * *",
            "0 0 0 1 1 ? 1969",
            "0 0 0 1 1 ? 2100",
            "99999999999 * * * *",
            "1-60 * * * *",
            "0 0 1 JAN-13 *",
        ] {
            assert_eq!(err(expr), CronError::OutOfRange, "{expr:?}");
        }
    }

    #[test]
    fn error_invalid_range() {
        for expr in [
            "5-1 * * * *",
            "1- * * * *",
            "-1 * * * *",
            "1-2-3 * * * *",
            "0 0 1 MAR-JAN *",
            "0 0 * * SAT-SUN",
            "0 0 0 1 1 ? 2030-2020",
        ] {
            assert_eq!(err(expr), CronError::InvalidRange, "{expr:?}");
        }
    }

    #[test]
    fn error_invalid_step() {
        for expr in [
            "*/0 * * * *",
            "1-5/0 * * * *",
            "*/ * * * *",
            "*/x * * * *",
            "*/61 * * * *",
            "*/1/2 * * * *",
            "0 */25 * * *",
            "0 0 * * */8",
            "0 0 1 1/13 *",
        ] {
            assert_eq!(err(expr), CronError::InvalidStep, "{expr:?}");
        }
    }

    #[test]
    fn error_unknown_name() {
        for expr in [
            "FOO * * * *",
            "0 0 1 JANUARY *",
            "0 0 1 MON *",
            "0 0 * * JAN",
            "0 0 JAN * *",
            "0 0 1 jan-foo *",
            "@often",
            "@",
        ] {
            assert_eq!(err(expr), CronError::UnknownName, "{expr:?}");
        }
    }

    #[test]
    fn error_unsupported() {
        for expr in [
            "0 0 L * *",
            "0 0 LW * *",
            "0 0 15W * *",
            "0 0 * * 5L",
            "0 0 * * 5#3",
            "0 0 * * FRI#1",
            "0 0 l-2 * *",
            "@reboot",
        ] {
            assert_eq!(err(expr), CronError::Unsupported, "{expr:?}");
        }
    }

    #[test]
    fn error_too_long() {
        let expr = format!("{:<65}", "* * * * *");
        assert_eq!(err(&expr), CronError::TooLong);
        assert_eq!(err(&"1,".repeat(40)), CronError::TooLong);
    }

    #[test]
    fn errors_display_short_text() {
        let all = [
            CronError::WrongFieldCount,
            CronError::EmptyField,
            CronError::InvalidNumber,
            CronError::OutOfRange,
            CronError::InvalidRange,
            CronError::InvalidStep,
            CronError::UnknownName,
            CronError::Unsupported,
            CronError::TooLong,
        ];
        let texts: Vec<String> = all.iter().map(|e| e.to_string()).collect();
        for (i, text) in texts.iter().enumerate() {
            assert!(text.starts_with("cron: ") && text.len() < 60, "{text}");
            assert!(!texts[..i].contains(text), "duplicate text {text}");
        }
    }

    // ---- calendar helpers ----

    #[test]
    fn calendar_conversions_match_chrono() {
        // Every day of 1970..=2099 plus 2100-01-01.
        for day in 0..=at(2100, 1, 1, 0, 0, 0) / 86_400 {
            let date = DateTime::from_timestamp(day * 86_400, 0)
                .unwrap()
                .date_naive();
            let (y, m, d) = civil_from_days(day).unwrap();
            assert_eq!(
                (y, m, d),
                (i64::from(date.year()), date.month(), date.day())
            );
            assert_eq!(days_from_civil(y, m, d), Some(day));
            assert_eq!(weekday(day), Some(date.weekday().num_days_from_sunday()));
        }
    }

    #[test]
    fn leap_years() {
        assert!(is_leap_year(2024) && is_leap_year(2028) && is_leap_year(2000));
        assert!(!is_leap_year(2100) && !is_leap_year(1900) && !is_leap_year(2023));
        assert_eq!(MAX_TIMESTAMP, at(2099, 12, 31, 23, 59, 59));
    }

    // ---- next_after: fixed cases ----

    #[test]
    fn next_crosses_minute_and_hour() {
        assert_eq!(
            next("* * * * *", at(2024, 1, 1, 0, 0, 0)),
            Some(at(2024, 1, 1, 0, 1, 0))
        );
        assert_eq!(
            next("* * * * *", at(2024, 1, 1, 0, 0, 30)),
            Some(at(2024, 1, 1, 0, 1, 0))
        );
        assert_eq!(
            next("*/15 * * * *", at(2024, 1, 1, 10, 50, 0)),
            Some(at(2024, 1, 1, 11, 0, 0))
        );
        assert_eq!(
            next("5 * * * *", at(2024, 1, 1, 10, 5, 0)),
            Some(at(2024, 1, 1, 11, 5, 0))
        );
        assert_eq!(
            next("0 9-17 * * *", at(2024, 1, 1, 12, 30, 0)),
            Some(at(2024, 1, 1, 13, 0, 0))
        );
    }

    #[test]
    fn next_crosses_day_month_and_year() {
        assert_eq!(
            next("30 23 * * *", at(2024, 1, 1, 23, 30, 0)),
            Some(at(2024, 1, 2, 23, 30, 0))
        );
        assert_eq!(
            next("0 0 * * *", at(2023, 12, 31, 23, 59, 59)),
            Some(at(2024, 1, 1, 0, 0, 0))
        );
        assert_eq!(
            next("0 0 1 * *", at(2024, 1, 31, 12, 0, 0)),
            Some(at(2024, 2, 1, 0, 0, 0))
        );
        assert_eq!(
            next("0 0 31 * *", at(2024, 1, 31, 0, 0, 0)),
            Some(at(2024, 3, 31, 0, 0, 0))
        );
        assert_eq!(
            next("0 0 31 * *", at(2024, 4, 1, 0, 0, 0)),
            Some(at(2024, 5, 31, 0, 0, 0))
        );
        assert_eq!(
            next("0 12 1 JAN *", at(2024, 1, 1, 12, 0, 0)),
            Some(at(2025, 1, 1, 12, 0, 0))
        );
        assert_eq!(
            next("59 23 31 12 *", at(1999, 12, 31, 23, 59, 0)),
            Some(at(2000, 12, 31, 23, 59, 0))
        );
    }

    #[test]
    fn next_feb_29_only_in_leap_years() {
        let feb29 = "0 0 29 2 *";
        assert_eq!(
            next(feb29, at(2023, 1, 1, 0, 0, 0)),
            Some(at(2024, 2, 29, 0, 0, 0))
        );
        assert_eq!(
            next(feb29, at(2024, 2, 29, 0, 0, 0)),
            Some(at(2028, 2, 29, 0, 0, 0))
        );
        assert_eq!(
            next(feb29, at(2024, 3, 1, 0, 0, 0)),
            Some(at(2028, 2, 29, 0, 0, 0))
        );
        assert_eq!(
            next(feb29, at(1997, 3, 1, 0, 0, 0)),
            Some(at(2000, 2, 29, 0, 0, 0))
        );
        // The next one would be 2100-02-29, which does not exist (and is past the range anyway).
        assert_eq!(next(feb29, at(2096, 2, 29, 0, 0, 0)), None);
        assert_eq!(
            next("0 0 0 29 2 ? 2025-2027", at(2024, 3, 1, 0, 0, 0)),
            None
        );
        assert_eq!(
            next("0 0 0 29 2 ? 2025-2029", at(2024, 3, 1, 0, 0, 0)),
            Some(at(2028, 2, 29, 0, 0, 0))
        );
        assert_eq!(next("0 0 30 2 *", 0), None);
    }

    #[test]
    fn next_seven_field_years() {
        let once = "0 0 12 1 1 ? 2030";
        assert_eq!(
            next(once, at(2024, 6, 1, 0, 0, 0)),
            Some(at(2030, 1, 1, 12, 0, 0))
        );
        assert_eq!(next(once, at(2030, 1, 1, 12, 0, 0)), None);
        assert_eq!(next("* * * * * * 1999", at(2024, 1, 1, 0, 0, 0)), None);
        assert_eq!(
            next("0 0 0 1 * ? 2030/5", at(2031, 12, 5, 0, 0, 0)),
            Some(at(2035, 1, 1, 0, 0, 0))
        );
        assert_eq!(next("59 59 23 31 12 ? 2099", 0), Some(MAX_TIMESTAMP));
        assert_eq!(
            next("59 59 23 31 12 ? 2099", MAX_TIMESTAMP - 1),
            Some(MAX_TIMESTAMP)
        );
        assert_eq!(next("* * * * * * 1970", 0), Some(1));
    }

    #[test]
    fn next_dom_dow_either_matches_when_both_restricted() {
        // Friday 2024-09-06 comes before the 13th (also a Friday), then Friday the 20th.
        let s = "0 0 13 * FRI";
        assert_eq!(
            next(s, at(2024, 9, 1, 0, 0, 0)),
            Some(at(2024, 9, 6, 0, 0, 0))
        );
        assert_eq!(
            next(s, at(2024, 9, 6, 0, 0, 0)),
            Some(at(2024, 9, 13, 0, 0, 0))
        );
        assert_eq!(
            next(s, at(2024, 9, 13, 0, 0, 0)),
            Some(at(2024, 9, 20, 0, 0, 0))
        );
        // The 13th of October 2024 is a Sunday: matched through the day of month.
        assert_eq!(
            next(s, at(2024, 10, 11, 0, 0, 0)),
            Some(at(2024, 10, 13, 0, 0, 0))
        );
        assert_eq!(
            next("0 0 1,15 * MON", at(2024, 4, 2, 0, 0, 0)),
            Some(at(2024, 4, 8, 0, 0, 0))
        );
    }

    #[test]
    fn next_only_the_restricted_day_field_counts() {
        // 2024-09-01 is a Sunday.
        assert_eq!(
            next("0 0 * * MON", at(2024, 9, 1, 0, 0, 0)),
            Some(at(2024, 9, 2, 0, 0, 0))
        );
        assert_eq!(
            next("0 0 0 ? * MON", at(2024, 9, 1, 0, 0, 0)),
            Some(at(2024, 9, 2, 0, 0, 0))
        );
        assert_eq!(
            next("0 0 15 * *", at(2024, 9, 1, 0, 0, 0)),
            Some(at(2024, 9, 15, 0, 0, 0))
        );
        assert_eq!(
            next("0 0 0 15 * ?", at(2024, 9, 1, 0, 0, 0)),
            Some(at(2024, 9, 15, 0, 0, 0))
        );
        assert_eq!(
            next("0 0 * * 7", at(2024, 9, 1, 0, 0, 0)),
            Some(at(2024, 9, 8, 0, 0, 0))
        );
        // Weekday rotation across month starts on every weekday of the 1st.
        assert_eq!(
            next("0 0 * * SAT", at(2024, 12, 29, 0, 0, 0)),
            Some(at(2025, 1, 4, 0, 0, 0))
        );
        assert_eq!(
            next("0 0 * FEB WED", at(2024, 3, 1, 0, 0, 0)),
            Some(at(2025, 2, 5, 0, 0, 0))
        );
    }

    #[test]
    fn next_macros() {
        let t = at(2024, 5, 15, 10, 20, 30); // a Wednesday
        assert_eq!(next("@hourly", t), Some(at(2024, 5, 15, 11, 0, 0)));
        assert_eq!(next("@daily", t), Some(at(2024, 5, 16, 0, 0, 0)));
        assert_eq!(next("@midnight", t), Some(at(2024, 5, 16, 0, 0, 0)));
        assert_eq!(next("@weekly", t), Some(at(2024, 5, 19, 0, 0, 0)));
        assert_eq!(next("@monthly", t), Some(at(2024, 6, 1, 0, 0, 0)));
        assert_eq!(next("@yearly", t), Some(at(2025, 1, 1, 0, 0, 0)));
        assert_eq!(next("@annually", t), Some(at(2025, 1, 1, 0, 0, 0)));
    }

    #[test]
    fn next_six_field_seconds() {
        let t = at(2024, 1, 1, 12, 0, 5);
        assert_eq!(next("*/10 * * * * *", t), Some(at(2024, 1, 1, 12, 0, 10)));
        assert_eq!(next("* * * * * *", t), Some(t + 1));
        assert_eq!(
            next("50 * * * * *", at(2024, 1, 1, 12, 0, 50)),
            Some(at(2024, 1, 1, 12, 1, 50))
        );
        assert_eq!(
            next("59 59 23 31 12 *", at(2024, 12, 31, 23, 59, 59)),
            Some(at(2025, 12, 31, 23, 59, 59))
        );
        assert_eq!(
            next("0 30 * * * *", at(2024, 1, 1, 12, 31, 0)),
            Some(at(2024, 1, 1, 13, 30, 0))
        );
    }

    #[test]
    fn next_after_a_fire_time_returns_the_following_one() {
        let t = at(2024, 7, 4, 12, 0, 0);
        assert_eq!(next("0 12 * * *", t), Some(at(2024, 7, 5, 12, 0, 0)));
        assert_eq!(next("0 0 12 * * *", t), Some(at(2024, 7, 5, 12, 0, 0)));
        assert_eq!(
            next("*/30 * * * * *", at(2024, 7, 4, 12, 0, 30)),
            Some(at(2024, 7, 4, 12, 1, 0))
        );
        let s = parse("0 0 13 * FRI");
        let mut fire = 0;
        for _ in 0..100 {
            let following = s.next_after(fire).unwrap();
            assert!(following > fire);
            fire = following;
        }
    }

    #[test]
    fn next_outside_supported_years_is_none() {
        let s = parse("* * * * * *");
        assert_eq!(s.next_after(-1), None);
        assert_eq!(s.next_after(i64::MIN), None);
        assert_eq!(s.next_after(i64::MAX), None);
        assert_eq!(s.next_after(MAX_TIMESTAMP), None);
        assert_eq!(s.next_after(MAX_TIMESTAMP + 1), None);
        assert_eq!(s.next_after(0), Some(1));
        assert_eq!(s.next_after(MAX_TIMESTAMP - 1), Some(MAX_TIMESTAMP));
        assert_eq!(parse("@yearly").next_after(at(2099, 1, 1, 0, 0, 0)), None);
    }

    // ---- property test against a chrono-based brute force ----

    /// splitmix64: tiny, seedable, good enough to spread cases over the grammar.
    struct Rng(u64);

    impl Rng {
        fn next_u64(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }
        fn below(&mut self, n: u32) -> u32 {
            (self.next_u64() % u64::from(n)) as u32
        }
        fn inclusive(&mut self, lo: u32, hi: u32) -> u32 {
            lo + self.below(hi - lo + 1)
        }
        fn chance(&mut self, percent: u32) -> bool {
            self.below(100) < percent
        }
    }

    struct GenSpec {
        min: u32,
        max: u32,
        implicit_max: u32,
        names: &'static [&'static str],
        first_name: u32,
        question: bool,
        star_percent: u32,
    }

    /// A generated field: its text and, independently of the parser, the values it allows.
    struct GenField {
        text: String,
        allowed: Vec<bool>,
        restricted: bool,
    }

    fn render(rng: &mut Rng, spec: &GenSpec, value: u32) -> String {
        let name_index = value.checked_sub(spec.first_name).map(|i| i as usize);
        match name_index.and_then(|i| spec.names.get(i)) {
            Some(name) if rng.chance(40) => match rng.below(3) {
                0 => name.to_string(),
                1 => name.to_lowercase(),
                _ => name[..1].to_string() + &name[1..].to_lowercase(),
            },
            _ => value.to_string(),
        }
    }

    fn gen_step(rng: &mut Rng, span: u32) -> u32 {
        if rng.chance(85) {
            rng.inclusive(1, span.min(12))
        } else {
            rng.inclusive(1, span)
        }
    }

    /// `lo..=hi` and `around` bound where generated explicit values fall (years stay near `after`).
    fn gen_field(rng: &mut Rng, spec: &GenSpec, around: (u32, u32)) -> GenField {
        let mut allowed = vec![false; spec.max as usize + 1];
        let mut allow = |from: u32, to: u32, step: u32| {
            for v in (from..=to).step_by(step as usize) {
                allowed[v as usize] = true;
            }
        };
        let (lo, hi) = around;
        let span = spec.implicit_max - spec.min + 1;
        let text = if spec.question && rng.chance(10) {
            allow(spec.min, spec.implicit_max, 1);
            "?".to_string()
        } else if rng.chance(spec.star_percent) {
            allow(spec.min, spec.implicit_max, 1);
            "*".to_string()
        } else {
            let items: Vec<String> = (0..rng.inclusive(1, 3))
                .map(|_| match rng.below(5) {
                    0 => {
                        let v = rng.inclusive(lo, hi);
                        allow(v, v, 1);
                        render(rng, spec, v)
                    }
                    kind @ (1 | 2) => {
                        let a = rng.inclusive(lo, hi);
                        let b = rng.inclusive(a, hi);
                        let step = if kind == 2 { gen_step(rng, span) } else { 1 };
                        allow(a, b, step);
                        let range = render(rng, spec, a) + "-" + &render(rng, spec, b);
                        if kind == 2 {
                            format!("{range}/{step}")
                        } else {
                            range
                        }
                    }
                    3 => {
                        let a = rng.inclusive(lo, hi);
                        let step = gen_step(rng, span);
                        allow(a, spec.implicit_max.max(a), step);
                        format!("{}/{step}", render(rng, spec, a))
                    }
                    _ => {
                        let step = gen_step(rng, span);
                        allow(spec.min, spec.implicit_max, step);
                        format!("*/{step}")
                    }
                })
                .collect();
            items.join(",")
        };
        GenField {
            restricted: !(text == "*" || text == "?"),
            text,
            allowed,
        }
    }

    struct Expected {
        seconds: Vec<bool>,
        minutes: Vec<bool>,
        hours: Vec<bool>,
        dom: GenField,
        months: Vec<bool>,
        dow: Vec<bool>,
        dow_restricted: bool,
        years: Option<Vec<bool>>,
    }

    fn gen_expression(rng: &mut Rng, after_year: u32) -> (String, Expected) {
        let plain = |min, max, star_percent| GenSpec {
            min,
            max,
            implicit_max: max,
            names: &[],
            first_name: 0,
            question: false,
            star_percent,
        };
        let fields = rng.inclusive(5, 7);
        let seconds = if fields == 5 {
            GenField {
                text: String::new(),
                allowed: (0..60).map(|s| s == 0).collect(),
                restricted: true,
            }
        } else {
            gen_field(rng, &plain(0, 59, 40), (0, 59))
        };
        let minutes = gen_field(rng, &plain(0, 59, 35), (0, 59));
        let hours = gen_field(rng, &plain(0, 23, 40), (0, 23));
        let dom_spec = GenSpec {
            question: true,
            ..plain(1, 31, 60)
        };
        let dom = gen_field(rng, &dom_spec, (1, 31));
        let month_spec = GenSpec {
            names: &MONTH_NAMES,
            first_name: 1,
            ..plain(1, 12, 60)
        };
        let months = gen_field(rng, &month_spec, (1, 12));
        let dow_spec = GenSpec {
            implicit_max: 6,
            names: &DAY_NAMES,
            question: true,
            ..plain(0, 7, 60)
        };
        let mut dow = gen_field(rng, &dow_spec, (0, 7));
        if dow.allowed[7] {
            dow.allowed[0] = true;
        }
        let year_spec = plain(1970, 2099, 40);
        let years = (fields == 7).then(|| {
            let near = (
                after_year.saturating_sub(2).max(1970),
                (after_year + 5).min(2099),
            );
            gen_field(rng, &year_spec, near)
        });

        let mut text = [&seconds, &minutes, &hours, &dom, &months, &dow]
            .iter()
            .filter(|f| !f.text.is_empty())
            .map(|f| f.text.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        if let Some(years) = &years {
            text = text + " " + &years.text;
        }
        let expected = Expected {
            seconds: seconds.allowed,
            minutes: minutes.allowed,
            hours: hours.allowed,
            dom,
            months: months.allowed,
            dow_restricted: dow.restricted,
            dow: dow.allowed,
            years: years.map(|y| y.allowed),
        };
        (text, expected)
    }

    enum Reference {
        Fires(i64),
        Never,
        NotBefore(i64),
    }

    /// Brute force over calendar fields from chrono. It moves one second at a time, except that
    /// when a day, hour or minute does not match it jumps to the start of the next one: unix time
    /// has no leap seconds, so those units are aligned multiples of 86400, 3600 and 60 seconds and
    /// nothing inside them can match.
    fn reference_next(e: &Expected, after: i64, horizon_days: i64) -> Reference {
        let end = (after + horizon_days * 86_400).min(MAX_TIMESTAMP);
        let mut t = after + 1;
        while t <= end {
            let dt = DateTime::from_timestamp(t, 0).unwrap().naive_utc();
            let year_ok = match &e.years {
                Some(years) => years[dt.year() as usize],
                None => true,
            };
            let dom_ok = e.dom.allowed[dt.day() as usize];
            let dow_ok = e.dow[dt.weekday().num_days_from_sunday() as usize];
            let day_ok = match (e.dom.restricted, e.dow_restricted) {
                (true, true) => dom_ok || dow_ok,
                (true, false) => dom_ok,
                (false, true) => dow_ok,
                (false, false) => true,
            };
            if !(year_ok && e.months[dt.month() as usize] && day_ok) {
                t = (t / 86_400 + 1) * 86_400;
            } else if !e.hours[dt.hour() as usize] {
                t = (t / 3600 + 1) * 3600;
            } else if !e.minutes[dt.minute() as usize] {
                t = (t / 60 + 1) * 60;
            } else if !e.seconds[dt.second() as usize] {
                t += 1;
            } else {
                return Reference::Fires(t);
            }
        }
        if end == MAX_TIMESTAMP {
            Reference::Never
        } else {
            Reference::NotBefore(end)
        }
    }

    fn gen_timestamp(rng: &mut Rng) -> i64 {
        match rng.below(10) {
            0..=4 => (rng.next_u64() % (MAX_TIMESTAMP as u64 + 1)) as i64,
            5..=7 => {
                // Just around the turn of a month, where carries happen.
                let year = rng.inclusive(1970, 2099) as i32;
                let month = rng.inclusive(1, 12);
                let last = NaiveDate::from_ymd_opt(year, month, 1)
                    .unwrap()
                    .checked_add_months(chrono::Months::new(1))
                    .map(|d| d.pred_opt().unwrap().day())
                    .unwrap_or(31);
                let t = at(year, month, last, 23, 59, 59) + 1;
                (t + i64::from(rng.below(7200)) - 3600).clamp(0, MAX_TIMESTAMP)
            }
            8 => {
                let year = rng.inclusive(1970, 2099) as i32;
                at(year, 2, 28, 0, 0, 0) + i64::from(rng.below(3 * 86_400))
            }
            _ => MAX_TIMESTAMP - i64::from(rng.below(3 * 366 * 86_400)),
        }
    }

    #[test]
    fn property_matches_brute_force_reference() {
        const CASES: usize = 10_000;
        const HORIZON_DAYS: i64 = 5 * 366;
        let mut rng = Rng(0x00C0_FFEE_5EED);
        let (mut fires, mut never, mut not_before, mut too_long) = (0, 0, 0, 0);
        for case in 0..CASES {
            let after = gen_timestamp(&mut rng);
            let after_year = DateTime::from_timestamp(after, 0).unwrap().year() as u32;
            let (expr, expected) = gen_expression(&mut rng, after_year);
            if expr.len() > CronSchedule::MAX_LEN {
                assert_eq!(CronSchedule::parse(&expr), Err(CronError::TooLong));
                too_long += 1;
                continue;
            }
            let schedule = CronSchedule::parse(&expr)
                .unwrap_or_else(|e| panic!("case {case}: {expr:?} failed to parse: {e}"));
            // Check the generated instant, then the fire time found (exactly on a fire time) and
            // the second before it.
            let mut probes = vec![after];
            if let Some(t) = schedule.next_after(after) {
                probes.extend([t, t - 1]);
            }
            for probe in probes {
                let ours = schedule.next_after(probe);
                match reference_next(&expected, probe, HORIZON_DAYS) {
                    Reference::Fires(t) => {
                        fires += 1;
                        assert_eq!(ours, Some(t), "case {case}: {expr:?} after {probe}");
                    }
                    Reference::Never => {
                        never += 1;
                        assert_eq!(ours, None, "case {case}: {expr:?} after {probe}");
                    }
                    Reference::NotBefore(end) => {
                        not_before += 1;
                        assert!(
                            ours.is_none_or(|t| t > end),
                            "case {case}: {expr:?} after {probe}: ours {ours:?} but no fire by {end}"
                        );
                    }
                }
            }
        }
        // Keep the generators honest: most cases must be decided exactly.
        assert!(fires > 20_000, "fires {fires}");
        assert!(
            not_before < fires / 20,
            "not_before {not_before} vs fires {fires}"
        );
        assert!(too_long < CASES / 10, "too_long {too_long}");
        eprintln!("fires {fires}, never {never}, not_before {not_before}, too_long {too_long}");
    }

    #[test]
    fn random_input_never_panics() {
        // Pieces of the grammar (valid and not) glued together at random, so a fair share parses
        // and the rest exercises every error path; plus raw bytes for anything else.
        const PIECES: &[&str] = &[
            "*", "1", "5", "7", "?", "0", "12", "23", "29", "31", "59", "60", "2099", "2100", "-",
            "/", ",", "JAN", "dec", "Mon", "sun", "L", "W", "#", "x", "@daily", "@", "",
        ];
        const BYTES: &[u8] = b"0123456789*/-,?#@ \tLWjanMONsufriDECxyz\xff";
        let mut rng = Rng(7);
        let mut parsed = 0;
        for _ in 0..20_000 {
            let piece = |rng: &mut Rng| -> &str {
                if rng.chance(85) {
                    PIECES[rng.below(4) as usize]
                } else {
                    PIECES[rng.below(PIECES.len() as u32) as usize]
                }
            };
            let mut expr = String::new();
            let fields = if rng.chance(80) {
                rng.inclusive(5, 7)
            } else {
                rng.inclusive(0, 9)
            };
            for field in 0..fields {
                if field > 0 {
                    expr.push(' ');
                }
                for item in 0..rng.inclusive(1, 2) {
                    if item > 0 {
                        expr.push(',');
                    }
                    expr.push_str(piece(&mut rng));
                    if rng.chance(20) {
                        expr.push('-');
                        expr.push_str(piece(&mut rng));
                    }
                    if rng.chance(20) {
                        expr.push('/');
                        expr.push_str(piece(&mut rng));
                    }
                    if rng.chance(2) {
                        expr.push(char::from(BYTES[rng.below(BYTES.len() as u32) as usize]));
                    }
                }
            }
            let Ok(s) = CronSchedule::parse(&expr) else {
                continue;
            };
            parsed += 1;
            for after in [
                i64::MIN,
                -1,
                0,
                gen_timestamp(&mut rng),
                MAX_TIMESTAMP,
                i64::MAX,
            ] {
                if let Some(t) = s.next_after(after) {
                    assert!(
                        t > after && t <= MAX_TIMESTAMP,
                        "{expr:?} after {after}: {t}"
                    );
                }
            }
        }
        assert!(parsed > 500, "parsed {parsed}");
    }
}
