//! How far the served state trails its input: epochs handed to the dataflow (when, and their
//! newest pickup) in, from every feed of this process; epochs reflected in the served state
//! out, from the job's hub. Answers the wall-clock age of the oldest row read but not yet
//! served, and how far in event time the newest pickup read is ahead of the newest one served.
//!
//! ```
//! use zonecast::sources::input_clock::InputClock;
//! let clock = InputClock::new();
//! clock.read(3, 1, Some(3_600));
//! clock.reflected(3);
//! clock.read(4, 1, Some(7_200));
//! assert!(clock.staleness().is_some());
//! assert_eq!(clock.event_time_lag(), Some(3_600));
//! clock.reflected(4);
//! assert_eq!((clock.staleness(), clock.event_time_lag()), (None, Some(0)));
//! ```

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Epochs read and not yet served, with when they were read.
#[derive(Debug)]
pub struct InputClock {
    pending: Mutex<BTreeMap<u64, (Instant, Option<i64>)>>,
    newest_read: AtomicI64,
    newest_served: AtomicI64,
}

impl InputClock {
    /// A clock with nothing read.
    pub fn new() -> Arc<Self> {
        Arc::new(InputClock {
            pending: Mutex::new(BTreeMap::new()),
            newest_read: AtomicI64::new(i64::MIN),
            newest_served: AtomicI64::new(i64::MIN),
        })
    }

    /// A feed handed `rows` rows to the dataflow as `epoch` (the newest pickup among them).
    pub fn read(&self, epoch: u64, rows: u64, newest_pickup: Option<i64>) {
        if rows == 0 {
            return;
        }
        let mut pending = self.pending.lock().expect("input clock");
        let entry = pending.entry(epoch).or_insert((Instant::now(), None));
        entry.1 = entry.1.max(newest_pickup);
        if let Some(pickup) = newest_pickup {
            self.newest_read.fetch_max(pickup, Ordering::Relaxed);
        }
    }

    /// Every epoch up to `epoch` is served.
    pub fn reflected(&self, epoch: u64) {
        let mut pending = self.pending.lock().expect("input clock");
        let later = pending.split_off(&(epoch + 1));
        let served = std::mem::replace(&mut *pending, later);
        if let Some(newest) = served.values().filter_map(|(_, p)| *p).max() {
            self.newest_served.fetch_max(newest, Ordering::Relaxed);
        }
    }

    /// How long the oldest row read but not yet served has waited (`None`: all served).
    pub fn staleness(&self) -> Option<Duration> {
        let pending = self.pending.lock().expect("input clock");
        pending
            .values()
            .map(|(at, _)| *at)
            .min()
            .map(|at| at.elapsed())
    }

    /// Event-time seconds from the newest pickup served to the newest pickup read (`None`
    /// before any pickup was read).
    pub fn event_time_lag(&self) -> Option<i64> {
        let read = self.newest_read.load(Ordering::Relaxed);
        if read == i64::MIN {
            return None;
        }
        let served = self.newest_served.load(Ordering::Relaxed);
        Some(if served == i64::MIN {
            0
        } else {
            (read - served).max(0)
        })
    }
}
