//! The settings a checkpoint depends on: a live job's settings in, a refusal naming the first
//! one that differs from the checkpoint's out.
//!
//! The worker and process counts are not among them: a restarted job routes the checkpoint's
//! state to however many workers it has.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::checkpoint::CheckpointError;

/// Settings that must not change between a checkpoint and the run restoring it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointSettings {
    /// The feature spec (lags, same-hour weeks, trends).
    pub features: String,
    /// The lateness rules.
    pub lateness: String,
    /// Target hours kept and corrected.
    pub retention_hours: i64,
    /// Rows per file epoch.
    pub batch_rows: u64,
    /// The inputs, in order (files with their sizes, then the tail).
    pub inputs: Vec<String>,
}

impl CheckpointSettings {
    /// `Ok` when `now` may restore a checkpoint taken with `self`; otherwise the first
    /// setting that differs, by its command-line name.
    pub fn check(&self, now: &CheckpointSettings, dir: &Path) -> Result<(), CheckpointError> {
        let differs = |setting: &'static str, checkpoint: String, now: String| {
            Err(CheckpointError::Mismatch {
                dir: dir.to_path_buf(),
                setting,
                checkpoint,
                now,
            })
        };
        if self.features != now.features {
            return differs(
                "the feature spec",
                self.features.clone(),
                now.features.clone(),
            );
        }
        if self.lateness != now.lateness {
            return differs(
                "lateness rules",
                self.lateness.clone(),
                now.lateness.clone(),
            );
        }
        if self.retention_hours != now.retention_hours {
            return differs(
                "retention hours",
                self.retention_hours.to_string(),
                now.retention_hours.to_string(),
            );
        }
        if self.batch_rows != now.batch_rows {
            return differs(
                "batch rows",
                self.batch_rows.to_string(),
                now.batch_rows.to_string(),
            );
        }
        if self.inputs != now.inputs {
            return differs("inputs", self.inputs.join(", "), now.inputs.join(", "));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_refusal_names_the_setting_that_differs() {
        let then = CheckpointSettings {
            batch_rows: 1000,
            ..CheckpointSettings::default()
        };
        let now = CheckpointSettings {
            batch_rows: 500,
            ..CheckpointSettings::default()
        };
        assert!(then.check(&then, Path::new("s")).is_ok());
        let message = then.check(&now, Path::new("s")).unwrap_err().to_string();
        assert!(message.contains("batch rows 1000"), "{message}");
        assert!(message.contains("this job has batch rows 500"), "{message}");
    }
}
