//! The forecast record: what the model operator emits and what sinks, the live state and the
//! store consume.
//!
//! A [`ZoneForecast`] is `(zone, target hour, predicted pickups in thousandths, model version,
//! fallback)`. Pickups are exact integers (thousandths) so forecasts compare, hash and
//! consolidate in differential collections.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// One forecast, as it flows in the dataflow.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ZoneForecast {
    /// The zone.
    pub zone: u16,
    /// The hour forecast (hour bucket).
    pub target_hour: i64,
    /// Predicted pickups in thousandths (exact, so forecasts compare and consolidate).
    pub milli_pickups: i64,
    /// The model file's version (shared: cloning a forecast allocates nothing).
    pub model_version: Arc<str>,
    /// True when a baseline stood in for the model (not enough history yet).
    pub fallback: bool,
}

impl ZoneForecast {
    /// Predicted pickups.
    pub fn pickups(&self) -> f64 {
        self.milli_pickups as f64 / 1000.0
    }
}
