//! Where a restarted dataflow resumes: a checkpoint's dataflow state in, each operator's
//! seed out.
//!
//! A live job that restarts from a checkpoint taken after epoch `e` rebuilds its operators'
//! state from what the checkpoint kept instead of from the trips it read: the hourly
//! aggregates the feature rows still read (and every hour still open), the zones known, and the
//! watermark states before and after epoch `e`. The restarted dataflow re-emits that state as
//! its own epoch `e` (the *restore epoch*: aggregates, feature rows and forecasts all inserted
//! at once, which the hub applies to nothing but the subscribers' consolidated view) and reads
//! its inputs from epoch `e + 1` on, exactly as the uninterrupted run would have.

use serde::{Deserialize, Serialize};

use crate::trip::{HourlyStats, ZoneHour};
use crate::watermark::WatermarkState;

/// A dataflow's state after one epoch, as a checkpoint keeps it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Resume {
    /// The last epoch the checkpoint reflects (the restore epoch).
    pub epoch: u64,
    /// The watermark state the restore epoch started from (after epoch `epoch - 1`).
    pub before: WatermarkState,
    /// The watermark state after the restore epoch (what epoch `epoch + 1` starts from).
    pub after: WatermarkState,
    /// Hourly aggregates of every hour still open or still read by feature rows.
    pub hourly: Vec<(ZoneHour, HourlyStats)>,
    /// Every zone the feature rows know (including zones without a recent hour).
    pub zones: Vec<u16>,
}

impl Resume {
    /// The hourly aggregates that live on worker `index` of `peers` (routed as the trips are).
    pub fn hourly_of(&self, index: usize, peers: usize) -> Vec<(ZoneHour, HourlyStats)> {
        let peers = peers.max(1) as u64;
        self.hourly
            .iter()
            .filter(|(key, _)| key.route() % peers == index as u64)
            .copied()
            .collect()
    }

    /// The zones whose feature rows live on worker `index` of `peers` (routed by zone).
    pub fn zones_of(&self, index: usize, peers: usize) -> Vec<u16> {
        let peers = peers.max(1) as u64;
        self.zones
            .iter()
            .filter(|zone| **zone as u64 % peers == index as u64)
            .copied()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_and_zone_lands_on_exactly_one_worker() {
        let resume = Resume {
            hourly: (0..50)
                .map(|i| {
                    let key = ZoneHour {
                        zone: i % 7,
                        hour: 1000 + i as i64,
                    };
                    (key, HourlyStats::default())
                })
                .collect(),
            zones: (1..20).collect(),
            ..Resume::default()
        };
        for peers in [1, 2, 3, 4] {
            let keys: usize = (0..peers).map(|w| resume.hourly_of(w, peers).len()).sum();
            let zones: usize = (0..peers).map(|w| resume.zones_of(w, peers).len()).sum();
            assert_eq!((keys, zones), (50, 19));
        }
    }
}
