//! Writing one run: batches of final forecasts and hourly rows in (from the workers, in any
//! order, while the dataflow still computes), gathered zone by zone on a writer thread (their
//! means computed on the sending worker) and upserted, each zone's rows sorted, in primary-key
//! order, into one transaction that also marks the run complete; or nothing written and the
//! run marked failed.
//!
//! **Writing during the dataflow.** The workers leave CPU idle (about a quarter of the two
//! cores on a 10M-trip backfill: they wait on each other at epoch boundaries). The writer runs
//! at Linux's idle CPU priority (`idle_priority.rs`: it gets only CPU no worker wants, and
//! yields the moment one wakes) and, every [`EARLY_WRITE_ROWS`] rows, upserts what it has
//! gathered into the run's open transaction and flushes the pages to the file. After the
//! dataflow only the last rows and the commit are left: 0.1-0.4 s instead of 0.6-0.9 s on the
//! 10M-trip file, with the dataflow no slower. (At normal priority a third busy thread slowed
//! the two workers by more than it saved: measured 2026-12-03.) Rows written early are kept
//! until the commit.
//!
//! **Overlapping runs.** Writing early holds SQLite's write lock from the first early write to
//! the commit. A run takes its run lock file before it asks for the write lock, so a watch
//! thread (`run_lock::LiveRunWatch`, at normal priority) looks every 50 ms for another live
//! run's lock file beside the database. When it finds one, it brings the writer back to
//! normal priority, and the writer steps back: it rolls back what it wrote and writes every
//! row after its dataflow, as when no CPU is to spare (the other run waits for that write
//! only, up to its lock timeout). Early writes never wait for a lock (`busy_timeout` 0): the
//! writer also steps back when the write lock is not free at its first early write (a writer
//! that is not a zonecast run), or when a reader is in the way of one (in rollback-journal
//! mode, a new file's first run, writing pages needs the file to itself). It never writes
//! early where idle priority is unavailable (not Linux, or no way back to normal priority).

use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::{params, Connection, ToSql};

use super::{
    classify, hour_text, idle_priority, parse_hour, run_lock, HourRange, Store, StoreError, Written,
};
use crate::forecast::ZoneForecast;
use crate::time::{format_iso, format_utc_ms, now_ms};
use crate::trip::{HourlyStats, ZoneHour};

/// What a run counted, recorded with it when it completes.
#[derive(Clone, Debug, Default)]
pub struct RunSummary {
    /// Rows read.
    pub rows_read: u64,
    /// Rows aggregated.
    pub accepted: u64,
    /// Rejected rows by reason.
    pub rejected_by_reason: std::collections::BTreeMap<String, u64>,
    /// Late rows.
    pub late: u64,
    /// The watermark at the end (naive seconds).
    pub watermark: Option<i64>,
    /// Dataflow wall time.
    pub dataflow_seconds: f64,
}

/// Rows that no later input can change, for the run being written.
#[derive(Debug)]
pub enum FinalRows {
    /// Final forecasts (one per zone and target hour).
    Forecasts(Vec<ZoneForecast>),
    /// Final hourly aggregates (one per zone and hour).
    Hourly(Vec<(ZoneHour, HourlyStats)>),
}

/// A forecast as the writer keeps it: the run's model version is the same for all.
#[derive(Clone, Copy, Debug)]
struct StoredForecast {
    zone: u16,
    target_hour: i64,
    milli_pickups: i64,
    fallback: bool,
}

/// An hourly row as the writer keeps it: its means computed on the sending worker.
#[derive(Clone, Copy, Debug)]
struct StoredHourly {
    key: ZoneHour,
    pickups: i64,
    /// Distance, fare, total.
    means: [Option<f64>; 3],
}

enum Message {
    Forecasts(Vec<StoredForecast>),
    Hourly(Vec<StoredHourly>),
    Finish(RunSummary),
    Fail(String),
}

/// Hands final rows to a [`RunWriter`]; cheap to clone, one per worker.
#[derive(Clone)]
pub struct RowSender(Sender<Message>);

impl std::fmt::Debug for RowSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RowSender")
    }
}

impl RowSender {
    /// Queues rows for the writer (never blocks; a writer that has stopped drops them).
    /// Forecasts must be of the run's model version; they are packed here, on the sending
    /// thread, so their memory is freed where it was allocated.
    pub fn send(&self, rows: FinalRows) {
        let message = match rows {
            FinalRows::Forecasts(forecasts) => Message::Forecasts(
                forecasts
                    .iter()
                    .map(|f| StoredForecast {
                        zone: f.zone,
                        target_hour: f.target_hour,
                        milli_pickups: f.milli_pickups,
                        fallback: f.fallback,
                    })
                    .collect(),
            ),
            FinalRows::Hourly(hourly) => Message::Hourly(
                hourly
                    .iter()
                    .map(|(key, stats)| StoredHourly {
                        key: *key,
                        pickups: stats.pickups,
                        means: [stats.distance.mean(), stats.fare.mean(), stats.total.mean()],
                    })
                    .collect(),
            ),
        };
        let _ = self.0.send(message);
    }
}

/// A run being written by its own thread (see the module docs).
pub struct RunWriter {
    sender: Sender<Message>,
    thread: JoinHandle<Result<Written, StoreError>>,
    /// The writer thread's id while it runs at idle priority (0 otherwise).
    idle_thread: Arc<AtomicI32>,
}

impl RunWriter {
    /// Starts writing run `run_id` (begun with [`Store::begin_run`]) of model `version` into
    /// `store`, keeping forecasts whose target hour is within `range`, writing rows while the
    /// dataflow runs whenever `early_rows` have gathered (see the module docs).
    pub fn start(
        store: Store,
        run_id: i64,
        version: &str,
        range: HourRange,
        early_rows: usize,
    ) -> RunWriter {
        let (sender, receiver) = channel();
        let version = version.to_string();
        let idle_thread = Arc::new(AtomicI32::new(0));
        let idle = idle_thread.clone();
        let thread = std::thread::Builder::new()
            .name("zonecast-db-writer".into())
            .spawn(move || {
                Writing::new(store, run_id, version, range, early_rows).run(receiver, &idle)
            })
            .expect("spawn the database writer thread");
        RunWriter {
            sender,
            thread,
            idle_thread,
        }
    }

    /// A handle for the threads producing rows.
    pub fn rows(&self) -> RowSender {
        RowSender(self.sender.clone())
    }

    /// Writes every row queued so far (senders must have finished), records the run as
    /// complete and commits. On an error nothing is committed and the run is marked failed.
    pub fn finish(self, summary: RunSummary) -> Result<Written, StoreError> {
        let _ = self.sender.send(Message::Finish(summary));
        self.join()
    }

    /// Rolls back everything written and marks the run failed with `message`.
    pub fn fail(self, message: &str) {
        let _ = self.sender.send(Message::Fail(message.to_string()));
        let _ = self.join();
    }

    fn join(self) -> Result<Written, StoreError> {
        // The rest is written at normal priority, whatever the writer still has queued.
        idle_priority::leave_thread(self.idle_thread.swap(0, Ordering::SeqCst));
        drop(self.sender);
        self.thread.join().unwrap_or_else(|panic| {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "unknown panic".into());
            Err(StoreError::Writer(format!(
                "the writer thread panicked: {message}"
            )))
        })
    }
}

/// How long the end of a new file's first run tries to put it in WAL mode.
const WAL_SWITCH_PATIENCE: Duration = Duration::from_secs(1);

/// Rows per `INSERT` statement: one statement per row would cost more than the row.
const ROWS_PER_STATEMENT: usize = 64;

const INSERT_FORECASTS: &str = "INSERT INTO forecasts (zone, target_hour, predicted_pickups, model_version, fallback, run_id, created_at) VALUES";
/// One row's values: `?rN` is the row's N-th value, `?cN` the statement's N-th constant.
const FORECAST_VALUES: &str = "(?r1, ?r2, ?r3, ?c1, ?r4, ?c2, ?c3)";
const UPSERT_FORECASTS: &str = "ON CONFLICT (zone, target_hour, model_version) DO UPDATE SET
    predicted_pickups = excluded.predicted_pickups, fallback = excluded.fallback,
    run_id = excluded.run_id, created_at = excluded.created_at
  WHERE predicted_pickups IS NOT excluded.predicted_pickups OR fallback IS NOT excluded.fallback";
const HOURLY_VALUES: &str = "(?r1, ?r2, ?r3, ?r4, ?r5, ?r6, ?c1)";
const INSERT_HOURLY: &str =
    "INSERT INTO hourly (zone, hour, pickups, mean_distance, mean_fare, mean_total, run_id) VALUES";
const UPSERT_HOURLY: &str = "ON CONFLICT (zone, hour) DO UPDATE SET pickups = excluded.pickups,
    mean_distance = excluded.mean_distance, mean_fare = excluded.mean_fare,
    mean_total = excluded.mean_total, run_id = excluded.run_id
  WHERE pickups IS NOT excluded.pickups OR mean_distance IS NOT excluded.mean_distance
    OR mean_fare IS NOT excluded.mean_fare OR mean_total IS NOT excluded.mean_total";

/// Rows the writer gathers, by default, before it writes them while the dataflow still runs.
pub const EARLY_WRITE_ROWS: usize = 65_536;

/// How often a run writing early looks for another run waiting for the write lock.
const LOOK_EVERY: Duration = Duration::from_millis(50);

/// The writer thread's state.
struct Writing {
    store: Store,
    run_id: i64,
    version: String,
    range: HourRange,
    /// Rows by zone (indexed by zone number) as they arrived since the last write (hour by
    /// hour, mostly: nearly sorted), so that each write has little left to order.
    forecasts: Vec<Vec<StoredForecast>>,
    hourly: Vec<Vec<StoredHourly>>,
    /// Rows held in `forecasts` and `hourly`.
    held: usize,
    /// Rows to gather before writing them early.
    early_rows: usize,
    /// Rows written early (since the last step back: then none are).
    written_early: u64,
    /// Rows written early, kept until the commit in case the run steps back for another.
    written_forecasts: Vec<Vec<StoredForecast>>,
    written_hourly: Vec<Vec<StoredHourly>>,
    /// Looks for another run while rows are written early (see the module docs).
    watch: Option<run_lock::LiveRunWatch>,
    /// Whether rows are written while the dataflow runs: only at idle CPU priority, and only
    /// once the write lock is free at the first try (see the module docs).
    early: bool,
    /// The run's open transaction, once it has begun.
    transaction: Option<Transaction>,
}

/// What the open transaction has written so far.
struct Transaction {
    /// The first target hour written (see [`Writing::first_target_hour`]).
    from: Option<i64>,
    created: String,
    forecasts: usize,
    changed: usize,
    hourly: usize,
    last_target: Option<i64>,
}

impl Writing {
    fn new(
        store: Store,
        run_id: i64,
        version: String,
        range: HourRange,
        early_rows: usize,
    ) -> Self {
        Writing {
            early_rows,
            written_early: 0,
            store,
            run_id,
            version,
            range,
            forecasts: Vec::new(),
            hourly: Vec::new(),
            held: 0,
            written_forecasts: Vec::new(),
            written_hourly: Vec::new(),
            watch: None,
            early: false,
            transaction: None,
        }
    }

    /// Gathers and writes rows until the run's verdict; `idle_thread` is set to this thread's
    /// id while it runs at idle priority (and to 0 when it returns).
    fn run(
        mut self,
        messages: Receiver<Message>,
        idle_thread: &AtomicI32,
    ) -> Result<Written, StoreError> {
        let _clear = ClearOnDrop(idle_thread);
        let own = self.store.run_lock.as_ref().map(|lock| lock.name.clone());
        if let Some(own) = own {
            if idle_priority::enter() {
                let thread = idle_priority::current_thread();
                idle_thread.store(thread, Ordering::SeqCst);
                self.early = true;
                // A run that appears is let in at once: the watch brings this thread back to
                // normal priority (it may be starved, holding the lock) to step back.
                let on_found = move || idle_priority::leave_thread(thread);
                self.watch = Some(run_lock::LiveRunWatch::start(
                    &self.store.path,
                    &own,
                    LOOK_EVERY,
                    on_found,
                ));
            }
        }
        loop {
            let message = match messages.recv_timeout(LOOK_EVERY) {
                Ok(message) => message,
                Err(RecvTimeoutError::Timeout) => {
                    self.step_back_if_wanted();
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => break,
            };
            match message {
                Message::Forecasts(rows) => {
                    self.held += rows.len();
                    for row in rows {
                        by_zone(&mut self.forecasts, row.zone).push(row);
                    }
                }
                Message::Hourly(rows) => {
                    self.held += rows.len();
                    for row in rows {
                        by_zone(&mut self.hourly, row.key.zone).push(row);
                    }
                }
                Message::Finish(summary) => {
                    self.leave_idle_priority();
                    let written = self.write(&summary);
                    if let Err(error) = &written {
                        self.fail(&error.to_string());
                    }
                    return written;
                }
                Message::Fail(message) => {
                    self.leave_idle_priority();
                    self.fail(&message);
                    return Err(StoreError::Writer(message));
                }
            }
            if self.early {
                if let Err(error) = self.write_early() {
                    self.leave_idle_priority();
                    self.fail(&error.to_string());
                    return Err(error);
                }
            }
        }
        // Every sender is gone without a verdict (the job was dropped): nothing is written.
        self.leave_idle_priority();
        let message = "the run ended before its rows were complete";
        self.fail(message);
        Err(StoreError::Writer(message.into()))
    }

    /// Leaves idle priority and stops looking for other runs.
    fn leave_idle_priority(&mut self) {
        if self.early {
            idle_priority::leave();
            self.early = false;
        }
        self.watch = None;
    }

    fn conn(&self) -> &Connection {
        &self.store.conn
    }

    fn error(&self, source: rusqlite::Error) -> StoreError {
        classify(&self.store.path, source, self.store.lock_timeout)
    }

    /// Writes the rows held so far into the run's transaction once there are `early_rows`,
    /// beginning it if the write lock is free now; steps back when another run is live, when
    /// the lock is not free, or when a reader is in the way of a write (early writes never
    /// wait: `busy_timeout` is 0 while they go on).
    fn write_early(&mut self) -> Result<(), StoreError> {
        if self.step_back_if_wanted() || self.held < self.early_rows {
            return Ok(());
        }
        if self.transaction.is_none() {
            if self.begin(Duration::ZERO).is_err() {
                // Another writer (not a zonecast run) holds the lock: wait for it at the end.
                self.step_back();
                return Ok(());
            }
            // A smaller page cache while the dataflow's own tables are in memory (the pages
            // are flushed after every write, so it only serves lookups): 50 MB less at the peak.
            self.conn()
                .execute_batch("PRAGMA cache_size = -16384")
                .and_then(|()| self.conn().busy_timeout(Duration::ZERO))
                .map_err(|e| self.error(e))?;
        }
        // Into the file (or the log) now, while CPU is to spare, rather than at the commit.
        let written = self.write_held().and_then(|rows| {
            self.conn()
                .cache_flush()
                .map(|()| rows)
                .map_err(|e| self.error(e))
        });
        match written {
            Ok(rows) => {
                self.written_early += rows as u64;
                move_rows(&mut self.forecasts, &mut self.written_forecasts);
                move_rows(&mut self.hourly, &mut self.written_hourly);
                Ok(())
            }
            Err(StoreError::Locked { .. }) => {
                self.step_back();
                Ok(())
            }
            Err(error) => Err(error),
        }
    }

    /// Steps back if the watch has found another run; returns whether it did (or had).
    fn step_back_if_wanted(&mut self) -> bool {
        if !self.early {
            return false;
        }
        if self
            .watch
            .as_ref()
            .is_none_or(run_lock::LiveRunWatch::found)
        {
            self.step_back();
            return true;
        }
        false
    }

    /// Gives up writing early: rolls back what was written (so that another run can take the
    /// write lock now) and holds every row for the end of the run, as when runs overlap.
    fn step_back(&mut self) {
        self.roll_back();
        let _ = self.conn().execute_batch("PRAGMA cache_size = -65536");
        let _ = self.conn().busy_timeout(self.store.lock_timeout);
        self.written_early = 0;
        move_rows(&mut self.written_forecasts, &mut self.forecasts);
        move_rows(&mut self.written_hourly, &mut self.hourly);
        self.held = self.forecasts.iter().map(Vec::len).sum::<usize>()
            + self.hourly.iter().map(Vec::len).sum::<usize>();
        self.leave_idle_priority();
    }

    /// Begins the run's transaction, waiting up to `patience` for the write lock.
    fn begin(&mut self, patience: Duration) -> Result<(), StoreError> {
        // Rollback-journal mode (a new file's first run) needs FULL to be as safe as WAL with
        // NORMAL against power loss; it only syncs the journal of the few pages there were.
        if !self.store.in_wal_mode()? {
            self.conn()
                .execute_batch("PRAGMA synchronous = FULL")
                .map_err(|e| self.error(e))?;
        }
        let lock_timeout = self.store.lock_timeout;
        self.conn()
            .busy_timeout(patience)
            .map_err(|e| self.error(e))?;
        let begun = self.conn().execute_batch("BEGIN IMMEDIATE");
        self.conn()
            .busy_timeout(lock_timeout)
            .map_err(|e| self.error(e))?;
        begun.map_err(|e| classify(&self.store.path, e, patience))?;
        match self.first_target_hour() {
            Ok(from) => {
                self.transaction = Some(Transaction {
                    from,
                    created: format_utc_ms(now_ms()),
                    forecasts: 0,
                    changed: 0,
                    hourly: 0,
                    last_target: None,
                });
                Ok(())
            }
            Err(error) => {
                self.roll_back();
                Err(error)
            }
        }
    }

    /// Writes every row and the run record in the run's transaction (beginning it now if no
    /// rows were written early, waiting up to the lock timeout for the write lock), and commits.
    fn write(&mut self, summary: &RunSummary) -> Result<Written, StoreError> {
        let started = Instant::now();
        self.conn()
            .busy_timeout(self.store.lock_timeout)
            .map_err(|e| self.error(e))?;
        if self.transaction.is_none() {
            self.begin(self.store.lock_timeout)?;
        }
        let written = self
            .write_held()
            .and_then(|_| self.complete(summary, started));
        let end = if written.is_ok() {
            "COMMIT"
        } else {
            "ROLLBACK"
        };
        let ended = self.conn().execute_batch(end).map_err(|e| self.error(e));
        let written = written.and_then(|w| ended.map(|()| w))?;
        self.store.run_lock = None;
        // A new file's first run is written in rollback-journal mode; from now on, WAL. A
        // reader in the way leaves that to the next run that opens the file for writing.
        match self.store.switch_to_wal(WAL_SWITCH_PATIENCE) {
            Ok(()) => {
                let _ = self.conn().execute_batch("PRAGMA synchronous = NORMAL");
            }
            Err(error) => {
                tracing::warn!("{error}; the next run will put the database in WAL mode")
            }
        }
        Ok(written)
    }

    /// Upserts the rows held, each table in primary-key order (zone, then hour), into the open
    /// transaction, and lets go of them.
    fn write_held(&mut self) -> Result<usize, StoreError> {
        let Some(transaction) = self.transaction.as_mut() else {
            return Err(StoreError::Writer(
                "rows written outside the run's transaction".into(),
            ));
        };
        let conn = &self.store.conn;
        let (from, to) = (transaction.from, self.range.to);
        let run_id = self.run_id;
        // Appends to each table's B-tree, mostly, instead of splitting pages all over it (hour
        // by hour takes twice as long).
        sort_each_zone(&mut self.forecasts, |f| f.target_hour);
        sort_each_zone(&mut self.hourly, |row| row.key.hour);
        let in_range = |f: &&StoredForecast| {
            from.is_none_or(|h| f.target_hour >= h) && to.is_none_or(|h| f.target_hour < h)
        };
        let forecasts = || self.forecasts.iter().flatten().filter(in_range);
        let last_target = forecasts().map(|f| f.target_hour).max();
        transaction.last_target = transaction.last_target.max(last_target);
        let hours = self.forecasts.iter().flatten().map(|f| f.target_hour);
        let hours = hours.chain(self.hourly.iter().flatten().map(|row| row.key.hour));
        let labels = HourLabels::new(hours.fold(None, |span, hour| {
            Some(span.map_or((hour, hour), |(first, last): (i64, i64)| {
                (first.min(hour), last.max(hour))
            }))
        }));
        let labels = &labels;
        let version = self.version.as_str();
        let classify = |e| classify(&self.store.path, e, self.store.lock_timeout);
        let (forecast_rows, changed) = upsert_all(
            conn,
            [INSERT_FORECASTS, FORECAST_VALUES, UPSERT_FORECASTS],
            &[&version, &run_id, &transaction.created],
            forecasts().map(|f| {
                let pickups = f.milli_pickups as f64 / 1000.0;
                (f.zone, labels.get(f.target_hour), pickups, f.fallback)
            }),
            |(zone, hour, pickups, fallback)| [zone, hour, pickups, fallback],
        )
        .map_err(classify)?;
        let (hourly_rows, _) = upsert_all(
            conn,
            [INSERT_HOURLY, HOURLY_VALUES, UPSERT_HOURLY],
            &[&run_id],
            self.hourly.iter().flatten().map(|row| {
                let hour = labels.get(row.key.hour);
                (row.key.zone, hour, row.pickups, row.means)
            }),
            |(zone, hour, pickups, [distance, fare, total])| {
                [zone, hour, pickups, distance, fare, total]
            },
        )
        .map_err(classify)?;
        transaction.forecasts += forecast_rows;
        transaction.changed += changed;
        transaction.hourly += hourly_rows;
        self.held = 0;
        Ok(forecast_rows + hourly_rows)
    }

    /// Marks the run complete with what it wrote (`started`: when the dataflow ended).
    fn complete(&self, summary: &RunSummary, started: Instant) -> Result<Written, StoreError> {
        let transaction = self.transaction.as_ref().expect("begun before completing");
        let (run_id, from, to) = (self.run_id, transaction.from, self.range.to);
        let written = Written {
            run_id,
            forecasts: transaction.forecasts as u64,
            forecasts_changed: transaction.changed as u64,
            hourly: transaction.hourly as u64,
            from,
            abandoned: Vec::new(),
            written_early: self.written_early,
        };
        let rejected: u64 = summary.rejected_by_reason.values().sum();
        self.conn()
            .execute(
                "UPDATE runs SET status = 'complete', finished_at = ?2, from_hour = ?3, to_hour = ?4,
                   rows_read = ?5, accepted = ?6, rejected = ?7, late = ?8, rejected_by_reason = ?9,
                   watermark = ?10, forecasts_written = ?11, hourly_written = ?12,
                   dataflow_seconds = ?13, write_seconds = ?14, last_target_hour = ?15
                 WHERE run_id = ?1",
                params![
                    run_id,
                    format_utc_ms(now_ms()),
                    from.map(hour_text),
                    to.map(hour_text),
                    summary.rows_read,
                    summary.accepted,
                    rejected,
                    summary.late,
                    serde_json::to_string(&summary.rejected_by_reason).expect("counts"),
                    summary.watermark.map(format_iso),
                    written.forecasts,
                    written.hourly,
                    summary.dataflow_seconds,
                    started.elapsed().as_secs_f64(),
                    transaction.last_target.map(hour_text)
                ],
            )
            .map_err(|e| self.error(e))?;
        Ok(written)
    }

    /// The first target hour written: the range's start, after `since_last_run`.
    fn first_target_hour(&self) -> Result<Option<i64>, StoreError> {
        let mut from = self.range.from;
        if self.range.since_last_run {
            let last: Option<String> = self
                .conn()
                .query_row(
                    "SELECT max(last_target_hour) FROM runs WHERE status = 'complete' AND model_version = ?1",
                    params![self.version],
                    |r| r.get(0),
                )
                .map_err(|e| self.error(e))?;
            if let Some(next) = last.as_deref().and_then(parse_hour).map(|h| h + 1) {
                from = Some(from.map_or(next, |f| f.max(next)));
            }
        }
        Ok(from)
    }

    /// Rolls back whatever the run wrote and marks it failed with `message`.
    fn fail(&mut self, message: &str) {
        self.roll_back();
        let _ = self.store.fail_run(self.run_id, message);
    }

    /// Rolls back the run's transaction, if one is open.
    fn roll_back(&mut self) {
        self.transaction = None;
        if !self.conn().is_autocommit() {
            let _ = self.conn().execute_batch("ROLLBACK");
        }
    }
}

/// Sets a thread id back to 0 when its thread leaves, so that no other thread that gets the
/// id later is handed a priority meant for this one.
struct ClearOnDrop<'a>(&'a AtomicI32);

impl Drop for ClearOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(0, Ordering::SeqCst);
    }
}

/// Moves every zone's rows from `from` to the end of the same zone's in `to`.
fn move_rows<R>(from: &mut [Vec<R>], to: &mut Vec<Vec<R>>) {
    if to.len() < from.len() {
        to.resize_with(from.len(), Vec::new);
    }
    for (from, to) in from.iter_mut().zip(to.iter_mut()) {
        to.append(from);
    }
}

/// The rows of `zone` in `by_zone` (indexed by zone number).
fn by_zone<R>(by_zone: &mut Vec<Vec<R>>, zone: u16) -> &mut Vec<R> {
    let zone = usize::from(zone);
    if by_zone.len() <= zone {
        by_zone.resize_with(zone + 1, Vec::new);
    }
    &mut by_zone[zone]
}

/// Sorts each zone's rows by `hour` (they arrived nearly in that order: the stable sort merges
/// the runs they came in).
fn sort_each_zone<R>(by_zone: &mut [Vec<R>], hour: impl Fn(&R) -> i64) {
    for rows in by_zone {
        rows.sort_by_key(&hour);
    }
}

/// Hour labels, each formatted once per write (a write holds every zone of its hours): one for
/// every hour from the first to the last, when that span is at most [`HourLabels::MAX_SPAN`]
/// hours, else made row by row.
struct HourLabels {
    first: i64,
    labels: Vec<String>,
}

impl HourLabels {
    /// 2^20 hours: 119 years.
    const MAX_SPAN: i64 = 1 << 20;

    /// The labels of the hours from `first` to `last` (inclusive).
    fn new(hours: Option<(i64, i64)>) -> Self {
        let (first, last) = hours.unwrap_or((0, -1));
        let labels = if last - first < Self::MAX_SPAN {
            (first..=last).map(hour_text).collect()
        } else {
            Vec::new()
        };
        HourLabels { first, labels }
    }

    /// The label of `hour`.
    fn get(&self, hour: i64) -> std::borrow::Cow<'_, str> {
        match self.labels.get((hour - self.first) as usize) {
            Some(label) => std::borrow::Cow::Borrowed(label),
            None => std::borrow::Cow::Owned(hour_text(hour)),
        }
    }
}

/// Runs `head values, values, ... tail` over `rows`, [`ROWS_PER_STATEMENT`] at a time, and
/// returns the rows written and the rows changed: `constants` are bound once per statement,
/// each row's `params` where `values` numbers them (see [`FORECAST_VALUES`]).
fn upsert_all<R, const N: usize>(
    conn: &Connection,
    [head, values, tail]: [&str; 3],
    constants: &[&dyn ToSql],
    rows: impl Iterator<Item = R>,
    params: impl for<'a> Fn(&'a R) -> [&'a dyn ToSql; N],
) -> rusqlite::Result<(usize, usize)> {
    let sql = |rows: usize| {
        let groups: Vec<String> = (0..rows)
            .map(|row| {
                let first = constants.len() + N * row;
                let mut group = values.to_string();
                // Highest first, so `?r1` does not match the start of `?r10`.
                for n in (1..=N).rev() {
                    group = group.replace(&format!("?r{n}"), &format!("?{}", first + n));
                }
                for n in (1..=constants.len()).rev() {
                    group = group.replace(&format!("?c{n}"), &format!("?{n}"));
                }
                group
            })
            .collect();
        format!("{head} {} {tail}", groups.join(", "))
    };
    let mut full: Option<rusqlite::Statement<'_>> = None;
    let (mut written, mut changed) = (0, 0);
    let mut chunk = Vec::with_capacity(ROWS_PER_STATEMENT);
    let mut rows = rows.peekable();
    while rows.peek().is_some() {
        chunk.clear();
        chunk.extend(rows.by_ref().take(ROWS_PER_STATEMENT));
        let mut last = None;
        let statement = if chunk.len() == ROWS_PER_STATEMENT {
            if full.is_none() {
                full = Some(conn.prepare(&sql(ROWS_PER_STATEMENT))?);
            }
            full.as_mut().expect("prepared")
        } else {
            last.insert(conn.prepare(&sql(chunk.len()))?)
        };
        for (index, constant) in constants.iter().enumerate() {
            statement.raw_bind_parameter(index + 1, constant)?;
        }
        let mut index = constants.len();
        for row in &chunk {
            for param in params(row) {
                index += 1;
                statement.raw_bind_parameter(index, param)?;
            }
        }
        changed += statement.raw_execute()?;
        written += chunk.len();
    }
    Ok((written, changed))
}
