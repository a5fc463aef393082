//! The model operator: feature-row updates in, forecast updates out.
//!
//! Scores only the rows that changed in an epoch (in one batch, so a random forest predicts in
//! bulk) and emits `(zone, target hour, predicted pickups, model version)`: a retracted feature
//! row retracts the forecast it produced, an inserted row inserts its new forecast. Model swaps
//! arrive stamped with an epoch; at that epoch every held forecast is rescored. For a
//! collection of final rows (the batch job's), `score_each_named` scores rows as they come,
//! gathered into batches of up to [`SCORE_BATCH_ROWS`] over at most [`MAX_HELD_EPOCHS`] epochs.

use std::sync::Arc;

use std::collections::BTreeMap;

use differential_dataflow::{AsCollection, VecCollection};
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;
use timely::dataflow::operators::generic::OutputBuilder;
use timely::dataflow::operators::{Capability, Operator};
use timely::dataflow::StreamVec;

use crate::features::FeatureRow;
use crate::forecast::ZoneForecast;
use crate::model::ModelFile;
use crate::operators::watch_model::ModelSwap;

/// Extension trait: score feature rows with a model, swapping models at epochs.
pub trait ScoreForecasts<'scope> {
    /// Scores every changed row with the current model. A [`ModelSwap`] at epoch `e` replaces
    /// the model before epoch `e`'s rows are scored, and rescores every row held (targets within
    /// `retention` hours of the latest), so all current forecasts carry the new version from `e`.
    ///
    /// # Examples
    /// ```
    /// use std::sync::Arc;
    /// use timely::dataflow::operators::ToStream;
    /// use timely::dataflow::operators::generic::operator::empty;
    /// use differential_dataflow::AsCollection;
    /// use zonecast::features::{FeatureRow, FeatureSpec};
    /// use zonecast::model::{Baseline, ModelFile};
    /// use zonecast::operators::ScoreForecasts;
    ///
    /// let model = Arc::new(ModelFile::baseline(Baseline::PreviousHour, FeatureSpec::new(vec![1], 0)));
    /// timely::example(move |scope| {
    ///     let row = FeatureRow { zone: 3, target_hour: 100, history: vec![Some(7), None, None, None, None], complete: true, sums: vec![] };
    ///     vec![(row, 0u64, 1isize)].to_stream(scope).container::<Vec<_>>().as_collection()
    ///         .score_forecasts_named("Score", model, empty(scope), 48)
    ///         .inspect(|(f, _, _)| assert_eq!(f.milli_pickups, 7000));
    /// });
    /// ```
    fn score_forecasts_named(
        self,
        name: &str,
        model: Arc<ModelFile>,
        swaps: StreamVec<'scope, u64, ModelSwap>,
        retention: i64,
    ) -> VecCollection<'scope, u64, ZoneForecast>;

    /// Scores updates as they arrive, with one model and no swaps: an inserted row inserts its
    /// forecast, a retracted row retracts the forecast it scored to (scoring is deterministic).
    /// Keeps no state but the rows it gathers into one call of the model: up to
    /// [`SCORE_BATCH_ROWS`], for at most [`MAX_HELD_EPOCHS`] epochs past the oldest one's (a
    /// source must allow more epochs than that in flight). It suits a collection of final rows
    /// (the batch job's).
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
    ///     let row = FeatureRow { zone: 3, target_hour: 100, history: vec![Some(7), None, None, None, None], complete: true, sums: vec![] };
    ///     vec![(row.clone(), 0u64, 1isize), (row, 1, -1)].to_stream(scope).container::<Vec<_>>().as_collection()
    ///         .score_each_named("Score", model)
    ///         .inspect(|(f, time, diff)| assert_eq!((f.milli_pickups, *diff), (7000, if *time == 0 { 1 } else { -1 })));
    /// });
    /// ```
    fn score_each_named(
        self,
        name: &str,
        model: Arc<ModelFile>,
    ) -> VecCollection<'scope, u64, ZoneForecast>;
}

type Update = (ZoneForecast, u64, isize);

/// `score_each_named` scores once it has gathered this many rows: a symmetric-tree model
/// scores 256-row blocks about a quarter faster per row than the ~100-row batches an epoch's
/// rows come in.
pub const SCORE_BATCH_ROWS: usize = 1024;

/// `score_each_named` scores the rows it has gathered once its input has passed this many
/// epochs beyond the oldest one's.
pub const MAX_HELD_EPOCHS: u64 = 2;

/// An epoch's capability, its feature-row updates and the model swap to apply first, if any.
type PendingEpoch = (Capability<u64>, Vec<(FeatureRow, isize)>, Option<ModelSwap>);

/// Scores `rows`; `version` is `model.version`, shared by every forecast of this worker.
fn score(model: &ModelFile, version: &Arc<str>, rows: &[&FeatureRow]) -> Vec<ZoneForecast> {
    model
        .predict_many(rows)
        .into_iter()
        .zip(rows)
        .map(|(forecast, row)| ZoneForecast {
            zone: row.zone,
            target_hour: row.target_hour,
            milli_pickups: (forecast.pickups * 1000.0).round() as i64,
            model_version: version.clone(),
            fallback: forecast.fallback,
        })
        .collect()
}

impl<'scope> ScoreForecasts<'scope> for VecCollection<'scope, u64, FeatureRow> {
    fn score_each_named(
        self,
        name: &str,
        model: Arc<ModelFile>,
    ) -> VecCollection<'scope, u64, ZoneForecast> {
        let version: Arc<str> = Arc::from(model.version.as_str());
        self.inner
            .unary_frontier::<timely::container::CapacityContainerBuilder<Vec<Update>>, _, _, _>(
                Pipeline,
                name,
                move |_, _| {
                    // The rows gathered, and the capability of the oldest of them.
                    let mut gathered: Vec<(FeatureRow, u64, isize)> = Vec::new();
                    let mut oldest: Option<Capability<u64>> = None;
                    move |(input, frontier), output| {
                        input.for_each(|cap, data| {
                            let time = *cap.least().expect("a batch has a time");
                            if oldest.as_ref().is_none_or(|held| time < *held.time()) {
                                oldest = Some(cap.retain_least(0).expect("a batch has a time"));
                            }
                            gathered.append(data);
                        });
                        let Some(held) = &oldest else { return };
                        let passed = !frontier.less_equal(&(held.time() + MAX_HELD_EPOCHS));
                        if gathered.len() < SCORE_BATCH_ROWS && !passed {
                            return;
                        }
                        let rows: Vec<&FeatureRow> =
                            gathered.iter().map(|(row, _, _)| row).collect();
                        let scored = score(&model, &version, &rows);
                        let updates = scored
                            .into_iter()
                            .zip(gathered.drain(..))
                            .map(|(f, (_, t, d))| (f, t, d));
                        output.session(held).give_iterator(updates);
                        oldest = None;
                    }
                },
            )
            .as_collection()
    }

    fn score_forecasts_named(
        self,
        name: &str,
        model: Arc<ModelFile>,
        swaps: StreamVec<'scope, u64, ModelSwap>,
        retention: i64,
    ) -> VecCollection<'scope, u64, ZoneForecast> {
        let mut builder = OperatorBuilder::new(name.to_owned(), self.inner.scope());
        let (out, forecasts) = builder.new_output();
        let mut rows_in = builder.new_input(self.inner, Pipeline);
        let mut swaps_in = builder.new_input(swaps, Pipeline);
        let mut out =
            OutputBuilder::<_, timely::container::CapacityContainerBuilder<Vec<Update>>>::from(out);
        builder.build(move |_initial| {
            let mut model = model;
            let mut version: Arc<str> = Arc::from(model.version.as_str());
            let mut pending: BTreeMap<u64, PendingEpoch> = BTreeMap::new();
            // Keyed by (target hour, zone): released forecasts are a prefix.
            let mut held: BTreeMap<(i64, u16), (FeatureRow, ZoneForecast)> = BTreeMap::new();
            let mut latest_target = i64::MIN;
            let mut released_before = i64::MIN;
            move |frontiers| {
                rows_in.for_each(|cap, data| {
                    let Some(&epoch) = cap.least() else { return };
                    let entry = pending.entry(epoch).or_insert_with(|| (cap.retain_least(0).expect("time"), Vec::new(), None));
                    entry.1.extend(data.drain(..).map(|(row, _, diff)| (row, diff)));
                });
                swaps_in.for_each(|cap, data| {
                    let Some(&epoch) = cap.least() else { return };
                    let entry = pending.entry(epoch).or_insert_with(|| (cap.retain_least(0).expect("time"), Vec::new(), None));
                    if let Some(swap) = data.pop() {
                        entry.2 = Some(swap);
                    }
                });
                while let Some(entry) = pending.first_entry() {
                    let epoch = *entry.key();
                    if frontiers[0].less_equal(&epoch) || frontiers[1].less_equal(&epoch) {
                        break;
                    }
                    let (cap, mut updates, swap) = entry.remove();
                    let mut output = out.activate();
                    let mut session = output.session(&cap);
                    if let Some(swap) = swap {
                        match ModelFile::from_bytes(&swap.bytes, std::path::Path::new("(swapped model)")) {
                            Ok(new_model) => {
                                model = Arc::new(new_model);
                                version = Arc::from(model.version.as_str());
                                let rows: Vec<&FeatureRow> = held.values().map(|(row, _)| row).collect();
                                let rescored = score(&model, &version, &rows);
                                for ((_, (_, old)), new) in held.iter_mut().zip(rescored) {
                                    session.give((old.clone(), epoch, -1));
                                    session.give((new.clone(), epoch, 1));
                                    *old = new;
                                }
                            }
                            Err(error) => tracing::error!(%error, "model swap could not be decoded; keeping the current model"),
                        }
                    }
                    updates.sort_by_key(|(_, diff)| *diff);
                    let split = updates.partition_point(|(_, diff)| *diff < 0);
                    for (row, _) in &updates[..split] {
                        let key = (row.target_hour, row.zone);
                        if held.get(&key).is_some_and(|(r, _)| r == row) {
                            let (_, forecast) = held.remove(&key).expect("present");
                            session.give((forecast, epoch, -1));
                        }
                    }
                    let inserted: Vec<&FeatureRow> = updates[split..].iter().map(|(row, _)| row).collect();
                    let scored = score(&model, &version, &inserted);
                    for ((row, _), forecast) in updates.drain(split..).zip(scored) {
                        latest_target = latest_target.max(row.target_hour);
                        session.give((forecast.clone(), epoch, 1));
                        held.insert((row.target_hour, row.zone), (row, forecast));
                    }
                    let keep_from = latest_target.saturating_sub(retention - 1);
                    // Once per new hour, not per epoch.
                    if keep_from > released_before {
                        held = held.split_off(&(keep_from, 0));
                        released_before = keep_from;
                    }
                }
            }
        });
        forecasts.as_collection()
    }
}
