//! Event-time progress: pickup times in (row by row, in input order), a robust watermark and
//! per-row late/ahead verdicts out.
//!
//! The watermark is the latest pickup time seen in an hour that at least `min_support` rows
//! have fallen into. One absurd timestamp (a 2030 pickup in a 2019 file) is alone in its hour,
//! so it cannot drag the watermark years ahead and make every real trip late; it is rejected
//! as `pickup_far_ahead` instead. A genuine jump (a stream that resumes after a pause) brings
//! many rows into the new hours, which then count, and the watermark follows.
//!
//! Each row is judged against the watermark left by the rows *before* it in input order, then
//! observed. The [`WatermarkState`] after an epoch is handed to whichever worker replays the
//! next epoch, so verdicts depend only on the input order: never on epoch size, worker count
//! or scheduling.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::time::{hour_of, Span};

/// How event time is judged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WatermarkPolicy {
    /// Trips older than the watermark minus this are late (default 1 day).
    pub allowed_lateness: Span,
    /// Trips newer than the watermark plus this are rejected as far ahead (default 1 day).
    pub max_ahead: Span,
    /// Rows an hour needs before its pickups may advance the watermark (default 3).
    pub min_support: u64,
}

impl Default for WatermarkPolicy {
    fn default() -> Self {
        WatermarkPolicy {
            allowed_lateness: Span::from_secs(86_400),
            max_ahead: Span::from_secs(86_400),
            min_support: 3,
        }
    }
}

impl WatermarkPolicy {
    /// Hours before this one can no longer change once the watermark is `watermark`: every
    /// later on-time trip is newer than the watermark minus the allowed lateness.
    pub fn closed_before(&self, watermark: Option<i64>) -> Option<i64> {
        watermark.map(|w| hour_of(w - self.allowed_lateness.secs()))
    }
}

/// What to do with one trip at the current watermark.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Within the window: aggregate it.
    OnTime,
    /// Older than watermark minus allowed lateness: set aside as late.
    Late,
    /// Newer than watermark plus max ahead: reject as far ahead.
    FarAhead,
}

/// Everything the watermark depends on: the watermark itself and, for hours at or after it,
/// how many rows each has seen and its latest pickup.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct WatermarkState {
    /// The watermark (naive seconds), once some hour has enough support.
    pub watermark: Option<i64>,
    /// `(hour, rows, latest pickup)` for hours not before the watermark's hour, ascending.
    pub hours: Vec<(i64, u64, i64)>,
    /// The hour of the first row observed (the first hour of data for feature rows).
    pub first_hour: Option<i64>,
}

/// The watermark state machine.
#[derive(Clone, Debug)]
pub struct WatermarkTracker {
    policy: WatermarkPolicy,
    watermark: Option<i64>,
    hours: BTreeMap<i64, (u64, i64)>,
    first_hour: Option<i64>,
}

impl WatermarkTracker {
    /// A tracker with no watermark yet.
    pub fn new(policy: WatermarkPolicy) -> Self {
        WatermarkTracker {
            policy,
            watermark: None,
            hours: BTreeMap::new(),
            first_hour: None,
        }
    }

    /// A tracker resuming from a handed-over state.
    pub fn resume(policy: WatermarkPolicy, state: &WatermarkState) -> Self {
        let hours = state
            .hours
            .iter()
            .map(|&(h, rows, latest)| (h, (rows, latest)))
            .collect();
        WatermarkTracker {
            policy,
            watermark: state.watermark,
            hours,
            first_hour: state.first_hour,
        }
    }

    /// The state to hand over.
    pub fn state(&self) -> WatermarkState {
        WatermarkState {
            watermark: self.watermark,
            hours: self.hours.iter().map(|(&h, &(r, l))| (h, r, l)).collect(),
            first_hour: self.first_hour,
        }
    }

    /// The current watermark (naive seconds), if any hour has enough support yet.
    pub fn watermark(&self) -> Option<i64> {
        self.watermark
    }

    /// Judges a pickup against the watermark so far (call before [`Self::observe`]).
    pub fn judge(&self, pickup: i64) -> Verdict {
        match self.watermark {
            None => Verdict::OnTime,
            Some(w) if pickup < w - self.policy.allowed_lateness.secs() => Verdict::Late,
            Some(w) if pickup > w.saturating_add(self.policy.max_ahead.secs()) => Verdict::FarAhead,
            Some(_) => Verdict::OnTime,
        }
    }

    /// Counts a parsed row's pickup (whatever its verdict) and advances the watermark.
    pub fn observe(&mut self, pickup: i64) {
        self.first_hour.get_or_insert(hour_of(pickup));
        match self.watermark {
            Some(w) if pickup <= w => return,
            // Fast path: a newer pickup in the watermark's own (supported) hour.
            Some(w) if hour_of(pickup) == hour_of(w) => {
                self.watermark = Some(pickup);
                return;
            }
            _ => {}
        }
        let entry = self.hours.entry(hour_of(pickup)).or_insert((0, pickup));
        entry.0 += 1;
        entry.1 = entry.1.max(pickup);
        if entry.0 >= self.policy.min_support.max(1) {
            let latest = entry.1.max(self.watermark.unwrap_or(i64::MIN));
            let before = self.watermark;
            self.watermark = Some(latest);
            if before.is_none_or(|w| hour_of(w) != hour_of(latest)) {
                self.hours = self.hours.split_off(&hour_of(latest));
            }
        }
    }

    /// Judges and then observes one pickup.
    pub fn admit(&mut self, pickup: i64) -> Verdict {
        let verdict = self.judge(pickup);
        self.observe(pickup);
        verdict
    }

    /// The hour of the first row observed.
    pub fn first_hour(&self) -> Option<i64> {
        self.first_hour
    }

    /// Hours before this one can no longer change: every later on-time trip is newer.
    pub fn closed_before(&self) -> Option<i64> {
        self.policy.closed_before(self.watermark)
    }
}

/// States received from other workers, by the epoch they close.
#[derive(Debug, Default)]
pub struct StateLog {
    by_epoch: BTreeMap<u64, WatermarkState>,
}

impl StateLog {
    /// Records the state at the end of `epoch`.
    pub fn insert(&mut self, epoch: u64, state: WatermarkState) {
        self.by_epoch.insert(epoch, state);
    }

    /// Records states that arrived at time `arrival`: each closes epoch `arrival - 1` (the
    /// dataflow feeds them back one epoch later).
    pub fn record_arrived(
        &mut self,
        arrival: u64,
        states: impl IntoIterator<Item = WatermarkState>,
    ) {
        for state in states {
            self.insert(arrival - 1, state);
        }
    }

    /// The latest state of an epoch before `epoch` (the state `epoch` starts from), dropping
    /// older ones that can no longer be needed.
    pub fn before(&mut self, epoch: u64) -> Option<WatermarkState> {
        let latest = self
            .by_epoch
            .range(..epoch)
            .next_back()
            .map(|(&e, s)| (e, s.clone()));
        if let Some((e, _)) = latest {
            self.by_epoch = self.by_epoch.split_off(&e);
        }
        latest.map(|(_, s)| s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3600;

    fn tracker() -> WatermarkTracker {
        WatermarkTracker::new(WatermarkPolicy::default())
    }

    #[test]
    fn lone_absurd_pickup_does_not_move_the_watermark() {
        let mut t = tracker();
        for i in 0..5 {
            assert_eq!(t.admit(100 * H + i), Verdict::OnTime);
        }
        assert_eq!(t.watermark(), Some(100 * H + 4));
        assert_eq!(t.admit(100_000 * H), Verdict::FarAhead);
        assert_eq!(t.watermark(), Some(100 * H + 4));
        assert_eq!(t.admit(50 * H), Verdict::Late);
        assert_eq!(t.admit(99 * H), Verdict::OnTime);
    }

    #[test]
    fn a_real_jump_is_followed_after_support() {
        let mut t = tracker();
        for i in 0..3 {
            t.admit(10 * H + i);
        }
        assert_eq!(t.admit(500 * H), Verdict::FarAhead);
        assert_eq!(t.admit(500 * H + 1), Verdict::FarAhead);
        assert_eq!(t.admit(500 * H + 2), Verdict::FarAhead);
        assert_eq!(t.watermark(), Some(500 * H + 2));
        assert_eq!(t.admit(500 * H + 3), Verdict::OnTime);
    }

    #[test]
    fn state_hand_over_is_exact() {
        let mut a = tracker();
        let times = [
            5 * H,
            5 * H + 10,
            7 * H,
            5 * H + 20,
            7 * H + 5,
            7 * H + 1,
            9 * H,
            6 * H,
        ];
        let mut b = tracker();
        let mut verdicts = Vec::new();
        for (i, &p) in times.iter().enumerate() {
            verdicts.push(a.admit(p));
            if i == 3 {
                b = WatermarkTracker::resume(a.policy, &a.state());
            }
        }
        let resumed: Vec<_> = times[4..].iter().map(|&p| b.admit(p)).collect();
        assert_eq!(&verdicts[4..], &resumed[..]);
        assert_eq!(a.state(), b.state());
    }
}
