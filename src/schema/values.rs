//! Field values: raw bytes in, validated numbers, zones and pickup times out (or a reason).
//!
//! Shared by every source (CSV files, Parquet string columns, socket lines), so the same text
//! is accepted or rejected the same way wherever it comes from.

use crate::reject::{snippet, RejectReason};
use crate::time::{days_from_civil, parse_local, trim_ascii};
use crate::trip::{Micros, MAX_ZONE};

/// Largest magnitude accepted in a numeric column, in millionths (1e12 units).
pub const MAX_MAGNITUDE: i128 = 1_000_000_000_000 * 1_000_000;

/// First plausible pickup (2001-01-01 00:00:00), naive seconds.
pub fn earliest_pickup() -> i64 {
    days_from_civil(2001, 1, 1) * 86_400
}

/// First implausible pickup (2100-01-01 00:00:00), naive seconds.
pub fn latest_pickup() -> i64 {
    days_from_civil(2100, 1, 1) * 86_400
}

/// Checks a pickup time against the plausible range.
pub fn check_pickup(secs: i64) -> Result<i64, RejectReason> {
    if secs < earliest_pickup() || secs >= latest_pickup() {
        Err(RejectReason::PickupOutOfRange(secs))
    } else {
        Ok(secs)
    }
}

/// Parses a pickup time field: naive New York local time, or a time with a zone or offset
/// converted to it ([`parse_local`]).
pub fn parse_pickup(text: &[u8]) -> Result<i64, RejectReason> {
    let text = trim_ascii(text);
    if text.is_empty() {
        return Err(RejectReason::MissingPickup);
    }
    let secs = parse_local(text).ok_or_else(|| RejectReason::BadPickup(snippet(text)))?;
    check_pickup(secs)
}

/// Parses a pickup zone field: an integer in 1..=265 (`132.0` is accepted as 132).
pub fn parse_zone(text: &[u8]) -> Result<u16, RejectReason> {
    let text = trim_ascii(text);
    if text.is_empty() {
        return Err(RejectReason::MissingZone);
    }
    let integral = match text.iter().position(|&b| b == b'.') {
        Some(dot) if text[dot + 1..].iter().all(|&b| b == b'0') => &text[..dot],
        Some(_) => return Err(RejectReason::BadZone(snippet(text))),
        None => text,
    };
    let value: i64 = std::str::from_utf8(integral)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| RejectReason::BadZone(snippet(text)))?;
    check_zone(value)
}

/// Checks a zone id against 1..=265.
pub fn check_zone(value: i64) -> Result<u16, RejectReason> {
    if (1..=MAX_ZONE as i64).contains(&value) {
        Ok(value as u16)
    } else {
        Err(RejectReason::ZoneOutOfRange(value))
    }
}

/// Parses a numeric field exactly into millionths: empty is `None` (null), text that is not a
/// number is rejected. Plain decimals are exact; exponents go through `f64` and are rounded.
///
/// ```
/// use zonecast::schema::values::parse_micros;
/// assert_eq!(parse_micros(b"13.5", "fare_amount"), Ok(Some(13_500_000)));
/// assert_eq!(parse_micros(b" ", "fare_amount"), Ok(None));
/// assert!(parse_micros(b"12,5", "fare_amount").is_err());
/// ```
pub fn parse_micros(text: &[u8], column: &str) -> Result<Option<Micros>, RejectReason> {
    let text = trim_ascii(text);
    if text.is_empty() {
        return Ok(None);
    }
    let bad = || RejectReason::BadNumber {
        column: column.to_string(),
        value: snippet(text),
    };
    let value = match exact_decimal(text) {
        Some(v) => v,
        None => {
            let f: f64 = std::str::from_utf8(text)
                .ok()
                .and_then(|s| s.parse().ok())
                .ok_or_else(bad)?;
            if !f.is_finite() {
                return Err(bad());
            }
            if f.abs() > 1e12 {
                return Err(RejectReason::NumberOutOfRange {
                    column: column.to_string(),
                });
            }
            (f * 1e6).round() as i128
        }
    };
    if value.abs() > MAX_MAGNITUDE {
        return Err(RejectReason::NumberOutOfRange {
            column: column.to_string(),
        });
    }
    Ok(Some(value as Micros))
}

/// Converts a float column value (Parquet) to millionths.
pub fn micros_from_f64(value: f64, column: &str) -> Result<Micros, RejectReason> {
    if !value.is_finite() {
        return Err(RejectReason::BadNumber {
            column: column.to_string(),
            value: value.to_string(),
        });
    }
    if value.abs() > 1e12 {
        return Err(RejectReason::NumberOutOfRange {
            column: column.to_string(),
        });
    }
    Ok((value * 1e6).round() as Micros)
}

/// `[+-]digits[.digits]` to millionths, rounding half away from zero past six decimals.
/// `None` when the text is not of that form (or too long to be exact).
fn exact_decimal(text: &[u8]) -> Option<i128> {
    let (negative, body) = match text[0] {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let (int, frac) = match body.iter().position(|&b| b == b'.') {
        Some(dot) => (&body[..dot], &body[dot + 1..]),
        None => (body, &body[body.len()..]),
    };
    if (int.is_empty() && frac.is_empty()) || int.len() > 20 || frac.len() > 30 {
        return None;
    }
    let mut whole: i128 = 0;
    for &d in int {
        let digit = d.wrapping_sub(b'0');
        if digit > 9 {
            return None;
        }
        whole = whole * 10 + digit as i128;
    }
    let mut micros: i64 = 0;
    for (i, &d) in frac.iter().enumerate() {
        let digit = d.wrapping_sub(b'0');
        if digit > 9 {
            return None;
        }
        if i < 6 {
            micros = micros * 10 + digit as i64;
        }
    }
    for _ in frac.len()..6 {
        micros *= 10;
    }
    let mut value = whole * 1_000_000 + micros as i128;
    if frac.get(6).is_some_and(|&d| d >= b'5') {
        value += 1;
    }
    Some(if negative { -value } else { value })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_are_exact() {
        let p = |s: &str| parse_micros(s.as_bytes(), "fare_amount");
        assert_eq!(p("0.1"), Ok(Some(100_000)));
        assert_eq!(p("-52.00"), Ok(Some(-52_000_000)));
        assert_eq!(p(".5"), Ok(Some(500_000)));
        assert_eq!(p("7"), Ok(Some(7_000_000)));
        assert_eq!(p("1.0000005"), Ok(Some(1_000_001)));
        assert_eq!(p("1e3"), Ok(Some(1_000_000_000)));
        assert!(matches!(p("nan"), Err(RejectReason::BadNumber { .. })));
        assert!(matches!(p("-"), Err(RejectReason::BadNumber { .. })));
        assert!(matches!(
            p("1e300"),
            Err(RejectReason::NumberOutOfRange { .. })
        ));
        assert!(matches!(
            p("99999999999999999"),
            Err(RejectReason::NumberOutOfRange { .. })
        ));
    }

    #[test]
    fn zones() {
        assert_eq!(parse_zone(b"132"), Ok(132));
        assert_eq!(parse_zone(b"132.0"), Ok(132));
        assert_eq!(parse_zone(b""), Err(RejectReason::MissingZone));
        assert_eq!(parse_zone(b"0"), Err(RejectReason::ZoneOutOfRange(0)));
        assert_eq!(parse_zone(b"266"), Err(RejectReason::ZoneOutOfRange(266)));
        assert!(matches!(parse_zone(b"13.5"), Err(RejectReason::BadZone(_))));
        assert!(matches!(parse_zone(b"abc"), Err(RejectReason::BadZone(_))));
    }

    #[test]
    fn pickups() {
        assert!(parse_pickup(b"2019-06-01 00:55:13").is_ok());
        assert_eq!(parse_pickup(b""), Err(RejectReason::MissingPickup));
        assert!(matches!(
            parse_pickup(b"1999-01-01 00:00:00"),
            Err(RejectReason::PickupOutOfRange(_))
        ));
        assert!(matches!(
            parse_pickup(b"yesterday"),
            Err(RejectReason::BadPickup(_))
        ));
    }
}
