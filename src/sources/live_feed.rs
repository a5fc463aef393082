//! The live job's feed for one worker: its share of the files in, then (on worker 0) a
//! never-ending tail (socket clients or a generated stream), then heartbeats, out as one
//! sequence of epochs.
//!
//! Tail epochs are numbered after every file epoch, so they follow the files on every worker.
//! While serving, an idle source still closes an empty epoch every `heartbeat`, so model swaps
//! and the status reach the server even when no trip arrives.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::sources::{FeedPoll, TripFeed};

/// Files, then a tail, then heartbeats until shutdown.
pub struct LiveFeed {
    files: Option<Box<dyn TripFeed>>,
    tail: Option<Box<dyn TripFeed>>,
    next_epoch: u64,
    heartbeat: Option<Duration>,
    last_epoch_at: Instant,
    shutdown: Arc<AtomicBool>,
    finished: Arc<AtomicU64>,
    block: u64,
}

impl std::fmt::Debug for LiveFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveFeed")
            .field("next_epoch", &self.next_epoch)
            .finish()
    }
}

impl LiveFeed {
    /// `files` (this worker's share) first; then `tail` with epochs from `file_epochs` on;
    /// then, with `heartbeat`, empty epochs at that interval until `shutdown` is set.
    /// Once files and tail have ended, `finished` is set to the first epoch after them (it
    /// starts at `u64::MAX`): when that epoch is complete, so is every input epoch.
    pub fn new(
        files: Option<Box<dyn TripFeed>>,
        file_epochs: u64,
        tail: Option<Box<dyn TripFeed>>,
        heartbeat: Option<Duration>,
        shutdown: Arc<AtomicBool>,
        finished: Arc<AtomicU64>,
    ) -> Self {
        let block = files.as_ref().map_or(1, |f| f.block());
        LiveFeed {
            files,
            tail,
            next_epoch: file_epochs,
            heartbeat,
            last_epoch_at: Instant::now(),
            shutdown,
            finished,
            block,
        }
    }

    fn stamp(&mut self, batch: crate::sources::Batch) -> FeedPoll {
        let epoch = self.next_epoch;
        self.next_epoch += 1;
        self.last_epoch_at = Instant::now();
        FeedPoll::Ready(epoch, batch)
    }

    fn beat(&mut self, wait: Duration) -> FeedPoll {
        match self.heartbeat {
            Some(every) if self.last_epoch_at.elapsed() >= every => self.stamp(Default::default()),
            Some(every) => FeedPoll::Pending(
                wait.min(every.saturating_sub(self.last_epoch_at.elapsed()))
                    .max(Duration::from_millis(1)),
            ),
            None => FeedPoll::Pending(wait),
        }
    }
}

impl TripFeed for LiveFeed {
    fn block(&self) -> u64 {
        self.block
    }

    fn set_waker(&mut self, waker: crate::sources::Waker) {
        if let Some(tail) = self.tail.as_mut() {
            tail.set_waker(waker);
        }
    }

    fn poll(&mut self) -> FeedPoll {
        if self.shutdown.load(Ordering::SeqCst) {
            self.finished.fetch_min(self.next_epoch, Ordering::SeqCst);
            return FeedPoll::Done;
        }
        if let Some(files) = self.files.as_mut() {
            match files.poll() {
                FeedPoll::Ready(epoch, batch) => {
                    self.next_epoch = self.next_epoch.max(epoch + 1);
                    self.last_epoch_at = Instant::now();
                    return FeedPoll::Ready(epoch, batch);
                }
                FeedPoll::Done => self.files = None,
                other => return other,
            }
        }
        if let Some(tail) = self.tail.as_mut() {
            match tail.poll() {
                FeedPoll::Ready(_, batch) => return self.stamp(batch),
                FeedPoll::Pending(wait) => return self.beat(wait),
                FeedPoll::Done => self.tail = None,
                FeedPoll::Failed(error) => return FeedPoll::Failed(error),
            }
        }
        self.finished.fetch_min(self.next_epoch, Ordering::SeqCst);
        match self.heartbeat {
            Some(_) => self.beat(Duration::from_millis(50)),
            None => FeedPoll::Done,
        }
    }
}
