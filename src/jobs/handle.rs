//! Job handles: a started job in; its bound addresses, readiness, stop, the outcome (or the
//! error of any worker) and its live state and subscriptions out.
//!
//! Every job's `start()` returns at once with a [`JobHandle`]; the job runs on its own thread
//! (its workers on theirs). `run()` is `start()?.join()`. Dropping a handle stops its job and
//! waits for it.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::features::FeatureSpec;
use crate::jobs::hub::{HubShared, JobSnapshot};
use crate::jobs::subscription::Subscription;
use crate::jobs::JobError;
use crate::live::HistoryHour;
use crate::model::watch::ModelHandle;
use crate::model::{ModelError, ModelFile};

/// Where a running job can be reached.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct JobAddresses {
    /// The HTTP server (process 0, when the job serves).
    pub http: Option<SocketAddr>,
    /// The socket source (process 0, when the job listens).
    pub socket: Option<SocketAddr>,
}

#[derive(Clone, Debug, Default)]
enum Phase {
    #[default]
    Starting,
    Ready(JobAddresses),
    Finished(Option<String>),
}

/// What a job's threads and its handle share: stop, readiness, failure.
#[derive(Default)]
pub struct JobControl {
    stop: Arc<AtomicBool>,
    phase: Mutex<Phase>,
    changed: Condvar,
    failure: Mutex<Option<String>>,
    aborted: AtomicBool,
}

impl JobControl {
    /// A fresh control.
    pub fn new() -> Arc<Self> {
        Arc::default()
    }

    /// The stop flag (sources end at their next poll once it is set).
    pub fn stop_flag(&self) -> Arc<AtomicBool> {
        self.stop.clone()
    }

    /// Whether a stop was asked for.
    pub fn is_stopping(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// Asks the job to stop: inputs end, what was read is finished, then the job returns.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    /// The job listens: wakes `wait_ready`.
    pub fn ready(&self, addresses: JobAddresses) {
        let mut phase = self.phase.lock().expect("job phase");
        if matches!(*phase, Phase::Starting) {
            *phase = Phase::Ready(addresses);
        }
        self.changed.notify_all();
    }

    /// Records the first failure (a worker error or panic) and stops the job.
    pub fn fail(&self, message: String) {
        self.failure
            .lock()
            .expect("job failure")
            .get_or_insert(message);
        self.stop();
    }

    /// Like [`JobControl::fail`], and workers leave their loops at once (a panic: the
    /// dataflow cannot finish).
    pub fn abort(&self, message: String) {
        self.fail(message);
        self.aborted.store(true, Ordering::SeqCst);
    }

    /// Whether workers must leave their loops now.
    pub fn is_aborted(&self) -> bool {
        self.aborted.load(Ordering::SeqCst)
    }

    /// The first failure, if any.
    pub fn failure(&self) -> Option<String> {
        self.failure.lock().expect("job failure").clone()
    }

    fn finish(&self, error: Option<String>) {
        *self.phase.lock().expect("job phase") = Phase::Finished(error);
        self.changed.notify_all();
    }

    fn addresses(&self) -> JobAddresses {
        match &*self.phase.lock().expect("job phase") {
            Phase::Ready(addresses) => *addresses,
            _ => JobAddresses::default(),
        }
    }
}

/// A running job.
pub struct JobHandle<O: Send + 'static> {
    control: Arc<JobControl>,
    hub: Option<Arc<HubShared>>,
    models: Option<(Arc<ModelHandle>, FeatureSpec)>,
    thread: Option<JoinHandle<Result<O, JobError>>>,
}

impl<O: Send + 'static> std::fmt::Debug for JobHandle<O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobHandle")
            .field("finished", &self.is_finished())
            .finish()
    }
}

impl<O: Send + 'static> JobHandle<O> {
    /// Runs `body` on a new thread named `name`; `hub` is the job's live state, when it has
    /// one. The body reports readiness through `control`.
    pub fn spawn(
        name: &str,
        control: Arc<JobControl>,
        hub: Option<Arc<HubShared>>,
        body: impl FnOnce(Arc<JobControl>) -> Result<O, JobError> + Send + 'static,
    ) -> Result<Self, JobError> {
        let inner = control.clone();
        let thread = std::thread::Builder::new()
            .name(name.to_string())
            .spawn(move || {
                let result =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| body(inner.clone())))
                        .unwrap_or_else(|panic| Err(JobError::Panicked(panic_message(&panic))));
                let result = match (result, inner.failure()) {
                    (Ok(_), Some(message)) => Err(JobError::Failed(message)),
                    (result, _) => result,
                };
                inner.finish(result.as_ref().err().map(|e| e.to_string()));
                result
            })
            .map_err(|e| JobError::Failed(format!("cannot start a job thread: {e}")))?;
        Ok(JobHandle {
            control,
            hub,
            models: None,
            thread: Some(thread),
        })
    }

    /// Lets [`JobHandle::swap_model`] offer models through `handle` (they must compute `spec`).
    pub fn with_model_swaps(mut self, handle: Arc<ModelHandle>, spec: FeatureSpec) -> Self {
        self.models = Some((handle, spec));
        self
    }

    /// Swaps in `model` at the next epoch on every worker (live jobs). Fails if the job takes
    /// no models or the model computes other features than the job.
    pub fn swap_model(&self, model: &ModelFile) -> Result<(), ModelError> {
        let Some((handle, spec)) = &self.models else {
            return Err(ModelError::NoSwaps);
        };
        model.check_spec(spec)?;
        handle.offer(model);
        Ok(())
    }

    /// Waits until the job listens and reads (its addresses bound), up to `timeout`. Fails
    /// with the job's error if it ended first, or with [`JobError::NotReady`] on time-out.
    pub fn wait_ready(&self, timeout: Duration) -> Result<JobAddresses, JobError> {
        let deadline = Instant::now() + timeout;
        let mut phase = self.control.phase.lock().expect("job phase");
        loop {
            match &*phase {
                Phase::Ready(addresses) => return Ok(*addresses),
                Phase::Finished(Some(error)) => return Err(JobError::Failed(error.clone())),
                Phase::Finished(None) => return Err(JobError::EndedBeforeReady),
                Phase::Starting => {}
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(JobError::NotReady(timeout));
            }
            phase = self
                .control
                .changed
                .wait_timeout(phase, left)
                .expect("job phase")
                .0;
        }
    }

    /// The bound addresses (empty before the job is ready).
    pub fn addresses(&self) -> JobAddresses {
        self.control.addresses()
    }

    /// The HTTP server's address, once ready.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.addresses().http
    }

    /// The socket source's address, once ready.
    pub fn socket_addr(&self) -> Option<SocketAddr> {
        self.addresses().socket
    }

    /// Asks the job to stop (returns at once; `join` waits). Inputs end at their next poll,
    /// what was read is finished, then the job returns its outcome.
    pub fn stop(&self) {
        self.control.stop();
    }

    /// Whether the job has ended (`join` will not block).
    pub fn is_finished(&self) -> bool {
        matches!(
            *self.control.phase.lock().expect("job phase"),
            Phase::Finished(_)
        )
    }

    /// Waits for the job: its outcome, or the first error of any worker.
    pub fn join(mut self) -> Result<O, JobError> {
        self.join_thread()
    }

    fn join_thread(&mut self) -> Result<O, JobError> {
        let thread = self.thread.take().expect("joined once");
        thread
            .join()
            .unwrap_or_else(|panic| Err(JobError::Panicked(panic_message(&panic))))
    }

    /// A bounded subscription to the job's updates (per epoch), starting from its current
    /// state. `None` for jobs that publish no updates.
    pub fn subscribe(&self) -> Option<Subscription> {
        self.subscribe_with_capacity(DEFAULT_SUBSCRIPTION_CAPACITY)
    }

    /// [`JobHandle::subscribe`] with room for `capacity` queued updates.
    pub fn subscribe_with_capacity(&self, capacity: usize) -> Option<Subscription> {
        self.hub.as_ref().map(|hub| hub.subscribe(capacity))
    }

    /// The job's shared state (snapshots, history, subscriptions), which outlives the handle:
    /// keep it to read the final state after [`JobHandle::join`]. `None` for jobs that keep no
    /// live state.
    pub fn shared(&self) -> Option<Arc<HubShared>> {
        self.hub.clone()
    }

    /// The served state now (predictions, status, evaluation), without HTTP. `None` for jobs
    /// that keep no live state.
    pub fn snapshot(&self) -> Option<JobSnapshot> {
        self.hub.as_ref().map(|hub| hub.snapshot())
    }

    /// The last `hours` hours of `zone`: actual pickups beside the forecasts served.
    pub fn history(&self, zone: u16, hours: u32) -> Vec<HistoryHour> {
        self.hub
            .as_ref()
            .map_or_else(Vec::new, |hub| hub.history(zone, hours))
    }
}

impl<O: Send + 'static> Drop for JobHandle<O> {
    fn drop(&mut self) {
        if self.thread.is_some() {
            self.control.stop();
            let _ = self.join_thread();
        }
    }
}

/// Updates a subscription queues before it counts as lagging.
pub const DEFAULT_SUBSCRIPTION_CAPACITY: usize = 1024;

/// The text of a panic payload.
pub fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a worker panicked".to_string())
}
