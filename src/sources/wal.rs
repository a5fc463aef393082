//! The write-ahead log of a live job's tail: epochs of rows from socket clients and the push
//! channel in (before they enter the dataflow), the logged epochs after a checkpoint out (when
//! the job restarts).
//!
//! Each epoch is one record appended to the current segment file and made durable
//! (`fsync`) before the feed hands the epoch on, so every row the dataflow saw can be read
//! again after a crash. A record is framed:
//!
//! | bytes | what |
//! |---|---|
//! | 0..4 | payload length, `u32` little-endian |
//! | 4..8 | CRC-32 (IEEE) of the payload |
//! | 8.. | bincode of `(epoch, Batch, [(source, client id)], [(source, name)])`: the ids of `#ack` clients and the names of the batch's sources |
//!
//! Source numbers belong to the process that logged them: on replay each record's sources
//! are registered again under their names and its rows renumbered, so reject reports of
//! replayed rows name the client that sent them.
//!
//! A torn or damaged record ends its segment's replay (reported, never decoded). Segments are
//! named by their first epoch; once a checkpoint covers every epoch of a segment, the segment
//! is deleted, so the log stays bounded on an endless stream.
//!
//! A record that cannot be written (disk full, read-only) is cut off again (the segment is
//! truncated to its last whole record, or closed when even that fails) and the append
//! reports the failure: the feed then holds the epoch and retries, so the log never has a
//! gap and an `ack` always means durable.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use crate::sources::source_names::SourceNames;
use crate::sources::Batch;

const HEADER: usize = 8;
/// The largest record a segment may hold (a larger length is a damaged header).
const MAX_RECORD: usize = 1 << 30;

/// The log as the feed (which appends) and the hub (which checkpoints) share it.
#[derive(Debug)]
pub struct WalShared {
    dir: PathBuf,
    segments: Mutex<Segments>,
    /// The latest checkpointed epoch (`u64::MAX`: none yet).
    checkpointed: AtomicU64,
    /// Bytes in the log's segments now.
    pub bytes: AtomicU64,
    /// Appends that failed (disk full, read-only); each is retried.
    pub failures: AtomicU64,
    /// The last failure, for the status.
    pub last_error: Mutex<Option<String>>,
    /// The job's source names (each record keeps its sources' names).
    names: SourceNames,
}

#[derive(Debug, Default)]
struct Segments {
    /// `(first epoch, last epoch, path)`, oldest first.
    closed: Vec<(u64, u64, PathBuf)>,
    /// The segment being appended to.
    open: Option<OpenSegment>,
}

#[derive(Debug)]
struct OpenSegment {
    first: u64,
    last: u64,
    path: PathBuf,
    file: File,
    /// Bytes of whole records in it.
    len: u64,
}

impl Segments {
    /// Closes the open segment (deleting it when it holds no whole record).
    fn close_open(&mut self) {
        if let Some(open) = self.open.take() {
            if open.len == 0 {
                let _ = std::fs::remove_file(&open.path);
            } else {
                self.closed.push((open.first, open.last, open.path));
            }
        }
    }
}

/// What reading the log back found.
#[derive(Debug, Default)]
pub struct Replayed {
    /// Logged epochs after the resume point, in order.
    pub epochs: Vec<(u64, Batch)>,
    /// Segments whose tail was torn or damaged: `(segment, byte offset)`.
    pub damaged: Vec<(PathBuf, u64)>,
    /// The highest row logged per `#ack` client id (every segment).
    pub acked: Vec<(String, u64)>,
}

impl WalShared {
    /// Opens (creating) the log folder `dir` and reads every segment back: the epochs after
    /// `after` (all with `None`) are returned for replay, their sources registered in
    /// `source_names`, which also name the sources of the records appended from now on.
    pub fn open(
        dir: &Path,
        after: Option<u64>,
        source_names: &SourceNames,
    ) -> io::Result<(Self, Replayed)> {
        std::fs::create_dir_all(dir)?;
        let mut names: Vec<(u64, PathBuf)> = std::fs::read_dir(dir)?
            .filter_map(|entry| entry.ok())
            .filter_map(|entry| {
                let name = entry.file_name().into_string().ok()?;
                let first = name.strip_prefix("wal-")?.strip_suffix(".log")?;
                Some((first.parse().ok()?, entry.path()))
            })
            .collect();
        names.sort();
        let mut replayed = Replayed::default();
        let mut closed = Vec::new();
        let mut bytes = 0;
        let mut acked: std::collections::BTreeMap<String, u64> = Default::default();
        let mut renumbered = std::collections::HashMap::new();
        for (first, path) in names {
            let (records, good, len) = read_segment(&path)?;
            if good < len {
                tracing::warn!(segment = %path.display(), offset = good, "the write-ahead log's tail is torn or damaged; its records from there on are ignored");
                replayed.damaged.push((path.clone(), good));
            }
            let last = records.last().map_or(first, |(e, ..)| *e);
            bytes += len;
            for (epoch, mut batch, ids, sources) in records {
                for (source, id) in ids {
                    let rows = batch.positions();
                    if let Some(row) = rows.filter(|p| p.source == source).map(|p| p.line).max() {
                        let durable = acked.entry(id).or_insert(0);
                        *durable = (*durable).max(row);
                    }
                }
                if after.is_none_or(|a| epoch > a) {
                    renumber(&mut batch, &sources, source_names, &mut renumbered);
                    replayed.epochs.push((epoch, batch));
                }
            }
            closed.push((first, last, path));
        }
        replayed.acked = acked.into_iter().collect();
        replayed.epochs.sort_by_key(|(e, _)| *e);
        replayed.epochs.dedup_by_key(|(e, _)| *e);
        let wal = WalShared {
            dir: dir.to_path_buf(),
            segments: Mutex::new(Segments { closed, open: None }),
            checkpointed: AtomicU64::new(after.unwrap_or(u64::MAX)),
            bytes: AtomicU64::new(bytes),
            failures: AtomicU64::new(0),
            last_error: Mutex::new(None),
            names: source_names.clone(),
        };
        wal.prune();
        Ok((wal, replayed))
    }

    /// Appends one epoch and makes it durable. Returns `false` when it could not (the
    /// failure is counted, logged and kept for the status, and nothing of the record stays
    /// in the log): the caller holds the epoch and calls again.
    pub fn append(&self, epoch: u64, batch: &Batch, ids: &[(u32, String)]) -> bool {
        match self.try_append(epoch, batch, ids) {
            Ok(()) => {
                let recovered = self.last_error.lock().expect("wal error").take();
                if recovered.is_some() {
                    tracing::info!(epoch, "the write-ahead log is writable again");
                }
                true
            }
            Err(error) => {
                self.failures.fetch_add(1, Ordering::Relaxed);
                let mut last = self.last_error.lock().expect("wal error");
                if last.is_none() {
                    tracing::error!(%error, epoch, "cannot write the write-ahead log; the tail's rows wait (and clients get no acks) until it can, while the job keeps serving");
                }
                *last = Some(error.to_string());
                false
            }
        }
    }

    fn try_append(&self, epoch: u64, batch: &Batch, ids: &[(u32, String)]) -> io::Result<()> {
        let mut sources: Vec<u32> = batch.positions().map(|p| p.source).collect();
        sources.sort_unstable();
        sources.dedup();
        let sources: Vec<(u32, String)> = sources
            .into_iter()
            .map(|s| (s, self.names.name(s)))
            .collect();
        let payload = bincode::serde::encode_to_vec(
            (epoch, batch, ids, sources),
            bincode::config::standard(),
        )
        .map_err(io::Error::other)?;
        let mut record = Vec::with_capacity(HEADER + payload.len());
        record.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        record.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
        record.extend_from_slice(&payload);
        let mut segments = self.segments.lock().expect("wal segments");
        // A segment that a checkpoint has reached is closed, so that it can go.
        let checkpointed = self.checkpointed.load(Ordering::SeqCst);
        if let Some(open) = &segments.open {
            if checkpointed != u64::MAX && checkpointed >= open.first {
                segments.close_open();
            }
        }
        if segments.open.is_none() {
            let path = self.dir.join(format!("wal-{epoch:020}.log"));
            // A file of this name holds no whole record (else the epoch would be past it):
            // the torn start of an earlier try.
            let file = OpenOptions::new().create(true).append(true).open(&path)?;
            file.set_len(0)?;
            segments.open = Some(OpenSegment {
                first: epoch,
                last: epoch,
                path,
                file,
                len: 0,
            });
            if let Err(error) = sync_dir(&self.dir) {
                segments.close_open();
                return Err(error);
            }
        }
        let open = segments.open.as_mut().expect("open");
        let written = open
            .file
            .write_all(&record)
            .and_then(|()| open.file.sync_data());
        if let Err(error) = written {
            // Cut the partial record off, so that later records stay readable; when even
            // that fails, the segment ends here (a torn tail ends only its own segment).
            let cut = open
                .file
                .set_len(open.len)
                .and_then(|()| open.file.sync_data());
            if cut.is_err() {
                segments.close_open();
            }
            return Err(error);
        }
        open.last = epoch;
        open.len += record.len() as u64;
        self.bytes.fetch_add(record.len() as u64, Ordering::Relaxed);
        Ok(())
    }

    /// Every epoch up to `epoch` is in a checkpoint: segments holding nothing later go.
    pub fn checkpointed(&self, epoch: u64) {
        self.checkpointed.store(epoch, Ordering::SeqCst);
        self.prune();
    }

    fn prune(&self) {
        let checkpointed = self.checkpointed.load(Ordering::SeqCst);
        if checkpointed == u64::MAX {
            return;
        }
        let mut segments = self.segments.lock().expect("wal segments");
        segments.closed.retain(|(_, last, path)| {
            if *last > checkpointed {
                return true;
            }
            let len = std::fs::metadata(path).map_or(0, |m| m.len());
            match std::fs::remove_file(path) {
                Ok(()) => {
                    self.bytes.fetch_sub(len.min(self.bytes.load(Ordering::Relaxed)), Ordering::Relaxed);
                    false
                }
                Err(error) => {
                    tracing::warn!(%error, segment = %path.display(), "could not delete a write-ahead log segment");
                    true
                }
            }
        });
    }
}

/// A logged epoch: its number, rows, `#ack` ids and source names by the logging process's
/// source numbers.
type Record = (u64, Batch, Vec<(u32, String)>, Vec<(u32, String)>);

/// Renumbers `batch`'s sources (named by `sources`, as the logging process numbered them)
/// into this job's `names`; `renumbered` remembers `(old number, name) -> new number`.
fn renumber(
    batch: &mut Batch,
    sources: &[(u32, String)],
    names: &SourceNames,
    renumbered: &mut std::collections::HashMap<(u32, String), u32>,
) {
    let mut map = std::collections::HashMap::new();
    for (old, name) in sources {
        let new = *renumbered
            .entry((*old, name.clone()))
            .or_insert_with(|| names.push(name.clone()));
        map.insert(*old, new);
    }
    let renumber = |pos: &mut crate::trip::RowPos| {
        if let Some(new) = map.get(&pos.source) {
            pos.source = *new;
        }
    };
    batch.trips.iter_mut().for_each(|(_, p)| renumber(p));
    batch.rejects.iter_mut().for_each(|r| renumber(&mut r.pos));
}

/// A segment's good records, the length of its good prefix, and its length.
fn read_segment(path: &Path) -> io::Result<(Vec<Record>, u64, u64)> {
    let mut bytes = Vec::new();
    File::open(path)?.read_to_end(&mut bytes)?;
    let mut records = Vec::new();
    let mut at = 0usize;
    while bytes.len() - at >= HEADER {
        let len = u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4")) as usize;
        let crc = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().expect("4"));
        let Some(payload) = bytes.get(at + HEADER..at + HEADER + len) else {
            break;
        };
        if len > MAX_RECORD || crc32fast::hash(payload) != crc {
            break;
        }
        let config = bincode::config::standard().with_limit::<MAX_RECORD>();
        match bincode::serde::decode_from_slice::<Record, _>(payload, config) {
            Ok((record, _)) => records.push(record),
            Err(_) => break,
        }
        at += HEADER + len;
    }
    Ok((records, at as u64, bytes.len() as u64))
}

/// Makes a new or renamed entry of `dir` durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trip::{RowPos, Trip};

    fn batch(n: u64) -> Batch {
        let trip = Trip {
            pickup: 3600 * n as i64,
            zone: 4,
            distance: None,
            fare: None,
            total: None,
        };
        Batch {
            trips: vec![(trip, RowPos { source: 1, line: n })],
            rejects: Vec::new(),
            rows_read: 1,
        }
    }

    #[test]
    fn logged_epochs_come_back_after_the_resume_point_and_a_torn_tail_is_dropped() {
        let dir = tempfile::tempdir().expect("dir");
        let names = SourceNames::default();
        names.push("file");
        names.push("tcp:10.0.0.1:5000");
        let (wal, replayed) = WalShared::open(dir.path(), None, &names).expect("open");
        assert!(replayed.epochs.is_empty());
        for epoch in [3, 4, 7] {
            wal.append(epoch, &batch(epoch), &[(1, "client".to_string())]);
        }
        drop(wal);
        // A restarted job numbers its sources its own way: the replayed rows are renumbered
        // to a source of the same name.
        let restarted = SourceNames::default();
        restarted.push("a file");
        restarted.push("another file");
        restarted.push("one more");
        let (_, replayed) = WalShared::open(dir.path(), Some(3), &restarted).expect("reopen");
        let epochs: Vec<u64> = replayed.epochs.iter().map(|(e, _)| *e).collect();
        assert_eq!(epochs, [4, 7]);
        let (trip, pos) = replayed.epochs[1].1.trips[0];
        assert_eq!(trip, batch(7).trips[0].0);
        assert_eq!((pos.source, pos.line), (3, 7));
        assert_eq!(restarted.name(3), "tcp:10.0.0.1:5000");
        assert_eq!(
            replayed.epochs[0].1.trips[0].1.source, 3,
            "one number per source"
        );
        assert_eq!(replayed.acked, vec![("client".to_string(), 7)]);
        // Tear the last record: the two before it still come back.
        let segment = std::fs::read_dir(dir.path())
            .expect("ls")
            .next()
            .expect("one")
            .expect("entry")
            .path();
        let len = std::fs::metadata(&segment).expect("len").len();
        OpenOptions::new()
            .write(true)
            .open(&segment)
            .expect("open")
            .set_len(len - 3)
            .expect("truncate");
        let (_, replayed) =
            WalShared::open(dir.path(), None, &SourceNames::default()).expect("reopen");
        let epochs: Vec<u64> = replayed.epochs.iter().map(|(e, _)| *e).collect();
        assert_eq!((epochs, replayed.damaged.len()), (vec![3, 4], 1));
    }

    #[test]
    fn checkpointed_segments_are_deleted() {
        let dir = tempfile::tempdir().expect("dir");
        let (wal, _) = WalShared::open(dir.path(), None, &SourceNames::default()).expect("open");
        for epoch in 0..5 {
            wal.append(epoch, &batch(epoch), &[]);
        }
        wal.checkpointed(4);
        wal.append(5, &batch(5), &[]);
        wal.checkpointed(4);
        let left: Vec<_> = std::fs::read_dir(dir.path()).expect("ls").collect();
        assert_eq!(left.len(), 1);
        let (_, replayed) =
            WalShared::open(dir.path(), Some(4), &SourceNames::default()).expect("reopen");
        assert_eq!(replayed.epochs.len(), 1);
    }
}
