//! The aggregate dataflow: trips from files or a socket in, per-zone hourly aggregates, the
//! update log and a run report out.
//!
//! ```text
//! source_trips ─(Trip, RowPos), input order─► classify_lateness ─Trip─► exchange by (zone, hour) ─► aggregate_hourly ─((ZoneHour, HourlyStats), epoch, ±1)─► sink_epochs (worker 0)
//!      │                                        ▲      │    │                                          ▲
//!      │                                        │      │    └─WatermarkState─► broadcast ─► feedback(+1) ┘ (and back into classify_lateness)
//!      └─Report (read, rejected)─► concat ◄─────┼──────┘ Report (accepted, late, far ahead)
//!                                    └─► sink_reports (worker 0)
//! ```

use std::cell::RefCell;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::mpsc::channel;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use differential_dataflow::{AsCollection, VecCollection};
use timely::dataflow::operators::generic::operator::{empty, source};
use timely::dataflow::operators::vec::Broadcast;
use timely::dataflow::operators::{Concat, ConnectLoop, Exchange, Feedback, Probe};
use timely::dataflow::{ProbeHandle, Scope, StreamVec};

use crate::forecast::ZoneForecast;
use crate::jobs::hub::{spawn_hub, HubShared};
use crate::jobs::workers::{run_workers, step_until_done};
use crate::jobs::{
    JobAddresses, JobControl, JobError, JobHandle, PreparedSource, Source, SourceSettings,
};
use crate::live::{LiveEpoch, LiveState};
use crate::operators::{AggregateHourly, ClassifyLateness, StateGauge};
use crate::progress::Progress;
use crate::report::{Report, RunReport};
use crate::resume::Resume;
use crate::runtime::Cluster;
use crate::schema::ColumnMap;
use crate::sinks::changes_log::ChangesLog;
use crate::sinks::epochs::EpochUpdates;
use crate::sinks::hourly_table::{HourlyTable, SortedTable};
use crate::sinks::live::SinkLive;
use crate::sinks::{SinkEpochs, SinkReports};
use crate::sources::{source_trips, SourceError, TripFeed};
use crate::trip::{HourlyStats, ZoneHour};
use crate::watermark::{WatermarkPolicy, WatermarkState};

/// A callback for every finished epoch of hourly updates.
pub type HourlySink = Box<dyn FnMut(u64, EpochUpdates<(ZoneHour, HourlyStats)>)>;

/// Where the aggregate dataflow delivers its results.
pub struct AggregateSinks {
    /// Called on every worker with each finished epoch of the hourly updates that worker
    /// holds; keys are partitioned, so together the workers see every update exactly once.
    pub hourly_local: Option<HourlySink>,
    /// Called on worker 0 with each finished epoch of all hourly updates, in epoch order.
    pub hourly_gathered: Option<HourlySink>,
    /// Called on worker 0 with each finished epoch as a [`LiveEpoch`] (hourly updates,
    /// watermark, row outcomes; no forecasts), for the job's hub. Build it on every worker or
    /// on none.
    pub live: Option<LiveSink>,
    /// Receives the row outcome counts.
    pub report: Rc<RefCell<RunReport>>,
}

/// A callback for every finished epoch gathered as a [`LiveEpoch`].
pub type LiveSink = Box<dyn FnMut(u64, LiveEpoch)>;

/// What a built aggregate dataflow hands back to the code that runs it.
pub struct AggregateHandles {
    /// Done when every epoch has reached the sinks.
    pub probe: ProbeHandle<u64>,
    /// Set if the source failed.
    pub source_error: Rc<RefCell<Option<SourceError>>>,
    /// (zone, hour) keys held by this worker's aggregate: current and peak.
    pub state: StateGauge,
}

/// The streams of the trips-to-hourly-aggregates part, shared by every dataflow built on it.
pub struct HourlyStreams<'scope> {
    /// `((ZoneHour, HourlyStats), epoch, ±1)`, partitioned by (zone, hour).
    pub hourly: VecCollection<'scope, u64, (ZoneHour, HourlyStats)>,
    /// The watermark state after epoch `e`, on every worker at time `e + 1`.
    pub states: StreamVec<'scope, u64, WatermarkState>,
    /// Row outcomes: read, accepted, rejected, late.
    pub reports: StreamVec<'scope, u64, Report>,
    /// Handles for the code that runs the dataflow (attach the probe to the last stage).
    pub handles: AggregateHandles,
}

/// Builds source -> lateness -> hourly aggregates. Attach `handles.probe` to the end of the
/// dataflow: the source keeps a bounded number of epochs ahead of it. With `resume`, the
/// aggregates and watermark start from a checkpoint (see [`crate::resume`]) and `feed` must
/// start after its restore epoch.
pub fn build_hourly<'scope>(
    scope: Scope<'scope, u64>,
    feed: Box<dyn TripFeed>,
    policy: WatermarkPolicy,
    resume: Option<Arc<Resume>>,
) -> HourlyStreams<'scope> {
    let probe = ProbeHandle::new();
    let peers = scope.peers() as u64;
    let window = (4 * peers).max((peers + 1) * feed.block());
    let source = source_trips(scope, "SourceTrips", feed, probe.clone(), window);
    // WatermarkState at the end of epoch e, on every worker at epoch e + 1
    let (state_loop, states) = scope.feedback::<Vec<WatermarkState>>(1);
    // A restarted dataflow: the state after the restore epoch, as if fed back from it
    let states = match &resume {
        Some(resume) => states.concat(resumed_state(scope, resume)),
        None => states,
    };
    // (Trip, RowPos) in input order, on the worker that read them
    let classified =
        source
            .trips
            .classify_lateness_named("ClassifyLateness", states.clone(), policy);
    classified.states.broadcast().connect_loop(state_loop);
    // Trip, routed so that each (zone, hour) lives on one worker
    let on_time = classified.on_time.exchange(|trip| trip.zone_hour().route());
    // ((ZoneHour, HourlyStats), epoch, ±1)
    let state = StateGauge::default();
    let hourly = on_time.aggregate_hourly_gauged_named(
        "AggregateHourly",
        states.clone(),
        policy,
        state.clone(),
        resume.clone(),
    );
    HourlyStreams {
        hourly,
        states,
        reports: source.reports.concat(classified.reports),
        handles: AggregateHandles {
            probe,
            source_error: source.error,
            state,
        },
    }
}

/// The watermark state after a restore epoch `e`, on this worker at epoch `e + 1` (what the
/// broadcast feedback would have delivered had the epoch run here).
fn resumed_state<'scope>(
    scope: Scope<'scope, u64>,
    resume: &Resume,
) -> StreamVec<'scope, u64, WatermarkState> {
    let (epoch, after) = (resume.epoch, resume.after.clone());
    source(scope, "ResumedState", move |capability, _info| {
        let mut cap = Some(capability.delayed(&(epoch + 1)));
        move |output| {
            if let Some(cap) = cap.take() {
                output.session(&cap).give(after.clone());
            }
        }
    })
}

/// Builds the aggregate dataflow in `scope` from `feed`, delivering to `sinks`.
pub fn build<'scope>(
    scope: Scope<'scope, u64>,
    feed: Box<dyn TripFeed>,
    policy: WatermarkPolicy,
    sinks: AggregateSinks,
) -> AggregateHandles {
    let streams = build_hourly(scope, feed, policy, None);
    let hourly = streams.hourly;
    hourly.clone().inner.probe_with(&streams.handles.probe);
    if let Some(sink) = sinks.hourly_local {
        hourly
            .clone()
            .sink_local_epochs_named("SinkHourlyLocal", sink);
    }
    if let Some(sink) = sinks.live {
        let no_forecasts = empty::<_, Vec<(ZoneForecast, u64, isize)>>(scope).as_collection();
        no_forecasts.sink_live_named(
            "SinkLive",
            hourly.clone(),
            streams.states.clone(),
            streams.reports.clone(),
            sink,
        );
    }
    if let Some(sink) = sinks.hourly_gathered {
        hourly.sink_epochs_named("SinkHourlyGathered", sink);
    }
    streams
        .reports
        .sink_reports_named("SinkReports", sinks.report);
    streams.handles
}

/// Output files (all optional; the outcome is returned either way).
#[derive(Clone, Debug, Default)]
pub struct AggregateOutputs {
    /// The final hourly table (CSV).
    pub table: Option<PathBuf>,
    /// The update log (CSV).
    pub changes: Option<PathBuf>,
    /// Rejected and late rows (CSV).
    pub rejects: Option<PathBuf>,
}

/// A complete aggregate job: what `zonecast aggregate` runs, without the CLI.
#[derive(Clone, Debug)]
pub struct AggregateJob {
    /// Where trips come from.
    pub source: Source,
    /// Column mapping for inputs with non-TLC names.
    pub columns: ColumnMap,
    /// Lateness, far-ahead limit and watermark support.
    pub policy: WatermarkPolicy,
    /// Rows per epoch (files) or at most per epoch (socket, channel).
    pub batch_rows: u64,
    /// Threads and processes.
    pub cluster: Cluster,
    /// Files to write.
    pub outputs: AggregateOutputs,
    /// Show a progress bar on a terminal.
    pub show_progress: bool,
    /// Gather every epoch's updates on worker 0 for the handle's subscriptions and snapshot
    /// (costs an exchange of the updates; off for one-shot runs such as the CLI's).
    pub publish_updates: bool,
}

impl AggregateJob {
    /// A job over `source` with default settings.
    pub fn new(source: Source) -> Self {
        AggregateJob {
            source,
            columns: ColumnMap::default(),
            policy: WatermarkPolicy::default(),
            batch_rows: DEFAULT_BATCH_ROWS,
            cluster: Cluster::default(),
            outputs: AggregateOutputs::default(),
            show_progress: false,
            publish_updates: true,
        }
    }

    /// A job over files with default settings.
    pub fn files(paths: Vec<PathBuf>) -> Self {
        AggregateJob::new(Source::files(paths))
    }
}

/// Default rows per epoch.
pub const DEFAULT_BATCH_ROWS: u64 = 4_096;

/// What an aggregate job produced (returned on process 0 only).
#[derive(Debug)]
pub struct AggregateOutcome {
    /// The final hourly table, sorted by hour then zone.
    pub table: SortedTable,
    /// Row outcome counts and set-aside rows.
    pub report: RunReport,
    /// Source names by index (files, then socket clients).
    pub source_names: Vec<String>,
    /// Wall time of the dataflow.
    pub elapsed: Duration,
    /// The most (zone, hour) keys the aggregate held at once, summed over this process's
    /// workers: bounded by zones x (allowed lateness + max ahead) hours, however long the input.
    pub peak_state_keys: usize,
}

struct WorkerResult {
    table: Option<SortedTable>,
    peak_state_keys: usize,
    report: Option<RunReport>,
    error: Option<String>,
}

impl AggregateJob {
    /// Runs the job to completion. Returns `Some` on process 0, `None` on the others.
    pub fn run(self) -> Result<Option<AggregateOutcome>, JobError> {
        self.start()?.join()
    }

    /// Starts the job and returns at once.
    pub fn start(self) -> Result<JobHandle<Option<AggregateOutcome>>, JobError> {
        let control = JobControl::new();
        let hub = self.publish_updates.then(|| {
            let live = LiveState::new(Default::default(), self.policy);
            HubShared::new(Arc::new(RwLock::new(live)), None)
        });
        let job_hub = hub.clone();
        JobHandle::spawn("zonecast-aggregate", control, hub, move |control| {
            self.execute(control, job_hub)
        })
    }

    fn execute(
        self,
        control: Arc<JobControl>,
        hub: Option<Arc<HubShared>>,
    ) -> Result<Option<AggregateOutcome>, JobError> {
        let started = Instant::now();
        drop(self.cluster.timely_config()?);
        let leader = self.cluster.is_leader();
        let settings = SourceSettings {
            columns: self.columns.clone(),
            batch_rows: self.batch_rows,
            cluster: self.cluster.clone(),
            heartbeat: None,
            batch_interval: SourceSettings::DEFAULT_BATCH_INTERVAL,
        };
        let mut source = PreparedSource::open(&self.source, &settings, control.stop_flag())?;
        let (sender, receiver) = channel::<(u64, LiveEpoch)>();
        let hub_thread = match (hub, leader) {
            (Some(hub), true) => {
                source.done_epoch = hub.done_epoch().clone();
                Some(spawn_hub(hub, None, receiver))
            }
            _ => None,
        };
        let publish = hub_thread.is_some().then(|| Mutex::new(Some(sender)));
        control.ready(JobAddresses {
            http: None,
            socket: source.socket,
        });
        let _progress = Progress::start(
            source.rows_read.clone(),
            source.total_rows,
            self.show_progress && leader,
        );
        let policy = self.policy;
        let changes_path = self.outputs.changes.clone();
        let single_process = self.cluster.processes <= 1;
        let source = Arc::new(source);
        let feeds = source.clone();
        let worker_control = control.clone();
        tracing::info!(elapsed = ?started.elapsed(), "inputs planned");
        let mut results = run_workers(&self.cluster, &control, move |worker| {
            let index = worker.index();
            let table = Rc::new(RefCell::new(HourlyTable::default()));
            let report = Rc::new(RefCell::new(RunReport::default()));
            let write_error: Rc<RefCell<Option<String>>> = Rc::new(RefCell::new(None));
            let mut changes = match (&changes_path, worker.index()) {
                (Some(path), 0) => match ChangesLog::create(path) {
                    Ok(log) => Some(log),
                    Err(e) => {
                        *write_error.borrow_mut() =
                            Some(format!("cannot write {}: {e}", path.display()));
                        None
                    }
                },
                _ => None,
            };
            // One process: each worker keeps the table of its own keys (merged at the end);
            // several processes: the table is gathered on worker 0.
            let table_sink = table.clone();
            let apply = Box::new(
                move |_epoch: u64, updates: EpochUpdates<(ZoneHour, HourlyStats)>| {
                    table_sink.borrow_mut().apply(&updates);
                },
            );
            let error_sink = write_error.clone();
            // Every worker must build the same operators, so the gathered sink exists on all
            // of them whenever a log is wanted; only worker 0 receives (and writes) anything.
            let log: Option<HourlySink> = changes_path.as_ref().map(|_| {
                let mut file = changes.take();
                Box::new(
                    move |epoch: u64, updates: EpochUpdates<(ZoneHour, HourlyStats)>| {
                        if let Some(log) = file.as_mut() {
                            if let Err(e) =
                                log.write_epoch(epoch, &updates).and_then(|_| log.flush())
                            {
                                error_sink
                                    .borrow_mut()
                                    .get_or_insert(format!("cannot write the changes log: {e}"));
                            }
                        }
                    },
                ) as HourlySink
            });
            let (hourly_local, hourly_gathered): (Option<HourlySink>, Option<HourlySink>) =
                match (single_process, log) {
                    (true, log) => (Some(apply), log),
                    (false, None) => (None, Some(apply)),
                    (false, Some(mut log)) => {
                        let both =
                            move |epoch: u64, updates: EpochUpdates<(ZoneHour, HourlyStats)>| {
                                log(epoch, updates.clone());
                                apply(epoch, updates);
                            };
                        (None, Some(Box::new(both)))
                    }
                };
            // Every worker builds the publishing sink when any does (only worker 0 sends).
            let live = publish.as_ref().map(|slot| {
                let sender = match index {
                    0 => slot.lock().expect("publisher").take(),
                    _ => None,
                };
                Box::new(move |epoch: u64, update: LiveEpoch| {
                    if let Some(sender) = &sender {
                        let _ = sender.send((epoch, update));
                    }
                }) as LiveSink
            });
            let feed = feeds.feed(index);
            let sinks = AggregateSinks {
                hourly_local,
                hourly_gathered,
                live,
                report: report.clone(),
            };
            let handles = worker.dataflow::<u64, _, _>(|scope| build(scope, feed, policy, sinks));
            step_until_done(worker, &worker_control, || {
                if let Some(error) = handles.source_error.borrow().as_ref() {
                    worker_control.fail(error.to_string());
                }
            });
            let error = write_error.borrow_mut().take();
            let is_zero = index == 0;
            WorkerResult {
                table: (is_zero || single_process).then(|| table.take().into_sorted()),
                report: is_zero.then(|| report.take()),
                peak_state_keys: handles.state.get().1,
                error,
            }
        })?;
        if let Some(thread) = hub_thread {
            let _ = thread.join();
        }
        let elapsed = started.elapsed();
        tracing::info!(?elapsed, "dataflow finished");
        if let Some(message) = results.iter().find_map(|r| r.error.clone()) {
            control.fail(message);
        }
        if let Some(message) = control.failure() {
            return Err(JobError::Failed(message));
        }
        let Some(report) = results.iter_mut().find_map(|r| r.report.take()) else {
            return Ok(None);
        };
        let peak_state_keys = results.iter().map(|r| r.peak_state_keys).sum();
        let table = SortedTable::merge(results.into_iter().filter_map(|r| r.table));
        tracing::info!(elapsed = ?started.elapsed(), "tables joined");
        let source_names = source.source_names();
        if let Some(path) = &self.outputs.table {
            table.write_csv(path).map_err(|source| JobError::Output {
                path: path.clone(),
                source,
            })?;
        }
        if let Some(path) = &self.outputs.rejects {
            report
                .write_rejects(path, &source_names)
                .map_err(|source| JobError::Output {
                    path: path.clone(),
                    source,
                })?;
        }
        tracing::info!(elapsed = ?started.elapsed(), "outputs written");
        Ok(Some(AggregateOutcome {
            table,
            report,
            source_names,
            elapsed,
            peak_state_keys,
        }))
    }
}
