//! Parsing a cron expression into a [`CronSchedule`]: 5, 6 or 7 fields or an `@` macro,
//! with lists, ranges, steps, month and weekday names and `?` in the day fields, each
//! field into one bitset.
//!
//! Owns: the grammar, each field's range and names, and which errors an expression
//! earns. Must not: compute fire times (`mod.rs` does), allocate, or panic on any input.

use super::{Bits, CronError, CronSchedule, ALL_YEARS};

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
}

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

pub(super) const MONTH_NAMES: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
pub(super) const DAY_NAMES: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

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

pub(super) fn parse_fields(expr: &str) -> Result<CronSchedule, CronError> {
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

pub(super) fn set_bit(bits: &mut Bits, index: u32) -> Result<(), CronError> {
    let word = usize::try_from(index >> 6)
        .ok()
        .and_then(|w| bits.get_mut(w))
        .ok_or(CronError::OutOfRange)?;
    *word |= 1u64.checked_shl(index & 63).unwrap_or(0);
    Ok(())
}
