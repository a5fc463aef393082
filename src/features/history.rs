//! Pickup history: hourly counts in, [`FeatureRow`]s out.
//!
//! A dense view of pickups per zone and hour over the zones it knows: an hour without trips
//! is 0 from the first hour of data on, and unknown before it. Both the batch path (training,
//! evaluation) and the streaming feature operator build their rows here.

use std::collections::{BTreeMap, BTreeSet};

use crate::features::{FeatureRow, FeatureSpec};

/// Pickups per zone and hour.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PickupHistory {
    counts: BTreeMap<(u16, i64), u32>,
    zones: BTreeSet<u16>,
    first_hour: Option<i64>,
    pinned: bool,
}

impl PickupHistory {
    /// An empty history.
    pub fn new() -> Self {
        PickupHistory::default()
    }

    /// A history from `(zone, hour, pickups)` triples.
    pub fn from_counts(counts: impl IntoIterator<Item = (u16, i64, u32)>) -> Self {
        let mut history = PickupHistory::new();
        for (zone, hour, pickups) in counts {
            history.set(zone, hour, pickups);
        }
        history
    }

    /// Sets the pickups of a zone in an hour (0 removes the entry; the zone stays known).
    pub fn set(&mut self, zone: u16, hour: i64, pickups: u32) {
        self.zones.insert(zone);
        if !self.pinned {
            self.first_hour = Some(self.first_hour.map_or(hour, |f| f.min(hour)));
        }
        if pickups == 0 {
            self.counts.remove(&(zone, hour));
        } else {
            self.counts.insert((zone, hour), pickups);
        }
    }

    /// Declares a zone known (it gets rows even before its first trip).
    pub fn add_zone(&mut self, zone: u16) {
        self.zones.insert(zone);
    }

    /// Declares the first hour of data (hours before it are unknown, not zero).
    pub fn set_first_hour(&mut self, hour: i64) {
        self.first_hour = Some(self.first_hour.map_or(hour, |f| f.min(hour)));
    }

    /// Fixes the first hour of data (later counts no longer move it): the streaming dataflow
    /// takes it from the watermark state, so every worker and the batch path agree.
    pub fn pin_first_hour(&mut self, hour: i64) {
        self.first_hour = Some(hour);
        self.pinned = true;
    }

    /// Pickups of a zone in an hour: `None` before the first hour of data.
    pub fn get(&self, zone: u16, hour: i64) -> Option<u32> {
        match self.first_hour {
            Some(first) if hour >= first => {
                Some(self.counts.get(&(zone, hour)).copied().unwrap_or(0))
            }
            _ => None,
        }
    }

    /// The zones known.
    pub fn zones(&self) -> &BTreeSet<u16> {
        &self.zones
    }

    /// The first hour of data.
    pub fn first_hour(&self) -> Option<i64> {
        self.first_hour
    }

    /// The last hour with any pickups.
    pub fn last_hour(&self) -> Option<i64> {
        self.counts.keys().map(|(_, h)| *h).max()
    }

    /// The feature row of `zone` for `target_hour`.
    pub fn row(
        &self,
        spec: &FeatureSpec,
        offsets: &[u32],
        zone: u16,
        target_hour: i64,
    ) -> FeatureRow {
        let history: Vec<Option<u32>> = offsets
            .iter()
            .map(|&o| self.get(zone, target_hour - o as i64))
            .collect();
        let complete = self
            .first_hour
            .is_some_and(|f| target_hour - spec.horizon() as i64 >= f);
        FeatureRow {
            zone,
            target_hour,
            history,
            complete,
            sums: self.window_sums(&spec.windows(), zone, target_hour),
        }
    }

    /// Pickups of `zone` summed over each window of hours just before `target_hour`
    /// (`windows` ascending), in one pass over the largest window.
    pub fn window_sums(&self, windows: &[u32], zone: u16, target_hour: i64) -> Vec<u32> {
        let Some(&widest) = windows.last() else {
            return Vec::new();
        };
        let mut sums = vec![0u32; windows.len()];
        let from = (zone, target_hour - widest as i64);
        for (&(_, hour), &pickups) in self.counts.range(from..(zone, target_hour)) {
            let back = (target_hour - hour) as u32;
            let first = windows.partition_point(|&w| w < back);
            for sum in &mut sums[first..] {
                *sum += pickups;
            }
        }
        sums
    }

    /// Forgets counts before `hour` (rows for targets earlier than `hour + horizon` then lose
    /// history, so only forget what no target in retention needs).
    pub fn forget_before(&mut self, hour: i64) {
        // Per zone, the old hours are one contiguous key range: cost follows what is removed,
        // not the whole map.
        for &zone in &self.zones {
            let old: Vec<(u16, i64)> = self
                .counts
                .range((zone, i64::MIN)..(zone, hour))
                .map(|(key, _)| *key)
                .collect();
            for key in old {
                self.counts.remove(&key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dense_with_unknown_before_first_hour() {
        let spec = FeatureSpec::new(vec![1, 2], 1);
        let offsets = spec.offsets();
        let h = PickupHistory::from_counts([(5, 100, 3), (5, 102, 4), (7, 101, 1)]);
        assert_eq!(h.get(5, 101), Some(0));
        assert_eq!(h.get(5, 99), None);
        let row = h.row(&spec, &offsets, 5, 103);
        assert_eq!(row.history[..2], [Some(4), Some(0)]);
        assert!(!row.complete);
        assert!(h.row(&spec, &offsets, 7, 100 + 168).complete);
    }
}
