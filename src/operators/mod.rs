//! Dataflow operators: extension traits on timely streams and differential collections.
//!
//! Each operator lives in its own file, is named for its verb and takes a stable instance name
//! (`*_named`), which shows up in timely's logging. Operators do no I/O.
//!
//! | operator | in | out |
//! |---|---|---|
//! | [`ClassifyLateness`] | `(Trip, RowPos)` in input order + previous watermark state | on-time `Trip`s, `Report`s (accepted, late, far ahead), next watermark state |
//! | [`AggregateHourly`] | on-time `Trip`s by key + watermark states | collection of `(ZoneHour, HourlyStats)` |
//! | [`BuildFeatures`] | hourly collection + watermark states | collection of `FeatureRow`s (per zone and target hour): corrected as late data comes, or each row once when final |
//! | [`WatchModel`] | the source's progress + a model handle | `ModelSwap`s stamped with the epoch they apply at |
//! | [`ScoreForecasts`] | feature-row collection + model swaps | collection of [`ZoneForecast`](crate::forecast::ZoneForecast)s |
//!
//! The event-time state machine they share is [`crate::watermark`]; the forecast record is
//! [`crate::forecast::ZoneForecast`].

pub mod aggregate_hourly;
pub mod build_features;
pub mod classify_lateness;
pub mod score_forecasts;
pub mod watch_model;

pub use aggregate_hourly::{AggregateHourly, StateGauge};
pub use build_features::{BuildFeatures, FeatureEmission};
pub use classify_lateness::ClassifyLateness;
pub use score_forecasts::ScoreForecasts;
pub use watch_model::{ModelSwap, WatchModel};
