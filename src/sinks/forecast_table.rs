//! The forecast table: forecast updates in, the current forecast per (zone, target hour) out,
//! target hours as they become final ([`FinalTable`](crate::sinks::final_rows::FinalTable)).

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
}

impl crate::sinks::final_rows::FinalTable for ForecastTable {
    type Update = ZoneForecast;
    type Row = ZoneForecast;

    fn apply(&mut self, updates: Vec<(Self::Update, isize)>) {
        ForecastTable::apply(self, updates);
    }

    fn hour(update: &Self::Update) -> i64 {
        update.target_hour
    }

    /// The forecasts held with a positive count for target hours before `hour`.
    fn release_before(&mut self, hour: i64) -> Vec<Self::Row> {
        let mut released: Vec<ZoneForecast> = self
            .rows
            .extract_if(|key, _| key.hour < hour)
            .filter(|(_, (_, n))| *n > 0)
            .map(|(_, (f, _))| f)
            .collect();
        if !self.others.is_empty() {
            let (done, waiting) = std::mem::take(&mut self.others)
                .into_iter()
                .partition(|(f, _)| f.target_hour < hour);
            self.others = waiting;
            let done: BTreeMap<ZoneForecast, isize> = done;
            released.extend(done.into_iter().filter(|(_, n)| *n > 0).map(|(f, _)| f));
        }
        released
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sinks::final_rows::FinalTable;

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
        let mut held = table.release_before(i64::MAX);
        held.sort();
        assert_eq!(held, vec![forecast(2, 10, 6), forecast(3, 9, 2)]);
    }

    #[test]
    fn releases_final_target_hours_once_including_waiting_ones() {
        let mut table = ForecastTable::default();
        table.apply([(forecast(1, 9, 1), 1), (forecast(2, 10, 2), 1)]);
        // A new forecast for (1, 9) waits beside the held one; one for (4, 12) stays open.
        table.apply([(forecast(1, 9, 3), 1), (forecast(4, 12, 4), 1)]);
        table.apply([(forecast(1, 9, 1), -1)]);
        table.apply([(forecast(5, 8, 5), 1), (forecast(5, 8, 5), -1)]);
        let mut released = table.release_before(11);
        released.sort();
        assert_eq!(released, vec![forecast(1, 9, 3), forecast(2, 10, 2)]);
        assert!(table.release_before(11).is_empty());
        assert_eq!(table.release_before(i64::MAX), vec![forecast(4, 12, 4)]);
        // Waiting forecasts (a second one for a held key) are released too.
        table.apply([(forecast(6, 7, 1), 1), (forecast(6, 7, 2), 1)]);
        let mut released = FinalTable::release_before(&mut table, 8);
        released.sort();
        assert_eq!(released, vec![forecast(6, 7, 1), forecast(6, 7, 2)]);
    }
}
