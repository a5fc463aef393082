//! The records that flow through zonecast: validated trips in, per-(zone, hour) statistics out.
//!
//! Money and distance are kept as exact fixed-point integers ([`Micros`], millionths), so sums
//! and means do not depend on the order in which trips arrive or on how many workers add them.

use serde::{Deserialize, Serialize};

use crate::time::{format_hour, hour_of};

/// The highest TLC pickup zone id (`taxi_zone_lookup.csv`: 264 is "Unknown", 265 "Outside of NYC").
pub const MAX_ZONE: u16 = 265;

/// A decimal quantity in millionths (`2.5` miles is `Micros(2_500_000)`).
pub type Micros = i64;

/// Where a row came from: a source (file or socket client, by index) and its 1-based line
/// (CSV and sockets; the header is line 1) or row (Parquet).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RowPos {
    /// Index of the source in the job's source table.
    pub source: u32,
    /// 1-based line (CSV, socket) or row (Parquet) number.
    pub line: u64,
}

/// One accepted taxi trip: what zonecast reads from a TLC row.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Trip {
    /// Pickup time, naive seconds since 1970-01-01 (see [`crate::time`]).
    pub pickup: i64,
    /// Pickup zone, 1..=265.
    pub zone: u16,
    /// `trip_distance` in millionths of a mile; `None` when the field was empty.
    pub distance: Option<Micros>,
    /// `fare_amount` in millionths of a dollar; `None` when empty.
    pub fare: Option<Micros>,
    /// `total_amount` in millionths of a dollar; `None` when empty.
    pub total: Option<Micros>,
}

impl Trip {
    /// A trip from its pickup, zone and `[distance, fare, total]`.
    pub fn new(pickup: i64, zone: u16, [distance, fare, total]: [Option<Micros>; 3]) -> Self {
        Trip {
            pickup,
            zone,
            distance,
            fare,
            total,
        }
    }

    /// The (zone, hour) bucket this trip counts towards.
    pub fn zone_hour(&self) -> ZoneHour {
        ZoneHour {
            hour: hour_of(self.pickup),
            zone: self.zone,
        }
    }
}

/// A pickup zone during one hour. Orders by hour, then zone (the output table's order).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ZoneHour {
    /// Hour bucket: hours since 1970-01-01 00:00 (naive).
    pub hour: i64,
    /// Pickup zone.
    pub zone: u16,
}

impl ZoneHour {
    /// A well-spread hash for routing keys between workers (same on every process).
    pub fn route(&self) -> u64 {
        let x = (self.hour as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (self.zone as u64);
        let x = (x ^ (x >> 31)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        x ^ (x >> 29)
    }
}

/// A `HashMap` hasher for [`ZoneHour`] keys: one multiply-xorshift round instead of SipHash
/// (keys come from our own data, not from an adversary).
#[derive(Clone, Copy, Debug, Default)]
pub struct ZoneHourHasher(u64);

impl std::hash::Hasher for ZoneHourHasher {
    fn finish(&self) -> u64 {
        let x = self.0.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        x ^ (x >> 32)
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ b as u64).wrapping_mul(0x100_0000_01B3);
        }
    }
    fn write_u16(&mut self, n: u16) {
        self.0 = (self.0.rotate_left(16) ^ n as u64).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    }
    fn write_i64(&mut self, n: i64) {
        self.0 = (self.0 ^ n as u64).wrapping_mul(0x94D0_49BB_1331_11EB);
    }
}

/// A `HashMap` keyed by [`ZoneHour`] with the fast hasher.
pub type ZoneHourMap<V> =
    std::collections::HashMap<ZoneHour, V, std::hash::BuildHasherDefault<ZoneHourHasher>>;

/// An exact running sum of a nullable column: the mean is `sum / count` over non-null values.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct ExactMean {
    /// Sum of the non-null values, in millionths.
    pub sum: i128,
    /// How many non-null values were added.
    pub count: i64,
}

impl ExactMean {
    /// Adds (`sign = 1`) or removes (`sign = -1`) a value; `None` changes nothing.
    pub fn add(&mut self, value: Option<Micros>, sign: i64) {
        if let Some(v) = value {
            self.sum += v as i128 * sign as i128;
            self.count += sign;
        }
    }

    /// Merges another partial sum into this one.
    pub fn merge(&mut self, other: &ExactMean) {
        self.sum += other.sum;
        self.count += other.count;
    }

    /// The mean rounded to millionths (half away from zero), or `None` without values.
    pub fn mean_micros(&self) -> Option<i128> {
        if self.count <= 0 {
            return None;
        }
        let n = self.count as i128;
        let q = self.sum / n;
        let r = self.sum % n;
        Some(if 2 * r.abs() >= n {
            q + self.sum.signum()
        } else {
            q
        })
    }

    /// The mean as a decimal string (`13.5`, `2.533333`), or the empty string without values.
    pub fn format(&self) -> String {
        self.mean_micros().map(format_micros).unwrap_or_default()
    }

    /// The mean as a float (for models and tests), `None` without values.
    pub fn mean(&self) -> Option<f64> {
        self.mean_micros().map(|m| m as f64 / 1e6)
    }
}

/// Writes a millionths value as a plain decimal without trailing zeros: `2500000` -> `2.5`.
pub fn format_micros(value: i128) -> String {
    let mut out = String::new();
    push_micros(&mut out, value);
    out
}

/// Appends a millionths value as a plain decimal without trailing zeros (no allocation).
pub fn push_micros(out: &mut String, value: i128) {
    if value < 0 {
        out.push('-');
    }
    let abs = value.unsigned_abs();
    let (int, mut frac) = (abs / 1_000_000, (abs % 1_000_000) as u32);
    match u64::try_from(int) {
        Ok(int) => push_u64(out, int),
        Err(_) => {
            use std::fmt::Write;
            let _ = write!(out, "{int}");
        }
    }
    if frac != 0 {
        out.push('.');
        let mut digits = 6;
        while frac % 10 == 0 {
            frac /= 10;
            digits -= 1;
        }
        let mut buf = [b'0'; 6];
        for slot in buf[..digits].iter_mut().rev() {
            *slot = b'0' + (frac % 10) as u8;
            frac /= 10;
        }
        out.push_str(std::str::from_utf8(&buf[..digits]).expect("digits"));
    }
}

/// Appends an unsigned integer in decimal.
pub fn push_u64(out: &mut String, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.push_str(std::str::from_utf8(&buf[i..]).expect("digits"));
}

/// What zonecast keeps per (zone, hour): the pickup count and exact means.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct HourlyStats {
    /// Number of accepted trips picked up in this zone during this hour.
    pub pickups: i64,
    /// Mean `trip_distance` (miles).
    pub distance: ExactMean,
    /// Mean `fare_amount` (dollars).
    pub fare: ExactMean,
    /// Mean `total_amount` (dollars).
    pub total: ExactMean,
}

impl HourlyStats {
    /// Adds (`sign = 1`) or removes (`sign = -1`) one trip.
    pub fn add_trip(&mut self, trip: &Trip, sign: i64) {
        self.pickups += sign;
        self.distance.add(trip.distance, sign);
        self.fare.add(trip.fare, sign);
        self.total.add(trip.total, sign);
    }

    /// Merges a partial aggregate (e.g. one epoch's delta) into this one.
    pub fn merge(&mut self, other: &HourlyStats) {
        self.pickups += other.pickups;
        self.distance.merge(&other.distance);
        self.fare.merge(&other.fare);
        self.total.merge(&other.total);
    }

    /// True when no trips are left (the key disappears from the table).
    pub fn is_empty(&self) -> bool {
        self.pickups == 0
    }
}

/// The header of the hourly table written by `zonecast aggregate`.
pub const HOURLY_HEADER: &str = "zone,hour,pickups,mean_distance,mean_fare,mean_total";

/// One line of the hourly table (no newline), in [`HOURLY_HEADER`] order.
pub fn hourly_row(key: &ZoneHour, stats: &HourlyStats) -> String {
    let mut line = String::with_capacity(64);
    push_hourly_row(&mut line, key, &format_hour(key.hour), stats);
    line
}

/// Appends one line of the hourly table (no newline) with a pre-formatted hour label.
pub fn push_hourly_row(out: &mut String, key: &ZoneHour, hour_label: &str, stats: &HourlyStats) {
    push_u64(out, key.zone as u64);
    out.push(',');
    out.push_str(hour_label);
    out.push(',');
    if stats.pickups < 0 {
        out.push('-');
    }
    push_u64(out, stats.pickups.unsigned_abs());
    for mean in [&stats.distance, &stats.fare, &stats.total] {
        out.push(',');
        if let Some(m) = mean.mean_micros() {
            push_micros(out, m);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn means_are_exact_and_rounded() {
        let mut m = ExactMean::default();
        for v in [1_000_000, 1_000_000, 2_000_000] {
            m.add(Some(v), 1);
        }
        m.add(None, 1);
        assert_eq!(m.format(), "1.333333");
        m.add(Some(2_000_000), -1);
        assert_eq!(m.format(), "1");
        let mut neg = ExactMean::default();
        neg.add(Some(-5), 1);
        neg.add(Some(-2), 1);
        assert_eq!(neg.mean_micros(), Some(-4));
        assert_eq!(ExactMean::default().format(), "");
        assert_eq!(format_micros(-2_500_000), "-2.5");
        assert_eq!(format_micros(5), "0.000005");
    }
}
