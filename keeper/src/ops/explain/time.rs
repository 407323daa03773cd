//! How `keeper explain` writes times and amounts: UTC and local dates, "in 3 min", SOL.

use chrono::{DateTime, Local, Utc};

/// `unix_ts` as an RFC 3339 UTC date, or the number when it is out of range.
pub fn utc(unix_ts: i64) -> String {
    DateTime::<Utc>::from_timestamp(unix_ts, 0)
        .map_or_else(|| format!("unix time {unix_ts}"), |t| t.to_rfc3339())
}

/// `unix_ts` in this machine's time zone.
pub fn local(unix_ts: i64) -> String {
    DateTime::<Utc>::from_timestamp(unix_ts, 0).map_or_else(
        || format!("unix time {unix_ts}"),
        |t| t.with_timezone(&Local).to_rfc3339(),
    )
}

/// A duration of `seconds` from now: "in 3 min", "2 h 5 min ago", "now".
pub fn relative(seconds: i64) -> String {
    let span = span(seconds.unsigned_abs());
    match seconds {
        0 => "now".into(),
        s if s > 0 => format!("in {span}"),
        _ => format!("{span} ago"),
    }
}

/// `seconds` in the two largest units that matter: "45 s", "3 min", "2 h 5 min", "3 days".
pub fn span(seconds: u64) -> String {
    const MIN: u64 = 60;
    const HOUR: u64 = 60 * MIN;
    const DAY: u64 = 24 * HOUR;
    match seconds {
        s if s < MIN => format!("{s} s"),
        s if s < HOUR => format!("{} min", s / MIN),
        s if s < DAY && s % HOUR >= MIN => format!("{} h {} min", s / HOUR, s % HOUR / MIN),
        s if s < DAY => format!("{} h", s / HOUR),
        s if s / DAY == 1 => "1 day".into(),
        s => format!("{} days", s / DAY),
    }
}

/// `lamports` in SOL, without trailing zeros.
pub fn sol(lamports: u64) -> String {
    let whole = lamports / 1_000_000_000;
    let fraction = lamports % 1_000_000_000;
    if fraction == 0 {
        return whole.to_string();
    }
    let digits = format!("{fraction:09}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_in_their_two_largest_units() {
        assert_eq!(relative(0), "now");
        assert_eq!(relative(45), "in 45 s");
        assert_eq!(relative(180), "in 3 min");
        assert_eq!(relative(-7_500), "2 h 5 min ago");
        assert_eq!(relative(7_200), "in 2 h");
        assert_eq!(relative(86_400), "in 1 day");
        assert_eq!(relative(3 * 86_400 + 5), "in 3 days");
    }

    #[test]
    fn amounts_read_in_sol() {
        assert_eq!(sol(100_000), "0.0001");
        assert_eq!(sol(2_000_000_000), "2");
        assert_eq!(sol(1_500_000_001), "1.500000001");
        assert_eq!(utc(0), "1970-01-01T00:00:00+00:00");
    }
}
