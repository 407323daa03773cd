//! Proleptic Gregorian calendar arithmetic in UTC, checked at every step: a day count
//! since 1970-01-01 to and from (year, month, day) (Howard Hinnant's civil/days
//! algorithms), month lengths, weekdays and unix timestamps.
//!
//! Owns: dates. Must not: know about cron fields, allocate, or panic on any input (every
//! step is a `checked_*`, so a value out of range is `None`).

use super::SECONDS_PER_DAY;

pub(super) fn is_leap_year(year: i64) -> bool {
    year.rem_euclid(4) == 0 && (year.rem_euclid(100) != 0 || year.rem_euclid(400) == 0)
}

pub(super) fn days_in_month(year: i64, month: u32) -> Option<u32> {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => Some(31),
        4 | 6 | 9 | 11 => Some(30),
        2 if is_leap_year(year) => Some(29),
        2 => Some(28),
        _ => None,
    }
}

/// 0 = Sunday; day 0 (1970-01-01) was a Thursday.
pub(super) fn weekday(days: i64) -> Option<u32> {
    u32::try_from(days.checked_add(4)?.checked_rem_euclid(7)?).ok()
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
pub(super) fn days_from_civil(year: i64, month: u32, day: u32) -> Option<i64> {
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
pub(super) fn civil_from_days(days: i64) -> Option<(i64, u32, u32)> {
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

pub(super) fn to_timestamp(
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
mod tests {
    use chrono::{DateTime, Datelike};

    use super::*;
    use crate::cron::tests::at;
    use crate::cron::MAX_TIMESTAMP;

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
}
