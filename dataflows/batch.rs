//! The batch job (`zonecast batch`): a bounded [`Source`] in, the forecast dataflow run to
//! completion, and its final forecasts, hourly aggregates and a run record out, written into the
//! SQLite prediction database in one transaction.
//!
//! ```text
//! Source ─► forecast::build_streams ─(ZoneForecast, epoch, +1: final)─► sink_epochs ─(final rows)─────────┐
//!                  ├─((ZoneHour, HourlyStats), epoch, ±1)─► sink_final ─► HourlyTable ─(final rows)───────┼─► RunWriter thread ─► SQLite
//!                  ├─WatermarkState (epoch + 1) ─► sink_final (what is final)                                │   (one transaction at the end)
//!                  └─Report─► sink_reports (worker 0) ─► RunReport ─► RunSummary ────────────────────────────┘
//! ```
//!
//! It is the streaming job's dataflow, except that `BuildFeatures` emits each feature row once,
//! when it is final ([`FeatureEmission::Final`]: once its target hour is older than the
//! retention, or when the input ends), so each forecast comes out once, final, and goes
//! straight to the writer; no correction is scored only to be retracted. The batch table
//! equals the streaming job's final forecasts row for row (a test proves it on the real
//! green-taxi month). An hourly row is final once every later on-time trip is newer than its
//! hour; the hourly sink releases those rows epoch by epoch, so the table held stays the size
//! of that window, and the rest when the input ends. On one process each worker hands over its
//! own keys; with several processes everything is gathered on worker 0 instead.

use std::cell::RefCell;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::dataflows::aggregate::DEFAULT_BATCH_ROWS;
use crate::dataflows::forecast::{build_streams, ForecastPolicy};
use crate::forecast::ZoneForecast;
use crate::jobs::workers::{run_workers, step_until_done};
use crate::jobs::{
    JobAddresses, JobControl, JobError, JobHandle, PreparedSource, Source, SourceSettings,
};
use crate::model::ModelFile;
use crate::operators::FeatureEmission;
use crate::progress::Progress;
use crate::report::RunReport;
use crate::runtime::Cluster;
use crate::schema::ColumnMap;
use crate::sinks::epochs::EpochUpdates;
use crate::sinks::final_rows::{FinalTable, SinkFinal};
use crate::sinks::hourly_table::HourlyTable;
use crate::sinks::{SinkEpochs, SinkReports};
use crate::store::{
    FinalRows, HourRange, RowSender, RunStart, RunSummary, RunWriter, Store, Written,
    DEFAULT_LOCK_TIMEOUT, EARLY_WRITE_ROWS,
};

/// What one worker of a batch job hands back (its rows went to the database writer).
struct WorkerResult {
    /// Row outcomes (worker 0).
    report: Option<RunReport>,
    /// The latest watermark the worker saw.
    watermark: Option<i64>,
}

/// A batch scoring job: what `zonecast batch` runs, without the CLI.
#[derive(Clone, Debug)]
pub struct BatchJob {
    /// Trips (bounded: files or memory rows).
    pub source: Source,
    /// Column mapping.
    pub columns: ColumnMap,
    /// The model.
    pub model: ModelFile,
    /// Lateness, features, retention (as for the live job).
    pub policy: ForecastPolicy,
    /// Threads and processes (process 0 writes the database).
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
    /// Rows the database writer gathers before writing them while the dataflow still runs
    /// (`usize::MAX`: every row after the dataflow). See `RunWriter`.
    pub early_write_rows: usize,
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
    /// A job scoring `source` with `model` into `db`, with the live job's defaults.
    pub fn new(source: Source, model: ModelFile, db: PathBuf) -> Self {
        BatchJob {
            source,
            columns: ColumnMap::default(),
            policy: ForecastPolicy::for_spec(model.spec.clone()),
            model,
            cluster: Cluster::threads(2),
            batch_rows: DEFAULT_BATCH_ROWS,
            db,
            range: HourRange::default(),
            lock_timeout: DEFAULT_LOCK_TIMEOUT,
            show_progress: false,
            early_write_rows: EARLY_WRITE_ROWS,
        }
    }

    /// Runs the dataflow, then writes the run.
    pub fn run(self) -> Result<BatchOutcome, JobError> {
        self.start()?.join()
    }

    /// Starts the job and returns at once. A failure after the run was recorded marks it
    /// `failed`; nothing of it is committed. A stopped job writes nothing either.
    pub fn start(self) -> Result<JobHandle<BatchOutcome>, JobError> {
        JobHandle::spawn("zonecast-batch", JobControl::new(), None, move |control| {
            self.execute(control)
        })
    }

    fn execute(self, control: Arc<JobControl>) -> Result<BatchOutcome, JobError> {
        if !self.source.is_bounded() {
            return Err(JobError::Unbounded);
        }
        if !self.cluster.is_leader() {
            // Other processes run their share of the dataflow; process 0 writes the run.
            control.ready(JobAddresses::default());
            let started = Instant::now();
            self.compute(&control, None)?;
            return Ok(BatchOutcome {
                written: Written::default(),
                report: RunReport::default(),
                dataflow: started.elapsed(),
                write: Duration::ZERO,
            });
        }
        let mut store = Store::open(&self.db, self.lock_timeout)?;
        let begun = store.begin_run(&RunStart {
            inputs: self.source.describe(),
            model_version: self.model.version.clone(),
            model_kind: self.model.kind.name().to_string(),
        })?;
        let writer = RunWriter::start(
            store,
            begun.run_id,
            &self.model.version,
            self.range,
            self.early_write_rows,
        );
        control.ready(JobAddresses::default());
        let started = Instant::now();
        let computed = self.compute(&control, Some(writer.rows()));
        let dataflow = started.elapsed();
        let computed = match computed {
            Ok(_) if control.is_stopping() && control.failure().is_none() => Err(JobError::Stopped),
            other => other,
        };
        let (mut summary, report) = match computed.and_then(|gathered| {
            gathered.ok_or_else(|| JobError::Failed("worker 0 produced no results".into()))
        }) {
            Ok(ok) => ok,
            Err(error) => {
                writer.fail(&error.to_string());
                return Err(error);
            }
        };
        summary.dataflow_seconds = dataflow.as_secs_f64();
        let writing = Instant::now();
        let written = writer.finish(summary)?;
        Ok(BatchOutcome {
            written: Written {
                abandoned: begun.abandoned,
                ..written
            },
            report,
            dataflow,
            write: writing.elapsed(),
        })
    }

    /// The forecast dataflow over the inputs, its final rows sent to `rows` as they become
    /// final; returns the run's summary and report (`None` on a process other than 0).
    fn compute(
        &self,
        control: &Arc<JobControl>,
        rows: Option<RowSender>,
    ) -> Result<Option<(RunSummary, RunReport)>, JobError> {
        let settings = SourceSettings {
            columns: self.columns.clone(),
            batch_rows: self.batch_rows,
            cluster: self.cluster.clone(),
            heartbeat: None,
            batch_interval: SourceSettings::DEFAULT_BATCH_INTERVAL,
        };
        let source = Arc::new(PreparedSource::open(
            &self.source,
            &settings,
            control.stop_flag(),
        )?);
        let _progress = Progress::start(
            source.rows_read.clone(),
            source.total_rows,
            self.show_progress,
        );
        let model = Arc::new(self.model.clone());
        let policy = self.policy.clone();
        // One process: each worker releases the rows of its own keys; several processes: they
        // are gathered on worker 0 (of process 0, the one writing).
        let gather = self.cluster.processes > 1;
        let worker_control = control.clone();
        let results = run_workers(&self.cluster, control, move |worker| {
            let feed = source.feed(worker.index());
            let table = Rc::new(RefCell::new(HourlyTable::default()));
            let report = Rc::new(RefCell::new(RunReport::default()));
            let watermark: Rc<RefCell<Option<i64>>> = Rc::default();
            let w = watermark.clone();
            let (send_forecasts, send_hourly) = (rows.clone(), rows.clone());
            let handles = worker.dataflow::<u64, _, _>(|scope| {
                let emission = FeatureEmission::Final;
                let streams =
                    build_streams(scope, feed, &policy, model.clone(), None, None, emission);
                // Hours before this are final: every later on-time trip is newer.
                let lateness = policy.watermark;
                let hourly_open_from = move |watermark| lateness.closed_before(watermark);
                streams.hourly.sink_final_named(
                    "SinkHourly",
                    streams.states.clone(),
                    gather,
                    table.clone(),
                    hourly_open_from,
                    move |final_rows| {
                        if let Some(rows) = &send_hourly {
                            rows.send(FinalRows::Hourly(final_rows));
                        }
                    },
                );
                // Each forecast comes out once, final: every finished epoch's go to the writer.
                let send = move |_epoch, updates: EpochUpdates<ZoneForecast>| {
                    let final_rows: Vec<ZoneForecast> = updates
                        .into_iter()
                        .map(|(forecast, diff)| {
                            assert_eq!(diff, 1, "a final forecast changed: {forecast:?}");
                            forecast
                        })
                        .collect();
                    if let Some(rows) = send_forecasts.as_ref().filter(|_| !final_rows.is_empty()) {
                        rows.send(FinalRows::Forecasts(final_rows));
                    }
                };
                if gather {
                    streams.forecasts.sink_epochs_named("SinkForecasts", send);
                } else {
                    streams
                        .forecasts
                        .sink_local_epochs_named("SinkForecasts", send);
                }
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
            step_until_done(worker, &worker_control, || {
                if let Some(error) = handles.source_error.borrow().as_ref() {
                    worker_control.fail(error.to_string());
                }
            });
            // The input is complete: every row still held is final.
            if let Some(rows) = rows.as_ref().filter(|_| !worker_control.is_stopping()) {
                let held = table.borrow_mut().release_before(i64::MAX);
                rows.send(FinalRows::Hourly(held));
            }
            WorkerResult {
                report: (worker.index() == 0).then(|| report.take()),
                watermark: watermark.take(),
            }
        })?;
        if let Some(message) = control.failure() {
            return Err(JobError::Failed(message));
        }
        let watermark = results.iter().filter_map(|r| r.watermark).max();
        let Some(report) = results.iter().find_map(|r| r.report.clone()) else {
            return Ok(None);
        };
        let summary = RunSummary {
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
        Ok(Some((summary, report)))
    }
}
