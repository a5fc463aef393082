//! Running a job's dataflow on its workers: a cluster, the job's control and per-worker logic
//! in; each worker's result out — or the first failure, without a hang.
//!
//! A worker that panics aborts the job: every other worker leaves its loop at its next step
//! (the dataflow cannot complete without the panicked one), and the job returns the panic's
//! message. A worker that reports an error (a source that became unreadable) stops the job
//! the graceful way: inputs end, the dataflow drains, the job returns the error.

use std::sync::Arc;
use std::time::Duration;

use timely::worker::Worker;

use crate::jobs::handle::{panic_message, JobControl};
use crate::jobs::JobError;
use crate::runtime::Cluster;

/// Runs `logic` on every worker of this process; a panicking worker aborts the others.
pub fn run_workers<R, F>(
    cluster: &Cluster,
    control: &Arc<JobControl>,
    logic: F,
) -> Result<Vec<R>, JobError>
where
    R: Send + 'static,
    F: Fn(&mut Worker) -> R + Send + Sync + 'static,
{
    let guard = control.clone();
    let results = cluster.execute(move |worker| {
        let index = worker.index();
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| logic(worker)));
        result.map_err(|panic| {
            let message = format!("worker {index}: {}", panic_message(&panic));
            guard.abort(message.clone());
            drop_dataflows(worker);
            message
        })
    })?;
    let mut out = Vec::with_capacity(results.len());
    for result in results {
        out.push(result.map_err(JobError::Panicked)?);
    }
    Ok(out)
}

/// Steps `worker` until its dataflows are done or the job aborts; `each` runs after every
/// step (progress gauges, failure checks).
pub fn step_until_done(worker: &mut Worker, control: &JobControl, mut each: impl FnMut()) {
    while !control.is_aborted() && worker.step_or_park(Some(Duration::from_millis(2))) {
        each();
    }
    if control.is_aborted() {
        drop_dataflows(worker);
    }
}

/// Timely steps a worker until its dataflows finish once the logic returns; an aborted job's
/// dataflows never will, so they are dropped.
fn drop_dataflows(worker: &mut Worker) {
    for dataflow in worker.installed_dataflows() {
        worker.drop_dataflow(dataflow);
    }
}
