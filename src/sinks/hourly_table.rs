//! The hourly table: collection updates in, the current `(zone, hour) -> stats` table out, and
//! at the end a [`SortedTable`] (by hour, then zone) and its CSV file.

use std::io::Write;
use std::path::Path;

use crate::time::format_hour;
use crate::trip::{push_hourly_row, HourlyStats, ZoneHour, ZoneHourMap, HOURLY_HEADER};

/// The live hourly aggregates, updated epoch by epoch.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HourlyTable {
    rows: ZoneHourMap<HourlyStats>,
}

impl HourlyTable {
    /// Applies one epoch's updates; for each key, its retraction must come before its insertion
    /// (as the aggregate emits them, and as sorted updates are).
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

    /// Number of (zone, hour) rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether the table has no rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The statistics of one (zone, hour), if it has trips.
    pub fn get(&self, key: &ZoneHour) -> Option<&HourlyStats> {
        self.rows.get(key)
    }

    /// The rows sorted by hour, then zone.
    pub fn into_sorted(self) -> SortedTable {
        let mut rows: Vec<(ZoneHour, HourlyStats)> = self.rows.into_iter().collect();
        rows.sort_unstable_by_key(|(key, _)| *key);
        SortedTable { rows }
    }

    /// The table as CSV text (header included), sorted.
    pub fn to_csv(&self) -> String {
        self.clone().into_sorted().to_csv()
    }
}

impl crate::sinks::final_rows::FinalTable for HourlyTable {
    type Update = (ZoneHour, HourlyStats);
    type Row = (ZoneHour, HourlyStats);

    fn apply(&mut self, updates: Vec<(Self::Update, isize)>) {
        HourlyTable::apply(self, &updates);
    }

    fn hour(update: &Self::Update) -> i64 {
        update.0.hour
    }

    fn release_before(&mut self, hour: i64) -> Vec<Self::Row> {
        self.rows.extract_if(|key, _| key.hour < hour).collect()
    }
}

/// A finished hourly table, sorted by hour then zone.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SortedTable {
    rows: Vec<(ZoneHour, HourlyStats)>,
}

impl SortedTable {
    /// Merges the sorted tables of several workers (their keys must not overlap).
    pub fn merge(parts: impl IntoIterator<Item = SortedTable>) -> Self {
        let mut parts: Vec<Vec<(ZoneHour, HourlyStats)>> =
            parts.into_iter().map(|p| p.rows).collect();
        while parts.len() > 1 {
            let (b, a) = (parts.pop().expect("two"), parts.pop().expect("two"));
            parts.push(merge_two(a, b));
        }
        SortedTable {
            rows: parts.pop().unwrap_or_default(),
        }
    }

    /// The rows, sorted by hour then zone.
    pub fn rows(&self) -> &[(ZoneHour, HourlyStats)] {
        &self.rows
    }

    /// The statistics of one (zone, hour), if it has trips.
    pub fn get(&self, key: &ZoneHour) -> Option<&HourlyStats> {
        self.rows
            .binary_search_by_key(key, |(k, _)| *k)
            .ok()
            .map(|i| &self.rows[i].1)
    }

    /// The table as CSV text (header included); large tables are formatted on several threads.
    pub fn to_csv(&self) -> String {
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(8);
        let per_thread = self.rows.len().div_ceil(threads).max(16_384);
        let parts: Vec<String> = std::thread::scope(|scope| {
            let handles: Vec<_> = self
                .rows
                .chunks(per_thread)
                .map(|chunk| scope.spawn(move || format_rows(chunk)))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("formatting thread"))
                .collect()
        });
        let mut text = String::with_capacity(
            HOURLY_HEADER.len() + 1 + parts.iter().map(String::len).sum::<usize>(),
        );
        text.push_str(HOURLY_HEADER);
        text.push('\n');
        for part in parts {
            text.push_str(&part);
        }
        text
    }

    /// Writes the CSV to `path` (atomically: the old file or the whole new one, never half).
    pub fn write_csv(&self, path: &Path) -> std::io::Result<()> {
        let text = self.to_csv();
        crate::sinks::atomic_file::write_atomically(path, |file| file.write_all(text.as_bytes()))
    }
}

fn merge_two(
    a: Vec<(ZoneHour, HourlyStats)>,
    b: Vec<(ZoneHour, HourlyStats)>,
) -> Vec<(ZoneHour, HourlyStats)> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut a, mut b) = (a.into_iter().peekable(), b.into_iter().peekable());
    loop {
        let take_a = match (a.peek(), b.peek()) {
            (Some(x), Some(y)) => x.0 <= y.0,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => return out,
        };
        out.push(if take_a { a.next() } else { b.next() }.expect("peeked"));
    }
}

/// Formats sorted table rows as CSV lines; the hour label is formatted once per hour.
fn format_rows(rows: &[(ZoneHour, HourlyStats)]) -> String {
    let mut text = String::with_capacity(64 * rows.len());
    let mut label = (i64::MIN, String::new());
    for (key, stats) in rows {
        if label.0 != key.hour {
            label = (key.hour, format_hour(key.hour));
        }
        push_hourly_row(&mut text, key, &label.1, stats);
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sinks::final_rows::FinalTable;

    fn row(zone: u16, hour: i64, pickups: i64) -> (ZoneHour, HourlyStats) {
        let stats = HourlyStats {
            pickups,
            ..HourlyStats::default()
        };
        (ZoneHour { hour, zone }, stats)
    }

    #[test]
    fn releases_the_rows_of_hours_before_the_bound_once() {
        let mut table = HourlyTable::default();
        table.apply(&[(row(1, 5, 1), 1), (row(2, 6, 1), 1), (row(1, 7, 2), 1)]);
        table.apply(&[(row(1, 5, 1), -1), (row(1, 5, 3), 1)]);
        let mut released = table.release_before(7);
        released.sort();
        assert_eq!(released, vec![row(1, 5, 3), row(2, 6, 1)]);
        assert!(table.release_before(7).is_empty());
        assert_eq!(table.len(), 1);
        assert_eq!(table.release_before(i64::MAX), vec![row(1, 7, 2)]);
        assert!(table.is_empty());
    }
}
