//! The live dataflow and job (`zonecast run`): trips from files, a socket or a generated
//! stream in; forecasts per zone served over HTTP (with events, metrics and a dashboard) out.
//!
//! ```text
//! LiveFeed (files, then socket/generated tail, then heartbeats)
//!   └─► forecast::build_streams ─(ZoneForecast, epoch, ±1)─────────┐
//!            ├─((ZoneHour, HourlyStats), epoch, ±1)───────────────┤
//!            ├─WatermarkState (epoch + 1, every worker)────────────┼─► sink_live (worker 0) ─LiveEpoch─► channel ─► Publisher thread ─Snapshot─► HTTP server (tokio)
//!            └─Report────────────────────────────────────────────┘
//! ```
//!
//! The worker hands each finished epoch to an unbounded channel and moves on: the dataflow
//! never waits on the publisher or the server.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{channel, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use timely::dataflow::Scope;

use crate::dataflows::aggregate::{AggregateHandles, JobError, DEFAULT_BATCH_ROWS};
use crate::dataflows::forecast::{build_streams, ForecastPolicy};
use crate::generator::{GeneratorConfig, TripGenerator};
use crate::live::{LiveEpoch, LiveState, ZoneDirectory};
use crate::model::watch::{ModelHandle, ModelWatcher};
use crate::model::ModelFile;
use crate::progress::Progress;
use crate::report::{late_reason, rejected_reason, rejects_line, Report, REJECTS_HEADER};
use crate::runtime::Cluster;
use crate::schema::ColumnMap;
use crate::server::{AdminAccess, Publisher, ServerHandle, ServerState};
use crate::sinks::live::SinkLive;
use crate::sources::file_feed::FileFeed;
use crate::sources::generated::GeneratedFeed;
use crate::sources::live_feed::LiveFeed;
use crate::sources::pacing::Pacer;
use crate::sources::plan::{ReplayOrder, ReplayPlan};
use crate::sources::socket::{listen, SocketOptions, SourceNames};
use crate::sources::TripFeed;

/// Builds the live dataflow: [`build_streams`] with every output gathered on worker 0 and
/// handed to `on_epoch` one finished epoch at a time.
pub fn build<'scope>(
    scope: Scope<'scope, u64>,
    feed: Box<dyn TripFeed>,
    policy: &ForecastPolicy,
    model: Arc<ModelFile>,
    handle: Option<Arc<ModelHandle>>,
    on_epoch: impl FnMut(u64, LiveEpoch) + 'static,
) -> AggregateHandles {
    let streams = build_streams(scope, feed, policy, model, handle);
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

/// A generated, never-ending input (the demo).
#[derive(Clone, Debug)]
pub struct GeneratedInput {
    /// What to generate (start, rate through `trips`/`days`, seed).
    pub config: GeneratorConfig,
    /// Trips before this event time are backfilled at once; later ones are paced.
    pub live_from: i64,
    /// Pace (x event time).
    pub speed: f64,
}

impl GeneratedInput {
    /// Days a generated stream covers (ten years: never-ending for demos and benchmarks).
    pub const STREAM_DAYS: u32 = 3_650;

    /// `trips_per_day` generated trips with `seed` from `start` (naive seconds): the first
    /// `history_days` backfilled at once, the rest paced at `speed`.
    pub fn backfill_then_live(
        seed: u64,
        start: i64,
        history_days: u32,
        trips_per_day: u64,
        speed: f64,
    ) -> Self {
        let days = history_days + Self::STREAM_DAYS;
        let config = GeneratorConfig {
            trips: trips_per_day * days as u64,
            days,
            seed,
            start,
            ..GeneratorConfig::default()
        };
        GeneratedInput {
            config,
            live_from: start + history_days as i64 * 86_400,
            speed,
        }
    }
}

/// Where the live job's trips come from: files first, then at most one tail.
#[derive(Clone, Debug, Default)]
pub struct LiveInputs {
    /// Files replayed first.
    pub files: Vec<PathBuf>,
    /// File order.
    pub order: ReplayOrder,
    /// Pace for the files (`None`: as fast as possible).
    pub speed: Option<f64>,
    /// Then a socket listener (`host:port`, options).
    pub socket: Option<(String, SocketOptions)>,
    /// Or a generated stream.
    pub generated: Option<GeneratedInput>,
}

/// Where the job can be reached, once it runs.
#[derive(Clone, Debug)]
pub struct LiveAddresses {
    /// The HTTP server (process 0 only).
    pub http: Option<SocketAddr>,
    /// The socket source.
    pub socket: Option<SocketAddr>,
}

/// Called with the job's addresses once it listens.
pub type OnReady = Box<dyn Fn(&LiveAddresses) + Send + Sync>;

/// Where worker 0 hands finished epochs (and rejected rows).
type EpochOutput = (Sender<(u64, LiveEpoch)>, Option<RejectsLog>);

/// The live job: what `zonecast run` runs, without the CLI.
pub struct LiveJob {
    /// Inputs.
    pub inputs: LiveInputs,
    /// Column mapping for inputs with non-TLC names.
    pub columns: ColumnMap,
    /// Lateness, features, retention.
    pub policy: ForecastPolicy,
    /// The starting model.
    pub model: ModelFile,
    /// Watch this file and swap in new versions.
    pub watch_model: Option<PathBuf>,
    /// Rows per epoch (files) or at most per epoch (socket).
    pub batch_rows: u64,
    /// Threads and processes.
    pub cluster: Cluster,
    /// HTTP address (process 0).
    pub http: String,
    /// Tokio threads for the server.
    pub http_threads: usize,
    /// Enables `POST /v1/admin/model` with this bearer token.
    pub admin_token: Option<String>,
    /// Zone names and boroughs.
    pub zones: Arc<ZoneDirectory>,
    /// Stop when the inputs end (else keep serving until `shutdown`).
    pub exit_at_end: bool,
    /// Append rejected and late rows here (`source,line,kind,reason`).
    pub rejects: Option<PathBuf>,
    /// Hours of forecasts and actuals the server keeps behind the hour in progress.
    pub serving_retention_hours: i64,
    /// Set to stop (signal handlers set it).
    pub shutdown: Arc<AtomicBool>,
    /// Show a progress bar on a terminal while files replay.
    pub show_progress: bool,
    /// Called once the server and sources listen.
    pub on_ready: Option<OnReady>,
}

/// What a finished live job leaves (process 0).
pub struct LiveOutcome {
    /// The server state at the end (the final forecasts, counters and evaluation).
    pub state: Option<Arc<ServerState>>,
    /// Wall time.
    pub elapsed: Duration,
}

impl LiveJob {
    /// A job serving `model` on `http` with default settings and no inputs.
    pub fn new(model: ModelFile, http: &str) -> Self {
        LiveJob {
            inputs: LiveInputs::default(),
            columns: ColumnMap::default(),
            policy: ForecastPolicy {
                watermark: Default::default(),
                spec: model.spec.clone(),
                retention_hours: 48,
            },
            model,
            watch_model: None,
            batch_rows: DEFAULT_BATCH_ROWS,
            cluster: Cluster::default(),
            http: http.to_string(),
            http_threads: 2,
            admin_token: None,
            zones: Arc::new(ZoneDirectory::default()),
            exit_at_end: false,
            rejects: None,
            serving_retention_hours: crate::live::state::DEFAULT_RETENTION_HOURS,
            shutdown: Arc::new(AtomicBool::new(false)),
            show_progress: false,
            on_ready: None,
        }
    }
}

/// Appends rejected and late rows as they come.
struct RejectsLog {
    out: BufWriter<File>,
    names: SourceNames,
}

impl RejectsLog {
    fn create(path: &PathBuf, names: SourceNames) -> Result<Self, JobError> {
        let error = |source| JobError::Output {
            path: path.clone(),
            source,
        };
        let mut out = BufWriter::new(File::create(path).map_err(error)?);
        writeln!(out, "{REJECTS_HEADER}").map_err(error)?;
        Ok(RejectsLog { out, names })
    }

    fn write(&mut self, reports: &[Report]) {
        let names = self.names.lock().expect("names").clone();
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
            let _ = writeln!(self.out, "{}", rejects_line(&names, pos, kind, &reason));
        }
        let _ = self.out.flush();
    }
}

type FeedMaker = Box<dyn Fn(usize) -> Box<dyn TripFeed> + Send + Sync>;

impl LiveJob {
    /// Runs until the inputs end (with `exit_at_end`) or `shutdown` is set.
    pub fn run(self) -> Result<LiveOutcome, JobError> {
        let started = Instant::now();
        drop(self.cluster.timely_config()?);
        let leader = self.cluster.is_leader();
        let peers = self.cluster.peers();
        let names: SourceNames = Arc::new(Mutex::new(Vec::new()));
        let progress_rows = Arc::new(AtomicU64::new(0));
        let handle = ModelHandle::new();
        let _watcher = self.watch_model.clone().map(|path| {
            ModelWatcher::start(
                path,
                self.policy.spec.clone(),
                handle.clone(),
                Duration::from_millis(500),
            )
        });
        // Files: every worker replays its share.
        let plan = match self.inputs.files.is_empty() {
            true => None,
            false => {
                let plan = ReplayPlan::new(
                    &self.inputs.files,
                    &self.columns,
                    self.batch_rows,
                    self.inputs.order,
                )?;
                names.lock().expect("names").extend(plan.source_names());
                Some(Arc::new(plan))
            }
        };
        let file_epochs = plan.as_ref().map_or(0, |p| p.epoch_count());
        let total_rows = plan.as_ref().map(|p| p.positions);
        // The tail: on global worker 0 only.
        let mut socket_addr = None;
        let tail: Option<Box<dyn TripFeed + Send>> =
            match (&self.inputs.socket, &self.inputs.generated) {
                (Some((addr, options)), _) if leader => {
                    let mut options = options.clone();
                    options.batch_rows = self.batch_rows;
                    options.shutdown = self.shutdown.clone();
                    let (feed, local) =
                        listen(addr, options, names.clone(), progress_rows.clone())?;
                    socket_addr = Some(local);
                    Some(Box::new(feed))
                }
                (None, Some(generated)) if leader => {
                    let source = {
                        let mut names = names.lock().expect("names");
                        names.push("generated".to_string());
                        names.len() as u32 - 1
                    };
                    Some(Box::new(GeneratedFeed::new(
                        TripGenerator::new(generated.config.clone()),
                        generated.live_from,
                        generated.speed,
                        source,
                        self.batch_rows,
                        progress_rows.clone(),
                    )))
                }
                _ => None,
            };
        let tail = Mutex::new(tail);
        // The server (process 0).
        let (sender, receiver) = channel::<(u64, LiveEpoch)>();
        let mut server = None;
        let mut publisher = None;
        let mut state = None;
        if leader {
            let mut live = LiveState::new(self.zones.clone(), self.policy.watermark);
            live.set_retention_hours(self.serving_retention_hours);
            let admin = self.admin_token.clone().map(|token| AdminAccess {
                token,
                handle: handle.clone(),
                spec: self.policy.spec.clone(),
            });
            let shared = ServerState::new(live, self.model.kind.name(), &self.model.version)
                .with_model_handle(Some(handle.clone()), admin);
            publisher = Some(Publisher::new(shared.clone()).spawn(receiver));
            let running = ServerHandle::start(&self.http, shared.clone(), self.http_threads)?;
            let addresses = LiveAddresses {
                http: Some(running.addr),
                socket: socket_addr,
            };
            if let Some(callback) = &self.on_ready {
                callback(&addresses);
            }
            server = Some(running);
            state = Some(shared);
        } else {
            drop(receiver);
        }
        let done_epoch = state.as_ref().map_or_else(
            || Arc::new(AtomicU64::new(u64::MAX)),
            |s| s.input_done_epoch.clone(),
        );
        let aggregate_keys = state
            .as_ref()
            .map_or_else(|| Arc::new(AtomicU64::new(0)), |s| s.aggregate_keys.clone());
        let heartbeat = (!self.exit_at_end).then_some(Duration::from_secs(1));
        let pacer = self.inputs.speed.map(Pacer::new);
        let shutdown = self.shutdown.clone();
        let rows = progress_rows.clone();
        let make_feed: FeedMaker = Box::new(move |index: usize| -> Box<dyn TripFeed> {
            let files = plan.as_ref().map(|plan| {
                Box::new(FileFeed::new(
                    plan.clone(),
                    index,
                    peers,
                    pacer.clone(),
                    rows.clone(),
                )) as Box<dyn TripFeed>
            });
            let (tail, heartbeat, finished) = match index {
                0 => (
                    tail.lock()
                        .expect("tail")
                        .take()
                        .map(|t| t as Box<dyn TripFeed>),
                    heartbeat,
                    done_epoch.clone(),
                ),
                _ => (None, None, Arc::new(AtomicU64::new(u64::MAX))),
            };
            Box::new(LiveFeed::new(
                files,
                file_epochs,
                tail,
                heartbeat,
                shutdown.clone(),
                finished,
            ))
        });
        let rejects = match (&self.rejects, leader) {
            (Some(path), true) => Some(RejectsLog::create(path, names.clone())?),
            _ => None,
        };
        let sink = Mutex::new(Some((sender, rejects)));
        let _progress = Progress::start(progress_rows, total_rows, self.show_progress && leader);
        let policy = self.policy.clone();
        let model = Arc::new(self.model);
        let results = self.cluster.execute(move |worker| {
            let index = worker.index();
            let feed = make_feed(index);
            let mut output: Option<EpochOutput> = if index == 0 {
                sink.lock().expect("sink").take()
            } else {
                None
            };
            let on_epoch = move |epoch: u64, update: LiveEpoch| {
                if let Some((sender, rejects)) = output.as_mut() {
                    if let Some(log) = rejects.as_mut() {
                        log.write(&update.reports);
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
                    Some(handle.clone()),
                    on_epoch,
                )
            });
            let mut last = 0usize;
            while worker.step_or_park(Some(Duration::from_millis(2))) {
                let keys = handles.state.get().0;
                if keys != last {
                    if keys > last {
                        aggregate_keys.fetch_add((keys - last) as u64, Ordering::Relaxed);
                    } else {
                        aggregate_keys.fetch_sub((last - keys) as u64, Ordering::Relaxed);
                    }
                    last = keys;
                }
            }
            let error = handles
                .source_error
                .borrow_mut()
                .take()
                .map(|e| e.to_string());
            error
        })?;
        if let Some(publisher) = publisher {
            let _ = publisher.join();
        }
        if let Some(server) = server {
            server.stop();
        }
        if let Some(message) = results.into_iter().flatten().next() {
            return Err(JobError::Failed(message));
        }
        Ok(LiveOutcome {
            state,
            elapsed: started.elapsed(),
        })
    }
}
