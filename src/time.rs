//! Naive event time: TLC timestamps in, seconds and hour buckets out.
//!
//! TLC publishes pickup times as naive New York local time (no offset). zonecast keeps them
//! naive: a timestamp is the number of seconds since `1970-01-01 00:00:00` *on the wall clock*,
//! and an hour bucket is that number divided by 3600. Consequences at daylight-saving changes:
//! on the spring-forward day the `02:00` hour simply has no trips (it counts as zero), and on
//! the fall-back day the two real `01:00` hours share one bucket. Every hour is 3600 seconds.
//!
//! Also here: durations as users write them (`90s`, `15m`, `2h`, `30d`).

use std::fmt;

/// Seconds per hour bucket.
pub const SECS_PER_HOUR: i64 = 3600;

/// Days since 1970-01-01 of a proleptic Gregorian civil date (Howard Hinnant's algorithm).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = month as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date `(year, month, day)` of a day number (inverse of [`days_from_civil`]).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        _ => 28,
    }
}

fn digits(bytes: &[u8]) -> Option<u32> {
    if bytes.is_empty() || !bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(
        bytes
            .iter()
            .fold(0u32, |acc, b| acc * 10 + (b - b'0') as u32),
    )
}

/// Parses a naive timestamp into seconds since the epoch.
///
/// Accepted: `YYYY-MM-DD HH:MM:SS`, with `T` instead of the space, optional fractional
/// seconds (truncated), `HH:MM` without seconds, or a bare date `YYYY-MM-DD` (midnight).
/// Returns `None` for anything else, including impossible dates such as `2024-02-30` and
/// times with a zone or offset (`Z`, `+01:00`: see [`parse_local`]).
///
/// ```
/// use zonecast::time::{parse_naive, format_naive};
/// let t = parse_naive(b"2024-01-31 23:59:59").unwrap();
/// assert_eq!(format_naive(t), "2024-01-31 23:59:59");
/// assert_eq!(parse_naive(b"2024-02-30 00:00:00"), None);
/// ```
pub fn parse_naive(text: &[u8]) -> Option<i64> {
    let text = trim_ascii(text);
    if text.len() < 10 || text[4] != b'-' || text[7] != b'-' {
        return None;
    }
    let year = digits(&text[0..4])? as i64;
    let month = digits(&text[5..7])?;
    let day = digits(&text[8..10])?;
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    let mut secs_of_day = 0i64;
    let rest = &text[10..];
    if !rest.is_empty() {
        if rest[0] != b' ' && rest[0] != b'T' {
            return None;
        }
        let clock = &rest[1..];
        let (hms, _fraction) = match clock.iter().position(|&b| b == b'.') {
            Some(dot) => {
                digits(&clock[dot + 1..])?;
                (&clock[..dot], ())
            }
            None => (clock, ()),
        };
        let (h, m, s) = match hms.len() {
            5 if hms[2] == b':' => (digits(&hms[0..2])?, digits(&hms[3..5])?, 0),
            8 if hms[2] == b':' && hms[5] == b':' => (
                digits(&hms[0..2])?,
                digits(&hms[3..5])?,
                digits(&hms[6..8])?,
            ),
            _ => return None,
        };
        if h > 23 || m > 59 || s > 60 {
            return None;
        }
        secs_of_day = (h * 3600 + m * 60 + s) as i64;
    }
    Some(days_from_civil(year, month, day) * 86_400 + secs_of_day)
}

/// Parses a timestamp into New York local time (the TLC convention), in naive seconds.
///
/// A naive timestamp (see [`parse_naive`]) is taken as New York local time already. One with
/// a zone or offset — a trailing `Z`, `+hh:mm`, `-hh:mm`, `+hhmm` or `+hh` — names an instant:
/// it is converted to New York local time, daylight saving included ([`utc_to_new_york`]).
///
/// ```
/// use zonecast::time::{format_naive, parse_local};
/// let at = |s: &str| format_naive(parse_local(s.as_bytes()).unwrap());
/// assert_eq!(at("2024-01-15 08:30:00"), "2024-01-15 08:30:00");
/// assert_eq!(at("2024-01-15T13:30:00Z"), "2024-01-15 08:30:00"); // EST, UTC-5
/// assert_eq!(at("2024-07-15T12:30:00+00:00"), "2024-07-15 08:30:00"); // EDT, UTC-4
/// assert_eq!(at("2024-07-15 08:30:00-04:00"), "2024-07-15 08:30:00");
/// assert_eq!(parse_local(b"2024-07-15 08:30:00+25:00"), None);
/// ```
pub fn parse_local(text: &[u8]) -> Option<i64> {
    let text = trim_ascii(text);
    if let Some(naive) = text.strip_suffix(b"Z") {
        return parse_naive(naive).map(utc_to_new_york);
    }
    // An offset starts after the time of day: at least `YYYY-MM-DDTHH:MM`.
    let sign_at = text
        .iter()
        .enumerate()
        .skip(16)
        .find(|(_, &b)| b == b'+' || b == b'-')
        .map(|(i, _)| i);
    let Some(at) = sign_at else {
        return parse_naive(text);
    };
    let naive = parse_naive(&text[..at])?;
    let offset = &text[at + 1..];
    let (h, m) = match offset.len() {
        2 => (digits(offset)?, 0),
        4 => (digits(&offset[..2])?, digits(&offset[2..])?),
        5 if offset[2] == b':' => (digits(&offset[..2])?, digits(&offset[3..])?),
        _ => return None,
    };
    if h > 18 || m > 59 {
        return None;
    }
    let east = (h * 3600 + m * 60) as i64 * if text[at] == b'+' { 1 } else { -1 };
    Some(utc_to_new_york(naive - east))
}

/// Converts a UTC instant (seconds since 1970-01-01 UTC) to New York local time (naive
/// seconds): UTC-5, or UTC-4 while daylight saving time is in effect (since 2007 from the
/// second Sunday in March to the first Sunday in November, before that from the first Sunday
/// in April to the last Sunday in October; changes at 2:00 local time).
///
/// ```
/// use zonecast::time::{format_naive, parse_naive, utc_to_new_york};
/// let ny = |utc: &str| format_naive(utc_to_new_york(parse_naive(utc.as_bytes()).unwrap()));
/// assert_eq!(ny("2024-03-10 06:59:59"), "2024-03-10 01:59:59");
/// assert_eq!(ny("2024-03-10 07:00:00"), "2024-03-10 03:00:00");
/// assert_eq!(ny("2024-11-03 05:59:59"), "2024-11-03 01:59:59");
/// assert_eq!(ny("2024-11-03 06:00:00"), "2024-11-03 01:00:00");
/// ```
pub fn utc_to_new_york(utc: i64) -> i64 {
    let (year, _, _) = civil_from_days((utc - 5 * 3600).div_euclid(86_400));
    let (start, end) = if year >= 2007 {
        (nth_sunday(year, 3, 2), nth_sunday(year, 11, 1))
    } else {
        (nth_sunday(year, 4, 1), last_sunday(year, 10))
    };
    // 2:00 EST is 07:00 UTC; 2:00 EDT is 06:00 UTC.
    let dst = (start * 86_400 + 7 * 3600..end * 86_400 + 6 * 3600).contains(&utc);
    utc - if dst { 4 } else { 5 } * 3600
}

/// Days since 1970-01-01 of the `n`th Sunday of `month`.
fn nth_sunday(year: i64, month: u32, n: i64) -> i64 {
    let first = days_from_civil(year, month, 1);
    // 1970-01-01 was a Thursday: weekday 0 = Sunday.
    let weekday = (first + 4).rem_euclid(7);
    first + (7 - weekday) % 7 + 7 * (n - 1)
}

/// Days since 1970-01-01 of the last Sunday of `month`.
fn last_sunday(year: i64, month: u32) -> i64 {
    let last = days_from_civil(year, month, days_in_month(year, month));
    last - (last + 4).rem_euclid(7)
}

/// Formats seconds since the epoch as `YYYY-MM-DD HH:MM:SS`.
pub fn format_naive(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        sod / 3600,
        (sod / 60) % 60,
        sod % 60
    )
}

/// Formats naive seconds as ISO 8601 without a zone: `YYYY-MM-DDTHH:MM:SS`.
pub fn format_iso(secs: i64) -> String {
    let mut text = format_naive(secs);
    text.replace_range(10..11, "T");
    text
}

/// Formats Unix milliseconds as RFC 3339 UTC: `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub fn format_utc_ms(ms: i64) -> String {
    format!(
        "{}.{:03}Z",
        format_iso(ms.div_euclid(1000)),
        ms.rem_euclid(1000)
    )
}

/// The wall clock as Unix milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The hour bucket (hours since the epoch) that a timestamp falls in.
pub fn hour_of(secs: i64) -> i64 {
    secs.div_euclid(SECS_PER_HOUR)
}

/// Formats an hour bucket as `YYYY-MM-DD HH:00:00`.
pub fn format_hour(hour: i64) -> String {
    format_naive(hour * SECS_PER_HOUR)
}

/// Removes ASCII whitespace at both ends.
pub fn trim_ascii(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &bytes[start..end]
}

/// A span of event time written the way users write it: `90s`, `15m`, `2h`, `30d`.
///
/// ```
/// use zonecast::time::Span;
/// let s: Span = "2h".parse().unwrap();
/// assert_eq!(s.secs(), 7200);
/// assert_eq!(Span::from_secs(5400).to_string(), "90m");
/// assert!("2 hours".parse::<Span>().is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Span(i64);

impl Span {
    /// A span of `secs` seconds (negative values are clamped to zero).
    pub fn from_secs(secs: i64) -> Self {
        Span(secs.max(0))
    }
    /// The span in seconds.
    pub fn secs(self) -> i64 {
        self.0
    }
}

/// A duration that could not be read.
#[derive(Debug, thiserror::Error)]
#[error(
    "cannot read duration {0:?}: write a whole number followed by s, m, h or d (e.g. 90s, 2h, 30d)"
)]
pub struct SpanError(String);

impl std::str::FromStr for Span {
    type Err = SpanError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        let err = || SpanError(text.to_string());
        let unit = text.chars().last().ok_or_else(err)?;
        let number: i64 = text[..text.len() - unit.len_utf8()]
            .parse()
            .map_err(|_| err())?;
        let scale = match unit {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return Err(err()),
        };
        if number < 0 {
            return Err(err());
        }
        number.checked_mul(scale).map(Span).ok_or_else(err)
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0;
        if s != 0 && s % 86_400 == 0 {
            write!(f, "{}d", s / 86_400)
        } else if s != 0 && s % 3600 == 0 {
            write!(f, "{}h", s / 3600)
        } else if s != 0 && s % 60 == 0 {
            write!(f, "{}m", s / 60)
        } else {
            write!(f, "{s}s")
        }
    }
}

/// Formats a wall-clock duration for summaries: `850ms`, `12.3s`, `4m05s`.
pub fn format_elapsed(d: std::time::Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
        format!("{:.1}s", d.as_secs_f64())
    } else {
        format!("{}m{:02}s", ms / 60_000, (ms / 1000) % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip_over_centuries() {
        for days in (-800_000..800_000).step_by(97) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }

    #[test]
    fn parses_variants() {
        let base = parse_naive(b"2019-06-01 00:55:13").unwrap();
        assert_eq!(parse_naive(b"2019-06-01T00:55:13").unwrap(), base);
        assert_eq!(parse_naive(b"2019-06-01 00:55:13.250").unwrap(), base);
        assert_eq!(parse_naive(b" 2019-06-01 00:55:13 ").unwrap(), base);
        assert_eq!(parse_naive(b"2019-06-01 00:55").unwrap(), base - 13);
        assert_eq!(parse_naive(b"2019-06-01").unwrap(), base - 55 * 60 - 13);
        for bad in [
            &b""[..],
            b"x",
            b"2019-13-01 00:00:00",
            b"2019-06-01 24:00:00",
            b"2019/06/01",
            b"2019-06-01 1:2:3",
        ] {
            assert_eq!(parse_naive(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn spans() {
        assert_eq!("30d".parse::<Span>().unwrap().secs(), 30 * 86_400);
        assert_eq!(Span::from_secs(90).to_string(), "90s");
        assert_eq!(Span::from_secs(0).to_string(), "0s");
        assert!("h".parse::<Span>().is_err());
        assert!("-2h".parse::<Span>().is_err());
    }
}
