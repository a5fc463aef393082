//! Models: feature rows in, forecasts of pickups out; and the model file that carries a model.
//!
//! Every model implements [`Forecaster`] and sits behind [`ModelFile::predict`]: the random
//! forest (default), ridge regression, and the three baselines (`previous_hour`, `same_hour_last_week`,
//! `four_week_mean`). A model file (bincode, an exact round trip of every `f64`, framed with
//! a length and a checksum by [`encoding`]) carries the feature spec, the model kind, a
//! content-hash version, the training window and the validation metrics; loading checks all
//! of it. Rows without enough history for the model
//! (the first weeks of a stream) are served by the `four_week_mean` baseline, and say so.

pub mod baselines;
pub mod encoding;
pub mod external;
pub mod flat_forest;
pub mod forest;
pub mod gbdt;
pub mod legacy;
pub mod linear;
pub mod train;
pub mod watch;
pub mod zone_encoding;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::features::{FeatureRow, FeatureSpec};
pub use baselines::Baseline;
use forest::Forest;
use linear::Ridge;

/// The kinds of model zonecast trains.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ModelKind {
    /// smartcore random forest.
    RandomForest,
    /// Ridge (L2-penalised linear) regression.
    Ridge,
    /// A baseline used as a model.
    Baseline(Baseline),
    /// A model outside the engine (e.g. a Python object), see [`external`].
    External,
    /// Gradient-boosted trees (the default), see [`gbdt`].
    Gbdt,
}

impl ModelKind {
    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::RandomForest => "rf",
            ModelKind::Ridge => "ridge",
            ModelKind::Baseline(b) => b.name(),
            ModelKind::External => "external",
            ModelKind::Gbdt => "gbdt",
        }
    }
}

impl fmt::Display for ModelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ModelKind {
    type Err = ModelError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "rf" | "random_forest" | "forest" => Ok(ModelKind::RandomForest),
            "ridge" | "linear" => Ok(ModelKind::Ridge),
            "gbdt" | "gbm" | "boosting" => Ok(ModelKind::Gbdt),
            other => Baseline::ALL
                .into_iter()
                .find(|b| b.name() == other)
                .map(ModelKind::Baseline)
                .ok_or_else(|| ModelError::UnknownKind(other.to_string())),
        }
    }
}

/// Errors loading, checking or training a model. Each says what to do.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// A model swap was asked of a job that takes none.
    #[error("this job takes no model swaps: only live jobs swap models")]
    NoSwaps,
    /// `--model` named no known kind.
    #[error("unknown model kind {0:?}: use rf, gbdt, ridge, previous_hour, same_hour_last_week or four_week_mean")]
    UnknownKind(String),
    /// The file could not be read or written.
    #[error("cannot access model file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file is not a (complete) zonecast model.
    #[error(
        "{path} is not a usable zonecast model ({reason}); train a model and point to its file"
    )]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// The model was trained on other features than the pipeline computes.
    #[error("the model was trained on {model} but the pipeline computes {pipeline}; retrain with the pipeline's lags or run the pipeline with the model's")]
    SpecMismatch {
        /// The model's spec.
        model: String,
        /// The pipeline's spec.
        pipeline: String,
    },
    /// Too few target hours have the history the features need before the training cut-off.
    #[error("only {span} target hours have the {horizon} hours of history the features need before the training cut-off; give more data, a later cut-off or shorter lags")]
    TooLittleHistory {
        /// Target hours with complete history.
        span: i64,
        /// Hours of history one row needs.
        horizon: u32,
    },
    /// Training failed (too little data, a numerical problem).
    #[error("training failed: {0}")]
    Training(String),
}

/// Error measures over some rows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Rows scored.
    pub rows: u64,
    /// Mean absolute error (pickups).
    pub mae: f64,
    /// Root mean squared error (pickups).
    pub rmse: f64,
}

impl Metrics {
    /// Metrics of forecasts against actuals.
    pub fn of(forecasts: &[f64], actuals: &[f64]) -> Metrics {
        let n = forecasts.len().min(actuals.len());
        if n == 0 {
            return Metrics::default();
        }
        let (mut abs, mut sq) = (0.0, 0.0);
        for (f, a) in forecasts.iter().zip(actuals) {
            abs += (f - a).abs();
            sq += (f - a).powi(2);
        }
        Metrics {
            rows: n as u64,
            mae: abs / n as f64,
            rmse: (sq / n as f64).sqrt(),
        }
    }
}

/// What every model does: forecast a batch of feature rows (all with complete history).
pub trait Forecaster {
    /// Forecasts for `rows`, whose history follows `spec`'s offsets.
    fn forecast(&self, spec: &FeatureSpec, offsets: &[u32], rows: &[&FeatureRow]) -> Vec<f64>;
}

impl Forecaster for Baseline {
    fn forecast(&self, _spec: &FeatureSpec, offsets: &[u32], rows: &[&FeatureRow]) -> Vec<f64> {
        rows.iter().map(|r| self.predict(r, offsets)).collect()
    }
}

impl Forecaster for Ridge {
    fn forecast(&self, spec: &FeatureSpec, _offsets: &[u32], rows: &[&FeatureRow]) -> Vec<f64> {
        spec.vectors(rows).iter().map(|v| self.predict(v)).collect()
    }
}

impl Forecaster for Forest {
    fn forecast(&self, spec: &FeatureSpec, _offsets: &[u32], rows: &[&FeatureRow]) -> Vec<f64> {
        self.predict_many(&spec.vectors(rows))
    }
}

impl Forecaster for gbdt::Gbdt {
    fn forecast(&self, spec: &FeatureSpec, _offsets: &[u32], rows: &[&FeatureRow]) -> Vec<f64> {
        self.predict_many(&spec.vectors(rows))
    }
}

impl Forecaster for gbdt::SymmetricGbdt {
    fn forecast(&self, spec: &FeatureSpec, _offsets: &[u32], rows: &[&FeatureRow]) -> Vec<f64> {
        let mut vectors = spec.vectors(rows);
        if let Some(encoding) = self.zone_encoding() {
            for (vector, row) in vectors.iter_mut().zip(rows) {
                vector.push(encoding.of(row.zone));
            }
        }
        self.predict_many(&vectors)
    }
}

impl Fitted {
    /// The model behind the [`Forecaster`] trait.
    pub fn forecaster(&self) -> &dyn Forecaster {
        match self {
            Fitted::Forest(f) => f,
            Fitted::Ridge(r) => r,
            Fitted::Baseline(b) => b,
            Fitted::External(e) => e,
            Fitted::Gbdt(g) => g,
            Fitted::SymmetricGbdt(g) => g,
        }
    }
}

/// The fitted parameters of a model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Fitted {
    /// A random forest.
    Forest(Forest),
    /// A ridge regression.
    Ridge(Ridge),
    /// A baseline (nothing fitted).
    Baseline(Baseline),
    /// A model outside the engine.
    External(external::ExternalModel),
    /// Gradient-boosted leaf-wise trees.
    Gbdt(gbdt::Gbdt),
    /// Gradient-boosted symmetric trees (added last: older files decode unchanged).
    SymmetricGbdt(gbdt::SymmetricGbdt),
}

const MAGIC: &str = "zonecast-model";

/// A trained model with everything needed to use and audit it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelFile {
    magic: String,
    format: u32,
    /// The kind of model.
    pub kind: ModelKind,
    /// The features it was trained on.
    pub spec: FeatureSpec,
    /// Content hash of kind, spec and parameters (16 hex digits).
    pub version: String,
    /// First target hour trained on (hour bucket).
    pub trained_from: i64,
    /// Target hours before this were used (training + validation).
    pub trained_until: i64,
    /// Validation metrics of the model and of each baseline, by name.
    pub validation: BTreeMap<String, Metrics>,
    /// The parameters.
    pub fitted: Fitted,
    #[serde(skip)]
    offsets: Vec<u32>,
}

/// A forecast and whether a baseline stood in for the model.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Forecast {
    /// Predicted pickups (never negative).
    pub pickups: f64,
    /// True when the row lacked the history the model needs and `four_week_mean` served.
    pub fallback: bool,
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

impl ModelFile {
    /// Wraps fitted parameters; computes the version.
    pub fn new(
        kind: ModelKind,
        spec: FeatureSpec,
        fitted: Fitted,
        window: (i64, i64),
        validation: BTreeMap<String, Metrics>,
    ) -> Self {
        let config = bincode::config::standard();
        // A spec without trends hashes in its legacy layout: old models keep their version.
        let content = match legacy::LegacySpec::of(&spec) {
            Some(old) => bincode::serde::encode_to_vec((&kind, &old, &fitted), config),
            None => bincode::serde::encode_to_vec((&kind, &spec, &fitted), config),
        }
        .expect("encode model");
        let version = format!("{:016x}", fnv1a(&content));
        let offsets = spec.offsets();
        ModelFile {
            magic: MAGIC.into(),
            format: encoding::FORMAT,
            kind,
            spec,
            version,
            trained_from: window.0,
            trained_until: window.1,
            validation,
            fitted,
            offsets,
        }
    }

    /// A baseline as a model (no training needed).
    pub fn baseline(baseline: Baseline, spec: FeatureSpec) -> Self {
        ModelFile::new(
            ModelKind::Baseline(baseline),
            spec,
            Fitted::Baseline(baseline),
            (0, 0),
            BTreeMap::new(),
        )
    }

    /// An external model (e.g. a Python object) on `spec`'s features.
    pub fn external(model: external::ExternalModel, spec: FeatureSpec) -> Self {
        ModelFile::new(
            ModelKind::External,
            spec,
            Fitted::External(model),
            (0, 0),
            BTreeMap::new(),
        )
    }

    /// Forecasts many rows at once (a forest predicts faster in batches). Rows without the
    /// history the model needs get the `four_week_mean` baseline (baselines serve every row).
    pub fn predict_many(&self, rows: &[&FeatureRow]) -> Vec<Forecast> {
        let needs_history = !matches!(self.fitted, Fitted::Baseline(_));
        let usable: Vec<&FeatureRow> = rows
            .iter()
            .copied()
            .filter(|r| r.complete || !needs_history)
            .collect();
        let mut predicted = self
            .fitted
            .forecaster()
            .forecast(&self.spec, &self.offsets, &usable)
            .into_iter();
        rows.iter()
            .map(|r| {
                if r.complete || !needs_history {
                    Forecast {
                        pickups: predicted.next().expect("one per usable row").max(0.0),
                        fallback: false,
                    }
                } else {
                    Forecast {
                        pickups: Baseline::FourWeekMean.predict(r, &self.offsets).max(0.0),
                        fallback: true,
                    }
                }
            })
            .collect()
    }

    /// Forecasts one row.
    pub fn predict(&self, row: &FeatureRow) -> Forecast {
        self.predict_many(&[row])[0]
    }

    /// Fails unless the model was trained on `spec`.
    pub fn check_spec(&self, spec: &FeatureSpec) -> Result<(), ModelError> {
        if &self.spec == spec {
            Ok(())
        } else {
            Err(ModelError::SpecMismatch {
                model: self.spec.to_string(),
                pipeline: spec.to_string(),
            })
        }
    }

    /// The encoded file contents (format 2: framed and checksummed, see [`encoding`]).
    pub fn to_bytes(&self) -> Vec<u8> {
        debug_assert_eq!(
            self.format,
            encoding::FORMAT,
            "a model in memory is current"
        );
        let payload =
            bincode::serde::encode_to_vec(self, bincode::config::standard()).expect("encode model");
        encoding::frame(&payload)
    }

    /// Decodes file contents (`path` is only for messages): the frame and checksum are
    /// checked before anything is decoded; unframed format 1 files still load.
    pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<Self, ModelError> {
        let corrupt = |reason: String| ModelError::Corrupt {
            path: path.to_path_buf(),
            reason,
        };
        let payload = encoding::unframe(bytes).map_err(corrupt)?;
        // The limit makes the decoder refuse a length prefix beyond it before allocating (a
        // crafted 9-byte file can ask for 1 MiB at most, not exabytes).
        let bytes = payload.bytes();
        let (mut model, used, declared) = if payload.format() < encoding::FORMAT {
            let (old, used): (legacy::LegacyModelFile, usize) =
                encoding::decode_bounded(bytes).map_err(|e| corrupt(e.to_string()))?;
            let (magic, format) = old.header();
            let declared = (magic.to_string(), format, old.version().to_string());
            (old.upgrade(), used, declared)
        } else {
            let (model, used): (ModelFile, usize) =
                encoding::decode_bounded(bytes).map_err(|e| corrupt(e.to_string()))?;
            let declared = (model.magic.clone(), model.format, model.version.clone());
            (model, used, declared)
        };
        let (magic, format, version) = declared;
        if magic != MAGIC {
            return Err(corrupt("wrong magic".into()));
        }
        if format != payload.format() {
            return Err(corrupt(format!(
                "format {format} in a file framed as format {}",
                payload.format()
            )));
        }
        if used != bytes.len() {
            return Err(corrupt(format!("{} trailing bytes", bytes.len() - used)));
        }
        let expected = ModelFile::new(
            model.kind,
            model.spec.clone(),
            model.fitted.clone(),
            (0, 0),
            BTreeMap::new(),
        )
        .version;
        if expected != version {
            return Err(corrupt(format!(
                "content hash {expected} does not match version {version}"
            )));
        }
        // A crafted file must be refused here, not panic while scoring.
        let width = model.spec.names().len();
        match &model.fitted {
            Fitted::SymmetricGbdt(gbdt) => gbdt.check(width).map_err(corrupt)?,
            Fitted::Gbdt(gbdt) => gbdt.check(width).map_err(corrupt)?,
            _ => {}
        }
        model.offsets = model.spec.offsets();
        model.format = encoding::FORMAT; // saved again, a format 1 model is written framed
        Ok(model)
    }

    /// Writes the model to `path` (atomically: a temporary file, then a rename).
    pub fn save(&self, path: &Path) -> Result<(), ModelError> {
        let io = |source| ModelError::Io {
            path: path.to_path_buf(),
            source,
        };
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, self.to_bytes()).map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)
    }

    /// Reads a model from `path`.
    pub fn load(path: &Path) -> Result<Self, ModelError> {
        let bytes = std::fs::read(path).map_err(|source| ModelError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        ModelFile::from_bytes(&bytes, path)
    }
}
