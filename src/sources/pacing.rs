//! Pacing: event times in, how long to wait before releasing them out.
//!
//! `--speed 3600` replays one hour of event time per wall-clock second. All workers of a
//! process share one origin (the first row released anywhere), so they stay in step.
//! [`PaceSchedule`] gives every row of a file, in file order, a release time that never goes
//! back and that one absurd timestamp cannot drag years ahead or behind.

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

/// Rows per pacing chunk: a row's release time is clamped between the (running) medians of
/// the chunks around it.
pub const PACE_CHUNK: usize = 64;

/// Release times for rows in file order: pickups in, one non-decreasing due time per row out.
///
/// Rows are cut into chunks of [`PACE_CHUNK`]; a chunk's pace is the running maximum of chunk
/// medians. A row is due at its own pickup clamped between the pace of the chunk before and
/// the chunk after it (so a late row is due at once and a 2030 outlier waits only until the
/// next chunk), and never before the row ahead of it. Feed it one block of rows at a time
/// with the median of the next block's first chunk as lookahead.
///
/// ```
/// use zonecast::sources::pacing::PaceSchedule;
/// let mut schedule = PaceSchedule::default();
/// let mut pickups: Vec<i64> = (0..200).map(|i| i * 60).collect();
/// pickups[100] = 4_000_000_000; // an absurd future timestamp
/// pickups[150] = 0; // a late row
/// let due = schedule.due_times(&pickups, None);
/// assert!(due.windows(2).all(|w| w[0] <= w[1]));
/// assert!(due[100] < 200 * 60 && due[150] == due[149]);
/// ```
#[derive(Clone, Debug, Default)]
pub struct PaceSchedule {
    pace: Option<i64>,
    last_due: Option<i64>,
}

impl PaceSchedule {
    /// The median of the first chunk of `pickups` (the lookahead for the block before them).
    pub fn first_chunk_median(pickups: &[i64]) -> Option<i64> {
        let mut head = pickups[..pickups.len().min(PACE_CHUNK)].to_vec();
        representative_time(&mut head)
    }

    /// Due times of the next block of rows (`pickups` in file order); `lookahead` is the
    /// median of the next block's first chunk (`None` at the end of the input).
    pub fn due_times(&mut self, pickups: &[i64], lookahead: Option<i64>) -> Vec<i64> {
        let mut paces = Vec::with_capacity(pickups.len().div_ceil(PACE_CHUNK) + 1);
        let mut running = self.pace;
        for chunk in pickups.chunks(PACE_CHUNK) {
            let median = representative_time(&mut chunk.to_vec()).expect("non-empty chunk");
            running = Some(running.map_or(median, |p| p.max(median)));
            paces.push(running.expect("set"));
        }
        let before = self.pace;
        let after = lookahead.map(|l| running.map_or(l, |p| p.max(l)));
        let mut due = Vec::with_capacity(pickups.len());
        for (c, chunk) in pickups.chunks(PACE_CHUNK).enumerate() {
            let lo = match c {
                0 => before.unwrap_or(paces[0]),
                _ => paces[c - 1],
            };
            let hi = paces
                .get(c + 1)
                .copied()
                .or(after)
                .unwrap_or(paces[c])
                .max(lo);
            for &pickup in chunk {
                let mut at = pickup.clamp(lo, hi);
                if let Some(last) = self.last_due {
                    at = at.max(last);
                }
                self.last_due = Some(at);
                due.push(at);
            }
        }
        self.pace = running;
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_times_follow_sorted_pickups_and_survive_outliers_across_blocks() {
        let mut schedule = PaceSchedule::default();
        let pickups: Vec<i64> = (0..1000).map(|i| 1_000_000 + i * 10).collect();
        let mut noisy = pickups.clone();
        noisy[5] = 0; // far in the past, at the start
        noisy[600] = i64::MAX / 2; // far in the future
        let (first, second) = noisy.split_at(500);
        let mut due = schedule.due_times(first, PaceSchedule::first_chunk_median(second));
        due.extend(schedule.due_times(second, None));
        assert_eq!(due.len(), 1000);
        assert!(due.windows(2).all(|w| w[0] <= w[1]));
        // Sorted rows are due at their own pickup (after the first chunk's median).
        assert_eq!(due[300], pickups[300]);
        assert!(due[999] <= pickups[999]);
        assert!(
            due[5] >= 1_000_000,
            "the past outlier does not set the origin"
        );
        assert!(
            due[600] <= pickups[700],
            "the future outlier waits one chunk at most"
        );
        assert_eq!(due[601], due[600].max(pickups[601]));
    }

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
