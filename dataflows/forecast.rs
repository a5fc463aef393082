//! The forecast dataflow: trips in, feature rows and forecasts per zone and target hour out.
//!
//! ```text
//! build_hourly ─((ZoneHour, HourlyStats), epoch, ±1)─► build_features ─(FeatureRow, epoch, ±1)─► score_forecasts ─(ZoneForecast, epoch, ±1)─► sinks (worker 0)
//!      ├─WatermarkState (epoch + 1)──────────────────────────┘                                       ▲
//!      └─Report (progress only)─► watch_model (worker 0) ─ModelSwap─► broadcast ─────────────────────┘
//! ```

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use timely::dataflow::operators::vec::Broadcast;
use timely::dataflow::operators::Probe;
use timely::dataflow::Scope;

use crate::dataflows::aggregate::{build_hourly, AggregateHandles};
use crate::features::{FeatureRow, FeatureSpec};
use crate::model::watch::ModelHandle;
use crate::model::ModelFile;
use crate::operators::watermark::WatermarkPolicy;
use crate::operators::{BuildFeatures, ScoreForecasts, WatchModel, ZoneForecast};
use crate::report::RunReport;
use crate::sinks::epochs::EpochUpdates;
use crate::sinks::{SinkEpochs, SinkReports};
use crate::sources::TripFeed;

/// A callback for every finished epoch of a collection's updates (on worker 0, sorted).
pub type EpochSink<D> = Box<dyn FnMut(u64, EpochUpdates<D>)>;

/// Where the forecast dataflow delivers its results (on worker 0).
pub struct ForecastSinks {
    /// Feature-row updates.
    pub features: Option<EpochSink<FeatureRow>>,
    /// Forecast updates.
    pub forecasts: Option<EpochSink<ZoneForecast>>,
    /// Row outcome counts.
    pub report: Rc<RefCell<RunReport>>,
}

/// How forecasts are made.
#[derive(Clone, Debug)]
pub struct ForecastPolicy {
    /// Event-time rules (as for the aggregates).
    pub watermark: WatermarkPolicy,
    /// Features (must match the model's).
    pub spec: FeatureSpec,
    /// Target hours kept and corrected behind the watermark's hour.
    pub retention_hours: i64,
}

/// Builds the forecast dataflow; `model` must have been trained on `policy.spec`. With a
/// `handle`, models it offers (see [`crate::model::watch::ModelWatcher`]) replace the current
/// one at one epoch on every worker.
pub fn build<'scope>(
    scope: Scope<'scope, u64>,
    feed: Box<dyn TripFeed>,
    policy: &ForecastPolicy,
    model: Arc<ModelFile>,
    handle: Option<Arc<ModelHandle>>,
    sinks: ForecastSinks,
) -> AggregateHandles {
    let streams = build_hourly(scope, feed, policy.watermark);
    // FeatureRow per (zone, target hour), partitioned by zone
    let features = streams.hourly.build_features_named(
        "BuildFeatures",
        streams.states,
        policy.spec.clone(),
        policy.retention_hours,
    );
    // ModelSwap at the epoch it applies, on every worker
    let swaps = match &handle {
        Some(handle) => streams
            .reports
            .clone()
            .watch_model_named("WatchModel", handle.clone())
            .broadcast(),
        None => timely::dataflow::operators::generic::operator::empty(scope),
    };
    // ZoneForecast per (zone, target hour)
    let forecasts = features.clone().score_forecasts_named(
        "ScoreForecasts",
        model,
        swaps,
        policy.retention_hours,
    );
    forecasts.clone().inner.probe_with(&streams.handles.probe);
    if let Some(sink) = sinks.features {
        features.sink_epochs_named("SinkFeatures", sink);
    }
    if let Some(sink) = sinks.forecasts {
        forecasts.sink_epochs_named("SinkForecasts", sink);
    }
    streams
        .reports
        .sink_reports_named("SinkReports", sinks.report);
    streams.handles
}
