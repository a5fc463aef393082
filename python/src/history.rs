//! Inputs from Python: a list of paths, trip batches and hourly tables in; a trip [`Source`]
//! (for aggregate, live and batch jobs) or a [`PickupHistory`] (for features, training and
//! evaluation) out.

use std::path::PathBuf;

use pyo3::prelude::*;
use zonecast::dataflows::aggregate::AggregateJob;
use zonecast::features::history::PickupHistory;
use zonecast::features::hourly_input::{history_from_table, read_hourly_into, HourlyColumns};
use zonecast::jobs::{JobError, Source};
use zonecast::runtime::Cluster;
use zonecast::schema::{ColumnMap, ColumnOverride};
use zonecast::sources::trip_row::TripRow;

use crate::errors;
use crate::handle::finish;
use crate::trips::TripBatch;

/// One input.
pub enum Input {
    /// A trip file (CSV or Parquet).
    File(PathBuf),
    /// Trip rows from a DataFrame or Arrow table.
    Rows(Vec<TripRow>),
    /// An hourly count table.
    Hourly(PathBuf, HourlyColumns),
}

/// Reads the package's input list: `str` paths, `TripBatch`es and
/// `("hourly", path, zone_col, hour_col, count_col)` tuples.
pub fn inputs(items: Vec<Bound<'_, PyAny>>) -> PyResult<Vec<Input>> {
    items
        .into_iter()
        .map(|item| {
            if let Ok(batch) = item.cast::<TripBatch>() {
                return Ok(Input::Rows(batch.get().rows()));
            }
            if let Ok((tag, path, zone, hour, count)) =
                item.extract::<(String, PathBuf, String, String, String)>()
            {
                if tag == "hourly" {
                    return Ok(Input::Hourly(path, HourlyColumns { zone, hour, count }));
                }
            }
            item.extract::<PathBuf>().map(Input::File).map_err(|_| {
                errors::value(format!(
                    "cannot use {item} as an input: give a path, a DataFrame, an Arrow table or zonecast.HourlyTable"
                ))
            })
        })
        .collect()
}

/// Column overrides from `FIELD=NAME` texts.
pub fn column_map(columns: Vec<String>) -> PyResult<ColumnMap> {
    let overrides = columns
        .iter()
        .map(|c| c.parse::<ColumnOverride>().map_err(errors::value))
        .collect::<PyResult<Vec<_>>>()?;
    Ok(ColumnMap::new(overrides))
}

/// The trip inputs as one source (consecutive files stay one file source, so epochs are the
/// CLI's); `None` when there are none. Hourly tables are refused.
pub fn trip_source(inputs: Vec<Input>) -> PyResult<Option<Source>> {
    let mut parts: Vec<Source> = Vec::new();
    let mut files: Vec<PathBuf> = Vec::new();
    for input in inputs {
        match input {
            Input::File(path) => files.push(path),
            Input::Rows(rows) => {
                if !files.is_empty() {
                    parts.push(Source::files(std::mem::take(&mut files)));
                }
                parts.push(Source::memory(rows));
            }
            Input::Hourly(path, _) => {
                return Err(errors::value(format!(
                    "{} is an hourly table: this job needs trips (hourly tables feed features, train and evaluate)",
                    path.display()
                )))
            }
        }
    }
    if !files.is_empty() {
        parts.push(Source::files(files));
    }
    Ok(parts.into_iter().reduce(Source::then))
}

/// The pickup history of the inputs: trips aggregated by the aggregate dataflow, then hourly
/// tables (whose counts replace those of the same zone and hour).
pub fn load(
    py: Python<'_>,
    inputs: Vec<Input>,
    columns: ColumnMap,
    workers: usize,
) -> PyResult<PickupHistory> {
    let (hourly, trips): (Vec<Input>, Vec<Input>) = inputs
        .into_iter()
        .partition(|i| matches!(i, Input::Hourly(..)));
    let mut history = match trip_source(trips)? {
        Some(source) => {
            let mut job = AggregateJob::new(source);
            job.columns = columns;
            job.cluster = Cluster::threads(workers.max(1));
            job.publish_updates = false;
            let outcome = finish(py, job.start().map_err(errors::job)?)?.ok_or_else(|| {
                errors::job(JobError::Failed(
                    "aggregation ran on another process".into(),
                ))
            })?;
            history_from_table(outcome.table.rows())
        }
        None => PickupHistory::new(),
    };
    for input in hourly {
        if let Input::Hourly(path, columns) = input {
            py.detach(|| read_hourly_into(&path, &columns, &mut history))
                .map_err(|e| errors::job(e.into()))?;
        }
    }
    Ok(history)
}
