//! Batch scoring and serving from Python: inputs, a model and a database path in; the run's id
//! and report (batch), or a started `Run` serving the database (serve) out.

use std::path::PathBuf;

use pyo3::prelude::*;
use pyo3::types::PyDict;
use zonecast::dataflows::batch::BatchJob;
use zonecast::dataflows::serve::ServeJob;
use zonecast::runtime::Cluster;

use crate::aggregate::span;
use crate::errors;
use crate::handle::{finish, Run};
use crate::history;
use crate::model::model_of;

/// Scores the inputs with `model` into the SQLite database `db`; returns the run's record.
#[pyfunction]
#[pyo3(signature = (inputs, model, db, since_last_run, workers, allowed_lateness, columns, start, end))]
#[allow(clippy::too_many_arguments)]
pub fn batch<'py>(
    py: Python<'py>,
    inputs: Vec<Bound<'py, PyAny>>,
    model: &Bound<'py, PyAny>,
    db: PathBuf,
    since_last_run: bool,
    workers: usize,
    allowed_lateness: Option<String>,
    columns: Vec<String>,
    start: Option<i64>,
    end: Option<i64>,
) -> PyResult<Bound<'py, PyDict>> {
    let (file, external) = model_of(model)?;
    let source = history::trip_source(history::inputs(inputs)?)?
        .ok_or_else(|| errors::value("give at least one input"))?;
    let mut job = BatchJob::new(source, file, db);
    job.columns = history::column_map(columns)?;
    job.cluster = Cluster::threads(workers.max(1));
    job.range.since_last_run = since_last_run;
    job.range.from = start;
    job.range.to = end;
    if let Some(lateness) = allowed_lateness {
        job.policy.watermark.allowed_lateness = span(&lateness)?;
    }
    let outcome = match finish(py, job.start().map_err(errors::job)?) {
        Ok(outcome) => outcome,
        Err(err) => {
            let kept = external.and_then(|(_, failure)| failure.take(py));
            return Err(kept.unwrap_or(err));
        }
    };
    let out = PyDict::new(py);
    let w = &outcome.written;
    out.set_item("run_id", w.run_id)?;
    out.set_item("forecasts", w.forecasts)?;
    out.set_item("forecasts_changed", w.forecasts_changed)?;
    out.set_item("hourly", w.hourly)?;
    out.set_item("from_hour", w.from)?;
    out.set_item("abandoned_runs", w.abandoned.clone())?;
    out.set_item("written_early", w.written_early)?;
    let r = &outcome.report;
    out.set_item("rows_read", r.rows_read)?;
    out.set_item("accepted", r.accepted)?;
    out.set_item("rejected", r.rejected())?;
    out.set_item("rejected_by_reason", r.rejected_by_reason.clone())?;
    out.set_item("late", r.late)?;
    out.set_item("dataflow_s", outcome.dataflow.as_secs_f64())?;
    out.set_item("write_s", outcome.write.as_secs_f64())?;
    Ok(out)
}

/// Starts serving the database over HTTP; returns at once.
#[pyfunction]
#[pyo3(signature = (db, http))]
pub fn start_serve(db: PathBuf, http: String) -> PyResult<Run> {
    let mut job = ServeJob::new(db);
    job.http = Some(http);
    Ok(Run::new(job.start().map_err(errors::job)?, None, None))
}
