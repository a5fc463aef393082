//! Paced file replay: a [`ReplayPlan`] in (read in file order on one worker), epochs cut by
//! the clock out.
//!
//! Every row gets a release time from [`PaceSchedule`]; a row is released once the shared
//! [`Pacer`] says its time has come, and an epoch closes `interval` after its first row (or
//! at `batch_rows` rows). Rows keep file order, so watermark verdicts, the final table and the
//! final forecasts equal unpaced replay's; only the epoch boundaries differ. The feed reads
//! one plan epoch ahead of what it releases, so memory stays bounded by two plan epochs.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::reject::Reject;
use crate::sources::file_feed::FileFeed;
use crate::sources::pacing::{PaceSchedule, Pacer};
use crate::sources::plan::ReplayPlan;
use crate::sources::{Batch, FeedPoll, TripFeed};
use crate::trip::{RowPos, Trip};

/// One row waiting for its release time (`None`: a reject before any trip, due at once).
enum Item {
    Trip(Trip, RowPos, i64),
    Reject(Reject, Option<i64>),
}

impl Item {
    fn due(&self) -> Option<i64> {
        match self {
            Item::Trip(_, _, due) => Some(*due),
            Item::Reject(_, due) => *due,
        }
    }
}

/// An epoch being filled: closes `interval` after its first row or at `batch_rows` rows.
#[derive(Debug, Default)]
pub(crate) struct OpenEpoch {
    batch: Batch,
    opened: Option<Instant>,
}

impl OpenEpoch {
    /// Adds one trip (opening the epoch on the first row).
    pub(crate) fn push_trip(&mut self, trip: Trip, pos: RowPos) {
        self.opened.get_or_insert_with(Instant::now);
        self.batch.trips.push((trip, pos));
        self.batch.rows_read += 1;
    }

    fn push_reject(&mut self, reject: Reject) {
        self.opened.get_or_insert_with(Instant::now);
        self.batch.rejects.push(reject);
        self.batch.rows_read += 1;
    }

    /// Rows in the epoch so far.
    pub(crate) fn rows(&self) -> usize {
        self.batch.rows_read as usize
    }

    /// How long until the epoch must close (`None`: nothing in it).
    pub(crate) fn left(&self, interval: Duration) -> Option<Duration> {
        self.opened.map(|at| interval.saturating_sub(at.elapsed()))
    }

    /// Closes the epoch: its batch.
    pub(crate) fn close(&mut self) -> Batch {
        self.opened = None;
        std::mem::take(&mut self.batch)
    }
}

/// A plan replayed at a pace, by one worker, in epochs cut by the clock.
pub struct PacedFeed {
    reader: FileFeed,
    reader_done: bool,
    sorted: bool,
    held: Option<Batch>,
    schedule: PaceSchedule,
    due: VecDeque<Item>,
    pacer: Pacer,
    interval: Duration,
    batch_rows: usize,
    open: OpenEpoch,
    epoch: u64,
    progress: Arc<AtomicU64>,
    skip: u64,
}

impl std::fmt::Debug for PacedFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PacedFeed")
            .field("epoch", &self.epoch)
            .finish()
    }
}

impl PacedFeed {
    /// Replays every epoch of `plan` in file order at `pacer`'s speed; epochs close `interval`
    /// after their first row or at the plan's `batch_rows`. `progress` counts rows released.
    pub fn new(
        plan: Arc<ReplayPlan>,
        pacer: Pacer,
        interval: Duration,
        progress: Arc<AtomicU64>,
    ) -> Self {
        let batch_rows = plan.batch_rows.max(1) as usize;
        let sorted = matches!(plan.body, crate::sources::plan::PlanBody::Sorted(_));
        PacedFeed {
            sorted,
            reader: FileFeed::new(plan, 0, 1, Arc::default()),
            reader_done: false,
            held: None,
            schedule: PaceSchedule::default(),
            due: VecDeque::new(),
            pacer,
            interval,
            batch_rows,
            open: OpenEpoch::default(),
            epoch: 0,
            progress,
            skip: 0,
        }
    }

    /// The same replay resumed after `rows` rows (in release order) and `epochs` epochs: a
    /// restarted job skips what its checkpoint holds, and paces from the next row on.
    pub fn resuming(mut self, rows: u64, epochs: u64) -> Self {
        self.skip = rows;
        self.epoch = epochs;
        self
    }

    /// Drops the rows a resumed replay has already delivered (unpaced).
    fn skip_delivered(&mut self) -> Result<(), crate::sources::SourceError> {
        while self.skip > 0 {
            self.fill()?;
            if self.due.pop_front().is_none() {
                self.skip = 0;
                break;
            }
            self.skip -= 1;
        }
        Ok(())
    }

    /// Reads ahead until a plan epoch's worth of rows has release times (or the plan ends).
    fn fill(&mut self) -> Result<(), crate::sources::SourceError> {
        while self.due.len() < self.batch_rows && !(self.reader_done && self.held.is_none()) {
            let next = if self.reader_done {
                None
            } else {
                match self.reader.poll() {
                    FeedPoll::Ready(_, batch) => Some(batch),
                    FeedPoll::Failed(error) => return Err(error),
                    FeedPoll::Done | FeedPoll::Pending(_) => {
                        self.reader_done = true;
                        None
                    }
                }
            };
            let lookahead = next.as_ref().and_then(|b| {
                let pickups: Vec<i64> = b.trips.iter().map(|(t, _)| t.pickup).collect();
                PaceSchedule::first_chunk_median(&pickups)
            });
            if let Some(held) = self.held.take() {
                self.schedule_batch(held, lookahead);
            }
            self.held = next;
        }
        Ok(())
    }

    /// Gives each row of `batch` its release time; rejects follow the trip before them.
    fn schedule_batch(&mut self, batch: Batch, lookahead: Option<i64>) {
        let pickups: Vec<i64> = batch.trips.iter().map(|(t, _)| t.pickup).collect();
        let due = self.schedule.due_times(&pickups, lookahead);
        let mut rows: Vec<(RowPos, Item)> = batch
            .trips
            .into_iter()
            .zip(due)
            .map(|((trip, pos), at)| (pos, Item::Trip(trip, pos, at)))
            .collect();
        let rejects = batch
            .rejects
            .into_iter()
            .map(|r| (r.pos, Item::Reject(r, None)));
        if self.sorted {
            // Sorted plans hand every reject over in their first epoch: release those first.
            rows.splice(0..0, rejects);
        } else {
            // File order: trips and rejects merged back into their positions.
            rows.extend(rejects);
            rows.sort_by_key(|(pos, _)| *pos);
        }
        let mut last = self.due.back().and_then(Item::due);
        for (_, mut item) in rows {
            match &mut item {
                Item::Trip(_, _, at) => last = Some(*at),
                Item::Reject(_, at) => *at = last,
            }
            self.due.push_back(item);
        }
    }

    /// Moves the rows whose time has come into the open epoch; how long until the next is due.
    fn release(&mut self) -> Option<Duration> {
        while self.open.rows() < self.batch_rows {
            let wait = match self.due.front()?.due() {
                Some(at) => self.pacer.wait_for(at),
                None => Duration::ZERO,
            };
            if !wait.is_zero() {
                return Some(wait);
            }
            match self.due.pop_front().expect("front") {
                Item::Trip(trip, pos, _) => self.open.push_trip(trip, pos),
                Item::Reject(reject, _) => self.open.push_reject(reject),
            }
        }
        None
    }
}

impl TripFeed for PacedFeed {
    fn poll(&mut self) -> FeedPoll {
        if let Err(error) = self.skip_delivered().and_then(|()| self.fill()) {
            return FeedPoll::Failed(error);
        }
        let next_due = self.release();
        let ended = self.due.is_empty() && self.reader_done && self.held.is_none();
        let full = self.open.rows() >= self.batch_rows;
        match self.open.left(self.interval) {
            Some(left) if left.is_zero() || full || ended => {
                let batch = self.open.close();
                self.progress.fetch_add(batch.rows_read, Ordering::Relaxed);
                let epoch = self.epoch;
                self.epoch += 1;
                FeedPoll::Ready(epoch, batch)
            }
            Some(left) => FeedPoll::Pending(next_due.map_or(left, |d| d.min(left))),
            None if ended => FeedPoll::Done,
            None => FeedPoll::Pending(
                next_due
                    .unwrap_or(Duration::from_millis(1))
                    .min(Duration::from_millis(50)),
            ),
        }
    }
}
