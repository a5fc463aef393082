//! A never-ending generated source for demos and benchmarks: a seeded [`TripGenerator`] in,
//! epochs of trips out — as fast as possible before `live_from` (the backfilled history),
//! paced at `speed` x event time after it, each epoch closed at `batch_rows` rows or an
//! interval after its first row.
//!
//! Late deliveries the generator holds back come out when they are due, with their old pickup
//! times, so the live stream has late data like the real feeds.

use std::iter::Peekable;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::generator::TripGenerator;
use crate::sources::paced_feed::OpenEpoch;
use crate::sources::pacing::Pacer;
use crate::sources::{FeedPoll, TripFeed};
use crate::trip::RowPos;

/// Generated trips as a feed (for one worker: the epochs are numbered 0, 1, ...).
pub struct GeneratedFeed {
    trips: Peekable<TripGenerator>,
    live_from: i64,
    pacer: Pacer,
    clock: i64,
    source: u32,
    line: u64,
    batch_rows: usize,
    interval: Duration,
    open: OpenEpoch,
    epoch: u64,
    progress: Arc<AtomicU64>,
}

impl std::fmt::Debug for GeneratedFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeneratedFeed")
            .field("epoch", &self.epoch)
            .field("clock", &self.clock)
            .finish()
    }
}

impl GeneratedFeed {
    /// Trips of `generator`: unpaced while pickups are before `live_from` (naive seconds),
    /// then paced at `speed`; rows are numbered under source index `source`. An epoch closes
    /// at `cut.0` rows or `cut.1` after its first row.
    pub fn new(
        generator: TripGenerator,
        live_from: i64,
        speed: f64,
        source: u32,
        cut: (u64, Duration),
        progress: Arc<AtomicU64>,
    ) -> Self {
        GeneratedFeed {
            trips: generator.peekable(),
            live_from,
            pacer: Pacer::new(speed),
            clock: i64::MIN,
            source,
            line: 0,
            batch_rows: cut.0.max(1) as usize,
            interval: cut.1,
            open: OpenEpoch::default(),
            epoch: 0,
            progress,
        }
    }
}

impl TripFeed for GeneratedFeed {
    /// Generates and drops `rows` trips (the generator is seeded, so the rest of the stream
    /// is what an uninterrupted run would have read next); pacing starts again at the next.
    fn skip_delivered(&mut self, rows: u64) -> bool {
        for _ in 0..rows {
            let Some(next) = self.trips.next() else { break };
            self.clock = next.pickup.max(self.clock);
            self.line += 1;
        }
        true
    }

    fn poll(&mut self) -> FeedPoll {
        let mut wait = Duration::from_millis(20);
        while self.open.rows() < self.batch_rows {
            let Some(next) = self.trips.peek() else { break };
            let due_at = next.pickup.max(self.clock);
            if due_at >= self.live_from {
                let until = self.pacer.wait_for(due_at);
                if !until.is_zero() {
                    wait = until.min(wait);
                    break;
                }
            }
            self.clock = due_at;
            let trip = self.trips.next().expect("peeked").trip();
            self.line += 1;
            let pos = RowPos {
                source: self.source,
                line: self.line,
            };
            self.open.push_trip(trip, pos);
        }
        let ended = self.trips.peek().is_none();
        let full = self.open.rows() >= self.batch_rows;
        match self.open.left(self.interval) {
            None if ended => return FeedPoll::Done,
            None => return FeedPoll::Pending(wait.max(Duration::from_millis(1))),
            Some(left) if !(left.is_zero() || full || ended) => {
                return FeedPoll::Pending(wait.min(left).max(Duration::from_millis(1)))
            }
            Some(_) => {}
        }
        let batch = self.open.close();
        self.progress.fetch_add(batch.rows_read, Ordering::Relaxed);
        let epoch = self.epoch;
        self.epoch += 1;
        FeedPoll::Ready(epoch, batch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generator::GeneratorConfig;

    #[test]
    fn history_is_immediate_and_the_live_part_is_paced() {
        let config = GeneratorConfig {
            trips: 2_000,
            days: 2,
            ..GeneratorConfig::default()
        };
        let live_from = config.start + 86_400;
        let mut feed = GeneratedFeed::new(
            TripGenerator::new(config),
            live_from,
            1.0,
            0,
            (100_000, Duration::ZERO),
            Arc::default(),
        );
        let FeedPoll::Ready(0, batch) = feed.poll() else {
            panic!("the history comes at once")
        };
        assert!(batch.trips.len() > 500);
        // The history, and the first live trip (it fixes the pacing origin).
        let live = batch
            .trips
            .iter()
            .filter(|(t, _)| t.pickup >= live_from)
            .count();
        assert!(live <= 1, "{live} live trips came unpaced");
        // At 1x, the next live trip is minutes away.
        let mut later = 0;
        for _ in 0..3 {
            if let FeedPoll::Ready(_, b) = feed.poll() {
                later += b.trips.len();
            }
        }
        assert!(later < 10, "paced: {later}");
    }
}

/// A generated, never-ending input (the demo, tests, benchmarks): what to generate, how much
/// of it to backfill at once and the pace after that.
#[derive(Clone, Debug, PartialEq)]
pub struct GeneratedInput {
    /// What to generate (start, rate through `trips`/`days`, seed).
    pub config: crate::generator::GeneratorConfig,
    /// Trips before this event time are backfilled at once; later ones are paced.
    pub live_from: i64,
    /// Pace (x event time).
    pub speed: f64,
}

impl GeneratedInput {
    /// Days a generated stream covers (ten years: never-ending for demos and benchmarks).
    pub const STREAM_DAYS: u32 = 3_650;

    /// `trips_per_day` generated trips with `seed` from `start` (naive seconds): the first
    /// `history_days` backfilled at once, the rest paced at `speed`.
    pub fn backfill_then_live(
        seed: u64,
        start: i64,
        history_days: u32,
        trips_per_day: u64,
        speed: f64,
    ) -> Self {
        let days = history_days + Self::STREAM_DAYS;
        let config = crate::generator::GeneratorConfig {
            trips: trips_per_day * days as u64,
            days,
            seed,
            start,
            ..crate::generator::GeneratorConfig::default()
        };
        GeneratedInput {
            config,
            live_from: start + history_days as i64 * 86_400,
            speed,
        }
    }

    /// The feed of this input, numbering rows under source `source`.
    /// Paced epochs close `interval` after their first row (or at `batch_rows`).
    pub fn feed(
        &self,
        source: u32,
        batch_rows: u64,
        interval: Duration,
        progress: Arc<AtomicU64>,
    ) -> GeneratedFeed {
        GeneratedFeed::new(
            TripGenerator::new(self.config.clone()),
            self.live_from,
            self.speed,
            source,
            (batch_rows, interval),
            progress,
        )
    }
}
