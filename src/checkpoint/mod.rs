//! Checkpoints of a live job: the state after one complete epoch in (the dataflow's
//! [`Resume`], the serving state, the SSE event id, the model in use), a file in the job's
//! state folder out, and back when the job restarts.
//!
//! A checkpoint is taken by the hub, between two finished epochs: everything in it reflects
//! epochs up to and including [`Resume::epoch`] and nothing after (the invariant restarts
//! rely on). Files are framed with a checksum ([`state_dir`]), written to a temporary file,
//! synced and renamed, so a torn write is never read back; [`settings`] refuses a checkpoint
//! taken with settings that would change the results.

pub mod settings;
pub mod state_dir;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::live::state::SavedLive;
use crate::resume::Resume;

pub use settings::CheckpointSettings;
pub use state_dir::{CheckpointStatus, StateDir, StateDirLock};

/// Everything a restarted live job needs to continue where it stopped.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The settings the job ran with.
    pub settings: CheckpointSettings,
    /// The dataflow's state after the checkpoint's epoch.
    pub resume: Resume,
    /// The serving state (forecasts with revisions, actuals, counters).
    pub live: SavedLive,
    /// The last Server-Sent Event id handed out.
    pub event_seq: u64,
    /// Rows durable per `#ack` socket client id (see [`crate::sources::acks`]).
    pub acked: Vec<(String, u64)>,
    /// The model file in use, when it is not the one the job was started with (swapped).
    pub model: Option<Vec<u8>>,
    /// A model offered (swapped in) but not yet applied at the checkpoint's epoch: offered
    /// again when the job restarts.
    pub pending_model: Option<Vec<u8>>,
    /// The `--rejects` file's length after the checkpoint's epoch (when the job writes one).
    pub rejects_len: Option<u64>,
    /// Wall clock (Unix milliseconds) when it was taken.
    pub taken_at_ms: i64,
}

/// Why a state folder cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// The folder or a file in it could not be read or written.
    #[error("state folder {}: {source} (check that it exists, is writable and has space)", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The checkpoint was taken with a different setting.
    #[error("the checkpoint in {} was taken with {setting} {checkpoint}, but this job has {setting} {now}: run with the same {setting}, or give a new state folder to start over", dir.display())]
    Mismatch {
        /// The state folder.
        dir: PathBuf,
        /// The setting's name, in plain words.
        setting: &'static str,
        /// Its value in the checkpoint.
        checkpoint: String,
        /// Its value now.
        now: String,
    },
    /// Another running job holds the folder's lock.
    #[error("state folder {} is in use by another running job: stop that job first, or give this job a state folder of its own", dir.display())]
    InUse {
        /// The state folder.
        dir: PathBuf,
    },
}
