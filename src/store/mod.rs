//! The embedded prediction database (SQLite, bundled): a batch run's final forecasts, hourly
//! aggregates and run record in; the same data back out as a [`LiveState`] for the server.
//!
//! Writes are idempotent (upserts keyed on zone, target hour and model version, so a new model
//! version adds rows beside the old ones) and atomic: a run's rows and its `complete` status are
//! committed in one `IMMEDIATE` transaction, so a crash or an error never leaves a partial run
//! marked complete. The rows come in while the run's dataflow computes and are written into
//! that transaction as they gather, at idle CPU priority, or at its end ([`RunWriter`], in
//! `run_writer.rs`). Two runs that overlap serialise on SQLite's write lock: a run writing
//! during its dataflow steps back when another run wants the lock, and a run waits up to the
//! lock timeout for another one's final write, then fails with [`StoreError::Locked`].
//!
//! Files are in WAL mode (readers never wait for a run's write), except while a new file's
//! first run is written: in rollback-journal mode a new page goes into the file once, where
//! WAL writes it to the log and copies it again at the checkpoint (a quarter of a second of
//! the write of a 3-month backfill). The file switches to WAL after that commit. A first write
//! killed halfway leaves a hot journal, which the next opener rolls back; [`Store::open_read`]
//! does so too, by opening the file for writing once.
//! Tables: see `schema.sql`; reading back (for `zonecast serve`) is in `read.rs`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{params, Connection, ErrorCode, OpenFlags};

use crate::time::{format_iso, format_utc_ms, now_ms, parse_naive, SECS_PER_HOUR};

/// How long a writer waits for another run's write lock by default (the batch job and the
/// command line both start from this).
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(60);

/// The schema version this build writes (`PRAGMA user_version`); version 1 databases are
/// read as they are and migrated when a run writes to them.
pub const SCHEMA_VERSION: i64 = 2;

mod idle_priority;
mod read;
pub use read::RunCounts;
pub mod run_lock;
mod run_writer;
pub use run_writer::{FinalRows, RowSender, RunSummary, RunWriter, EARLY_WRITE_ROWS};
const SCHEMA: &str = include_str!("schema.sql");

/// Errors of the prediction database. Each says which file and what to do.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The file is not a SQLite database (or is damaged).
    #[error(
        "{path} is not a usable SQLite database ({message}): move it away or use another database path"
    )]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What SQLite said.
        message: String,
    },
    /// Another run holds the write lock.
    #[error("{path} is locked by another zonecast run (waited {waited:?}): retry when it finishes, or raise the lock timeout")]
    Locked {
        /// The file.
        path: PathBuf,
        /// How long this run waited.
        waited: Duration,
    },
    /// A SQLite database that is not zonecast's (or from a newer version).
    #[error("{path} is a SQLite database but not a zonecast one of schema version {SCHEMA_VERSION} (found version {found}): use another database path")]
    Foreign {
        /// The file.
        path: PathBuf,
        /// Its `user_version`.
        found: i64,
    },
    /// The database file does not exist (for reading).
    #[error("{0} does not exist: write it first with a batch run into this database")]
    Missing(PathBuf),
    /// A run killed while it wrote a new file left its write half done (a hot journal beside
    /// the file), and this process may not write the file to roll it back.
    #[error("{0} holds a write that a killed run left half done (the -journal file beside it); make the file and its folder writable so that opening it rolls that back, or run the next batch into it")]
    HotJournal(PathBuf),
    /// The database holds no complete run yet.
    #[error("{0} holds no complete run yet: finish a batch run into it first")]
    Empty(PathBuf),
    /// The run's lock file beside the database could not be made.
    #[error("cannot create a run lock file beside {path}: {source}; make its folder writable")]
    Lock {
        /// The database.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The run's rows were not written (its dataflow failed or stopped, or the writer thread
    /// died); nothing of the run was committed.
    #[error("the run was not written, nothing of it was committed: {0}")]
    Writer(String),
    /// Any other SQLite error.
    #[error("database {path}: {source}")]
    Sqlite {
        /// The file.
        path: PathBuf,
        /// The error.
        source: rusqlite::Error,
    },
}

/// A stored forecast: `(zone, target hour, predicted pickups, model version, fallback)`.
pub type ForecastRow = (u16, i64, f64, String, bool);

/// What a run is about to do.
#[derive(Clone, Debug)]
pub struct RunStart {
    /// Input paths.
    pub inputs: Vec<String>,
    /// Model version.
    pub model_version: String,
    /// Model kind.
    pub model_kind: String,
}

/// Which target hours a run writes.
#[derive(Clone, Copy, Debug, Default)]
pub struct HourRange {
    /// Inclusive lower bound (hour bucket).
    pub from: Option<i64>,
    /// Exclusive upper bound (hour bucket).
    pub to: Option<i64>,
    /// Also skip hours this model version already scored in complete runs.
    pub since_last_run: bool,
}

/// What a committed run wrote (all zero for a process that wrote nothing).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Written {
    /// The run's id.
    pub run_id: i64,
    /// Forecast rows in range.
    pub forecasts: u64,
    /// Of which new or changed (the rest were already there, identical).
    pub forecasts_changed: u64,
    /// Hourly rows written.
    pub hourly: u64,
    /// The first target hour written (after `since_last_run`).
    pub from: Option<i64>,
    /// Runs whose process had died, marked `abandoned` by this run.
    pub abandoned: Vec<i64>,
    /// Rows (forecasts and hourly) written while the dataflow still ran; the rest were
    /// written after it (see `RunWriter`).
    pub written_early: u64,
}

/// An open prediction database.
pub struct Store {
    conn: Connection,
    path: PathBuf,
    lock_timeout: Duration,
    /// The lock of the run this store is writing, until its record is final.
    run_lock: Option<run_lock::RunLock>,
}

/// A run just recorded as `running`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BegunRun {
    /// Its id.
    pub run_id: i64,
    /// Runs whose process had died, marked `abandoned` on the way.
    pub abandoned: Vec<i64>,
}

fn hour_text(hour: i64) -> String {
    format_iso(hour * SECS_PER_HOUR)
}

fn parse_hour(text: &str) -> Option<i64> {
    parse_naive(text.replace('T', " ").as_bytes()).map(|s| s.div_euclid(SECS_PER_HOUR))
}

fn parse_utc_ms(text: &str) -> Option<i64> {
    let secs = parse_naive(text.get(..19)?.replace('T', " ").as_bytes())?;
    let ms: i64 = text.get(20..23).and_then(|m| m.parse().ok()).unwrap_or(0);
    Some(secs * 1000 + ms)
}

impl Store {
    fn error(&self, source: rusqlite::Error) -> StoreError {
        classify(&self.path, source, self.lock_timeout)
    }

    /// Opens (creating if needed) the database at `path` for writing; waits up to
    /// `lock_timeout` for another run's write lock. The run lock that [`Store::begin_run`]
    /// records is taken first, so that a run writing as it computes sees this one waiting
    /// and steps back (see `run_writer.rs`).
    pub fn open(path: &Path, lock_timeout: Duration) -> Result<Store, StoreError> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let run_lock = run_lock::RunLock::acquire(path).map_err(|source| StoreError::Lock {
            path: path.to_path_buf(),
            source,
        })?;
        let conn = Connection::open_with_flags(path, flags)
            .map_err(|e| classify(path, e, lock_timeout))?;
        let store = Store {
            conn,
            path: path.to_path_buf(),
            lock_timeout,
            run_lock: Some(run_lock),
        };
        store.prepare(true)?;
        Ok(store)
    }

    /// Opens an existing database read-only (for serving).
    pub fn open_read(path: &Path) -> Result<Store, StoreError> {
        match Store::open_read_once(path) {
            Err(StoreError::HotJournal(_)) => {
                roll_back_hot_journal(path)?;
                Store::open_read_once(path)
            }
            opened => opened,
        }
    }

    fn open_read_once(path: &Path) -> Result<Store, StoreError> {
        if !path.exists() {
            return Err(StoreError::Missing(path.to_path_buf()));
        }
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| classify(path, e, Duration::ZERO))?;
        let store = Store {
            conn,
            path: path.to_path_buf(),
            lock_timeout: Duration::from_secs(5),
            run_lock: None,
        };
        store.prepare(false)?;
        Ok(store)
    }

    fn prepare(&self, write: bool) -> Result<(), StoreError> {
        self.conn
            .busy_timeout(self.lock_timeout)
            .map_err(|e| self.error(e))?;
        // WAL with NORMAL sync: a commit is atomic and survives a crash of the process; only
        // an OS crash may lose the last commit (never corrupt the file). A bigger page cache
        // keeps the upserts of a run in memory.
        self.conn
            .execute_batch("PRAGMA synchronous = NORMAL; PRAGMA cache_size = -65536;")
            .map_err(|e| self.error(e))?;
        // A writer checks and creates under the write lock, so two runs opening a new file at
        // once cannot both create it (or see it half-created).
        if write {
            self.conn
                .execute_batch("BEGIN IMMEDIATE")
                .map_err(|e| self.error(e))?;
        }
        let checked = self.check_or_create(write);
        if write {
            let end = if checked.is_ok() {
                "COMMIT"
            } else {
                "ROLLBACK"
            };
            self.conn.execute_batch(end).map_err(|e| self.error(e))?;
        }
        // A file this opener has just created stays in rollback-journal mode until its first
        // run is written (see `RunWriter`); any other is put in WAL mode if it is not yet.
        if !checked? && write {
            self.switch_to_wal(self.lock_timeout)?;
        }
        Ok(())
    }

    /// Whether the file is in WAL mode.
    pub(super) fn in_wal_mode(&self) -> Result<bool, StoreError> {
        let mode: String = self
            .conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .map_err(|e| self.error(e))?;
        Ok(mode.eq_ignore_ascii_case("wal"))
    }

    /// Puts the database in WAL mode (if it is not already). The switch needs the file to
    /// itself, and SQLite answers `SQLITE_BUSY` at once (without its busy handler) while
    /// another opener holds a lock, so it is retried for up to `patience`.
    pub(super) fn switch_to_wal(&self, patience: Duration) -> Result<(), StoreError> {
        if self.in_wal_mode()? {
            return Ok(());
        }
        let started = std::time::Instant::now();
        loop {
            match self.conn.pragma_update(None, "journal_mode", "WAL") {
                Ok(()) => return Ok(()),
                Err(e)
                    if matches!(
                        e.sqlite_error_code(),
                        Some(ErrorCode::DatabaseBusy) | Some(ErrorCode::DatabaseLocked)
                    ) && started.elapsed() < patience =>
                {
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(e) => return Err(classify(&self.path, e, started.elapsed())),
            }
        }
    }

    /// Checks the schema version; with `create`, writes the schema into an empty file.
    /// Returns whether it created the schema.
    fn check_or_create(&self, create: bool) -> Result<bool, StoreError> {
        let version: i64 = self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| self.error(e))?;
        let tables: i64 = self
            .conn
            .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
            .map_err(|e| self.error(e))?;
        if version == 0 && tables == 0 && create {
            self.conn
                .execute_batch(&format!("{SCHEMA} PRAGMA user_version = {SCHEMA_VERSION};"))
                .map_err(|e| self.error(e))?;
            return Ok(true);
        }
        if version == 1 && create {
            self.migrate_from_1()?;
            return Ok(false);
        }
        if version != SCHEMA_VERSION && version != 1 {
            return Err(StoreError::Foreign {
                path: self.path.clone(),
                found: version,
            });
        }
        Ok(false)
    }

    /// Version 1 to 2: `runs` gains the `abandoned` status and `lock_file` (SQLite cannot
    /// change a CHECK constraint in place, so the table is rebuilt, in the caller's write
    /// transaction).
    fn migrate_from_1(&self) -> Result<(), StoreError> {
        let start = SCHEMA
            .find("CREATE TABLE IF NOT EXISTS runs (")
            .expect("schema.sql creates runs");
        let end = start + SCHEMA[start..].find(");").expect("runs ends") + 1;
        let create = SCHEMA[start..end].replacen(
            "CREATE TABLE IF NOT EXISTS runs (",
            "CREATE TABLE runs_v2 (",
            1,
        );
        self.conn
            .execute_batch(&format!(
                "{create};
                 INSERT INTO runs_v2 SELECT *, NULL FROM runs;
                 DROP TABLE runs;
                 ALTER TABLE runs_v2 RENAME TO runs;
                 PRAGMA user_version = {SCHEMA_VERSION};"
            ))
            .map_err(|e| self.error(e))
    }

    /// Records a run as started (`running`, holding a [`run_lock::RunLock`] until its record
    /// is final); first marks runs whose process died `abandoned`.
    pub fn begin_run(&mut self, run: &RunStart) -> Result<BegunRun, StoreError> {
        let lock = match self.run_lock.take() {
            Some(lock) => lock,
            None => run_lock::RunLock::acquire(&self.path).map_err(|source| StoreError::Lock {
                path: self.path.clone(),
                source,
            })?,
        };
        let abandoned = self.abandon_dead_runs()?;
        let inputs = serde_json::to_string(&run.inputs).expect("paths");
        self.conn
            .execute(
                "INSERT INTO runs (status, started_at, inputs, model_version, model_kind, lock_file) VALUES ('running', ?1, ?2, ?3, ?4, ?5)",
                params![format_utc_ms(now_ms()), inputs, run.model_version, run.model_kind, lock.name],
            )
            .map_err(|e| self.error(e))?;
        let run_id = self.conn.last_insert_rowid();
        self.run_lock = Some(lock);
        Ok(BegunRun { run_id, abandoned })
    }

    /// Marks a run failed with `message` (its rows were never committed).
    pub fn fail_run(&mut self, run_id: i64, message: &str) -> Result<(), StoreError> {
        self.conn
            .execute(
                "UPDATE runs SET status = 'failed', finished_at = ?2, error = ?3 WHERE run_id = ?1",
                params![run_id, format_utc_ms(now_ms()), message],
            )
            .map_err(|e| self.error(e))?;
        self.run_lock = None;
        Ok(())
    }
}

/// Rolls back the write a killed run left half done in a file in rollback-journal mode (a new
/// file's first run), as any SQLite connection that may write does when it opens the file:
/// a read-only one cannot.
fn roll_back_hot_journal(path: &Path) -> Result<(), StoreError> {
    let failed = |_| StoreError::HotJournal(path.to_path_buf());
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(failed)?;
    conn.busy_timeout(Duration::from_secs(5)).map_err(failed)?;
    conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| {
        r.get::<_, i64>(0)
    })
    .map_err(failed)?;
    Ok(())
}

/// Maps SQLite's errors to what the user should do.
fn classify(path: &Path, error: rusqlite::Error, waited: Duration) -> StoreError {
    if error
        .sqlite_error()
        .is_some_and(|e| e.extended_code == rusqlite::ffi::SQLITE_READONLY_ROLLBACK)
    {
        return StoreError::HotJournal(path.to_path_buf());
    }
    match error.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) | Some(ErrorCode::DatabaseCorrupt) => StoreError::Corrupt {
            path: path.to_path_buf(),
            message: error.to_string(),
        },
        Some(ErrorCode::DatabaseBusy) | Some(ErrorCode::DatabaseLocked) => StoreError::Locked {
            path: path.to_path_buf(),
            waited,
        },
        _ => StoreError::Sqlite {
            path: path.to_path_buf(),
            source: error,
        },
    }
}
