//! The batch job (`zonecast batch`): bounded trip files in, the forecast dataflow run to
//! completion, and its final forecasts, hourly aggregates and a run record out, written into the
//! SQLite prediction database in one transaction.
//!
//! ```text
//! FileFeed ─► forecast::build_streams ─(ZoneForecast, epoch, ±1)─► sink_epochs (worker 0) ─► final forecast per (zone, target hour) ─┐
//!                  ├─((ZoneHour, HourlyStats), epoch, ±1)─► sink_epochs (worker 0) ─► HourlyTable ──────────────────────────────────┼─► Store::complete_run
//!                  └─Report─► sink_reports (worker 0) ─► RunReport ─────────────────────────────────────────────────────────────────┘
//! ```
//!
//! It is the streaming job's dataflow, unchanged: the batch table equals the streaming job's
//! final forecasts row for row (a test proves it on the real green-taxi month).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::dataflows::aggregate::{JobError, DEFAULT_BATCH_ROWS};
use crate::dataflows::forecast::{build_streams, ForecastPolicy};
use crate::forecast::ZoneForecast;
use crate::model::ModelFile;
use crate::progress::Progress;
use crate::report::RunReport;
use crate::runtime::{run_to_completion, Cluster};
use crate::schema::ColumnMap;
use crate::sinks::hourly_table::{HourlyTable, SortedTable};
use crate::sinks::{SinkEpochs, SinkReports};
use crate::sources::file_feed::FileFeed;
use crate::sources::plan::{ReplayOrder, ReplayPlan};
use crate::store::{
    HourRange, RunResult, RunStart, Store, StoreError, Written, DEFAULT_LOCK_TIMEOUT,
};

/// Errors of a batch job.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    /// Reading inputs or running the dataflow failed.
    #[error(transparent)]
    Job(#[from] JobError),
    /// The database could not be opened or written.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A batch scoring job: what `zonecast batch` runs, without the CLI.
pub struct BatchJob {
    /// Trip files (CSV and Parquet, mixed).
    pub inputs: Vec<PathBuf>,
    /// Column mapping.
    pub columns: ColumnMap,
    /// Replay order.
    pub order: ReplayOrder,
    /// The model.
    pub model: ModelFile,
    /// Lateness, features, retention (as for the live job).
    pub policy: ForecastPolicy,
    /// Where the workers run (default two threads in this process). With several processes,
    /// every process runs its share of the dataflow but only process 0 opens the database and
    /// writes the run; the others return an empty outcome.
    pub cluster: Cluster,
    /// Rows per epoch.
    pub batch_rows: u64,
    /// The database.
    pub db: PathBuf,
    /// Which target hours to write.
    pub range: HourRange,
    /// How long to wait for another run's write lock.
    pub lock_timeout: Duration,
    /// Show a progress bar on a terminal.
    pub show_progress: bool,
}

/// What a batch job did.
#[derive(Debug)]
pub struct BatchOutcome {
    /// What was written.
    pub written: Written,
    /// Row outcomes.
    pub report: RunReport,
    /// Dataflow wall time.
    pub dataflow: Duration,
    /// Database write time.
    pub write: Duration,
}

impl BatchJob {
    /// A job scoring `inputs` with `model` into `db`, with the live job's defaults.
    pub fn new(inputs: Vec<PathBuf>, model: ModelFile, db: PathBuf) -> Self {
        BatchJob {
            inputs,
            columns: ColumnMap::default(),
            order: ReplayOrder::File,
            policy: ForecastPolicy {
                watermark: Default::default(),
                spec: model.spec.clone(),
                retention_hours: 48,
            },
            model,
            cluster: Cluster::threads(2),
            batch_rows: DEFAULT_BATCH_ROWS,
            db,
            range: HourRange::default(),
            lock_timeout: DEFAULT_LOCK_TIMEOUT,
            show_progress: false,
        }
    }

    /// Runs the dataflow, then writes the run. A failure after the run was recorded marks it
    /// `failed`; nothing of it is committed.
    pub fn run(self) -> Result<BatchOutcome, BatchError> {
        if !self.cluster.is_leader() {
            let started = Instant::now();
            self.compute()?;
            return Ok(BatchOutcome {
                written: Written::default(),
                report: RunReport::default(),
                dataflow: started.elapsed(),
                write: Duration::ZERO,
            });
        }
        let mut store = Store::open(&self.db, self.lock_timeout)?;
        let run_id = store.begin_run(&RunStart {
            inputs: self
                .inputs
                .iter()
                .map(|p| p.display().to_string())
                .collect(),
            model_version: self.model.version.clone(),
            model_kind: self.model.kind.name().to_string(),
        })?;
        let started = Instant::now();
        let computed = self.compute();
        let dataflow = started.elapsed();
        let (mut result, report) = match computed {
            Ok(Some(ok)) => ok,
            Ok(None) => {
                let error = JobError::Failed("worker 0 produced no results".into());
                let _ = store.fail_run(run_id, &error.to_string());
                return Err(error.into());
            }
            Err(error) => {
                let _ = store.fail_run(run_id, &error.to_string());
                return Err(error.into());
            }
        };
        result.dataflow_seconds = dataflow.as_secs_f64();
        let writing = Instant::now();
        match store.complete_run(run_id, &result, self.range) {
            Ok(written) => Ok(BatchOutcome {
                written,
                report,
                dataflow,
                write: writing.elapsed(),
            }),
            Err(error) => {
                let _ = store.fail_run(run_id, &error.to_string());
                Err(error.into())
            }
        }
    }

    /// The forecast dataflow over the inputs: final forecasts, the hourly table, the report
    /// (`None` on a process other than 0, which gathers nothing).
    fn compute(&self) -> Result<Option<(RunResult, RunReport)>, JobError> {
        let plan = Arc::new(ReplayPlan::new(
            &self.inputs,
            &self.columns,
            self.batch_rows,
            self.order,
        )?);
        let rows = Arc::new(AtomicU64::new(0));
        let leader = self.cluster.is_leader();
        let _progress = Progress::start(
            rows.clone(),
            Some(plan.positions),
            self.show_progress && leader,
        );
        let model = Arc::new(self.model.clone());
        let policy = self.policy.clone();
        type Gathered = (
            BTreeMap<ZoneForecast, isize>,
            SortedTable,
            RunReport,
            Option<i64>,
        );
        let gathered: Arc<Mutex<Option<Gathered>>> = Arc::default();
        let out = gathered.clone();
        let errors = self.cluster.execute(move |worker| {
            let feed = Box::new(FileFeed::new(
                plan.clone(),
                worker.index(),
                worker.peers(),
                None,
                rows.clone(),
            ));
            let forecasts: Rc<RefCell<BTreeMap<ZoneForecast, isize>>> = Rc::default();
            let table = Rc::new(RefCell::new(HourlyTable::default()));
            let report = Rc::new(RefCell::new(RunReport::default()));
            let watermark: Rc<RefCell<Option<i64>>> = Rc::default();
            let (f, t, w) = (forecasts.clone(), table.clone(), watermark.clone());
            let handles = worker.dataflow::<u64, _, _>(|scope| {
                let streams = build_streams(scope, feed, &policy, model.clone(), None);
                streams
                    .forecasts
                    .sink_epochs_named("SinkForecasts", move |_, updates| {
                        let mut f = f.borrow_mut();
                        for (forecast, diff) in updates {
                            *f.entry(forecast).or_default() += diff;
                        }
                    });
                streams
                    .hourly
                    .sink_epochs_named("SinkHourly", move |_, updates| {
                        t.borrow_mut().apply(&updates);
                    });
                use timely::dataflow::operators::Inspect;
                streams.states.inspect(move |state| {
                    let mut w = w.borrow_mut();
                    if state.watermark > *w {
                        *w = state.watermark;
                    }
                });
                streams
                    .reports
                    .sink_reports_named("SinkReports", report.clone());
                streams.handles
            });
            run_to_completion(worker);
            if worker.index() == 0 {
                *out.lock().expect("results") = Some((
                    forecasts.take(),
                    table.take().into_sorted(),
                    report.take(),
                    *watermark.borrow(),
                ));
            }
            let error = handles.source_error.borrow_mut().take();
            error.map(|e| e.to_string())
        })?;
        if let Some(message) = errors.into_iter().flatten().next() {
            return Err(JobError::Failed(message));
        }
        let Some((forecasts, hourly, report, watermark)) = gathered.lock().expect("results").take()
        else {
            return Ok(None);
        };
        let forecasts: Vec<ZoneForecast> = forecasts
            .into_iter()
            .filter(|(_, n)| *n > 0)
            .map(|(f, _)| f)
            .collect();
        let result = RunResult {
            forecasts,
            hourly,
            rows_read: report.rows_read,
            accepted: report.accepted,
            rejected_by_reason: report
                .rejected_by_reason
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect(),
            late: report.late,
            watermark,
            dataflow_seconds: 0.0,
        };
        Ok(Some((result, report)))
    }
}
