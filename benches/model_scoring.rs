//! Scoring throughput of each model kind on one thread (one worker): feature rows in,
//! forecasts per second out. Also times training the forest, gbdt and ridge on the same rows.
//!
//! Run: `cargo bench --bench model_scoring` (rows are built from generated hourly counts, 260
//! zones x 6 weeks, default feature spec); `SCORE_MODEL=FILE` also scores a model file trained
//! on the default spec.

use std::time::Instant;

use zonecast::features::history::PickupHistory;
use zonecast::features::FeatureRow;
use zonecast::generator::rng::SplitMix64;
use zonecast::model::gbdt::{GbdtParams, TreeShape};
use zonecast::model::train::{dataset, train, TrainConfig};
use zonecast::model::{Baseline, Fitted, ModelFile, ModelKind};

/// The number of trees of a boosted model, for the report.
fn size(model: &ModelFile) -> String {
    match &model.fitted {
        Fitted::Gbdt(g) => format!("{} trees", g.rounds()),
        Fitted::SymmetricGbdt(g) => format!("{} trees", g.rounds()),
        _ => String::new(),
    }
}

fn main() {
    let mut rng = SplitMix64::new(11);
    let start_hour = zonecast::time::days_from_civil(2024, 1, 1) * 24;
    let hours = 24 * 7 * 6;
    let mut counts = Vec::new();
    for hour in 0..hours {
        for zone in 1..=260u16 {
            let level = 1.0 + (zone % 40) as f64;
            let daily = 1.0 + 0.8 * ((hour % 24) as f64 / 24.0 * std::f64::consts::TAU).sin();
            counts.push((
                zone,
                start_hour + hour,
                (level * daily + rng.below(4) as f64) as u32,
            ));
        }
    }
    let history = PickupHistory::from_counts(counts);
    let until = start_hour + hours;
    let mut models: Vec<(String, ModelFile)> = Vec::new();
    let leaf_wise = GbdtParams {
        shape: TreeShape::LeafWise,
        ..GbdtParams::default()
    };
    for (kind, gbdt) in [
        (ModelKind::RandomForest, GbdtParams::default()),
        (ModelKind::Gbdt, GbdtParams::default()),
        (ModelKind::Gbdt, leaf_wise),
        (ModelKind::Ridge, GbdtParams::default()),
    ] {
        let mut config = TrainConfig::new(until);
        config.kind = kind;
        config.gbdt = gbdt;
        let name = match (kind, gbdt.shape) {
            (ModelKind::Gbdt, TreeShape::Symmetric) => "gbdt (symmetric, default)".to_string(),
            (ModelKind::Gbdt, TreeShape::LeafWise) => "gbdt (leaf-wise)".to_string(),
            _ => kind.to_string(),
        };
        let started = Instant::now();
        let trained = train(&history, &config, &mut |_| {}).unwrap();
        println!(
            "train {name}: {} rows in {:.2} s, {}",
            trained.train_rows,
            started.elapsed().as_secs_f64(),
            size(&trained.model)
        );
        models.push((name, trained.model));
    }
    // A model file on the default spec scored beside them, e.g. the 3-month model of
    // benches/evaluate_vs_lightgbm.sh: SCORE_MODEL=.bench/90d.model.
    if let Ok(path) = std::env::var("SCORE_MODEL") {
        let model = ModelFile::load(std::path::Path::new(&path)).unwrap();
        models.push((format!("{path} ({}, {})", model.kind, size(&model)), model));
    }
    models.push((
        "four_week_mean".to_string(),
        ModelFile::baseline(Baseline::FourWeekMean, Default::default()),
    ));
    let rows = dataset(&history, &Default::default(), until - 168, until).rows;
    let refs: Vec<&FeatureRow> = rows.iter().collect();
    for (name, model) in &models {
        let mut best = f64::MAX;
        for _ in 0..3 {
            let started = Instant::now();
            for chunk in refs.chunks(4096) {
                std::hint::black_box(model.predict_many(chunk));
            }
            best = best.min(started.elapsed().as_secs_f64());
        }
        println!(
            "score {name}: {} rows, {:.0} rows/s on one worker",
            rows.len(),
            rows.len() as f64 / best
        );
    }
}
