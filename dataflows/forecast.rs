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

use differential_dataflow::VecCollection;
use timely::dataflow::operators::vec::Broadcast;
use timely::dataflow::operators::Probe;
use timely::dataflow::{Scope, StreamVec};

use crate::dataflows::aggregate::{build_hourly, AggregateHandles};
use crate::features::{FeatureRow, FeatureSpec};
use crate::forecast::ZoneForecast;
use crate::model::watch::ModelHandle;
use crate::model::ModelFile;
use crate::operators::{BuildFeatures, FeatureEmission, ScoreForecasts, WatchModel};
use crate::report::{Report, RunReport};
use crate::resume::Resume;
use crate::sinks::epochs::EpochUpdates;
use crate::sinks::{SinkEpochs, SinkReports};
use crate::sources::TripFeed;
use crate::trip::{HourlyStats, ZoneHour};
use crate::watermark::{WatermarkPolicy, WatermarkState};

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
    /// Target hours kept and corrected behind the watermark's hour (at least
    /// [`ForecastPolicy::MIN_RETENTION_HOURS`]; see [`ForecastPolicy::retention_hours`]).
    pub retention_hours: i64,
}

impl ForecastPolicy {
    /// Default target hours kept and corrected.
    pub const DEFAULT_RETENTION_HOURS: i64 = 48;
    /// The fewest target hours kept (the hour in progress and the one before).
    pub const MIN_RETENTION_HOURS: i64 = 2;

    /// Default event-time rules and retention for a model computing `spec`.
    pub fn for_spec(spec: FeatureSpec) -> Self {
        ForecastPolicy {
            watermark: WatermarkPolicy::default(),
            spec,
            retention_hours: Self::DEFAULT_RETENTION_HOURS,
        }
    }

    /// The retention in effect: the setting, at least [`ForecastPolicy::MIN_RETENTION_HOURS`].
    pub fn retention_hours(&self) -> i64 {
        self.retention_hours.max(Self::MIN_RETENTION_HOURS)
    }
}

/// The streams of the trips-to-forecasts part, for the dataflows built on it.
pub struct ForecastStreams<'scope> {
    /// `((ZoneHour, HourlyStats), epoch, ±1)`, partitioned by (zone, hour).
    pub hourly: VecCollection<'scope, u64, (ZoneHour, HourlyStats)>,
    /// The watermark state after epoch `e`, on every worker at time `e + 1`.
    pub states: StreamVec<'scope, u64, WatermarkState>,
    /// Row outcomes.
    pub reports: StreamVec<'scope, u64, Report>,
    /// `(FeatureRow, epoch, ±1)`, partitioned by zone.
    pub features: VecCollection<'scope, u64, FeatureRow>,
    /// `(ZoneForecast, epoch, ±1)`, partitioned by zone.
    pub forecasts: VecCollection<'scope, u64, ZoneForecast>,
    /// Handles for the code that runs the dataflow (the probe is attached to `forecasts`).
    pub handles: AggregateHandles,
}

/// Builds trips -> aggregates -> features -> forecasts; `model` must have been trained on
/// `policy.spec`. With a `handle`, models it offers (see
/// [`crate::model::watch::ModelWatcher`]) replace the current one at one epoch on every worker.
/// With `resume`, the dataflow starts from a checkpoint (see [`crate::resume`]). `emission`
/// picks corrected feature rows (and so forecasts) or final ones only (for jobs that keep
/// just the end result; those cannot resume).
pub fn build_streams<'scope>(
    scope: Scope<'scope, u64>,
    feed: Box<dyn TripFeed>,
    policy: &ForecastPolicy,
    model: Arc<ModelFile>,
    handle: Option<Arc<ModelHandle>>,
    resume: Option<Arc<Resume>>,
    emission: FeatureEmission,
) -> ForecastStreams<'scope> {
    let streams = build_hourly(scope, feed, policy.watermark, resume.clone());
    // FeatureRow per (zone, target hour), partitioned by zone
    let (hourly, states) = (streams.hourly.clone(), streams.states.clone());
    let (spec, retention) = (policy.spec.clone(), policy.retention_hours());
    let features = match emission {
        FeatureEmission::Corrected => {
            hourly.build_features_resumed_named("BuildFeatures", states, spec, retention, resume)
        }
        FeatureEmission::Final => {
            assert!(resume.is_none(), "a job of final rows only does not resume");
            hourly.build_final_features_named("BuildFeatures", states, spec, retention)
        }
    };
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
    let forecasts = match emission {
        FeatureEmission::Corrected => features.clone().score_forecasts_named(
            "ScoreForecasts",
            model,
            swaps,
            policy.retention_hours(),
        ),
        FeatureEmission::Final => {
            assert!(
                handle.is_none(),
                "a job of final rows only does not swap models"
            );
            features.clone().score_each_named("ScoreForecasts", model)
        }
    };
    forecasts.clone().inner.probe_with(&streams.handles.probe);
    ForecastStreams {
        hourly: streams.hourly,
        states: streams.states,
        reports: streams.reports,
        features,
        forecasts,
        handles: streams.handles,
    }
}

/// Builds the forecast dataflow (see [`build_streams`]) delivering to `sinks`.
pub fn build<'scope>(
    scope: Scope<'scope, u64>,
    feed: Box<dyn TripFeed>,
    policy: &ForecastPolicy,
    model: Arc<ModelFile>,
    handle: Option<Arc<ModelHandle>>,
    sinks: ForecastSinks,
) -> AggregateHandles {
    let emission = FeatureEmission::Corrected;
    let streams = build_streams(scope, feed, policy, model, handle, None, emission);
    if let Some(sink) = sinks.features {
        streams.features.sink_epochs_named("SinkFeatures", sink);
    }
    if let Some(sink) = sinks.forecasts {
        streams.forecasts.sink_epochs_named("SinkForecasts", sink);
    }
    streams
        .reports
        .sink_reports_named("SinkReports", sinks.report);
    streams.handles
}
