//! Training and evaluation: a pickup history in, a model file and error reports out.
//!
//! Rows are built with [`PickupHistory::row`], exactly as the streaming dataflow builds them.
//! Training uses target hours from the first hour with complete history up to `until`; the
//! last part of that range (a week, or a quarter of it when shorter than four weeks) is held
//! out, and the model is reported on it next to every baseline.

use std::collections::BTreeMap;

use crate::features::history::PickupHistory;
use crate::features::{FeatureRow, FeatureSpec};
use crate::model::forest::{Forest, ForestParams};
use crate::model::gbdt::{Gbdt, GbdtParams, SymmetricGbdt, TreeShape};
use crate::model::linear::Ridge;
use crate::model::zone_encoding::ZoneEncoding;
use crate::model::{Baseline, Fitted, Metrics, ModelError, ModelFile, ModelKind};

/// Feature rows with their actual pickups.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Dataset {
    /// One row per (zone, target hour), ordered by hour then zone.
    pub rows: Vec<FeatureRow>,
    /// Actual pickups of each row's zone in its target hour.
    pub actuals: Vec<f64>,
}

/// Rows for every known zone and every target hour in `from..to` whose history is complete
/// (and, for targets, within the data).
pub fn dataset(history: &PickupHistory, spec: &FeatureSpec, from: i64, to: i64) -> Dataset {
    let offsets = spec.offsets();
    let mut data = Dataset::default();
    for hour in from..to {
        for &zone in history.zones() {
            let Some(actual) = history.get(zone, hour) else {
                continue;
            };
            let row = history.row(spec, &offsets, zone, hour);
            if row.complete {
                data.rows.push(row);
                data.actuals.push(actual as f64);
            }
        }
    }
    data
}

/// What to train.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainConfig {
    /// Model kind.
    pub kind: ModelKind,
    /// Features.
    pub spec: FeatureSpec,
    /// Train on target hours before this hour bucket.
    pub until: i64,
    /// Hours held out at the end for validation (`None`: a week, or a quarter if shorter).
    pub validation_hours: Option<i64>,
    /// Forest settings.
    pub forest: ForestParams,
    /// Ridge penalty.
    pub ridge_lambda: f64,
    /// Gradient-boosting settings.
    pub gbdt: GbdtParams,
    /// With boosting: report the validation MAE every this many rounds (0: never).
    pub report_every: usize,
    /// With symmetric boosted trees: add the zone's target encoding (its smoothed mean target
    /// over the training rows, see [`ZoneEncoding`]) as the last feature.
    pub zone_encoding: bool,
}

impl TrainConfig {
    /// The default model (gradient-boosted symmetric trees) on the default spec.
    pub fn new(until: i64) -> Self {
        TrainConfig {
            kind: ModelKind::Gbdt,
            spec: FeatureSpec::default(),
            until,
            validation_hours: None,
            forest: ForestParams::default(),
            ridge_lambda: 1e-3,
            gbdt: GbdtParams::default(),
            report_every: 50,
            zone_encoding: false,
        }
    }
}

/// The outcome of training.
#[derive(Debug)]
pub struct Trained {
    /// The model (also carries the validation metrics).
    pub model: ModelFile,
    /// Training rows used.
    pub train_rows: usize,
    /// Validation target hours: `from..to`.
    pub validation: (i64, i64),
}

/// Trains a model on `history`; `progress` gets short status lines.
pub fn train(
    history: &PickupHistory,
    config: &TrainConfig,
    progress: &mut dyn FnMut(&str),
) -> Result<Trained, ModelError> {
    if config.zone_encoding && config.kind != ModelKind::Gbdt {
        return Err(ModelError::Training(format!(
            "the zone encoding is for gbdt models, not {}; drop it or train gbdt",
            config.kind
        )));
    }
    let first = history
        .first_hour()
        .ok_or_else(|| ModelError::Training("no data".into()))?;
    let start = first + config.spec.horizon() as i64;
    let span = config.until - start;
    if span < 48 {
        return Err(ModelError::TooLittleHistory {
            span,
            horizon: config.spec.horizon(),
        });
    }
    let hold = config
        .validation_hours
        .unwrap_or(if span >= 4 * 168 { 168 } else { span / 4 })
        .clamp(1, span - 24);
    let split = config.until - hold;
    progress(&format!(
        "building features: {} zones, target hours {} .. {}",
        history.zones().len(),
        crate::time::format_hour(start),
        crate::time::format_hour(config.until)
    ));
    let train_set = dataset(history, &config.spec, start, split);
    let valid_set = dataset(history, &config.spec, split, config.until);
    if train_set.rows.is_empty() || valid_set.rows.is_empty() {
        return Err(ModelError::Training(
            "no complete rows to train or validate on".into(),
        ));
    }
    progress(&format!(
        "fitting {} on {} rows ({} features)",
        config.kind,
        train_set.rows.len(),
        config.spec.names().len()
    ));
    let vectors =
        |d: &Dataset| -> Vec<Vec<f64>> { d.rows.iter().map(|r| config.spec.vector(r)).collect() };
    let fitted =
        match config.kind {
            ModelKind::RandomForest => Fitted::Forest(
                Forest::fit(&vectors(&train_set), &train_set.actuals, config.forest)
                    .map_err(ModelError::Training)?,
            ),
            ModelKind::Ridge => Fitted::Ridge(
                Ridge::fit(
                    &vectors(&train_set),
                    &train_set.actuals,
                    config.ridge_lambda,
                )
                .map_err(ModelError::Training)?,
            ),
            ModelKind::Gbdt => fit_gbdt(config, &train_set, &valid_set, progress)?,
            ModelKind::Baseline(b) => Fitted::Baseline(b),
            ModelKind::External => return Err(ModelError::Training(
                "an external model is trained outside zonecast; wrap the trained object instead"
                    .into(),
            )),
        };
    let provisional = ModelFile::new(
        config.kind,
        config.spec.clone(),
        fitted.clone(),
        (start, config.until),
        BTreeMap::new(),
    );
    progress("validating");
    let validation = report(&provisional, &valid_set);
    let model = ModelFile::new(
        config.kind,
        config.spec.clone(),
        fitted,
        (start, config.until),
        validation,
    );
    Ok(Trained {
        model,
        train_rows: train_set.rows.len(),
        validation: (split, config.until),
    })
}

/// Fits gradient-boosted trees of `config`'s shape, with the zone encoding when asked for
/// (fitted on the training rows only), reporting every `report_every` rounds.
fn fit_gbdt(
    config: &TrainConfig,
    train_set: &Dataset,
    valid_set: &Dataset,
    progress: &mut dyn FnMut(&str),
) -> Result<Fitted, ModelError> {
    let encoding = match (config.zone_encoding, config.gbdt.shape) {
        (false, _) => None,
        (true, TreeShape::Symmetric) => Some(ZoneEncoding::fit(
            train_set
                .rows
                .iter()
                .map(|r| r.zone)
                .zip(train_set.actuals.iter().copied()),
        )),
        (true, TreeShape::LeafWise) => {
            return Err(ModelError::Training(
                "the zone encoding is for symmetric trees; drop it or use symmetric trees".into(),
            ))
        }
    };
    let vectors = |d: &Dataset| -> Vec<Vec<f64>> {
        d.rows
            .iter()
            .map(|r| {
                let mut v = config.spec.vector(r);
                v.extend(encoding.as_ref().map(|e| e.of(r.zone)));
                v
            })
            .collect()
    };
    let (train_x, valid_x) = (vectors(train_set), vectors(valid_set));
    let valid = (&valid_x[..], &valid_set.actuals[..]);
    let every = config.report_every;
    let mut report = |round: usize, mae: f64| {
        if every > 0 && round.is_multiple_of(every) {
            progress(&format!("round {round}: validation MAE {mae:.4}"));
        }
    };
    let (fitted, rounds, mae) = match config.gbdt.shape {
        TreeShape::Symmetric => {
            let mut gbdt = SymmetricGbdt::fit(
                &train_x,
                &train_set.actuals,
                valid,
                config.gbdt,
                &mut report,
            )
            .map_err(ModelError::Training)?;
            if let Some(encoding) = encoding {
                gbdt = gbdt.with_zone_encoding(encoding);
            }
            let (rounds, mae) = (gbdt.rounds(), gbdt.validation_mae.last().copied());
            (Fitted::SymmetricGbdt(gbdt), rounds, mae)
        }
        TreeShape::LeafWise => {
            let gbdt = Gbdt::fit(
                &train_x,
                &train_set.actuals,
                valid,
                config.gbdt,
                &mut report,
            )
            .map_err(ModelError::Training)?;
            let (rounds, mae) = (gbdt.rounds(), gbdt.validation_mae.last().copied());
            (Fitted::Gbdt(gbdt), rounds, mae)
        }
    };
    progress(&format!(
        "best round {rounds} of {}: validation MAE {:.4}",
        config.gbdt.rounds,
        mae.unwrap_or(f64::NAN)
    ));
    Ok(fitted)
}

/// Metrics of the model (`"model"`) and of every baseline on a dataset.
pub fn report(model: &ModelFile, data: &Dataset) -> BTreeMap<String, Metrics> {
    let rows: Vec<&FeatureRow> = data.rows.iter().collect();
    let forecasts: Vec<f64> = model
        .predict_many(&rows)
        .iter()
        .map(|f| f.pickups)
        .collect();
    let mut metrics = BTreeMap::new();
    metrics.insert("model".to_string(), Metrics::of(&forecasts, &data.actuals));
    let offsets = model.spec.offsets();
    for baseline in Baseline::ALL {
        let predicted: Vec<f64> = data
            .rows
            .iter()
            .map(|r| baseline.predict(r, &offsets))
            .collect();
        metrics.insert(
            baseline.name().to_string(),
            Metrics::of(&predicted, &data.actuals),
        );
    }
    metrics
}

/// Evaluates `model` on target hours `from..to` of `history`.
pub fn evaluate(
    model: &ModelFile,
    history: &PickupHistory,
    from: i64,
    to: i64,
) -> BTreeMap<String, Metrics> {
    report(model, &dataset(history, &model.spec, from, to))
}
