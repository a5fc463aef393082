//! Sources: files and sockets in, epochs of parsed trips out.
//!
//! A source is a [`TripFeed`]: something that hands the dataflow one [`Batch`] per epoch (the
//! dataflow's logical time), in increasing epoch order. Sources own all input I/O; the
//! dataflow operators downstream never touch a file or a socket. The [`source_trips`]
//! operator turns any feed into the three streams the aggregate dataflow consumes.
//!
//! - [`plan`]: splits files into epochs of `batch_rows` rows (deterministic for any worker count).
//! - [`file_feed`]: replays a plan's epochs owned by one worker, as fast as possible.
//! - [`paced_feed`]: replays a plan at a pace on one worker, in epochs cut by the clock.
//! - [`generated`]: a seeded generator as a never-ending, paced source (demo, benches).
//! - [`memory`]: batches built in a program, shared out like file epochs.
//! - [`channel`]: rows pushed from any thread through a [`channel::TripSender`].
//! - [`chain_feed`]: one worker's feed for any job: bounded parts, then a tail, then heartbeats.
//! - [`spool`]: copies standard input and FIFOs once into temporary files a plan can read.
//! - [`source_names`]: source names by index, a departed client's released after a while.
//! - [`socket`]: a TCP listener whose clients send CSV lines; epochs by arrival.
//! - [`csv_rows`], [`parquet_rows`], [`trip_row`]: turn rows into trips or reasons.

pub mod acks;
pub mod chain_feed;
pub mod channel;
pub mod csv_rows;
pub mod file_feed;
pub mod generated;
pub mod input_clock;
pub mod memory;
pub mod paced_feed;
pub mod pacing;
pub mod parquet_rows;
pub mod plan;
pub mod send;
pub mod send_acked;
pub mod socket;
pub mod source_names;
mod source_trips;
pub mod spool;
pub mod trip_row;
pub mod wal;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub use crate::format::Format;
pub use source_trips::{source_trips, SourceStreams};

use crate::reject::Reject;
use crate::schema::SchemaError;
use crate::trip::{RowPos, Trip};

/// Errors opening or reading an input. Each says which file and what to do.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The file could not be opened or read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The Parquet reader failed (corrupt or unsupported file).
    #[error(
        "cannot read Parquet file {path}: {message}; check that it is a complete Parquet file"
    )]
    Parquet {
        /// The file.
        path: PathBuf,
        /// What the reader said.
        message: String,
    },
    /// A column zonecast needs has a type it cannot read.
    #[error("{path}: column {column} has type {data_type}, which zonecast cannot read as this field; map another column to the field (FIELD=NAME)")]
    UnsupportedColumn {
        /// The file.
        path: PathBuf,
        /// The column name.
        column: String,
        /// The Arrow type found.
        data_type: String,
    },
    /// A CSV file without even a header line.
    #[error("{0} is empty: a CSV input needs a header line")]
    Empty(PathBuf),
    /// A gzip-compressed file.
    #[error("{0} is gzip-compressed: decompress it first (gunzip -k FILE)")]
    Compressed(PathBuf),
    /// No newline in the first MiB.
    #[error("{0} has no line break in its first MiB: a CSV input starts with a header line")]
    HeaderTooLong(PathBuf),
    /// The format could not be told from the name.
    #[error("cannot tell the format of {0}: name it *.csv or *.parquet, or give its format")]
    UnknownFormat(PathBuf),
    /// Standard input was named twice.
    #[error("standard input (-) is named twice among the inputs: it can be read only once")]
    StdinTwice,
    /// A one-pass input (standard input, a FIFO) in a job of several processes.
    #[error("{0} can be read only once, but {1} processes each read every input: save it to a file first, or run one process")]
    OnePassInput(PathBuf, usize),
    /// A required column is missing or a mapping is malformed.
    #[error(transparent)]
    Schema(#[from] SchemaError),
    /// A program pushing rows into a channel stopped the job with this message.
    #[error("the row producer failed: {0}")]
    Producer(String),
    /// A chain with a never-ending part before its end.
    #[error("a source chain must list its bounded parts (files, memory rows) first and at most one never-ending part (socket, generated stream, channel) last")]
    Chain,
    /// A push channel was given to a second job.
    #[error("this push channel is already read by another job: create a new channel for each job")]
    ChannelTaken,
    /// The socket could not be bound.
    #[error("cannot listen on {addr}: {source}; pick a free port (or port 0)")]
    Bind {
        /// The address.
        addr: String,
        /// The OS error.
        source: std::io::Error,
    },
}

impl From<crate::format::UnknownFormat> for SourceError {
    fn from(e: crate::format::UnknownFormat) -> Self {
        SourceError::UnknownFormat(e.0)
    }
}

impl SourceError {
    /// An I/O error on `path`.
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        SourceError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// What one epoch of a source holds: the rows that parsed and those that did not.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Batch {
    /// Rows that parsed, with their positions.
    pub trips: Vec<(Trip, RowPos)>,
    /// Rows that did not, with their reasons.
    pub rejects: Vec<Reject>,
    /// How many rows were read in this epoch (`trips + rejects`).
    pub rows_read: u64,
}

impl Batch {
    /// The position of every row, parsed or not.
    pub fn positions(&self) -> impl Iterator<Item = &RowPos> {
        self.trips
            .iter()
            .map(|(_, p)| p)
            .chain(self.rejects.iter().map(|r| &r.pos))
    }
}

/// What a feed has for the dataflow right now.
#[derive(Debug)]
pub enum FeedPoll {
    /// The batch for this epoch (later than any epoch returned before).
    Ready(u64, Batch),
    /// Nothing yet; poll again after about this long.
    Pending(Duration),
    /// The feed has ended; no more epochs.
    Done,
    /// The feed cannot go on (e.g. a file became unreadable); the job stops with this error.
    Failed(SourceError),
}

/// Wakes the source operator from another thread (e.g. when socket rows arrive).
pub type Waker = Arc<dyn Fn() + Send + Sync>;

/// A source of epochs for one worker. Implemented by file replay and the socket listener.
pub trait TripFeed {
    /// Returns the next epoch's batch, or says to wait, or that the feed has ended.
    fn poll(&mut self) -> FeedPoll;

    /// How many consecutive epochs one worker replays before the next worker's turn
    /// (the dataflow keeps enough epochs in flight for every worker to work on its block).
    fn block(&self) -> u64 {
        1
    }

    /// Receives a waker that schedules the source operator at once: feeds fed by other
    /// threads call it when data arrives, instead of waiting for the next poll.
    fn set_waker(&mut self, _waker: Waker) {}

    /// A tail that can be read again from the start (the generated stream) drops the first
    /// `rows` rows it would hand out, for a job restarted from a checkpoint that has them.
    /// Returns `false` for a feed that cannot (socket and channel rows come back from the
    /// write-ahead log instead).
    fn skip_delivered(&mut self, _rows: u64) -> bool {
        false
    }
}

/// A feed that has nothing (for workers that do not own an input).
#[derive(Debug, Default)]
pub struct EmptyFeed;

impl TripFeed for EmptyFeed {
    fn poll(&mut self) -> FeedPoll {
        FeedPoll::Done
    }
}
