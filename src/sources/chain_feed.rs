//! One worker's feed for any job: its share of the bounded parts (files, memory rows) in, then
//! (on global worker 0) an unbounded tail (socket clients, a generated stream, a push
//! channel), then optional heartbeats, out as one sequence of epochs.
//!
//! Part `k` of the bounded parts has its epochs numbered after every epoch of parts `0..k`, and
//! tail epochs come after all of them, so the sequence is the same on every worker count.
//! While serving, an idle source still closes an empty epoch every `heartbeat`, so model swaps
//! and the status move on when no trip arrives. Setting `stop` ends the feed at the next poll.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::sources::acks::AckBoard;
use crate::sources::input_clock::InputClock;
use crate::sources::wal::WalShared;
use crate::sources::{Batch, FeedPoll, TripFeed, Waker};

/// Bounded parts, then a tail, then heartbeats until `stop`.
pub struct ChainFeed {
    parts: Vec<(u64, Box<dyn TripFeed>)>,
    tail: Option<Box<dyn TripFeed>>,
    next_epoch: u64,
    heartbeat: Option<Duration>,
    last_epoch_at: Instant,
    stop: Arc<AtomicBool>,
    finished: Arc<AtomicU64>,
    block: u64,
    clock: Option<Arc<InputClock>>,
    wal: Option<Arc<WalShared>>,
    acks: Option<Arc<AckBoard>>,
    /// Logged tail epochs to hand out again before the tail's new rows (a restart).
    replay: VecDeque<(u64, Batch)>,
    /// A tail batch the log could not take yet (disk full), with its `#ack` ids: retried
    /// before the tail is read again, so clients wait and get no `ack` meanwhile.
    unlogged: Option<(Batch, Vec<(u32, String)>)>,
}

/// How often a batch the log could not take is tried again.
const LOG_RETRY: Duration = Duration::from_millis(200);

impl std::fmt::Debug for ChainFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChainFeed")
            .field("next_epoch", &self.next_epoch)
            .finish()
    }
}

impl ChainFeed {
    /// `parts` as `(first epoch, feed)` (this worker's share, in order); then `tail` with epochs
    /// from `bounded_epochs` on; then, with `heartbeat`, empty epochs at that interval until
    /// `stop` is set. Once parts and tail have ended, `finished` is lowered to the first epoch
    /// after them (it starts at `u64::MAX`): when that epoch is complete, so is every input.
    pub fn new(
        parts: Vec<(u64, Box<dyn TripFeed>)>,
        bounded_epochs: u64,
        tail: Option<Box<dyn TripFeed>>,
        heartbeat: Option<Duration>,
        stop: Arc<AtomicBool>,
        finished: Arc<AtomicU64>,
    ) -> Self {
        let block = parts.iter().map(|(_, f)| f.block()).max().unwrap_or(1);
        ChainFeed {
            parts,
            tail,
            next_epoch: bounded_epochs,
            heartbeat,
            last_epoch_at: Instant::now(),
            stop,
            finished,
            block,
            clock: None,
            wal: None,
            acks: None,
            replay: VecDeque::new(),
            unlogged: None,
        }
    }

    /// The same feed resumed after `epoch` (a restarted job): the tail's epochs come after it.
    pub fn resuming_after(mut self, epoch: u64) -> Self {
        self.next_epoch = self.next_epoch.max(epoch + 1);
        self
    }

    /// The same feed recording on `acks` every tail epoch it hands on (after logging it).
    pub fn with_acks(mut self, acks: Option<Arc<AckBoard>>) -> Self {
        self.acks = acks;
        self
    }

    /// The same feed logging every tail epoch to `wal` before handing it on (holding it while
    /// the log cannot take it), after handing on again `replay`: the logged epochs after the
    /// resume point (see [`WalShared::open`]), at their own epoch numbers.
    pub fn with_wal(mut self, wal: Arc<WalShared>, replay: Vec<(u64, Batch)>) -> Self {
        if let Some((last, _)) = replay.last() {
            self.next_epoch = self.next_epoch.max(last + 1);
        }
        self.replay = replay.into();
        self.wal = Some(wal);
        self
    }

    /// The same feed, recording every epoch it hands out on `clock`.
    pub fn with_clock(mut self, clock: Option<Arc<InputClock>>) -> Self {
        self.clock = clock;
        self
    }

    fn record(&self, epoch: u64, batch: &Batch) {
        if let Some(clock) = &self.clock {
            let newest = batch.trips.iter().map(|(t, _)| t.pickup).max();
            clock.read(epoch, batch.rows_read, newest);
        }
    }

    /// Hands `batch` out as `epoch`.
    fn hand_out(&mut self, epoch: u64, batch: Batch) -> FeedPoll {
        self.last_epoch_at = Instant::now();
        self.record(epoch, &batch);
        FeedPoll::Ready(epoch, batch)
    }

    fn stamp(&mut self, batch: Batch) -> FeedPoll {
        let epoch = self.next_epoch;
        self.next_epoch += 1;
        self.hand_out(epoch, batch)
    }

    /// Logs a tail batch (when there is a log) and hands it on as the next epoch; a batch the
    /// log cannot take is held and tried again (heartbeats go on meanwhile).
    fn log_and_stamp(&mut self, batch: Batch, ids: Vec<(u32, String)>) -> FeedPoll {
        if let Some(wal) = &self.wal {
            if !wal.append(self.next_epoch, &batch, &ids) {
                self.unlogged = Some((batch, ids));
                return self.beat(LOG_RETRY);
            }
        }
        if let Some(acks) = &self.acks {
            acks.handed_on(&batch, &ids);
        }
        self.stamp(batch)
    }

    fn beat(&mut self, wait: Duration) -> FeedPoll {
        match self.heartbeat {
            Some(every) if self.last_epoch_at.elapsed() >= every => self.stamp(Batch::default()),
            Some(every) => FeedPoll::Pending(
                wait.min(every.saturating_sub(self.last_epoch_at.elapsed()))
                    .max(Duration::from_millis(1)),
            ),
            None => FeedPoll::Pending(wait),
        }
    }
}

impl TripFeed for ChainFeed {
    fn block(&self) -> u64 {
        self.block
    }

    fn set_waker(&mut self, waker: Waker) {
        if let Some(tail) = self.tail.as_mut() {
            tail.set_waker(waker);
        }
    }

    fn poll(&mut self) -> FeedPoll {
        if self.stop.load(Ordering::SeqCst) {
            self.finished.fetch_min(self.next_epoch, Ordering::SeqCst);
            return FeedPoll::Done;
        }
        while let Some((offset, part)) = self.parts.first_mut() {
            match part.poll() {
                FeedPoll::Ready(epoch, batch) => {
                    let epoch = *offset + epoch;
                    return self.hand_out(epoch, batch);
                }
                FeedPoll::Done => {
                    self.parts.remove(0);
                }
                other => return other,
            }
        }
        if let Some((epoch, batch)) = self.replay.pop_front() {
            return self.hand_out(epoch, batch);
        }
        if let Some((batch, ids)) = self.unlogged.take() {
            return self.log_and_stamp(batch, ids);
        }
        if let Some(tail) = self.tail.as_mut() {
            match tail.poll() {
                FeedPoll::Ready(_, batch) => {
                    let ids = self
                        .acks
                        .as_ref()
                        .map(|a| a.ids_in(&batch))
                        .unwrap_or_default();
                    return self.log_and_stamp(batch, ids);
                }
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
