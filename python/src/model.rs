//! Native models: model files, training and evaluation. Paths, inputs and feature settings in;
//! a `Model` (an engine [`ModelFile`]), forecasts and error tables out.

use std::path::PathBuf;

use pyo3::prelude::*;
use pyo3::types::PyBytes;
use zonecast::features::{FeatureRow, FeatureSpec};
use zonecast::model::external::ExternalModel as Engine;
use zonecast::model::gbdt::{GbdtParams, TreeShape};
use zonecast::model::train::{evaluate as evaluate_model, train as train_model, TrainConfig};
use zonecast::model::{ModelFile, ModelKind};

use crate::buffers::to_bytes;
use crate::errors;
use crate::external::{ExternalModel, Failure};
use crate::features::Features;
use crate::history;

/// A trained native model (`zonecast.Model` wraps it).
#[pyclass(module = "zonecast._zonecast", frozen)]
pub struct Model {
    pub file: ModelFile,
}

/// The engine model of a `Model` or `ExternalModel` (with the Python model's parts).
pub fn model_of(obj: &Bound<'_, PyAny>) -> PyResult<(ModelFile, Option<(Engine, Failure)>)> {
    let obj = match obj.getattr("_native") {
        Ok(native) => native,
        Err(_) => obj.clone(),
    };
    if let Ok(model) = obj.cast::<Model>() {
        return Ok((model.get().file.clone(), None));
    }
    if let Ok(model) = obj.cast::<ExternalModel>() {
        let m = model.get();
        return Ok((m.file.clone(), Some((m.engine.clone(), m.failure.clone()))));
    }
    Err(errors::value(format!(
        "{obj} is not a model: give zonecast.Model (trained or loaded) or zonecast.PyModel"
    )))
}

/// Forecasts of `rows` as (pickups, fallback flags) column buffers.
pub fn predict<'py>(
    py: Python<'py>,
    file: &ModelFile,
    rows: &[FeatureRow],
) -> (Bound<'py, PyBytes>, Bound<'py, PyBytes>) {
    let refs: Vec<&FeatureRow> = rows.iter().collect();
    let forecasts = py.detach(|| file.predict_many(&refs));
    (
        to_bytes(py, forecasts.iter().map(|f| f.pickups)),
        to_bytes(py, forecasts.iter().map(|f| f.fallback as u8)),
    )
}

#[pymethods]
impl Model {
    /// Reads a model file.
    #[staticmethod]
    fn load(py: Python<'_>, path: PathBuf) -> PyResult<Self> {
        let file = py
            .detach(|| ModelFile::load(&path))
            .map_err(errors::model)?;
        Ok(Model { file })
    }

    /// A model from a file's bytes.
    #[staticmethod]
    fn from_bytes(bytes: &[u8]) -> PyResult<Self> {
        let file =
            ModelFile::from_bytes(bytes, std::path::Path::new("(bytes)")).map_err(errors::model)?;
        Ok(Model { file })
    }

    /// A baseline as a model (`previous_hour`, `same_hour_last_week`, `four_week_mean`).
    #[staticmethod]
    fn baseline(name: &str, lags: Vec<u32>, same_hour_weeks: u32, trends: bool) -> PyResult<Self> {
        let spec = FeatureSpec::new(lags, same_hour_weeks).with_trends(trends);
        match name.parse::<ModelKind>().map_err(errors::model)? {
            ModelKind::Baseline(b) => Ok(Model {
                file: ModelFile::baseline(b, spec),
            }),
            other => Err(errors::value(format!(
                "{other} is not a baseline: train it with zonecast.train"
            ))),
        }
    }

    /// Writes the model file (atomically).
    fn save(&self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        py.detach(|| self.file.save(&path)).map_err(errors::model)
    }

    /// The file's bytes.
    fn to_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.file.to_bytes())
    }

    #[getter]
    fn version(&self) -> String {
        self.file.version.clone()
    }

    #[getter]
    fn kind(&self) -> &'static str {
        self.file.kind.name()
    }

    #[getter]
    fn lags(&self) -> Vec<u32> {
        self.file.spec.lags.clone()
    }

    #[getter]
    fn same_hour_weeks(&self) -> u32 {
        self.file.spec.same_hour_weeks
    }

    #[getter]
    fn trends(&self) -> bool {
        self.file.spec.trends
    }

    /// First target hour trained on (hours since 1970-01-01, naive).
    #[getter]
    fn trained_from(&self) -> i64 {
        self.file.trained_from
    }

    /// Target hours before this were used.
    #[getter]
    fn trained_until(&self) -> i64 {
        self.file.trained_until
    }

    /// Validation metrics by name: `(rows, mae, rmse)`.
    #[getter]
    fn validation(&self) -> Vec<(String, u64, f64, f64)> {
        self.file
            .validation
            .iter()
            .map(|(n, m)| (n.clone(), m.rows, m.mae, m.rmse))
            .collect()
    }

    /// Forecasts of a feature table: (pickups float64, fallback uint8) buffers.
    fn predict<'py>(
        &self,
        py: Python<'py>,
        features: &Bound<'py, Features>,
    ) -> PyResult<(Bound<'py, PyBytes>, Bound<'py, PyBytes>)> {
        let f = features.get();
        self.file.check_spec(f.spec()).map_err(errors::model)?;
        Ok(predict(py, &self.file, f.rows()))
    }
}

/// Trains a native model on the inputs' history.
#[pyfunction]
#[pyo3(signature = (inputs, until, kind, lags, same_hour_weeks, trends, validation_hours, columns, workers, zone_encoding, trees=None, depth=None, rounds=None, learning_rate=None, max_leaves=None))]
#[allow(clippy::too_many_arguments)]
pub fn train(
    py: Python<'_>,
    inputs: Vec<Bound<'_, PyAny>>,
    until: Option<i64>,
    kind: &str,
    lags: Vec<u32>,
    same_hour_weeks: u32,
    trends: bool,
    validation_hours: Option<i64>,
    columns: Vec<String>,
    workers: usize,
    zone_encoding: bool,
    trees: Option<&str>,
    depth: Option<usize>,
    rounds: Option<usize>,
    learning_rate: Option<f64>,
    max_leaves: Option<usize>,
) -> PyResult<Model> {
    let kind: ModelKind = kind.parse().map_err(errors::model)?;
    let mut gbdt = GbdtParams::default();
    if let Some(trees) = trees {
        gbdt.shape = trees.parse::<TreeShape>().map_err(errors::value)?;
    }
    gbdt.depth = depth.unwrap_or(gbdt.depth);
    gbdt.rounds = rounds.unwrap_or(gbdt.rounds).max(1);
    gbdt.learning_rate = learning_rate.unwrap_or(gbdt.learning_rate);
    gbdt.max_leaves = max_leaves.unwrap_or(gbdt.max_leaves).max(2);
    let inputs = history::inputs(inputs)?;
    let history = history::load(py, inputs, history::column_map(columns)?, workers)?;
    let end = history.last_hour().map_or(0, |h| h + 1);
    let mut config = TrainConfig::new(until.unwrap_or(end));
    config.kind = kind;
    config.spec = FeatureSpec::new(lags, same_hour_weeks).with_trends(trends);
    config.validation_hours = validation_hours;
    config.zone_encoding = zone_encoding;
    config.gbdt = gbdt;
    let trained = py
        .detach(|| train_model(&history, &config, &mut |line| tracing::info!("{line}")))
        .map_err(errors::model)?;
    Ok(Model {
        file: trained.model,
    })
}

/// Evaluates a model and the baselines on target hours `start..end`: `(name, rows, mae, rmse)`.
#[pyfunction]
#[pyo3(signature = (inputs, model, start, end, columns, workers))]
pub fn evaluate(
    py: Python<'_>,
    inputs: Vec<Bound<'_, PyAny>>,
    model: &Bound<'_, PyAny>,
    start: Option<i64>,
    end: Option<i64>,
    columns: Vec<String>,
    workers: usize,
) -> PyResult<Vec<(String, u64, f64, f64)>> {
    let (file, _) = model_of(model)?;
    let inputs = history::inputs(inputs)?;
    let history = history::load(py, inputs, history::column_map(columns)?, workers)?;
    let start = start.or(history.first_hour()).unwrap_or(0);
    let end = end.or(history.last_hour().map(|h| h + 1)).unwrap_or(0);
    let metrics = py.detach(|| evaluate_model(&file, &history, start, end));
    Ok(metrics
        .into_iter()
        .map(|(n, m)| (n, m.rows, m.mae, m.rmse))
        .collect())
}
