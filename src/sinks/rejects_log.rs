//! The live rejects log: rejected and late rows of each finished epoch in, lines appended to
//! a CSV file out, and its health (written, lost, failing) for `/v1/status` and `/metrics`.
//!
//! A failed write (a full or read-only disk) never stops the job and is never silent: the
//! epoch's records are counted as lost, the file is cut back to its last whole line, the first
//! failure is logged at ERROR on standard error, and the next epoch tries again, so the log
//! recovers (and says so) once space returns.

use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::report::{late_reason, rejected_reason, rejects_line, Report, REJECTS_HEADER};
use crate::sources::source_names::SourceNames;

/// Where the log's bytes go: a file, or (in tests) anything that can fail like one.
pub trait LogTarget: Send {
    /// Appends `bytes` (all or an error).
    fn append(&mut self, bytes: &[u8]) -> std::io::Result<()>;
    /// Cuts the target back to `len` bytes, where the next append continues.
    fn truncate(&mut self, len: u64) -> std::io::Result<()>;
}

impl LogTarget for File {
    fn append(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.write_all(bytes)
    }

    fn truncate(&mut self, len: u64) -> std::io::Result<()> {
        self.set_len(len)?;
        self.seek(SeekFrom::Start(len)).map(drop)
    }
}

/// How an output file fares, shared with the server.
#[derive(Debug, Default)]
pub struct OutputHealth {
    /// The file.
    pub path: PathBuf,
    written: AtomicU64,
    lost: AtomicU64,
    failing: AtomicBool,
    last_error: Mutex<Option<String>>,
}

impl OutputHealth {
    /// Records written.
    pub fn written(&self) -> u64 {
        self.written.load(Ordering::Relaxed)
    }

    /// Records that could not be written.
    pub fn lost(&self) -> u64 {
        self.lost.load(Ordering::Relaxed)
    }

    /// Whether the last write failed.
    pub fn failing(&self) -> bool {
        self.failing.load(Ordering::Relaxed)
    }

    /// The last write error, if any write failed.
    pub fn last_error(&self) -> Option<String> {
        self.last_error.lock().expect("last error").clone()
    }
}

/// Appends the rejected and late rows of each epoch to a CSV file (`source,line,kind,reason`).
pub struct RejectsLog {
    target: Box<dyn LogTarget>,
    good_len: u64,
    names: SourceNames,
    health: Arc<OutputHealth>,
}

impl RejectsLog {
    /// Creates (or empties) `path` and writes the header; `names` maps source indexes to the
    /// names in the log.
    pub fn create(path: &Path, names: SourceNames) -> std::io::Result<Self> {
        let file = File::create(path)?;
        RejectsLog::to_target(Box::new(file), path, names)
    }

    /// Reopens `path` for a job restarted from a checkpoint that saw it `len` bytes long: what
    /// was written after the checkpoint is cut off (those epochs are read again). A file
    /// shorter than that (replaced or truncated meanwhile) is started afresh, with a warning.
    pub fn resume(path: &Path, names: SourceNames, len: u64) -> std::io::Result<Self> {
        let found = std::fs::metadata(path).map_or(0, |m| m.len());
        if found < len {
            tracing::warn!(
                rejects = %path.display(),
                bytes = found,
                expected = len,
                "the rejects log is shorter than at the checkpoint; starting it afresh"
            );
            return RejectsLog::create(path, names);
        }
        let file = std::fs::OpenOptions::new().append(true).open(path)?;
        file.set_len(len)?;
        Ok(RejectsLog::on(Box::new(file), len, path, names))
    }

    /// A log on `target`, which holds `good_len` bytes of whole records already.
    fn on(target: Box<dyn LogTarget>, good_len: u64, path: &Path, names: SourceNames) -> Self {
        RejectsLog {
            target,
            good_len,
            names,
            health: Arc::new(OutputHealth {
                path: path.to_path_buf(),
                ..OutputHealth::default()
            }),
        }
    }

    /// Bytes of whole records (and the header) in the log.
    pub fn written_bytes(&self) -> u64 {
        self.good_len
    }

    /// A log on any target (`path` names it in messages).
    pub fn to_target(
        mut target: Box<dyn LogTarget>,
        path: &Path,
        names: SourceNames,
    ) -> std::io::Result<Self> {
        let header = format!("{REJECTS_HEADER}\n");
        target.append(header.as_bytes())?;
        Ok(RejectsLog::on(target, header.len() as u64, path, names))
    }

    /// The log's health, for the server.
    pub fn health(&self) -> Arc<OutputHealth> {
        self.health.clone()
    }

    /// Appends the rejected and late rows among `reports`.
    pub fn write(&mut self, reports: &[Report]) {
        let mut bytes = Vec::new();
        let mut records = 0u64;
        for report in reports {
            let (pos, kind, reason) = match report {
                Report::Rejected(r) => (r.pos, "rejected", rejected_reason(r)),
                Report::Late {
                    pos,
                    pickup,
                    watermark,
                } => (*pos, "late", late_reason(*pickup, *watermark)),
                _ => continue,
            };
            bytes.extend_from_slice(
                rejects_line(&self.names.name(pos.source), pos, kind, &reason).as_bytes(),
            );
            bytes.push(b'\n');
            records += 1;
        }
        if records > 0 {
            self.append(&bytes, records);
        }
    }

    fn append(&mut self, bytes: &[u8], records: u64) {
        let health = &self.health;
        match self.target.append(bytes) {
            Ok(()) => {
                self.good_len += bytes.len() as u64;
                health.written.fetch_add(records, Ordering::Relaxed);
                if health.failing.swap(false, Ordering::Relaxed) {
                    tracing::warn!(
                        "the rejects log {} is written again; {} records were lost while it failed",
                        health.path.display(),
                        health.lost()
                    );
                }
            }
            Err(error) => {
                // Cut a partial line off, so that the file holds whole records only.
                let _ = self.target.truncate(self.good_len);
                health.lost.fetch_add(records, Ordering::Relaxed);
                *health.last_error.lock().expect("last error") = Some(error.to_string());
                if !health.failing.swap(true, Ordering::Relaxed) {
                    tracing::error!(
                        "cannot write the rejects log {}: {error}; the job keeps serving and counts the records it could not write (rejects_log.lost in /v1/status, zonecast_rejects_log_lost_total in /metrics); free space and it resumes",
                        health.path.display()
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reject::{Reject, RejectReason};
    use crate::trip::RowPos;

    /// A disk of `room` bytes.
    struct SmallDisk {
        bytes: Arc<Mutex<Vec<u8>>>,
        room: Arc<AtomicU64>,
    }

    impl LogTarget for SmallDisk {
        fn append(&mut self, bytes: &[u8]) -> std::io::Result<()> {
            let mut held = self.bytes.lock().unwrap();
            let room = self.room.load(Ordering::Relaxed) as usize;
            let fits = room.saturating_sub(held.len()).min(bytes.len());
            held.extend_from_slice(&bytes[..fits]);
            match fits == bytes.len() {
                true => Ok(()),
                false => Err(std::io::Error::other("No space left on device")),
            }
        }

        fn truncate(&mut self, len: u64) -> std::io::Result<()> {
            self.bytes.lock().unwrap().truncate(len as usize);
            Ok(())
        }
    }

    fn rejected(line: u64) -> Report {
        Report::Rejected(Reject {
            pos: RowPos { source: 0, line },
            reason: RejectReason::BadZone("999".into()),
        })
    }

    #[test]
    fn a_full_disk_loses_counted_records_keeps_whole_lines_and_recovers() {
        let bytes = Arc::new(Mutex::new(Vec::new()));
        let room = Arc::new(AtomicU64::new(120));
        let disk = SmallDisk {
            bytes: bytes.clone(),
            room: room.clone(),
        };
        let names = SourceNames::default();
        names.push("t.csv");
        let mut log = RejectsLog::to_target(Box::new(disk), Path::new("r.csv"), names).unwrap();
        let health = log.health();
        log.write(&[rejected(2)]);
        assert_eq!(
            (health.written(), health.lost(), health.failing()),
            (1, 0, false)
        );
        log.write(&[rejected(3), rejected(4)]); // does not fit
        assert_eq!(
            (health.written(), health.lost(), health.failing()),
            (1, 2, true)
        );
        assert!(health.last_error().unwrap().contains("No space"));
        let text = String::from_utf8(bytes.lock().unwrap().clone()).unwrap();
        assert!(
            text.ends_with('\n') && text.lines().count() == 2,
            "{text:?}"
        );
        room.store(1 << 20, Ordering::Relaxed); // space returns
        log.write(&[rejected(5)]);
        assert_eq!(
            (health.written(), health.lost(), health.failing()),
            (2, 2, false)
        );
        let text = String::from_utf8(bytes.lock().unwrap().clone()).unwrap();
        let lines: Vec<_> = text.lines().map(|l| l.split(',').nth(1).unwrap()).collect();
        assert_eq!(lines, ["line", "2", "5"]);
    }
}
