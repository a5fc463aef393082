//! The HTTP server: a [`ServerState`] (published by the [`Publisher`]) in, the JSON API, Server-
//! Sent Events, Prometheus metrics, the OpenAPI document and the dashboard out, over warp.
//!
//! The server is a library: [`run`] takes a bound listener, the shared state and a shutdown
//! future, so tests serve on port 0 and binaries choose their own address. Only this module
//! knows HTTP and JSON. The dataflow never waits on it: the worker hands finished epochs to the
//! job's hub thread (`jobs::hub`) over an unbounded channel; the hub drives the publisher,
//! which renders pre-serialised snapshots and swaps them in atomically; handlers clone bytes
//! out of the current snapshot.
//!
//! - [`routes`] — URL -> handler wiring, request limits, JSON errors.
//! - [`handlers`] — one function per endpoint.
//! - [`api`] — the response types.
//! - [`snapshot`] — pre-serialised bodies per epoch.
//! - [`publisher`] — applies finished epochs and publishes snapshots and events.
//! - [`sse`] — `/v1/stream`.
//! - [`metrics`] — `/metrics`.

pub mod accept;
pub mod api;
pub mod handlers;
pub mod metrics;
pub mod publisher;
pub mod routes;
pub mod snapshot;
pub mod sse;

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use arc_swap::ArcSwap;
use tokio::sync::{broadcast, watch};

use crate::checkpoint::state_dir::SharedCheckpointStatus;
use crate::features::FeatureSpec;
use crate::live::LiveState;
use crate::model::watch::ModelHandle;
use crate::sinks::rejects_log::OutputHealth;
use crate::sources::input_clock::InputClock;
use crate::sources::wal::WalShared;

pub use accept::ConnectionLimits;
pub use publisher::{Publisher, EVALUATION_WINDOW_HOURS};
pub use snapshot::Snapshot;

/// Where servers listen unless told otherwise (loopback).
pub const DEFAULT_HTTP_ADDR: &str = "127.0.0.1:8080";

/// The OpenAPI 3 document served at `/openapi.json`.
pub const OPENAPI_JSON: &str = include_str!("assets/openapi.json");
/// The dashboard served at `/`.
pub const DASHBOARD_HTML: &str = include_str!("assets/dashboard.html");

/// One Server-Sent Event, pre-serialised.
#[derive(Clone, Debug)]
pub struct SseMessage {
    /// `forecast`, `status` or `resync`.
    pub kind: &'static str,
    /// Sequence number (forecast events).
    pub id: Option<u64>,
    /// The JSON data.
    pub data: String,
}

/// Who may swap models over HTTP.
pub struct AdminAccess {
    /// The bearer token.
    pub token: String,
    /// Where new models are offered.
    pub handle: Arc<ModelHandle>,
    /// The pipeline's features (new models must match).
    pub spec: FeatureSpec,
}

/// Everything the handlers share.
pub struct ServerState {
    /// The current snapshot.
    pub snapshot: ArcSwap<Snapshot>,
    /// The live state (for per-request queries such as history), shared with the job's hub.
    pub live: Arc<RwLock<LiveState>>,
    /// Forecast and status events.
    pub events: broadcast::Sender<Arc<SseMessage>>,
    /// The latest forecast events, replayed to a client that reconnects with `Last-Event-ID`.
    pub recent: std::sync::Mutex<std::collections::VecDeque<Arc<SseMessage>>>,
    /// Request counts and latencies.
    pub http: metrics::HttpMetrics,
    /// Model swaps over HTTP (only with a token).
    pub admin: Option<AdminAccess>,
    /// The hot-swap handle (for rejected counts).
    pub model_handle: Option<Arc<ModelHandle>>,
    /// The serving model's kind.
    pub model_kind: RwLock<String>,
    /// The first epoch after every input epoch (`u64::MAX` until the inputs end): the input is
    /// fully reflected once the published epoch reaches it.
    pub input_done_epoch: Arc<AtomicU64>,
    /// (zone, hour) keys the aggregates hold (all local workers).
    pub aggregate_keys: Arc<AtomicU64>,
    /// Connected stream clients.
    pub sse_clients: AtomicU64,
    /// Start, Unix milliseconds.
    pub started_ms: i64,
    /// The id before this start's first forecast event: the start time in microseconds, so a
    /// later start's ids are larger than any id of an earlier one.
    pub event_id_base: u64,
    /// The input's epochs read and not yet served (live jobs; `None`: nothing trails).
    pub input_clock: Option<Arc<InputClock>>,
    /// Connection cap and timeouts of the HTTP server.
    pub limits: ConnectionLimits,
    /// The health of the job's rejects log (`--rejects`), when it writes one.
    pub rejects_log: Option<Arc<OutputHealth>>,
    /// Checkpoint outcomes and the write-ahead log (`--state-dir`).
    pub checkpoints: Option<(String, SharedCheckpointStatus, Option<Arc<WalShared>>)>,
    closing: watch::Sender<bool>,
}

impl ServerState {
    /// A state for `live` (usually empty), serving a model of `model_kind` and `model_version`.
    pub fn new(live: LiveState, model_kind: &str, model_version: &str) -> Arc<Self> {
        Self::sharing(Arc::new(RwLock::new(live)), model_kind, model_version)
    }

    /// A state serving `live`, which others (the job's hub) hold and apply epochs to too.
    pub fn sharing(
        live: Arc<RwLock<LiveState>>,
        model_kind: &str,
        model_version: &str,
    ) -> Arc<Self> {
        let (events, _) = broadcast::channel(16 * 1024);
        let (closing, _) = watch::channel(false);
        let now = crate::time::now_ms();
        let snapshot = Snapshot {
            model_version: model_version.to_string(),
            ..Snapshot::default()
        };
        Arc::new(ServerState {
            snapshot: ArcSwap::from_pointee(snapshot),
            live,
            events,
            recent: Default::default(),
            http: metrics::HttpMetrics::default(),
            admin: None,
            model_handle: None,
            model_kind: RwLock::new(model_kind.to_string()),
            input_done_epoch: Arc::new(AtomicU64::new(u64::MAX)),
            aggregate_keys: Arc::new(AtomicU64::new(0)),
            sse_clients: AtomicU64::new(0),
            started_ms: now,
            event_id_base: now.max(0) as u64 * 1_000,
            input_clock: None,
            limits: ConnectionLimits::default(),
            rejects_log: None,
            checkpoints: None,
            closing,
        })
    }

    /// Builder-style: enable `POST /v1/admin/model` with `access` and report `handle`'s
    /// rejections (call before sharing the state).
    pub fn with_model_handle(
        mut self: Arc<Self>,
        handle: Option<Arc<ModelHandle>>,
        admin: Option<AdminAccess>,
    ) -> Arc<Self> {
        let state = Arc::get_mut(&mut self).expect("configure the state before sharing it");
        state.model_handle = handle;
        state.admin = admin;
        self
    }

    /// Builder-style: the input is finished once the published epoch reaches `done` (the
    /// job's source lowers it from `u64::MAX`); call before sharing the state.
    pub fn with_input_done(mut self: Arc<Self>, done: Arc<AtomicU64>) -> Arc<Self> {
        Arc::get_mut(&mut self)
            .expect("configure the state before sharing it")
            .input_done_epoch = done;
        self
    }

    /// Builder-style: report how far the served state trails the input that `clock` records;
    /// call before sharing the state.
    pub fn with_input_clock(mut self: Arc<Self>, clock: Arc<InputClock>) -> Arc<Self> {
        Arc::get_mut(&mut self)
            .expect("configure the state before sharing it")
            .input_clock = Some(clock);
        self
    }

    /// Builder-style: the server's connection cap and timeouts; call before sharing the state.
    pub fn with_limits(mut self: Arc<Self>, limits: ConnectionLimits) -> Arc<Self> {
        Arc::get_mut(&mut self)
            .expect("configure the state before sharing it")
            .limits = limits;
        self
    }

    /// Builder-style: report the health of the job's rejects log.
    pub fn with_rejects_log(mut self: Arc<Self>, health: Option<Arc<OutputHealth>>) -> Arc<Self> {
        Arc::get_mut(&mut self)
            .expect("configure the state before sharing it")
            .rejects_log = health;
        self
    }

    /// Builder-style: report checkpoints (and the log) of the state folder `dir`, and
    /// continue the event ids of a restored job after `event_id_base`.
    pub fn with_checkpoints(
        mut self: Arc<Self>,
        dir: String,
        status: SharedCheckpointStatus,
        wal: Option<Arc<WalShared>>,
        event_id_base: Option<u64>,
    ) -> Arc<Self> {
        let state = Arc::get_mut(&mut self).expect("configure the state before sharing it");
        state.checkpoints = Some((dir, status, wal));
        if let Some(base) = event_id_base {
            state.event_id_base = base;
        }
        self
    }

    /// Checkpoint outcomes for `/v1/status` and `/metrics`.
    pub fn checkpoint_status(&self) -> Option<api::CheckpointReport> {
        let (dir, status, wal) = self.checkpoints.as_ref()?;
        let s = status.lock().expect("checkpoint status").clone();
        let now = crate::time::now_ms();
        let wal_error = wal
            .as_ref()
            .and_then(|w| w.last_error.lock().expect("wal error").clone());
        Some(api::CheckpointReport {
            state_dir: dir.clone(),
            epoch: s.epoch,
            age_seconds: s.taken_at_ms.map(|t| (now - t) as f64 / 1000.0),
            bytes: s.bytes,
            duration_ms: s.duration.as_secs_f64() * 1000.0,
            written: s.written,
            failed: s.failed,
            failing: s.last_error.is_some() || wal_error.is_some(),
            last_error: s.last_error,
            wal_bytes: wal.as_ref().map_or(0, |w| w.bytes.load(Ordering::Relaxed)),
            wal_failures: wal
                .as_ref()
                .map_or(0, |w| w.failures.load(Ordering::Relaxed)),
            wal_last_error: wal_error,
        })
    }

    /// The rejects log's status for `/v1/status`.
    pub fn rejects_log_status(&self) -> Option<api::OutputStatus> {
        self.rejects_log.as_ref().map(|h| api::OutputStatus {
            path: h.path.display().to_string(),
            written: h.written(),
            lost: h.lost(),
            failing: h.failing(),
            last_error: h.last_error(),
        })
    }

    /// Seconds the oldest row read but not yet served has waited (0 when all are served).
    pub fn staleness_seconds(&self) -> f64 {
        self.input_clock
            .as_ref()
            .and_then(|c| c.staleness())
            .map_or(0.0, |d| d.as_secs_f64())
    }

    /// Event time (seconds) from the newest pickup served to the newest pickup read.
    pub fn event_time_lag_seconds(&self) -> Option<i64> {
        self.input_clock.as_ref()?.event_time_lag()
    }

    /// Ends every open event stream (so a graceful shutdown can finish).
    pub fn close_streams(&self) {
        self.closing.send_replace(true);
    }

    pub(crate) fn closing(&self) -> watch::Receiver<bool> {
        self.closing.subscribe()
    }
}

/// Serves the API on `listener` until `shutdown` resolves, then closes event streams and
/// waits for requests in flight.
pub async fn run(
    listener: tokio::net::TcpListener,
    state: Arc<ServerState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let closing = state.clone();
    let shutdown = async move {
        shutdown.await;
        closing.close_streams();
    };
    let limits = state.limits;
    accept::serve(listener, routes::routes(state), limits, shutdown).await;
}

/// Binds `addr` for [`run`] with `TCP_NODELAY` set on the listener (accepted connections
/// inherit it), so small responses and events leave at once instead of waiting out Nagle's
/// algorithm against the client's delayed acknowledgements (measured: 40 ms stalls).
/// Call inside a tokio runtime.
pub fn listen(addr: &str) -> std::io::Result<tokio::net::TcpListener> {
    use std::net::ToSocketAddrs;
    let addr = addr.to_socket_addrs()?.next().ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "the address resolves to nothing",
        )
    })?;
    let socket = match addr {
        std::net::SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        std::net::SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.set_nodelay(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

/// Errors starting the server.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The address could not be bound.
    #[error("cannot serve HTTP on {addr}: {source}; pick a free port for the HTTP address (port 0 picks one)")]
    Bind {
        /// The address.
        addr: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The async runtime could not start.
    #[error("cannot start the HTTP runtime: {0}")]
    Runtime(std::io::Error),
}

/// A server running on its own threads (a tokio runtime), stopped on drop.
pub struct ServerHandle {
    /// The bound address.
    pub addr: std::net::SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ServerHandle {
    /// Binds `addr` (e.g. `127.0.0.1:8080`, port 0 picks one) and serves `state` on
    /// `threads` runtime threads.
    pub fn start(addr: &str, state: Arc<ServerState>, threads: usize) -> Result<Self, ServerError> {
        let bind = |source| ServerError::Bind {
            addr: addr.to_string(),
            source,
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .thread_name("zonecast-http")
            .enable_all()
            .build()
            .map_err(ServerError::Runtime)?;
        let listener = {
            let _context = runtime.enter();
            listen(addr).map_err(bind)?
        };
        let local = listener.local_addr().map_err(bind)?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("zonecast-server".into())
            .spawn(move || {
                runtime.block_on(async move {
                    run(listener, state, async move {
                        let _ = stopped.await;
                    })
                    .await;
                });
            })
            .map_err(ServerError::Runtime)?;
        tracing::info!(%local, "HTTP server listening");
        if local.ip().is_unspecified() {
            tracing::warn!(
                %local,
                "the HTTP server listens on every network interface: anyone who can reach this machine can read the forecasts (bind 127.0.0.1 to keep it local)"
            );
        }
        Ok(ServerHandle {
            addr: local,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// Stops serving and waits for the server thread.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.shutdown();
    }
}
