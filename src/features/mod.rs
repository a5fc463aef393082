//! Feature rows: hourly pickup counts in, one row per (zone, target hour) out.
//!
//! The same code builds the rows for training, evaluation, batch scoring and the streaming
//! dataflow, so a model never sees features computed differently from what it was trained on.
//! A [`FeatureRow`] keeps the exact integer pickups it needs (at every lag and every same-hour
//! week offset, counted from the target hour backwards) and the target hour; the model's
//! vector ([`FeatureSpec::vector`]) is derived from it: the lags, the mean of the same hour over
//! the previous weeks, hour of day, day of week and a weekend flag. Hours without trips count 0.

pub mod history;
pub mod hourly_input;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Offsets the baselines read: the previous hour and the same hour 1 to 4 weeks back.
pub const BASELINE_OFFSETS: [u32; 5] = [1, 168, 336, 504, 672];

/// Which history a model sees.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FeatureSpec {
    /// Lags in hours before the target hour (each >= 1), ascending.
    pub lags: Vec<u32>,
    /// Weeks averaged for the same-hour mean (`same hour` 168, 336, ... hours back).
    pub same_hour_weeks: u32,
    /// Whether the vector also has the trend features: the mean pickups per hour over the last
    /// 3, 6 and 24 hours and over the last `same_hour_weeks` weeks (the zone's level), and the
    /// last hour minus the same hour a week before. Off by default; specs of model files
    /// written before these features existed have none.
    pub trends: bool,
}

impl Default for FeatureSpec {
    /// Lags 1..=24, 168, 336, 504, 672 and the 4-week same-hour mean, without trends.
    fn default() -> Self {
        let mut lags: Vec<u32> = (1..=24).collect();
        lags.extend([168, 336, 504, 672]);
        FeatureSpec {
            lags,
            same_hour_weeks: 4,
            trends: false,
        }
    }
}

/// A feature spec that cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SpecError {
    /// The lag list is not `N`, `A-B` items separated by commas, or has a lag of 0.
    #[error("cannot read lags {0:?}: write hours >= 1 as a comma list of N or A-B, e.g. 1-24,168")]
    BadLags(String),
}

impl FeatureSpec {
    /// A spec with these lags (deduplicated, sorted) and same-hour weeks, without the trend
    /// features (see [`FeatureSpec::with_trends`]).
    pub fn new(mut lags: Vec<u32>, same_hour_weeks: u32) -> Self {
        lags.sort_unstable();
        lags.dedup();
        FeatureSpec {
            lags,
            same_hour_weeks,
            trends: false,
        }
    }

    /// The same spec with or without the trend features. They help on generated trips and
    /// hurt on the real January 2022 counts (README, "Forecasting"), so they are off unless asked
    /// for.
    pub fn with_trends(mut self, trends: bool) -> Self {
        self.trends = trends;
        self
    }

    /// The windows (hours before the target) whose pickups a row sums, ascending: 3, 6 and 24
    /// hours and `same_hour_weeks` weeks when the spec has trends, else none.
    pub fn windows(&self) -> Vec<u32> {
        if !self.trends {
            return Vec::new();
        }
        let mut windows = vec![3, 6, 24];
        if self.same_hour_weeks > 0 {
            windows.push(168 * self.same_hour_weeks); // at least 168: still ascending
        }
        windows
    }

    /// Parses a lag list such as `1-24,168,336`.
    pub fn parse_lags(text: &str) -> Result<Vec<u32>, SpecError> {
        let bad = || SpecError::BadLags(text.to_string());
        let mut lags = Vec::new();
        for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            match item.split_once('-') {
                Some((a, b)) => {
                    let (a, b): (u32, u32) = (
                        a.trim().parse().map_err(|_| bad())?,
                        b.trim().parse().map_err(|_| bad())?,
                    );
                    if a == 0 || b < a || b - a > 10_000 {
                        return Err(bad());
                    }
                    lags.extend(a..=b);
                }
                None => lags.push(item.parse().map_err(|_| bad()).and_then(|l| {
                    if l == 0 {
                        Err(bad())
                    } else {
                        Ok(l)
                    }
                })?),
            }
        }
        if lags.is_empty() {
            return Err(bad());
        }
        Ok(lags)
    }

    /// Every hour offset (before the target) whose pickups a row stores, ascending: the
    /// model's lags and same-hour weeks, and the baselines' (1 h and 1 to 4 weeks).
    pub fn offsets(&self) -> Vec<u32> {
        let mut offsets = self.lags.clone();
        offsets.extend((1..=self.same_hour_weeks).map(|w| 168 * w));
        offsets.extend(BASELINE_OFFSETS);
        offsets.sort_unstable();
        offsets.dedup();
        offsets
    }

    /// How many hours of history the model's features need (its largest offset).
    pub fn horizon(&self) -> u32 {
        let weeks = 168 * self.same_hour_weeks;
        let windows = self.windows().last().copied().unwrap_or(0);
        self.lags
            .iter()
            .copied()
            .max()
            .unwrap_or(0)
            .max(weeks)
            .max(windows)
    }

    /// The names of the vector's entries, in order.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.lags.iter().map(|l| format!("lag_{l}h")).collect();
        if self.same_hour_weeks > 0 {
            names.push(format!("same_hour_mean_{}w", self.same_hour_weeks));
        }
        names.extend(["hour_of_day", "day_of_week", "weekend"].map(String::from));
        if self.trends {
            names.extend(self.windows().iter().map(|&w| match w % 168 {
                0 => format!("level_{}w", w / 168),
                _ => format!("mean_{w}h"),
            }));
            names.push("last_hour_minus_last_week".into());
        }
        names
    }

    /// The model input for a row: lags, same-hour mean, hour of day, day of week (Monday 0),
    /// weekend flag; then, with trends, the mean pickups per hour over each window and the last
    /// hour minus the same hour a week before.
    pub fn vector(&self, row: &FeatureRow) -> Vec<f64> {
        self.vectors(&[row]).pop().expect("one row")
    }

    /// The model inputs for many rows (positions of the offsets are looked up once).
    pub fn vectors(&self, rows: &[&FeatureRow]) -> Vec<Vec<f64>> {
        let offsets = self.offsets();
        let index = |offset: u32| offsets.binary_search(&offset).expect("offset of this spec");
        let lag_index: Vec<usize> = self.lags.iter().map(|&l| index(l)).collect();
        let week_index: Vec<usize> = (1..=self.same_hour_weeks).map(|w| index(168 * w)).collect();
        let windows = self.windows();
        let (last_hour, last_week) = (index(1), index(168));
        rows.iter()
            .map(|row| {
                let at = |i: usize| row.history[i].unwrap_or(0) as f64;
                let mut v = Vec::with_capacity(lag_index.len() + 4);
                v.extend(lag_index.iter().map(|&i| at(i)));
                if !week_index.is_empty() {
                    let sum: f64 = week_index.iter().map(|&i| at(i)).sum();
                    v.push(sum / week_index.len() as f64);
                }
                let (hour_of_day, day_of_week) = calendar(row.target_hour);
                v.push(hour_of_day as f64);
                v.push(day_of_week as f64);
                v.push(if day_of_week >= 5 { 1.0 } else { 0.0 });
                if self.trends {
                    let sums = row.sums.iter().zip(&windows);
                    v.extend(sums.map(|(&sum, &w)| sum as f64 / w as f64));
                    v.push(at(last_hour) - at(last_week));
                }
                v
            })
            .collect()
    }
}

/// `(hour of day, day of week with Monday = 0)` of an hour bucket.
pub fn calendar(hour: i64) -> (u32, u32) {
    let day = hour.div_euclid(24);
    (hour.rem_euclid(24) as u32, (day + 3).rem_euclid(7) as u32)
}

impl fmt::Display for FeatureSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lags: Vec<String> = self.lags.iter().map(u32::to_string).collect();
        write!(
            f,
            "lags {} + {}-week same-hour mean",
            lags.join(","),
            self.same_hour_weeks
        )?;
        if self.trends {
            f.write_str(" + trends")?;
        }
        Ok(())
    }
}

impl FromStr for FeatureSpec {
    type Err = SpecError;
    /// `1-24,168` (lags; the same-hour mean uses 4 weeks).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Ok(FeatureSpec::new(FeatureSpec::parse_lags(text)?, 4))
    }
}

/// The history of one zone before one target hour: what a forecast for that hour may use.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct FeatureRow {
    /// The zone.
    pub zone: u16,
    /// The hour being forecast (hour bucket).
    pub target_hour: i64,
    /// Pickups at each of [`FeatureSpec::offsets`] hours before the target: `Some(0)` for an
    /// hour without trips, `None` for an hour before the data begins.
    pub history: Vec<Option<u32>>,
    /// Whether the model's offsets all lie within the data (else a baseline is served).
    pub complete: bool,
    /// Pickups summed over each of [`FeatureSpec::windows`] (the hours just before the target;
    /// hours before the data begins count 0).
    pub sums: Vec<u32>,
}

impl FeatureRow {
    /// Pickups `offset` hours before the target, if that hour is within the data.
    pub fn at(&self, spec_offsets: &[u32], offset: u32) -> Option<u32> {
        spec_offsets
            .binary_search(&offset)
            .ok()
            .and_then(|i| self.history[i])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lag_lists() {
        assert_eq!(
            FeatureSpec::parse_lags("1-3, 168").unwrap(),
            vec![1, 2, 3, 168]
        );
        assert!(FeatureSpec::parse_lags("0-3").is_err());
        assert!(FeatureSpec::parse_lags("x").is_err());
        assert!(FeatureSpec::parse_lags("").is_err());
        let spec: FeatureSpec = "24,1-2,2".parse().unwrap();
        assert_eq!(spec.lags, vec![1, 2, 24]);
        assert_eq!(spec.offsets(), vec![1, 2, 24, 168, 336, 504, 672]);
        assert_eq!(spec.horizon(), 672);
        assert_eq!(FeatureSpec::new(vec![1, 24], 2).horizon(), 336);
    }

    #[test]
    fn vector_layout() {
        let spec = FeatureSpec::new(vec![1, 168], 2).with_trends(true);
        // 2024-01-06 is a Saturday.
        let hour = crate::time::days_from_civil(2024, 1, 6) * 24 + 13;
        assert_eq!(spec.offsets(), vec![1, 168, 336, 504, 672]);
        let history = vec![Some(5), Some(7), Some(9), None, None];
        let row = FeatureRow {
            zone: 1,
            target_hour: hour,
            history,
            complete: true,
            sums: vec![12, 18, 48, 672],
        };
        let plain = spec.clone().with_trends(false);
        assert_eq!(plain.vector(&row), vec![5.0, 7.0, 8.0, 13.0, 5.0, 1.0]);
        assert_eq!(plain.names().len(), 6);
        assert_eq!(spec.windows(), vec![3, 6, 24, 336]);
        assert_eq!(
            spec.vector(&row),
            vec![5.0, 7.0, 8.0, 13.0, 5.0, 1.0, 4.0, 3.0, 2.0, 2.0, -2.0]
        );
        assert_eq!(
            spec.names()[6..],
            [
                "mean_3h",
                "mean_6h",
                "mean_24h",
                "level_2w",
                "last_hour_minus_last_week"
            ]
        );
    }
}
