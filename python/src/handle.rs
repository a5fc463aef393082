//! Running jobs from Python: an engine [`JobHandle`] in, the `Run` object out — readiness,
//! addresses, the served state (predictions, status, evaluation, history), per-epoch events,
//! pushed rows, model swaps, stop and join. Every wait releases the GIL and answers Ctrl-C.
//!
//! A Python model's exception is kept by the model (see `external.rs`); when the job fails,
//! `join` re-raises that exception itself, same type and traceback.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pyo3::prelude::*;
use serde_json::{json, Value as Json};
use zonecast::dataflows::live::LiveOutcome;
use zonecast::dataflows::serve::ServeOutcome;
use zonecast::jobs::hub::HubShared;
use zonecast::jobs::{JobAddresses, JobError, JobHandle, JobSnapshot, RecvError, Subscription};
use zonecast::model::{ModelError, ModelFile};
use zonecast::server::api::{HistoryHourBody, Prediction};
use zonecast::sources::channel::TripSender;

use crate::errors;
use crate::external::Failure;
use crate::json::{evaluation_json, status_json, update_json};
use crate::trips::TripBatch;
use crate::wait::{until, STEP};

/// Waits (GIL released, Ctrl-C checked) for a job to end and returns its outcome. On Ctrl-C
/// the job is stopped and joined before `KeyboardInterrupt` propagates.
pub fn finish<O: Send + 'static>(py: Python<'_>, handle: JobHandle<O>) -> PyResult<O> {
    if let Err(interrupt) = until(py, || wait_finished(&handle, STEP)) {
        handle.stop();
        let _ = py.detach(|| handle.join());
        return Err(interrupt);
    }
    py.detach(|| handle.join()).map_err(errors::job)
}

fn wait_finished<O: Send + 'static>(handle: &JobHandle<O>, step: Duration) -> Option<()> {
    let deadline = Instant::now() + step;
    while Instant::now() < deadline {
        if handle.is_finished() {
            return Some(());
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    handle.is_finished().then_some(())
}

/// What a finished job reports to Python (as JSON).
pub trait Summary {
    /// The summary.
    fn summary(&self) -> Json;
}

impl Summary for LiveOutcome {
    fn summary(&self) -> Json {
        json!({ "elapsed_s": self.elapsed.as_secs_f64() })
    }
}

impl Summary for ServeOutcome {
    fn summary(&self) -> Json {
        json!({ "elapsed_s": self.elapsed.as_secs_f64(), "run_id": self.run })
    }
}

/// A job handle of any outcome type.
trait AnyHandle: Send + Sync {
    fn wait_ready(&self, timeout: Duration) -> Result<JobAddresses, JobError>;
    fn stop(&self);
    fn is_finished(&self) -> bool;
    fn swap_model(&self, model: &ModelFile) -> Result<(), ModelError>;
    fn join(self: Box<Self>) -> Result<Json, JobError>;
}

impl<O: Summary + Send + 'static> AnyHandle for JobHandle<O>
where
    JobHandle<O>: Sync,
{
    fn wait_ready(&self, timeout: Duration) -> Result<JobAddresses, JobError> {
        JobHandle::wait_ready(self, timeout)
    }
    fn stop(&self) {
        JobHandle::stop(self)
    }
    fn is_finished(&self) -> bool {
        JobHandle::is_finished(self)
    }
    fn swap_model(&self, model: &ModelFile) -> Result<(), ModelError> {
        JobHandle::swap_model(self, model)
    }
    fn join(self: Box<Self>) -> Result<Json, JobError> {
        (*self).join().map(|o| o.summary())
    }
}

/// A started job (`zonecast.LiveRun` and `zonecast.ServeRun` wrap it).
#[pyclass(module = "zonecast._zonecast", frozen)]
pub struct Run {
    handle: Mutex<Option<Box<dyn AnyHandle>>>,
    /// The job's state; outlives the handle, so the final state stays readable after `join`.
    shared: Option<Arc<HubShared>>,
    outcome: Mutex<Option<Result<Json, String>>>,
    sender: Option<TripSender>,
    failures: Mutex<Vec<Failure>>,
    models: Mutex<Vec<zonecast::model::external::ExternalModel>>,
    subscription: Mutex<Option<Subscription>>,
}

impl Run {
    /// Wraps a started job; `sender` feeds its channel source, `failure` is the starting
    /// Python model's error slot.
    pub fn new<O: Summary + Send + 'static>(
        handle: JobHandle<O>,
        sender: Option<TripSender>,
        model: Option<(zonecast::model::external::ExternalModel, Failure)>,
    ) -> Self
    where
        JobHandle<O>: Sync,
    {
        let (models, failures) = model.map_or((vec![], vec![]), |(m, f)| (vec![m], vec![f]));
        Run {
            shared: handle.shared(),
            handle: Mutex::new(Some(Box::new(handle))),
            outcome: Mutex::new(None),
            sender,
            failures: Mutex::new(failures),
            models: Mutex::new(models),
            subscription: Mutex::new(None),
        }
    }

    fn snapshot(&self) -> Option<JobSnapshot> {
        self.shared.as_ref().map(|s| s.snapshot())
    }

    fn with<T>(&self, f: impl FnOnce(&dyn AnyHandle) -> T) -> Option<T> {
        let guard = self.handle.lock().expect("run handle");
        guard.as_deref().map(f)
    }

    /// The Python exception a model raised, if any.
    fn model_exception(&self, py: Python<'_>) -> Option<PyErr> {
        let failures = self.failures.lock().expect("failures").clone();
        failures.iter().find_map(|f| f.take(py))
    }

    fn finished_error(&self, py: Python<'_>, message: String) -> PyErr {
        self.model_exception(py)
            .unwrap_or_else(|| errors::JobError::new_err(message))
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        let handle = self.handle.get_mut().expect("run handle").take();
        if let Some(handle) = handle {
            handle.stop();
            // Workers may need the GIL (a Python model) to finish: wait without it.
            Python::attach(|py| py.detach(|| drop(handle)));
        }
    }
}

#[pymethods]
impl Run {
    /// Waits until the job serves (or fails); returns `(http, socket)` addresses.
    fn wait_ready(
        &self,
        py: Python<'_>,
        timeout: f64,
    ) -> PyResult<(Option<String>, Option<String>)> {
        let deadline = Instant::now() + Duration::from_secs_f64(timeout.max(0.0));
        let result = until(py, || {
            let result = self.with(|h| h.wait_ready(STEP))?;
            match result {
                Err(JobError::NotReady(_)) if Instant::now() < deadline => None,
                Err(JobError::NotReady(_)) => Some(Err(JobError::NotReady(
                    Duration::from_secs_f64(timeout.max(0.0)),
                ))),
                other => Some(other),
            }
        });
        match result {
            Ok(Ok(a)) => Ok((
                a.http.map(|a| a.to_string()),
                a.socket.map(|a| a.to_string()),
            )),
            Ok(Err(err)) => Err(self.model_exception(py).unwrap_or_else(|| errors::job(err))),
            Err(interrupt) => Err(interrupt),
        }
    }

    /// Asks the job to stop (inputs end; what was read is finished).
    fn stop(&self, py: Python<'_>) {
        py.detach(|| self.with(|h| h.stop()));
    }

    /// True once the job has ended.
    fn is_finished(&self, py: Python<'_>) -> bool {
        py.detach(|| self.with(|h| h.is_finished()).unwrap_or(true))
    }

    /// Waits for the job to end; returns its summary as JSON or raises its error (a Python
    /// model's own exception first). Ctrl-C stops the job, then raises `KeyboardInterrupt`.
    fn join(&self, py: Python<'_>) -> PyResult<String> {
        if let Some(done) = self.outcome.lock().expect("outcome").clone() {
            return done
                .map(|j| j.to_string())
                .map_err(|m| self.finished_error(py, m));
        }
        let waited = until(py, || {
            let finished = self.with(|h| h.is_finished()).unwrap_or(true);
            if finished {
                Some(())
            } else {
                std::thread::sleep(Duration::from_millis(5));
                None
            }
        });
        if let Err(interrupt) = waited {
            self.stop(py);
            let _ = py.detach(|| self.take_outcome());
            return Err(interrupt);
        }
        let done = py.detach(|| self.take_outcome());
        done.map(|j| j.to_string())
            .map_err(|m| self.finished_error(py, m))
    }

    /// The current prediction of every zone, as the JSON list of `/v1/predictions`.
    fn predictions_json(&self, py: Python<'_>) -> String {
        let snapshot = py.detach(|| self.snapshot());
        let list: Vec<Prediction> = snapshot
            .map(|s| s.predictions.into_iter().map(Prediction::of).collect())
            .unwrap_or_default();
        serde_json::to_string(&list).expect("JSON")
    }

    /// Counters, epoch and watermark (and Python model errors) as JSON.
    fn status_json(&self, py: Python<'_>) -> String {
        let snapshot = py.detach(|| self.snapshot());
        let mut status = snapshot
            .map(|s| status_json(&s.status))
            .unwrap_or_else(|| json!({}));
        let models = self.models.lock().expect("models");
        if let Some(m) = models.last() {
            status["model_errors"] = json!(models.iter().map(|m| m.errors()).sum::<u64>());
            status["model_name"] = json!(m.name());
        }
        status.to_string()
    }

    /// The online evaluation, as the JSON of `/v1/evaluation`.
    fn evaluation_json(&self, py: Python<'_>) -> String {
        let snapshot = py.detach(|| self.snapshot());
        snapshot.map_or_else(|| "{}".into(), |s| evaluation_json(&s).to_string())
    }

    /// A zone's last `hours` hours (actuals and forecasts), as JSON.
    fn history_json(&self, py: Python<'_>, zone: u16, hours: u32) -> String {
        let hours = py.detach(|| {
            self.shared
                .as_ref()
                .map(|s| s.history(zone, hours))
                .unwrap_or_default()
        });
        let body: Vec<HistoryHourBody> = hours.iter().map(HistoryHourBody::from).collect();
        serde_json::to_string(&body).expect("JSON")
    }

    /// The next update (JSON, see `update_json`), or `None` when nothing arrived within
    /// `timeout` seconds or the job has ended and everything was received.
    fn next_update(&self, py: Python<'_>, timeout: f64) -> PyResult<Option<String>> {
        let deadline = Instant::now() + Duration::from_secs_f64(timeout.max(0.0));
        until(py, || {
            let mut sub = self.subscription.lock().expect("subscription");
            if sub.is_none() {
                *sub = self.shared.as_ref().map(|s| s.subscribe(4096));
            }
            let Some(s) = sub.as_ref() else {
                return Some(None);
            };
            let left = deadline.saturating_duration_since(Instant::now()).min(STEP);
            match s.recv_timeout(left) {
                Ok(update) => Some(Some(update_json(update).to_string())),
                Err(RecvError::Finished) => Some(None),
                Err(RecvError::Timeout) if Instant::now() >= deadline => Some(None),
                Err(RecvError::Timeout) => None,
            }
        })
    }

    /// Pushes trips (a job started with `push=True`); returns the push position of the first.
    fn push(&self, py: Python<'_>, batch: &Bound<'_, TripBatch>) -> PyResult<u64> {
        let sender = self.sender.as_ref().ok_or_else(|| {
            errors::value("this job takes no pushed rows: start it with push=True")
        })?;
        let rows = batch.get().rows();
        py.detach(|| sender.push(rows))
            .map_err(|e| errors::JobError::new_err(e.to_string()))
    }

    /// Ends the pushed input (the job finishes what it has).
    fn close_input(&self) {
        if let Some(sender) = &self.sender {
            sender.close();
        }
    }

    /// Swaps in `model` (a `Model` or `PyModel`) at the next epoch.
    fn swap_model(&self, py: Python<'_>, model: &Bound<'_, PyAny>) -> PyResult<()> {
        let (file, external) = crate::model::model_of(model)?;
        if let Some((m, failure)) = external {
            self.models.lock().expect("models").push(m);
            self.failures.lock().expect("failures").push(failure);
        }
        py.detach(|| self.with(|h| h.swap_model(&file)))
            .ok_or_else(|| errors::JobError::new_err("the job has ended"))?
            .map_err(errors::model)
    }
}

impl Run {
    fn take_outcome(&self) -> Result<Json, String> {
        let mut outcome = self.outcome.lock().expect("outcome");
        if let Some(done) = outcome.clone() {
            return done;
        }
        let handle = self.handle.lock().expect("run handle").take();
        let done = match handle {
            Some(h) => h.join().map_err(|e| e.to_string()),
            None => Err("the job has ended".to_string()),
        };
        *outcome = Some(done.clone());
        done
    }
}
