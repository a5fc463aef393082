//! Streaming features and forecasts against from-scratch recomputation.
//!
//! - feature oracle: rows maintained incrementally under heavy disorder and late data equal the
//!   rows recomputed from the final pickups, for every (zone, target hour), on 1, 2, 4 workers;
//! - no skew: the rows `train` builds for a period equal the rows the stream scores;
//! - corrections: a late trip changes exactly the rows (and forecasts) whose offsets or rolling
//!   windows reach its hour;
//! - final emission (the batch job's): each row once, equal to what the corrected collection
//!   (and its forecasts) consolidate to, also when trips arrive later than the retention.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use zonecast::dataflows::forecast::{build_streams, ForecastPolicy};
use zonecast::features::history::PickupHistory;
use zonecast::features::{FeatureRow, FeatureSpec};
use zonecast::forecast::ZoneForecast;
use zonecast::generator::{GeneratorConfig, TripGenerator};
use zonecast::model::linear::Ridge;
use zonecast::model::{Fitted, ModelFile, ModelKind};
use zonecast::operators::FeatureEmission;
use zonecast::runtime::{run_to_completion, Cluster};
use zonecast::sinks::SinkEpochs;
use zonecast::sources::memory::MemoryFeed;
use zonecast::sources::Batch;
use zonecast::time::{hour_of, Span};
use zonecast::trip::{RowPos, Trip};
use zonecast::watermark::WatermarkPolicy;

type Updates<D> = Arc<Mutex<BTreeMap<u64, Vec<(D, isize)>>>>;

/// With trends, so that the rolling means and the one-week level are checked too.
fn spec() -> FeatureSpec {
    FeatureSpec::new(vec![1, 2, 3, 24, 48], 1).with_trends(true)
}

/// A ridge model with unit weights: any change of a feature changes the forecast.
fn sensitive_model(spec: &FeatureSpec) -> ModelFile {
    let p = spec.names().len();
    let ridge = Ridge {
        mean: vec![0.0; p],
        scale: vec![1.0; p],
        weights: vec![1.0; p],
        intercept: 0.0,
    };
    ModelFile::new(
        ModelKind::Ridge,
        spec.clone(),
        Fitted::Ridge(ridge),
        (0, 0),
        BTreeMap::new(),
    )
}

/// Runs the forecast dataflow over `batches`; returns feature and forecast updates by epoch.
fn run(
    batches: Vec<Batch>,
    workers: usize,
    policy: ForecastPolicy,
) -> (Updates<FeatureRow>, Updates<ZoneForecast>) {
    run_emitting(batches, workers, policy, FeatureEmission::Corrected)
}

/// [`run`] with feature rows emitted as `emission` says.
fn run_emitting(
    batches: Vec<Batch>,
    workers: usize,
    policy: ForecastPolicy,
    emission: FeatureEmission,
) -> (Updates<FeatureRow>, Updates<ZoneForecast>) {
    let model = Arc::new(sensitive_model(&policy.spec));
    let features: Updates<FeatureRow> = Arc::default();
    let forecasts: Updates<ZoneForecast> = Arc::default();
    let (f, g, batches) = (features.clone(), forecasts.clone(), Arc::new(batches));
    Cluster::threads(workers)
        .execute(move |worker| {
            let feed = Box::new(MemoryFeed::new(
                batches.clone(),
                worker.index(),
                worker.peers(),
            ));
            let (f, g) = (f.clone(), g.clone());
            let (policy, model) = (policy.clone(), model.clone());
            worker.dataflow::<u64, _, _>(|scope| {
                let streams = build_streams(scope, feed, &policy, model, None, None, emission);
                streams.features.sink_epochs_named("Features", move |e, u| {
                    f.lock().unwrap().insert(e, u);
                });
                streams
                    .forecasts
                    .sink_epochs_named("Forecasts", move |e, u| {
                        g.lock().unwrap().insert(e, u);
                    });
                streams.handles
            });
            run_to_completion(worker);
        })
        .unwrap();
    (features, forecasts)
}

fn accumulate<D: Ord + Clone>(updates: &Updates<D>) -> BTreeMap<D, isize> {
    let mut total = BTreeMap::new();
    for epoch in updates.lock().unwrap().values() {
        for (d, diff) in epoch {
            *total.entry(d.clone()).or_insert(0) += diff;
        }
    }
    total.retain(|_, n| *n != 0);
    total
}

fn generated(trips: u64, days: u32, late_share: f64) -> Vec<(Trip, RowPos)> {
    let config = GeneratorConfig {
        trips,
        days,
        seed: 9,
        late_share,
        swap_share: 0.3,
        ..GeneratorConfig::default()
    };
    TripGenerator::new(config)
        .enumerate()
        .map(|(i, t)| {
            let trip = Trip {
                pickup: t.pickup,
                zone: t.pickup_zone % 20 + 1,
                distance: None,
                fare: None,
                total: None,
            };
            (
                trip,
                RowPos {
                    source: 0,
                    line: i as u64 + 2,
                },
            )
        })
        .collect()
}

fn batches(rows: &[(Trip, RowPos)], size: usize) -> Vec<Batch> {
    rows.chunks(size)
        .map(|c| Batch {
            trips: c.to_vec(),
            rejects: vec![],
            rows_read: c.len() as u64,
        })
        .collect()
}

fn keep_everything() -> ForecastPolicy {
    ForecastPolicy {
        watermark: WatermarkPolicy {
            allowed_lateness: Span::from_secs(30 * 86_400),
            max_ahead: Span::from_secs(30 * 86_400),
            min_support: 3,
        },
        spec: spec(),
        retention_hours: 100_000,
    }
}

/// The from-scratch history of all trips (all accepted under `keep_everything`).
fn scratch_history(rows: &[(Trip, RowPos)]) -> PickupHistory {
    let mut counts: BTreeMap<(u16, i64), u32> = BTreeMap::new();
    for (t, _) in rows {
        *counts.entry((t.zone, hour_of(t.pickup))).or_default() += 1;
    }
    let mut history = PickupHistory::from_counts(counts.into_iter().map(|((z, h), n)| (z, h, n)));
    history.pin_first_hour(hour_of(rows[0].0.pickup));
    history
}

#[test]
fn streaming_features_equal_features_recomputed_from_final_pickups() {
    let rows = generated(30_000, 5, 0.05);
    let history = scratch_history(&rows);
    let spec = spec();
    let offsets = spec.offsets();
    for workers in [1, 2, 4] {
        let (features, _) = run(batches(&rows, 700), workers, keep_everything());
        let current = accumulate(&features);
        assert!(current.values().all(|n| *n == 1), "a row is present twice");
        let by_key: BTreeMap<(u16, i64), &FeatureRow> = current
            .keys()
            .map(|r| ((r.zone, r.target_hour), r))
            .collect();
        assert_eq!(by_key.len(), current.len(), "one row per (zone, target)");
        let (first, last) = (
            by_key.keys().map(|k| k.1).min().unwrap(),
            by_key.keys().map(|k| k.1).max().unwrap(),
        );
        assert!(last - first > 100, "rows over {} hours only", last - first);
        for zone in history.zones() {
            for t in first..=last {
                let expected = history.row(&spec, &offsets, *zone, t);
                assert_eq!(
                    by_key.get(&(*zone, t)),
                    Some(&&expected),
                    "zone {zone} target {t} ({workers} workers)"
                );
            }
        }
    }
}

#[test]
fn rows_train_sees_equal_rows_the_stream_scores() {
    let rows = generated(20_000, 10, 0.02);
    let history = scratch_history(&rows);
    let (features, forecasts) = run(batches(&rows, 500), 2, keep_everything());
    let streamed: Vec<FeatureRow> = accumulate(&features)
        .into_keys()
        .filter(|r| r.complete)
        .collect();
    let (from, to) = (
        streamed.iter().map(|r| r.target_hour).min().unwrap(),
        streamed.iter().map(|r| r.target_hour).max().unwrap() + 1,
    );
    let mut streamed = streamed;
    streamed.sort_by_key(|r| (r.target_hour, r.zone));
    let trained = zonecast::model::train::dataset(&history, &spec(), from, to).rows;
    assert!(trained.len() > 1000);
    assert_eq!(trained, streamed);
    // Every streamed row was scored, once.
    assert_eq!(accumulate(&forecasts).len(), accumulate(&features).len());
}

#[test]
fn final_rows_equal_the_corrected_rows_they_consolidate_to() {
    let rows = generated(30_000, 5, 0.08);
    let spec = spec();
    // Trips up to 10 hours late are accepted; rows are corrected for 3 hours only, so many
    // rows leave the window before the trips that reach them arrive.
    let short = ForecastPolicy {
        watermark: WatermarkPolicy {
            allowed_lateness: Span::from_secs(10 * 3600),
            max_ahead: Span::from_secs(30 * 86_400),
            min_support: 3,
        },
        spec: spec.clone(),
        retention_hours: 3,
    };
    for policy in [short, keep_everything()] {
        for workers in [1, 2, 4] {
            let (features, forecasts) = run(batches(&rows, 700), workers, policy.clone());
            let (final_features, final_forecasts) = run_emitting(
                batches(&rows, 700),
                workers,
                policy.clone(),
                FeatureEmission::Final,
            );
            let corrected = accumulate(&features);
            assert!(corrected.len() > 1000);
            let retracted = features
                .lock()
                .unwrap()
                .values()
                .flatten()
                .any(|(_, d)| *d < 0);
            assert!(retracted, "the corrected rows were never corrected");
            let all = |updates: &Updates<FeatureRow>| {
                let updates = updates.lock().unwrap();
                updates.values().flatten().cloned().collect::<Vec<_>>()
            };
            let emitted = all(&final_features);
            assert!(
                emitted.iter().all(|(_, diff)| *diff == 1),
                "a final row was retracted"
            );
            assert_eq!(
                emitted.len(),
                corrected.len(),
                "each row once ({workers} workers)"
            );
            assert_eq!(accumulate(&final_features), corrected, "{workers} workers");
            assert_eq!(accumulate(&final_forecasts), accumulate(&forecasts));
        }
    }
}

/// Changed (zone, target hour - base hour) of feature rows and forecasts, the feature updates,
/// and the base hour.
type LateTripChanges = (
    Vec<(u16, i64)>,
    Vec<(u16, i64)>,
    Vec<(FeatureRow, isize)>,
    i64,
);

/// Two zones with three trips an hour for 80 hours, then a late trip in zone 1's hour 70 (while
/// the watermark is in hour 79, rows for targets 56..=79 kept) under `spec`: returns the
/// (zone, target hour) of the feature rows and of the forecasts the late epoch changed, and the
/// feature updates.
fn late_trip_changes(spec: FeatureSpec) -> LateTripChanges {
    let base = zonecast::time::days_from_civil(2024, 5, 1) * 86_400;
    let trip = |hour: i64, minute: i64, zone: u16| Trip {
        pickup: base + hour * 3600 + minute * 60,
        zone,
        distance: None,
        fare: None,
        total: None,
    };
    let mut rows = Vec::new();
    for hour in 0..80 {
        for minute in [5, 25, 45] {
            rows.push(trip(hour, minute, 1));
            rows.push(trip(hour, minute + 1, 2));
        }
    }
    let late_hour = 70;
    rows.push(trip(late_hour, 50, 1));
    rows.push(trip(79, 59, 2));
    let rows: Vec<(Trip, RowPos)> = rows
        .into_iter()
        .enumerate()
        .map(|(i, t)| {
            (
                t,
                RowPos {
                    source: 0,
                    line: i as u64,
                },
            )
        })
        .collect();
    let late_epoch = (rows.len() - 2) as u64;
    let mut policy = keep_everything();
    policy.retention_hours = 24;
    policy.spec = spec;
    let (features, forecasts) = run(batches(&rows, 1), 2, policy);
    let base_hour = hour_of(base);
    let targets = |updates: &Updates<_>| -> Vec<(u16, i64)> {
        let all = updates.lock().unwrap();
        let mut t: Vec<(u16, i64)> = all[&late_epoch]
            .iter()
            .map(|(r, _): &(FeatureRow, isize)| (r.zone, r.target_hour - base_hour))
            .collect();
        t.dedup();
        t
    };
    let changed_rows = targets(&features);
    let changed: Vec<(u16, i64)> = {
        let all = forecasts.lock().unwrap();
        let mut t: Vec<(u16, i64)> = all[&late_epoch]
            .iter()
            .map(|(f, _)| (f.zone, f.target_hour - base_hour))
            .collect();
        t.dedup();
        t
    };
    let updates = features.lock().unwrap()[&late_epoch].clone();
    (changed_rows, changed, updates, base_hour)
}

#[test]
fn a_late_trip_changes_exactly_the_forecasts_whose_offsets_reach_its_hour() {
    // No same-hour weeks and no trends: rows are complete after 48 h, so the model (not a
    // baseline) scores them, and only the offsets reach back.
    let spec = FeatureSpec::new(vec![1, 2, 3, 24, 48], 0).with_trends(false);
    let (rows, forecasts, _, _) = late_trip_changes(spec);
    let expected: Vec<(u16, i64)> = [1, 2, 3, 24, 48, 168]
        .iter()
        .map(|o| (1u16, 70 + o))
        .filter(|(_, t)| (56..=79).contains(t))
        .collect();
    assert_eq!(rows, expected);
    assert_eq!(forecasts, expected);
}

#[test]
fn a_late_trip_changes_the_rolling_means_of_every_target_whose_window_reaches_its_hour() {
    // Trends sum the last 3, 6 and 24 hours: every target 71..=94 (of those kept, 71..=79)
    // sees the late hour 70, besides the offsets' targets.
    let spec = FeatureSpec::new(vec![1, 2, 3, 24, 48], 0).with_trends(true);
    let (rows, forecasts, updates, base_hour) = late_trip_changes(spec);
    let expected: Vec<(u16, i64)> = (71..=79).map(|t| (1u16, t)).collect();
    assert_eq!(rows, expected);
    assert_eq!(forecasts, expected);
    // Each retraction and insertion pair differs by one trip in exactly the windows that reach
    // back to hour 70 (the 3-hour window only for targets 71..=73, and so on).
    for (zone, target) in expected {
        let pair: Vec<&(FeatureRow, isize)> = updates
            .iter()
            .filter(|(r, _)| r.zone == zone && r.target_hour - base_hour == target)
            .collect();
        assert_eq!(
            pair.len(),
            2,
            "target {target}: one retraction, one insertion"
        );
        let (old, new) = if pair[0].1 < 0 {
            (&pair[0].0, &pair[1].0)
        } else {
            (&pair[1].0, &pair[0].0)
        };
        let back = target - 70;
        let bumped: Vec<u32> = [3, 6, 24].iter().map(|&w| u32::from(back <= w)).collect();
        let diff: Vec<u32> = new.sums.iter().zip(&old.sums).map(|(n, o)| n - o).collect();
        assert_eq!(diff, bumped, "target {target}");
    }
}
