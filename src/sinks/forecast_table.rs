//! The forecast table: forecast updates in, the current forecast per (zone, target hour) out,
//! and at the end the final forecasts sorted by zone, then target hour.

use crate::forecast::ZoneForecast;
use crate::trip::{ZoneHour, ZoneHourMap};

/// The forecasts held, with their multiplicities, per (zone, target hour).
///
/// A key holds at most a few forecasts at once (an epoch may insert the new one before it
/// retracts the old), so each is a short list rather than a map ordered by the whole forecast.
#[derive(Clone, Debug, Default)]
pub struct ForecastTable {
    rows: ZoneHourMap<Vec<(ZoneForecast, isize)>>,
}

impl ForecastTable {
    /// Applies updates in any order.
    pub fn apply(&mut self, updates: impl IntoIterator<Item = (ZoneForecast, isize)>) {
        for (forecast, diff) in updates {
            let key = ZoneHour {
                hour: forecast.target_hour,
                zone: forecast.zone,
            };
            let held = self.rows.entry(key).or_default();
            match held.iter_mut().position(|(f, _)| *f == forecast) {
                Some(i) => {
                    held[i].1 += diff;
                    if held[i].1 == 0 {
                        held.swap_remove(i);
                    }
                }
                None => held.push((forecast, diff)),
            }
            if held.is_empty() {
                self.rows.remove(&key);
            }
        }
    }

    /// The forecasts held with a positive count, sorted (by zone, then target hour).
    pub fn into_sorted(self) -> Vec<ZoneForecast> {
        let mut forecasts: Vec<ZoneForecast> = self
            .rows
            .into_values()
            .flatten()
            .filter(|(_, n)| *n > 0)
            .map(|(f, _)| f)
            .collect();
        forecasts.sort_unstable();
        forecasts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forecast(zone: u16, hour: i64, milli: i64) -> ZoneForecast {
        ZoneForecast {
            zone,
            target_hour: hour,
            milli_pickups: milli,
            model_version: "v".into(),
            fallback: false,
        }
    }

    #[test]
    fn keeps_what_is_not_retracted_in_any_order() {
        let mut table = ForecastTable::default();
        table.apply([(forecast(2, 10, 5), 1), (forecast(1, 11, 7), 1)]);
        // The new forecast arrives before the old one's retraction.
        table.apply([(forecast(2, 10, 6), 1), (forecast(2, 10, 5), -1)]);
        table.apply([(forecast(1, 11, 7), -1)]);
        assert_eq!(table.into_sorted(), vec![forecast(2, 10, 6)]);
    }
}
