//! Python models inside the stream: any Python callable in (the package passes a glue function
//! that runs `model.predict` on a numpy matrix), an engine [`Engine`] model out, scored by the
//! streaming model operator in batches.
//!
//! The GIL is taken only for the call: the batch is built without it, and the worker holds no
//! Rust lock while Python runs. An exception is kept in the model's [`Failure`] slot, so the
//! job's `join` re-raises the original exception, not a copy of its text.

use std::sync::{Arc, Mutex};

use pyo3::prelude::*;
use pyo3::types::PyBytes;
use zonecast::features::FeatureSpec;
use zonecast::model::external::{ExternalModel as Engine, OnError, Predict};
use zonecast::model::ModelFile;

use crate::buffers::{from_bytes, to_bytes};
use crate::errors;

/// Where a Python model's exception is kept for `join` to re-raise.
#[derive(Clone, Default)]
pub struct Failure(Arc<Mutex<Option<PyErr>>>);

impl Failure {
    /// The exception, if one was raised (kept, so a second `join` raises it too).
    pub fn take(&self, py: Python<'_>) -> Option<PyErr> {
        let kept = self
            .0
            .lock()
            .expect("failure")
            .as_ref()
            .map(|e| e.clone_ref(py));
        kept
    }

    fn keep(&self, err: PyErr) {
        *self.0.lock().expect("failure") = Some(err);
    }
}

struct PyPredictor {
    call: Py<PyAny>,
    failure: Failure,
}

impl Predict for PyPredictor {
    fn predict(&self, x: &[f64], rows: usize, cols: usize) -> Result<Vec<f64>, String> {
        Python::attach(|py| {
            let matrix = to_bytes(py, x.iter().copied());
            let out = self.call.call1(py, (matrix, rows, cols)).and_then(|out| {
                let out = out.bind(py);
                let bytes = out.cast::<PyBytes>().map_err(PyErr::from)?;
                from_bytes::<f64>(bytes.as_bytes())
                    .ok_or_else(|| errors::value("predict glue returned a partial float64 buffer"))
            });
            out.map_err(|err| {
                let message = err.to_string();
                self.failure.keep(err);
                message
            })
        })
    }
}

/// A Python model registered with the engine (`zonecast.PyModel` wraps it).
#[pyclass(module = "zonecast._zonecast", frozen)]
pub struct ExternalModel {
    pub file: ModelFile,
    pub engine: Engine,
    pub failure: Failure,
}

#[pymethods]
impl ExternalModel {
    /// `call(x_bytes, rows, cols) -> bytes` scores a row-major float64 matrix.
    #[new]
    #[pyo3(signature = (call, lags, same_hour_weeks, trends, name, max_batch_rows, on_error))]
    fn new(
        call: Py<PyAny>,
        lags: Vec<u32>,
        same_hour_weeks: u32,
        trends: bool,
        name: String,
        max_batch_rows: usize,
        on_error: &str,
    ) -> PyResult<Self> {
        let on_error = match on_error {
            "raise" => OnError::Raise,
            "fallback" => OnError::Fallback,
            other => {
                return Err(errors::value(format!(
                    "on_error={other:?}: use \"raise\" (stop the job) or \"fallback\" (serve the baseline and count)"
                )))
            }
        };
        if max_batch_rows == 0 {
            return Err(errors::value("max_batch_rows must be at least 1"));
        }
        let failure = Failure::default();
        let predictor = PyPredictor {
            call,
            failure: failure.clone(),
        };
        let engine = Engine::new(&name, Box::new(predictor), max_batch_rows, on_error);
        let spec = FeatureSpec::new(lags, same_hour_weeks).with_trends(trends);
        let file = ModelFile::external(engine.clone(), spec);
        Ok(ExternalModel {
            file,
            engine,
            failure,
        })
    }

    /// The version the engine stamps on its forecasts.
    #[getter]
    fn version(&self) -> String {
        self.file.version.clone()
    }

    /// Batches that failed and were served by the baseline (`on_error="fallback"`).
    #[getter]
    fn errors(&self) -> u64 {
        self.engine.errors()
    }
}
