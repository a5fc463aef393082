//! The three baselines, as models: a feature row in, a forecast out.
//!
//! - `previous_hour`: pickups in the hour before the target.
//! - `same_hour_last_week`: pickups in the same hour one week before.
//! - `four_week_mean`: mean of the same hour over the previous four weeks (over the weeks that
//!   lie within the data when fewer than four do).
//!
//! Each falls back along `four_week_mean -> same_hour_last_week -> previous_hour -> 0` when
//! the hours it needs are before the data begins.

use serde::{Deserialize, Serialize};

use crate::features::FeatureRow;

/// A baseline forecaster.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Baseline {
    /// The previous hour's pickups.
    PreviousHour,
    /// The same hour last week.
    SameHourLastWeek,
    /// The mean of the same hour over the previous four weeks.
    FourWeekMean,
}

impl Baseline {
    /// Every baseline, in report order.
    pub const ALL: [Baseline; 3] = [
        Baseline::PreviousHour,
        Baseline::SameHourLastWeek,
        Baseline::FourWeekMean,
    ];

    /// The name used in reports and `--model`.
    pub fn name(self) -> &'static str {
        match self {
            Baseline::PreviousHour => "previous_hour",
            Baseline::SameHourLastWeek => "same_hour_last_week",
            Baseline::FourWeekMean => "four_week_mean",
        }
    }

    /// The forecast for `row`, whose history follows `offsets`.
    pub fn predict(self, row: &FeatureRow, offsets: &[u32]) -> f64 {
        let at = |o| row.at(offsets, o).map(f64::from);
        let previous = || at(1).unwrap_or(0.0);
        let last_week = || at(168).unwrap_or_else(previous);
        match self {
            Baseline::PreviousHour => previous(),
            Baseline::SameHourLastWeek => last_week(),
            Baseline::FourWeekMean => {
                let weeks: Vec<f64> = (1..=4).filter_map(|w| at(168 * w)).collect();
                if weeks.is_empty() {
                    last_week()
                } else {
                    weeks.iter().sum::<f64>() / weeks.len() as f64
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::FeatureSpec;

    #[test]
    fn baselines_and_fallbacks() {
        let spec = FeatureSpec::new(vec![1], 0);
        let offsets = spec.offsets();
        assert_eq!(offsets, vec![1, 168, 336, 504, 672]);
        let row = |h: Vec<Option<u32>>| FeatureRow {
            zone: 1,
            target_hour: 1000,
            history: h,
            complete: true,
            sums: Vec::new(),
        };
        let full = row(vec![Some(10), Some(4), Some(6), Some(8), Some(2)]);
        assert_eq!(Baseline::PreviousHour.predict(&full, &offsets), 10.0);
        assert_eq!(Baseline::SameHourLastWeek.predict(&full, &offsets), 4.0);
        assert_eq!(Baseline::FourWeekMean.predict(&full, &offsets), 5.0);
        let young = row(vec![Some(3), Some(9), None, None, None]);
        assert_eq!(Baseline::FourWeekMean.predict(&young, &offsets), 9.0);
        let newborn = row(vec![Some(3), None, None, None, None]);
        assert_eq!(Baseline::FourWeekMean.predict(&newborn, &offsets), 3.0);
    }
}
