//! The built-in demo's inputs: a seed in, a trained model and a never-ending generated trip
//! stream out (what `zonecast` / `zonecast run` use when given no inputs).
//!
//! Five weeks of synthetic trips (seeded, daily and weekly cycles) are backfilled at once, then
//! the stream goes on live, paced at `speed` x event time. The model is a ridge forecaster
//! trained on those five weeks at first start and cached in `zonecast-demo/model.bin`.

use std::path::Path;

use zonecast::dataflows::live::GeneratedInput;
use zonecast::features::history::PickupHistory;
use zonecast::features::FeatureSpec;
use zonecast::generator::TripGenerator;
use zonecast::model::train::{train, TrainConfig};
use zonecast::model::{ModelFile, ModelKind};
use zonecast::time::{days_from_civil, hour_of};

/// Days of history backfilled before the live part.
const HISTORY_DAYS: u32 = 35;
/// Trips per generated day.
const TRIPS_PER_DAY: u64 = 17_000;
/// The demo's generated input at `speed`.
pub fn generated_input(speed: f64) -> GeneratedInput {
    let start = days_from_civil(2024, 1, 1) * 86_400;
    GeneratedInput::backfill_then_live(42, start, HISTORY_DAYS, TRIPS_PER_DAY, speed)
}

fn demo_spec() -> FeatureSpec {
    FeatureSpec::new(FeatureSpec::parse_lags("1-24,168").expect("valid lags"), 1)
}

/// The cached demo model in `dir`, or one trained now on the backfilled weeks.
pub fn model(dir: &Path, input: &GeneratedInput) -> anyhow::Result<ModelFile> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join("model.bin");
    let spec = demo_spec();
    if let Ok(model) = ModelFile::load(&path) {
        if model.check_spec(&spec).is_ok() {
            return Ok(model);
        }
    }
    eprintln!("training the demo model on {HISTORY_DAYS} generated days (first start only)...");
    let mut history = PickupHistory::new();
    let mut counts = std::collections::BTreeMap::<(u16, i64), u32>::new();
    for trip in TripGenerator::new(input.config.clone()) {
        if trip.pickup >= input.live_from {
            break;
        }
        *counts
            .entry((trip.pickup_zone, hour_of(trip.pickup)))
            .or_default() += 1;
    }
    for zone in counts.keys().map(|k| k.0) {
        history.add_zone(zone);
    }
    for ((zone, hour), n) in counts {
        history.set(zone, hour, n);
    }
    let mut config = TrainConfig::new(hour_of(input.live_from));
    config.kind = ModelKind::Ridge;
    config.spec = spec;
    config.validation_hours = Some(168);
    let trained = train(&history, &config, &mut |line| eprintln!("  {line}"))?;
    trained.model.save(&path)?;
    for (name, m) in &trained.model.validation {
        eprintln!("  {name:<22} MAE {:>7.3} on the last generated week", m.mae);
    }
    Ok(trained.model)
}
