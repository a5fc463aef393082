//! The model operator: feature-row updates in, forecast updates out.
//!
//! Scores only the rows that changed in an epoch (a batch per container, so a random forest
//! predicts in bulk) and emits `(zone, target hour, predicted pickups, model version)` with the
//! same diffs: a retracted feature row retracts the forecast it produced (the model is
//! deterministic), an inserted row inserts its new forecast.

use std::sync::Arc;

use differential_dataflow::{AsCollection, VecCollection};
use serde::{Deserialize, Serialize};
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::Operator;

use crate::features::FeatureRow;
use crate::model::ModelFile;

/// One forecast, as it flows in the dataflow.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ZoneForecast {
    /// The zone.
    pub zone: u16,
    /// The hour forecast (hour bucket).
    pub target_hour: i64,
    /// Predicted pickups in thousandths (exact, so forecasts compare and consolidate).
    pub milli_pickups: i64,
    /// The model file's version.
    pub model_version: String,
    /// True when a baseline stood in for the model (not enough history yet).
    pub fallback: bool,
}

impl ZoneForecast {
    /// Predicted pickups.
    pub fn pickups(&self) -> f64 {
        self.milli_pickups as f64 / 1000.0
    }
}

/// Extension trait: score feature rows with a model.
pub trait ScoreForecasts<'scope> {
    /// Scores every changed row with `model`.
    ///
    /// # Examples
    /// ```
    /// use std::sync::Arc;
    /// use timely::dataflow::operators::ToStream;
    /// use differential_dataflow::AsCollection;
    /// use zonecast::features::{FeatureRow, FeatureSpec};
    /// use zonecast::model::{Baseline, ModelFile};
    /// use zonecast::operators::ScoreForecasts;
    ///
    /// let model = Arc::new(ModelFile::baseline(Baseline::PreviousHour, FeatureSpec::new(vec![1], 0)));
    /// timely::example(move |scope| {
    ///     let row = FeatureRow { zone: 3, target_hour: 100, history: vec![Some(7), None, None, None, None], complete: true };
    ///     vec![(row, 0u64, 1isize)].to_stream(scope).container::<Vec<_>>().as_collection()
    ///         .score_forecasts_named("Score", model)
    ///         .inspect(|(f, _, _)| assert_eq!(f.milli_pickups, 7000));
    /// });
    /// ```
    fn score_forecasts_named(
        self,
        name: &str,
        model: Arc<ModelFile>,
    ) -> VecCollection<'scope, u64, ZoneForecast>;
}

impl<'scope> ScoreForecasts<'scope> for VecCollection<'scope, u64, FeatureRow> {
    fn score_forecasts_named(
        self,
        name: &str,
        model: Arc<ModelFile>,
    ) -> VecCollection<'scope, u64, ZoneForecast> {
        self.inner
            .unary(Pipeline, name, move |_, _| {
                move |input, output| {
                    input.for_each(|cap, data| {
                        let rows: Vec<&FeatureRow> = data.iter().map(|(row, _, _)| row).collect();
                        let forecasts = model.predict_many(&rows);
                        let mut session = output.session(&cap);
                        for ((row, time, diff), forecast) in data.drain(..).zip(forecasts) {
                            let scored = ZoneForecast {
                                zone: row.zone,
                                target_hour: row.target_hour,
                                milli_pickups: (forecast.pickups * 1000.0).round() as i64,
                                model_version: model.version.clone(),
                                fallback: forecast.fallback,
                            };
                            session.give((scored, time, diff));
                        }
                    });
                }
            })
            .container::<Vec<_>>()
            .as_collection()
    }
}
