//! The channel source: trip rows pushed from any thread in (a Python caller, a Kafka consumer,
//! a test), epochs of validated trips out.
//!
//! A [`TripSender`] is `Send + Clone`. Rows are validated on the pushing thread, exactly like
//! file rows ([`TripRow::validate`]); a bad row becomes a reject whose line is its push position
//! (1-based, counted over every sender in the order pushes took the lock). An epoch closes on
//! [`TripSender::flush`], after `batch_rows` rows, or `batch_interval` after its first row.
//! Pushing blocks while `max_pending` rows wait for the dataflow, so a fast producer cannot
//! exhaust memory. The feed ends once every sender is closed or dropped and the rows are out.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::reject::Reject;
use crate::sources::trip_row::TripRow;
use crate::sources::{Batch, FeedPoll, SourceError, TripFeed, Waker};
use crate::trip::RowPos;

/// How a channel cuts epochs and how much it buffers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChannelOptions {
    /// Close an epoch after this many rows.
    pub batch_rows: u64,
    /// Close an epoch this long after its first row.
    pub batch_interval: Duration,
    /// Pushes block while this many rows wait for the dataflow.
    pub max_pending: u64,
}

impl Default for ChannelOptions {
    fn default() -> Self {
        ChannelOptions {
            batch_rows: 8_192,
            batch_interval: Duration::from_millis(20),
            max_pending: 262_144,
        }
    }
}

/// Why a push did not go through.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChannelError {
    /// The channel was closed (by a sender) or the job stopped.
    #[error("the trip channel is closed: the job stopped or a sender closed it; start a new job to push more rows")]
    Closed,
}

#[derive(Default)]
struct Queue {
    /// Closed epochs, oldest first.
    ready: VecDeque<Batch>,
    /// The epoch being filled, and when its first row came.
    open: Batch,
    opened: Option<Instant>,
    pending_rows: u64,
    pushed: u64,
    closed: bool,
    failed: Option<String>,
}

struct Shared {
    queue: Mutex<Queue>,
    drained: Condvar,
    options: ChannelOptions,
    source: OnceLock<u32>,
    waker: OnceLock<Waker>,
    senders: AtomicU64,
}

impl Shared {
    fn wake(&self) {
        if let Some(waker) = self.waker.get() {
            waker();
        }
    }
}

/// Creates a channel: the push handle and the feed the job reads (on one worker).
pub fn trip_channel(options: ChannelOptions) -> (TripSender, ChannelFeed) {
    let shared = Arc::new(Shared {
        queue: Mutex::default(),
        drained: Condvar::new(),
        options,
        source: OnceLock::new(),
        waker: OnceLock::new(),
        senders: AtomicU64::new(1),
    });
    (
        TripSender {
            shared: shared.clone(),
        },
        ChannelFeed {
            shared,
            epoch: 0,
            progress: Arc::default(),
        },
    )
}

/// Pushes trip rows into a running job. Clone it for other threads.
pub struct TripSender {
    shared: Arc<Shared>,
}

impl Clone for TripSender {
    fn clone(&self) -> Self {
        self.shared.senders.fetch_add(1, Ordering::SeqCst);
        TripSender {
            shared: self.shared.clone(),
        }
    }
}

impl Drop for TripSender {
    fn drop(&mut self) {
        if self.shared.senders.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.close();
        }
    }
}

impl std::fmt::Debug for TripSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TripSender").finish_non_exhaustive()
    }
}

impl TripSender {
    /// Validates `rows` and queues them (blocking while the job is `max_pending` rows behind).
    /// Returns the push position of the first row.
    pub fn push(&self, rows: impl IntoIterator<Item = TripRow>) -> Result<u64, ChannelError> {
        let checked: Vec<_> = rows.into_iter().map(|row| row.validate()).collect();
        let source = self.shared.source.get().copied().unwrap_or(0);
        let options = self.shared.options;
        let mut queue = self.shared.queue.lock().expect("channel queue");
        while !queue.closed && queue.pending_rows >= options.max_pending {
            queue = self.shared.drained.wait(queue).expect("channel queue");
        }
        if queue.closed {
            return Err(ChannelError::Closed);
        }
        let first = queue.pushed + 1;
        for result in checked {
            queue.pushed += 1;
            let pos = RowPos {
                source,
                line: queue.pushed,
            };
            match result {
                Ok(trip) => queue.open.trips.push((trip, pos)),
                Err(reason) => queue.open.rejects.push(Reject { pos, reason }),
            }
            queue.open.rows_read += 1;
            queue.pending_rows += 1;
            queue.opened.get_or_insert_with(Instant::now);
            if queue.open.rows_read >= options.batch_rows {
                close_open(&mut queue);
            }
        }
        drop(queue);
        self.shared.wake();
        Ok(first)
    }

    /// Closes the epoch being filled now (an empty one too): the rows pushed so far reach the
    /// dataflow together, ahead of any later push.
    pub fn flush(&self) {
        let mut queue = self.shared.queue.lock().expect("channel queue");
        close_open(&mut queue);
        drop(queue);
        self.shared.wake();
    }

    /// Ends the channel: what was pushed is still processed, later pushes fail.
    pub fn close(&self) {
        let mut queue = self.shared.queue.lock().expect("channel queue");
        queue.closed = true;
        drop(queue);
        self.shared.drained.notify_all();
        self.shared.wake();
    }

    /// Stops the job with an error (e.g. the upstream broker is gone): `join` returns it.
    pub fn fail(&self, message: &str) {
        let mut queue = self.shared.queue.lock().expect("channel queue");
        queue.failed = Some(message.to_string());
        queue.closed = true;
        drop(queue);
        self.shared.drained.notify_all();
        self.shared.wake();
    }

    /// Rows pushed so far (the last push position).
    pub fn pushed(&self) -> u64 {
        self.shared.queue.lock().expect("channel queue").pushed
    }

    /// Whether the channel is closed.
    pub fn is_closed(&self) -> bool {
        self.shared.queue.lock().expect("channel queue").closed
    }
}

fn close_open(queue: &mut Queue) {
    let batch = std::mem::take(&mut queue.open);
    queue.opened = None;
    queue.ready.push_back(batch);
}

/// The job's end of a channel (read by global worker 0).
pub struct ChannelFeed {
    shared: Arc<Shared>,
    epoch: u64,
    progress: Arc<AtomicU64>,
}

impl std::fmt::Debug for ChannelFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChannelFeed")
            .field("epoch", &self.epoch)
            .finish()
    }
}

impl ChannelFeed {
    /// Names the channel's rows as source `index` and counts them into `progress`.
    pub fn attach(&mut self, index: u32, progress: Arc<AtomicU64>) {
        let _ = self.shared.source.set(index);
        self.progress = progress;
    }

    /// Closes the channel from the job's side (the job is stopping).
    pub fn close(&self) {
        let mut queue = self.shared.queue.lock().expect("channel queue");
        queue.closed = true;
        drop(queue);
        self.shared.drained.notify_all();
    }
}

impl Drop for ChannelFeed {
    fn drop(&mut self) {
        self.close();
    }
}

impl TripFeed for ChannelFeed {
    fn set_waker(&mut self, waker: Waker) {
        let _ = self.shared.waker.set(waker);
    }

    fn poll(&mut self) -> FeedPoll {
        let options = self.shared.options;
        let mut queue = self.shared.queue.lock().expect("channel queue");
        if let Some(message) = queue.failed.take() {
            return FeedPoll::Failed(SourceError::Producer(message));
        }
        let due = queue
            .opened
            .is_some_and(|t| t.elapsed() >= options.batch_interval);
        if queue.ready.is_empty() && (due || (queue.closed && queue.opened.is_some())) {
            close_open(&mut queue);
        }
        if let Some(batch) = queue.ready.pop_front() {
            queue.pending_rows -= batch.rows_read;
            drop(queue);
            self.shared.drained.notify_all();
            self.progress.fetch_add(batch.rows_read, Ordering::Relaxed);
            let epoch = self.epoch;
            self.epoch += 1;
            return FeedPoll::Ready(epoch, batch);
        }
        if queue.closed {
            return FeedPoll::Done;
        }
        let wait = match queue.opened {
            Some(t) => options.batch_interval.saturating_sub(t.elapsed()),
            None => Duration::from_millis(50),
        };
        FeedPoll::Pending(wait.max(Duration::from_millis(1)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(feed: &mut ChannelFeed) -> Vec<Batch> {
        let mut out = Vec::new();
        loop {
            match feed.poll() {
                FeedPoll::Ready(_, batch) => out.push(batch),
                FeedPoll::Done => return out,
                FeedPoll::Pending(_) => std::thread::sleep(Duration::from_millis(1)),
                FeedPoll::Failed(e) => panic!("{e}"),
            }
        }
    }

    #[test]
    fn flush_cuts_epochs_and_positions_count_pushes() {
        let (sender, mut feed) = trip_channel(ChannelOptions::default());
        sender
            .push([TripRow::new("2024-01-01 00:10:00", 4)])
            .unwrap();
        sender.flush();
        let second = sender
            .push([
                TripRow::new("bad", 4),
                TripRow::new("2024-01-01 00:20:00", 5),
            ])
            .unwrap();
        assert_eq!(second, 2);
        sender.close();
        let batches = drain(&mut feed);
        assert_eq!(batches.len(), 2);
        assert_eq!(batches[0].trips.len(), 1);
        assert_eq!(batches[1].rejects[0].pos.line, 2);
        assert_eq!(batches[1].trips[0].1.line, 3);
        assert!(sender
            .push([TripRow::new("2024-01-01 00:20:00", 5)])
            .is_err());
    }

    #[test]
    fn fail_stops_the_feed_with_the_message() {
        let (sender, mut feed) = trip_channel(ChannelOptions::default());
        sender.fail("broker gone");
        match feed.poll() {
            FeedPoll::Failed(e) => assert!(e.to_string().contains("broker gone")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn pushes_block_while_the_job_is_behind() {
        let options = ChannelOptions {
            batch_rows: 2,
            max_pending: 4,
            ..ChannelOptions::default()
        };
        let (sender, mut feed) = trip_channel(options);
        let pusher = std::thread::spawn(move || {
            for _ in 0..10 {
                sender
                    .push([
                        TripRow::new("2024-01-01 00:10:00", 4),
                        TripRow::new("2024-01-01 00:11:00", 4),
                    ])
                    .unwrap();
            }
        });
        let rows: u64 = drain(&mut feed).iter().map(|b| b.rows_read).sum();
        pusher.join().unwrap();
        assert_eq!(rows, 20);
    }
}
