//! What a job reads, as one value: files, memory rows, a socket, a generated stream or a push
//! channel, chained (bounded parts first, then at most one never-ending tail).
//!
//! A [`Source`] is a description; [`crate::jobs::PreparedSource`] opens it for a run (plans the
//! files, binds the socket) and hands every worker its feed.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::format::Format;
use crate::sources::channel::{trip_channel, ChannelFeed, ChannelOptions, TripSender};
use crate::sources::generated::GeneratedInput;
use crate::sources::plan::ReplayOrder;
use crate::sources::socket::SocketOptions;
use crate::sources::trip_row::TripRow;

/// Files replayed in the order given (CSV and Parquet, mixed).
#[derive(Clone, Debug, PartialEq)]
pub struct FileSource {
    /// The files.
    pub paths: Vec<PathBuf>,
    /// File order (real disorder) or sorted by pickup.
    pub order: ReplayOrder,
    /// Pace at this many x event time (`None`: as fast as possible).
    pub speed: Option<f64>,
    /// The format of every file (`None`: told from each name, or sniffed for standard input
    /// and FIFOs).
    pub format: Option<Format>,
}

/// A TCP listener whose clients send CSV lines (read by global worker 0 on process 0).
#[derive(Clone, Debug, PartialEq)]
pub struct SocketSource {
    /// `host:port`; port 0 picks a free port (the handle reports the bound address).
    pub addr: String,
    /// The header clients would send, when they send rows only.
    pub header: Option<Vec<String>>,
    /// Close an epoch at least this often while rows arrive.
    pub batch_interval: Duration,
    /// End the source this long after the last client left (once one came).
    pub exit_when_idle: Option<Duration>,
    /// Clients connected at once at most (one more is told so and closed).
    pub max_clients: usize,
    /// Disconnect a client that sends nothing for this long.
    pub client_idle_timeout: Duration,
}

impl SocketSource {
    /// The default socket epoch interval.
    pub const DEFAULT_BATCH_INTERVAL: Duration = Duration::from_millis(20);

    /// A listener on `addr` with default options.
    pub fn new(addr: &str) -> Self {
        SocketSource {
            addr: addr.to_string(),
            header: None,
            batch_interval: Self::DEFAULT_BATCH_INTERVAL,
            exit_when_idle: None,
            max_clients: SocketOptions::DEFAULT_MAX_CLIENTS,
            client_idle_timeout: SocketOptions::DEFAULT_CLIENT_IDLE_TIMEOUT,
        }
    }
}

/// The job's end of a push channel (taken by the run that reads it).
#[derive(Clone)]
pub struct ChannelSource {
    feed: Arc<Mutex<Option<ChannelFeed>>>,
}

impl ChannelSource {
    /// Takes the feed (once: a channel is read by one run).
    pub(crate) fn take(&self) -> Option<ChannelFeed> {
        self.feed.lock().expect("channel").take()
    }
}

impl std::fmt::Debug for ChannelSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ChannelSource")
    }
}

/// Where a job's trips come from.
#[derive(Clone, Debug)]
pub enum Source {
    /// Files (bounded).
    Files(FileSource),
    /// Rows built in a program (bounded), validated like file rows.
    Memory(Arc<Vec<TripRow>>),
    /// CSV lines from socket clients (a tail).
    Socket(SocketSource),
    /// A seeded generated stream: a backfill, then paced (a tail).
    Generated(GeneratedInput),
    /// Rows pushed through a [`TripSender`] (a tail).
    Channel(ChannelSource),
    /// Parts in order: bounded parts, then at most one tail.
    Chain(Vec<Source>),
}

impl Source {
    /// Files in file order, as fast as possible.
    pub fn files(paths: impl IntoIterator<Item = impl Into<PathBuf>>) -> Source {
        Source::Files(FileSource {
            paths: paths.into_iter().map(Into::into).collect(),
            order: ReplayOrder::File,
            speed: None,
            format: None,
        })
    }

    /// A socket listener on `addr` with default options.
    pub fn socket(addr: &str) -> Source {
        Source::Socket(SocketSource::new(addr))
    }

    /// Rows built in a program.
    pub fn memory(rows: Vec<TripRow>) -> Source {
        Source::Memory(Arc::new(rows))
    }

    /// A push channel: the source for the job and the handle that feeds it (`Send + Clone`).
    /// The job ends its input once every sender is closed or dropped.
    pub fn channel(options: ChannelOptions) -> (Source, TripSender) {
        let (sender, feed) = trip_channel(options);
        let source = ChannelSource {
            feed: Arc::new(Mutex::new(Some(feed))),
        };
        (Source::Channel(source), sender)
    }

    /// This source, then `next` (e.g. files, then a socket).
    pub fn then(self, next: Source) -> Source {
        let mut parts = match self {
            Source::Chain(parts) => parts,
            other => vec![other],
        };
        match next {
            Source::Chain(more) => parts.extend(more),
            other => parts.push(other),
        }
        Source::Chain(parts)
    }

    /// The parts in order (a chain flattened).
    pub fn parts(&self) -> Vec<&Source> {
        match self {
            Source::Chain(parts) => parts.iter().flat_map(Source::parts).collect(),
            other => vec![other],
        }
    }

    /// Whether this part ends by itself (files, memory).
    pub fn is_bounded(&self) -> bool {
        self.parts()
            .iter()
            .all(|p| matches!(p, Source::Files(_) | Source::Memory(_)))
    }

    /// Whether a part's rows cannot be read again and go through the write-ahead log of a
    /// state folder (socket, push channel; a generated stream resumes at its position).
    pub fn has_logged_tail(&self) -> bool {
        self.parts()
            .iter()
            .any(|p| matches!(p, Source::Socket(_) | Source::Channel(_)))
    }

    /// Names of the input files, for run records.
    pub fn describe(&self) -> Vec<String> {
        self.parts()
            .iter()
            .flat_map(|part| match part {
                Source::Files(f) => f.paths.iter().map(|p| p.display().to_string()).collect(),
                Source::Memory(rows) => vec![format!("memory ({} rows)", rows.len())],
                Source::Socket(s) => vec![format!("socket {}", s.addr)],
                Source::Generated(_) => vec!["generated".to_string()],
                Source::Channel(_) => vec!["channel".to_string()],
                Source::Chain(_) => Vec::new(),
            })
            .collect()
    }

    /// Sets the pace of every file part.
    pub fn with_speed(mut self, speed: Option<f64>) -> Source {
        self.for_files(&mut |f| f.speed = speed);
        self
    }

    /// Sets the order of every file part.
    pub fn with_order(mut self, order: ReplayOrder) -> Source {
        self.for_files(&mut |f| f.order = order);
        self
    }

    /// Sets the format of every file part (instead of telling it from each name).
    pub fn with_format(mut self, format: Option<Format>) -> Source {
        self.for_files(&mut |f| f.format = format);
        self
    }

    fn for_files(&mut self, apply: &mut dyn FnMut(&mut FileSource)) {
        match self {
            Source::Files(f) => apply(f),
            Source::Chain(parts) => parts.iter_mut().for_each(|p| p.for_files(apply)),
            _ => {}
        }
    }
}

impl Default for Source {
    /// No input at all (a job that only serves, e.g. until rows are pushed some other way).
    fn default() -> Self {
        Source::Chain(Vec::new())
    }
}
