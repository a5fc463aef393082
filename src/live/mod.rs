//! Live serving state: each finished epoch of the forecast dataflow (forecast updates, hourly
//! aggregate updates, the watermark and row outcomes) in, the current answer to every query
//! (forecast per zone, actuals beside served forecasts, online evaluation, counters) out.
//!
//! Nothing here knows HTTP or JSON: the server renders a [`LiveState`] into pre-serialised
//! snapshots, and the batch job's database can fill the same state.
//!
//! - [`state`]: [`LiveState`], applied epoch by epoch.
//! - [`prediction`]: [`ZonePrediction`], a zone's served forecast as a plain record.
//! - [`evaluation`]: forecasts joined with final actuals, MAE next to the baselines.
//! - [`zones`]: zone names and boroughs.

pub mod evaluation;
pub mod prediction;
pub mod state;
pub mod zones;

pub use evaluation::{Evaluation, ZoneErrors};
pub use prediction::ZonePrediction;
pub use state::{Applied, Counters, HistoryHour, LiveState, ServedForecast};
pub use zones::ZoneDirectory;

use crate::forecast::ZoneForecast;
use crate::report::Report;
use crate::trip::{HourlyStats, ZoneHour};
use crate::watermark::WatermarkState;

/// One finished epoch of the forecast dataflow, gathered on worker 0.
#[derive(Clone, Debug, Default)]
pub struct LiveEpoch {
    /// Forecast updates, consolidated and sorted.
    pub forecasts: Vec<(ZoneForecast, isize)>,
    /// Hourly aggregate updates, consolidated and sorted.
    pub hourly: Vec<((ZoneHour, HourlyStats), isize)>,
    /// The latest watermark state known at this epoch (the one the forecasts reflect).
    pub watermark: Option<WatermarkState>,
    /// Row outcomes of this epoch.
    pub reports: Vec<Report>,
    /// Bytes of the `--rejects` file once this epoch's rows are in it (when the job writes
    /// one): a checkpoint keeps it, so a restart cuts the file back to its epoch.
    pub rejects_len: Option<u64>,
}

impl LiveEpoch {
    /// Applies the epoch's hourly updates to a table of current aggregates: a retraction
    /// removes the row it retracts, an insertion sets the row.
    pub fn apply_hourly_to(&self, table: &mut std::collections::BTreeMap<ZoneHour, HourlyStats>) {
        for ((key, stats), _) in self.hourly.iter().filter(|(_, d)| *d < 0) {
            if table.get(key) == Some(stats) {
                table.remove(key);
            }
        }
        for ((key, stats), _) in self.hourly.iter().filter(|(_, d)| *d > 0) {
            table.insert(*key, *stats);
        }
    }
}
