//! Subscriptions: every finished epoch of a job in (forecast changes, hourly aggregate
//! changes, status), bounded per-subscriber queues out.
//!
//! The job's hub never waits on a subscriber. A subscriber whose queue is full misses updates;
//! once it has room again it gets [`JobUpdate::Lagged`] (how many epochs it missed) followed by
//! [`JobUpdate::Resync`] (the whole current state), and then epochs again — as `resync` does on
//! the server's event stream. A new subscriber starts with a `Resync` of the current state, so
//! applying what it receives in order always yields the job's state.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::forecast::ZoneForecast;
use crate::trip::{HourlyStats, ZoneHour};

/// Counters of a job, as of one epoch.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct JobStatus {
    /// The last epoch applied (`None` before the first).
    pub epoch: Option<u64>,
    /// The watermark (naive seconds).
    pub watermark: Option<i64>,
    /// Rows read.
    pub rows_read: u64,
    /// Rows accepted.
    pub accepted: u64,
    /// Rows rejected, by reason code.
    pub rejected_by_reason: BTreeMap<String, u64>,
    /// Rows set aside as late.
    pub late: u64,
    /// Every input epoch has been applied (bounded inputs only).
    pub input_finished: bool,
}

impl JobStatus {
    /// Rows rejected (all reasons).
    pub fn rejected(&self) -> u64 {
        self.rejected_by_reason.values().sum()
    }
}

/// One finished epoch's changes, consolidated and sorted (a correction is a `-1` then a `+1`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EpochUpdate {
    /// The epoch.
    pub epoch: u64,
    /// Forecast changes.
    pub forecasts: Vec<(ZoneForecast, isize)>,
    /// Hourly aggregate changes.
    pub hourly: Vec<((ZoneHour, HourlyStats), isize)>,
    /// Counters after this epoch.
    pub status: JobStatus,
}

/// The whole current state: what a subscriber should hold after applying every update.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct JobState {
    /// Current forecasts (within the job's retention), sorted.
    pub forecasts: Vec<ZoneForecast>,
    /// Current hourly aggregates (within the job's retention), sorted.
    pub hourly: Vec<(ZoneHour, HourlyStats)>,
    /// Counters.
    pub status: JobStatus,
}

/// What a subscriber receives.
#[derive(Clone, Debug, PartialEq)]
pub enum JobUpdate {
    /// A finished epoch.
    Epoch(Arc<EpochUpdate>),
    /// This many epochs were dropped because the subscriber fell behind; a `Resync` follows.
    Lagged {
        /// Epochs missed.
        missed: u64,
    },
    /// Replace everything held with this state (first message, and after `Lagged`).
    Resync(Arc<JobState>),
}

/// Why [`Subscription::recv_timeout`] returned nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RecvError {
    /// Nothing arrived in time.
    #[error("no update arrived in time")]
    Timeout,
    /// The job has ended and every update was received.
    #[error("the job has ended and every update was received")]
    Finished,
}

#[derive(Default)]
struct Inbox {
    items: VecDeque<JobUpdate>,
    missed: u64,
    lagged_total: u64,
    closed: bool,
}

struct Queue {
    inbox: Mutex<Inbox>,
    arrived: Condvar,
    capacity: usize,
}

/// A bounded receiver of a job's updates (`Send`; read it on any thread).
pub struct Subscription {
    queue: Arc<Queue>,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("capacity", &self.queue.capacity)
            .finish()
    }
}

impl Subscription {
    /// The next update, waiting up to `timeout`.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<JobUpdate, RecvError> {
        let deadline = Instant::now() + timeout;
        let mut inbox = self.queue.inbox.lock().expect("subscription");
        loop {
            if let Some(update) = inbox.items.pop_front() {
                return Ok(update);
            }
            if inbox.closed {
                return Err(RecvError::Finished);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(RecvError::Timeout);
            }
            inbox = self
                .queue
                .arrived
                .wait_timeout(inbox, left)
                .expect("subscription")
                .0;
        }
    }

    /// The next update, waiting as long as the job runs (`None` once it has ended and
    /// everything was received).
    pub fn recv(&self) -> Option<JobUpdate> {
        loop {
            match self.recv_timeout(Duration::from_secs(3600)) {
                Ok(update) => return Some(update),
                Err(RecvError::Finished) => return None,
                Err(RecvError::Timeout) => continue,
            }
        }
    }

    /// An update if one is waiting.
    pub fn try_recv(&self) -> Option<JobUpdate> {
        self.queue
            .inbox
            .lock()
            .expect("subscription")
            .items
            .pop_front()
    }

    /// Epochs dropped so far because this subscriber fell behind.
    pub fn lagged_total(&self) -> u64 {
        self.queue.inbox.lock().expect("subscription").lagged_total
    }
}

impl Iterator for Subscription {
    type Item = JobUpdate;

    fn next(&mut self) -> Option<JobUpdate> {
        self.recv()
    }
}

/// The hub's side: every live subscriber's queue.
#[derive(Default)]
pub(crate) struct Subscribers {
    queues: Vec<Arc<Queue>>,
}

impl Subscribers {
    /// A new subscriber that starts from `current`.
    pub(crate) fn add(&mut self, capacity: usize, current: Arc<JobState>) -> Subscription {
        let queue = Arc::new(Queue {
            inbox: Mutex::new(Inbox::default()),
            arrived: Condvar::new(),
            capacity: capacity.max(2),
        });
        queue
            .inbox
            .lock()
            .expect("subscription")
            .items
            .push_back(JobUpdate::Resync(current));
        self.queues.push(queue.clone());
        Subscription { queue }
    }

    /// Whether any subscriber can take the next epoch's update (a lagging one needs room for
    /// `Lagged` and `Resync`). Forgets subscriptions that were dropped.
    pub(crate) fn any_room(&mut self) -> bool {
        self.queues.retain(|q| Arc::strong_count(q) > 1);
        self.queues.iter().any(|queue| {
            let inbox = queue.inbox.lock().expect("subscription");
            let needed = if inbox.missed > 0 { 2 } else { 1 };
            inbox.items.len() + needed <= queue.capacity
        })
    }

    /// Counts the next epoch as missed by every subscriber (none had room for it).
    pub(crate) fn skip(&mut self) {
        for queue in &self.queues {
            let mut inbox = queue.inbox.lock().expect("subscription");
            inbox.missed += 1;
            inbox.lagged_total += 1;
        }
    }

    /// Offers `update` to every subscriber; `state` builds the current state for those that
    /// lagged and now have room. Never blocks on a subscriber.
    pub(crate) fn send(&mut self, update: Arc<EpochUpdate>, state: impl Fn() -> Arc<JobState>) {
        self.queues.retain(|q| Arc::strong_count(q) > 1);
        let mut resync: Option<Arc<JobState>> = None;
        for queue in &self.queues {
            let mut inbox = queue.inbox.lock().expect("subscription");
            let room = queue.capacity - inbox.items.len().min(queue.capacity);
            if inbox.missed > 0 {
                if room >= 2 {
                    let missed = std::mem::take(&mut inbox.missed);
                    inbox.items.push_back(JobUpdate::Lagged { missed });
                    let current = resync.get_or_insert_with(&state).clone();
                    inbox.items.push_back(JobUpdate::Resync(current));
                } else {
                    inbox.missed += 1;
                    inbox.lagged_total += 1;
                    continue;
                }
            } else if room >= 1 {
                inbox.items.push_back(JobUpdate::Epoch(update.clone()));
            } else {
                inbox.missed = 1;
                inbox.lagged_total += 1;
                continue;
            }
            drop(inbox);
            queue.arrived.notify_all();
        }
    }

    /// Ends every subscription (the job finished).
    pub(crate) fn close(&mut self) {
        for queue in self.queues.drain(..) {
            queue.inbox.lock().expect("subscription").closed = true;
            queue.arrived.notify_all();
        }
    }
}
