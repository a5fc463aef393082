//! The built-in demo (`zonecast` with no flags): a seed in; a model trained on generated
//! history (cached on disk) and a live job over a never-ending generated trip stream out.
//!
//! Five weeks of synthetic trips (seeded, daily and weekly cycles) are backfilled at once, then
//! the stream goes on live, paced at `speed` x event time. The model is a ridge forecaster
//! trained on those five weeks at first start and cached in `dir/model.bin`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::dataflows::live::{LiveJob, LiveOutcome};
use crate::features::history::PickupHistory;
use crate::features::FeatureSpec;
use crate::generator::TripGenerator;
use crate::jobs::{JobError, JobHandle, Source};
use crate::model::train::{train, TrainConfig};
use crate::model::{ModelFile, ModelKind};
use crate::sources::generated::GeneratedInput;
use crate::time::{days_from_civil, hour_of};

/// Days of history backfilled before the live part.
pub const HISTORY_DAYS: u32 = 35;
/// Trips per generated day.
pub const TRIPS_PER_DAY: u64 = 17_000;

/// The demo: a live job over a generated stream with a model trained on its history.
#[derive(Clone, Debug)]
pub struct DemoJob {
    /// Where the trained model is cached.
    pub dir: PathBuf,
    /// Pace of the live part (x event time).
    pub speed: f64,
    /// The live job's settings (its source and model are the demo's).
    pub live: LiveJob,
}

impl DemoJob {
    /// Default pace: an hour every 12 s.
    pub const DEFAULT_SPEED: f64 = 300.0;
    /// Default cache folder.
    pub const DEFAULT_DIR: &'static str = "zonecast-demo";

    /// The demo with default settings, serving on the default address.
    pub fn new() -> Self {
        let mut live = LiveJob::new(ModelFile::baseline(
            crate::model::Baseline::PreviousHour,
            demo_spec(),
        ));
        live.policy.spec = demo_spec();
        DemoJob {
            dir: PathBuf::from(Self::DEFAULT_DIR),
            speed: Self::DEFAULT_SPEED,
            live,
        }
    }

    /// The demo's generated input.
    pub fn input(&self) -> GeneratedInput {
        let start = days_from_civil(2024, 1, 1) * 86_400;
        GeneratedInput::backfill_then_live(42, start, HISTORY_DAYS, TRIPS_PER_DAY, self.speed)
    }

    /// Runs until stopped.
    pub fn run(self) -> Result<LiveOutcome, JobError> {
        self.start()?.join()
    }

    /// Trains (or loads) the model, then runs the live job; returns at once.
    pub fn start(self) -> Result<JobHandle<LiveOutcome>, JobError> {
        let input = self.input();
        let DemoJob { dir, live, .. } = self;
        live.start_with(move |mut job| {
            job.model = demo_model(&dir, &input)?;
            job.policy.spec = job.model.spec.clone();
            job.source = Source::Generated(input);
            Ok(job)
        })
    }
}

impl Default for DemoJob {
    fn default() -> Self {
        DemoJob::new()
    }
}

fn demo_spec() -> FeatureSpec {
    FeatureSpec::new(FeatureSpec::parse_lags("1-24,168").expect("valid lags"), 1)
}

/// The cached demo model in `dir`, or one trained now on the backfilled weeks of `input`.
pub fn demo_model(dir: &Path, input: &GeneratedInput) -> Result<ModelFile, JobError> {
    let path = dir.join("model.bin");
    let spec = demo_spec();
    if let Ok(model) = ModelFile::load(&path) {
        if model.check_spec(&spec).is_ok() {
            return Ok(model);
        }
    }
    tracing::info!("training the demo model on {HISTORY_DAYS} generated days (first start only)");
    let mut history = PickupHistory::new();
    let mut counts = BTreeMap::<(u16, i64), u32>::new();
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
    let trained = train(&history, &config, &mut |line| tracing::info!("{line}"))?;
    if let Err(error) = std::fs::create_dir_all(dir).and_then(|_| {
        trained
            .model
            .save(&path)
            .map_err(|e| std::io::Error::other(e.to_string()))
    }) {
        tracing::warn!(%error, "cannot cache the demo model in {}", dir.display());
    }
    for (name, m) in &trained.model.validation {
        tracing::info!("{name:<22} MAE {:>7.3} on the last generated week", m.mae);
    }
    Ok(trained.model)
}
