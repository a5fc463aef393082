//! Models that live outside the engine (a Python object in the binding): feature matrices in,
//! forecasts out, through the [`Predict`] trait — scored inside the streaming model operator
//! like any native model.
//!
//! An [`ExternalModel`] is one [`Fitted`](super::Fitted) kind, so it travels where model files
//! travel (a live job's starting model, a swap, a batch run). Its encoded form is a reference
//! into this process's registry (name, id, batch size, error policy), not the model itself:
//! it decodes only in the process that registered it, and only while the model is alive.
//!
//! Rows are scored in batches of at most `max_batch_rows`. A failed batch (an error from
//! `predict`, a result of the wrong length, a value that is not finite) either stops the job
//! ([`OnError::Raise`]: the worker panics with the message, and the job returns it) or is
//! served by the `four_week_mean` baseline and counted ([`OnError::Fallback`]).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};

use serde::{Deserialize, Serialize};

use crate::features::{FeatureRow, FeatureSpec};
use crate::model::{Baseline, Forecaster};

/// What an external model does: forecast `rows` feature vectors of `cols` values each
/// (row-major in `x`). An error is a message (the binding keeps the original exception).
pub trait Predict: Send + Sync {
    /// One forecast per row, or why there are none.
    fn predict(&self, x: &[f64], rows: usize, cols: usize) -> Result<Vec<f64>, String>;
}

/// What a failed batch does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OnError {
    /// Stop the job with the error.
    Raise,
    /// Serve the `four_week_mean` baseline for the batch and count the error.
    Fallback,
}

struct Entry {
    predictor: Box<dyn Predict>,
    errors: AtomicU64,
}

fn registry() -> &'static Mutex<BTreeMap<u64, Weak<Entry>>> {
    static REGISTRY: OnceLock<Mutex<BTreeMap<u64, Weak<Entry>>>> = OnceLock::new();
    REGISTRY.get_or_init(Default::default)
}

/// A model outside the engine, scored in batches.
///
/// ```
/// use zonecast::features::{FeatureRow, FeatureSpec};
/// use zonecast::model::external::{ExternalModel, OnError, Predict};
/// use zonecast::model::ModelFile;
///
/// struct FirstLag;
/// impl Predict for FirstLag {
///     fn predict(&self, x: &[f64], rows: usize, cols: usize) -> Result<Vec<f64>, String> {
///         Ok((0..rows).map(|r| x[r * cols]).collect())
///     }
/// }
/// let spec = FeatureSpec::new(vec![1], 0);
/// let model = ModelFile::external(ExternalModel::new("first_lag", Box::new(FirstLag), 1024, OnError::Raise), spec);
/// let row = FeatureRow { zone: 1, target_hour: 0, history: vec![Some(4), None, None, None, None], complete: true, sums: vec![] };
/// assert_eq!(model.predict(&row).pickups, 4.0); // lag_1h
/// assert_eq!(model.kind.name(), "external");
/// ```
#[derive(Clone, Serialize, Deserialize)]
#[serde(try_from = "ExternalRef", into = "ExternalRef")]
pub struct ExternalModel {
    name: String,
    id: u64,
    max_batch_rows: usize,
    on_error: OnError,
    entry: Arc<Entry>,
}

/// The encoded form: a reference into this process's registry.
#[derive(Clone, Serialize, Deserialize)]
struct ExternalRef {
    name: String,
    id: u64,
    max_batch_rows: usize,
    on_error: OnError,
}

impl From<ExternalModel> for ExternalRef {
    fn from(m: ExternalModel) -> Self {
        ExternalRef {
            name: m.name,
            id: m.id,
            max_batch_rows: m.max_batch_rows,
            on_error: m.on_error,
        }
    }
}

impl TryFrom<ExternalRef> for ExternalModel {
    type Error = String;
    fn try_from(r: ExternalRef) -> Result<Self, String> {
        let entry = registry()
            .lock()
            .expect("registry")
            .get(&r.id)
            .and_then(Weak::upgrade)
            .ok_or_else(|| {
                format!(
                    "the external model {:?} lives only in the process that made it, while it is alive; save a native model to move a model between processes",
                    r.name
                )
            })?;
        Ok(ExternalModel {
            name: r.name,
            id: r.id,
            max_batch_rows: r.max_batch_rows,
            on_error: r.on_error,
            entry,
        })
    }
}

impl ExternalModel {
    /// Registers `predictor` under a new id (`max_batch_rows` is at least 1).
    pub fn new(
        name: &str,
        predictor: Box<dyn Predict>,
        max_batch_rows: usize,
        on_error: OnError,
    ) -> Self {
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let entry = Arc::new(Entry {
            predictor,
            errors: AtomicU64::new(0),
        });
        let mut registry = registry().lock().expect("registry");
        registry.retain(|_, weak| weak.strong_count() > 0);
        registry.insert(id, Arc::downgrade(&entry));
        ExternalModel {
            name: name.to_string(),
            id,
            max_batch_rows: max_batch_rows.max(1),
            on_error,
            entry,
        }
    }

    /// The model's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Batches that failed and were served by the baseline ([`OnError::Fallback`]).
    pub fn errors(&self) -> u64 {
        self.entry.errors.load(Ordering::Relaxed)
    }

    /// The error policy.
    pub fn on_error(&self) -> OnError {
        self.on_error
    }

    /// Scores one batch, checking what came back.
    fn score_batch(&self, x: &[f64], rows: usize, cols: usize) -> Result<Vec<f64>, String> {
        let out = self.entry.predictor.predict(x, rows, cols)?;
        if out.len() != rows {
            return Err(format!(
                "predict returned {} values for {rows} rows; return one number per row",
                out.len()
            ));
        }
        if let Some(i) = out.iter().position(|v| !v.is_finite()) {
            return Err(format!(
                "predict returned {} for row {i}; return finite numbers",
                out[i]
            ));
        }
        Ok(out)
    }
}

impl Forecaster for ExternalModel {
    fn forecast(&self, spec: &FeatureSpec, offsets: &[u32], rows: &[&FeatureRow]) -> Vec<f64> {
        let mut out = Vec::with_capacity(rows.len());
        for chunk in rows.chunks(self.max_batch_rows) {
            let vectors = spec.vectors(chunk);
            let cols = vectors.first().map_or(0, Vec::len);
            let x: Vec<f64> = vectors.into_iter().flatten().collect();
            match self.score_batch(&x, chunk.len(), cols) {
                Ok(values) => out.extend(values),
                Err(message) => match self.on_error {
                    OnError::Raise => panic!("model {:?} failed: {message}", self.name),
                    OnError::Fallback => {
                        self.entry.errors.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(model = %self.name, %message, "model failed; serving the four_week_mean baseline for this batch");
                        out.extend(
                            chunk
                                .iter()
                                .map(|r| Baseline::FourWeekMean.predict(r, offsets)),
                        );
                    }
                },
            }
        }
        out
    }
}

impl PartialEq for ExternalModel {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

impl fmt::Debug for ExternalModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExternalModel")
            .field("name", &self.name)
            .field("id", &self.id)
            .field("max_batch_rows", &self.max_batch_rows)
            .field("on_error", &self.on_error)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ModelFile;

    struct Wrong;
    impl Predict for Wrong {
        fn predict(&self, _x: &[f64], _rows: usize, _cols: usize) -> Result<Vec<f64>, String> {
            Ok(vec![1.0])
        }
    }

    fn row(zone: u16) -> FeatureRow {
        FeatureRow {
            zone,
            target_hour: 1000,
            history: vec![Some(3); 5],
            complete: true,
            sums: Vec::new(),
        }
    }

    #[test]
    fn a_failed_batch_falls_back_and_is_counted() {
        let spec = FeatureSpec::new(vec![1], 0);
        let ext = ExternalModel::new("wrong", Box::new(Wrong), 2, OnError::Fallback);
        let model = ModelFile::external(ext.clone(), spec);
        let rows = [row(1), row(2), row(3)];
        let refs: Vec<&FeatureRow> = rows.iter().collect();
        let out = model.predict_many(&refs);
        // The first batch (2 rows) got one value: baseline; the second (1 row) is fine.
        assert_eq!(
            out.iter().map(|f| f.pickups).collect::<Vec<_>>(),
            [3.0, 3.0, 1.0]
        );
        assert_eq!(ext.errors(), 1);
    }

    #[test]
    fn encodes_as_a_reference_that_decodes_while_alive() {
        let spec = FeatureSpec::new(vec![1], 0);
        let ext = ExternalModel::new("wrong", Box::new(Wrong), 8, OnError::Raise);
        let model = ModelFile::external(ext, spec);
        let bytes = model.to_bytes();
        let back = ModelFile::from_bytes(&bytes, std::path::Path::new("x")).unwrap();
        assert_eq!(back.version, model.version);
        drop((model, back));
        let err = ModelFile::from_bytes(&bytes, std::path::Path::new("x")).unwrap_err();
        assert!(
            err.to_string().contains("lives only in the process"),
            "{err}"
        );
    }

    #[test]
    #[should_panic(expected = "failed: predict returned 1 values for 2 rows")]
    fn raise_panics_with_the_message() {
        let spec = FeatureSpec::new(vec![1], 0);
        let ext = ExternalModel::new("wrong", Box::new(Wrong), 8, OnError::Raise);
        let model = ModelFile::external(ext, spec);
        let rows = [row(1), row(2)];
        model.predict_many(&rows.iter().collect::<Vec<_>>());
    }
}
