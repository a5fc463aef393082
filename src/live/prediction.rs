//! The served prediction of a zone as a plain record: the live state in, one
//! [`ZonePrediction`] per zone with a forecast out (what `GET /v1/predictions` renders as JSON,
//! and what a job handle's snapshot returns without HTTP).

use super::state::LiveState;

/// A zone's current forecast (for the hour in progress) and its context.
#[derive(Clone, Debug, PartialEq)]
pub struct ZonePrediction {
    /// TLC zone id.
    pub zone: u16,
    /// Zone name (`Zone N` without a lookup).
    pub zone_name: String,
    /// Borough (empty without a lookup).
    pub borough: String,
    /// The target hour, in hours since 1970-01-01 00:00 (naive).
    pub target_hour: i64,
    /// Predicted pickups.
    pub predicted_pickups: f64,
    /// The model version that made it.
    pub model_version: String,
    /// Served by the fallback baseline (not enough history).
    pub fallback: bool,
    /// The watermark it reflects (naive seconds).
    pub as_of: Option<i64>,
    /// When it was last updated (Unix milliseconds).
    pub updated_at_ms: i64,
    /// Corrections so far.
    pub revision: u32,
    /// Pickups in the hour before the target so far.
    pub last_actual: Option<u32>,
}

impl LiveState {
    /// The prediction served for `zone` and `target_hour`, if any.
    pub fn prediction(&self, zone: u16, target_hour: i64) -> Option<ZonePrediction> {
        let forecast = self.forecast(zone, target_hour)?;
        Some(ZonePrediction {
            zone,
            zone_name: self.zones.name(zone),
            borough: self.zones.borough(zone),
            target_hour,
            predicted_pickups: forecast.pickups(),
            model_version: forecast.model_version.to_string(),
            fallback: forecast.fallback,
            as_of: forecast.as_of,
            updated_at_ms: forecast.updated_at_ms,
            revision: forecast.revision,
            last_actual: self.actual(zone, target_hour - 1),
        })
    }

    /// The current prediction of every zone that has one, by zone.
    pub fn predictions(&self) -> Vec<ZonePrediction> {
        self.forecast_zones()
            .filter_map(|zone| self.prediction(zone, self.current(zone)?.0))
            .collect()
    }
}
