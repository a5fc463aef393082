//! Model files of formats 1 and 2: their decoded payload in, a current [`ModelFile`] out.
//!
//! Those formats wrote the feature spec without its `trends` flag (it did not exist yet), so
//! their payload decodes into [`LegacyModelFile`] and becomes a model whose spec has no trends.
//! The content hash ([`ModelFile::version`]) of a spec without trends is computed over the
//! legacy spec layout, so an old model keeps its version when it is loaded and saved again.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Fitted, Metrics, ModelFile, ModelKind};
use crate::features::FeatureSpec;

/// The feature spec as formats 1 and 2 wrote it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LegacySpec {
    /// Lags in hours.
    pub lags: Vec<u32>,
    /// Weeks averaged for the same-hour mean.
    pub same_hour_weeks: u32,
}

impl LegacySpec {
    /// The legacy layout of a spec without trends (`None` for a spec with trends).
    pub fn of(spec: &FeatureSpec) -> Option<LegacySpec> {
        (!spec.trends).then(|| LegacySpec {
            lags: spec.lags.clone(),
            same_hour_weeks: spec.same_hour_weeks,
        })
    }
}

/// A model file as formats 1 and 2 wrote it (the fields of [`ModelFile`], in order).
#[derive(Debug, Deserialize)]
pub struct LegacyModelFile {
    magic: String,
    format: u32,
    kind: ModelKind,
    spec: LegacySpec,
    version: String,
    trained_from: i64,
    trained_until: i64,
    validation: BTreeMap<String, Metrics>,
    fitted: Fitted,
}

impl LegacyModelFile {
    /// The magic and format it declares.
    pub fn header(&self) -> (&str, u32) {
        (&self.magic, self.format)
    }

    /// The version it declares.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The current model it is: the same parameters, a spec without trends.
    pub fn upgrade(self) -> ModelFile {
        let spec = FeatureSpec::new(self.spec.lags, self.spec.same_hour_weeks).with_trends(false);
        ModelFile::new(
            self.kind,
            spec,
            self.fitted,
            (self.trained_from, self.trained_until),
            self.validation,
        )
    }
}
