//! Feature tables: inputs and a feature spec in; the rows the engine builds (the same
//! [`PickupHistory::row`](zonecast::features::history::PickupHistory::row) code as the stream)
//! out, as column buffers for numpy.

use pyo3::prelude::*;
use pyo3::types::PyBytes;
use zonecast::features::{FeatureRow, FeatureSpec};
use zonecast::model::train::dataset;

use crate::buffers::to_bytes;
use crate::history;

/// Feature rows with their actual pickups (`zonecast.Features` wraps it).
#[pyclass(module = "zonecast._zonecast", frozen)]
pub struct Features {
    rows: Vec<FeatureRow>,
    actuals: Vec<f64>,
    spec: FeatureSpec,
}

impl Features {
    /// The rows.
    pub fn rows(&self) -> &[FeatureRow] {
        &self.rows
    }

    /// The spec they follow.
    pub fn spec(&self) -> &FeatureSpec {
        &self.spec
    }
}

#[pymethods]
impl Features {
    /// The matrix, row-major float64.
    fn x<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        let refs: Vec<&FeatureRow> = self.rows.iter().collect();
        let vectors = py.detach(|| self.spec.vectors(&refs));
        to_bytes(py, vectors.into_iter().flatten())
    }

    /// Actual pickups (float64).
    fn y<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        to_bytes(py, self.actuals.iter().copied())
    }

    /// Zones (int64).
    fn zone<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        to_bytes(py, self.rows.iter().map(|r| r.zone as i64))
    }

    /// Target hours (int64, hours since 1970-01-01, naive).
    fn target_hour<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        to_bytes(py, self.rows.iter().map(|r| r.target_hour))
    }

    /// Column names.
    #[getter]
    fn names(&self) -> Vec<String> {
        self.spec.names()
    }

    #[getter]
    fn lags(&self) -> Vec<u32> {
        self.spec.lags.clone()
    }

    #[getter]
    fn same_hour_weeks(&self) -> u32 {
        self.spec.same_hour_weeks
    }

    #[getter]
    fn trends(&self) -> bool {
        self.spec.trends
    }

    fn __len__(&self) -> usize {
        self.rows.len()
    }
}

/// The feature rows of every known zone and target hour in `start..end` (hour buckets;
/// default: the whole history) whose history is complete.
#[pyfunction]
#[pyo3(signature = (inputs, lags, same_hour_weeks, trends, start, end, columns, workers))]
#[allow(clippy::too_many_arguments)]
pub fn features(
    py: Python<'_>,
    inputs: Vec<Bound<'_, PyAny>>,
    lags: Vec<u32>,
    same_hour_weeks: u32,
    trends: bool,
    start: Option<i64>,
    end: Option<i64>,
    columns: Vec<String>,
    workers: usize,
) -> PyResult<Features> {
    let spec = FeatureSpec::new(lags, same_hour_weeks).with_trends(trends);
    let inputs = history::inputs(inputs)?;
    let history = history::load(py, inputs, history::column_map(columns)?, workers)?;
    let start = start.or(history.first_hour()).unwrap_or(0);
    let end = end.or(history.last_hour().map(|h| h + 1)).unwrap_or(0);
    let data = py.detach(|| dataset(&history, &spec, start, end));
    Ok(Features {
        rows: data.rows,
        actuals: data.actuals,
        spec,
    })
}
