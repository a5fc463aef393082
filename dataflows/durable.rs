//! A live job's durability (`--state-dir`): the job's settings and state folder in; the
//! checkpoint to restart from, the tail's write-ahead log and the hub's checkpointer out.
//!
//! On start the newest good checkpoint is read and checked against the job's settings; the
//! restarted job takes its model, serving state, event ids, dataflow seed and source position
//! from it, and the log's epochs after it are handed on again before new tail rows.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::checkpoint::state_dir::SharedCheckpointStatus;
use crate::checkpoint::{Checkpoint, CheckpointError, CheckpointSettings, StateDir, StateDirLock};
use crate::dataflows::forecast::ForecastPolicy;
use crate::jobs::checkpointer::{CheckpointPlan, Checkpointer};
use crate::jobs::prepare::ResumePoint;
use crate::jobs::{JobError, PreparedSource, Source};
use crate::model::watch::ModelHandle;
use crate::model::ModelFile;
use crate::sources::acks::AckBoard;
use crate::sources::wal::WalShared;

/// A live job's state folder, opened.
pub struct Durability {
    /// The folder.
    pub dir: Arc<StateDir>,
    /// The checkpoint the job restarts from (`None`: a fresh start).
    pub checkpoint: Option<Checkpoint>,
    /// The job's settings, as checkpoints store them.
    pub settings: CheckpointSettings,
    /// Checkpoint outcomes (for the status).
    pub status: SharedCheckpointStatus,
    /// The tail's log (process 0, when the source has a tail).
    pub wal: Option<Arc<WalShared>>,
    /// Durable rows of `#ack` socket clients (process 0, with a socket).
    pub acks: Option<Arc<AckBoard>>,
    /// The folder's lock (process 0), held while the job runs.
    _lock: Option<StateDirLock>,
}

impl Durability {
    /// Opens `dir` (process 0, the `leader`, locks it), reads its newest good checkpoint and
    /// refuses one taken with other settings.
    pub fn open(
        dir: &Path,
        source: &Source,
        policy: &ForecastPolicy,
        batch_rows: u64,
        leader: bool,
    ) -> Result<Self, JobError> {
        let inputs = describe(source)?;
        let settings = CheckpointSettings {
            features: format!("{:?}", policy.spec),
            lateness: format!("{:?}", policy.watermark),
            retention_hours: policy.retention_hours(),
            batch_rows,
            inputs,
        };
        let dir = Arc::new(StateDir::open(dir)?);
        let lock = leader.then(|| dir.lock()).transpose()?;
        let checkpoint = dir.latest()?;
        if let Some(checkpoint) = &checkpoint {
            checkpoint.settings.check(&settings, dir.path())?;
        }
        let status = SharedCheckpointStatus::default();
        if let Some(c) = &checkpoint {
            let mut s = status.lock().expect("status");
            s.epoch = Some(c.resume.epoch);
            s.taken_at_ms = Some(c.taken_at_ms);
        }
        Ok(Durability {
            dir,
            checkpoint,
            settings,
            status,
            wal: None,
            acks: None,
            _lock: lock,
        })
    }

    /// The model to serve: the checkpoint's (when one was swapped in before it) or `model`.
    pub fn model(&self, model: ModelFile) -> Result<ModelFile, JobError> {
        match self.checkpoint.as_ref().and_then(|c| c.model.as_ref()) {
            Some(bytes) => Ok(ModelFile::from_bytes(
                bytes,
                &self.dir.path().join("(checkpoint)"),
            )?),
            None => Ok(model),
        }
    }

    /// A model that was offered but not yet applied when the checkpoint was taken (offer it
    /// again).
    pub fn pending_model(&self) -> Result<Option<ModelFile>, JobError> {
        match self
            .checkpoint
            .as_ref()
            .and_then(|c| c.pending_model.as_ref())
        {
            Some(bytes) => Ok(Some(ModelFile::from_bytes(
                bytes,
                &self.dir.path().join("(checkpoint: pending model)"),
            )?)),
            None => Ok(None),
        }
    }

    /// Sets `source` to resume after the checkpoint and (process 0, with a tail) opens the
    /// log, queueing its epochs after the checkpoint for the feed.
    pub fn prepare(&mut self, source: &mut PreparedSource, has_tail: bool) -> Result<(), JobError> {
        let after = self.checkpoint.as_ref().map(|c| c.resume.epoch);
        if let Some(c) = &self.checkpoint {
            source.resume = Some(ResumePoint {
                epoch: c.resume.epoch,
                rows_read: c.live.rows_read(),
            });
        }
        if has_tail {
            let dir = self.dir.wal_dir();
            let (wal, replayed) =
                WalShared::open(&dir, after, &source.names).map_err(|source| {
                    CheckpointError::Io {
                        path: dir.clone(),
                        source,
                    }
                })?;
            if !replayed.epochs.is_empty() {
                tracing::info!(
                    epochs = replayed.epochs.len(),
                    "handing on the write-ahead log's epochs after the checkpoint again"
                );
            }
            if let Some(acks) = source.acks() {
                if let Some(c) = &self.checkpoint {
                    acks.restore(c.acked.iter().cloned());
                }
                acks.restore(replayed.acked);
                self.acks = Some(acks);
            }
            let wal = Arc::new(wal);
            source.wal = Some((wal.clone(), Mutex::new(replayed.epochs)));
            self.wal = Some(wal);
        }
        Ok(())
    }

    /// The hub's checkpointer.
    pub fn checkpointer(
        &self,
        policy: &ForecastPolicy,
        interval: Duration,
        startup_version: &str,
        models: Arc<ModelHandle>,
    ) -> Checkpointer {
        let plan = CheckpointPlan {
            dir: self.dir.clone(),
            settings: self.settings.clone(),
            interval,
            policy: policy.watermark,
            spec: policy.spec.clone(),
            retention_hours: policy.retention_hours(),
            startup_version: startup_version.to_string(),
            startup_model: self.checkpoint.as_ref().and_then(|c| c.model.clone()),
            models,
            wal: self.wal.clone(),
            status: self.status.clone(),
            acks: self.acks.clone(),
        };
        Checkpointer::start(plan, self.checkpoint.as_ref())
    }
}

/// The inputs as checkpoints name them (files with their sizes, then the tail).
fn describe(source: &Source) -> Result<Vec<String>, CheckpointError> {
    let mut inputs = Vec::new();
    for part in source.parts() {
        match part {
            Source::Files(files) => {
                for path in &files.paths {
                    let len = std::fs::metadata(path).map_or(0, |m| m.len());
                    let pace = files.speed.map_or(String::new(), |s| format!(" at {s}x"));
                    inputs.push(format!(
                        "{} ({len} bytes{pace}, {:?})",
                        path.display(),
                        files.order
                    ));
                }
            }
            Source::Memory(rows) => inputs.push(format!("{} memory rows", rows.len())),
            Source::Socket(_) => inputs.push("socket".into()),
            Source::Channel(_) => inputs.push("channel".into()),
            // Seeded: resumed at its position (rows read), not logged.
            Source::Generated(generated) => inputs.push(format!("generated {generated:?}")),
            Source::Chain(_) => {}
        }
    }
    Ok(inputs)
}
