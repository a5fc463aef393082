//! The hourly table: collection updates in, the current `(zone, hour) -> stats` table and its
//! CSV file out (sorted by hour, then zone).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use crate::time::format_hour;
use crate::trip::{push_hourly_row, HourlyStats, ZoneHour, HOURLY_HEADER};

/// The accumulated hourly aggregates.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HourlyTable {
    rows: BTreeMap<ZoneHour, HourlyStats>,
}

impl HourlyTable {
    /// Applies one epoch's sorted updates (retractions of a key come before its insertion).
    pub fn apply(&mut self, updates: &[((ZoneHour, HourlyStats), isize)]) {
        for ((key, stats), diff) in updates {
            if *diff < 0 {
                if self.rows.get(key) == Some(stats) {
                    self.rows.remove(key);
                }
            } else {
                self.rows.insert(*key, *stats);
            }
        }
    }

    /// Adds the rows of another table (a worker's share; keys must not overlap).
    pub fn merge(&mut self, other: HourlyTable) {
        if self.rows.is_empty() {
            self.rows = other.rows;
        } else {
            self.rows.extend(other.rows);
        }
    }

    /// The rows, sorted by hour then zone.
    pub fn rows(&self) -> &BTreeMap<ZoneHour, HourlyStats> {
        &self.rows
    }

    /// The table as CSV text (header included).
    pub fn to_csv(&self) -> String {
        let mut text = String::with_capacity(64 * (self.rows.len() + 1));
        text.push_str(HOURLY_HEADER);
        text.push('\n');
        let mut label = (i64::MIN, String::new());
        for (key, stats) in &self.rows {
            if label.0 != key.hour {
                label = (key.hour, format_hour(key.hour));
            }
            push_hourly_row(&mut text, key, &label.1, stats);
            text.push('\n');
        }
        text
    }

    /// Writes the CSV to `path`.
    pub fn write_csv(&self, path: &Path) -> std::io::Result<()> {
        let mut file = std::io::BufWriter::new(std::fs::File::create(path)?);
        file.write_all(self.to_csv().as_bytes())?;
        file.flush()
    }
}
