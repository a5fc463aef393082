//! The forecast table: forecast updates in, the current forecast per (zone, target hour) out,
//! and at the end the final forecasts sorted by zone, then target hour.

use std::collections::BTreeMap;

use crate::forecast::ZoneForecast;
use crate::trip::{ZoneHour, ZoneHourMap};

/// The forecasts held, with their multiplicities, per (zone, target hour).
///
/// A key nearly always holds one forecast; while an epoch's new forecast and the retraction of
/// the old one are both pending, the second one waits in a small ordered map.
#[derive(Clone, Debug, Default)]
pub struct ForecastTable {
    rows: ZoneHourMap<(ZoneForecast, isize)>,
    others: BTreeMap<ZoneForecast, isize>,
}

impl ForecastTable {
    /// Applies updates in any order.
    pub fn apply(&mut self, updates: impl IntoIterator<Item = (ZoneForecast, isize)>) {
        for (forecast, diff) in updates {
            let key = ZoneHour {
                hour: forecast.target_hour,
                zone: forecast.zone,
            };
            match self.rows.get_mut(&key) {
                None => {
                    self.rows.insert(key, (forecast, diff));
                }
                Some((held, count)) if *held == forecast => {
                    *count += diff;
                    if *count == 0 {
                        self.rows.remove(&key);
                        self.promote(key);
                    }
                }
                Some(_) => {
                    let count = self.others.entry(forecast).or_default();
                    *count += diff;
                    if *count == 0 {
                        self.others.retain(|_, n| *n != 0);
                    }
                }
            }
        }
    }

    /// Moves a waiting forecast of `key`, if any, into the main table.
    fn promote(&mut self, key: ZoneHour) {
        let waiting = self
            .others
            .keys()
            .find(|f| f.zone == key.zone && f.target_hour == key.hour)
            .cloned();
        if let Some(forecast) = waiting {
            let count = self.others.remove(&forecast).expect("present");
            self.rows.insert(key, (forecast, count));
        }
    }

    /// The forecasts held with a positive count, sorted (by zone, then target hour).
    pub fn into_sorted(self) -> Vec<ZoneForecast> {
        let mut forecasts: Vec<ZoneForecast> = self
            .rows
            .into_values()
            .chain(self.others)
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
        // Three at once; the held one goes first.
        table.apply([
            (forecast(3, 9, 1), 1),
            (forecast(3, 9, 2), 1),
            (forecast(3, 9, 3), 1),
        ]);
        table.apply([(forecast(3, 9, 1), -1), (forecast(3, 9, 3), -1)]);
        assert_eq!(table.others.len(), 0);
        assert_eq!(
            table.into_sorted(),
            vec![forecast(2, 10, 6), forecast(3, 9, 2)]
        );
    }
}
