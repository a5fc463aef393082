//! The live dataflow and job (`zonecast run`): trips from any [`Source`] in; forecasts per
//! zone out — in the live state the handle reads, in subscriptions, and (optionally) over
//! HTTP with events, metrics and a dashboard.
//!
//! ```text
//! Source (files, then socket / generated / channel tail, then heartbeats)
//!   └─► forecast::build_streams ─(ZoneForecast, epoch, ±1)─────────┐
//!            ├─((ZoneHour, HourlyStats), epoch, ±1)───────────────┤
//!            ├─WatermarkState (epoch + 1, every worker)────────────┼─► sink_live (worker 0) ─LiveEpoch─► channel ─► hub thread ─► LiveState, Snapshot (HTTP), subscriptions
//!            └─Report────────────────────────────────────────────┘
//! ```
//!
//! The worker hands each finished epoch to an unbounded channel and moves on: the dataflow
//! never waits on the hub, the server or a subscriber.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{channel, Sender};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use timely::dataflow::Scope;

use crate::dataflows::aggregate::{AggregateHandles, DEFAULT_BATCH_ROWS};
use crate::dataflows::durable::Durability;
use crate::dataflows::forecast::{build_streams, ForecastPolicy};
use crate::jobs::hub::{spawn_hub, HubShared};
use crate::jobs::workers::{run_workers, step_until_done};
use crate::jobs::{
    JobAddresses, JobControl, JobError, JobHandle, PreparedSource, Source, SourceSettings,
};
use crate::live::{LiveEpoch, LiveState, ZoneDirectory};
use crate::model::watch::{ModelHandle, ModelWatcher};
use crate::model::ModelFile;
use crate::operators::FeatureEmission;
use crate::progress::Progress;
use crate::resume::Resume;
use crate::runtime::Cluster;
use crate::schema::ColumnMap;
use crate::server::{
    AdminAccess, ConnectionLimits, Publisher, ServerHandle, ServerState, DEFAULT_HTTP_ADDR,
};
use crate::sinks::live::SinkLive;
use crate::sinks::rejects_log::RejectsLog;
use crate::sources::TripFeed;

/// Builds the live dataflow: [`build_streams`] with every output gathered on worker 0 and
/// handed to `on_epoch` one finished epoch at a time.
pub fn build<'scope>(
    scope: Scope<'scope, u64>,
    feed: Box<dyn TripFeed>,
    policy: &ForecastPolicy,
    model: Arc<ModelFile>,
    handle: Option<Arc<ModelHandle>>,
    resume: Option<Arc<Resume>>,
    on_epoch: impl FnMut(u64, LiveEpoch) + 'static,
) -> AggregateHandles {
    let emission = FeatureEmission::Corrected;
    let streams = build_streams(scope, feed, policy, model, handle, resume, emission);
    // ZoneForecast, (ZoneHour, HourlyStats), WatermarkState, Report -> LiveEpoch on worker 0
    streams.forecasts.sink_live_named(
        "SinkLive",
        streams.hourly,
        streams.states,
        streams.reports,
        on_epoch,
    );
    streams.handles
}

/// The live job: what `zonecast run` runs, without the CLI.
#[derive(Clone, Debug)]
pub struct LiveJob {
    /// Where trips come from (files, then a tail; see [`Source`]).
    pub source: Source,
    /// Column mapping for inputs with non-TLC names.
    pub columns: ColumnMap,
    /// Lateness, features, retention.
    pub policy: ForecastPolicy,
    /// The starting model.
    pub model: ModelFile,
    /// Watch this file and swap in new versions.
    pub watch_model: Option<PathBuf>,
    /// Rows per epoch (files) or at most per epoch (socket, channel).
    pub batch_rows: u64,
    /// Paced files and the generated stream close an epoch at most this long after its first
    /// row (sockets and channels have their own interval, set alike by the CLI).
    pub batch_interval: Duration,
    /// Threads and processes.
    pub cluster: Cluster,
    /// HTTP address (process 0); `None`: no server (read the state through the handle).
    pub http: Option<String>,
    /// Tokio threads for the server.
    pub http_threads: usize,
    /// Enables `POST /v1/admin/model` with this bearer token.
    pub admin_token: Option<String>,
    /// The HTTP server's connection cap and timeouts.
    pub http_limits: ConnectionLimits,
    /// Zone names and boroughs.
    pub zones: Arc<ZoneDirectory>,
    /// Stop when the inputs end (else keep serving until stopped).
    pub exit_at_end: bool,
    /// Append rejected and late rows here (`source,line,kind,reason`).
    pub rejects: Option<PathBuf>,
    /// Hours of forecasts and actuals the live state keeps behind the hour in progress.
    pub serving_retention_hours: i64,
    /// Show a progress bar on a terminal while files replay.
    pub show_progress: bool,
    /// Checkpoint into this folder and restart from it (`None`: a killed job loses its
    /// state). See [`crate::checkpoint`].
    pub state_dir: Option<PathBuf>,
    /// At most one checkpoint per this interval.
    pub checkpoint_interval: Duration,
}

/// What a finished live job leaves (process 0).
pub struct LiveOutcome {
    /// The server state at the end (the final forecasts, counters and evaluation), when the
    /// job served HTTP.
    pub state: Option<Arc<ServerState>>,
    /// The live state at the end (process 0).
    pub live: Option<Arc<RwLock<LiveState>>>,
    /// Wall time.
    pub elapsed: Duration,
}

impl LiveJob {
    /// Default HTTP threads.
    pub const DEFAULT_HTTP_THREADS: usize = 2;
    /// Default workers.
    pub const DEFAULT_WORKERS: usize = 2;
    /// Default time between checkpoints.
    pub const DEFAULT_CHECKPOINT_INTERVAL: Duration = Duration::from_secs(10);

    /// A job serving `model` with default settings, no inputs and no HTTP server.
    pub fn new(model: ModelFile) -> Self {
        LiveJob {
            source: Source::default(),
            columns: ColumnMap::default(),
            policy: ForecastPolicy::for_spec(model.spec.clone()),
            model,
            watch_model: None,
            batch_rows: DEFAULT_BATCH_ROWS,
            batch_interval: SourceSettings::DEFAULT_BATCH_INTERVAL,
            cluster: Cluster::threads(Self::DEFAULT_WORKERS),
            http: None,
            http_threads: Self::DEFAULT_HTTP_THREADS,
            admin_token: None,
            http_limits: ConnectionLimits::default(),
            zones: Arc::new(ZoneDirectory::default()),
            exit_at_end: false,
            rejects: None,
            serving_retention_hours: crate::live::state::DEFAULT_RETENTION_HOURS,
            show_progress: false,
            state_dir: None,
            checkpoint_interval: Self::DEFAULT_CHECKPOINT_INTERVAL,
        }
    }

    /// The same job serving HTTP on `addr` (`127.0.0.1:0` picks a free port).
    pub fn serving(mut self, addr: &str) -> Self {
        self.http = Some(addr.to_string());
        self
    }

    /// The same job serving HTTP on the default address (`127.0.0.1:8080`).
    pub fn serving_default(self) -> Self {
        self.serving(DEFAULT_HTTP_ADDR)
    }

    /// Runs until the inputs end (with `exit_at_end`) or the job is stopped.
    pub fn run(self) -> Result<LiveOutcome, JobError> {
        self.start()?.join()
    }

    /// Starts the job and returns at once.
    pub fn start(self) -> Result<JobHandle<LiveOutcome>, JobError> {
        self.start_with(Ok)
    }

    /// Starts the job, running `prepare` on the job's thread first (e.g. to train its model).
    pub fn start_with(
        self,
        prepare: impl FnOnce(LiveJob) -> Result<LiveJob, JobError> + Send + 'static,
    ) -> Result<JobHandle<LiveOutcome>, JobError> {
        let mut live = LiveState::new(self.zones.clone(), self.policy.watermark);
        live.set_retention_hours(self.serving_retention_hours);
        let live = Arc::new(RwLock::new(live));
        let hub = HubShared::new(live.clone(), Some(self.policy.retention_hours()));
        let control = JobControl::new();
        let models = ModelHandle::new();
        let job_hub = hub.clone();
        let (job_models, spec) = (models.clone(), self.policy.spec.clone());
        let handle = JobHandle::spawn("zonecast-live", control, Some(hub), move |control| {
            prepare(self)?.execute(control, job_hub, job_models)
        })?;
        Ok(handle.with_model_swaps(models, spec))
    }

    fn execute(
        mut self,
        control: Arc<JobControl>,
        hub: Arc<HubShared>,
        models: Arc<ModelHandle>,
    ) -> Result<LiveOutcome, JobError> {
        let leader = self.cluster.is_leader();
        let mut durability = match &self.state_dir {
            Some(dir) => Some(Durability::open(
                dir,
                &self.source,
                &self.policy,
                self.batch_rows,
                leader,
            )?),
            None => None,
        };
        if let Some(d) = &durability {
            self.model = d.model(self.model.clone())?;
            if let Some(c) = &d.checkpoint {
                hub.live()
                    .write()
                    .expect("live state")
                    .restore(c.live.clone());
                tracing::info!(epoch = c.resume.epoch, "restarting from the checkpoint");
            }
        }
        let startup_version = self.model.version.clone();
        models.track(&self.model);
        if let Some(d) = durability.as_ref().filter(|_| leader) {
            if let Some(pending) = d.pending_model()? {
                tracing::info!(version = %pending.version, "offering again the model swap that was pending at the checkpoint");
                models.offer(&pending);
            }
        }
        let started = Instant::now();
        drop(self.cluster.timely_config()?);
        let _watcher = self.watch_model.clone().map(|path| {
            ModelWatcher::start(
                path,
                self.policy.spec.clone(),
                models.clone(),
                Duration::from_millis(500),
            )
        });
        let settings = SourceSettings {
            columns: self.columns.clone(),
            batch_rows: self.batch_rows,
            cluster: self.cluster.clone(),
            heartbeat: (!self.exit_at_end).then_some(Duration::from_secs(1)),
            batch_interval: self.batch_interval,
        };
        let mut source = PreparedSource::open(&self.source, &settings, control.stop_flag())?;
        if let Some(d) = durability.as_mut() {
            d.prepare(&mut source, leader && self.source.has_logged_tail())?;
        }
        let resume = durability
            .as_ref()
            .and_then(|d| d.checkpoint.as_ref())
            .map(|c| Arc::new(c.resume.clone()));
        source.done_epoch = hub.done_epoch().clone();
        source.clock = Some(hub.input_clock().clone());
        // The hub and the server (process 0).
        let (sender, receiver) = channel::<(u64, LiveEpoch)>();
        let mut server = None;
        let mut hub_thread = None;
        let mut state = None;
        let rejects_len = durability
            .as_ref()
            .and_then(|d| d.checkpoint.as_ref())
            .and_then(|c| c.rejects_len);
        let rejects = match (&self.rejects, leader) {
            (Some(path), true) => Some(
                match rejects_len {
                    Some(len) => RejectsLog::resume(path, source.names.clone(), len),
                    None => RejectsLog::create(path, source.names.clone()),
                }
                .map_err(|source| JobError::Output {
                    path: path.clone(),
                    source,
                })?,
            ),
            _ => None,
        };
        if leader {
            let admin = self.admin_token.clone().map(|token| AdminAccess {
                token,
                handle: models.clone(),
                spec: self.policy.spec.clone(),
            });
            let shared = ServerState::sharing(
                hub.live().clone(),
                self.model.kind.name(),
                &self.model.version,
            )
            .with_model_handle(Some(models.clone()), admin)
            .with_input_done(source.done_epoch.clone())
            .with_input_clock(hub.input_clock().clone())
            .with_limits(self.http_limits)
            .with_rejects_log(rejects.as_ref().map(RejectsLog::health));
            let shared = match &durability {
                Some(d) => shared.with_checkpoints(
                    d.dir.path().display().to_string(),
                    d.status.clone(),
                    d.wal.clone(),
                    d.checkpoint.as_ref().map(|c| c.event_seq),
                ),
                None => shared,
            };
            if let Some(d) = &durability {
                hub.checkpoint_with(
                    d.checkpointer(
                        &self.policy,
                        self.checkpoint_interval,
                        &startup_version,
                        models.clone(),
                    ),
                    d.checkpoint.as_ref().map(|c| c.resume.epoch),
                );
            }
            let publisher = match &self.http {
                Some(addr) => {
                    server = Some(ServerHandle::start(
                        addr,
                        shared.clone(),
                        self.http_threads,
                    )?);
                    Some(Publisher::new(shared.clone()))
                }
                None => None,
            };
            hub_thread = Some(spawn_hub(hub.clone(), publisher, receiver));
            state = server.as_ref().map(|_| shared);
        } else {
            drop(receiver);
        }
        control.ready(JobAddresses {
            http: server.as_ref().map(|s| s.addr),
            socket: source.socket,
        });
        let aggregate_keys = state
            .as_ref()
            .map_or_else(|| Arc::new(AtomicU64::new(0)), |s| s.aggregate_keys.clone());
        let sink = Mutex::new(Some((sender, rejects)));
        let _progress = Progress::start(
            source.rows_read.clone(),
            source.total_rows,
            self.show_progress && leader,
        );
        let policy = self.policy.clone();
        let model = Arc::new(self.model);
        let source = Arc::new(source);
        let worker_control = control.clone();
        let results = run_workers(&self.cluster, &control, move |worker| {
            let index = worker.index();
            let feed = source.feed(index);
            let mut output: Option<EpochOutput> = match index {
                0 => sink.lock().expect("sink").take(),
                _ => None,
            };
            let on_epoch = move |epoch: u64, mut update: LiveEpoch| {
                if let Some((sender, rejects)) = output.as_mut() {
                    if let Some(log) = rejects.as_mut() {
                        log.write(&update.reports);
                        update.rejects_len = Some(log.written_bytes());
                    }
                    let _ = sender.send((epoch, update));
                }
            };
            let handles = worker.dataflow::<u64, _, _>(|scope| {
                build(
                    scope,
                    feed,
                    &policy,
                    model.clone(),
                    Some(models.clone()),
                    resume.clone(),
                    on_epoch,
                )
            });
            let mut last = 0usize;
            step_until_done(worker, &worker_control, || {
                let keys = handles.state.get().0;
                if keys != last {
                    if keys > last {
                        aggregate_keys.fetch_add((keys - last) as u64, Ordering::Relaxed);
                    } else {
                        aggregate_keys.fetch_sub((last - keys) as u64, Ordering::Relaxed);
                    }
                    last = keys;
                }
                if let Some(error) = handles.source_error.borrow().as_ref() {
                    worker_control.fail(error.to_string());
                }
            });
        })?;
        drop(results);
        if let Some(thread) = hub_thread {
            let _ = thread.join();
        }
        if let Some(server) = server {
            server.stop();
        }
        if let Some(message) = control.failure() {
            return Err(JobError::Failed(message));
        }
        Ok(LiveOutcome {
            state,
            live: leader.then(|| hub.live().clone()),
            elapsed: started.elapsed(),
        })
    }
}

/// Where worker 0 hands finished epochs (and rejected rows).
type EpochOutput = (Sender<(u64, LiveEpoch)>, Option<RejectsLog>);
