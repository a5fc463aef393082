//! Pacing: event times in, how long to wait before releasing them out.
//!
//! `--speed 3600` replays one hour of event time per wall-clock second. All workers of a
//! process share one origin (the first batch released anywhere), so they stay in step.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// Releases batches no faster than `speed` x event time.
#[derive(Clone, Debug)]
pub struct Pacer {
    speed: f64,
    origin: Arc<OnceLock<(Instant, i64)>>,
}

impl Pacer {
    /// A pacer at `speed` x event time; share clones of it between the workers of a process.
    pub fn new(speed: f64) -> Self {
        Pacer {
            speed: speed.max(1e-9),
            origin: Arc::new(OnceLock::new()),
        }
    }

    /// How long to wait before releasing a batch whose representative event time is `event_time`
    /// (zero when it is due). The first call fixes the origin.
    pub fn wait_for(&self, event_time: i64) -> Duration {
        let (start, t0) = *self.origin.get_or_init(|| (Instant::now(), event_time));
        let offset = (event_time - t0).max(0) as f64 / self.speed;
        let due = start + Duration::from_secs_f64(offset);
        due.saturating_duration_since(Instant::now())
    }
}

/// The median pickup time of a batch: robust to a few absurd timestamps.
pub fn representative_time(pickups: &mut [i64]) -> Option<i64> {
    if pickups.is_empty() {
        return None;
    }
    let mid = pickups.len() / 2;
    Some(*pickups.select_nth_unstable(mid).1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paces_relative_to_origin() {
        let pacer = Pacer::new(3600.0);
        assert_eq!(pacer.wait_for(1_000_000), Duration::ZERO);
        let wait = pacer.wait_for(1_000_000 + 7200);
        assert!(
            wait > Duration::from_millis(1500) && wait <= Duration::from_secs(2),
            "{wait:?}"
        );
        assert_eq!(representative_time(&mut [5, 1, 1_000_000, 3, 4]), Some(4));
    }
}
