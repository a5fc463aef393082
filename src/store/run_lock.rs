//! Run locks: a batch run's liveness in, `abandoned` run records out.
//!
//! A run holds an exclusive advisory lock (`flock`) on its own lock file beside the database,
//! `DB.run-PID-NANOS.lock`, from before its `running` record is inserted until its record is
//! final. The kernel releases the lock when the process dies, however it dies (`kill -9`, OOM,
//! power loss), so the next run that finds a `running` record whose lock file it can lock (or
//! whose lock file is gone, as for records from schema version 1) knows its process is dead
//! and marks it `abandoned`. A lock held by a live run, in this process or another on the same
//! machine, is left alone.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rusqlite::params;

use super::{Store, StoreError};
use crate::time::{format_utc_ms, now_ms};

/// The lock a running batch run holds; released (and its file removed) on drop.
#[derive(Debug)]
pub struct RunLock {
    file: File,
    path: PathBuf,
    /// The lock file's name, stored in the run's record.
    pub name: String,
}

impl RunLock {
    /// Creates and locks a fresh lock file beside `db`.
    pub fn acquire(db: &Path) -> std::io::Result<RunLock> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        // The counter keeps names apart within a process whose clock is coarse.
        static ACQUIRED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let count = ACQUIRED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!(
            "{}{}-{nanos}-{count}.lock",
            lock_prefix(db),
            std::process::id()
        );
        let path = lock_path(db, &name);
        let file = OpenOptions::new()
            .create_new(true)
            .write(true)
            .open(&path)?;
        file.lock()?;
        Ok(RunLock { file, path, name })
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
        let _ = self.file.unlock();
    }
}

fn lock_path(db: &Path, name: &str) -> PathBuf {
    lock_folder(db).join(name)
}

/// The folder of `db`'s lock files: its own (`.` for a bare file name).
fn lock_folder(db: &Path) -> &Path {
    db.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// How the names of `db`'s lock files begin: `DB.run-`.
fn lock_prefix(db: &Path) -> String {
    let base = db.file_name().map_or_else(
        || "zonecast.sqlite".into(),
        |n| n.to_string_lossy().into_owned(),
    );
    format!("{base}.run-")
}

/// Whether the process that holds (held) the lock file `name` beside `db` is gone.
fn holder_is_dead(db: &Path, name: Option<&str>) -> bool {
    let Some(name) = name else {
        return true; // a record from before run locks (schema version 1)
    };
    let path = lock_path(db, name);
    let file = match OpenOptions::new().write(true).open(&path) {
        Ok(file) => file,
        Err(e) => return e.kind() == std::io::ErrorKind::NotFound,
    };
    match file.try_lock() {
        Ok(()) => {
            let _ = std::fs::remove_file(&path);
            true
        }
        Err(TryLockError::WouldBlock) => false,
        Err(TryLockError::Error(_)) => false, // cannot tell: leave it
    }
}

/// Whether a live run other than the one holding `own` has a lock file beside `db`: one that
/// is running, or one that is waiting for the write lock (runs take their lock file first).
fn another_run_is_live(db: &Path, own: &str) -> bool {
    let prefix = lock_prefix(db);
    let Ok(entries) = std::fs::read_dir(lock_folder(db)) else {
        return false;
    };
    entries.flatten().any(|entry| {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        name.starts_with(&prefix)
            && name.ends_with(".lock")
            && name != own
            && OpenOptions::new()
                .write(true)
                .open(entry.path())
                .is_ok_and(|file| matches!(file.try_lock(), Err(TryLockError::WouldBlock)))
    })
}

/// Looks for another live run's lock file beside a database every so often, on its own thread
/// (at normal priority, whatever the priority of the thread that started it), until it finds
/// one or is dropped.
pub(super) struct LiveRunWatch {
    found: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl LiveRunWatch {
    /// Starts looking beside `db` every `every` for a live lock file other than `own`; calls
    /// `on_found` once, on the watching thread, when it finds one.
    pub(super) fn start(
        db: &Path,
        own: &str,
        every: Duration,
        on_found: impl FnOnce() + Send + 'static,
    ) -> LiveRunWatch {
        let (found, stop) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicBool::new(false)),
        );
        let (db, own) = (db.to_path_buf(), own.to_string());
        let (found_by, stopped) = (found.clone(), stop.clone());
        let thread = std::thread::Builder::new()
            .name("zonecast-run-watch".into())
            .spawn(move || {
                while !stopped.load(Ordering::SeqCst) {
                    if another_run_is_live(&db, &own) {
                        found_by.store(true, Ordering::SeqCst);
                        on_found();
                        return;
                    }
                    std::thread::park_timeout(every);
                }
            })
            .ok();
        LiveRunWatch {
            found,
            stop,
            thread,
        }
    }

    /// Whether it has found another live run (or could not start looking).
    pub(super) fn found(&self) -> bool {
        self.thread.is_none() || self.found.load(Ordering::SeqCst)
    }
}

impl Drop for LiveRunWatch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            let _ = thread.join();
        }
    }
}

impl Store {
    /// Marks every `running` run whose process died `abandoned`; returns their ids.
    pub fn abandon_dead_runs(&mut self) -> Result<Vec<i64>, StoreError> {
        let running: Vec<(i64, Option<String>)> = {
            let mut statement = self
                .conn
                .prepare(
                    "SELECT run_id, lock_file FROM runs WHERE status = 'running' ORDER BY run_id",
                )
                .map_err(|e| self.error(e))?;
            let rows = statement
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(|e| self.error(e))?;
            rows.collect::<Result<_, _>>().map_err(|e| self.error(e))?
        };
        let mut abandoned = Vec::new();
        for (run_id, lock_file) in running {
            if !holder_is_dead(&self.path, lock_file.as_deref()) {
                continue;
            }
            let changed = self
                .conn
                .execute(
                    "UPDATE runs SET status = 'abandoned', finished_at = ?2, error = ?3
                     WHERE run_id = ?1 AND status = 'running'",
                    params![
                        run_id,
                        format_utc_ms(now_ms()),
                        "the process running it died before it finished (found by a later run); none of its rows were committed"
                    ],
                )
                .map_err(|e| self.error(e))?;
            if changed > 0 {
                tracing::warn!(
                    "run {run_id} in {} was left running by a process that died; marked abandoned",
                    self.path.display()
                );
                abandoned.push(run_id);
            }
        }
        Ok(abandoned)
    }
}
