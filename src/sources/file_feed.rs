//! File replay for one worker: a [`ReplayPlan`] in, the epochs this worker owns out.
//!
//! Epochs are dealt to workers in blocks of [`ReplayPlan::block`] consecutive epochs: worker
//! `w` of `n` reads blocks `w, w + n, w + 2n, ...`, so workers parse in parallel (and each
//! decodes its own Parquet row groups). Which worker reads an epoch never changes its
//! contents, so every worker count produces the same epochs. Paced replay is
//! [`crate::sources::paced_feed`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::sources::parquet_rows::RowGroupCache;
use crate::sources::plan::{PlanBody, ReplayPlan};
use crate::sources::{Batch, FeedPoll, TripFeed};

/// Replays the epochs of a plan that belong to one worker.
#[derive(Debug)]
pub struct FileFeed {
    plan: Arc<ReplayPlan>,
    peers: u64,
    next_epoch: u64,
    epochs: u64,
    block: u64,
    cache: RowGroupCache,
    progress: Arc<AtomicU64>,
}

impl FileFeed {
    /// The feed for worker `index` of `peers`. `progress` counts rows read (shared, for a progress bar).
    pub fn new(
        plan: Arc<ReplayPlan>,
        index: usize,
        peers: usize,
        progress: Arc<AtomicU64>,
    ) -> Self {
        let epochs = plan.epoch_count();
        let block = plan.block.max(1);
        FileFeed {
            plan,
            peers: peers as u64,
            next_epoch: index as u64 * block,
            block,
            cache: RowGroupCache::default(),
            epochs,
            progress,
        }
    }

    /// The same feed without the epochs up to and including `epoch` (a restarted job
    /// resumes after its checkpoint's epoch).
    pub fn starting_after(mut self, epoch: u64) -> Self {
        while self.next_epoch <= epoch && self.next_epoch < self.epochs {
            self.advance();
        }
        self
    }

    fn advance(&mut self) {
        self.next_epoch += 1;
        if self.next_epoch.is_multiple_of(self.block) {
            self.next_epoch += (self.peers - 1) * self.block;
        }
    }

    fn read_epoch(&mut self, epoch: u64) -> Result<Batch, crate::sources::SourceError> {
        let mut batch = Batch::default();
        match &self.plan.body {
            PlanBody::Chunks(_) => {
                for chunk in self.plan.chunks_of(epoch) {
                    self.plan.read_chunk(chunk, &mut batch, &mut self.cache)?;
                }
            }
            PlanBody::Sorted(rows) => {
                let size = self.plan.batch_rows as usize;
                let start = (epoch as usize * size).min(rows.trips.len());
                let end = (start + size).min(rows.trips.len());
                batch.trips.extend_from_slice(&rows.trips[start..end]);
                if epoch == 0 {
                    batch.rejects.extend(rows.rejects.iter().cloned());
                }
                batch.rows_read = (batch.trips.len() + batch.rejects.len()) as u64;
            }
        }
        Ok(batch)
    }
}

impl TripFeed for FileFeed {
    fn block(&self) -> u64 {
        self.block
    }

    fn poll(&mut self) -> FeedPoll {
        if self.next_epoch >= self.epochs {
            return FeedPoll::Done;
        }
        let epoch = self.next_epoch;
        self.advance();
        let batch = match self.read_epoch(epoch) {
            Ok(batch) => batch,
            Err(error) => return FeedPoll::Failed(error),
        };
        self.progress.fetch_add(batch.rows_read, Ordering::Relaxed);
        FeedPoll::Ready(epoch, batch)
    }
}
