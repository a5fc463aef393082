//! The one feed factory: a [`Source`] and the run's settings in; every worker's feed, the
//! source names, the bound socket address and the row total out.
//!
//! Bounded parts (files, memory rows) are planned into epochs that every worker shares out
//! (paced files are replayed by global worker 0 in epochs cut by the clock); the tail (socket, generated stream, channel) is read by global worker 0 after them.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::jobs::source::Source;
use crate::reject::Reject;
use crate::runtime::Cluster;
use crate::schema::ColumnMap;
use crate::sources::acks::AckBoard;
use crate::sources::chain_feed::ChainFeed;
use crate::sources::file_feed::FileFeed;
use crate::sources::input_clock::InputClock;
use crate::sources::memory::MemoryFeed;
use crate::sources::paced_feed::PacedFeed;
use crate::sources::pacing::Pacer;
use crate::sources::plan::ReplayPlan;
use crate::sources::socket::{listen, SocketOptions, SourceNames};
use crate::sources::spool::is_one_pass;
use crate::sources::wal::WalShared;
use crate::sources::{Batch, EmptyFeed, SourceError, TripFeed};
use crate::trip::RowPos;

/// How a run opens its source.
#[derive(Clone, Debug)]
pub struct SourceSettings {
    /// Column mapping for inputs with non-TLC names.
    pub columns: ColumnMap,
    /// Rows per epoch (files, memory) or at most per epoch (socket, generated).
    pub batch_rows: u64,
    /// Where the workers run (the tail is read on process 0 only).
    pub cluster: Cluster,
    /// Close an empty epoch this often once the inputs are idle or done (serving jobs).
    pub heartbeat: Option<Duration>,
    /// Paced files and the generated stream close an epoch at most this long after its first
    /// row (and at `batch_rows`).
    pub batch_interval: Duration,
}

impl SourceSettings {
    /// The default epoch interval of paced and never-ending sources.
    pub const DEFAULT_BATCH_INTERVAL: Duration = Duration::from_millis(20);
}

enum Part {
    Files(Arc<ReplayPlan>),
    /// Replayed by global worker 0 alone, in epochs cut by the clock.
    Paced(Arc<ReplayPlan>, Pacer),
    Memory(Arc<Vec<Batch>>),
}

impl Part {
    /// Epoch numbers the part takes (a paced part closes at most one epoch per row).
    fn epochs(&self) -> u64 {
        match self {
            Part::Files(plan) => plan.epoch_count(),
            Part::Paced(plan, _) => plan.positions.max(1),
            Part::Memory(batches) => batches.len() as u64,
        }
    }
}

/// Where a restarted job's source resumes: after `epoch`, with `rows_read` rows delivered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ResumePoint {
    /// The checkpoint's epoch: every part resumes after it.
    pub epoch: u64,
    /// Rows read through that epoch (a paced part skips its share of them).
    pub rows_read: u64,
}

/// Logged tail epochs waiting to be handed on again (taken by worker 0's feed).
pub type LoggedEpochs = Mutex<Vec<(u64, Batch)>>;

/// A source opened for one run: hands each worker its feed.
pub struct PreparedSource {
    parts: Vec<(u64, Part)>,
    /// Rows in the parts before each part.
    rows_before: Vec<u64>,
    bounded_epochs: u64,
    /// Rows in all the bounded parts.
    bounded_rows: u64,
    tail: Mutex<Option<Box<dyn TripFeed + Send>>>,
    peers: usize,
    heartbeat: Option<Duration>,
    batch_interval: Duration,
    stop: Arc<AtomicBool>,
    /// The first epoch after every input epoch (`u64::MAX` until the inputs end).
    pub done_epoch: Arc<AtomicU64>,
    /// Source names by index (files, memory, then tail clients as they come).
    pub names: SourceNames,
    /// Rows the bounded parts hold (`None` when a tail follows).
    pub total_rows: Option<u64>,
    /// The socket's bound address (process 0).
    pub socket: Option<SocketAddr>,
    /// Rows read so far (all parts).
    pub rows_read: Arc<AtomicU64>,
    /// Records every epoch the feeds hand out (a serving job sets the hub's clock).
    pub clock: Option<Arc<InputClock>>,
    /// Resume after a checkpoint (set before the first [`PreparedSource::feed`]).
    pub resume: Option<ResumePoint>,
    /// Log the tail's epochs here before they enter the dataflow, after handing on again the
    /// logged epochs after the resume point (global worker 0).
    pub wal: Option<(Arc<WalShared>, LoggedEpochs)>,
    acks: Option<Arc<AckBoard>>,
}

impl PreparedSource {
    /// Plans the bounded parts and opens the tail. `stop` ends every feed at its next poll.
    pub fn open(
        source: &Source,
        settings: &SourceSettings,
        stop: Arc<AtomicBool>,
    ) -> Result<Self, SourceError> {
        let names = SourceNames::default();
        let progress = Arc::new(AtomicU64::new(0));
        let leader = settings.cluster.is_leader();
        let parts_in = source.parts();
        let mut parts = Vec::new();
        let mut rows_before = Vec::new();
        let mut next_epoch = 0;
        let mut total = 0;
        let mut tail: Option<Box<dyn TripFeed + Send>> = None;
        let mut socket = None;
        let acks: Arc<AckBoard> = Arc::default();
        for (index, part) in parts_in.iter().enumerate() {
            let last = index + 1 == parts_in.len();
            if tail.is_some() || (!part.is_bounded() && !last) {
                return Err(SourceError::Chain);
            }
            let before = total;
            let opened = match part {
                Source::Files(files) => {
                    let processes = settings.cluster.processes.max(1);
                    if let Some(path) = files.paths.iter().find(|p| is_one_pass(p)) {
                        if processes > 1 {
                            return Err(SourceError::OnePassInput(path.clone(), processes));
                        }
                    }
                    let plan = ReplayPlan::open(
                        &files.paths,
                        files.format,
                        &settings.columns,
                        settings.batch_rows,
                        files.order,
                    )?;
                    for name in plan.source_names() {
                        names.push(name);
                    }
                    total += plan.positions;
                    Some(match files.speed {
                        Some(speed) => Part::Paced(Arc::new(plan), Pacer::new(speed)),
                        None => Part::Files(Arc::new(plan)),
                    })
                }
                Source::Memory(rows) => {
                    let source = push_name(&names, "memory");
                    total += rows.len() as u64;
                    Some(Part::Memory(Arc::new(memory_batches(
                        rows,
                        source,
                        settings.batch_rows,
                    ))))
                }
                Source::Socket(s) if leader => {
                    let options = SocketOptions {
                        columns: settings.columns.clone(),
                        header: s.header.clone(),
                        batch_interval: s.batch_interval.max(Duration::from_millis(1)),
                        batch_rows: settings.batch_rows,
                        exit_when_idle: s.exit_when_idle,
                        shutdown: stop.clone(),
                        max_clients: s.max_clients,
                        client_idle_timeout: s.client_idle_timeout,
                        acks: acks.clone(),
                    };
                    let (feed, local) = listen(&s.addr, options, names.clone(), progress.clone())?;
                    socket = Some(local);
                    tail = Some(Box::new(feed));
                    None
                }
                Source::Generated(generated) if leader => {
                    let source = push_name(&names, "generated");
                    tail = Some(Box::new(generated.feed(
                        source,
                        settings.batch_rows,
                        settings.batch_interval,
                        progress.clone(),
                    )));
                    None
                }
                Source::Channel(channel) if leader => {
                    let mut feed = channel.take().ok_or(SourceError::ChannelTaken)?;
                    feed.attach(push_name(&names, "channel"), progress.clone());
                    tail = Some(Box::new(feed));
                    None
                }
                _ => None,
            };
            if let Some(part) = opened {
                let epochs = part.epochs();
                rows_before.push(before);
                parts.push((next_epoch, part));
                next_epoch += epochs;
            }
        }
        let unbounded = !source.is_bounded();
        Ok(PreparedSource {
            parts,
            rows_before,
            resume: None,
            wal: None,
            acks: socket.is_some().then_some(acks),
            bounded_epochs: next_epoch,
            bounded_rows: total,
            tail: Mutex::new(tail),
            peers: settings.cluster.peers(),
            heartbeat: settings.heartbeat,
            batch_interval: settings.batch_interval,
            stop,
            rows_read: progress,
            clock: None,
            done_epoch: Arc::new(AtomicU64::new(u64::MAX)),
            names,
            total_rows: (!unbounded).then_some(total),
            socket,
        })
    }

    /// The feed of global worker `index` (the tail and heartbeats go to worker 0).
    pub fn feed(&self, index: usize) -> Box<dyn TripFeed> {
        let resume = self.resume;
        let parts = self
            .parts
            .iter()
            .zip(&self.rows_before)
            .filter_map(|((offset, part), &rows_before)| {
                // Within the part, the epochs after the resume point (all of them: None).
                let after = match resume {
                    Some(r) if r.epoch + 1 >= offset + part.epochs() => return None,
                    Some(r) if r.epoch >= *offset => Some((r.epoch - offset, r.rows_read)),
                    _ => None,
                };
                let feed: Box<dyn TripFeed> = match part {
                    Part::Files(plan) => {
                        let feed =
                            FileFeed::new(plan.clone(), index, self.peers, self.rows_read.clone());
                        match after {
                            Some((epoch, _)) => Box::new(feed.starting_after(epoch)),
                            None => Box::new(feed),
                        }
                    }
                    Part::Paced(plan, pacer) if index == 0 => {
                        let feed = PacedFeed::new(
                            plan.clone(),
                            pacer.clone(),
                            self.batch_interval,
                            self.rows_read.clone(),
                        );
                        match after {
                            Some((epoch, rows)) => {
                                Box::new(feed.resuming(rows.saturating_sub(rows_before), epoch + 1))
                            }
                            None => Box::new(feed),
                        }
                    }
                    Part::Paced(..) => Box::new(EmptyFeed),
                    Part::Memory(batches) => {
                        let feed = MemoryFeed::new(batches.clone(), index, self.peers);
                        match after {
                            Some((epoch, _)) => Box::new(feed.starting_after(epoch)),
                            None => Box::new(feed),
                        }
                    }
                };
                Some((*offset, feed))
            })
            .collect();
        let (tail, heartbeat, finished) = match index {
            0 => (
                self.tail.lock().expect("tail").take().map(|mut tail| {
                    // A tail that can be read again skips what the checkpoint has of it.
                    if let Some(r) = resume.filter(|r| r.epoch + 1 >= self.bounded_epochs) {
                        tail.skip_delivered(r.rows_read.saturating_sub(self.bounded_rows));
                    }
                    tail as Box<dyn TripFeed>
                }),
                self.heartbeat,
                self.done_epoch.clone(),
            ),
            _ => (None, None, Arc::new(AtomicU64::new(u64::MAX))),
        };
        let mut feed = ChainFeed::new(
            parts,
            self.bounded_epochs,
            tail,
            heartbeat,
            self.stop.clone(),
            finished,
        )
        .with_clock(self.clock.clone());
        if index == 0 {
            feed = feed.with_acks(self.acks.clone());
        }
        if let Some(r) = resume {
            feed = feed.resuming_after(r.epoch);
        }
        if let (0, Some((wal, replay))) = (index, &self.wal) {
            let replay = std::mem::take(&mut *replay.lock().expect("replay"));
            feed = feed.with_wal(wal.clone(), replay);
        }
        Box::new(feed)
    }

    /// Durable rows of `#ack` socket clients (when the source has a socket).
    pub fn acks(&self) -> Option<Arc<AckBoard>> {
        self.acks.clone()
    }

    /// A copy of the source names.
    pub fn source_names(&self) -> Vec<String> {
        self.names.to_vec()
    }
}

fn push_name(names: &SourceNames, name: &str) -> u32 {
    names.push(name)
}

/// Memory rows validated and cut into epochs of `batch_rows` rows (line = 1-based row index).
fn memory_batches(
    rows: &[crate::sources::trip_row::TripRow],
    source: u32,
    batch_rows: u64,
) -> Vec<Batch> {
    rows.chunks(batch_rows.max(1) as usize)
        .enumerate()
        .map(|(chunk, rows)| {
            let mut batch = Batch::default();
            for (i, row) in rows.iter().enumerate() {
                let pos = RowPos {
                    source,
                    line: (chunk * batch_rows.max(1) as usize + i + 1) as u64,
                };
                match row.validate() {
                    Ok(trip) => batch.trips.push((trip, pos)),
                    Err(reason) => batch.rejects.push(Reject { pos, reason }),
                }
            }
            batch.rows_read = rows.len() as u64;
            batch
        })
        .collect()
}
