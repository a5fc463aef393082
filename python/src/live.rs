//! The live job from Python: inputs (files, a socket to listen on, pushed rows), a model
//! (native or Python) and settings in; a started `Run` out. The job is the engine's
//! [`LiveJob`]: the binding only builds its [`Source`] and settings.

use std::sync::Arc;
use std::time::Duration;

use pyo3::prelude::*;
use zonecast::dataflows::live::LiveJob;
use zonecast::jobs::{SocketSource, Source, SourceSettings};
use zonecast::live::zones::ZoneDirectory;
use zonecast::runtime::Cluster;
use zonecast::sources::channel::ChannelOptions;

use crate::aggregate::span;
use crate::errors;
use crate::handle::Run;
use crate::history;
use crate::model::model_of;

/// Starts a live job; returns at once (planning, binding and the dataflow run on the job's
/// threads).
#[pyfunction]
#[pyo3(signature = (inputs, listen, push, speed, model, http, workers, allowed_lateness, columns, exit_at_end, batch_rows, retention_hours, zones, batch_interval_ms=None, state_dir=None, checkpoint_interval=None))]
#[allow(clippy::too_many_arguments)]
pub fn start_live(
    py: Python<'_>,
    inputs: Vec<Bound<'_, PyAny>>,
    listen: Option<String>,
    push: bool,
    speed: Option<f64>,
    model: &Bound<'_, PyAny>,
    http: Option<String>,
    workers: usize,
    allowed_lateness: Option<String>,
    columns: Vec<String>,
    exit_at_end: bool,
    batch_rows: Option<u64>,
    retention_hours: Option<i64>,
    zones: Option<std::path::PathBuf>,
    batch_interval_ms: Option<u64>,
    state_dir: Option<std::path::PathBuf>,
    checkpoint_interval: Option<f64>,
) -> PyResult<Run> {
    if listen.is_some() && push {
        return Err(errors::value(
            "give listen= or push=True, not both: a job has one never-ending input",
        ));
    }
    let (file, external) = model_of(model)?;
    let interval = batch_interval_ms
        .map(|ms| Duration::from_millis(ms.max(1)))
        .unwrap_or(SourceSettings::DEFAULT_BATCH_INTERVAL);
    let mut source = history::trip_source(history::inputs(inputs)?)?.map(|s| s.with_speed(speed));
    let mut sender = None;
    if let Some(addr) = &listen {
        source = Some(match source {
            Some(s) => s.then(socket(addr, interval)),
            None => socket(addr, interval),
        });
    }
    if push {
        let (channel, tx) = Source::channel(ChannelOptions {
            batch_interval: interval,
            ..ChannelOptions::default()
        });
        sender = Some(tx);
        source = Some(match source {
            Some(s) => s.then(channel),
            None => channel,
        });
    }
    let source = source.ok_or_else(|| {
        errors::value("give trips to serve: inputs=[...], listen=\"127.0.0.1:0\" or push=True")
    })?;
    let mut job = LiveJob::new(file);
    job.source = source;
    job.columns = history::column_map(columns)?;
    job.cluster = Cluster::threads(workers.max(1));
    job.http = http;
    job.exit_at_end = exit_at_end;
    job.batch_interval = interval;
    if let Some(lateness) = allowed_lateness {
        job.policy.watermark.allowed_lateness = span(&lateness)?;
    }
    if let Some(rows) = batch_rows {
        job.batch_rows = rows.max(1);
    }
    if let Some(hours) = retention_hours {
        job.policy.retention_hours = hours;
    }
    job.state_dir = state_dir;
    if let Some(seconds) = checkpoint_interval {
        job.checkpoint_interval = Duration::from_secs_f64(seconds.max(0.0));
    }
    let directory = py
        .detach(|| ZoneDirectory::discover(zones.as_deref()))
        .map_err(|e| errors::InputError::new_err(e.to_string()))?;
    job.zones = Arc::new(directory);
    let handle = job.start().map_err(errors::job)?;
    Ok(Run::new(handle, sender, external))
}

/// A socket source on `addr` that closes an epoch at least every `interval`.
fn socket(addr: &str, interval: Duration) -> Source {
    Source::Socket(SocketSource {
        batch_interval: interval,
        ..SocketSource::new(addr)
    })
}
