//! The job layer: what every job shares, so that the CLI, Rust programs and the Python binding
//! start, feed, follow and stop jobs the same way.
//!
//! In: a [`Source`] (files, memory rows, a socket, a generated stream, a push channel, or a
//! chain of them) and a job's settings. Out: a [`JobHandle`] — bound addresses,
//! `wait_ready`, `stop`, `join` (the outcome or any worker's error), a [`JobSnapshot`] of the
//! served state and bounded [`Subscription`]s to per-epoch updates.
//!
//! - [`source`]: the [`Source`] value; [`prepare`]: the one feed factory every job uses.
//! - [`handle`]: [`JobHandle`] and [`JobControl`] (stop, readiness, failure).
//! - [`hub`]: the thread that applies finished epochs to the live state, the HTTP snapshots
//!   and the subscriptions.
//! - [`subscription`]: [`Subscription`], [`JobUpdate`], [`JobStatus`].
//! - [`workers`]: runs a job's dataflow on its workers, so that a failing or panicking worker
//!   stops the job instead of hanging it.
//!
//! The jobs themselves are in [`crate::dataflows`]: `AggregateJob`, `LiveJob`, `BatchJob`,
//! `ServeJob`, `DemoJob`.

pub mod checkpointer;
pub mod handle;
pub mod hub;
pub mod prepare;
pub mod source;
pub mod subscription;
pub mod workers;

use std::path::PathBuf;
use std::time::Duration;

pub use handle::{JobAddresses, JobControl, JobHandle};
pub use hub::JobSnapshot;
pub use prepare::{PreparedSource, SourceSettings};
pub use source::{FileSource, SocketSource, Source};
pub use subscription::{EpochUpdate, JobState, JobStatus, JobUpdate, RecvError, Subscription};

/// Errors of a job (any kind).
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// An input could not be opened or read.
    #[error(transparent)]
    Source(#[from] crate::sources::SourceError),
    /// An hourly count table could not be read.
    #[error(transparent)]
    Hourly(#[from] crate::features::hourly_input::HourlyInputError),
    /// Workers could not start.
    #[error(transparent)]
    Runtime(#[from] crate::runtime::RuntimeError),
    /// The HTTP server could not start.
    #[error(transparent)]
    Server(#[from] crate::server::ServerError),
    /// A model could not be loaded or trained.
    #[error(transparent)]
    Model(#[from] crate::model::ModelError),
    /// The prediction database could not be opened, read or written.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// The zone lookup could not be read.
    #[error(transparent)]
    Zones(#[from] crate::live::zones::ZoneLookupError),
    /// The state folder could not be used (`--state-dir`).
    #[error(transparent)]
    Checkpoint(#[from] crate::checkpoint::CheckpointError),
    /// The job stopped part-way (an input became unreadable, an output failed).
    #[error("the job stopped: {0}")]
    Failed(String),
    /// A worker or the job thread panicked.
    #[error("the job stopped: a worker panicked: {0}")]
    Panicked(String),
    /// An output file could not be written.
    #[error("cannot write {path}: {source}")]
    Output {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The job was stopped before its inputs ended (a batch run then writes nothing).
    #[error("the job was stopped before its inputs ended; nothing was written")]
    Stopped,
    /// A bounded job was given a never-ending source.
    #[error("this job runs to completion, so its source must end: give files or memory rows, not a socket, generated stream or channel")]
    Unbounded,
    /// `wait_ready` timed out.
    #[error("the job was not ready within {0:?}: its inputs may still be planning; wait longer or check the log")]
    NotReady(Duration),
    /// The job ended (stopped, or its inputs ended) before it was ready.
    #[error("the job ended before it was ready (it was stopped or had nothing to do)")]
    EndedBeforeReady,
}
