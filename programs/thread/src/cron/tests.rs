//! The cron engine as a whole: the grammar and its errors, fire times against fixed
//! cases, a property test against a brute-force reference, and random input that must
//! never panic.

use super::parse::{set_bit, DAY_NAMES, MONTH_NAMES};
use super::*;
use chrono::{DateTime, Datelike, NaiveDate, Timelike};

pub(super) fn at(year: i32, month: u32, day: u32, hour: u32, minute: u32, second: u32) -> i64 {
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
        "*", "1", "5", "7", "?", "0", "12", "23", "29", "31", "59", "60", "2099", "2100", "-", "/",
        ",", "JAN", "dec", "Mon", "sun", "L", "W", "#", "x", "@daily", "@", "",
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
