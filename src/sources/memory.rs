//! In-memory source: batches built by a program (tests, notebooks, the Python binding) in,
//! the epochs this worker owns out.
//!
//! Epoch `e` is owned by worker `e % peers`, as with file replay, so a [`MemoryFeed`] built
//! from the same batches on every worker replays each batch exactly once.

use std::sync::Arc;

use crate::sources::{Batch, FeedPoll, TripFeed};

/// Replays shared batches: batch `i` is epoch `i`.
#[derive(Clone, Debug)]
pub struct MemoryFeed {
    batches: Arc<Vec<Batch>>,
    next: usize,
    peers: usize,
}

impl MemoryFeed {
    /// The feed for worker `index` of `peers` over `batches`.
    pub fn new(batches: Arc<Vec<Batch>>, index: usize, peers: usize) -> Self {
        MemoryFeed {
            batches,
            next: index,
            peers: peers.max(1),
        }
    }

    /// The same feed without the epochs up to and including `epoch`.
    pub fn starting_after(mut self, epoch: u64) -> Self {
        while self.next as u64 <= epoch && self.next < self.batches.len() {
            self.next += self.peers;
        }
        self
    }
}

impl TripFeed for MemoryFeed {
    fn poll(&mut self) -> FeedPoll {
        match self.batches.get(self.next) {
            Some(batch) => {
                let epoch = self.next as u64;
                self.next += self.peers;
                FeedPoll::Ready(epoch, batch.clone())
            }
            None => FeedPoll::Done,
        }
    }
}
