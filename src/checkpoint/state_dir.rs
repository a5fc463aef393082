//! The state folder: checkpoints in, framed files out (and the latest good one back), with
//! the folder's write-ahead log beside them in `wal/`.
//!
//! A checkpoint file `checkpoint-<epoch>.zcc` is:
//!
//! | bytes | what |
//! |---|---|
//! | 0..8 | magic `ZCCKPT\0\0` |
//! | 8..12 | format, `u32` little-endian (2) |
//! | 12..20 | payload length, `u64` little-endian |
//! | 20..24 | CRC-32 (IEEE) of the payload |
//! | 24.. | bincode of the [`Checkpoint`] |
//!
//! It is written to a temporary file, synced, renamed into place and the folder synced; the
//! two newest are kept. Reading takes the newest file whose frame and payload check out and
//! reports every newer one that does not.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use crate::checkpoint::{Checkpoint, CheckpointError};
use crate::sources::wal::sync_dir;

const MAGIC: &[u8; 8] = b"ZCCKPT\0\0";
/// Format 2 added the pending model swap and the rejects file's length.
const FORMAT: u32 = 2;
const HEADER: usize = 24;
const MAX_BYTES: usize = 1 << 32;
/// Checkpoint files kept (the newest and the one before, in case the newest is damaged).
const KEEP: usize = 2;

/// A job's state folder.
#[derive(Debug)]
pub struct StateDir {
    dir: PathBuf,
}

/// The lock a running job holds on its state folder (released when dropped, or by the OS
/// when the process dies, `kill -9` included).
#[derive(Debug)]
pub struct StateDirLock {
    _file: File,
}

/// The latest checkpoint's outcome, for `/v1/status` and `/metrics`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CheckpointStatus {
    /// The epoch of the latest checkpoint written (or restored from).
    pub epoch: Option<u64>,
    /// When it was taken (Unix milliseconds).
    pub taken_at_ms: Option<i64>,
    /// Its size.
    pub bytes: u64,
    /// How long encoding and writing it took.
    pub duration: Duration,
    /// Checkpoints written since start.
    pub written: u64,
    /// Checkpoints that failed since start.
    pub failed: u64,
    /// The last failure, until a checkpoint succeeds again.
    pub last_error: Option<String>,
    /// The write-ahead log's size now.
    pub wal_bytes: u64,
    /// Tail epochs that could not be logged.
    pub wal_failures: u64,
}

/// The shared slot the hub writes [`CheckpointStatus`] into.
pub type SharedCheckpointStatus = std::sync::Arc<Mutex<CheckpointStatus>>;

impl StateDir {
    /// Opens (creating) the folder.
    pub fn open(dir: &Path) -> Result<Self, CheckpointError> {
        std::fs::create_dir_all(dir).map_err(|source| io(dir, source))?;
        Ok(StateDir {
            dir: dir.to_path_buf(),
        })
    }

    /// Takes the folder's lock (`lock` in it), so that a second job started on the same
    /// folder is refused instead of writing over this one's checkpoints and log.
    pub fn lock(&self) -> Result<StateDirLock, CheckpointError> {
        let path = self.dir.join("lock");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|source| io(&path, source))?;
        match file.try_lock() {
            Ok(()) => Ok(StateDirLock { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => Err(CheckpointError::InUse {
                dir: self.dir.clone(),
            }),
            Err(std::fs::TryLockError::Error(source)) => Err(io(&path, source)),
        }
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// The write-ahead log's folder.
    pub fn wal_dir(&self) -> PathBuf {
        self.dir.join("wal")
    }

    fn checkpoints(&self) -> Result<Vec<(u64, PathBuf)>, CheckpointError> {
        let mut found: Vec<(u64, PathBuf)> = std::fs::read_dir(&self.dir)
            .map_err(|source| io(&self.dir, source))?
            .filter_map(|entry| entry.ok())
            .filter_map(|entry| {
                let name = entry.file_name().into_string().ok()?;
                let epoch = name.strip_prefix("checkpoint-")?.strip_suffix(".zcc")?;
                Some((epoch.parse().ok()?, entry.path()))
            })
            .collect();
        found.sort();
        Ok(found)
    }

    /// The newest checkpoint that reads back whole (`None`: none yet); damaged newer ones
    /// are reported as warnings and skipped.
    pub fn latest(&self) -> Result<Option<Checkpoint>, CheckpointError> {
        for (_, path) in self.checkpoints()?.into_iter().rev() {
            match read(&path) {
                Ok(checkpoint) => return Ok(Some(checkpoint)),
                Err(reason) => tracing::warn!(
                    checkpoint = %path.display(),
                    %reason,
                    "skipping a damaged checkpoint; using the one before it"
                ),
            }
        }
        Ok(None)
    }

    /// Writes `checkpoint` atomically and prunes older files; returns its size.
    pub fn write(&self, checkpoint: &Checkpoint) -> Result<u64, CheckpointError> {
        let payload = bincode::serde::encode_to_vec(checkpoint, bincode::config::standard())
            .expect("a checkpoint encodes");
        let epoch = checkpoint.resume.epoch;
        let path = self.dir.join(format!("checkpoint-{epoch:020}.zcc"));
        let temp = self.dir.join(format!(".checkpoint-{epoch:020}.tmp"));
        let write = || -> std::io::Result<()> {
            let mut file = File::create(&temp)?;
            file.write_all(MAGIC)?;
            file.write_all(&FORMAT.to_le_bytes())?;
            file.write_all(&(payload.len() as u64).to_le_bytes())?;
            file.write_all(&crc32fast::hash(&payload).to_le_bytes())?;
            file.write_all(&payload)?;
            file.sync_all()?;
            std::fs::rename(&temp, &path)?;
            sync_dir(&self.dir)
        };
        if let Err(source) = write() {
            let _ = std::fs::remove_file(&temp);
            return Err(io(&path, source));
        }
        let all = self.checkpoints()?;
        for (_, old) in all.iter().take(all.len().saturating_sub(KEEP)) {
            let _ = std::fs::remove_file(old);
        }
        Ok((HEADER + payload.len()) as u64)
    }
}

fn io(path: &Path, source: std::io::Error) -> CheckpointError {
    CheckpointError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Reads and checks one checkpoint file.
fn read(path: &Path) -> Result<Checkpoint, String> {
    let mut bytes = Vec::new();
    File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(|e| e.to_string())?;
    if bytes.len() < HEADER || &bytes[..8] != MAGIC {
        return Err("not a checkpoint file (torn or foreign)".into());
    }
    let format = u32::from_le_bytes(bytes[8..12].try_into().expect("4"));
    if format != FORMAT {
        return Err(format!(
            "checkpoint format {format}; this version reads {FORMAT}"
        ));
    }
    let len = u64::from_le_bytes(bytes[12..20].try_into().expect("8")) as usize;
    let crc = u32::from_le_bytes(bytes[20..24].try_into().expect("4"));
    let payload = &bytes[HEADER..];
    if payload.len() != len {
        return Err(format!(
            "{} payload bytes, the header says {len} (torn write)",
            payload.len()
        ));
    }
    if crc32fast::hash(payload) != crc {
        return Err("checksum mismatch (damaged)".into());
    }
    let config = bincode::config::standard().with_limit::<MAX_BYTES>();
    bincode::serde::decode_from_slice::<Checkpoint, _>(payload, config)
        .map(|(c, _)| c)
        .map_err(|e| format!("payload does not decode: {e}"))
}
