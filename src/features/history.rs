//! Pickup history: hourly counts in, [`FeatureRow`]s out.
//!
//! A dense view of pickups per zone and hour over the zones it knows: an hour without trips
//! is 0 from the first hour of data on, and unknown before it. Both the batch path (training,
//! evaluation) and the streaming feature operator build their rows here.

use std::collections::BTreeSet;

use crate::features::{FeatureRow, FeatureSpec};
use crate::trip::{ZoneHour, ZoneHourMap};

/// Hours per block of counts: a row's lags 1 to 24 lie in at most two blocks.
const BLOCK: i64 = 32;

/// The counts of one zone over [`BLOCK`] consecutive hours.
type Block = Box<[u32; BLOCK as usize]>;

/// Pickups per zone and hour.
///
/// Counts are kept in blocks of [`BLOCK`] hours per zone, keyed by (zone, hour / BLOCK): a
/// row's 28 offsets take a handful of lookups rather than one search each. A block exists
/// only while it has a count above 0, so two histories of the same counts are equal.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PickupHistory {
    blocks: ZoneHourMap<Block>,
    zones: BTreeSet<u16>,
    first_hour: Option<i64>,
    pinned: bool,
}

/// The block key of an hour and the hour's place in it.
fn locate(zone: u16, hour: i64) -> (ZoneHour, usize) {
    let key = ZoneHour {
        hour: hour.div_euclid(BLOCK),
        zone,
    };
    (key, hour.rem_euclid(BLOCK) as usize)
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
        if !self.zones.contains(&zone) {
            self.zones.insert(zone);
        }
        if !self.pinned {
            self.first_hour = Some(self.first_hour.map_or(hour, |f| f.min(hour)));
        }
        let (key, at) = locate(zone, hour);
        if pickups > 0 {
            self.blocks
                .entry(key)
                .or_insert_with(|| Box::new([0; BLOCK as usize]))[at] = pickups;
        } else if let Some(block) = self.blocks.get_mut(&key) {
            block[at] = 0;
            if block.iter().all(|&n| n == 0) {
                self.blocks.remove(&key);
            }
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
            Some(first) if hour >= first => Some(self.count(zone, hour)),
            _ => None,
        }
    }

    /// The stored count (0 when absent), whatever the first hour.
    fn count(&self, zone: u16, hour: i64) -> u32 {
        let (key, at) = locate(zone, hour);
        self.blocks.get(&key).map_or(0, |block| block[at])
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
        self.blocks
            .iter()
            .map(|(key, block)| {
                let last = block
                    .iter()
                    .rposition(|&n| n > 0)
                    .expect("blocks hold a count");
                key.hour * BLOCK + last as i64
            })
            .max()
    }

    /// The feature row of `zone` for `target_hour`.
    pub fn row(
        &self,
        spec: &FeatureSpec,
        offsets: &[u32],
        zone: u16,
        target_hour: i64,
    ) -> FeatureRow {
        // Offsets ascend, so hours descend: each block is looked up once.
        let mut cached: Option<(ZoneHour, Option<&Block>)> = None;
        let first = self.first_hour.unwrap_or(i64::MAX);
        let history: Vec<Option<u32>> = offsets
            .iter()
            .map(|&o| {
                let hour = target_hour - o as i64;
                if hour < first {
                    return None;
                }
                let (key, at) = locate(zone, hour);
                let block = match cached {
                    Some((k, block)) if k == key => block,
                    _ => {
                        let block = self.blocks.get(&key);
                        cached = Some((key, block));
                        block
                    }
                };
                Some(block.map_or(0, |b| b[at]))
            })
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
        let mut hour = target_hour - 1;
        let from = target_hour - widest as i64;
        while hour >= from {
            let (key, at) = locate(zone, hour);
            // This block's hours from `from` (or its start) up to `hour`.
            let low = (hour - at as i64).max(from);
            if let Some(block) = self.blocks.get(&key) {
                for h in (low..=hour).rev() {
                    let pickups = block[(h - key.hour * BLOCK) as usize];
                    if pickups > 0 {
                        let back = (target_hour - h) as u32;
                        let first = windows.partition_point(|&w| w < back);
                        for sum in &mut sums[first..] {
                            *sum += pickups;
                        }
                    }
                }
            }
            hour = low - 1;
        }
        sums
    }

    /// Forgets counts before `hour` (rows for targets earlier than `hour + horizon` then lose
    /// history, so only forget what no target in retention needs).
    pub fn forget_before(&mut self, hour: i64) {
        let (edge, at) = locate(0, hour);
        self.blocks.retain(|key, block| {
            if key.hour < edge.hour {
                return false;
            }
            if key.hour == edge.hour && at > 0 {
                block[..at].fill(0);
                return block.iter().any(|&n| n > 0);
            }
            true
        });
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

    #[test]
    fn blocks_agree_with_a_plain_map() {
        // Seeded counts over negative and positive hours, zeros included, then forgetting.
        let spec = FeatureSpec::default().with_trends(true);
        let offsets = spec.offsets();
        let mut plain = std::collections::BTreeMap::new();
        let mut history = PickupHistory::new();
        let mut x = 7u64;
        for _ in 0..5000 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let (zone, hour, n) = (
                (x >> 60) as u16,
                ((x >> 20) % 1500) as i64 - 700,
                (x >> 8) % 4,
            );
            history.set(zone, hour, n as u32);
            plain.insert((zone, hour), n as u32);
        }
        let count = |plain: &std::collections::BTreeMap<(u16, i64), u32>, z, h| {
            plain.get(&(z, h)).copied().unwrap_or(0)
        };
        let check = |history: &PickupHistory, plain: &std::collections::BTreeMap<_, _>, from| {
            for zone in 0..16 {
                for target in (from..900).step_by(7) {
                    let row = history.row(&spec, &offsets, zone, target);
                    for (o, got) in offsets.iter().zip(&row.history) {
                        assert_eq!(*got, Some(count(plain, zone, target - *o as i64)));
                    }
                    for (w, sum) in spec.windows().iter().zip(&row.sums) {
                        let want: u32 = (1..=*w as i64)
                            .map(|b| count(plain, zone, target - b))
                            .sum();
                        assert_eq!(*sum, want, "zone {zone} target {target} window {w}");
                    }
                }
            }
        };
        assert_eq!(history.first_hour(), Some(-700));
        check(&history, &plain, -700 + 700);
        let last = plain
            .iter()
            .filter(|(_, &n)| n > 0)
            .map(|((_, h), _)| *h)
            .max();
        assert_eq!(history.last_hour(), last);
        history.forget_before(-301);
        plain.retain(|(_, h), _| *h >= -301);
        check(&history, &plain, -301 + 700);
        // A history of the same counts is equal, whatever zeros were set on the way.
        let same = PickupHistory::from_counts(
            plain
                .iter()
                .filter(|(_, &n)| n > 0)
                .map(|(&(z, h), &n)| (z, h, n)),
        );
        let mut pinned = history.clone();
        pinned.first_hour = same.first_hour;
        assert_eq!(pinned, same);
    }
}
