//! `aggregate`: inputs and event-time settings in; the hourly table as column buffers, the run
//! report and every rejected or late row out (one call, the GIL released while it runs).

use pyo3::prelude::*;
use pyo3::types::PyDict;
use zonecast::dataflows::aggregate::AggregateJob;
use zonecast::jobs::JobError;
use zonecast::report::{late_reason, rejected_reason};
use zonecast::runtime::Cluster;
use zonecast::time::{Span, SECS_PER_HOUR};

use crate::buffers::to_bytes;
use crate::errors;
use crate::handle::finish;
use crate::history;

/// Reads `1d`, `90s` as a span (the CLI's syntax).
pub fn span(text: &str) -> PyResult<Span> {
    text.parse::<Span>().map_err(errors::value)
}

/// Aggregates trips into per-zone hourly statistics.
#[pyfunction]
#[pyo3(signature = (inputs, workers, allowed_lateness, columns, batch_rows))]
pub fn aggregate<'py>(
    py: Python<'py>,
    inputs: Vec<Bound<'py, PyAny>>,
    workers: usize,
    allowed_lateness: Option<String>,
    columns: Vec<String>,
    batch_rows: Option<u64>,
) -> PyResult<Bound<'py, PyDict>> {
    let source = history::trip_source(history::inputs(inputs)?)?
        .ok_or_else(|| errors::value("give at least one input"))?;
    let mut job = AggregateJob::new(source);
    job.columns = history::column_map(columns)?;
    job.cluster = Cluster::threads(workers.max(1));
    job.publish_updates = false;
    if let Some(lateness) = allowed_lateness {
        job.policy.allowed_lateness = span(&lateness)?;
    }
    if let Some(rows) = batch_rows {
        job.batch_rows = rows.max(1);
    }
    let outcome = finish(py, job.start().map_err(errors::job)?)?.ok_or_else(|| {
        errors::job(JobError::Failed(
            "aggregation ran on another process".into(),
        ))
    })?;
    let rows = outcome.table.rows();
    let out = PyDict::new(py);
    out.set_item(
        "zone",
        to_bytes(py, rows.iter().map(|(k, _)| k.zone as i64)),
    )?;
    out.set_item(
        "hour",
        to_bytes(py, rows.iter().map(|(k, _)| k.hour * SECS_PER_HOUR)),
    )?;
    out.set_item("pickups", to_bytes(py, rows.iter().map(|(_, s)| s.pickups)))?;
    let mean = |m: &zonecast::trip::ExactMean| m.mean().unwrap_or(f64::NAN);
    out.set_item(
        "mean_distance",
        to_bytes(py, rows.iter().map(|(_, s)| mean(&s.distance))),
    )?;
    out.set_item(
        "mean_fare",
        to_bytes(py, rows.iter().map(|(_, s)| mean(&s.fare))),
    )?;
    out.set_item(
        "mean_total",
        to_bytes(py, rows.iter().map(|(_, s)| mean(&s.total))),
    )?;
    let r = &outcome.report;
    let names = &outcome.source_names;
    let name = |i: u32| names.get(i as usize).cloned().unwrap_or_else(|| "?".into());
    let mut set_aside: Vec<(String, u64, &str, String)> = r
        .rejects
        .iter()
        .map(|x| {
            (
                name(x.pos.source),
                x.pos.line,
                "rejected",
                rejected_reason(x),
            )
        })
        .chain(r.late_rows.iter().map(|l| {
            (
                name(l.pos.source),
                l.pos.line,
                "late",
                late_reason(l.pickup, l.watermark),
            )
        }))
        .collect();
    set_aside.sort();
    out.set_item("rejects", set_aside)?;
    let report = PyDict::new(py);
    report.set_item("rows_read", r.rows_read)?;
    report.set_item("accepted", r.accepted)?;
    report.set_item("rejected", r.rejected())?;
    report.set_item("rejected_by_reason", r.rejected_by_reason.clone())?;
    report.set_item("late", r.late)?;
    report.set_item("hourly_rows", rows.len())?;
    report.set_item("sources", names.clone())?;
    report.set_item("elapsed_s", outcome.elapsed.as_secs_f64())?;
    report.set_item("peak_state_keys", outcome.peak_state_keys)?;
    out.set_item("report", report)?;
    Ok(out)
}
