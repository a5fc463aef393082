//! The serve job (`zonecast serve`): a prediction database written by batch runs in; the same
//! HTTP API and live state as the live job out — the latest complete run's forecasts, reloaded
//! when a newer run completes.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use crate::jobs::hub::HubShared;
use crate::jobs::{JobAddresses, JobControl, JobError, JobHandle};
use crate::live::ZoneDirectory;
use crate::server::{Publisher, ServerHandle, ServerState, DEFAULT_HTTP_ADDR};
use crate::store::Store;
use crate::watermark::WatermarkPolicy;

/// Serving a prediction database: what `zonecast serve` runs, without the CLI.
#[derive(Clone, Debug)]
pub struct ServeJob {
    /// The SQLite database written by batch runs.
    pub db: PathBuf,
    /// HTTP address (`None`: no server; read the state through the handle).
    pub http: Option<String>,
    /// Tokio threads for the server.
    pub http_threads: usize,
    /// Zone names and boroughs.
    pub zones: Arc<ZoneDirectory>,
    /// Check for a newly completed run this often (at least 100 ms).
    pub reload_every: Duration,
}

/// What a finished serve job leaves.
#[derive(Debug)]
pub struct ServeOutcome {
    /// The run served last.
    pub run: Option<i64>,
    /// Wall time.
    pub elapsed: Duration,
}

impl ServeJob {
    /// Default reload interval.
    pub const DEFAULT_RELOAD: Duration = Duration::from_secs(2);

    /// Serving `db` on the default address.
    pub fn new(db: impl Into<PathBuf>) -> Self {
        ServeJob {
            db: db.into(),
            http: Some(DEFAULT_HTTP_ADDR.to_string()),
            http_threads: 2,
            zones: Arc::new(ZoneDirectory::default()),
            reload_every: Self::DEFAULT_RELOAD,
        }
    }

    /// Runs until stopped.
    pub fn run(self) -> Result<ServeOutcome, JobError> {
        self.start()?.join()
    }

    /// Opens the database and serves it; returns at once. A missing, corrupt or foreign
    /// database fails the job (`wait_ready` and `join` return the error).
    pub fn start(self) -> Result<JobHandle<ServeOutcome>, JobError> {
        let policy = WatermarkPolicy::default();
        let live = Arc::new(RwLock::new(crate::live::LiveState::new(
            self.zones.clone(),
            policy,
        )));
        let hub = HubShared::new(live.clone(), None);
        let control = JobControl::new();
        JobHandle::spawn("zonecast-serve", control, Some(hub), move |control| {
            self.execute(&control, live, policy)
        })
    }

    fn execute(
        self,
        control: &JobControl,
        live: Arc<RwLock<crate::live::LiveState>>,
        policy: WatermarkPolicy,
    ) -> Result<ServeOutcome, JobError> {
        let started = Instant::now();
        let store = Store::open_read(&self.db)?;
        let mut run = store.latest_complete_run()?;
        let (state, version, kind) = store.live_state(self.zones.clone(), policy)?;
        *live.write().expect("live state") = state;
        let shared = ServerState::sharing(live.clone(), &kind, &version);
        shared
            .input_done_epoch
            .store(0, std::sync::atomic::Ordering::SeqCst);
        let mut publisher = Publisher::new(shared.clone());
        let server = match &self.http {
            Some(addr) => Some(ServerHandle::start(
                addr,
                shared.clone(),
                self.http_threads,
            )?),
            None => None,
        };
        control.ready(JobAddresses {
            http: server.as_ref().map(|s| s.addr),
            socket: None,
        });
        let every = self.reload_every.max(Duration::from_millis(100));
        let mut checked = Instant::now();
        while !control.is_stopping() {
            std::thread::sleep(Duration::from_millis(50).min(every));
            if checked.elapsed() < every {
                continue;
            }
            checked = Instant::now();
            let latest = store.latest_complete_run()?;
            if latest != run {
                run = latest;
                let (state, version, kind) = store.live_state(self.zones.clone(), policy)?;
                tracing::info!(?run, %version, "a newer run completed; reloading");
                publisher.replace(state, &version, &kind);
            } else {
                // Keeps the status (uptime) and its stream events current.
                publisher.publish();
            }
        }
        if let Some(server) = server {
            server.stop();
        }
        Ok(ServeOutcome {
            run,
            elapsed: started.elapsed(),
        })
    }
}
